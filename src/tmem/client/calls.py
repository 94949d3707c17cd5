"""What each client method asks the service and how the answer is read, with no I/O.

Every operation of :class:`~tmem.client.Client` and :class:`~tmem.client.AsyncClient` is one
function here returning a :class:`Call`: the request (method, path, query, JSON body, headers)
and the decoder that turns the service's JSON into the method's result. A client builds the
request on its own ``httpx`` client, sends it (blocking or awaited: the only difference
between the two clients) and hands the response back to :meth:`Call.result`, which maps error
responses to tmem's exceptions. Waiting for a job is polling, decided by :func:`settled`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx

from tmem.client.decode import (
    JobInfo,
    answer_from,
    history_from,
    hit_from,
    job_from,
    page_from,
    persona_entry_from,
    record_from,
    report_from,
)
from tmem.client.errors import error_from, not_json
from tmem.errors import InputError
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

DEFAULT_TIMEOUT = 60.0

T = TypeVar("T")


@dataclass(frozen=True)
class Call(Generic[T]):
    """One request to the service and how its JSON answer becomes the method's result."""

    method: str
    path: str
    parse: Callable[[Any], T]
    params: Mapping[str, str] = field(default_factory=dict)
    body: Any = None
    """The JSON body, or None for none."""
    headers: Mapping[str, str] = field(default_factory=dict)

    def request(self, http: httpx.Client | httpx.AsyncClient) -> httpx.Request:
        """The request, built on ``http`` (its base URL, key and timeout apply)."""
        return http.build_request(
            self.method, self.path, params=self.params, json=self.body, headers=self.headers
        )

    def result(self, response: httpx.Response) -> T:
        """The method's result from the service's response.

        Raises:
            TmemError: the error the response stands for (see :func:`error_from`).
        """
        if not response.is_success:
            raise error_from(response)
        try:
            data = response.json()
        except ValueError as error:
            raise not_json(response) from error
        return self.parse(data)


