"""The id grammar (issue 12, defect 4): what callers may create, what lookups accept."""

from __future__ import annotations

from urllib.parse import quote, unquote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tmem.config import Config, EmbedderConfig
from tmem.errors import InputError
from tmem.ids import MAX_ID_CHARS, check_id, check_lookup_id, id_problem
from tmem.memory import Memory

# Ids the grammar refuses; before it, `add` accepted each one and no interface could reach it.
REFUSED = [
    "a/b",
    "/",
    ".",
    "..",
    "a\\b",
    "rtl\u202eevil",
    "zero\u200bwidth",
    "soft\u00adhyphen",
    "line\u2028sep",
    "nel\u0085",
    "tab\tin",
    "\x7f",
    " lead",
    "trail ",
    "   ",
    "",
    "x" * (MAX_ID_CHARS + 1),
    "bom\ufeff",
    "private\ue000",
]
# Odd but legal: each must survive every interface (tests/hostile/test_reachable_ids.py).
ODD_LEGAL = [
    "a b",
    "ünï-çødé",
    "日本語",
    "🙂",
    "%2e%2e",
    "%2F",
    "a.b",
    "...",
    "-dash",
    "?q=1&x",
    "#frag",
    "a+b",
    "semi;colon",
    "quote\"'",
    "<tag>",
    "100%",
    "~",
    "@:!$&'()*,;=",
    "nb\u00a0sp",
    "x" * MAX_ID_CHARS,
]


@pytest.mark.parametrize("bad", REFUSED)
def test_refused_ids_name_the_problem(bad: str) -> None:
    with pytest.raises(InputError, match=r"^message id "):
        check_id(bad, "message id")


@pytest.mark.parametrize("good", ODD_LEGAL)
def test_odd_legal_ids_are_accepted(good: str) -> None:
    assert check_id(good) == good


@given(st.text(min_size=1, max_size=60))
def test_every_accepted_id_is_one_url_segment_and_no_dot_segment(text: str) -> None:
    if id_problem(text) is not None:
        return
    segment = quote(text, safe="")
    assert "/" not in segment and unquote(segment) == text
    assert text not in (".", "..") and text == text.strip()


@pytest.mark.parametrize("legacy", ["a/b", "..", "rtl\u202eevil", " lead"])
def test_lookups_accept_ids_stored_before_the_grammar(legacy: str) -> None:
    assert check_lookup_id(legacy) == legacy


@pytest.mark.parametrize("bad", ["", "a\x00b", "\ud800", "x" * (MAX_ID_CHARS + 1)])
def test_lookups_refuse_what_no_store_holds(bad: str) -> None:
    with pytest.raises(InputError):
        check_lookup_id(bad)


@pytest.mark.parametrize("bad", ["a/b", "..", "rtl\u202eevil", "zero\u200bwidth", "soft\u00adhy"])
def test_memory_add_refuses_unreachable_ids_and_writes_nothing(bad: str) -> None:
    with Memory.open(":memory:", Config(embedder=EmbedderConfig(kind="hash"))) as memory:
        batch = [
            {"speaker": "A", "content": "kept?", "id": "ok"},
            {"speaker": "A", "content": "x", "id": bad},
        ]
        with pytest.raises(InputError, match="id"):
            memory.add(batch, "ana")
        assert memory.list("ana") == []
