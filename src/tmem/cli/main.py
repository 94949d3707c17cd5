"""``tmem``: the command line, one command per :class:`~tmem.Memory` method."""

from __future__ import annotations

import importlib
import json
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from tmem.cli.explain import explain_lines
from tmem.cli.feedback import exit_if_failed, progress_bar, step_unit
from tmem.cli.io import jsonl_line, read_messages, read_records
from tmem.cli.options import common_options, new_user_option, page_options, user_option
from tmem.cli.settings import describe_mode
from tmem.config import Config, config_from_env
from tmem.errors import TmemError
from tmem.memory import Memory
from tmem.models import KINDS, Hit, Page
from tmem.serialize import to_dict
from tmem.store.factory import is_postgres_url
from tmem.validate import DEFAULT_PAGE_LIMIT, MAX_LIMIT


class State:
    """What every command needs: where the store is, the config, output flags."""

    def __init__(self, db: str, config: Config, as_json: bool, quiet: bool) -> None:
        self.db = db
        self.config = config
        self.as_json = as_json
        self.quiet = quiet

    @contextmanager
    def memory(self, *, create: bool = False) -> Iterator[Memory]:
        """The store at ``--db``; only writing commands (``create=True``) may create it."""
        if not create:
            self.require_store()
        try:
            mem = Memory.open(self.db, self.config)
        except TmemError as error:
            raise click.ClickException(str(error)) from None
        try:
            yield mem
        except TmemError as error:
            raise click.ClickException(str(error)) from None
        finally:
            mem.close()

    def require_store(self) -> None:
        """A reading command never creates a store: a typo in --db is an error, not an empty
        result."""
        if self.db == ":memory:" or is_postgres_url(self.db) or Path(self.db).exists():
            return
        raise click.ClickException(
            f"no tmem store at {Path(self.db).resolve()}; give the right --db (or TMEM_DB), "
            "or create one with `tmem add`"
        )

    def require_user(self, mem: Memory, user_id: str) -> None:
        """An unknown user is an error naming the users the store has, not "no memories"."""
        users = mem.store.users()
        if user_id in users:
            return
        known = ", ".join(repr(u) for u in users[:10]) + (" ..." if len(users) > 10 else "")
        raise click.ClickException(
            f"no user {user_id!r} in {self.db}"
            + (f" (its users: {known})" if users else " (the store has no users yet)")
        )

    def emit(self, obj: Any, human: Callable[[], None]) -> None:
        if self.as_json:
            click.echo(json.dumps(to_dict(obj), ensure_ascii=False, indent=2))
        else:
            human()


pass_state = click.make_pass_decorator(State)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--db",
    envvar="TMEM_DB",
    default="tmem.db",
    show_default=True,
    help="SQLite file, or a postgresql:// URL.",
)
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars or notes on stderr.")
@click.version_option(package_name="tmem")
@click.pass_context
def cli(ctx: click.Context, db: str, as_json: bool, quiet: bool) -> None:
    """tmem: long-term memory for conversational agents."""
    try:
        config = config_from_env(os.environ)
    except TmemError as error:
        raise click.ClickException(str(error)) from None
    ctx.obj = State(db, config, as_json, quiet)
    # Subcommands such as `bench` read the config from here.
    ctx.meta["config"] = config


