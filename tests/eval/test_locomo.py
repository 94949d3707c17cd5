from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tmem.errors import EvalError
from tmem.eval.locomo import (
    CATEGORY_NAMES,
    conversation_messages,
    load_locomo,
    normalise_evidence,
    parse_session_time,
    questions,
    scored_questions,
    session_numbers,
)

FIXTURE = Path(__file__).with_name("tiny_locomo.json")
REAL = Path(__file__).resolve().parents[3] / "shared" / "data" / "locomo" / "locomo10.json"


@pytest.fixture
def samples() -> list[dict[str, object]]:
    return load_locomo(FIXTURE)


def test_sessions_are_counted_by_turn_lists_not_date_keys(samples: list[dict]) -> None:
    # conv-a has a session_3 date but no session_3 turns.
    assert session_numbers(samples[0]) == [1, 2]


def test_session_time_is_parsed_as_utc() -> None:
    assert parse_session_time("1:56 pm on 8 May, 2023") == datetime(2023, 5, 8, 13, 56, tzinfo=UTC)
    with pytest.raises(EvalError):
        parse_session_time("8 May 2023")


def test_messages_carry_dia_id_and_30_second_spacing(samples: list[dict]) -> None:
    sessions = conversation_messages(samples[0])
    assert [sid for sid, _ in sessions] == ["S1", "S2"]
    first, second, third = sessions[0][1]
    assert first == {
        "speaker": "Ada",
        "content": "I adopted a grey cat called Pixel last weekend.",
        "timestamp": "2023-05-08T13:56:00+00:00",
        "id": "D1:1",
    }
    assert second["timestamp"] == "2023-05-08T13:56:30+00:00"
    assert third["timestamp"] == "2023-05-08T13:57:00+00:00"
    assert sessions[1][1][0]["timestamp"] == "2023-06-20T10:05:00+00:00"


def test_image_turns_render_caption_first(samples: list[dict]) -> None:
    image_turn = conversation_messages(samples[0])[0][1][2]
    assert image_turn["content"] == (
        "[Ada shared an image: a photo of a cat under a sofa] She hides under the sofa all day."
    )


def test_evidence_normalisation_rules() -> None:
    known = {"D1:1", "D2:1", "D2:2", "D30:5", "D11:26"}
    raw = ["D2:2; D2:1", "D:2:01", "D9:9", "D", "D30:05", "D:11:26 D1:1"]
    assert normalise_evidence(raw, known) == ("D2:2", "D2:1", "D30:5", "D11:26", "D1:1")
    assert normalise_evidence([], known) == ()


def test_questions_cast_answers_and_map_categories(samples: list[dict]) -> None:
    asked = questions(samples[0])
    assert [q.category for q in asked] == [4, 2, 1, 3, 5]
    assert asked[1].answer == "2023"
    assert asked[2].evidence == ("D2:2", "D2:1")
    assert asked[2].category_name == "multi-hop"
    assert asked[4].answer == "" and asked[4].adversarial_answer == "it was too calming"
    assert asked[0].id == "conv-a/q0"
    assert CATEGORY_NAMES == {
        1: "multi-hop",
        2: "temporal",
        3: "open-domain",
        4: "single-hop",
        5: "adversarial",
    }


def test_scored_questions_drop_adversarial_and_empty_evidence(samples: list[dict]) -> None:
    assert [q.index for q in scored_questions(samples[0])] == [0, 1, 2]
    assert [q.evidence for q in scored_questions(samples[1])] == [("D1:1", "D1:3")]


def test_load_rejects_non_locomo_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"qa": []}))
    with pytest.raises(EvalError):
        load_locomo(bad)
    with pytest.raises(EvalError):
        load_locomo(tmp_path / "missing.json")


@pytest.mark.skipif(not REAL.exists(), reason="the LoCoMo file is not in ../shared")
def test_real_file_has_1536_scored_questions() -> None:
    samples = load_locomo(REAL)
    scored = [q for sample in samples for q in scored_questions(sample)]
    assert len(scored) == 1536
    assert Counter(q.category for q in scored) == {4: 841, 2: 321, 1: 282, 3: 92}
    assert sum(len(session_numbers(s)) for s in samples) == 272
    turns = sum(len(m) for s in samples for _, m in conversation_messages(s))
    assert turns == 5882
