"""``tmem bench speed``: ingest throughput, search latency, size and RSS, next to a peer."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click

from tmem.eval.speed.peers import PEERS
from tmem.eval.speed.workload import SpeedParams


@click.command("speed")
@click.option("--users", type=click.IntRange(min=1), default=10, show_default=True)
@click.option(
    "--memories",
    type=click.IntRange(min=1),
    default=10_000,
    show_default=True,
    help="Searchable rows to load (turns + scenes + items + triggers).",
)
@click.option(
    "--vectors",
    type=click.Choice(["random", "model"]),
    default="random",
    show_default=True,
    help="random: seeded unit vectors (times the index alone).",
)
@click.option("--peer", type=click.Choice(PEERS), default="none", show_default=True)
@click.option(
    "--store", type=click.Choice(["sqlite", "postgres"]), default="sqlite", show_default=True
)
@click.option("--pg-url", default="", help="postgresql:// URL for --store postgres.")
@click.option(
    "--bulk",
    is_flag=True,
    help="With --store postgres: write the rows Memory.add would through COPY into an empty"
    " database, indexes rebuilt after (minutes instead of hours at 1M).",
)
@click.option(
    "--reuse",
    is_flag=True,
    help="SQLite: time searches on the database an earlier run with the same workload left in"
    " --out, skipping ingestion (its ingest figures are reported again).",
)
@click.option("--queries", type=click.IntRange(min=1), default=500, show_default=True)
@click.option("--seed", type=int, default=7, show_default=True)
@click.option(
    "--query-model/--no-query-model",
    default=True,
    show_default=True,
    help="With random vectors, still embed each query with the real model.",
)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True)
def speed(
    users: int,
    memories: int,
    vectors: str,
    peer: str,
    store: str,
    pg_url: str,
    bulk: bool,
    reuse: bool,
    queries: int,
    seed: int,
    query_model: bool,
    out: Path,
) -> None:
    """Measure ingest/s, search p50/p95/p99, DB size and RSS; write results.json + report.md."""
    from tmem.embed.minilm import MiniLMEmbedder
    from tmem.eval.speed.run import run_speed

    if store == "postgres" and not pg_url:
        raise click.BadParameter("--store postgres needs --pg-url", param_hint="--pg-url")
    if bulk and store != "postgres":
        raise click.BadParameter("--bulk loads Postgres only", param_hint="--bulk")
    if reuse and store != "sqlite":
        raise click.BadParameter("--reuse reopens a SQLite run only", param_hint="--reuse")
    params = SpeedParams(
        users=users,
        memories=memories,
        vectors="model" if vectors == "model" else "random",
        peer=peer,
        store="postgres" if store == "postgres" else "sqlite",
        pg_url=pg_url,
        bulk=bulk,
        reuse=reuse,
        queries=queries,
        seed=seed,
        query_model=query_model,
    )
    shared: list[MiniLMEmbedder] = []

    def model() -> MiniLMEmbedder:
        if not shared:
            shared.append(MiniLMEmbedder())
        return shared[0]

    command = "tmem bench speed " + shlex.join(sys.argv[3:] if len(sys.argv) > 3 else [])
    results = run_speed(
        params, out, model, command=command, progress=lambda line: click.echo(line, err=True)
    )
    click.echo((out / "report.md").read_text())
    click.echo(f"ratios: {results['ratios']}")
