"""Write a speed run: ``results.json``, ``report.md`` and latency plots (matplotlib, lazily)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np


def write_results(out: Path, results: dict[str, Any]) -> Path:
    path = out / "results.json"
    path.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    return path


def ratios(results: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Each peer's p50/p95 divided by tmem's: above 1 means tmem answers faster."""
    systems = results["systems"]
    ours = systems.get("tmem", {}).get("search_ms", {})
    out: dict[str, dict[str, float]] = {}
    for name, system in systems.items():
        if name == "tmem":
            continue
        theirs = system.get("search_ms", {})
        out[name] = {
            key: round(theirs[key] / ours[key], 2)
            for key in ("p50", "p95")
            if ours.get(key) and key in theirs
        }
    return out


def report_markdown(results: dict[str, Any]) -> str:
    params = results["params"]
    lines = [
        "# Speed run",
        "",
        f"{params['users']} users, {params['memories']} memories asked"
        f" ({params['turns_per_user']} turns per user), vectors: {params['vectors']},"
        f" store: {params['store']}, {params['queries']} timed queries, limit {params['limit']}.",
        "",
        "| system | rows | ingest/s | search p50 ms | p95 ms | p99 ms | RSS MB | DB MB | load |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, s in results["systems"].items():
        ms = s["search_ms"]
        lines.append(
            f"| {name} | {s['rows']} | {s['ingest_per_s']} | {ms['p50']} | {ms['p95']} |"
            f" {ms['p99']} | {s['rss_mb']} | {s['db_mb']} | {s.get('load_search', '')} |"
        )
    ceiling = results["systems"].get("tmem", {}).get("embedder_ceiling")
    if ceiling:
        lines += ["", f"Embedder ceiling in the same run: {ceiling}."]
    for peer, ratio in ratios(results).items():
        lines += ["", f"Latency ratio {peer} / tmem: {ratio}."]
    lines += ["", f"Command: `{results.get('command', '')}`", ""]
    return "\n".join(lines)


def write_report(out: Path, results: dict[str, Any]) -> Path:
    path = out / "report.md"
    path.write_text(report_markdown(results))
    return path


def plot_latencies(out: Path, samples: dict[str, list[float]]) -> list[Path]:
    """A latency CDF per system; skipped (no files) when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []

    figure, axis = plt.subplots(figsize=(6, 4))
    for name, values in samples.items():
        if values:
            ordered = np.sort(np.asarray(values))
            axis.plot(ordered, np.linspace(0, 1, len(ordered)), label=name)
    axis.set_xlabel("search latency (ms)")
    axis.set_ylabel("fraction of queries")
    axis.set_xscale("log")
    axis.grid(True, alpha=0.3)
    axis.legend()
    path = out / "search_latency_cdf.png"
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return [path]
