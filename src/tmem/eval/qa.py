"""LLM calls the harness makes itself: baseline answers and strictly parsed judge verdicts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from tmem.eval.metrics import parse_judge_label
from tmem.eval.prompts import BASELINE_ANSWER, LOCOMO_JUDGE, PLUS_JUDGE, ShortAnswer
from tmem.llm.base import LLM, LLMRequest, LLMResponse
from tmem.llm.prompts import PromptSpec
from tmem.models import Usage

JUDGE_ATTEMPTS = 2
"""A judge reply that does not parse is asked once more, then counted wrong."""


@dataclass(frozen=True)
class Judgement:
    """A verdict: ``label`` is ``CORRECT``, ``WRONG`` or ``None`` when no reply parsed."""

    label: str | None
    usage: Usage

    @property
    def score(self) -> float:
        return 1.0 if self.label == "CORRECT" else 0.0

    @property
    def parse_failed(self) -> bool:
        return self.label is None


def _call(
    llm: LLM, spec: PromptSpec[Any], inputs: Mapping[str, Any], now: datetime, *, tag: str = ""
) -> LLMResponse:
    request = LLMRequest(
        messages=tuple(spec.render(inputs, now)),
        prompt_id=spec.key,
        json_schema=spec.output.model_json_schema(),
        temperature=0.0,
        max_tokens=512,
    )
    if tag:
        # A distinct request key, so a cache neither replays a reply that failed to parse nor
        # merges independent judge runs.
        request = LLMRequest(
            messages=request.messages,
            prompt_id=f"{spec.key}#{tag}",
            json_schema=request.json_schema,
            temperature=request.temperature,
            max_tokens=request.max_tokens,
        )
    return llm.complete(request)


def _usage(response: LLMResponse) -> Usage:
    return Usage(1, response.prompt_tokens, response.completion_tokens)


def _judge(
    llm: LLM, spec: PromptSpec[Any], inputs: Mapping[str, Any], now: datetime, run: int
) -> Judgement:
    usage = Usage()
    for attempt in range(JUDGE_ATTEMPTS):
        tags = [f"run{run}"] * bool(run) + [f"retry{attempt}"] * bool(attempt)
        response = _call(llm, spec, inputs, now, tag="#".join(tags))
        usage = usage + _usage(response)
        label = parse_judge_label(response.text)
        if label is not None:
            return Judgement(label, usage)
    return Judgement(None, usage)


def judge_answer(
    llm: LLM, question: str, gold: str, prediction: str, now: datetime, run: int = 0
) -> Judgement:
    """Grade a LoCoMo answer against its gold answer (generous, Mem0-style J).

    ``run`` numbers independent judge runs (T-Mem and MemOS average three); each run is a
    separate request, so a response cache keeps them apart.
    """
    inputs = {"question": question, "gold": gold, "prediction": prediction}
    return _judge(llm, LOCOMO_JUDGE, inputs, now, run)


def judge_awareness(llm: LLM, cue: str, prediction: str, now: datetime, run: int = 0) -> Judgement:
    """Grade whether a reply shows awareness of the cue (LoCoMo-Plus, binary)."""
    return _judge(llm, PLUS_JUDGE, {"cue": cue, "prediction": prediction}, now, run)


def answer_from_memories(
    llm: LLM, question: str, memories: Sequence[str], now: datetime
) -> tuple[str, Usage]:
    """A short answer from ``memories`` (the baselines' and full context's answering step).

    The reply is read as ``{"answer": ...}``; a reply that is not that JSON is taken as the
    answer text itself, since a malformed answer is still an answer to grade.
    """
    response = _call(llm, BASELINE_ANSWER, {"question": question, "memories": memories}, now)
    return _answer_text(response.text), _usage(response)


def _answer_text(reply: str) -> str:
    try:
        return ShortAnswer.model_validate_json(reply).answer.strip()
    except ValidationError:
        return reply.strip()
