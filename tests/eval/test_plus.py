from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tmem.errors import EvalError
from tmem.eval.locomo import load_locomo
from tmem.eval.plus import (
    PlusItem,
    first_per_type,
    load_plus,
    parse_dialogue,
    parse_time_gap,
    query_time,
    select_split,
    stitch,
    stitch_all,
    trigger_text,
)

BASES = load_locomo(Path(__file__).with_name("tiny_locomo.json"))


@pytest.mark.parametrize(
    ("text", "days"),
    [
        ("3 months later", 90),
        ("two weeks later", 14),
        ("a year later", 365),
        ("An month later", 30),
        ("Twelve Years later", 12 * 365),
        ("about 10 weeks later", 70),
        ("1 week, then 2 months", 7),
        ("several months later", 0),
        ("a few weeks later", 0),
        ("a couple of years later", 0),
        ("10 days later", 0),
        ("later", 0),
    ],
)
def test_time_gap_parsing(text: str, days: int) -> None:
    assert parse_time_gap(text) == days


def test_dialogue_and_trigger_parsing() -> None:
    assert parse_dialogue("A: I moved.\nB: Where to?\n  still unpacking") == [
        ("A", "I moved."),
        ("B", "Where to? still unpacking"),
    ]
    assert trigger_text("A: Any tips for a quiet weekend?") == "Any tips for a quiet weekend?"


def item(gap: str = "2 months later", cue: str = "A: One.\nB: Two.") -> PlusItem:
    return PlusItem("goal", cue, "A: Later question?", gap, "hand-written")


def test_stitch_maps_speakers_times_and_ids() -> None:
    stitched = stitch(item(), 3, BASES)
    assert stitched.base == 1  # 3 % 2
    # conv-b's only session: 9:00 on 3 January 2022; the query comes 7 days later.
    asked = datetime(2022, 1, 10, 9, 0, tzinfo=UTC)
    assert stitched.query_time == asked
    assert stitched.cue_time == asked - timedelta(days=60)
    assert [(m["speaker"], m["id"]) for m in stitched.cue_messages] == [
        ("Cleo", "P3:C1"),
        ("Dev", "P3:C2"),
    ]
    assert (
        stitched.cue_messages[1]["timestamp"]
        == (stitched.cue_time + timedelta(seconds=30)).isoformat()
    )
    assert stitched.evidence == ("P3:C1", "P3:C2")
    assert stitched.query == "Later question?"
    assert stitched.cue_session_id == "P3"


def test_zero_gap_keeps_the_trigger_last() -> None:
    stitched = stitch(item("several months later"), 0, BASES)
    assert stitched.cue_time == query_time(BASES[0])
    assert all(m["timestamp"] < stitched.query_time.isoformat() for m in stitched.cue_messages)


def test_stitch_rejects_cue_without_turns() -> None:
    with pytest.raises(EvalError):
        stitch(item(cue="no speaker labels"), 0, BASES)
    with pytest.raises(EvalError):
        stitch(item(), 0, [])


gaps = st.one_of(
    st.builds(
        lambda n, u: f"{n} {u} later",
        st.integers(0, 40),
        st.sampled_from(["weeks", "months", "years"]),
    ),
    st.sampled_from(["a few weeks later", "some time later", "an hour later"]),
)
cues = st.lists(st.sampled_from(["A", "B"]), min_size=1, max_size=3).map(
    lambda roles: "\n".join(f"{r}: line {i}" for i, r in enumerate(roles))
)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(gaps, cues), min_size=1, max_size=12))
def test_each_cue_lands_only_in_its_own_library_before_its_trigger(
    pairs: list[tuple[str, str]],
) -> None:
    items = [PlusItem("state", cue, "A: trigger", gap) for gap, cue in pairs]
    stitched = stitch_all(items, BASES)
    all_ids = [m["id"] for s in stitched for m in s.cue_messages]
    assert len(all_ids) == len(set(all_ids))
    for i, (s, (gap, _)) in enumerate(zip(stitched, pairs, strict=True)):
        assert s.index == i and s.base == i % len(BASES)
        assert all(m["id"].startswith(f"P{i}:C") for m in s.cue_messages)
        assert s.cue_messages[0]["timestamp"] == s.cue_time.isoformat()
        assert s.cue_time == query_time(BASES[s.base]) - timedelta(days=parse_time_gap(gap))
        assert all(datetime.fromisoformat(m["timestamp"]) < s.query_time for m in s.cue_messages)
        speakers = {
            BASES[s.base]["conversation"]["speaker_a"],
            BASES[s.base]["conversation"]["speaker_b"],
        }
        assert {m["speaker"] for m in s.cue_messages} <= speakers


def test_load_plus_keeps_extra_fields(tmp_path: Path) -> None:
    path = tmp_path / "plus.json"
    raw = {
        "relation_type": "value",
        "cue_dialogue": "A: x",
        "trigger_query": "A: y",
        "time_gap": "1 year later",
        "model_name": "m",
        "scores": {"bm25": 0.1},
    }
    path.write_text(json.dumps([raw]))
    (loaded,) = load_plus(path)
    assert loaded.model_name == "m" and loaded.extra == {"scores": {"bm25": 0.1}}
    path.write_text(json.dumps([{"relation_type": "value"}]))
    with pytest.raises(EvalError):
        load_plus(path)


def test_first_per_type_keeps_file_order_and_a_cap_per_type() -> None:
    kinds = ["causal", "causal", "causal", "state", "goal", "state", "state", "value"]
    items = [PlusItem(k, f"A: cue {i}", "A: trigger", "1 week") for i, k in enumerate(kinds)]
    kept = first_per_type(items, 2)
    assert [(i.relation_type, i.cue_dialogue) for i in kept] == [
        ("causal", "A: cue 0"),
        ("causal", "A: cue 1"),
        ("state", "A: cue 3"),
        ("goal", "A: cue 4"),
        ("state", "A: cue 5"),
        ("value", "A: cue 7"),
    ]


def test_split_field_is_read_and_one_half_selected_in_file_order(tmp_path: Path) -> None:
    path = tmp_path / "items.json"
    halves = ["tune", "check", "check", "tune", "check"]
    path.write_text(
        json.dumps(
            [
                {
                    "relation_type": "state",
                    "cue_dialogue": f"A: cue {i}",
                    "trigger_query": "A: trigger",
                    "time_gap": "1 week",
                    "split": half,
                }
                for i, half in enumerate(halves)
            ]
        )
    )
    items = load_plus(path)
    assert [item.split for item in items] == halves
    assert all(item.extra == {} for item in items)
    assert [i.cue_dialogue for i in select_split(items, "check")] == [
        "A: cue 1",
        "A: cue 2",
        "A: cue 4",
    ]
    assert [i.cue_dialogue for i in select_split(items, "tune")] == ["A: cue 0", "A: cue 3"]
    with pytest.raises(EvalError, match="unknown split"):
        select_split(items, "train")


def test_a_file_without_halves_cannot_be_split_and_bad_halves_are_refused(tmp_path: Path) -> None:
    with pytest.raises(EvalError, match="no tune half"):
        select_split([item()], "tune")
    path = tmp_path / "items.json"
    raw = {"relation_type": "goal", "cue_dialogue": "A: x", "trigger_query": "A: y"}
    path.write_text(json.dumps([{**raw, "time_gap": "1 week", "split": "test"}]))
    with pytest.raises(EvalError, match="split must be one of tune, check"):
        load_plus(path)
