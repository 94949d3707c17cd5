from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tmem.triggers import concept_norm, content_words


def test_concept_norm_lowercases_collapses_and_strips_edge_punctuation() -> None:
    assert concept_norm("  Food   Allergy!! ") == "food allergy"
    assert concept_norm('"Peer-support group."') == "peer-support group"
    assert concept_norm("...") == ""


@given(st.text())
def test_concept_norm_is_idempotent(text: str) -> None:
    once = concept_norm(text)
    assert concept_norm(once) == once
    assert once == once.strip()
    assert "  " not in once


def test_content_words_drop_function_words() -> None:
    assert content_words("The allergy of Mel's sister") == {"allergy", "mel", "sister"}
