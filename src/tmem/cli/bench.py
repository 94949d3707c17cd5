"""``tmem bench``: run LoCoMo and LoCoMo-Plus-format benchmarks (see ``benchmarks.md``)."""

from __future__ import annotations

import shlex
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from tmem.config import Config
from tmem.errors import TmemError
from tmem.eval.plus import SPLITS
from tmem.eval.systems import SYSTEMS

F = TypeVar("F", bound=Callable[..., Any])
ALL_SYSTEMS = ",".join(SYSTEMS)


def _config(ctx: click.Context) -> Config:
    """The Config the main command built (``ctx.meta`` or ``ctx.obj``), else defaults."""
    found = ctx.meta.get("config")
    if found is None and isinstance(ctx.obj, dict):
        found = ctx.obj.get("config")
    if found is None:
        found = getattr(ctx.obj, "config", None)
    return found if isinstance(found, Config) else Config()


def _quiet(ctx: click.Context, quiet: bool) -> bool:
    return quiet or bool(getattr(ctx.obj, "quiet", False))


def _indexes(value: str | None) -> list[int] | None:
    if not value:
        return None
    try:
        return [int(part) for part in value.split(",") if part.strip()]
    except ValueError:
        raise click.BadParameter("expected comma-separated integers, e.g. 0,3") from None


def _systems(value: str) -> list[str]:
    names = [part.strip() for part in value.split(",") if part.strip()]
    unknown = [n for n in names if n not in SYSTEMS]
    if unknown:
        raise click.BadParameter(f"unknown system {unknown[0]!r}; choose from {', '.join(SYSTEMS)}")
    return names


def _types(value: str | None) -> list[str] | None:
    from tmem.eval.longmemeval import QUESTION_TYPES

    names = [part.strip() for part in (value or "").split(",") if part.strip()]
    unknown = [n for n in names if n not in QUESTION_TYPES]
    if unknown:
        raise click.BadParameter(
            f"unknown question type {unknown[0]!r}; choose from {', '.join(QUESTION_TYPES)}"
        )
    return names or None


def conversations_option(f: F) -> F:
    option = click.option("--conversations", help="Comma-separated LoCoMo conversation indexes.")
    return option(f)


def common_options(f: F) -> F:
    options = [
        click.option(
            "--mode", type=click.Choice(["retrieval", "qa"]), default="retrieval",
            show_default=True, help="retrieval needs no LLM; qa answers and judges.",
        ),
        click.option(
            "--systems", default=ALL_SYSTEMS, show_default=True,
            help=f"Comma-separated, from: {', '.join(SYSTEMS)}.",
        ),
        click.option(
            "--judge-runs", type=click.IntRange(min=1), default=1, show_default=True,
            help="QA mode: independent judge runs per answer, averaged (T-Mem uses 3).",
        ),
        click.option("--quiet", "-q", is_flag=True, help="No progress bars."),
    ]  # fmt: skip
    for option in reversed(options):
        f = option(f)
    return f


LIBRARIES_HELP = (
    "Keep tmem's ingested conversations here and reuse them while the ingest inputs are "
    "unchanged (search-only reruns; locomo and locomo-plus share them). Empty it after "
    "changing ingest code."
)


@click.group()
def bench() -> None:
    """Benchmark tmem against raw-turn baselines."""


@bench.command("locomo")
@click.option("--data", required=True, type=click.Path(exists=True, dir_okay=False),
              help="locomo10.json (or a file in its schema).")  # fmt: skip
@conversations_option
@common_options
@click.option("--libraries", type=click.Path(file_okay=False), help=LIBRARIES_HELP)
@click.option("--out", default="bench-out/locomo", show_default=True, help="Report directory.")
@click.pass_context
def locomo_command(
    ctx: click.Context,
    data: str,
    conversations: str | None,
    mode: str,
    systems: str,
    judge_runs: int,
    quiet: bool,
    libraries: str | None,
    out: str,
) -> None:
    """Evidence-turn retrieval (and optionally judged QA) on LoCoMo."""
    from tmem.eval.runner import run_locomo

    try:
        results = run_locomo(
            data, _indexes(conversations), "qa" if mode == "qa" else "retrieval",
            _systems(systems), out, _config(ctx), progress=not _quiet(ctx, quiet),
            command=shlex.join(sys.argv), judge_runs=judge_runs, libraries=libraries,
        )  # fmt: skip
    except TmemError as error:
        raise click.ClickException(str(error)) from None
    _summary(results, out)


@bench.command("locomo-plus")
@click.option("--data", required=True, type=click.Path(exists=True, dir_okay=False),
              help="Cue/trigger items in the LoCoMo-Plus format.")  # fmt: skip
@click.option("--base", required=True, type=click.Path(exists=True, dir_okay=False),
              help="locomo10.json, the conversations the items are stitched into.")  # fmt: skip
