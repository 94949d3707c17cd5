"""Forgetting holds on every path: a property suite on every store backend.

Hypothesis writes short conversations with a distinctive canary word planted in random turns.
They are derived in full mode through the real HTTP client against the fake OpenAI-compatible
server, whose replies here are hand-authored (not recorded) to act like a capable model: scene
titles and narratives retell every turn, an item per turn and one connecting them all, Entity
and Bridge triggers, Scene facets and a Horizon channel, and persona entries, each repeating
the canary when a turn it rests on holds it. Then the canary turns are deleted, or the user
is, or the canary facts are superseded, and every read path is searched for the canary.

Examples per backend: ``TMEM_FORGET_EXAMPLES`` (default 6); raise it for long runs.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.fakes.openai_server import FakeOpenAIServer
from tmem import Config, EmbedderConfig, LLMConfig, Memory
from tmem.models import Item
from tmem.store.base import Store
from tmem.store.postgres import PostgresStore
from tmem.store.sqlite import SQLiteStore
from tmem.store.sqlite.schema import fts_tables
from tmem.store.sqlite.search import stem_token

CANARY = "zorbquintel"
STEM = stem_token(CANARY)
USER = "maya"
FILLER = (
    "we talked about the garden and the weekend plans",
    "the train was late again this morning",
    "my sister sent photos from the museum trip",
    "the budget review moved to thursday afternoon",
    "I finally fixed the bike chain",
    "lunch was the usual soup place near the office",
)
EXAMPLES = int(os.environ.get("TMEM_FORGET_EXAMPLES", "6"))


# --- the fake model ---------------------------------------------------------------------------
def _numbered(text: str, section: str) -> list[tuple[int, str, str]]:
    """``(number, speaker, content)`` of the numbered turn lines after ``section``."""
    body = text.split(section, 1)[-1] if section else text
    found = []
    for number, rest in re.findall(r"^\[(\d+)\] (.*)$", body, flags=re.M):
        speaker, _, content = rest.partition(": ")
        found.append((int(number), speaker.split()[-1], content))
    return found


def segment_reply(body: dict[str, Any]) -> str:
    turns = _numbered(body["messages"][-1]["content"], "")
    told = " ".join(content for _, _, content in turns)
    title = "A talk about " + " ".join(told.split()[:8])
    scene = {
        "start": 1,
        "end": max(n for n, _, _ in turns),
        "continues_open_scene": False,
        "title": title,
        "summary": f"They said: {told}",
        "narrative": f"On that day they talked. {told}",
    }
    return json.dumps({"scenes": [scene]})


def _known_canary_facts(text: str) -> list[str]:
    return re.findall(rf"^(F\d+): .*{CANARY}", text, flags=re.M)


def extract_reply(body: dict[str, Any]) -> str:
    text = body["messages"][-1]["content"]
    turns = _numbered(text, "Turns to extract from")
    correcting = any("correction" in content for _, _, content in turns)
    items = []
    for number, speaker, content in turns:
        marked = CANARY in content
        items.append(
            {
                "content": f"Fact noted: {speaker} said {content}",
                "keywords": [CANARY if marked else "talk", speaker],
                "query_patterns": [f"What did {speaker} say about {content.split()[-1]}?"],
                "source_turns": [number],
                "triggers": [
                    {
                        "concept": f"{CANARY} concern" if marked else f"{speaker} remark",
                        "bridge": f"{CANARY} mention -> remember it later" if marked else "",
                        "confidence": 0.9,
                    }
                ],
                "supersedes": _known_canary_facts(text) if correcting else [],
            }
        )
    canary_here = any(CANARY in content for _, _, content in turns)
    topic = CANARY if canary_here else "daily life"
    items.append(
        {
            "content": "Fact noted: the talk connected " + " / ".join(c for _, _, c in turns),
            "source_turns": [n for n, _, _ in turns],
        }
    )
    reply = {
        "items": items,
        "scene": {
            "situation": f"friends catching up about {topic}",
            "object": f"notes on {topic}",
            "event": f"a chat touching {topic}",
            "emotion": "calm interest",
        },
        "horizon": {"GOAL_ARC": {"sent": f"They will keep an eye on {topic}.", "confidence": 0.8}},
        "persona": [
            {
                "speaker": turns[0][1],
                "preferences": {"interests": [f"{topic} matters"]},
                "traits": {"style": [f"talks about {topic}"]},
            }
        ],
    }
    return json.dumps(reply)


def answer_reply(body: dict[str, Any]) -> str:
    return json.dumps({"reasoning": "From the memories.", "answer": "They talked."})


# --- conversations ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    """Turns per session (each turn: planted or not), and what happens to the canary."""

    sessions: tuple[tuple[bool, ...], ...]
    action: str


def _planted(sessions: tuple[tuple[bool, ...], ...]) -> bool:
    return any(any(session) for session in sessions)


CASES = st.builds(
    Case,
    sessions=st.lists(
        st.lists(st.booleans(), min_size=1, max_size=5).map(tuple), min_size=1, max_size=3
    )
    .map(tuple)
    .filter(_planted),
    action=st.sampled_from(["delete-turns", "delete-user", "supersede"]),
)


def _messages(case: Case) -> list[tuple[str, list[dict[str, str]]]]:
    out = []
    for s, session in enumerate(case.sessions):
        messages = []
        for i, planted in enumerate(session):
            filler = FILLER[(s + i) % len(FILLER)]
            # Each planted turn says something of its own: two turns with the same words would
            # give two items with the same text, one superseded and one not.
            content = f"{filler}, and {CANARY} came up ({s}.{i})" if planted else filler
            messages.append(
                {
                    "id": f"s{s}t{i}",
                    "speaker": "Maya" if i % 2 == 0 else "Leo",
                    "content": content,
                    "timestamp": f"2025-0{s + 1}-0{i + 1}T10:00:00Z",
                }
            )
        out.append((f"s{s}", messages))
    return out


# --- where the canary must not be -------------------------------------------------------------
def _reads(mem: Memory, seen_ids: set[str]) -> dict[str, str]:
    """Every read path's output for the user, as text."""
    reads: dict[str, str] = {}
    persona = mem.persona(USER)
    reads["list"] = repr(mem.list(USER))
    reads["get"] = repr([mem.store.get(USER, i) for i in sorted(seen_ids)])
    hits = [mem.search(q, USER, limit=50) for q in (CANARY, f"{CANARY} concern", "what came up?")]
    reads["search"] = repr(hits)
    reads["persona"] = repr(mem.persona(USER))
    reads["persona history"] = repr([mem.store.history(USER, e.id) for e in persona])
    reads["triggers"] = repr([mem.store.triggers_of(USER, i) for i in sorted(seen_ids)])
    reads["export"] = "\n".join(json.dumps(row) for row in mem.export(USER))
    reads["history"] = repr([mem.store.history(USER, i) for i in sorted(seen_ids)])
    for kind in ("turn", "scene", "item"):
        found = mem.store.search_text(USER, kind, CANARY, 50)  # type: ignore[arg-type]
        reads[f"bm25-{kind}"] = repr([h.id for h in found])
    return reads