@cli.command()
@common_options
@new_user_option
@click.option("--session", "session_id", default=None, help="Session id (generated if omitted).")
@click.option(
    "--derive/--no-derive",
    default=True,
    show_default=True,
    help="Full mode: derive now, or store now and derive on the next `tmem reindex`.",
)
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path))
@pass_state
def add(state: State, user_id: str, session_id: str | None, derive: bool, file: Path) -> None:
    """Remember the messages in FILE; - for stdin.

    FILE is a JSON array of messages, JSON lines, or {"messages": [...]}; a message is
    {"speaker", "content", "timestamp"?, "id"?} or OpenAI-style {"role", "content"}. Give
    each message an id to make re-adding it a no-op. Exits 3 when deriving scenes, items or
    triggers failed for some turns (they are stored; `tmem reindex` retries them).
    """
    parsed = read_messages(file)
    if not state.quiet:
        click.echo(describe_mode(state.config), err=True)
        if parsed.skipped:
            click.echo(f"skipped {parsed.skipped} system or tool messages", err=True)
    unit = step_unit(state.config.llm.enabled, derive)
    with state.memory(create=True) as mem, progress_bar(state.quiet, "add", unit) as progress:
        report = mem.add(
            list(parsed.messages), user_id, session_id, progress=progress, derive=derive
        )

    def human() -> None:
        already = len(parsed.messages) - report.turns
        click.echo(
            f"added {report.turns} turns, {report.scenes} scenes, {report.items} items, "
            f"{sum(report.triggers.values())} triggers ({report.mode}); "
            f"{report.llm_calls} LLM calls, {report.tokens} tokens"
            + (f"; {already} messages were already stored" if already else "")
        )

    state.emit(report, human)
    exit_if_failed([report], user_id, state.quiet)


@cli.command()
@common_options
@user_option
@click.option("--limit", "-n", default=10, show_default=True, type=click.IntRange(1, MAX_LIMIT))
@click.option(
    "--min-similarity",
    type=click.FloatRange(0.0, 1.0),
    default=None,
    help="Leave out memories no embedding channel scored at least this cosine (0..1); "
    "--explain shows the cosines to choose it from.",
)
@click.option(
    "--explain",
    is_flag=True,
    help="Show why each hit came back: every channel's rank and raw score, and the trigger "
    "texts that matched with their cosines (--json always carries them).",
)
@click.argument("query")
@pass_state
def search(
    state: State,
    user_id: str,
    limit: int,
    min_similarity: float | None,
    explain: bool,
    query: str,
) -> None:
    """Recall memories for QUERY."""
    with state.memory() as mem:
        state.require_user(mem, user_id)
        hits = mem.search(query, user_id, limit=limit, min_similarity=min_similarity)
    state.emit(hits, lambda: _print_hits(hits, explain))


@cli.command()
@common_options
@user_option
@click.option(
    "--include-flagged", is_flag=True,
    help="Show memories flagged as injected instructions too, fenced as untrusted data.",
)  # fmt: skip
@click.argument("question")
@pass_state
def answer(state: State, user_id: str, include_flagged: bool, question: str) -> None:
    """Answer QUESTION from memory (needs an LLM)."""
    with state.memory() as mem:
        state.require_user(mem, user_id)
        result = mem.answer(question, user_id, include_flagged=include_flagged)

    def human() -> None:
        click.echo(result.text)
        if not state.quiet:
            click.echo(f"({len(result.hits)} memories, {result.usage.tokens} tokens)", err=True)

    state.emit(result, human)


@cli.command(name="list")
@common_options
@user_option
@click.option("--kind", type=click.Choice(KINDS), default=None)
@page_options
@pass_state
def list_(
    state: State, user_id: str, kind: str | None, limit: int | None, cursor: str | None
) -> None:
    """List a user's memories in time order.

    With --limit or --cursor, one page: turns, then scenes, then items, each in creation
    order; pass the printed cursor back with --cursor for the next page.
    """
    with state.memory() as mem:
        state.require_user(mem, user_id)
        if limit is None and cursor is None:
            records = mem.list(user_id, kind)  # type: ignore[arg-type]
            page = None
        else:
            page = mem.list_page(user_id, kind, limit=_limit(limit), cursor=cursor)  # type: ignore[arg-type]
            records = list(page.items)

    def human() -> None:
        for record in records:
            click.echo(f"{record.id}\t{record.kind}\t{_short(record.text)}")

    _emit_page(state, "memories", records, page, human)


@cli.command()
@common_options
@user_option
@click.argument("memory_id")
@pass_state
def get(state: State, user_id: str, memory_id: str) -> None:
    """Show one memory."""
    with state.memory() as mem:
        state.require_user(mem, user_id)
        record = mem.get(memory_id, user_id)
    state.emit(
        record, lambda: click.echo(json.dumps(to_dict(record), indent=2, ensure_ascii=False))
    )


