"""Tolerant JSON extraction: properties over generated objects plus hand-authored responses."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from tmem.errors import LLMOutputError
from tmem.llm.parse import (
    balanced_end,
    extract_json_object,
    object_candidates,
    remove_trailing_commas,
    strip_fences,
)

scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=20)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
objects = st.dictionaries(st.text(max_size=10), values, max_size=5)
# Prose around the JSON: anything but braces (which could legitimately start another object).
prose = st.text(alphabet=st.characters(blacklist_characters="{}"), max_size=40)


@given(objects)
def test_plain_object_round_trips(obj: dict[str, Any]) -> None:
    assert extract_json_object(json.dumps(obj)) == obj


@given(objects, prose, prose)
def test_object_in_prose_round_trips(obj: dict[str, Any], before: str, after: str) -> None:
    assert extract_json_object(f"{before}{json.dumps(obj)}{after}") == obj


@given(objects, prose)
def test_fenced_object_round_trips(obj: dict[str, Any], before: str) -> None:
    text = f"{before}\n```json\n{json.dumps(obj, indent=2)}\n```\nHope this helps!"
    assert extract_json_object(text) == obj


@given(objects, objects)
def test_first_of_two_objects_wins(first: dict[str, Any], second: dict[str, Any]) -> None:
    text = f"{json.dumps(first)} and also {json.dumps(second)}"
    assert extract_json_object(text) == first


@given(objects)
def test_trailing_commas_are_repaired(obj: dict[str, Any]) -> None:
    compact = json.dumps(obj, separators=(",", ":"))
    # Put a comma before every closing bracket outside strings.
    sloppy = _with_trailing_commas(compact)
    assert extract_json_object(sloppy) == obj


@given(objects)
def test_remove_trailing_commas_leaves_valid_json_alone(obj: dict[str, Any]) -> None:
    text = json.dumps(obj)
    assert remove_trailing_commas(text) == text


@given(st.text(max_size=60))
def test_never_raises_anything_but_output_error(text: str) -> None:
    try:
        result = extract_json_object(text)
    except LLMOutputError as exc:
        assert exc.raw == text
    else:
        assert isinstance(result, dict)


@given(st.text(max_size=40))
def test_balanced_spans_are_balanced(text: str) -> None:
    for span in object_candidates(text):
        assert span.startswith("{") and span.endswith("}")
        assert balanced_end(span, 0) == len(span)


def test_braces_inside_strings_do_not_end_the_object() -> None:
    """Hand-authored response with a '}' and an escaped quote inside a string value."""
    text = 'Sure: {"note": "use } and \\" here", "n": 1} trailing } junk'
    assert extract_json_object(text) == {"note": 'use } and " here', "n": 1}


def test_first_brace_to_last_brace_is_not_the_rule() -> None:
    """Hand-authored response: two objects; greedy slicing would produce invalid JSON."""
    assert extract_json_object('{"a": 1}\n\nor maybe {"b": 2}') == {"a": 1}


def test_balanced_prose_braces_are_skipped() -> None:
    """Hand-authored response whose prose holds a brace pair that is not JSON."""
    assert extract_json_object('Format {like this}: {"a": [1, 2,]}') == {"a": [1, 2]}


def test_object_inside_prose_braces_is_found() -> None:
    """Hand-authored response wrapping the JSON in a brace pair of prose."""
    assert extract_json_object('{Answer: {"a": 1}}') == {"a": 1}


def test_fence_inside_a_string_is_not_the_answer() -> None:
    """Hand-authored response whose JSON value quotes a fenced code block."""
    text = 'Here: {"code": "```\\n{}\\n```", "ok": true}'
    assert extract_json_object(text) == {"code": "```\n{}\n```", "ok": True}


def test_fenced_object_after_an_unclosed_brace() -> None:
    """Hand-authored response: prose opens a brace, then the answer comes in a fence."""
    assert extract_json_object('Use { freely.\n```json\n{"a": 1}\n```') == {"a": 1}


def test_truncated_reply_does_not_yield_an_inner_object() -> None:
    """Hand-authored response cut off at max_tokens; its whole inner objects are not top-level."""
    reply = '{"items": [{"content": "Ada is 36"}, {"content": "Ada li'
    with pytest.raises(LLMOutputError):
        extract_json_object(reply)


@given(objects.filter(bool), st.integers(min_value=1, max_value=200))
def test_truncated_wrapper_is_an_error(obj: dict[str, Any], cut: int) -> None:
    text = json.dumps({"wrapper": obj})
    assume("```" not in text)  # a fence inside a string value is a different test
    truncated = text[: max(1, len(text) - cut)]
    with pytest.raises(LLMOutputError):
        extract_json_object(truncated)


def test_arrays_and_missing_objects_are_rejected() -> None:
    """Hand-authored responses without a JSON object."""
    for text in ("[1, 2, 3]", "no json here", '{"unterminated": ', ""):
        with pytest.raises(LLMOutputError):
            extract_json_object(text)


def test_strip_fences() -> None:
    assert strip_fences('```json\n{"a": 1}\n```') == '{"a": 1}\n'
    assert strip_fences("no fence") == "no fence"


def _with_trailing_commas(text: str) -> str:
    out: list[str] = []
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "}]" and out and out[-1] not in "{[":
            out.append(",")
        out.append(char)
    return "".join(out)
