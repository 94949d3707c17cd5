"""Reading LongMemEval files and what a system is shown (tests/eval/tiny_longmemeval.json is a
hand-written file in the official schema: six question types, an abstention question,
multi-session evidence, and evidence sessions without a marked user turn)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tmem.errors import EvalError
from tmem.eval.longmemeval import (
    QUESTION_TYPES,
    has_marked_turn,
    haystack,
    load_longmemeval,
    parse_date,
    parse_instance,
    select_instances,
)
from tmem.eval.longmemeval_judge import (
    ABSTENTION_TEMPLATE,
    TEMPLATES,
    judge_longmemeval,
    judge_prompt,
    parse_verdict,
)
from tmem.llm.replay import ScriptedLLM

FIXTURE = Path(__file__).with_name("tiny_longmemeval.json")
INSTANCES = {i.question_id: i for i in load_longmemeval(FIXTURE)}


def test_the_fixture_covers_every_question_type_and_abstention() -> None:
    assert {i.question_type for i in INSTANCES.values()} == set(QUESTION_TYPES)
    assert [i.question_id for i in INSTANCES.values() if i.abstention] == ["q_update_1_abs"]
    assert INSTANCES["q_temporal_1"].answer == "14"  # an integer answer in the file


def test_dates_parse_with_or_without_the_weekday() -> None:
    assert parse_date("2023/05/20 (Sat) 02:21") == datetime(2023, 5, 20, 2, 21, tzinfo=UTC)
    assert parse_date("2023/05/20 02:21") == datetime(2023, 5, 20, 2, 21, tzinfo=UTC)
    for bad in ("20 May 2023", "2023/13/01 (Sun) 10:00", None):
        with pytest.raises(EvalError, match="date"):
            parse_date(bad, "somewhere")


def test_sessions_reach_the_system_in_date_order_under_opaque_ids() -> None:
    stack = haystack(INSTANCES["q_user_1"])
    # In the file the evidence session is second but dated first.
    assert [sid for sid, _ in stack.sessions] == ["S1", "S2", "S3"]
    first = stack.sessions[0][1]
    assert first[0]["timestamp"] == "2023-05-10T08:30:00+00:00"
    assert [m["id"] for m in first] == ["S1:1", "S1:3"]  # user turns only, numbered in session
    assert first[1]["timestamp"] == "2023-05-10T08:31:00+00:00"  # 30 s per turn
    stamps = [m["timestamp"] for _, messages in stack.sessions for m in messages]
    assert stamps == sorted(stamps)
    for _, messages in stack.sessions:
        for message in messages:
            assert set(message) == {"id", "speaker", "content", "timestamp"}
            assert "answer" not in message["id"] and message["speaker"] == "user"


def test_official_ids_follow_the_noans_rule() -> None:
    stack = haystack(INSTANCES["q_user_1"])
    assert stack.official_ids["S1:1"] == "noans_u1_1_1"  # unmarked turn of the evidence session
    assert stack.official_ids["S1:3"] == "answer_u1_1_3"
    assert stack.official_ids["S2:1"] == "sharegpt_f1_1"
    multi = haystack(INSTANCES["q_multi_1"])
    # The evidence session whose only marked turn is the assistant's holds no evidence here.
    assert multi.official_ids["S4:1"] == "noans_m1_3_1"
    assert sorted(d for d in multi.corpus if "answer" in d) == ["answer_m1_1_1", "answer_m1_2_1"]


def test_all_roles_index_assistant_turns_too() -> None:
    stack = haystack(INSTANCES["q_assist_1"], roles="all")
    assert [m["speaker"] for m in stack.sessions[0][1]] == ["user", "assistant"]
    assert stack.official_ids["S1:2"] == "answer_a1_1_2"
    assert not has_marked_turn(INSTANCES["q_assist_1"], "user")
    assert has_marked_turn(INSTANCES["q_assist_1"], "all")


def test_select_filters_types_then_takes_the_first_n() -> None:
    chosen = select_instances(list(INSTANCES.values()), ["knowledge-update"], 1)
    assert [i.question_id for i in chosen] == ["q_update_1"]
    assert len(select_instances(list(INSTANCES.values()))) == len(INSTANCES)
    with pytest.raises(EvalError, match="unknown question type 'chit-chat'"):
        select_instances(list(INSTANCES.values()), ["chit-chat"])


def entry(**changes: Any) -> dict[str, Any]:
    base = json.loads(FIXTURE.read_text())[0]
    return {**base, **changes}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"question_type": "trivia"}, "unknown question_type 'trivia'"),
        ({"haystack_dates": ["2023/05/20 (Sat) 09:00"]}, "3 session ids, 1 dates"),
        ({"question_date": "yesterday"}, "unparseable date"),
        ({"haystack_sessions": [[{"role": "bot", "content": "x"}], [], []]}, "role user"),
    ],
)
def test_bad_instances_fail_with_a_clear_message(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(EvalError, match=message):
        parse_instance(entry(**changes))


def test_a_missing_field_and_a_bad_file_are_named(tmp_path: Path) -> None:
    broken = entry()
    del broken["question_date"]
    with pytest.raises(EvalError, match=r"q_user_1.*'question_date'"):
        parse_instance(broken)
    path = tmp_path / "x.json"
    path.write_text('{"not": "a list"}')
    with pytest.raises(EvalError, match="expected a JSON list"):
        load_longmemeval(path)
    path.write_text("[")
    with pytest.raises(EvalError, match="cannot read"):
        load_longmemeval(path)


# --- judge -------------------------------------------------------------------------------------


def test_each_type_has_its_reference_template() -> None:
    assert judge_prompt("single-session-user", False) is judge_prompt("multi-session", False)
    assert "off-by-one errors" in judge_prompt("temporal-reasoning", False)
    assert "updated answer" in judge_prompt("knowledge-update", False)
    assert "Rubric: {answer}" in judge_prompt("single-session-preference", False)
    assert judge_prompt("knowledge-update", True) is ABSTENTION_TEMPLATE
    assert set(TEMPLATES) == set(QUESTION_TYPES)
    for template in (*TEMPLATES.values(), ABSTENTION_TEMPLATE):
        assert template.endswith("Answer yes or no only.")


@pytest.mark.parametrize(
    ("reply", "verdict"),
    [("yes", "yes"), ("Yes.", "yes"), (" NO", "no"), ("no, it misses the date", "no"),
     ("I think yes", None), ("yesterday", None), ("", None)],
)  # fmt: skip
def test_verdicts_are_parsed_strictly(reply: str, verdict: str | None) -> None:
    parsed = parse_verdict(reply)
    assert (parsed.verdict if parsed else None) == verdict


def inputs(abstention: bool = False) -> dict[str, Any]:
    return {
        "question_type": "temporal-reasoning",
        "abstention": abstention,
        "question": "How many days {between}?",
        "answer": "14",
        "response": "15 days",
    }


def test_the_judge_sends_one_user_message_with_a_ten_token_budget() -> None:
    llm = ScriptedLLM(lambda request: "Yes")
    verdict = judge_longmemeval(llm, inputs(), datetime(2023, 10, 1, tzinfo=UTC))
    assert verdict.label == "CORRECT" and verdict.usage.calls == 1
    (request,) = llm.requests
    assert request.max_tokens == 10 and request.temperature == 0.0 and request.json_schema is None
    assert [m.role for m in request.messages] == ["user"]
    assert request.messages[0].content == TEMPLATES["temporal-reasoning"].format(
        question="How many days {between}?", answer="14", response="15 days"
    )
    assert request.prompt_id == "eval.longmemeval_judge@1"


def test_an_unparseable_verdict_is_retried_then_counted_wrong() -> None:
    replies = iter(["Well, it depends", "no"])
    llm = ScriptedLLM(lambda request: next(replies))
    verdict = judge_longmemeval(llm, inputs(abstention=True), datetime(2023, 10, 1, tzinfo=UTC))
    assert verdict.label == "WRONG" and verdict.usage.calls == 2
    assert "unanswerable" in llm.requests[0].messages[0].content
    assert [r.prompt_id for r in llm.requests] == [
        "eval.longmemeval_judge@1",
        "eval.longmemeval_judge@1#retry1",
    ]
    never = ScriptedLLM(lambda request: "maybe")
    failed = judge_longmemeval(never, inputs(), datetime(2023, 10, 1, tzinfo=UTC), run=2)
    assert failed.label is None and failed.parse_failed and failed.score == 0.0
    assert [r.prompt_id for r in never.requests] == [
        "eval.longmemeval_judge@1#run2",
        "eval.longmemeval_judge@1#run2#retry1",
    ]
