"""Issue 12, defect 2: export and import round-trip every Unicode string, on both stores.

``tmem export`` wrote U+2028, U+2029 and U+0085 raw and ``tmem import`` split lines with
``str.splitlines()``, so a backup holding one of them could not be restored ("not JSON").
Hypothesis draws text, speakers, ids and timestamps (with every character ``str.splitlines``
breaks at, and format characters), adds them through the library, and checks that what reads
back is exactly what went in and that export -> import -> export is the identity, through the
library and through the CLI.
"""

from __future__ import annotations

import itertools
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

from tmem import Memory
from tmem.chatlog import parse_messages
from tmem.cli.io import jsonl_line
from tmem.cli.main import cli
from tmem.errors import InputError
from tmem.ingest.normalize import to_messages
from tmem.models import Turn

from .conftest import HASH, SCALE

# Every character str.splitlines() breaks at, plus format characters and a BOM.
BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
ODD = "\u200b\u200e\u202e\u00ad\ufeff\ufffd\U0001f600"
_users = itertools.count()

_chars = st.one_of(
    st.characters(codec="utf-8", exclude_characters="\x00"),
    st.sampled_from(BREAKS + ODD),
)
texts = st.text(alphabet=_chars, min_size=1, max_size=60).filter(lambda s: bool(s.strip()))
_offsets = st.integers(min_value=-86_399, max_value=86_399).map(
    lambda seconds: timezone(timedelta(seconds=seconds))
)
_times = st.datetimes(
    min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59), timezones=_offsets
)
timestamps = st.one_of(st.none(), _times, _times.map(datetime.isoformat))


@st.composite
def batches(draw: st.DrawFn) -> list[dict[str, Any]]:
    """A batch of messages the library accepts (anything it refuses is not an example)."""
    size = draw(st.integers(min_value=1, max_value=4))
    ids = draw(st.lists(texts, min_size=size, max_size=size, unique=True))
    messages = []
    for message_id in ids:
        message: dict[str, Any] = {"speaker": draw(texts), "content": draw(texts)}
        if draw(st.booleans()):
            message["id"] = message_id
        stamp = draw(timestamps)
        if stamp is not None:
            message["timestamp"] = stamp
        messages.append(message)
    try:
        to_messages(messages)
    except InputError:
        reject()
    return messages


SETTINGS = settings(
    max_examples=30 * SCALE,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _rows(mem: Memory, user: str) -> list[dict[str, Any]]:
    return list(mem.export(user))[1:]


def _same_as_sent(
    mem: Memory, user: str, messages: list[dict[str, Any]], ids: tuple[str, ...]
) -> None:
    """Each turn reads back with exactly the speaker, content, id and time it was sent with."""
    stored = {t.id: t for t in mem.list(user, "turn")}
    for message, turn_id in zip(messages, ids, strict=True):
        turn = stored[turn_id]
        assert isinstance(turn, Turn)
        assert (turn.speaker, turn.content) == (message["speaker"], message["content"])
        assert turn.id == message.get("id", turn_id)
        if "timestamp" in message:
            sent = message["timestamp"]
            sent = datetime.fromisoformat(sent) if isinstance(sent, str) else sent
            assert turn.timestamp == sent and turn.timestamp.utcoffset() == sent.utcoffset()


@SETTINGS
@given(messages=batches())
def test_library_round_trip_keeps_every_string(
    store_url: str, messages: list[dict[str, Any]]
) -> None:
    source, target = f"src{next(_users)}", f"dst{next(_users)}"
    with Memory.open(store_url, HASH) as mem:
        report = mem.add(messages, user_id=source)
        _same_as_sent(mem, source, messages, report.turn_ids)
        exported = list(mem.export(source))
        assert mem.import_records(exported, user_id=target) == len(exported) - 1
        assert _rows(mem, target) == _rows(mem, source)


@SETTINGS
@given(messages=batches())
def test_cli_export_file_imports_back_exactly(
    store_url: str, tmp_path: Path, messages: list[dict[str, Any]]
) -> None:
    source, target = f"src{next(_users)}", f"dst{next(_users)}"
    with Memory.open(store_url, HASH) as mem:
        report = mem.add(messages, user_id=source)
        records = len(list(mem.export(source)))
    out = tmp_path / f"{source}.jsonl"
    runner = CliRunner()
    env = {"TMEM_EMBEDDER": "hash"}
    exported = runner.invoke(cli, ["--db", store_url, "--quiet", "export", "--user", source,
                                   "-o", str(out)], env=env)  # fmt: skip
    assert exported.exit_code == 0, exported.output
    # One record per line for any line-based tool, not only for "\n".
    assert len(out.read_text(encoding="utf-8").splitlines()) == records
    imported = runner.invoke(cli, ["--db", store_url, "import", "--user", target, str(out)],
                             env=env)  # fmt: skip
    assert imported.exit_code == 0, imported.output
    with Memory.open(store_url, HASH) as mem:
        _same_as_sent(mem, target, messages, report.turn_ids)
        assert _rows(mem, target) == _rows(mem, source)


@pytest.mark.parametrize("char", list(BREAKS + ODD))
def test_an_export_line_is_one_line_whatever_it_holds(char: str) -> None:
    line = jsonl_line({"type": "turn", "content": f"a{char}b"})
    assert line.endswith("\n") and line.count("\n") == 1
    assert len(line.splitlines()) == 1
    assert json.loads(line) == {"type": "turn", "content": f"a{char}b"}


def test_a_lone_surrogate_is_a_clear_input_error(store_url: str) -> None:
    with Memory.open(store_url, HASH) as mem:
        with pytest.raises(InputError, match="surrogate"):
            mem.add([{"speaker": "Ana", "content": "half \ud83d a smile"}], user_id="ana")
        assert mem.list("ana") == []


def test_a_backup_written_by_an_older_tmem_with_raw_line_breaks_imports(
    store_url: str, tmp_path: Path
) -> None:
    """Earlier versions wrote U+2028, U+2029 and U+0085 raw: those backups must restore."""
    content = "one\u2028two\u2029three\x85four\x0bfive"
    with Memory.open(store_url, HASH) as mem:
        mem.add([{"id": "m1", "speaker": "Ana\x85", "content": content}], user_id="ana")
        records = list(mem.export("ana"))
    old = tmp_path / "old.jsonl"
    lines = [json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in records]
    old.write_text("".join(lines), encoding="utf-8")
    assert "\u2028" in old.read_text(encoding="utf-8")
    result = CliRunner().invoke(
        cli,
        ["--db", store_url, "import", "--user", "copy", str(old)],
        env={"TMEM_EMBEDDER": "hash"},
    )
    assert result.exit_code == 0, result.output
    with Memory.open(store_url, HASH) as mem:
        restored = mem.get("m1", "copy")
        assert isinstance(restored, Turn) and restored.content == content
        assert _rows(mem, "copy") == records[1:]


@pytest.mark.parametrize("ending", ["\n", "\r\n"])
def test_a_jsonl_message_file_with_raw_unicode_line_breaks_reads_whole(ending: str) -> None:
    """`tmem add` and `tmem import-chat` read JSON lines the same way `tmem import` does."""
    messages = [
        {"speaker": "Ana\u2029", "content": f"one{char}two"} for char in "\x85\u2028\u2029\x0c"
    ]
    text = ending.join(json.dumps(m, ensure_ascii=False) for m in messages) + ending
    parsed = parse_messages(text)
    assert list(parsed.messages) == messages
    assert parsed.lines == (1, 2, 3, 4)
