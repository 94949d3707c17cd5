"""Plain ``Name: text`` transcripts and role/content JSONL through :func:`read_chat`."""

from __future__ import annotations

import json

import pytest

from tmem.chatlog import detect_format, read_chat
from tmem.errors import InputError

TRANSCRIPT = """\
[2025-09-02 19:40] Maya: The team hit the quarterly goal.
[2025-09-02T19:41:00Z] Leo: Nice! Any place in mind?
  Somewhere central, maybe.

Maya: See https://example.org/menu: it has a big table.
"""


def test_transcript_lines_continuations_timestamps_and_stable_ids() -> None:
    assert detect_format(TRANSCRIPT) == "transcript"
    (session,) = read_chat(TRANSCRIPT, "auto", "notes")
    assert session.messages == (
        {
            "id": "notes:1",
            "speaker": "Maya",
            "content": "The team hit the quarterly goal.",
            "timestamp": "2025-09-02T19:40:00+00:00",
        },
        {
            "id": "notes:2",
            "speaker": "Leo",
            "content": "Nice! Any place in mind?\nSomewhere central, maybe.",
            "timestamp": "2025-09-02T19:41:00+00:00",
        },
        {
            "id": "notes:5",
            "speaker": "Maya",
            "content": "See https://example.org/menu: it has a big table.",
        },
    )
    assert read_chat(TRANSCRIPT, "transcript", "notes") == [session]  # same ids every time


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("just some prose without a speaker\nMaya: hi\n", "line 1: expected 'Name: text'"),
        ("Maya: hi\n[not a time] Leo: hello\n", "line 2: timestamp is not ISO 8601"),
        ("\n\n", "no 'Name: text' lines"),
    ],
)
def test_bad_transcripts_name_the_line(text: str, expected: str) -> None:
    with pytest.raises(InputError) as caught:
        read_chat(text, "transcript", "s")
    assert expected in str(caught.value)


def test_role_content_jsonl_gets_ids_from_session_and_line() -> None:
    text = "\n".join(
        json.dumps(m)
        for m in [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "I moved to Porto.", "timestamp": "2025-01-05T10:00:00Z"},
            {"role": "assistant", "content": "Congratulations!", "id": "own-id"},
        ]
    )
    assert detect_format(text) == "jsonl"
    (session,) = read_chat(text, "auto", "chat")
    assert session.skipped == 1
    assert [m["id"] for m in session.messages] == ["chat:2", "own-id"]
    assert session.messages[0]["timestamp"] == "2025-01-05T10:00:00+00:00"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[2025-09-02 19:40] Maya: hi", "transcript"),
        ("Maya: hi", "transcript"),
        ('[\n  {"role": "user", "content": "hi"}\n]', "jsonl"),
        ('{"role": "user", "content": "hi"}', "jsonl"),
        ('{"messages": []}', "jsonl"),
        ('[{"id": "c", "mapping": {}}]', "chatgpt"),
    ],
)
def test_detect_format_from_the_start_of_the_text(text: str, expected: str) -> None:
    assert detect_format(text) == expected
