"""``tmem flags list|history|confirm|clear``: review memories flagged as injected instructions.

``tmem.cli.main`` attaches the group when this module imports. A flag is never deleted: each
review appends an entry to the memory's flag history (issue 20).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, Protocol

import click

from tmem.memory import Memory
from tmem.models import RiskFlag


class _State(Protocol):
    """The part of ``tmem.cli.main.State`` these commands use."""

    def memory(self) -> AbstractContextManager[Memory]: ...

    def require_user(self, mem: Memory, user_id: str) -> None: ...

    def emit(self, obj: Any, human: Callable[[], None]) -> None: ...


_user = click.option("--user", "user_id", required=True, help="The user (tenant) id.")


@click.group()
def flags() -> None:
    """Review memories flagged as injected instructions."""


@flags.command("list")
@_user
@click.option("--all", "include_cleared", is_flag=True, help="Also show cleared flags.")
@click.pass_obj
def list_flags(state: _State, user_id: str, include_cleared: bool) -> None:
    """List the user's flagged memories."""
    with state.memory() as mem:
        state.require_user(mem, user_id)
        found = mem.flagged(user_id, include_cleared=include_cleared)

    def human() -> None:
        if not found:
            click.echo("no flagged memories")
        for flag in found:
            click.echo(_line(flag))

    state.emit(found, human)


@flags.command("scan")
@_user
@click.pass_obj
def scan(state: _State, user_id: str) -> None:
    """Flag the user's memories stored before flags existed (an upgraded store)."""
    with state.memory() as mem:
        state.require_user(mem, user_id)
        found = mem.scan_flags(user_id)

    def human() -> None:
        click.echo(f"{len(found)} memories newly flagged")
        for flag in found:
            click.echo(_line(flag))

    state.emit(found, human)


@flags.command("history")
@_user
@click.argument("memory_id")
@click.pass_obj
def history(state: _State, user_id: str, memory_id: str) -> None:
    """Show every flag entry of MEMORY_ID, oldest first."""
    with state.memory() as mem:
        entries = mem.flag_history(memory_id, user_id)

    def human() -> None:
        for flag in entries:
            click.echo(_line(flag))

    state.emit(entries, human)


def _review(verdict: str) -> Callable[[_State, str, str, str], None]:
    def command(state: _State, user_id: str, memory_id: str, note: str) -> None:
        with state.memory() as mem:
            flag = mem.review_flag(memory_id, user_id, verdict, note)
        state.emit(flag, lambda: click.echo(_line(flag)))

    return command


for _verdict, _help in (
    ("confirm", "Confirm MEMORY_ID is an injection: it stays out of answers."),
    ("clear", "Clear a false flag on MEMORY_ID: it is ordinary evidence again."),
):
    flags.command(_verdict, help=_help)(
        _user(
            click.argument("memory_id")(
                click.option("--note", default="", help="Why (kept in the history).")(
                    click.pass_obj(_review(_verdict))
                )
            )
        )
    )


def _line(flag: RiskFlag) -> str:
    codes = ", ".join(dict.fromkeys(r.code for r in flag.reasons))
    note = f"\t{flag.note}" if flag.note else ""
    return (
        f"{flag.memory_id}\tv{flag.version}\t{flag.status}\t{flag.at.isoformat()}"
        f"\t{flag.source}\t{codes}{note}"
    )
