"""Structured calls: render a prompt, ask for JSON, validate it, and retry with the error.

A reply that fails validation is not thrown away blindly: the model sees its own reply and the
validation error and gets ``retries`` more chances. Tokens spent on failed attempts still
count, so they travel with the result or, on failure, with the exception (:func:`spent_usage`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from tmem.errors import LLMError, LLMOutputError
from tmem.llm.base import LLM, ChatMessage, LLMRequest, LLMResponse
from tmem.llm.parse import extract_json_object
from tmem.models import Usage

if TYPE_CHECKING:
    from tmem.llm.prompts import PromptSpec

T = TypeVar("T", bound=BaseModel)

_MAX_ERROR_CHARS = 1500


@dataclass(frozen=True)
class Structured(Generic[T]):
    """A validated reply.

    Attributes:
        value: the reply parsed into the prompt's response model.
        usage: calls and tokens over every attempt, failed ones included.
        raw: the text of the reply that validated.
        attempts: how many calls it took (1 when the first reply was valid).
    """

    value: T
    usage: Usage
    raw: str
    attempts: int


def call_structured(
    llm: LLM, spec: PromptSpec[T], inputs: Any, now: datetime, *, retries: int = 2
) -> Structured[T]:
    """Run ``spec`` against ``llm`` until the reply validates, at most ``retries + 1`` calls.

    Raises:
        LLMOutputError: no reply validated; ``raw`` is the last reply and ``prompt_id`` is
            ``spec.key``.
        LLMError: the backend failed (timeouts, rate limits, connection errors) and its error
            propagates unchanged.

    Every ``LLMError`` raised here carries a ``usage`` attribute with the calls and tokens spent
    before the failure; read it with :func:`spent_usage`.
    """
    messages = list(spec.render(inputs, now))
    schema = spec.schema()
    usage = Usage()
    for attempt in range(1, retries + 2):
        request = LLMRequest(
            tuple(messages), prompt_id=spec.key, json_schema=schema, max_tokens=spec.max_tokens
        )
        try:
            response = llm.complete(request)
        except LLMError as exc:
            _with_usage(exc, usage)
            raise
        usage += usage_of(response)
        try:
            value = validate_reply(response.text, spec.output)
        except LLMOutputError as exc:
            if attempt > retries:
                error = LLMOutputError(
                    f"{spec.key}: no valid reply after {attempt} attempts: {exc}",
                    raw=response.text,
                    prompt_id=spec.key,
                )
                raise _with_usage(error, usage) from None
            messages += correction(response.text, str(exc))
            continue
        return Structured(value=value, usage=usage, raw=response.text, attempts=attempt)
    raise AssertionError("unreachable: the last attempt returns or raises")


def validate_reply(text: str, output: type[T]) -> T:
    """Parse ``text`` tolerantly and validate it against ``output``.

    Raises:
        LLMOutputError: no JSON object was found, or it does not match the model; the
            message lists each failing field.
    """
    data = extract_json_object(text)
    try:
        return output.model_validate(data)
    except ValidationError as exc:
        raise LLMOutputError(describe_errors(exc), raw=text) from None


def describe_errors(error: ValidationError) -> str:
    """One line per failing field: ``location: message``, short enough to send back."""
    lines = []
    for item in error.errors(include_url=False, include_input=False):
        location = ".".join(str(part) for part in item["loc"]) or "(root)"
        lines.append(f"{location}: {item['msg']}")
    return "; ".join(lines)[:_MAX_ERROR_CHARS]


def correction(reply: str, error: str) -> list[ChatMessage]:
    """The messages appended after an invalid reply: the reply, then what was wrong."""
    return [
        ChatMessage("assistant", reply),
        ChatMessage(
            "user",
            "Your reply could not be used: "
            f"{error[:_MAX_ERROR_CHARS]}\n"
            "Answer again with only the corrected JSON object, matching the schema exactly.",
        ),
    ]


def usage_of(response: LLMResponse) -> Usage:
    """What one response costs the pipeline.

    A replayed cache hit counts as the call it stands for, with the tokens it cost when it was
    made: benchmark figures must not depend on how much of a run was resumed from the cache
    (:class:`tmem.llm.cache.CachedLLM` counts its hits and misses separately).
    """
    return Usage(1, response.prompt_tokens, response.completion_tokens)


def spent_usage(error: BaseException) -> Usage:
    """The usage a failed :func:`call_structured` spent before raising ``error``."""
    usage = getattr(error, "usage", None)
    return usage if isinstance(usage, Usage) else Usage()


def _with_usage(error: LLMError, usage: Usage) -> LLMError:
    # errors.py gives LLMError no usage field; attach it so callers can still bill the attempts.
    setattr(error, "usage", spent_usage(error) + usage)  # noqa: B010
    return error
