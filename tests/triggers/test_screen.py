from __future__ import annotations

from tmem.llm.prompts import extract
from tmem.triggers import TriggerDraft, borrows, is_copy, restates, screen_drafts

TURN = "Mel: I got hives all over after the shrimp at dinner yesterday"


def test_is_copy_detects_near_verbatim_sentences_only() -> None:
    sources = [TURN, "I got hives all over after the shrimp at dinner yesterday"]
    assert is_copy("I got hives all over after the shrimp at dinner yesterday.", sources, 0.85)
    assert is_copy("i got hives all over after shrimp at dinner yesterday", sources, 0.85)
    assert not is_copy("A meal out turns into an unexpected health scare.", sources, 0.85)


def test_restates_catches_the_fact_reworded_as_a_concept() -> None:
    content = "Mel has a shrimp allergy"
    assert restates("Mel's shrimp allergy", content, 0.85)
    assert restates("mel has a shrimp allergy.", content, 0.85)
    assert not restates("seafood sensitivity", content, 0.85)


def test_screen_drafts_counts_rejections_and_drops_duplicates_silently() -> None:
    drafts = [
        TriggerDraft("seafood sensitivity", "shrimp hives -> avoid seafood", "i1", 0.9),
        TriggerDraft("Seafood sensitivity!", "dup", "i1", 0.9),  # duplicate: dropped, not counted
        TriggerDraft("Mel shrimp allergy", "x -> y", "i1", 0.9),  # restates: rejected
        TriggerDraft("sushi bar night", TURN, "i1", 0.8),  # bridge copies a turn: bridge cleared
        TriggerDraft("", "x -> y", "i1", 0.8),  # empty: dropped, not counted
    ]
    kept, rejected = screen_drafts(drafts, {"i1": "Mel has a shrimp allergy"}, {"i1": [TURN]}, 0.85)
    assert [(d.concept, d.bridge) for d in kept] == [
        ("seafood sensitivity", "shrimp hives -> avoid seafood"),
        ("sushi bar night", ""),
    ]
    assert rejected == 2


def test_borrows_catches_the_example_rewritten_around_new_names() -> None:
    """Qwen2.5-Coder-1.5B wrote the first for a scene about a dinner and a race, where no turn
    mentions dawn; the fuzzy copy check lets it through."""
    sources = ["Maya: We hit the quarterly goal, dinner next Friday?", "Leo: The harbour places."]
    copied = "Maya may avoid any role that requires pre-dawn hours."
    assert not is_copy(copied, extract.EXAMPLE_TEXTS, 0.85)
    assert borrows(copied, extract.EXAMPLE_TEXTS, sources)
    assert borrows(
        "Maya kept an apron that may resurface as a keepsake.", extract.EXAMPLE_TEXTS, sources
    )
    own = "Maya may pick the harbour restaurants for future team dinners."
    assert not borrows(own, extract.EXAMPLE_TEXTS, sources)
    # Two shared words in a short generic phrase are not a copy.
    assert not borrows("Relief mixed with resolve.", extract.EXAMPLE_TEXTS, sources)
    # Words the dialogue itself uses are never counted as borrowed.
    baker = ["Priya: I quit the bakery, the pre-dawn hours were too much for any role."]
    assert not borrows(
        "Priya may avoid any role that requires pre-dawn hours.", extract.EXAMPLE_TEXTS, baker
    )
