"""Reading message files and export files for the CLI."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from tmem.chatlog.messages import ParsedMessages, parse_messages
from tmem.errors import InputError


def _read_text(path: Path) -> str:
    if str(path) == "-":
        return sys.stdin.read()
    try:
        return path.read_text(encoding="utf-8")
    except OSError as error:
        raise click.ClickException(f"cannot read {path}: {error.strerror}") from None
    except UnicodeDecodeError:
        raise click.ClickException(f"{path} is not UTF-8 text") from None


# JSON needs no escape for these, but str.splitlines() and many line-based tools break lines at
# them; a line of an export must stay one line whatever text it carries (issue 12).
_LINE_BREAKS = str.maketrans({"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"})


def jsonl_line(record: Any) -> str:
    """``record`` as one JSONL line (with its ``\\n``): UTF-8 text, Unicode line breaks escaped."""
    return json.dumps(record, ensure_ascii=False, sort_keys=True).translate(_LINE_BREAKS) + "\n"


def _jsonl(text: str, path: Path) -> list[Any]:
    rows = []
    # Only "\n" ends a JSONL line (a "\r" before it is JSON whitespace): str.splitlines() would
    # also split at U+2028, U+0085 and the like inside a string value.
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as error:
            raise click.ClickException(f"{path}:{number}: not JSON ({error.msg})") from None
    return rows


def read_messages(path: Path) -> ParsedMessages:
    """Messages from a JSON array, JSON lines or ``{"messages": [...]}`` file, all validated."""
    try:
        return parse_messages(_read_text(path))
    except InputError as error:
        raise click.ClickException(f"{_name(path)}, {error}") from None


def read_text(path: Path) -> str:
    return _read_text(path)


def _name(path: Path) -> str:
    return "stdin" if str(path) == "-" else str(path)


def read_records(path: Path) -> list[dict[str, Any]]:
    """Records of a `tmem export` JSONL file."""
    rows = _jsonl(_read_text(path), path)
    if not all(isinstance(r, dict) for r in rows):
        raise click.ClickException(f"{path}: every line must be a JSON object")
    return rows