def _answer_prompts(mem: Memory, server: FakeOpenAIServer) -> str:
    before = len(server.chat_requests("answer@2"))
    mem.answer("What came up in these talks?", USER)
    return repr([r.messages for r in server.chat_requests("answer@2")[before:]])


def _sqlite_residue(store: SQLiteStore) -> list[str]:
    """Where the canary survives in the FTS vocabulary or the raw bytes of the files."""
    found = []
    conn = store._connection.raw  # the store's own connection: ":memory:" has no file to open
    assert conn is not None
    for table in fts_tables():  # every shard: a canary must be in no tenant's index
        conn.execute(f"CREATE VIRTUAL TABLE temp.terms USING fts5vocab(main, {table}, row)")
        try:
            if conn.execute("SELECT 1 FROM temp.terms WHERE term = ?", (STEM,)).fetchone():
                found.append(f"fts term in {table}")
        finally:
            conn.execute("DROP TABLE temp.terms")
    if store.path != ":memory:":
        for suffix in ("", "-wal"):
            path = Path(store.path + suffix)
            if path.exists() and STEM.encode() in path.read_bytes():
                found.append(f"bytes of {path.name}")
    return found


def _postgres_residue(store: PostgresStore) -> list[str]:
    """Tables holding a live row that mentions the canary."""
    found = []
    with store._pool.connection() as conn, conn.cursor() as cursor:
        cursor.execute(
            "SELECT table_name FROM information_schema.tables"
            " WHERE table_schema = current_schema() AND table_name LIKE 'tmem%%'"
        )
        for (table,) in cursor.fetchall():
            cursor.execute(
                f"SELECT count(*) FROM {table} AS t WHERE t::text ILIKE %s", (f"%{STEM}%",)
            )
            row = cursor.fetchone()
            if row and row[0]:
                found.append(table)
    return found


def _residue(store: Store) -> list[str]:
    if isinstance(store, SQLiteStore):
        return _sqlite_residue(store)
    return _postgres_residue(cast(PostgresStore, store))


# --- the property -----------------------------------------------------------------------------
@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as fake:
        fake.script_chat("segment@2", segment_reply)
        fake.script_chat("extract@2", extract_reply)
        fake.script_chat("answer@2", answer_reply)
        yield fake


def _memory(store: Store, server: FakeOpenAIServer) -> Memory:
    config = Config(
        llm=LLMConfig(base_url=server.base_url, model="fake-model", max_retries=1),
        embedder=EmbedderConfig(kind="hash"),
    )
    return Memory.open(config=config, store=store)


def _ingest(mem: Memory, case: Case) -> None:
    """Add each session, the first one as a background job (so a payload holds the canary)."""
    service = mem.store.service()
    for index, (session, messages) in enumerate(_messages(case)):
        if index == 0:
            job_id = service.enqueue_job("add", {"messages": messages}, USER)
            job = service.claim_job("w1")
            assert job is not None and job.id == job_id
            report = mem.add(job.payload["messages"], USER, session)
            service.finish_job(job_id, {"turns": report.turns}, worker_id="w1")
        else:
            report = mem.add(messages, USER, session)
        assert report.ok, report.failures


