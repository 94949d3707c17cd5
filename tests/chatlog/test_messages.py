"""tmem message files: every common shape is read, every bad line is named."""

from __future__ import annotations

import json

import pytest

from tmem.chatlog import parse_messages
from tmem.errors import InputError

TMEM_STYLE = [
    {
        "id": "m1",
        "speaker": "Ana",
        "content": "Ben is allergic to shellfish.",
        "timestamp": "2025-03-03T18:04:00Z",
    },
    {"speaker": "Ben", "content": "Thanks for remembering."},
]


def test_json_array_jsonl_and_messages_wrapper_read_the_same() -> None:
    array = json.dumps(TMEM_STYLE, indent=2)
    lines = "\n".join(json.dumps(m) for m in TMEM_STYLE) + "\n"
    wrapper = json.dumps({"messages": TMEM_STYLE}, indent=2)
    parsed = [parse_messages(text).messages for text in (array, lines, wrapper)]
    assert parsed[0] == parsed[1] == parsed[2]
    assert parsed[0][0] == {
        "speaker": "Ana",
        "content": "Ben is allergic to shellfish.",
        "timestamp": "2025-03-03T18:04:00+00:00",
        "id": "m1",
    }
    assert parsed[0][1] == {"speaker": "Ben", "content": "Thanks for remembering."}


def test_a_single_jsonl_line_is_one_message() -> None:
    parsed = parse_messages('{"speaker": "Ana", "content": "hi"}')
    assert parsed.messages == ({"speaker": "Ana", "content": "hi"},) and parsed.lines == (1,)


def test_openai_style_messages_use_name_or_role_and_skip_system_and_tool() -> None:
    text = "\n".join(
        json.dumps(m)
        for m in [
            {"role": "system", "content": "You are helpful."},
            {"role": "user", "name": "Ana", "content": "Book a table for six."},
            {"role": "assistant", "content": [{"type": "text", "text": "Done: Friday 8 pm."}]},
            {"role": "tool", "content": "{}"},
        ]
    )
    parsed = parse_messages(text)
    assert parsed.messages == (
        {"speaker": "Ana", "content": "Book a table for six."},
        {"speaker": "assistant", "content": "Done: Friday 8 pm."},
    )
    assert parsed.lines == (2, 3) and parsed.skipped == 2


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '[\n  {"speaker": "A", "content": "ok"},\n\n  {"speaker": "B"}\n]',
            "line 4: message 2: content",
        ),
        ('{"speaker": "A", "content": "ok"}\nnot json\n', "line 2: not a JSON message"),
        (
            '[{"speaker": "A", "content": "ok"},\n {"speaker": "B", "text": "x"}]',
            "line 2: message 2: unknown field(s) ['text']",
        ),
        (
            '{\n "messages": [\n  {"speaker": "A", "content": "ok"},\n  "hello"\n ]\n}',
            "line 4: message 2 is a JSON string",
        ),
        ('{"sessions": []}', 'line 1: a JSON object without a "messages" array'),
        ('[{"speaker": "A", "content": "x"},\n', "line 2: not valid JSON"),
        (
            '{"id": "a", "speaker": "A", "content": "x"}\n'
            '{"id": "a", "speaker": "B", "content": "y"}',
            "line 2: id 'a' repeats the message on line 1",
        ),
        (
            '{"speaker": "A", "content": "x", "timestamp": "yesterday"}',
            "line 1: message 1: timestamp is not ISO 8601",
        ),
        ("", "the file is empty"),
    ],
)
def test_bad_input_names_the_line_and_why(text: str, expected: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_messages(text)
    assert expected in str(caught.value)
