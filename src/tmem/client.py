"""``tmem.Client``: the REST service from Python, with the same methods as :class:`tmem.Memory`.

Results come back as the same frozen dataclasses (:class:`~tmem.models.Hit`,
:class:`~tmem.models.IngestReport`, ...), rebuilt from the service's JSON, and errors as the same
exceptions (:class:`~tmem.errors.NotFoundError`, :class:`~tmem.errors.InputError`, ...), so code
written against a local ``Memory`` runs against a server by swapping the object::

    client = tmem.Client("http://127.0.0.1:8000", api_key="tmk_...")
    client.add([{"speaker": "Ana", "content": "Ben is allergic to shellfish."}], user_id="ana")
    hits = client.search("dinner venue?", user_id="ana")
"""

from __future__ import annotations

import builtins
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from types import TracebackType
from typing import Any, Literal, overload
from urllib.parse import quote

import httpx

from tmem.errors import (
    InputError,
    LLMError,
    LLMUnavailableError,
    NotFoundError,
    StoreError,
    TmemError,
)
from tmem.models import (
    Answer,
    ChannelEvidence,
    Failure,
    HistoryEntry,
    Hit,
    IngestReport,
    Item,
    Kind,
    Message,
    Provenance,
    Record,
    RiskAssessment,
    RiskReason,
    Scene,
    TriggerMatch,
    Turn,
    Usage,
)

DEFAULT_TIMEOUT = 60.0


