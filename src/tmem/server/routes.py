"""The endpoints: one per :class:`tmem.Memory` method, plus jobs and health.

Each endpoint maps the caller's ``user_id`` into its tenant (:mod:`.tenancy`), calls the
memory and answers in the caller's ids again, so a tenant never sees or addresses another
tenant's namespace.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPBearer

from tmem.errors import InputError, LLMUnavailableError, NotFoundError
from tmem.ingest.normalize import to_messages
from tmem.models import Kind
from tmem.serialize import to_dict
from tmem.store.base import IdempotencyRecord, Job
from tmem.validate import (
    DEFAULT_PAGE_LIMIT,
    MAX_CURSOR_CHARS,
    MAX_USER_ID_CHARS,
    check_lookup_id,
    clamp_page_limit,
)

from .auth import Principal, audit
from .errors import ApiError
from .gate import PRINCIPAL
from .idempotency import check_key, request_hash, with_message_ids
from .jobs import ADD_JOB, REINDEX_JOB, add_payload, parse_job_id, public_job_id
from .schemas import (
    AddRequest,
    AnswerRequest,
    Deleted,
    ErrorBody,
    InstructionsOut,
    InstructionsRequest,
    JobAccepted,
    JobOut,
    PersonaEditRequest,
    PersonaSetRequest,
    ReindexRequest,
    ReviewRequest,
    SearchRequest,
    SearchResponse,
    UpdateRequest,
    UserDeleted,
)
from .service import Service
from .tenancy import to_caller

# Documents the scheme in the OpenAPI schema; the key itself is checked by ``AuthGate``.
_bearer = HTTPBearer(auto_error=False, description="an API key from `tmem keys create`")
_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody} for status in (401, 404, 413, 422, 429)
}
router = APIRouter(responses=_ERRORS)
v1 = APIRouter(prefix="/v1", dependencies=[Depends(_bearer)])


def _service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


def _principal(request: Request) -> Principal:
    principal: Principal = request.scope["state"][PRINCIPAL]
    return principal


ServiceDep = Annotated[Service, Depends(_service)]
Caller = Annotated[Principal, Depends(_principal)]
UserParam = Annotated[
    str, Query(max_length=MAX_USER_ID_CHARS, description="the user within your tenant")
]
LimitParam = Annotated[
    int | None,
    Query(description="records per page, clamped to 1..1000; with it (or a cursor): one page"),
]
CursorParam = Annotated[
    str | None,
    Query(max_length=MAX_CURSOR_CHARS, description="the previous page's next_cursor"),
]


@router.get("/healthz")
async def healthz(request: Request) -> dict[str, str]:
    """Liveness: the service is up (no key needed).

    Answered on the event loop, not in the threadpool the other endpoints share, so it stays
    prompt however many requests are being served.
    """
    return {"status": "ok", "mode": _service(request).memory.mode}


# --- write -------------------------------------------------------------------------------------
@v1.post("/memories", status_code=200, responses={202: {"model": JobAccepted}})
def add_memories(
    body: AddRequest,
    caller: Caller,
    service: ServiceDep,
    background: bool = False,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> JSONResponse:
    """Remember messages (``?background=true``: queue them and answer 202 with a job id)."""
    user = _user(caller, body.user_id, new=True)
    messages = [m.to_library() for m in body.messages]
    to_messages(messages)  # tmem's own checks, so a queued job never fails on bad input
    if idempotency_key is None:
        status, payload = _add(service, caller, user, messages, body, background)
        return JSONResponse(payload, status_code=status)
    key = check_key(idempotency_key)
    digest = request_hash(body.model_dump(mode="json"), background)
    with service.locks.hold(caller.tenant, key):
        stored = service.store.idempotency_get(caller.tenant, key)
        if stored is None:
            messages = with_message_ids(messages, caller.tenant, key)
            status, payload = _add(service, caller, user, messages, body, background)
            record = IdempotencyRecord(
                caller.tenant, key, digest, status, payload, datetime.now(UTC)
            )
            stored = service.store.idempotency_put(record)
    if stored.request_hash != digest:
        raise ApiError(
            422, "idempotency_key_reused", "this Idempotency-Key was used for a different request"
        )
    return JSONResponse(dict(stored.response), status_code=stored.status)


def _add(
    service: Service,
    caller: Principal,
    user: str,
    messages: list[dict[str, Any]],
    body: AddRequest,
    background: bool,
) -> tuple[int, dict[str, Any]]:
    if background:
        # Ids make a re-run harmless: a job whose worker died after adding (lease ran out)
        # runs again, and re-adding stored message ids is a no-op.
        messages = with_message_ids(messages, caller.tenant, f"job:{uuid.uuid4().hex}")
        payload = add_payload(user, messages, body.session_id, derive=body.derive)
        job_id = service.store.enqueue_job(ADD_JOB, payload, user)
        service.job_queued()
        return 202, {"job_id": public_job_id(job_id, body.user_id)}
    report = service.memory.add(messages, user, body.session_id, derive=body.derive)
    return 200, _out(report, user, body.user_id)


@v1.patch("/memories/{memory_id}")
def update_memory(
    memory_id: str, body: UpdateRequest, user_id: UserParam, caller: Caller, service: ServiceDep
) -> dict[str, Any]:
    """Replace a memory's text; its history keeps the old version."""
    user = _user(caller, user_id)
    record = service.memory.update(_memory_id(memory_id), user, body.content)
    return _out(record, user, user_id)  # type: ignore[no-any-return]


