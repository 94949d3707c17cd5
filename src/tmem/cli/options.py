"""Options shared by the commands."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from tmem.errors import TmemError
from tmem.validate import check_id

F = TypeVar("F", bound=Callable[..., Any])


def user_option(f: F) -> F:
    return click.option("--user", "user_id", required=True, help="The user (tenant) id.")(f)


def _new_user(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    try:
        return check_id(value, "user_id")
    except TmemError as error:
        raise click.BadParameter(str(error)) from None


def new_user_option(f: F) -> F:
    """``--user`` for commands that may create the user: the id grammar applies."""
    return click.option(
        "--user", "user_id", required=True, callback=_new_user, help="The user (tenant) id."
    )(f)


def _set_on_state(attr: str) -> Callable[[click.Context, click.Parameter, Any], None]:
    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> None:
        # The group's callback has built the state (ctx.obj) before a subcommand parses.
        if value is not None and value is not False and ctx.obj is not None:
            setattr(ctx.obj, attr, value)

    return callback


def page_options(f: F) -> F:
    """``--limit`` and ``--cursor``: with either, a command prints one page (and the cursor of
    the next on stderr, or in ``--json`` output as ``next_cursor``)."""
    f = click.option(
        "--cursor",
        default=None,
        help="Continue after the page that printed this cursor.",
    )(f)
    return click.option(
        "--limit",
        type=int,
        default=None,
        help="Print one page of at most this many records (1..1000).",
    )(f)


def common_options(f: F) -> F:
    """``--db``, ``--json`` and ``--quiet`` after the subcommand too (``tmem search --json``)."""
    options = (
        click.option(
            "--db",
            default=None,
            expose_value=False,
            callback=_set_on_state("db"),
            help="SQLite file, or a postgresql:// URL (also accepted before the command).",
        ),
        click.option(
            "--json",
            "as_json",
            is_flag=True,
            default=None,
            expose_value=False,
            callback=_set_on_state("as_json"),
            help="Print machine-readable JSON.",
        ),
        click.option(
            "--quiet",
            "-q",
            is_flag=True,
            default=None,
            expose_value=False,
            callback=_set_on_state("quiet"),
            help="No progress bars or notes on stderr.",
        ),
    )
    for option in reversed(options):
        f = option(f)
    return f
