"""An :class:`~tmem.llm.base.LLM` backed by any OpenAI-compatible ``/chat/completions`` endpoint.

Works with OpenAI, vLLM, llama.cpp's server, Ollama, LM Studio and similar. Policy lives here
(retries, backoff, concurrency, structured-output negotiation); a single ``httpx.Client`` does
the sending, and tests swap its transport instead of patching anything.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx

from tmem.config import JsonMode
from tmem.errors import LLMError, LLMOutputError, LLMRateLimitError, LLMTimeoutError
from tmem.llm.base import LLMRequest, LLMResponse
from tmem.llm.wire import (
    DROP_TEMPERATURE,
    RENAME_MAX_TOKENS,
    parameter_quirk,
    response_format,
    retry_after_seconds,
    usage_from,
)
from tmem.models import Usage

# Structured-output modes from strongest to weakest; "auto" walks down this list.
MODES: tuple[JsonMode, ...] = ("json_schema", "json_object", "none")
_RETRY_STATUSES = frozenset({408, 409, 429}) | frozenset(range(500, 600))
_MAX_ERROR_BODY = 300


class _RejectedFormat(Exception):
    """The server refused the ``response_format`` we sent (internal; triggers a fallback)."""


class _RejectedParameter(Exception):
    """The server refused a sampling parameter we can adapt (internal; triggers a resend)."""

    def __init__(self, quirk: str) -> None:
        super().__init__(quirk)
        self.quirk = quirk


class OpenAICompatibleLLM:
    """Chat completions over HTTP with retries, a concurrency bound and JSON-mode fallback.

    Servers that refuse ``max_tokens`` (wanting ``max_completion_tokens``) or a non-default
    ``temperature`` with a 400, as OpenAI's reasoning models do, get the request resent in
    the form they accept, and the instance remembers it.

    Thread-safe: one instance may be shared by the write path's worker threads; at most
    ``concurrency`` requests are in flight at once (backoff waits do not hold a slot).

    Args:
        base_url: the API root, e.g. ``http://localhost:8000/v1``; ``/chat/completions`` is
            appended.
        model: the model name sent with every request.
        api_key: sent as a bearer token; never appears in ``repr`` or error messages.
        timeout_s: per-request timeout.
        max_retries: retries after the first attempt for connect errors, timeouts, 408, 409,
            429 and 5xx.
        concurrency: the most requests in flight at once.
        json_mode: ``auto`` tries ``json_schema``, then ``json_object``, then plain text, and
            remembers the first that the server accepts; other values pin one mode.
        max_tokens: an upper bound on each request's ``max_tokens`` (None: the request's own).
        backoff_s: the first retry waits about this long; each retry doubles it (with jitter).
        max_backoff_s: the longest wait between retries, including a server's Retry-After.
        transport: an ``httpx`` transport (tests pass ``httpx.MockTransport``).
        sleep: how to wait between retries (tests record the waits instead).
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        *,
        timeout_s: float = 120.0,
        max_retries: int = 3,
        concurrency: int = 4,
        json_mode: JsonMode = "auto",
        max_tokens: int | None = None,
        backoff_s: float = 0.5,
        max_backoff_s: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._model = model
        self.base_url = base_url.rstrip("/")
        self.max_retries = max_retries
        self.json_mode: JsonMode = json_mode
        self.max_tokens = max_tokens
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self._secret = api_key or ""
        self._sleep = sleep
        self._slots = threading.BoundedSemaphore(concurrency)
        self._lock = threading.Lock()
        self._mode_index = 0
        self._mode_confirmed = False
        self._usage = Usage()
        self._quirks: set[str] = set()
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(
            base_url=self.base_url, headers=headers, timeout=timeout_s, transport=transport
        )

    @property
    def model(self) -> str:
        return self._model

    @property
    def usage(self) -> Usage:
        """Calls and tokens this instance has spent so far (successful calls only)."""
        with self._lock:
            return self._usage

    @property
    def structured_mode(self) -> JsonMode:
        """The structured-output mode the next schema request will use."""
        if self.json_mode != "auto":
            return self.json_mode
        with self._lock:
            return MODES[self._mode_index]

    def __repr__(self) -> str:
        return f"OpenAICompatibleLLM(base_url={self.base_url!r}, model={self._model!r})"

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> OpenAICompatibleLLM:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def complete(self, request: LLMRequest) -> LLMResponse:
        """Run one chat completion.

        Raises:
            LLMTimeoutError: every attempt timed out.
            LLMRateLimitError: the server kept answering 429.
            LLMOutputError: the model refused (``raw`` holds the refusal).
            LLMError: any other failure (connection, 4xx, 5xx, malformed body).
        """
        has_schema = request.json_schema is not None
        start = self.structured_mode if has_schema else "none"
        while True:
            mode = self.structured_mode if has_schema else "none"
            try:
                body = self._post(self._payload(request, mode), request.prompt_id, mode)
            except _RejectedFormat:
                self._downgrade(mode)
                continue
            except _RejectedParameter as rejected:
                with self._lock:
                    self._quirks.add(rejected.quirk)
                continue
            except LLMError:
                self._restore_if_unproven(start, mode)
                raise
            self._confirm(request)
            with self._lock:
                # Counted before parsing: a refusal still spent its tokens.
                self._usage += usage_from(body)
            return self._parse(body, request.prompt_id)

    def _payload(self, request: LLMRequest, mode: JsonMode) -> dict[str, Any]:
        max_tokens = request.max_tokens
        if self.max_tokens is not None:
            max_tokens = min(max_tokens, self.max_tokens)
        with self._lock:
            quirks = set(self._quirks)
        payload: dict[str, Any] = {
            "model": self._model,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
        }
        if DROP_TEMPERATURE not in quirks:
            payload["temperature"] = request.temperature
        token_field = "max_completion_tokens" if RENAME_MAX_TOKENS in quirks else "max_tokens"
        payload[token_field] = max_tokens
        form = response_format(request, mode)
        if form is not None:
            payload["response_format"] = form
        return payload

    def _downgrade(self, mode: JsonMode) -> None:
        with self._lock:
            self._mode_index = max(self._mode_index, MODES.index(mode) + 1)

    def _restore_if_unproven(self, start: JsonMode, mode: JsonMode) -> None:
        # An unconfirmed instance reads any 400 as "format unsupported"; if plain text fails
        # too, the 400s were about something else, so keep the stronger mode for next time.
        with self._lock:
            if mode != start and not self._mode_confirmed and self.json_mode == "auto":
                self._mode_index = MODES.index(start)

    def _confirm(self, request: LLMRequest) -> None:
        if request.json_schema is not None and self.json_mode == "auto":
            with self._lock:
                self._mode_confirmed = True

    def _post(self, payload: dict[str, Any], prompt_id: str, mode: JsonMode) -> Any:
        """POST with retries; the decoded JSON body of a 2xx answer."""
        for attempt in range(self.max_retries + 1):
            last = attempt == self.max_retries
            outcome = self._attempt(payload, prompt_id)
            if isinstance(outcome, httpx.Response):
                if outcome.is_success:
                    return self._decode(outcome, prompt_id)
                if outcome.status_code not in _RETRY_STATUSES or last:
                    raise self._status_error(outcome, prompt_id, mode)
                wait = self._retry_wait(outcome, attempt)
            else:
                if last:
                    raise self._transport_error(outcome, prompt_id) from None
                wait = self._backoff(attempt)
            self._sleep(wait)
        raise AssertionError("unreachable: the last attempt always returns or raises")

    def _attempt(
        self, payload: dict[str, Any], prompt_id: str
    ) -> httpx.Response | httpx.TransportError:
        """One HTTP round trip holding a concurrency slot; transport failures are returned."""
        try:
            with self._slots:
                return self._client.post(
                    "/chat/completions", json=payload, headers={"X-Tmem-Prompt": prompt_id}
                )
        except httpx.TransportError as exc:
            return exc

    def _backoff(self, attempt: int) -> float:
        # Jitter spreads the retries of many worker threads that failed together.
        base = min(self.max_backoff_s, self.backoff_s * 2.0**attempt)
        return base * random.uniform(0.5, 1.0)

    def _retry_wait(self, reply: httpx.Response, attempt: int) -> float:
        after = retry_after_seconds(reply.headers.get("Retry-After"))
        if after is None:
            return self._backoff(attempt)
        return min(after, self.max_backoff_s)

    def _decode(self, reply: httpx.Response, prompt_id: str) -> Any:
        try:
            return reply.json()
        except ValueError:
            raise LLMError(
                f"{self._where(prompt_id)} answered HTTP {reply.status_code} with a body "
                f"that is not JSON: {self._snippet(reply.text)!r}"
            ) from None

    def _status_error(self, reply: httpx.Response, prompt_id: str, mode: JsonMode) -> Exception:
        status = reply.status_code
        text = reply.text
        quirk = parameter_quirk(status, text)
        with self._lock:
            adapted = quirk in self._quirks
        if quirk is not None and not adapted:
            return _RejectedParameter(quirk)
        if self._is_format_rejection(status, text, mode):
            return _RejectedFormat()
        where = self._where(prompt_id)
        detail = self._snippet(text)
        if status == 429:
            tries = self.max_retries + 1
            return LLMRateLimitError(f"{where} rate-limited {tries} attempts (HTTP 429): {detail}")
        if status in (401, 403):
            return LLMError(f"{where} refused the credentials (HTTP {status}): {detail}")
        return LLMError(f"{where} answered HTTP {status}: {detail}")

    def _is_format_rejection(self, status: int, text: str, mode: JsonMode) -> bool:
        if self.json_mode != "auto" or mode == "none" or status not in (400, 422):
            return False
        with self._lock:
            confirmed = self._mode_confirmed
        # Before any schema call has worked, a bare 400 most likely means "unknown field".
        return "response_format" in text or "json_schema" in text or not confirmed

    def _parse(self, body: Any, prompt_id: str) -> LLMResponse:
        try:
            message = body["choices"][0]["message"]
        except (KeyError, IndexError, TypeError):
            snippet = self._snippet(str(body))
            raise LLMError(f"{self._where(prompt_id)} sent no choices: {snippet}") from None
        content = message.get("content") if isinstance(message, dict) else None
        if not content and isinstance(message, dict) and message.get("refusal"):
            refusal = str(message["refusal"])
            raise LLMOutputError("the model refused", raw=refusal, prompt_id=prompt_id)
        usage = usage_from(body)
        return LLMResponse(
            text=content if isinstance(content, str) else "",
            model=str(body.get("model") or self._model),
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
        )

    def _transport_error(self, exc: httpx.TransportError, prompt_id: str) -> LLMError:
        tries = self.max_retries + 1
        where = self._where(prompt_id)
        if isinstance(exc, httpx.TimeoutException):
            timeout = self._client.timeout.read
            return LLMTimeoutError(f"{where} timed out {tries} times (timeout {timeout} s)")
        kind = type(exc).__name__
        return LLMError(self._redact(f"{where} unreachable after {tries} attempts ({kind}: {exc})"))

    def _where(self, prompt_id: str) -> str:
        call = f" for prompt {prompt_id}" if prompt_id else ""
        return f"LLM {self._model} at {self.base_url}{call}"

    def _snippet(self, text: str) -> str:
        # Redact before cutting, so a key straddling the cut cannot leak its first half.
        return self._redact(text)[:_MAX_ERROR_BODY]

    def _redact(self, text: str) -> str:
        # Servers sometimes echo the key back ("Incorrect API key provided: sk-...").
        return text.replace(self._secret, "***") if self._secret else text
