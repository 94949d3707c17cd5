"""LongMemEval's answer check: the reference judge prompt for each question type.

The wording of each template is LongMemEval's own (``src/evaluation/evaluate_qa.py`` in
github.com/xiaowu0162/LongMemEval; Wu et al., ICLR 2025), kept character for character because
numbers are only comparable under the same judge prompt. As there, the prompt is one user
message, sent at temperature 0 with a 10-token reply budget, and abstention questions (``_abs``)
use their own template whatever their type.

One difference, on purpose: the reference script counts a reply as *yes* whenever it contains
"yes" anywhere. Here a reply must start with the word yes or no (case and punctuation aside);
anything else is asked once more and then counted wrong and reported as a parse failure.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

from tmem.eval.qa import Judgement
from tmem.llm.base import LLM, ChatMessage, LLMRequest
from tmem.llm.prompts import PromptSpec
from tmem.models import Usage

JUDGE_MAX_TOKENS = 10
JUDGE_ATTEMPTS = 2

_PREAMBLE = (
    "I will give you a question, a correct answer, and a response from a model. Please answer "
    "yes if the response contains the correct answer. Otherwise, answer no. "
)
_STEPS = (
    "If the response is equivalent to the correct answer or contains all the intermediate steps "
    "to get the correct answer, you should also answer yes. If the response only contains a "
    "subset of the information required by the answer, answer no. "
)
_OFF_BY_ONE = (
    "In addition, do not penalize off-by-one errors for the number of days. If the question asks "
    "for the number of days/weeks/months, etc., and the model makes off-by-one errors (e.g., "
    "predicting 19 days when the answer is 18), the model's response is still correct. "
)
_UPDATE = (
    "If the response contains some previous information along with an updated answer, the "
    "response should be considered as correct as long as the updated answer is the required "
    "answer."
)
_TAIL = (
    "\n\nQuestion: {question}\n\nCorrect Answer: {answer}\n\nModel Response: {response}\n\n"
    "Is the model response correct? Answer yes or no only."
)
_FACT = _PREAMBLE + _STEPS + _TAIL

TEMPLATES: dict[str, str] = {
    "single-session-user": _FACT,
    "single-session-assistant": _FACT,
    "multi-session": _FACT,
    "temporal-reasoning": _PREAMBLE + _STEPS + _OFF_BY_ONE + _TAIL,
    "knowledge-update": _PREAMBLE + _UPDATE + _TAIL,
    "single-session-preference": (
        "I will give you a question, a rubric for desired personalized response, and a response "
        "from a model. Please answer yes if the response satisfies the desired response. "
        "Otherwise, answer no. The model does not need to reflect all the points in the rubric. "
        "The response is correct as long as it recalls and utilizes the user's personal "
        "information correctly.\n\nQuestion: {question}\n\nRubric: {answer}\n\n"
        "Model Response: {response}\n\nIs the model response correct? Answer yes or no only."
    ),
}
"""The reference judge prompt per question type (``{question}``, ``{answer}``, ``{response}``)."""

ABSTENTION_TEMPLATE = (
    "I will give you an unanswerable question, an explanation, and a response from a model. "
    "Please answer yes if the model correctly identifies the question as unanswerable. The model "
    "could say that the information is incomplete, or some other information is given but the "
    "asked information is not.\n\nQuestion: {question}\n\nExplanation: {answer}\n\n"
    "Model Response: {response}\n\nDoes the model correctly identify the question as "
    "unanswerable? Answer yes or no only."
)

_VERDICT = re.compile(r"^\W*(yes|no)\b", re.IGNORECASE)


class YesNo(BaseModel):
    """A parsed verdict."""

    verdict: Literal["yes", "no"]


def judge_prompt(question_type: str, abstention: bool) -> str:
    """The template for a question (abstention first, then by type)."""
    return ABSTENTION_TEMPLATE if abstention else TEMPLATES[question_type]


def _render(inputs: Mapping[str, Any], now: datetime) -> list[ChatMessage]:
    template = judge_prompt(inputs["question_type"], bool(inputs["abstention"]))
    text = template.format(
        question=inputs["question"], answer=inputs["answer"], response=inputs["response"]
    )
    return [ChatMessage("user", text)]


LONGMEMEVAL_JUDGE: PromptSpec[YesNo] = PromptSpec(
    id="eval.longmemeval_judge",
    version="1",
    output=YesNo,
    render=_render,
    max_tokens=JUDGE_MAX_TOKENS,
)


def parse_verdict(reply: str) -> YesNo | None:
    """``yes``/``no`` when the reply starts with that word, else ``None`` (never a substring
    search: "not yes" is not a yes)."""
    match = _VERDICT.match(reply)
    return YesNo(verdict=match.group(1).lower()) if match else None


def judge_longmemeval(
    llm: LLM,
    inputs: Mapping[str, Any],
    now: datetime,
    run: int = 0,
) -> Judgement:
    """Grade one answer with the reference prompt; label ``CORRECT``, ``WRONG`` or ``None``.

    Args:
        llm: the judge model.
        inputs: ``question_type``, ``abstention``, ``question``, ``answer`` (gold answer,
            rubric or explanation) and ``response`` (the answer under test).
        now: the question date (the prompt does not use it).
        run: which independent judge run; runs after the first are separate cache entries.
    """
    usage = Usage()
    messages = tuple(LONGMEMEVAL_JUDGE.render(inputs, now))
    for attempt in range(JUDGE_ATTEMPTS):
        tags = [f"run{run}"] * bool(run) + [f"retry{attempt}"] * bool(attempt)
        suffix = "#" + "#".join(tags) if tags else ""
        request = LLMRequest(
            messages=messages,
            prompt_id=LONGMEMEVAL_JUDGE.key + suffix,
            temperature=0.0,
            max_tokens=JUDGE_MAX_TOKENS,
        )
        response = llm.complete(request)
        usage = usage + Usage(1, response.prompt_tokens, response.completion_tokens)
        verdict = parse_verdict(response.text)
        if verdict is not None:
            return Judgement("CORRECT" if verdict.verdict == "yes" else "WRONG", usage)
    return Judgement(None, usage)
