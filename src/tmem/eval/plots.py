"""PNG plots of a run (matplotlib with the Agg backend, imported only when plotting)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tmem.eval.harness import SystemRun
from tmem.eval.metrics import K_VALUES


def write_plots(
    out_dir: Path, results: Mapping[str, Any], runs: Mapping[str, SystemRun]
) -> list[Path]:
    """Recall@k curves, per-category bars and search latency; returns the files written.

    Writes nothing when matplotlib (extra ``eval``) is not installed.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    systems = {n: s for n, s in results["systems"].items() if "any_hit@1" in s["overall"]}
    if not systems:
        return []
    written = [
        _recall_curves(plt, out_dir, systems),
        _group_bars(plt, out_dir, systems, results.get("benchmark", "locomo")),
        _latency(plt, out_dir, runs),
    ]
    return written


def _recall_curves(plt: Any, out_dir: Path, systems: Mapping[str, Any]) -> Path:
    figure, axes = plt.subplots(1, 2, figsize=(10, 4))
    for name, summary in systems.items():
        for axis, metric in zip(axes, ("any_hit", "recall"), strict=True):
            values = [summary["overall"][f"{metric}@{k}"] for k in K_VALUES]
            axis.plot(K_VALUES, values, marker="o", label=name)
    for axis, title in zip(axes, ("any-hit@k", "fractional recall@k"), strict=True):
        axis.set_xscale("log")
        axis.set_xticks(K_VALUES, [str(k) for k in K_VALUES])
        axis.set_xlabel("k (turns)")
        axis.set_ylim(0, 1)
        axis.set_title(title)
        axis.grid(alpha=0.3)
    axes[0].legend()
    return _save(plt, figure, out_dir / "recall_at_k.png")


def _group_bars(plt: Any, out_dir: Path, systems: Mapping[str, Any], benchmark: str) -> Path:
    group_key = "by_category" if benchmark == "locomo" else "by_relation_type"
    groups = sorted({g for s in systems.values() for g in s[group_key]})
    names = {g: group["name"] for s in systems.values() for g, group in s[group_key].items()}
    labels = [g if names[g] == g else f"{g} {names[g]}" for g in groups]
    width = 0.8 / len(systems)
    figure, axis = plt.subplots(figsize=(max(6, 1.6 * len(groups)), 4))
    for i, (name, summary) in enumerate(systems.items()):
        values = [summary[group_key].get(g, {}).get("any_hit@10", 0.0) for g in groups]
        axis.bar([x + i * width for x in range(len(groups))], values, width, label=name)
    axis.set_xticks([x + 0.4 - width / 2 for x in range(len(groups))], labels)
    axis.set_ylabel("any-hit@10")
    axis.set_ylim(0, 1)
    axis.legend()
    return _save(plt, figure, out_dir / "by_group.png")


def _latency(plt: Any, out_dir: Path, runs: Mapping[str, SystemRun]) -> Path:
    data = {
        name: [r.latency_ms for r in run.records if r.latency_ms is not None]
        for name, run in runs.items()
    }
    data = {name: values for name, values in data.items() if values}
    figure, axis = plt.subplots(figsize=(6, 4))
    if data:
        axis.boxplot(list(data.values()), showfliers=False)
        axis.set_xticks(range(1, len(data) + 1), list(data))
    axis.set_yscale("log")
    axis.set_ylabel("search latency (ms)")
    return _save(plt, figure, out_dir / "latency.png")


def _save(plt: Any, figure: Any, path: Path) -> Path:
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
