"""Prompts the benchmark harness sends: answering for the baselines, and the judges.

Each is a :class:`tmem.llm.prompts.PromptSpec`; bump ``version`` whenever the wording or schema
changes, since results record ``id@version``. Judge replies are parsed strictly with
:func:`tmem.eval.metrics.parse_judge_label`, never by searching the text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from tmem.llm.base import ChatMessage
from tmem.llm.prompts import PromptSpec


class Verdict(BaseModel):
    reason: str
    label: str


class ShortAnswer(BaseModel):
    answer: str


_JUDGE_SYSTEM = """You grade answers in a memory benchmark.
One person asks another about their past conversations. You get the question, the gold answer \
and a generated answer. Label the generated answer CORRECT if it refers to the same thing as the \
gold answer, even when it is longer or worded differently; for questions about time, a different \
date format or a relative expression that denotes the same date or period is CORRECT. Label it \
WRONG if it contradicts the gold answer, misses its substance, or says the information is not \
available.
Reply with one JSON object and nothing else: {"reason": "<one sentence>", "label": "CORRECT"} \
or {"reason": "<one sentence>", "label": "WRONG"}."""


def _render_judge(inputs: Mapping[str, Any], now: datetime) -> list[ChatMessage]:
    user = (
        f"Question: {inputs['question']}\n"
        f"Gold answer: {inputs['gold']}\n"
        f"Generated answer: {inputs['prediction']}"
    )
    return [ChatMessage("system", _JUDGE_SYSTEM), ChatMessage("user", user)]


LOCOMO_JUDGE: PromptSpec[Verdict] = PromptSpec(
    id="eval.locomo_judge", version="1", output=Verdict, render=_render_judge
)

_AWARENESS_SYSTEM = """You grade whether a reply in a long conversation shows memory of an \
earlier exchange.
You get the earlier exchange (the cue) and the reply to a later message. Label the reply CORRECT \
if it explicitly or implicitly reflects or uses what the cue established (a cause, a state, a \
goal or a value); label it WRONG if it ignores the cue and answers generically or contradicts it.
Reply with one JSON object and nothing else: {"reason": "<one sentence>", "label": "CORRECT"} \
or {"reason": "<one sentence>", "label": "WRONG"}."""


def _render_awareness(inputs: Mapping[str, Any], now: datetime) -> list[ChatMessage]:
    user = f"Earlier exchange:\n{inputs['cue']}\n\nLater reply:\n{inputs['prediction']}"
    return [ChatMessage("system", _AWARENESS_SYSTEM), ChatMessage("user", user)]


PLUS_JUDGE: PromptSpec[Verdict] = PromptSpec(
    id="eval.plus_awareness_judge", version="1", output=Verdict, render=_render_awareness
)

_ANSWER_SYSTEM = """You answer questions about past conversations between two people, using \
only the memories given. Each memory carries the time it was said; turn relative dates ("last \
week", "yesterday") into absolute dates from that time. If memories disagree, prefer the most \
recent. Answer in at most six words.
Reply with one JSON object and nothing else: {"answer": "<short answer>"}."""


def _render_answer(inputs: Mapping[str, Any], now: datetime) -> list[ChatMessage]:
    memories: Sequence[str] = inputs["memories"]
    listing = "\n".join(f"- {memory}" for memory in memories) or "(no memories)"
    user = f"Memories:\n{listing}\n\nQuestion: {inputs['question']}"
    return [ChatMessage("system", _ANSWER_SYSTEM), ChatMessage("user", user)]


BASELINE_ANSWER: PromptSpec[ShortAnswer] = PromptSpec(
    id="eval.baseline_answer", version="1", output=ShortAnswer, render=_render_answer
)

SPECS: tuple[PromptSpec[Any], ...] = (LOCOMO_JUDGE, PLUS_JUDGE, BASELINE_ANSWER)
