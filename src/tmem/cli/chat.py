"""``tmem import-chat``: chat history people already have (ChatGPT export, JSONL, transcript)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import click

from tmem.chatlog import CHAT_FORMATS, ChatFormat, read_chat, rename_speakers
from tmem.cli.feedback import exit_if_failed, failed_turns, progress_bar, step_unit
from tmem.cli.io import read_text
from tmem.cli.options import common_options, new_user_option
from tmem.errors import InputError
from tmem.models import IngestReport


@click.command(name="import-chat")
@common_options
@new_user_option
@click.option(
    "--format",
    "chat_format",
    type=click.Choice(CHAT_FORMATS),
    default="auto",
    show_default=True,
    help="chatgpt: conversations.json of a ChatGPT data export; jsonl: one {role, content} "
    "message per line; transcript: 'Name: text' lines. auto guesses from the content.",
)
@click.option(
    "--session",
    "session_id",
    default=None,
    help="Session id for a file holding one conversation (default: from the file name).",
)
@click.option(
    "--speaker",
    "renames",
    multiple=True,
    metavar="ROLE=NAME",
    help="Store ROLE's messages under NAME, e.g. --speaker user=Maya --speaker assistant=ChatGPT.",
)
@click.option(
    "--derive/--no-derive",
    default=True,
    show_default=True,
    help="Full mode: derive now, or store now and derive on the next `tmem reindex`.",
)
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.pass_obj
def import_chat(
    state: Any,
    user_id: str,
    chat_format: ChatFormat,
    session_id: str | None,
    renames: tuple[str, ...],
    derive: bool,
    file: Path,
) -> None:
    """Import the chat history in FILE, one session per conversation.

    Message ids come from the source (ChatGPT's message ids) or from the session and line
    (`notes:12`), so importing the same file again adds nothing. Timestamps are kept where the
    source has them. Exits 3 when deriving scenes, items or triggers failed for some turns.
    """
    try:
        sessions = read_chat(read_text(file), chat_format, session_id or _session_of(file))
    except InputError as error:
        raise click.ClickException(f"{file}, {error}") from None
    if not sessions:
        raise click.ClickException(f"{file}: no messages to import")
    sessions = rename_speakers(sessions, _renames(renames))
    unit = step_unit(state.config.llm.enabled, derive)
    reports: list[IngestReport] = []
    with state.memory(create=True) as mem:
        for number, session in enumerate(sessions, start=1):
            label = f"{number}/{len(sessions)}"
            with progress_bar(state.quiet, label, unit) as progress:
                reports.append(
                    mem.add(
                        list(session.messages),
                        user_id,
                        session.session_id,
                        progress=progress,
                        derive=derive,
                    )
                )
    skipped = sum(s.skipped for s in sessions)
    total = sum(len(s.messages) for s in sessions)
    added = sum(r.turns for r in reports)
    summary = {
        "user_id": user_id,
        "sessions": len(sessions),
        "messages": total,
        "added": added,
        "already_stored": total - added,
        "skipped": skipped,
        "failed_turns": failed_turns(reports),
    }

    def human() -> None:
        click.echo(
            f"imported {len(sessions)} conversation(s): {added} new turns, "
            f"{total - added} already stored, {skipped} system/tool/non-text messages skipped"
        )

    state.emit(summary, human)
    exit_if_failed(reports, user_id, state.quiet)


def _renames(pairs: tuple[str, ...]) -> dict[str, str]:
    names = {}
    for pair in pairs:
        role, sep, name = pair.partition("=")
        if not sep or not role.strip() or not name.strip():
            raise click.BadParameter(f"expected ROLE=NAME, got {pair!r}", param_hint="--speaker")
        names[role.strip()] = name.strip()
    return names


def _session_of(file: Path) -> str:
    """A session id from the file name, in plain characters ("my notes.txt" -> "my-notes")."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", file.stem).strip("-") or "chat"
