"""The speed benchmark end to end on a tiny workload (no wall-clock assertions)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from tmem.cli.bench import bench
from tmem.embed.hashing import HashEmbedder
from tmem.errors import ConfigError
from tmem.eval.speed.cost import full_mode_cost
from tmem.eval.speed.measure import disk_mb, percentiles, rss_mb
from tmem.eval.speed.run import run_speed
from tmem.eval.speed.speed_report import ratios
from tmem.eval.speed.workload import SpeedParams
from tmem.store.sqlite import SQLiteStore


def test_percentiles_of_known_samples() -> None:
    stats = percentiles([float(v) for v in range(1, 101)])
    assert stats["p50"] == pytest.approx(50.5) and stats["p95"] == pytest.approx(95.05)
    assert stats["max"] == 100.0 and percentiles([])["p95"] == 0.0
    assert rss_mb() > 0


def test_disk_size_counts_the_wal(tmp_path: Path) -> None:
    (tmp_path / "a.db").write_bytes(b"x" * 2**20)
    (tmp_path / "a.db-wal").write_bytes(b"x" * 2**20)
    assert disk_mb(tmp_path / "a.db") == 2.0


def test_turns_per_user_leaves_room_for_one_scene_per_session() -> None:
    params = SpeedParams(users=2, memories=84, session_turns=20)
    assert params.turns_per_user == 40


def test_run_writes_results_report_and_plot(tmp_path: Path) -> None:
    params = SpeedParams(users=2, memories=60, vectors="model", queries=20)
    results = run_speed(params, tmp_path, HashEmbedder)
    tmem = results["systems"]["tmem"]
    assert set(tmem["search_ms"]) >= {"p50", "p95", "p99"}
    assert tmem["rows"] > tmem["turns"] == 58 and tmem["ingest_per_s"] > 0
    assert tmem["embedder_ceiling"]["turns_per_s"] > 0 and tmem["db_mb"] > 0
    written = json.loads((tmp_path / "results.json").read_text())
    assert written["params"]["users"] == 2 and written["systems"]["tmem"]["rss_mb"] > 0
    assert "| tmem |" in (tmp_path / "report.md").read_text()
    assert (tmp_path / "search_latency_cdf.png").stat().st_size > 0


def test_peer_holds_the_same_turns(tmp_path: Path) -> None:
    pytest.importorskip("lancedb")
    params = SpeedParams(users=2, memories=42, vectors="random", peer="lancedb", queries=10,
                         query_model=False)  # fmt: skip
    results = run_speed(params, tmp_path, HashEmbedder)
    assert results["systems"]["lancedb"]["rows"] == results["systems"]["tmem"]["turns"] == 40
    assert set(results["ratios"]["lancedb"]) == {"p50", "p95"}


def test_ratios_divide_peer_by_tmem() -> None:
    results = {"systems": {"tmem": {"search_ms": {"p50": 2.0, "p95": 4.0}},
                           "peer": {"search_ms": {"p50": 6.0, "p95": 4.0}}}}  # fmt: skip
    assert ratios(results) == {"peer": {"p50": 3.0, "p95": 1.0}}


def test_cli_runs_a_tiny_random_workload(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        bench,
        [
            "speed",
            "--users",
            "1",
            "--memories",
            "21",
            "--queries",
            "5",
            "--no-query-model",
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "results.json").read_text())["systems"]["tmem"]["turns"] == 20


def test_full_mode_spends_under_a_quarter_of_the_reference_calls() -> None:
    cost = full_mode_cost(80, session_turns=40)
    assert cost["turns"] == 80 and cost["calls"] > 0
    assert cost["calls"] * 4 <= cost["reference_calls"]


def _exported(out: Path) -> int:
    with SQLiteStore(out / "tmem.db") as store:
        return sum(1 for user in store.users() for _ in store.export(user))


def test_reuse_times_searches_on_the_earlier_database(tmp_path: Path) -> None:
    params = SpeedParams(users=2, memories=60, vectors="model", queries=20)
    first = run_speed(params, tmp_path, HashEmbedder)["systems"]["tmem"]
    stored = _exported(tmp_path)
    again = run_speed(replace(params, reuse=True), tmp_path, HashEmbedder)["systems"]["tmem"]
    assert again["reused"] is True and "reused" not in first
    assert (again["ingest_per_s"], again["rows"], again["turns"]) == (
        first["ingest_per_s"],
        first["rows"],
        first["turns"],
    )
    assert len(again["search_ms"]) == len(first["search_ms"])
    assert _exported(tmp_path) == stored  # nothing was ingested twice
    with pytest.raises(ConfigError, match="another workload"):
        run_speed(replace(params, reuse=True, users=3), tmp_path, HashEmbedder)
    with pytest.raises(ConfigError, match="no earlier SQLite run"):
        run_speed(replace(params, reuse=True), tmp_path / "empty", HashEmbedder)


def test_deferring_an_agents_exchanges_costs_the_batch_rate() -> None:
    per_exchange = full_mode_cost(80, session_turns=40, pattern="exchange")
    deferred = full_mode_cost(80, session_turns=40, pattern="deferred")
    batch = full_mode_cost(80, session_turns=40)
    assert per_exchange["turns"] == deferred["turns"] == batch["turns"] == 80
    assert per_exchange["calls"] == 2 * 40  # a segmentation and an extraction per exchange
    assert deferred["calls"] == batch["calls"] < per_exchange["calls"] / 4