@v1.delete("/memories/{memory_id}")
def delete_memory(
    memory_id: str, user_id: UserParam, caller: Caller, service: ServiceDep
) -> Deleted:
    """Delete a memory and everything whose text rests on it."""
    rows = service.memory.delete(_memory_id(memory_id), _user(caller, user_id))
    return Deleted(deleted=memory_id, rows=rows)


@v1.delete("/users/{user_id:path}")
def delete_user(user_id: str, caller: Caller, service: ServiceDep) -> UserDeleted:
    """Delete every memory of one user of your tenant."""
    rows = service.memory.delete_user(_user(caller, user_id))
    return UserDeleted(user_id=user_id, rows=rows)


# --- read --------------------------------------------------------------------------------------
@v1.post("/search")
def search(body: SearchRequest, caller: Caller, service: ServiceDep) -> SearchResponse:
    """Recall memories for a query, best first (``limit`` is clamped to 1..1000), each hit
    with ``explain``: every channel's rank, raw score and share of the fused score, and the
    trigger texts that matched. ``min_similarity`` (0..1) leaves out memories no embedding
    channel scored at least that cosine."""
    user = _user(caller, body.user_id)
    hits = service.memory.search(
        body.query, user, body.clamped_limit, min_similarity=body.min_similarity
    )
    audit(caller, "search", [h.id for h in hits], body.query)
    return SearchResponse.model_validate({"hits": to_dict(hits)})


@v1.post("/reindex", status_code=200, responses={202: {"model": JobAccepted}})
def reindex(
    body: ReindexRequest, caller: Caller, service: ServiceDep, background: bool = False
) -> JSONResponse:
    """Derive what waits: turns added with ``derive: false`` or whose derivation failed.

    501 when the service has no LLM; ``?background=true`` queues it and answers 202.
    """
    user = _user(caller, body.user_id)
    if background:
        if service.memory.mode != "full":  # 501 now rather than a job bound to fail
            raise LLMUnavailableError("reindex needs an LLM: the service has none configured")
        job_id = service.store.enqueue_job(REINDEX_JOB, {"user_id": user}, user)
        service.job_queued()
        return JSONResponse({"job_id": public_job_id(job_id, body.user_id)}, status_code=202)
    report = service.memory.reindex(user)
    return JSONResponse(_out(report, user, body.user_id))


@v1.post("/answer")
def answer(body: AnswerRequest, caller: Caller, service: ServiceDep) -> dict[str, Any]:
    """Answer a question from memory (501 when the service has no LLM)."""
    user = _user(caller, body.user_id)
    result = service.memory.answer(body.question, user, include_flagged=body.include_flagged)
    audit(caller, "answer", [h.id for h in result.hits], body.question)
    return _out(result, user, body.user_id)  # type: ignore[no-any-return]


