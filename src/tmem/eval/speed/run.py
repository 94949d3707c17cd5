"""Run a whole speed benchmark: tmem, then the peer, then write results, report and plots."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from tmem.embed.base import Embedder
from tmem.eval.speed.embedders import RandomEmbedder
from tmem.eval.speed.measure import load_average
from tmem.eval.speed.peers import run_lancedb
from tmem.eval.speed.speed import params_json, run_tmem, turn_vector_source
from tmem.eval.speed.speed_report import plot_latencies, ratios, write_report, write_results
from tmem.eval.speed.workload import Progress, SpeedParams


def run_speed(
    params: SpeedParams,
    out: Path,
    model: Callable[[], Embedder],
    *,
    command: str = "",
    progress: Progress = lambda _: None,
) -> dict[str, Any]:
    """Measure tmem (and ``params.peer``) and write ``results.json``, ``report.md``, plots.

    Args:
        params: the workload and systems.
        out: the output folder (created); the databases are written inside it.
        model: builds the real embedder (called only when one is needed).
        command: the command line, recorded in the report.
        progress: receives one line per stage.
    """
    out.mkdir(parents=True, exist_ok=True)
    load_start = load_average()
    tmem, embedder = run_tmem(params, out, model, progress)
    systems = {"tmem": tmem}
    if params.peer == "lancedb":
        query_embedder = (
            model() if params.vectors == "model" or params.query_model else (RandomEmbedder())
        )
        ceiling = tmem.extra.get("embedder_ceiling", {}).get("turn_texts_per_s", 0.0)
        per_turn = 1.0 / ceiling if params.vectors == "model" and ceiling else 0.0
        systems["lancedb"] = run_lancedb(
            params, out, turn_vector_source(params, embedder), query_embedder, per_turn, progress
        )
    results: dict[str, Any] = {
        "systems": {name: result.to_json() for name, result in systems.items()},
        "params": params_json(params),
        "load_average_start": load_start,
        "command": command,
    }
    results["ratios"] = ratios(results)
    write_results(out, results)
    write_report(out, results)
    plot_latencies(out, {name: r.search_samples for name, r in systems.items()})
    return results
