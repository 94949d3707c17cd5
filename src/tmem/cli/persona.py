"""``tmem persona show|set|pin|unpin|delete``: read and correct a user's persona by hand.

``tmem.cli.main`` attaches the group when this module imports. ``tmem history --user U ID``
shows an entry's versions, as for any memory.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, Protocol

import click

from tmem.cli.options import new_user_option
from tmem.memory import Memory
from tmem.models import PERSONA_SECTIONS, PersonaEntry


class _State(Protocol):
    """The part of ``tmem.cli.main.State`` these commands use."""

    def memory(self, *, create: bool = False) -> AbstractContextManager[Memory]: ...

    def require_user(self, mem: Memory, user_id: str) -> None: ...

    def emit(self, obj: Any, human: Callable[[], None]) -> None: ...


_user = click.option("--user", "user_id", required=True, help="The user (tenant) id.")


@click.group()
def persona() -> None:
    """Read and correct the persona extraction keeps for a user."""


@persona.command("show")
@_user
@click.pass_obj
def show(state: _State, user_id: str) -> None:
    """List the user's persona entries, as the answer model reads them."""
    with state.memory() as mem:
        state.require_user(mem, user_id)
        entries = mem.persona(user_id)

    def human() -> None:
        if not entries:
            click.echo("no persona entries")
        for entry in entries:
            click.echo(_line(entry))

    state.emit(entries, human)


@persona.command("set")
@new_user_option
@click.option("--id", "entry_id", default=None, help="The entry to edit.")
@click.option("--speaker", default=None, help="Whom a new entry is about.")
@click.option("--section", type=click.Choice(PERSONA_SECTIONS), default=None)
@click.option("--key", default=None, help="Identity, preference or trait key, or a person.")
@click.option("--pin/--no-pin", "pinned", default=None, help="Pin or unpin it too.")
@click.argument("value")
@click.pass_obj
def set_entry(
    state: _State,
    user_id: str,
    entry_id: str | None,
    speaker: str | None,
    section: str | None,
    key: str | None,
    pinned: bool | None,
    value: str,
) -> None:
    """Write VALUE by hand: into entry --id, or into --speaker's --section --key.

    A hand-written entry is never overwritten, evicted or removed by re-derivation, and stays
    when the turns it was extracted from are deleted.
    """
    with state.memory(create=True) as mem:
        entry = mem.set_persona_entry(
            user_id,
            value,
            id=entry_id,
            speaker=speaker,
            section=section,
            key=key,
            pinned=pinned,
        )
    state.emit(entry, lambda: click.echo(_line(entry)))


def _pin(pinned: bool) -> Callable[[_State, str, str], None]:
    def command(state: _State, user_id: str, entry_id: str) -> None:
        with state.memory() as mem:
            state.require_user(mem, user_id)
            entry = mem.pin_persona_entry(entry_id, user_id, pinned)
        state.emit(entry, lambda: click.echo(_line(entry)))

    return command


for _name, _pinned, _help in (
    ("pin", True, "Pin ENTRY_ID: re-derivation never overwrites, evicts or removes it."),
    ("unpin", False, "Unpin ENTRY_ID."),
):
    persona.command(_name, help=_help)(
        _user(click.argument("entry_id")(click.pass_obj(_pin(_pinned))))
    )


@persona.command("delete")
@_user
@click.argument("entry_id")
@click.pass_obj
def delete(state: _State, user_id: str, entry_id: str) -> None:
    """Erase ENTRY_ID (its history keeps a tombstone without text)."""
    with state.memory() as mem:
        state.require_user(mem, user_id)
        removed = mem.delete_persona_entry(entry_id, user_id)
    state.emit({"deleted": entry_id, "rows": removed}, lambda: click.echo(f"deleted {entry_id}"))


def _line(entry: PersonaEntry) -> str:
    marks = ", ".join(m for m in (entry.origin, "pinned" if entry.pinned else "") if m)
    turns = ",".join(entry.source_turns) or "-"
    return (
        f"{entry.id}\t{entry.speaker}\t{entry.section}\t{entry.key}\t{entry.value}"
        f"\t{marks}\t{turns}"
    )