@conversations_option
@common_options
@click.option("--limit", type=int, help="Only the first N items.")
@click.option(
    "--per-type", type=click.IntRange(min=1),
    help="Only the first N items of each relation type (a balanced subset).",
)  # fmt: skip
@click.option(
    "--split", type=click.Choice(SPLITS),
    help="Only one half of a file divided into tune/check halves (benchmarks/devset).",
)  # fmt: skip
@click.option("--libraries", type=click.Path(file_okay=False), help=LIBRARIES_HELP)
@click.option("--out", default="bench-out/locomo-plus", show_default=True, help="Report directory.")
@click.pass_context
def plus_command(
    ctx: click.Context,
    data: str,
    base: str,
    conversations: str | None,
    mode: str,
    systems: str,
    judge_runs: int,
    quiet: bool,
    limit: int | None,
    per_type: int | None,
    split: str | None,
    libraries: str | None,
    out: str,
) -> None:
    """Cue recall from a later trigger, with items stitched into LoCoMo conversations."""
    from tmem.eval.runner import run_plus

    try:
        results = run_plus(
            data, base, _indexes(conversations), "qa" if mode == "qa" else "retrieval",
            _systems(systems), out, _config(ctx), progress=not _quiet(ctx, quiet),
            command=shlex.join(sys.argv), limit=limit, per_type=per_type,
            split=split, libraries=libraries, judge_runs=judge_runs,
        )  # fmt: skip
    except TmemError as error:
        raise click.ClickException(str(error)) from None
    _summary(results, out)


@bench.command("longmemeval")
@click.option("--data", required=True, type=click.Path(exists=True, dir_okay=False),
              help="longmemeval_s_cleaned.json (or _m, _oracle, or their schema).")  # fmt: skip
@click.option("--questions", type=click.IntRange(min=1), help="Only the first N questions.")
@click.option(
    "--types", help="Comma-separated question types, e.g. multi-session,knowledge-update."
)
@click.option(
    "--roles", type=click.Choice(["user", "all"]),
    help="Turns the systems index: user (official; retrieval default) or all (QA default).",
)  # fmt: skip
@common_options
@click.option("--out", default="bench-out/longmemeval", show_default=True, help="Report directory.")
@click.pass_context
def longmemeval_command(
    ctx: click.Context,
    data: str,
    questions: int | None,
    types: str | None,
    roles: str | None,
    mode: str,
    systems: str,
    judge_runs: int,
    quiet: bool,
    out: str,
) -> None:
    """LongMemEval: official retrieval metrics (and optionally judged QA), fresh stores."""
    from tmem.eval.longmemeval_run import run_longmemeval

    try:
        results = run_longmemeval(
            data, questions, _types(types), "qa" if mode == "qa" else "retrieval",
            _systems(systems), out, _config(ctx), progress=not _quiet(ctx, quiet),
            roles="all" if roles == "all" else "user" if roles == "user" else None,
            command=shlex.join(sys.argv), judge_runs=judge_runs,
        )  # fmt: skip
    except TmemError as error:
        raise click.ClickException(str(error)) from None
    _summary(results, out)


SUMMARY_METRICS = (
    "any_hit@10",
    "recall@10",
    "mrr",
    "j",
    "awareness",
    "session.recall_any@5",
    "session.recall_all@10",
    "turn.recall_all@10",
    "accuracy",
)


def _summary(results: dict[str, Any], out: str) -> None:
    for name, summary in results["systems"].items():
        overall = summary["overall"]
        shown = ", ".join(f"{key} {overall[key]:.3f}" for key in SUMMARY_METRICS if key in overall)
        click.echo(f"{name:<13} n={summary['n']:<5} {shown}")
    click.echo(f"report: {out}/report.md")


from tmem.cli.speed import speed  # noqa: E402

bench.add_command(speed)


@bench.command("injection")
@click.option("--data", required=True, type=click.Path(exists=True, dir_okay=False),
              help="The labelled set (benchmarks/injection/injection-set.json).")  # fmt: skip
@click.option("--locomo", required=True, type=click.Path(exists=True, dir_okay=False),
              help="locomo10.json: all ordinary chat, so every flag is false.")  # fmt: skip
@click.option("--out", default="bench-out/injection", show_default=True, help="Report directory.")
def injection_command(data: str, locomo: str, out: str) -> None:
    """Flag recall of the injection detector, and its false flags on LoCoMo."""
    from tmem.eval.injection import run_injection

    try:
        results = run_injection(data, locomo, out, command="tmem " + shlex.join(sys.argv[1:]))
    except TmemError as error:
        raise click.ClickException(str(error)) from None
    for split in ("dev", "check"):
        scores = results["set"][split]
        click.echo(
            f"{split:<5} recall {scores['recall']['all']['rate']:.3f}  "
            f"false flags {scores['false_flags']['all']['rate']:.3f}"
        )
    click.echo(f"locomo false flags {results['locomo']['flagged']}/{results['locomo']['n']}")
    click.echo(f"report: {out}/report.md")