@cli.command()
@common_options
@user_option
@click.argument("memory_id")
@click.argument("content")
@pass_state
def update(state: State, user_id: str, memory_id: str, content: str) -> None:
    """Replace a memory's text (history keeps the old one)."""
    with state.memory() as mem:
        state.require_user(mem, user_id)
        record = mem.update(memory_id, user_id, content)
    state.emit(record, lambda: click.echo(f"updated {record.id}"))


@cli.command()
@common_options
@user_option
@click.argument("memory_id")
@pass_state
def delete(state: State, user_id: str, memory_id: str) -> None:
    """Delete a memory and everything whose text rests on it."""
    with state.memory() as mem:
        state.require_user(mem, user_id)
        removed = mem.delete(memory_id, user_id)
    state.emit(
        {"deleted": memory_id, "rows": removed}, lambda: click.echo(f"deleted {removed} rows")
    )


@cli.command(name="delete-user")
@common_options
@user_option
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_state
def delete_user(state: State, user_id: str, yes: bool) -> None:
    """Delete every memory of one user."""
    if not yes:
        click.confirm(f"Delete every memory of user {user_id!r}?", abort=True)
    with state.memory() as mem:
        state.require_user(mem, user_id)
        removed = mem.delete_user(user_id)
    state.emit({"user_id": user_id, "rows": removed}, lambda: click.echo(f"deleted {removed} rows"))


@cli.command()
@common_options
@user_option
@click.argument("memory_id")
@page_options
@pass_state
def history(
    state: State, user_id: str, memory_id: str, limit: int | None, cursor: str | None
) -> None:
    """Show every version of a memory (with --limit or --cursor: one page of them)."""
    with state.memory() as mem:
        state.require_user(mem, user_id)
        if limit is None and cursor is None:
            entries, page = mem.history(memory_id, user_id), None
        else:
            page = mem.history_page(memory_id, user_id, limit=_limit(limit), cursor=cursor)
            entries = list(page.items)

    def human() -> None:
        for entry in entries:
            when = entry.at.isoformat()
            click.echo(f"v{entry.version}\t{when}\t{entry.event}\t{_short(entry.text)}")

    _emit_page(state, "history", entries, page, human)


@cli.command()
@common_options
@user_option
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
    default=Path("-"),
    help="JSONL file (default stdout).",
)
@page_options
@pass_state
def export(state: State, user_id: str, output: Path, limit: int | None, cursor: str | None) -> None:
    """Export a user's memories as JSONL (lossless; `tmem import` reads it back).

    With --limit or --cursor, one page of the rows (the first starts with the header); the
    next page's cursor goes to stderr, and the pages of one walk, joined, are an export.
    """
    with state.memory() as mem:
        state.require_user(mem, user_id)
        paged = limit is not None or cursor is not None
        page = mem.export_page(user_id, limit=_limit(limit), cursor=cursor) if paged else None
        with _open_out(output) as out:
            count = 0
            for record in page.items if page is not None else mem.export(user_id):
                out.write(jsonl_line(record))
                count += 1
    if not state.quiet and str(output) != "-":
        click.echo(f"exported {count} records to {output}", err=True)
    if page is not None:
        _say_next(state, page.next_cursor)


@cli.command(name="import")
@common_options
@new_user_option
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path))
@pass_state
def import_(state: State, user_id: str, file: Path) -> None:
    """Import a JSONL export into a user; records already stored are left as they are."""
    records = read_records(file)
    with state.memory(create=True) as mem:
        before = _record_keys(mem.export(user_id))
        written = mem.import_records(records, user_id)
        added = len(_record_keys(mem.export(user_id)) - before)
    result = {"user_id": user_id, "rows": written, "new_rows": added}
    state.emit(
        result,
        lambda: click.echo(
            f"imported {written} rows into user {user_id!r}: {added} new, "
            f"{written - added} already stored"
        ),
    )


def _record_keys(records: Iterable[dict[str, Any]]) -> set[tuple[str, ...]]:
    """One key per stored row of an export (the header is not a row)."""
    return {
        (
            str(r.get("type")),
            str(r.get("id") or r.get("owner_id") or r.get("memory_id")),
            str(r.get("space") or r.get("version") or ""),
        )
        for r in records
        if r.get("type") != "header"
    }


