"""What a writing command tells the user while it works and when it is done."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import click

from tmem.models import IngestReport

EXIT_DERIVATION_FAILED = 3
"""Exit code of ``tmem add``, ``import-chat`` and ``reindex`` when deriving scenes, items or
triggers failed for some turns. The turns are stored and searchable; ``tmem reindex`` retries
them."""


@contextmanager
def progress_bar(quiet: bool, label: str, unit: str) -> Iterator[Callable[[int, int], None] | None]:
    """Progress on stderr: a bar on a terminal that appears once work takes over half a second;
    elsewhere (logs, CI) one line per finished LLM call, and nothing for fast LLM-free work.

    ``unit`` names what the library counts: an embedded text, or an LLM call in full mode.
    """
    if quiet or (not sys.stderr.isatty() and unit != LLM_CALL):
        yield None
        return
    if not sys.stderr.isatty():
        yield _line_per_call(label)
        return
    from tqdm import tqdm

    bar = tqdm(total=0, desc=label, unit=unit, file=sys.stderr, delay=0.5)

    def update(done: int, of: int) -> None:
        bar.total = of
        bar.n = done
        bar.refresh()

    try:
        yield update
    finally:
        bar.close()


LLM_CALL = "LLM call"


def _line_per_call(label: str) -> Callable[[int, int], None]:
    last = [0]

    def update(done: int, of: int) -> None:
        if done != last[0]:
            last[0] = done
            click.echo(f"{label}: {done}/{of} LLM calls done", err=True)

    return update


def step_unit(llm_enabled: bool, derive: bool) -> str:
    return LLM_CALL if llm_enabled and derive else "text"


def failed_turns(reports: Sequence[IngestReport]) -> int:
    return len({turn for r in reports for f in r.failures for turn in f.turn_ids})


def exit_if_failed(reports: Sequence[IngestReport], user_id: str, quiet: bool) -> None:
    """Summarise derivation failures on stderr and exit with :data:`EXIT_DERIVATION_FAILED`."""
    failures = [f for r in reports for f in r.failures]
    if not failures:
        return
    turns = sum(r.turns for r in reports)
    if not quiet:
        for failure in failures:
            click.echo(f"  failed: {failure.stage}: {failure.error}", err=True)
    click.echo(
        f"derivation failed for {failed_turns(reports)} of {turns} turns "
        f"({len(failures)} failed LLM steps); the turns are stored and searchable. "
        f"`tmem reindex --user {user_id}` retries them.",
        err=True,
    )
    click.get_current_context().exit(EXIT_DERIVATION_FAILED)