def _forget(mem: Memory, case: Case) -> None:
    if case.action == "delete-user":
        mem.delete_user(USER)
        return
    planted = [t.id for t in mem.store.list(USER, "turn") if CANARY in repr(t)]
    if case.action == "delete-turns":
        for turn_id in planted:
            mem.delete(turn_id, USER)
        return
    report = mem.add(
        # A correction names what it corrects: the facts shown to the model for it are the
        # stored items nearest to it (at most ten), and the fake model supersedes those only.
        [{"id": "fix", "speaker": "Maya", "content": f"a correction about {CANARY}: not so"}],
        USER,
        "later",
    )
    assert report.superseded > 0


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=CASES)
# The cases, always run: a narrative resting partly on the deleted turn; a user erased.
@example(case=Case(sessions=((False, True, False), (True, False)), action="delete-turns"))
@example(case=Case(sessions=((False, True), (False,)), action="delete-user"))
@example(case=Case(sessions=((False, True, False),), action="supersede"))
# Found by the property: a canary planted only in the last session, later superseded.
@example(
    case=Case(
        sessions=((False, False, False, True), (False, False), (False, True, False, False, False)),
        action="supersede",
    )
)
@example(
    case=Case(
        sessions=((False, False), (False, False, False, False), (False, True, False, False, False)),
        action="supersede",
    )
)
def test_the_canary_is_gone_from_every_path(
    make_store: Callable[[], Store], server: FakeOpenAIServer, case: Case
) -> None:
    store = make_store()
    mem = _memory(store, server)
    _ingest(mem, case)
    seen = {r.id for r in store.list(USER, include_superseded=True)}
    before = _reads(mem, seen)
    assert CANARY in before["export"] and CANARY in before["search"]  # the test sees it first
    assert CANARY in before["persona"] and CANARY in before["triggers"]

    _forget(mem, case)
    if case.action == "supersede":
        _assert_superseded_out_of_recall(mem, server)
        return
    after = _reads(mem, seen)
    leaks = {path: text for path, text in after.items() if CANARY in text}
    assert not leaks, f"canary left in: {sorted(leaks)}"
    for kind in ("turn", "scene", "item"):
        assert after[f"bm25-{kind}"] == "[]"
    assert CANARY not in _answer_prompts(mem, server)
    jobs = [store.service().get_job(j, USER) for j in _job_ids(store)]
    assert CANARY not in repr(jobs)
    assert _residue(store) == []
    if case.action == "delete-turns":
        _assert_reindex_derives_what_waits(mem, seen)


def _assert_reindex_derives_what_waits(mem: Memory, seen: set[str]) -> None:
    """The turns sent back to waiting are derived again, from what is left."""
    waiting = {t.id for t in mem.store.pending_turns(USER)}
    if waiting:
        assert mem.reindex(USER).ok
    assert mem.store.pending_turns(USER) == []
    derived = {t for s in mem.store.list(USER, "scene") for t in s.source_turns}
    assert waiting <= derived
    assert CANARY not in repr(_reads(mem, seen | {s.id for s in mem.store.list(USER)}))


def _job_ids(store: Store) -> list[str]:
    if isinstance(store, SQLiteStore):
        conn = store._connection.raw
        assert conn is not None
        return [str(i) for (i,) in conn.execute("SELECT id FROM jobs")]
    with cast(PostgresStore, store)._pool.connection() as conn, conn.cursor() as cursor:
        cursor.execute("SELECT id FROM tmem_jobs")
        return [str(i) for (i,) in cursor.fetchall()]


def _assert_superseded_out_of_recall(mem: Memory, server: FakeOpenAIServer) -> None:
    """Superseded canary facts: history keeps them, recall and the answer model never see them."""
    old = [
        i
        for i in mem.store.list(USER, "item", include_superseded=True)
        if isinstance(i, Item) and i.status == "superseded"
    ]
    assert old and all(CANARY in i.content or "connected" in i.content for i in old)
    old_ids = {i.id for i in old}
    for query in (CANARY, f"{CANARY} concern", f"{CANARY} mention remember"):
        hits = mem.search(query, USER, limit=50)
        assert not old_ids & {h.id for h in hits}, [(h.id, h.reached_by) for h in hits]
    prompts = _answer_prompts(mem, server)
    for item in old:
        assert item.content not in prompts
    assert all(mem.history(i, USER)[-1].event == "superseded" for i in old_ids)


def test_the_byte_check_finds_a_canary_left_in_the_file(tmp_path: Path) -> None:
    """The bytes check above is real: an undeleted canary is found in the file."""
    store = SQLiteStore(tmp_path / "raw.db")
    conn = sqlite3.connect(tmp_path / "raw.db")
    conn.execute("CREATE TABLE probe (x TEXT)")
    conn.execute("INSERT INTO probe VALUES (?)", (f"{STEM} here",))
    conn.commit()
    conn.close()
    assert _sqlite_residue(store) != []
    store.close()
