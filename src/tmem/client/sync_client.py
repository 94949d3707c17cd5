"""``tmem.Client``: the REST service from blocking Python code."""

from __future__ import annotations

import builtins
import time
from collections.abc import Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, Literal, TypeVar, overload

import httpx

from tmem.client import calls
from tmem.client.calls import DEFAULT_TIMEOUT, Call
from tmem.client.decode import JobInfo
from tmem.client.errors import unreachable
from tmem.errors import TmemError
from tmem.models import (
    Answer,
    HistoryEntry,
    Hit,
    IngestReport,
    Kind,
    Message,
    Page,
    PersonaEntry,
    Record,
)
from tmem.validate import DEFAULT_PAGE_LIMIT

T = TypeVar("T")


class Client:
    """A typed client of tmem's REST service, with :class:`tmem.Memory`'s methods.

    Results come back as the same frozen dataclasses and errors as the same exceptions as
    ``Memory``'s; what no library error stands for (401, 413, 429, 5xx, unreachable) raises
    :class:`~tmem.client.ServiceError`. :class:`~tmem.client.AsyncClient` is the same for
    ``async`` code.

    Args:
        base_url: where the service listens, e.g. ``http://127.0.0.1:8000``.
        api_key: a key from ``tmem keys create`` (None for a service run without auth).
        timeout: seconds per request.
        transport: an ``httpx`` transport to use instead of the network (tests).
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        options = calls.http_options(base_url, api_key, timeout)
        self._http = httpx.Client(**options, transport=transport)

    # --- write -------------------------------------------------------------------------------
    @overload
    def add(
        self,
        messages: Sequence[Message | Mapping[str, Any]],
        user_id: str,
        session_id: str | None = ...,
        *,
        background: Literal[False] = ...,
        idempotency_key: str | None = ...,
        derive: bool = ...,
    ) -> IngestReport: ...

    @overload
    def add(
        self,
        messages: Sequence[Message | Mapping[str, Any]],
        user_id: str,
        session_id: str | None = ...,
        *,
        background: Literal[True],
        idempotency_key: str | None = ...,
        derive: bool = ...,
    ) -> str: ...

    def add(
        self,
        messages: Sequence[Message | Mapping[str, Any]],
        user_id: str,
        session_id: str | None = None,
        *,
        background: bool = False,
        idempotency_key: str | None = None,
        derive: bool = True,
    ) -> IngestReport | str:
        """Remember messages; with ``background=True`` queue them and return the job id.

        With ``idempotency_key``, retrying the same call never ingests twice. ``derive`` as
        for :meth:`tmem.Memory.add`.
        """
        call = calls.add(
            messages,
            user_id,
            session_id,
            background=background,
            idempotency_key=idempotency_key,
            derive=derive,
        )
        return self._send(call)

    @overload
    def reindex(self, user_id: str, *, background: Literal[False] = ...) -> IngestReport: ...

    @overload
    def reindex(self, user_id: str, *, background: Literal[True]) -> str: ...

    def reindex(self, user_id: str, *, background: bool = False) -> IngestReport | str:
        """Derive turns added with ``derive=False`` or whose derivation failed (needs an LLM)."""
        return self._send(calls.reindex(user_id, background=background))

    def update(self, id: str, user_id: str, content: str) -> Record:
        return self._send(calls.update(id, user_id, content))

    def delete(self, id: str, user_id: str) -> int:
        return self._send(calls.delete(id, user_id))

    def delete_user(self, user_id: str) -> int:
        return self._send(calls.delete_user(user_id))

    # --- read --------------------------------------------------------------------------------
    def search(
        self, query: str, user_id: str, limit: int = 10, *, min_similarity: float | None = None
    ) -> builtins.list[Hit]:
        """As :meth:`tmem.Memory.search`: hits with ``reached_by`` and ``explain`` filled in."""
        return self._send(calls.search(query, user_id, limit, min_similarity))

    def answer(self, question: str, user_id: str, *, include_flagged: bool = False) -> Answer:
        return self._send(calls.answer(question, user_id, include_flagged=include_flagged))

    def get(self, id: str, user_id: str) -> Record:
        return self._send(calls.get(id, user_id))

    def list(self, user_id: str, kind: Kind | None = None) -> builtins.list[Record]:
        return self._send(calls.list_memories(user_id, kind))

    def list_page(
        self,
        user_id: str,
        kind: Kind | None = None,
        *,
        limit: int = DEFAULT_PAGE_LIMIT,
        cursor: str | None = None,
    ) -> Page[Record]:
        """As :meth:`tmem.Memory.list_page`; the service clamps ``limit`` into 1..1000."""
        return self._send(calls.list_page(user_id, kind, limit=limit, cursor=cursor))

    def history(self, id: str, user_id: str) -> builtins.list[HistoryEntry]:
        return self._send(calls.history(id, user_id))

    def history_page(
        self,
        id: str,
        user_id: str,
        *,
        limit: int = DEFAULT_PAGE_LIMIT,
        cursor: str | None = None,
    ) -> Page[HistoryEntry]:
        """As :meth:`tmem.Memory.history_page`."""
        return self._send(calls.history_page(id, user_id, limit=limit, cursor=cursor))

    # --- persona and instructions ------------------------------------------------------------
    def persona(self, user_id: str) -> builtins.list[PersonaEntry]:
        return self._send(calls.persona(user_id))

    def set_persona_entry(
        self,
        user_id: str,
        value: str,
        *,
        id: str | None = None,
        speaker: str | None = None,
        section: str | None = None,
        key: str | None = None,
        pinned: bool | None = None,
    ) -> PersonaEntry:
        """As :meth:`tmem.Memory.set_persona_entry`: by ``id``, or by slot."""
        return self._send(
            calls.set_persona_entry(user_id, value, id, speaker, section, key, pinned)
        )

    def pin_persona_entry(self, id: str, user_id: str, pinned: bool = True) -> PersonaEntry:
        return self._send(calls.pin_persona_entry(id, user_id, pinned))

    def delete_persona_entry(self, id: str, user_id: str) -> int:
        return self._send(calls.delete_persona_entry(id, user_id))

    def instructions(self, user_id: str) -> str:
        return self._send(calls.instructions(user_id))

    def set_instructions(self, user_id: str, text: str) -> str:
        return self._send(calls.set_instructions(user_id, text))

    def export(self, user_id: str) -> Iterator[dict[str, Any]]:
        """Every stored row of ``user_id``, as :meth:`tmem.Memory.export` yields them."""
        return self._send(calls.export(user_id))

    def export_page(
        self, user_id: str, *, limit: int = DEFAULT_PAGE_LIMIT, cursor: str | None = None
    ) -> Page[dict[str, Any]]:
        """As :meth:`tmem.Memory.export_page`."""
        return self._send(calls.export_page(user_id, limit=limit, cursor=cursor))

    # --- jobs --------------------------------------------------------------------------------
    def job(self, id: str) -> JobInfo:
        """A background job's status (and its :class:`IngestReport` once done)."""
        return self._send(calls.job(id))

    def wait(self, id: str, *, timeout: float = 60.0, poll: float = 0.1) -> JobInfo:
        """Poll a job until it is ``done`` or ``failed``.

        Raises:
            TimeoutError: it was still queued or running after ``timeout`` seconds.
        """
        started = time.monotonic()
        while not calls.settled(info := self.job(id), started, timeout):
            time.sleep(poll)
        return info

    def healthy(self) -> bool:
        """Whether the service answers its health check."""
        try:
            return self._send(calls.health())
        except TmemError:
            return False

    # --- plumbing ----------------------------------------------------------------------------
    def _send(self, call: Call[T]) -> T:
        try:
            response = self._http.send(call.request(self._http))
        except httpx.HTTPError as error:
            raise unreachable(error) from error
        return call.result(response)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
