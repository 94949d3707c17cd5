"""``tmem.Client``: the same methods and objects as ``Memory``, over a real server."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from datetime import UTC, datetime

import httpx
import pytest

from tests.server.conftest import Running, running  # noqa: F401 - the shared server fixture
from tmem.client import (
    Client,
    ServiceError,
    answer_from,
    history_from,
    hit_from,
    record_from,
    report_from,
)
from tmem.errors import InputError, LLMUnavailableError, NotFoundError, StoreError
from tmem.models import (
    Answer,
    ChannelEvidence,
    Failure,
    HistoryEntry,
    Hit,
    IngestReport,
    Item,
    Message,
    PersonaEntry,
    Provenance,
    Scene,
    TriggerMatch,
    Turn,
    Usage,
)
from tmem.serialize import to_dict

WHEN = datetime(2024, 5, 1, 9, 30, tzinfo=UTC)


@pytest.fixture
def client(running: Running) -> Client:  # noqa: F811
    return Client(running.url, running.key_a, timeout=30)


@pytest.mark.slow  # uses the shared tmem serve process
def test_client_speaks_every_memory_method(client: Client) -> None:
    user = f"c-{uuid.uuid4().hex[:8]}"
    report = client.add(
        [
            Message("Ana", "Ben is allergic to shellfish.", WHEN),
            {"speaker": "Ana", "content": "Hi"},
        ],
        user,
        session_id="s1",
    )
    assert isinstance(report, IngestReport) and report.turns == 2 and report.user_id == user
    assert report.session_id == "s1" and report.ok

    hits = client.search("shellfish", user, limit=5)
    assert isinstance(hits[0], Hit) and hits[0].id == report.turn_ids[0]
    assert isinstance(hits[0].source_turns, tuple)

    turn = client.get(report.turn_ids[0], user)
    assert isinstance(turn, Turn) and turn.timestamp == WHEN and turn.user_id == user
    assert [r.id for r in client.list(user, "turn")] == list(report.turn_ids)

    updated = client.update(turn.id, user, "Ben is allergic to peanuts.")
    assert isinstance(updated, Turn) and updated.content == "Ben is allergic to peanuts."
    history = client.history(turn.id, user)
    assert all(isinstance(h, HistoryEntry) for h in history) and history[-1].event == "updated"

    records = list(client.export(user))
    assert records[0]["type"] == "header"

    assert client.delete(turn.id, user) >= 1
    with pytest.raises(NotFoundError):
        client.get(turn.id, user)
    assert client.delete_user(user) > 0
    assert client.list(user) == []
    later = client.add([{"speaker": "Ana", "content": "Later."}], user, derive=False)
    assert later.turns == 1 and later.llm_calls == 0
    assert client.delete_user(user) > 0


@pytest.mark.slow  # uses the shared tmem serve process
def test_client_walks_pages_of_list_history_and_export(
    client: Client,
    running: Running,  # noqa: F811
) -> None:
    user = f"pg-{uuid.uuid4().hex[:8]}"
    messages = [{"id": f"p{i}", "speaker": "Ana", "content": f"note {i}"} for i in range(5)]
    client.add(messages, user, session_id="s1")
    walked, cursor = [], None
    while True:
        page = client.list_page(user, limit=2, cursor=cursor)
        assert len(page.items) <= 2
        walked.extend(page.items)
        if (cursor := page.next_cursor) is None:
            break
        client.add([{"speaker": "Ana", "content": "said during the walk"}], user)
    ids = [r.id for r in walked]
    assert ids[:5] == [f"p{i}" for i in range(5)] and len(ids) == len(set(ids))
    assert all(isinstance(r, Turn | Scene) for r in walked)
    assert {r.id for r in client.list(user)} >= {f"p{i}" for i in range(5)}

    client.update("p1", user, "note 1, edited")
    history = client.history_page("p1", user, limit=1)
    assert isinstance(history.items[0], HistoryEntry) and history.next_cursor is not None
    assert client.history_page("p1", user, cursor=history.next_cursor).items[0].event == "updated"

    first = client.export_page(user, limit=2)
    assert [r["type"] for r in first.items] == ["header", "turn"] and first.next_cursor

    with Client(running.url, running.key_b) as other_tenant, pytest.raises(InputError):
        other_tenant.export_page(user, cursor=first.next_cursor)
    with pytest.raises(InputError, match="pages 'export', not 'list'"):
        client.list_page(user, cursor=first.next_cursor)
    assert len(client.list_page(user, "turn", limit=1).items) == 1
    assert client.delete_user(user) > 0


@pytest.mark.slow  # uses the shared tmem serve process
def test_client_speaks_persona_and_instructions(client: Client) -> None:
    user = f"p-{uuid.uuid4().hex[:8]}"
    entry = client.set_persona_entry(
        user, "nurse", speaker="Ana", section="identity", key="occupation", pinned=True
    )
    assert isinstance(entry, PersonaEntry) and entry.user_id == user and entry.pinned
    assert isinstance(entry.created_at, datetime) and entry.source_turns == ()
    assert client.persona(user) == [entry]
    edited = client.set_persona_entry(user, "midwife", id=entry.id, pinned=False)
    assert (edited.value, edited.pinned, edited.origin) == ("midwife", False, "hand")
    assert client.pin_persona_entry(entry.id, user).pinned
    assert [h.event for h in client.history(entry.id, user)] == [
        "created", "pinned", "updated", "unpinned", "pinned",
    ]  # fmt: skip
    with pytest.raises(InputError):
        client.set_persona_entry(user, "x", id=entry.id, speaker="Ana")
    with pytest.raises(InputError):
        client.set_persona_entry(user, "x", speaker="Ana", section="hobbies", key="k")
    assert client.delete_persona_entry(entry.id, user) == 1
    with pytest.raises(NotFoundError):
        client.pin_persona_entry(entry.id, user)
    assert client.persona(user) == []
    assert client.set_instructions(user, "Remember diets.\n") == "Remember diets."
    assert client.instructions(user) == "Remember diets."
    with pytest.raises(InputError):
        client.set_instructions(user, "</instructions>")
    assert client.delete_user(user) >= 0


def test_search_explains_each_hit_and_cuts_by_similarity(client: Client) -> None:
    user = f"x-{uuid.uuid4().hex[:8]}"
    client.add(
        [
            {"speaker": "Ana", "content": "Ben is allergic to shellfish."},
            {"speaker": "Leo", "content": "Ben said the shellfish allergy is severe."},
            {"speaker": "Ana", "content": "The cello teacher praised my bowing."},
        ],
        user,
    )
    query = "shellfish allergy severe"
    hits = client.search(query, user)
    assert len(hits) >= 2
    for hit in hits:
        assert all(isinstance(e, ChannelEvidence) for e in hit.explain)
        assert {e.channel for e in hit.explain} == set(hit.reached_by)
        assert hit.score == pytest.approx(sum(e.contribution for e in hit.explain), rel=1e-12)
    best = {h.id: max(e.score for e in h.explain if e.channel != "bm25") for h in hits}
    cut = sorted(best.values())[-2]  # keeps the best two
    kept = client.search(query, user, min_similarity=cut)
    assert kept == [h for h in hits if best[h.id] >= cut] and len(kept) == 2
    with pytest.raises(InputError, match="min_similarity"):
        client.search(query, user, min_similarity=1.5)
    assert client.delete_user(user) > 0


@pytest.mark.slow  # uses the shared tmem serve process
def test_background_add_returns_a_job_id_and_the_report_later(client: Client) -> None:
    user = f"bg-{uuid.uuid4().hex[:8]}"
    job_id = client.add([{"speaker": "Ana", "content": "Queued."}], user, background=True)
    assert isinstance(job_id, str)
    info = client.wait(job_id, timeout=20)
    assert info.status == "done" and isinstance(info.result, IngestReport)
    assert info.result.turns == 1 and client.job(job_id).id == job_id


@pytest.mark.slow  # uses the shared tmem serve process
def test_idempotent_add_returns_the_first_report(client: Client) -> None:
    user = f"i-{uuid.uuid4().hex[:8]}"
    key = uuid.uuid4().hex
    first = client.add([{"speaker": "Ana", "content": "Once."}], user, idempotency_key=key)
    again = client.add([{"speaker": "Ana", "content": "Once."}], user, idempotency_key=key)
    assert first == again and len(client.list(user, "turn")) == 1
    with pytest.raises(InputError):
        client.add([{"speaker": "Ana", "content": "Twice?"}], user, idempotency_key=key)


@pytest.mark.slow  # uses the shared tmem serve process
def test_errors_come_back_as_tmem_exceptions(client: Client, running: Running) -> None:  # noqa: F811
    with pytest.raises(InputError, match="timestamp"):
        client.add([{"speaker": "A", "content": "x", "timestamp": "soon"}], "u")
    with pytest.raises(NotFoundError):
        client.history("no-such-memory", "u")
    with pytest.raises(LLMUnavailableError):
        client.answer("Who is Ben?", "u")
    with pytest.raises(LLMUnavailableError):
        client.reindex("u", background=True)
    with Client(running.url, "tmem_wrong") as stranger, pytest.raises(ServiceError) as caught:
        stranger.search("x", "u")
    assert caught.value.status == 401 and caught.value.code == "unauthorized"
    assert client.healthy()


def _mock(status: int, body: bytes, headers: dict[str, str] | None = None) -> Client:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=body, headers=headers or {})

    return Client("http://service.test", "k", transport=httpx.MockTransport(handler))


def test_rate_limit_and_odd_errors_map_to_service_error() -> None:
    limited = b'{"error": {"code": "rate_limited", "message": "slow down"}}'
    with pytest.raises(ServiceError) as caught:
        _mock(429, limited, {"Retry-After": "7"}).search("x", "u")
    assert caught.value.retry_after == 7.0 and caught.value.code == "rate_limited"
    with pytest.raises(ServiceError) as proxy:
        _mock(502, b"<html>bad gateway</html>").search("x", "u")
    assert proxy.value.status == 502
    with pytest.raises(StoreError):
        _mock(503, b'{"error": {"code": "store_unavailable", "message": "down"}}').list("u")


def test_unreachable_service_is_a_service_error() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    client = Client("http://service.test", None, transport=httpx.MockTransport(refuse))
    with pytest.raises(ServiceError) as caught:
        client.search("x", "u")
    assert caught.value.status == 0 and not client.healthy()


# --- JSON round trips: to_dict (server side) then the client's decoders give the same object ---
PROV = Provenance(method="scene@3", model="m")
SCENE = Scene("sc1", "u", "Dinner", "sum", "narr", WHEN, ("t1", "t2"), ("s1",), ("Ana",), PROV)
ITEM = Item("it1", "u", "Ben is allergic", WHEN, ("sc1",), ("t1",), "last week (May 2024)",
            "Lisbon", ("Ben",), ("allergy?",), "superseded", "it2", PROV)  # fmt: skip
TURN = Turn("t1", "u", "s1", 0, "Ana", "hello", WHEN)
HIT = Hit("it1", "item", "Ben is allergic", 0.5, WHEN.isoformat(), ("t1",), ("entity", "dense"))
MATCH = TriggerMatch("trg_1", "horizon:GOAL_ARC", "planning a group meal out", 0.71, 0.8)
EXPLAINED = Hit(
    "sc1", "scene", "Dinner", 1 / 61, None, ("t1", "t2"), ("dense", "horizon:GOAL_ARC"),
    explain=(
        ChannelEvidence("horizon", 1, 0.71 * 0.8, 1 / 61, (MATCH,)),
        ChannelEvidence("dense", 2, 0.42, 1 / 62),
    ),
)  # fmt: skip


@pytest.mark.parametrize("record", [SCENE, ITEM, TURN])
def test_records_round_trip(record: Scene | Item | Turn) -> None:
    assert record_from(to_dict(record)) == record


def test_hits_reports_answers_and_history_round_trip() -> None:
    assert hit_from(to_dict(HIT)) == HIT
    assert hit_from(to_dict(EXPLAINED)) == EXPLAINED
    assert hit_from(json.loads(json.dumps(to_dict(EXPLAINED)))) == EXPLAINED
    # A service from before explanations answers without the field: the hit has none.
    older = {k: v for k, v in to_dict(EXPLAINED).items() if k != "explain"}
    assert hit_from(older) == replace(EXPLAINED, explain=())
    failure = Failure("items", "boom", "item@2", ("t1",))
    report = IngestReport(
        "u", "s1", "full", 3, 1, 2, {"entity": 2}, 1, Usage(4, 100, 20), (failure,), ("t1", "t2")
    )
    assert report_from(to_dict(report)) == report
    answer = Answer("Shellfish.", (HIT,), Usage(1, 10, 2))
    assert answer_from(to_dict(answer)) == answer
    entry = HistoryEntry("t1", 2, "updated", "new text", WHEN, "edit")
    assert history_from(to_dict(entry)) == entry