@v1.get("/memories")
def list_memories(
    user_id: UserParam,
    caller: Caller,
    service: ServiceDep,
    kind: Kind | None = None,
    limit: LimitParam = None,
    cursor: CursorParam = None,
) -> dict[str, Any]:
    """A user's memories in time order, optionally of one kind; with ``limit`` or ``cursor``
    one page of them (turns, then scenes, then items, each in creation order)."""
    user = _user(caller, user_id)
    if limit is None and cursor is None:
        return {
            "memories": _out(service.memory.list(user, kind), user, user_id),
            "next_cursor": None,
        }
    page = service.memory.list_page(user, kind, limit=_page_limit(limit), cursor=cursor)
    return {"memories": _out(page.items, user, user_id), "next_cursor": page.next_cursor}


@v1.get("/memories/{memory_id}")
def get_memory(
    memory_id: str, user_id: UserParam, caller: Caller, service: ServiceDep
) -> dict[str, Any]:
    """One memory (a turn, scene or item)."""
    user = _user(caller, user_id)
    return _out(service.memory.get(_memory_id(memory_id), user), user, user_id)  # type: ignore[no-any-return]


@v1.get("/memories/{memory_id}/history")
def memory_history(
    memory_id: str,
    user_id: UserParam,
    caller: Caller,
    service: ServiceDep,
    limit: LimitParam = None,
    cursor: CursorParam = None,
) -> dict[str, Any]:
    """Every version of a memory, oldest first; with ``limit`` or ``cursor`` one page of them."""
    memory, user = _memory_id(memory_id), _user(caller, user_id)
    if limit is None and cursor is None:
        return {"history": to_dict(service.memory.history(memory, user)), "next_cursor": None}
    page = service.memory.history_page(memory, user, limit=_page_limit(limit), cursor=cursor)
    return {"history": to_dict(page.items), "next_cursor": page.next_cursor}


@v1.get("/flags")
def list_flags(
    user_id: UserParam, caller: Caller, service: ServiceDep, include_cleared: bool = False
) -> dict[str, Any]:
    """Memories of a user flagged as injected instructions: each one's current flag entry."""
    flags = service.memory.flagged(_user(caller, user_id), include_cleared=include_cleared)
    return {"flags": to_dict(flags)}


@v1.post("/flags/scan")
def scan_flags(body: ReindexRequest, caller: Caller, service: ServiceDep) -> dict[str, Any]:
    """Flag a user's memories stored before flags existed; returns the new flag entries."""
    return {"flags": to_dict(service.memory.scan_flags(_user(caller, body.user_id)))}


@v1.get("/memories/{memory_id}/flags")
def flag_history(
    memory_id: str, user_id: UserParam, caller: Caller, service: ServiceDep
) -> dict[str, Any]:
    """Every flag entry of a memory, oldest first (empty if it was never flagged)."""
    entries = service.memory.flag_history(_memory_id(memory_id), _user(caller, user_id))
    return {"flags": to_dict(entries)}


@v1.post("/memories/{memory_id}/flags")
def review_flag(
    memory_id: str, body: ReviewRequest, caller: Caller, service: ServiceDep
) -> dict[str, Any]:
    """Confirm or clear a memory's injection flag by hand; earlier entries are kept."""
    user = _user(caller, body.user_id)
    flag = service.memory.review_flag(_memory_id(memory_id), user, body.verdict, body.note)
    audit(caller, f"flag-{body.verdict}", [flag.memory_id])
    return to_dict(flag)  # type: ignore[no-any-return]


@v1.get("/persona")
def persona(user_id: UserParam, caller: Caller, service: ServiceDep) -> dict[str, Any]:
    """A user's persona entries, by speaker, in the order the answer model reads them."""
    user = _user(caller, user_id)
    entries = service.memory.persona(user)
    audit(caller, "persona", [e.id for e in entries])
    return {"persona": _out(entries, user, user_id)}


@v1.put("/persona")
def set_persona_entry(body: PersonaSetRequest, caller: Caller, service: ServiceDep) -> Any:
    """Write a persona entry by hand into its slot: a new entry, or the one already there."""
    user = _user(caller, body.user_id, new=True)
    entry = service.memory.set_persona_entry(
        user,
        body.value,
        speaker=body.speaker,
        section=body.section,
        key=body.key,
        pinned=body.pinned,
    )
    return _out(entry, user, body.user_id)


