"""The development set's rules: balanced, well-formed, split in two fixed halves, no content word
shared by cue and trigger."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from tmem.eval.plus import (
    RELATION_TYPES,
    SPLITS,
    load_plus,
    parse_dialogue,
    parse_time_gap,
    select_split,
)
from tmem.porter import stem
from tmem.text import BASELINE_STOP_WORDS as STOP_WORDS

DEVSET = Path(__file__).resolve().parents[2] / "benchmarks" / "devset" / "associative-dev.json"
ITEMS = load_plus(DEVSET)


def content_stems(text: str) -> set[str]:
    """Porter stems of the non-stop-words, so plurals and inflections count as the same word."""
    words = re.findall(r"[a-z]+", text.lower())
    return {stem(w) for w in words if w not in STOP_WORDS and len(w) > 1}


def test_content_stems_match_plurals_and_inflections() -> None:
    assert content_stems("The dogs were running") & content_stems("a dog runs") == {"dog", "run"}
    assert content_stems("I am at the party") == {"parti"}


def test_devset_is_balanced_and_large_enough() -> None:
    counts = Counter(item.relation_type for item in ITEMS)
    assert set(counts) == set(RELATION_TYPES)
    assert len(ITEMS) >= 300
    assert min(counts.values()) >= 75


def test_every_item_is_in_one_half_and_each_half_is_balanced() -> None:
    halves = {split: select_split(ITEMS, split) for split in SPLITS}
    assert sum(len(half) for half in halves.values()) == len(ITEMS)
    by_type = {
        split: Counter(item.relation_type for item in half) for split, half in halves.items()
    }
    assert by_type["tune"] == by_type["check"]
    assert min(by_type["check"].values()) >= 35


def test_no_cue_or_trigger_appears_twice() -> None:
    for texts in ([i.cue_dialogue for i in ITEMS], [i.trigger_query for i in ITEMS]):
        repeated = [text for text, n in Counter(t.lower() for t in texts).items() if n > 1]
        assert repeated == []


def test_items_follow_the_format() -> None:
    for item in ITEMS:
        cue = parse_dialogue(item.cue_dialogue)
        assert 1 <= len(cue) <= 2 and cue[0][0] == "A"
        assert [role for role, _ in parse_dialogue(item.trigger_query)] == ["A"]
        assert item.model_name == "hand-written"


def test_time_gaps_vary_and_include_vague_ones() -> None:
    units = Counter(re.search(r"week|month|year|$", item.time_gap).group() for item in ITEMS)
    assert units["week"] >= 30 and units["month"] >= 30 and units["year"] >= 30
    vague = [item for item in ITEMS if parse_time_gap(item.time_gap) == 0]
    assert 0.02 <= len(vague) / len(ITEMS) <= 0.10


@pytest.mark.parametrize("index", range(len(ITEMS)))
def test_trigger_shares_no_content_word_with_its_cue(index: int) -> None:
    item = ITEMS[index]
    cue = " ".join(said for _, said in parse_dialogue(item.cue_dialogue))
    trigger = " ".join(said for _, said in parse_dialogue(item.trigger_query))
    assert content_stems(cue) & content_stems(trigger) == set()
