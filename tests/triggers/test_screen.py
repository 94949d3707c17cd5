from __future__ import annotations

from tmem.triggers import TriggerDraft, is_copy, restates, screen_drafts

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