class ServiceError(TmemError):
    """The service refused or failed a request for a reason with no library equivalent
    (401 unauthorized, 429 rate limited, 413 too large, 5xx, unreachable).

    Attributes:
        status: the HTTP status (0 when the service could not be reached).
        code: the service's error code, e.g. ``unauthorized`` or ``rate_limited``.
        retry_after: seconds to wait before retrying, when the service said so.
    """

    def __init__(
        self, message: str, *, status: int, code: str, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.retry_after = retry_after


_ERRORS: dict[str, type[TmemError]] = {
    "invalid_input": InputError,
    "idempotency_key_reused": InputError,
    "not_found": NotFoundError,
    "llm_unavailable": LLMUnavailableError,
    "llm_error": LLMError,
    "store_unavailable": StoreError,
}


@dataclass(frozen=True)
class JobInfo:
    """A background job as the service reports it; ``result`` is set once it is ``done``."""

    id: str
    kind: str
    status: Literal["queued", "running", "done", "failed"]
    attempts: int
    created_at: datetime
    updated_at: datetime
    run_at: datetime
    result: IngestReport | None = None
    error: str = ""


class Client:
    """A typed client of tmem's REST service.

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
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"), headers=headers, timeout=timeout, transport=transport
        )

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
        body: dict[str, Any] = {"user_id": user_id, "messages": [_message(m) for m in messages]}
        if session_id is not None:
            body["session_id"] = session_id
        if not derive:
            body["derive"] = False
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        params = {"background": "true"} if background else {}
        data = self._call("POST", "/v1/memories", json=body, params=params, headers=headers)
        if background:
            return str(data["job_id"])
        return report_from(data)

    @overload
    def reindex(self, user_id: str, *, background: Literal[False] = ...) -> IngestReport: ...

    @overload
    def reindex(self, user_id: str, *, background: Literal[True]) -> str: ...

    def reindex(self, user_id: str, *, background: bool = False) -> IngestReport | str:
        """Derive turns added with ``derive=False`` or whose derivation failed (needs an LLM)."""
        params = {"background": "true"} if background else {}
        data = self._call("POST", "/v1/reindex", json={"user_id": user_id}, params=params)
        if background:
            return str(data["job_id"])
        return report_from(data)

    def update(self, id: str, user_id: str, content: str) -> Record:
        data = self._call(
            "PATCH",
            f"/v1/memories/{_seg(id)}",
            params={"user_id": user_id},
            json={"content": content},
        )
        return record_from(data)

    def delete(self, id: str, user_id: str) -> int:
        data = self._call("DELETE", f"/v1/memories/{_seg(id)}", params={"user_id": user_id})
        return int(data["rows"])

    def delete_user(self, user_id: str) -> int:
        return int(self._call("DELETE", f"/v1/users/{_seg(user_id)}")["rows"])

    # --- read --------------------------------------------------------------------------------
    def search(
        self, query: str, user_id: str, limit: int = 10, *, min_similarity: float | None = None
    ) -> builtins.list[Hit]:
        """As :meth:`tmem.Memory.search`: hits with ``reached_by`` and ``explain`` filled in."""
        body: dict[str, Any] = {"user_id": user_id, "query": query, "limit": limit}
        if min_similarity is not None:  # sent only when set: an older server refuses the field
            body["min_similarity"] = min_similarity
        return [hit_from(h) for h in self._call("POST", "/v1/search", json=body)["hits"]]

    def answer(self, question: str, user_id: str, *, include_flagged: bool = False) -> Answer:
        body = {"user_id": user_id, "question": question, "include_flagged": include_flagged}
        data = self._call("POST", "/v1/answer", json=body)
        return answer_from(data)

    def get(self, id: str, user_id: str) -> Record:
        data = self._call("GET", f"/v1/memories/{_seg(id)}", params={"user_id": user_id})
        return record_from(data)

    def list(self, user_id: str, kind: Kind | None = None) -> builtins.list[Record]:
        params = {"user_id": user_id, **({"kind": kind} if kind else {})}
        data = self._call("GET", "/v1/memories", params=params)
        return [record_from(r) for r in data["memories"]]

    def history(self, id: str, user_id: str) -> builtins.list[HistoryEntry]:
        path = f"/v1/memories/{_seg(id)}/history"
        data = self._call("GET", path, params={"user_id": user_id})
        return [history_from(h) for h in data["history"]]

    def export(self, user_id: str) -> Iterator[dict[str, Any]]:
        """Every stored row of ``user_id``, as :meth:`tmem.Memory.export` yields them."""
        records = self._call("GET", "/v1/export", params={"user_id": user_id})["records"]
        return iter(records)

    # --- jobs --------------------------------------------------------------------------------
    def job(self, id: str) -> JobInfo:
        """A background job's status (and its :class:`IngestReport` once done)."""
        return job_from(self._call("GET", f"/v1/jobs/{_seg(id)}"))

    def wait(self, id: str, *, timeout: float = 60.0, poll: float = 0.1) -> JobInfo:
        """Poll a job until it is ``done`` or ``failed``.

        Raises:
            TimeoutError: it was still queued or running after ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while True:
            info = self.job(id)
            if info.status in ("done", "failed"):
                return info
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {id} still {info.status} after {timeout} s")
            time.sleep(poll)

    def healthy(self) -> bool:
        """Whether the service answers its health check."""
        try:
            return self._http.get("/healthz").status_code == 200
        except httpx.HTTPError:
            return False

    # --- plumbing ----------------------------------------------------------------------------
    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as error:
            raise ServiceError(
                f"cannot reach the tmem service: {error}", status=0, code="unreachable"
            ) from error
        if response.is_success:
            return response.json()
        raise error_from(response)

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


def error_from(response: httpx.Response) -> TmemError:
    """The exception an error response stands for."""
    try:
        detail = response.json()["error"]
        code, message = str(detail["code"]), str(detail["message"])
    except (ValueError, KeyError, TypeError):
        code, message = "http_error", response.text[:500] or response.reason_phrase
    kind = _ERRORS.get(code)
    if kind is not None:
        return kind(message)
    retry = response.headers.get("Retry-After")
    return ServiceError(
        f"{response.status_code} {code}: {message}",
        status=response.status_code,
        code=code,
        retry_after=float(retry) if retry and retry.isdigit() else None,
    )


# --- JSON -> dataclasses ---------------------------------------------------------------------
def _build(cls: type[Any], data: Mapping[str, Any], **overrides: Any) -> Any:
    """``cls`` from the JSON fields it declares (lists become tuples), plus ``overrides``."""
    kwargs: dict[str, Any] = {}
    for f in fields(cls):
        if not f.init:
            continue
        if f.name in overrides:
            kwargs[f.name] = overrides[f.name]
        elif f.name in data:
            value = data[f.name]
            kwargs[f.name] = tuple(value) if isinstance(value, builtins.list) else value
    return cls(**kwargs)


def hit_from(data: Mapping[str, Any]) -> Hit:
    explain = tuple(evidence_from(e) for e in data.get("explain") or ())
    hit: Hit = _build(Hit, data, risk=risk_from(data.get("risk") or {}), explain=explain)
    return hit


def evidence_from(data: Mapping[str, Any]) -> ChannelEvidence:
    """One channel's evidence for a hit (a service before explanations sends none)."""
    triggers = tuple(_build(TriggerMatch, t) for t in data.get("triggers") or ())
    evidence: ChannelEvidence = _build(ChannelEvidence, data, triggers=triggers)
    return evidence


def risk_from(data: Mapping[str, Any]) -> RiskAssessment:
    reasons = tuple(_build(RiskReason, r) for r in data.get("reasons", ()))
    return RiskAssessment(flagged=bool(data.get("flagged", False)), reasons=reasons)


def usage_from(data: Mapping[str, Any]) -> Usage:
    usage: Usage = _build(Usage, data)
    return usage


def report_from(data: Mapping[str, Any]) -> IngestReport:
    failures = tuple(
        _build(Failure, f, turn_ids=tuple(f.get("turn_ids", ()))) for f in data.get("failures", ())
    )
    report: IngestReport = _build(
        IngestReport,
        data,
        triggers=dict(data.get("triggers", {})),
        usage=usage_from(data.get("usage", {})),
        failures=failures,
    )
    return report


def answer_from(data: Mapping[str, Any]) -> Answer:
    hits = tuple(hit_from(h) for h in data.get("hits", ()))
    excluded = tuple(hit_from(h) for h in data.get("excluded", ()))
    usage = usage_from(data.get("usage", {}))
    return Answer(text=data["text"], hits=hits, usage=usage, excluded=excluded)


def record_from(data: Mapping[str, Any]) -> Record:
    """A :class:`Turn`, :class:`Scene` or :class:`Item` from its JSON (by ``kind``)."""
    kind = data.get("kind")
    when = datetime.fromisoformat(data["timestamp"])
    if kind == "turn":
        turn: Turn = _build(Turn, data, timestamp=when)
        return turn
    provenance = _build(Provenance, data.get("provenance") or {"method": "heuristic"})
    if kind == "scene":
        scene: Scene = _build(Scene, data, timestamp=when, provenance=provenance)
        return scene
    if kind == "item":
        item: Item = _build(Item, data, timestamp=when, provenance=provenance)
        return item
    raise InputError(f"unknown memory kind {kind!r} in the service's answer")


def history_from(data: Mapping[str, Any]) -> HistoryEntry:
    entry: HistoryEntry = _build(HistoryEntry, data, at=datetime.fromisoformat(data["at"]))
    return entry


def job_from(data: Mapping[str, Any]) -> JobInfo:
    result = data.get("result")
    info: JobInfo = _build(
        JobInfo,
        data,
        created_at=datetime.fromisoformat(data["created_at"]),
        updated_at=datetime.fromisoformat(data["updated_at"]),
        run_at=datetime.fromisoformat(data["run_at"]),
        result=report_from(result) if result else None,
    )
    return info


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
