"""``tmem.AsyncClient``: ``Client``'s methods, results and errors, awaited, over a real server."""

from __future__ import annotations

import inspect
import socket
import typing
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from tests.server.conftest import Running, running  # noqa: F401 - the shared server fixture
from tmem import AsyncClient as PublicAsyncClient
from tmem.client import AsyncClient, Client, JobInfo, ServiceError
from tmem.errors import InputError, LLMUnavailableError, NotFoundError, StoreError, TmemError
from tmem.models import HistoryEntry, Hit, IngestReport, Message, Page, PersonaEntry, Turn

WHEN = datetime(2024, 5, 1, 9, 30, tzinfo=UTC)


@pytest.fixture
async def client(running: Running) -> AsyncIterator[AsyncClient]:  # noqa: F811
    async with AsyncClient(running.url, running.key_a, timeout=30) as each:
        yield each


def _user(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


# --- the same API as Client ----------------------------------------------------------------------
def _public(cls: type) -> set[str]:
    return {name for name in vars(cls) if not name.startswith("_")}


def test_async_client_has_every_public_method_of_client_with_its_signature() -> None:
    assert PublicAsyncClient is AsyncClient
    assert _public(AsyncClient) - {"aclose"} == _public(Client) - {"close"}
    methods = _public(Client) - {"close"}
    assert len(methods) >= 14, "Client lost its methods? the comparison below would be empty"
    for name in sorted(methods):
        ours, theirs = getattr(AsyncClient, name), getattr(Client, name)
        assert inspect.iscoroutinefunction(ours), name
        assert inspect.signature(ours) == inspect.signature(theirs), name
        overloads = [inspect.signature(o) for o in typing.get_overloads(theirs)]
        assert [inspect.signature(o) for o in typing.get_overloads(ours)] == overloads, name
    assert len(typing.get_overloads(Client.add)) == 2  # the overloads are seen at all
    init, sync_init = inspect.signature(AsyncClient), inspect.signature(Client)
    assert [(p.name, p.kind, p.default) for p in init.parameters.values()] == [
        (p.name, p.kind, p.default) for p in sync_init.parameters.values()
    ]
    for name in ("aclose", "__aenter__", "__aexit__"):
        assert inspect.iscoroutinefunction(getattr(AsyncClient, name)), name


# --- every method against the running service --------------------------------------------------
@pytest.mark.slow  # uses the shared tmem serve process
@pytest.mark.anyio
async def test_async_client_speaks_every_memory_method(client: AsyncClient) -> None:
    user = _user("ac")
    report = await client.add(
        [
            Message("Ana", "Ben is allergic to shellfish.", WHEN),
            {"speaker": "Ana", "content": "Hi"},
        ],
        user,
        session_id="s1",
    )
    assert isinstance(report, IngestReport) and report.turns == 2 and report.user_id == user
    assert report.session_id == "s1" and report.ok

    hits = await client.search("shellfish", user, limit=5)
    assert isinstance(hits[0], Hit) and hits[0].id == report.turn_ids[0]
    assert isinstance(hits[0].source_turns, tuple)

    turn = await client.get(report.turn_ids[0], user)
    assert isinstance(turn, Turn) and turn.timestamp == WHEN and turn.user_id == user
    assert [r.id for r in await client.list(user, "turn")] == list(report.turn_ids)

    updated = await client.update(turn.id, user, "Ben is allergic to peanuts.")
    assert isinstance(updated, Turn) and updated.content == "Ben is allergic to peanuts."
    history = await client.history(turn.id, user)
    assert all(isinstance(h, HistoryEntry) for h in history)
    assert [h.event for h in history] == ["created", "updated"]

    records = list(await client.export(user))
    assert records[0]["type"] == "header"
    assert {r["id"] for r in records if r["type"] == "turn"} == set(report.turn_ids)

    assert await client.delete(turn.id, user) >= 1
    with pytest.raises(NotFoundError):
        await client.get(turn.id, user)
    assert await client.delete_user(user) > 0
    assert await client.list(user) == []
    later = await client.add([{"speaker": "Ana", "content": "Later."}], user, derive=False)
    assert later.turns == 1 and later.llm_calls == 0
    assert await client.delete_user(user) > 0
    assert await client.healthy()


@pytest.mark.slow  # uses the shared tmem serve process
@pytest.mark.anyio
async def test_async_client_pages_as_the_sync_client_does(
    client: AsyncClient,
    running: Running,  # noqa: F811
) -> None:
    user = _user("apg")
    messages = [{"id": f"p{i}", "speaker": "Ana", "content": f"note {i}"} for i in range(5)]
    await client.add(messages, user, session_id="s1")
    first = await client.list_page(user, "turn", limit=2)
    assert [t.id for t in first.items] == ["p0", "p1"] and isinstance(first.items[0], Turn)
    await client.delete("p2", user)  # written between pages: the walk lists the rest once
    rest = await client.list_page(user, "turn", limit=10, cursor=first.next_cursor)
    assert [t.id for t in rest.items] == ["p3", "p4"] and rest.next_cursor is None
    with Client(running.url, running.key_a) as sync:
        assert sync.list_page(
            user, "turn", limit=2, cursor=first.next_cursor
        ) == await client.list_page(user, "turn", limit=2, cursor=first.next_cursor)
    await client.update("p0", user, "note 0, edited")
    history = await client.history_page("p0", user, limit=1)
    assert [h.event for h in history.items] == ["created"] and history.next_cursor
    later = await client.history_page("p0", user, limit=1, cursor=history.next_cursor)
    assert [h.event for h in later.items] == ["updated"] and later.next_cursor is None
    rows: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = await client.export_page(user, limit=3, cursor=cursor)
        rows.extend(page.items)
        if (cursor := page.next_cursor) is None:
            break
    assert rows[0]["type"] == "header"
    assert sorted(map(repr, rows[1:])) == sorted(map(repr, list(await client.export(user))[1:]))
    async with AsyncClient(running.url, running.key_b) as other_tenant:
        with pytest.raises(InputError, match="another listing"):
            await other_tenant.list_page(user, "turn", cursor=first.next_cursor)
    with pytest.raises(InputError, match="not a tmem page cursor"):
        await client.list_page(user, cursor="forged!")
    assert await client.delete_user(user) > 0


@pytest.mark.slow  # uses the shared tmem serve process
@pytest.mark.anyio
async def test_background_add_and_idempotent_retries(client: AsyncClient) -> None:
    user = _user("abg")
    job_id = await client.add([{"speaker": "Ana", "content": "Queued."}], user, background=True)
    assert isinstance(job_id, str)
    info = await client.wait(job_id, timeout=20, poll=0.05)
    assert isinstance(info, JobInfo) and info.status == "done"
    assert isinstance(info.result, IngestReport) and info.result.turns == 1
    assert (await client.job(job_id)).id == job_id

    key = uuid.uuid4().hex
    first = await client.add([{"speaker": "Ana", "content": "Once."}], user, idempotency_key=key)
    again = await client.add([{"speaker": "Ana", "content": "Once."}], user, idempotency_key=key)
    assert first == again and len(await client.list(user, "turn")) == 2
    with pytest.raises(InputError):
        await client.add([{"speaker": "Ana", "content": "Twice?"}], user, idempotency_key=key)
    await client.delete_user(user)


@pytest.mark.slow  # uses the shared tmem serve process
@pytest.mark.anyio
async def test_errors_come_back_as_tmem_exceptions(
    client: AsyncClient,
    running: Running,  # noqa: F811
) -> None:
    with pytest.raises(InputError, match="timestamp"):
        await client.add([{"speaker": "A", "content": "x", "timestamp": "soon"}], "u")
    with pytest.raises(NotFoundError):
        await client.history("no-such-memory", "u")
    with pytest.raises(NotFoundError):
        await client.job("no-such-job")
    with pytest.raises(LLMUnavailableError):
        await client.answer("Who is Ben?", "u")
    with pytest.raises(LLMUnavailableError):
        await client.reindex("u", background=True)
    async with AsyncClient(running.url, "tmem_wrong") as stranger:
        with pytest.raises(ServiceError) as caught:
            await stranger.search("x", "u")
        assert caught.value.status == 401 and caught.value.code == "unauthorized"
        assert await stranger.healthy()  # the health check needs no key


@pytest.mark.anyio
async def test_a_closed_port_is_unreachable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with AsyncClient(f"http://127.0.0.1:{port}", None, timeout=5) as nowhere:
        with pytest.raises(ServiceError) as caught:
            await nowhere.list("u")
        assert caught.value.status == 0 and caught.value.code == "unreachable"
        assert not await nowhere.healthy()


# --- concurrency -------------------------------------------------------------------------------
class CountingTransport(httpx.AsyncBaseTransport):
    """The real network transport, counting how many requests are in flight at once."""

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self.in_flight = 0
        self.most = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.in_flight += 1
        self.most = max(self.most, self.in_flight)
        try:
            response = await self._inner.handle_async_request(request)
            await response.aread()
            return response
        finally:
            self.in_flight -= 1

    async def aclose(self) -> None:
        await self._inner.aclose()


@pytest.mark.slow  # uses the shared tmem serve process
@pytest.mark.anyio
async def test_several_awaits_at_once_are_in_flight_together(running: Running) -> None:  # noqa: F811
    transport = CountingTransport()
    users = [_user(f"cc{i}") for i in range(6)]
    reports: dict[str, IngestReport] = {}
    found: dict[str, list[str]] = {}
    async with AsyncClient(running.url, running.key_a, transport=transport) as client:

        async def add(user: str) -> None:
            message = {"id": f"{user}-m", "speaker": "Ana", "content": f"{user} has an otter."}
            reports[user] = await client.add([message], user)

        async def search(user: str) -> None:
            found[user] = [hit.id for hit in await client.search("otter", user)]

        for step in (add, search):
            async with anyio.create_task_group() as group:
                for user in users:
                    group.start_soon(step, user)
        for user in users:
            await client.delete_user(user)
    assert {u: r.turn_ids for u, r in reports.items()} == {u: (f"{u}-m",) for u in users}
    assert found == {user: [f"{user}-m"] for user in users}
    assert transport.most > 1, "the requests went one at a time"


# --- the error mapping is the same as Client's --------------------------------------------------
ODD_ANSWERS = [
    (429, b'{"error": {"code": "rate_limited", "message": "slow down"}}', {"Retry-After": "7"}),
    (502, b"<html>bad gateway</html>", {}),
    (503, b'{"error": {"code": "store_unavailable", "message": "down"}}', {}),
    (413, b'{"error": {"code": "too_large", "message": "body over 1 MB"}}', {}),
    (200, b"<html>a captive portal</html>", {}),
]


def _fixed(status: int, body: bytes, headers: dict[str, str]) -> httpx.MockTransport:
    return httpx.MockTransport(
        lambda request: httpx.Response(status, content=body, headers=headers)
    )


def _raised(call: Callable[[], Any]) -> TmemError:
    with pytest.raises(TmemError) as caught:
        call()
    return caught.value


def _described(error: TmemError) -> tuple[Any, ...]:
    return (type(error), str(error), *(getattr(error, a, None) for a in ("status", "code")))


@pytest.mark.parametrize(("status", "body", "headers"), ODD_ANSWERS)
@pytest.mark.anyio
async def test_odd_answers_raise_what_client_raises(
    status: int, body: bytes, headers: dict[str, str]
) -> None:
    transport = _fixed(status, body, headers)
    with Client("http://service.test", "k", transport=transport) as sync:
        expected = _raised(lambda: sync.list("u"))
    async with AsyncClient("http://service.test", "k", transport=transport) as client:
        with pytest.raises(TmemError) as caught:
            await client.list("u")
    assert _described(caught.value) == _described(expected)
    assert isinstance(caught.value, StoreError if status == 503 else ServiceError)
    if status == 429:
        assert isinstance(caught.value, ServiceError) and caught.value.retry_after == 7.0
    if status == 200:
        assert isinstance(caught.value, ServiceError) and caught.value.code == "invalid_response"


ODD = "a/b c"  # ids that must travel as one escaped path segment
CALLS: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = [
    ("add", ([Message("Ana", "hi", WHEN, "m1"), {"speaker": "Leo", "content": "yo"}], ODD, "s"),
     {"background": True, "derive": False, "idempotency_key": "idem"}),
    ("reindex", (ODD,), {"background": True}),
    ("update", ("m/1", ODD, "new text"), {}),
    ("delete", ("m/1", ODD), {}),
    ("delete_user", (ODD,), {}),
    ("search", ("otter?", ODD, 7), {}),
    ("answer", ("who?", ODD), {"include_flagged": True}),
    ("get", ("m/1", ODD), {}),
    ("list", (ODD, "scene"), {}),
    ("history", ("m/1", ODD), {}),
    ("export", (ODD,), {}),
    ("persona", (ODD,), {}),
    ("set_persona_entry", (ODD, "tea"), {"speaker": "Ana", "section": "preferences",
                                         "key": "drink", "pinned": True}),
    ("set_persona_entry", (ODD, "coffee"), {"id": "p/1"}),
    ("pin_persona_entry", ("p/1", ODD), {"pinned": False}),
    ("delete_persona_entry", ("p/1", ODD), {}),
    ("instructions", (ODD,), {}),
    ("set_instructions", (ODD, "keep travel plans"), {}),
    ("job", ("job/1",), {}),
    ("wait", ("job/1",), {"timeout": 1}),
    ("healthy", (), {}),
    ("list_page", (ODD, "scene"), {"limit": 5, "cursor": "c/1"}),
    ("history_page", ("m/1", ODD), {"limit": 2}),
    ("export_page", (ODD,), {"cursor": "c/1"}),
]  # fmt: skip
_AT = WHEN.isoformat()
ANY_ANSWER = {  # one body every decoder can read: a turn, a done job, empty lists, counts
    "job_id": "job-1", "rows": 3, "hits": [], "memories": [], "history": [], "records": [{}],
    "text": "t", "id": "m/1", "kind": "turn", "user_id": ODD, "session_id": "s", "seq": 0,
    "speaker": "Ana", "content": "hi", "timestamp": _AT, "status": "done", "attempts": 1,
    "created_at": _AT, "updated_at": _AT, "run_at": _AT, "next_cursor": "next/1",
    "persona": [], "instructions": "keep", "section": "preferences", "key": "drink",
    "value": "tea", "source_turns": [], "pinned": True, "origin": "hand", "position": 0,
}  # fmt: skip


@pytest.mark.anyio
async def test_both_clients_put_the_same_requests_on_the_wire_and_read_the_same_results() -> None:
    assert {name for name, _, _ in CALLS} == _public(Client) - {"close"}
    seen: list[tuple[str, str, bytes, str | None, str | None]] = []

    def record(request: httpx.Request) -> httpx.Response:
        headers = request.headers
        seen.append(
            (
                request.method,
                str(request.url),
                request.content,
                headers.get("Authorization"),
                headers.get("Idempotency-Key"),
            )
        )
        return httpx.Response(200, json=ANY_ANSWER)

    def comparable(result: Any) -> Any:
        return list(result) if isinstance(result, typing.Iterator) else result

    transport = httpx.MockTransport(record)
    with Client("http://service.test/", "k", transport=transport) as sync:
        expected = [comparable(getattr(sync, name)(*a, **kw)) for name, a, kw in CALLS]
    wire = seen[:]
    seen.clear()
    async with AsyncClient("http://service.test/", "k", transport=transport) as client:
        results = [comparable(await getattr(client, name)(*a, **kw)) for name, a, kw in CALLS]
    assert seen == wire and len(wire) == len(CALLS)
    assert results == expected
    assert expected[0] == "job-1" and isinstance(expected[7], Turn) and expected[20] is True
    assert isinstance(expected[12], PersonaEntry) and expected[12].pinned is True
    assert wire[13][:2] == ("PATCH", "http://service.test/v1/persona/p%2F1?user_id=a%2Fb+c")
    assert wire[3][:2] == ("DELETE", "http://service.test/v1/memories/m%2F1?user_id=a%2Fb+c")
    assert wire[0][3:] == ("Bearer k", "idem")
    assert [w[1] for w in wire[21:]] == [
        "http://service.test/v1/memories?user_id=a%2Fb+c&kind=scene&limit=5&cursor=c%2F1",
        "http://service.test/v1/memories/m%2F1/history?user_id=a%2Fb+c&limit=2",
        "http://service.test/v1/export?user_id=a%2Fb+c&limit=100&cursor=c%2F1",
    ]
    assert expected[21] == Page((), "next/1") and expected[23] == Page(({},), "next/1")


@pytest.mark.slow  # uses the shared tmem serve process
def test_the_service_docs_async_example_runs(
    running: Running,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    text = (Path(__file__).resolve().parents[1] / "docs" / "service.md").read_text("utf-8")
    section = text[text.index("`tmem.AsyncClient` is the same client") :]
    start = section.index("```python\n") + len("```python\n")
    snippet = section[start : section.index("\n```", start)]
    user, key = _user("docs"), uuid.uuid4().hex
    for placeholder, value in [
        ("http://127.0.0.1:8000", running.url),
        ("tmem_...", running.key_a),
        ('"ana"', repr(user)),
        ("msg-0002", key),
    ]:
        assert placeholder in snippet, placeholder
        snippet = snippet.replace(placeholder, value)
    exec(compile(snippet, "docs/service.md", "exec"), {})
    assert capsys.readouterr().out == "Ana: Ben is allergic to shellfish. 1\n"
    with Client(running.url, running.key_a) as client:
        assert client.delete_user(user) > 0