@cli.command()
@common_options
@user_option
@pass_state
def reindex(state: State, user_id: str) -> None:
    """Derive scenes, items and triggers for turns without them (needs an LLM).

    Exits 3 when derivation failed again for some turns.
    """
    unit = step_unit(state.config.llm.enabled, True)
    with state.memory() as mem, progress_bar(state.quiet, "reindex", unit) as progress:
        state.require_user(mem, user_id)
        report = mem.reindex(user_id, progress=progress)
    state.emit(
        report,
        lambda: click.echo(
            f"reindexed {report.turns} turns: {report.scenes} scenes, {report.items} items; "
            f"{report.llm_calls} LLM calls, {report.tokens} tokens"
        ),
    )
    exit_if_failed([report], user_id, state.quiet)


@cli.command()
@common_options
@pass_state
def info(state: State) -> None:
    """Say which mode tmem runs in and why."""
    click.echo(describe_mode(state.config))
    click.echo(f"store: {state.db}")
    click.echo(f"config fingerprint: {state.config.fingerprint()}")


def _print_hits(hits: list[Hit], explain: bool = False) -> None:
    if not hits:
        click.echo("no memories found")
    for rank, hit in enumerate(hits, start=1):
        when = (hit.timestamp or "")[:10]
        via = ", ".join(hit.reached_by)
        click.echo(f"{rank:>2}. [{hit.kind} {hit.id}] {when}  score={hit.score:.4f}  via {via}")
        click.echo(f"    {_short(hit.text, 160)}")
        if hit.risk.flagged:
            click.echo(f"    FLAGGED (possible injected instruction): {', '.join(hit.risk.codes)}")
        more = " ..." if len(hit.source_turns) > 8 else ""
        click.echo(f"    turns: {', '.join(hit.source_turns[:8])}{more}")
        if explain:
            for line in explain_lines(hit):
                click.echo(f"    {line}")


def _limit(limit: int | None) -> int:
    return DEFAULT_PAGE_LIMIT if limit is None else limit


def _emit_page(
    state: State, field: str, rows: list[Any], page: Page[Any] | None, human: Callable[[], None]
) -> None:
    """Print ``rows``; for a page, with its ``next_cursor`` (JSON: an object around them)."""
    if page is None:
        state.emit(rows, human)
    elif state.as_json:
        state.emit({field: to_dict(rows), "next_cursor": page.next_cursor}, human)
    else:
        human()
        _say_next(state, page.next_cursor)


def _say_next(state: State, cursor: str | None) -> None:
    """The next page's cursor on stderr (it is the page's result, so --quiet keeps it)."""
    if cursor is not None:
        click.echo(f"next cursor: {cursor}", err=True)
    elif not state.quiet:
        click.echo("last page", err=True)


def _short(text: str, width: int = 100) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 3] + "..."


@contextmanager
def _open_out(path: Path) -> Iterator[Any]:
    if str(path) == "-":
        yield sys.stdout
        return
    tmp = path.with_name(path.name + ".part")
    with tmp.open("w", encoding="utf-8") as handle:
        yield handle
    tmp.replace(path)


def _attach_optional_groups() -> None:
    """Commands that live in their own modules (bench, serve, ...), attached when present."""

    for module_name, attrs in (
        ("tmem.cli.bench", ("bench",)),
        ("tmem.cli.admin", ("migrate", "keys")),
        ("tmem.cli.flags", ("flags",)),
        ("tmem.cli.persona", ("persona",)),
        ("tmem.cli.serve", ("serve", "worker", "mcp")),
        ("tmem.cli.chat", ("import_chat",)),
    ):
        try:
            module = importlib.import_module(module_name)
        except ImportError as error:
            if error.name != module_name:
                raise
            continue
        for attr in attrs:
            if hasattr(module, attr):
                cli.add_command(getattr(module, attr))


_attach_optional_groups()


def main() -> None:
    cli(prog_name="tmem")
