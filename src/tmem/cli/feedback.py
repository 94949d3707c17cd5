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
    """A progress bar on a terminal's stderr that appears once work takes over half a second.

    ``unit`` names what the library counts: an embedded text, or an LLM call in full mode.
    """
    if quiet or not sys.stderr.isatty():
        yield None
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


def step_unit(llm_enabled: bool, derive: bool) -> str:
    return "LLM call" if llm_enabled and derive else "text"


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