@v1.patch("/persona/{entry_id}")
def edit_persona_entry(
    entry_id: str,
    body: PersonaEditRequest,
    user_id: UserParam,
    caller: Caller,
    service: ServiceDep,
) -> Any:
    """Edit a persona entry's value by hand and/or pin or unpin it; history keeps each change."""
    user = _user(caller, user_id)
    entry_id = _entry_id(entry_id)
    if body.value is None:
        entry = service.memory.pin_persona_entry(entry_id, user, bool(body.pinned))
    else:
        entry = service.memory.set_persona_entry(user, body.value, id=entry_id, pinned=body.pinned)
    return _out(entry, user, user_id)


@v1.delete("/persona/{entry_id}")
def delete_persona_entry(
    entry_id: str, user_id: UserParam, caller: Caller, service: ServiceDep
) -> Deleted:
    """Erase a persona entry: its text is gone, its history keeps a tombstone."""
    rows = service.memory.delete_persona_entry(_entry_id(entry_id), _user(caller, user_id))
    return Deleted(deleted=entry_id, rows=rows)


@v1.get("/instructions")
def instructions(user_id: UserParam, caller: Caller, service: ServiceDep) -> InstructionsOut:
    """The user's own extraction instructions (``""``: none)."""
    return InstructionsOut(instructions=service.memory.instructions(_user(caller, user_id)))


@v1.put("/instructions")
def set_instructions(
    body: InstructionsRequest, caller: Caller, service: ServiceDep
) -> InstructionsOut:
    """Tell extraction what to keep for this user (``""`` removes the instructions)."""
    user = _user(caller, body.user_id, new=True)
    return InstructionsOut(instructions=service.memory.set_instructions(user, body.instructions))


@v1.get("/export")
def export(
    user_id: UserParam,
    caller: Caller,
    service: ServiceDep,
    limit: LimitParam = None,
    cursor: CursorParam = None,
) -> dict[str, Any]:
    """Every stored row of a user, lossless (``tmem import`` reads the records back); with
    ``limit`` or ``cursor`` one page of them (the pages of one walk, joined, are an export)."""
    user = _user(caller, user_id)
    if limit is None and cursor is None:
        records, next_cursor = list(service.memory.export(user)), None
    else:
        page = service.memory.export_page(user, limit=_page_limit(limit), cursor=cursor)
        records, next_cursor = list(page.items), page.next_cursor
    audit(caller, "export", [str(r.get("id", "")) for r in records if r.get("id")])
    return {"records": _out(records, user, user_id), "next_cursor": next_cursor}


@v1.get("/jobs/{job_id}")
def get_job(job_id: str, caller: Caller, service: ServiceDep) -> JobOut:
    """A background job's status, and its result once done."""
    parsed = parse_job_id(job_id) if len(job_id) < 1024 else None
    job = None
    if parsed is not None:
        store_id, user_id = parsed
        try:
            user = _user(caller, user_id)
        except InputError:
            raise NotFoundError("no such job") from None
        job = service.store.get_job(store_id, user)
    if job is None:
        raise NotFoundError("no such job")
    return _job_out(job, job_id)


router.include_router(v1)


# --- helpers -----------------------------------------------------------------------------------
def _user(caller: Principal, user_id: str, *, new: bool = False) -> str:
    """The store's user id for ``user_id`` in the caller's tenant (422 if unusable)."""
    return caller.scope.store_user(user_id, new=new)


def _page_limit(limit: int | None) -> int:
    """A page's size: the default when only a cursor was given, else clamped like ``limit``."""
    return DEFAULT_PAGE_LIMIT if limit is None else clamp_page_limit(limit)


def _memory_id(memory_id: str) -> str:
    """An id that cannot exist is simply not found (never handed to the store)."""
    try:
        return check_lookup_id(memory_id)
    except InputError:
        raise NotFoundError("no such memory") from None


def _entry_id(entry_id: str) -> str:
    """An id that cannot exist is simply not found (never handed to the store)."""
    try:
        return check_lookup_id(entry_id)
    except InputError:
        raise NotFoundError("no such persona entry") from None


def _out(obj: Any, internal: str, external: str) -> Any:
    """``obj`` as JSON in the caller's ids."""
    return to_caller(obj, internal, external)


def _job_out(job: Job, public_id: str) -> JobOut:
    return JobOut(
        id=public_id,
        kind=job.kind,
        status=job.status,
        attempts=job.attempts,
        created_at=job.created_at.isoformat(),
        updated_at=job.updated_at.isoformat(),
        run_at=job.run_at.isoformat(),
        result=dict(job.result) if job.result is not None else None,
        error=job.error,
    )
