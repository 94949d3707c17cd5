"""Reading message files and export files for the CLI."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click


def _read_text(path: Path) -> str:
    if str(path) == "-":
        return sys.stdin.read()
    try:
        return path.read_text(encoding="utf-8")
    except OSError as error:
        raise click.ClickException(f"cannot read {path}: {error.strerror}") from None
    except UnicodeDecodeError:
        raise click.ClickException(f"{path} is not UTF-8 text") from None


def _jsonl(text: str, path: Path) -> list[Any]:
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as error:
            raise click.ClickException(f"{path}:{number}: not JSON ({error.msg})") from None
    return rows


def read_messages(path: Path) -> list[dict[str, Any]]:
    """Messages from a JSON array or JSONL file; each must be an object."""
    text = _read_text(path)
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise click.ClickException(
                f"{path}: not valid JSON ({error.msg}, line {error.lineno})"
            ) from None
    else:
        data = _jsonl(text, path)
    if not isinstance(data, list) or not all(isinstance(m, dict) for m in data):
        raise click.ClickException(f"{path}: expected a JSON array (or JSONL) of message objects")
    return data


def read_records(path: Path) -> list[dict[str, Any]]:
    """Records of a `tmem export` JSONL file."""
    rows = _jsonl(_read_text(path), path)
    if not all(isinstance(r, dict) for r in rows):
        raise click.ClickException(f"{path}: every line must be a JSON object")
    return rows