def http_options(base_url: str, api_key: str | None, timeout: float) -> dict[str, Any]:
    """The ``httpx`` client settings both clients open with."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    return {"base_url": base_url.rstrip("/"), "headers": headers, "timeout": timeout}


# --- write -----------------------------------------------------------------------------------
def add(
    messages: Sequence[Message | Mapping[str, Any]],
    user_id: str,
    session_id: str | None,
    *,
    background: bool,
    idempotency_key: str | None,
    derive: bool,
) -> Call[IngestReport | str]:
    body: dict[str, Any] = {"user_id": user_id, "messages": [_message(m) for m in messages]}
    if session_id is not None:
        body["session_id"] = session_id
    if not derive:
        body["derive"] = False
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
    return Call(
        "POST",
        "/v1/memories",
        _job_id if background else report_from,
        params=_background(background),
        body=body,
        headers=headers,
    )


def reindex(user_id: str, *, background: bool) -> Call[IngestReport | str]:
    parse = _job_id if background else report_from
    return Call(
        "POST", "/v1/reindex", parse, params=_background(background), body={"user_id": user_id}
    )


def update(id: str, user_id: str, content: str) -> Call[Record]:
    path = f"/v1/memories/{_seg(id)}"
    return Call("PATCH", path, record_from, params={"user_id": user_id}, body={"content": content})


def delete(id: str, user_id: str) -> Call[int]:
    return Call("DELETE", f"/v1/memories/{_seg(id)}", _rows, params={"user_id": user_id})


def delete_user(user_id: str) -> Call[int]:
    return Call("DELETE", f"/v1/users/{_seg(user_id)}", _rows)


# --- read ------------------------------------------------------------------------------------
def search(
    query: str, user_id: str, limit: int, min_similarity: float | None = None
) -> Call[list[Hit]]:
    body: dict[str, Any] = {"user_id": user_id, "query": query, "limit": limit}
    if min_similarity is not None:  # sent only when set: an older server refuses the field
        body["min_similarity"] = min_similarity
    return Call("POST", "/v1/search", lambda data: [hit_from(h) for h in data["hits"]], body=body)


def answer(question: str, user_id: str, *, include_flagged: bool) -> Call[Answer]:
    body = {"user_id": user_id, "question": question, "include_flagged": include_flagged}
    return Call("POST", "/v1/answer", answer_from, body=body)


def get(id: str, user_id: str) -> Call[Record]:
    return Call("GET", f"/v1/memories/{_seg(id)}", record_from, params={"user_id": user_id})


def list_memories(user_id: str, kind: Kind | None) -> Call[list[Record]]:
    params = {"user_id": user_id, **({"kind": kind} if kind else {})}
    return Call(
        "GET",
        "/v1/memories",
        lambda data: [record_from(r) for r in data["memories"]],
        params=params,
    )


def list_page(
    user_id: str, kind: Kind | None, *, limit: int, cursor: str | None
) -> Call[Page[Record]]:
    params = {"user_id": user_id, **({"kind": kind} if kind else {}), **_page(limit, cursor)}
    return Call(
        "GET", "/v1/memories", lambda data: page_from(data, "memories", record_from), params=params
    )


def history(id: str, user_id: str) -> Call[list[HistoryEntry]]:
    return Call(
        "GET",
        f"/v1/memories/{_seg(id)}/history",
        lambda data: [history_from(h) for h in data["history"]],
        params={"user_id": user_id},
    )


def history_page(
    id: str, user_id: str, *, limit: int, cursor: str | None
) -> Call[Page[HistoryEntry]]:
    return Call(
        "GET",
        f"/v1/memories/{_seg(id)}/history",
        lambda data: page_from(data, "history", history_from),
        params={"user_id": user_id, **_page(limit, cursor)},
    )


def persona(user_id: str) -> Call[list[PersonaEntry]]:
    return Call(
        "GET",
        "/v1/persona",
        lambda data: [persona_entry_from(e) for e in data["persona"]],
        params={"user_id": user_id},
    )


def set_persona_entry(
    user_id: str,
    value: str,
    id: str | None,
    speaker: str | None,
    section: str | None,
    key: str | None,
    pinned: bool | None,
) -> Call[PersonaEntry]:
    """By ``id`` (``PATCH`` the entry), or by slot: speaker, section and key (``PUT``)."""
    body: dict[str, Any] = {"value": value}
    if pinned is not None:
        body["pinned"] = pinned
    if id is None:
        slot = {"user_id": user_id, "speaker": speaker, "section": section, "key": key}
        return Call("PUT", "/v1/persona", persona_entry_from, body={**slot, **body})
    if speaker is not None or section is not None or key is not None:
        raise InputError("give a persona entry's id, or its speaker, section and key: not both")
    path = f"/v1/persona/{_seg(id)}"
    return Call("PATCH", path, persona_entry_from, params={"user_id": user_id}, body=body)


def pin_persona_entry(id: str, user_id: str, pinned: bool) -> Call[PersonaEntry]:
    path = f"/v1/persona/{_seg(id)}"
    body = {"pinned": pinned}
    return Call("PATCH", path, persona_entry_from, params={"user_id": user_id}, body=body)


def delete_persona_entry(id: str, user_id: str) -> Call[int]:
    path = f"/v1/persona/{_seg(id)}"
    return Call("DELETE", path, _rows, params={"user_id": user_id})


def instructions(user_id: str) -> Call[str]:
    return Call(
        "GET",
        "/v1/instructions",
        lambda data: str(data["instructions"]),
        params={"user_id": user_id},
    )


def set_instructions(user_id: str, text: str) -> Call[str]:
    body = {"user_id": user_id, "instructions": text}
    return Call("PUT", "/v1/instructions", lambda data: str(data["instructions"]), body=body)


def export(user_id: str) -> Call[Iterator[dict[str, Any]]]:
    return Call(
        "GET", "/v1/export", lambda data: iter(data["records"]), params={"user_id": user_id}
    )


def export_page(user_id: str, *, limit: int, cursor: str | None) -> Call[Page[dict[str, Any]]]:
    return Call(
        "GET",
        "/v1/export",
        lambda data: page_from(data, "records", dict),
        params={"user_id": user_id, **_page(limit, cursor)},
    )


# --- jobs and health -------------------------------------------------------------------------
def job(id: str) -> Call[JobInfo]:
    return Call("GET", f"/v1/jobs/{_seg(id)}", job_from)


def settled(info: JobInfo, started: float, timeout: float) -> bool:
    """Whether waiting for a job can stop: it is ``done`` or ``failed``.

    Args:
        started: :func:`time.monotonic` when the wait began.

    Raises:
        TimeoutError: it was still queued or running after ``timeout`` seconds.
    """
    if info.status in ("done", "failed"):
        return True
    if time.monotonic() - started > timeout:
        raise TimeoutError(f"job {info.id} still {info.status} after {timeout} s")
    return False


def health() -> Call[bool]:
    """The health check: any JSON success means the service is up."""
    return Call("GET", "/healthz", lambda data: True)


# --- helpers ---------------------------------------------------------------------------------
def _background(background: bool) -> dict[str, str]:
    return {"background": "true"} if background else {}


def _page(limit: int, cursor: str | None) -> dict[str, str]:
    """A page's query parameters (the service clamps ``limit`` into 1..1000)."""
    return {"limit": str(limit), **({"cursor": cursor} if cursor is not None else {})}


def _job_id(data: Mapping[str, Any]) -> str:
    return str(data["job_id"])


def _rows(data: Mapping[str, Any]) -> int:
    return int(data["rows"])


def _message(message: Message | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(message, Message):
        data: dict[str, Any] = {"speaker": message.speaker, "content": message.content}
        if message.timestamp is not None:
            data["timestamp"] = message.timestamp.isoformat()
        if message.id is not None:
            data["id"] = message.id
        return data
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in message.items()}


def _seg(value: str) -> str:
    """``value`` as one URL path segment (``/`` and friends escaped)."""
    return quote(value, safe="")
