"""``TmemStore``: LangGraph's ``BaseStore`` on tmem, with the real ``langgraph`` package.

LangGraph ships no store conformance suite in its wheel, so the listing behaviour is checked
against LangGraph's own reference store (``InMemoryStore``) op for op, and the rest (recall,
erasure, users, errors, a compiled graph) against tmem. The embedder is the hashing one, so
"shares a word" is what makes a memory similar; stores are the contract suite's backends.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from langgraph.graph import START, StateGraph
from langgraph.runtime import Runtime
from langgraph.store.base import (
    GetOp,
    InvalidNamespaceError,
    ListNamespacesOp,
    MatchCondition,
    PutOp,
    SearchOp,
)
from langgraph.store.memory import InMemoryStore
from typing_extensions import TypedDict

from tests.fakes.openai_server import FakeOpenAIServer
from tests.store.conftest import backend, make_store, store  # noqa: F401 - fixtures
from tests.store.pg_server import (  # noqa: F401 - fixtures the postgres backend needs
    pg_database_url,
    pg_new_url,
    pg_server,
)
from tmem import Config, EmbedderConfig, LLMConfig, Memory
from tmem.errors import InputError
from tmem.integrations import langgraph as tmem_langgraph
from tmem.integrations.keyvalue import item_id
from tmem.integrations.langgraph import TmemStore
from tmem.models import Item as TmemItem
from tmem.models import Turn
from tmem.store.base import Store

HASH = Config(embedder=EmbedderConfig(kind="hash"))
ANA = ("ana", "memories")


@pytest.fixture
def mem(store: Store) -> Iterator[Memory]:  # noqa: F811
    with Memory.open(config=HASH, store=store) as memory:
        yield memory


@pytest.fixture
def lite() -> Iterator[Memory]:
    """SQLite in memory, for tests about the mapping rather than the backend."""
    with Memory.open(":memory:", HASH) as memory:
        yield memory


def export_text(memory: Memory, user: str) -> str:
    return json.dumps(list(memory.export(user)))


# --- items on every store -------------------------------------------------------------------------
def test_put_get_keeps_the_value_and_created_at_and_overwrite_erases_the_old_one(
    mem: Memory,
) -> None:
    kv = TmemStore(mem)
    value = {"text": "Ben is allergic to shellfish", "tags": ["diet"], "n": 2.5, "deep": {"x": [1]}}
    kv.put(ANA, "diet", value)
    first = kv.get(ANA, "diet")
    assert first is not None
    assert (first.namespace, first.key, first.value) == (ANA, "diet", value)
    assert first.created_at == first.updated_at and first.created_at.tzinfo is not None

    kv.put(ANA, "diet", {"text": "Ben now eats oysters"})
    second = kv.get(ANA, "diet")
    assert second is not None and second.value == {"text": "Ben now eats oysters"}
    assert second.created_at == first.created_at and second.updated_at > first.updated_at
    # A put over a key is tmem's delete then add: the old value is gone, not kept in history.
    assert "shellfish" not in export_text(mem, "ana")
    assert [e.event for e in mem.history(item_id(ANA, "diet"), "ana")][:1] == ["deleted"]
    assert kv.search(ANA, query="shellfish allergic") == []
    (hit,) = kv.search(ANA, query="oysters")
    assert hit.key == "diet" and hit.score is not None and hit.score > 0


def test_delete_erases_the_memory_and_keys_are_per_namespace(mem: Memory) -> None:
    kv = TmemStore(mem)
    kv.put(ANA, "k", {"text": "the cello teacher is called Ines"})
    kv.put(("ana", "profile"), "k", {"text": "Ana lives in Lisbon"})
    assert kv.get(("ana", "profile"), "k") is not None
    kv.delete(ANA, "k")
    assert kv.get(ANA, "k") is None
    assert "Ines" not in export_text(mem, "ana")
    assert kv.search(("ana",), query="cello teacher") == []
    assert [i.namespace for i in kv.search(("ana",))] == [("ana", "profile")]
    kv.delete(ANA, "never-stored")  # deleting what is not there is a no-op, as in LangGraph
    assert [t.id for t in mem.list("ana", "turn")] == [item_id(("ana", "profile"), "k")]


def test_search_is_tmem_recall_within_the_prefix_and_the_user(mem: Memory) -> None:
    kv = TmemStore(mem)
    kv.put(ANA, "diet", {"text": "Ben is allergic to shellfish"})
    kv.put(ANA, "music", {"text": "Ana started learning the cello"})
    kv.put(("ana", "work"), "menu", {"text": "the shellfish menu at the harbour"})
    kv.put(("ben", "memories"), "diet", {"text": "Ben is allergic to shellfish"})

    hits = kv.search(("ana",), query="shellfish allergy")
    assert [(h.namespace, h.key) for h in hits] == [(ANA, "diet"), (("ana", "work"), "menu")]
    assert hits[0].score is not None and hits[1].score is not None
    assert hits[0].score > hits[1].score
    assert [h.key for h in kv.search(ANA, query="shellfish allergy")] == ["diet"]
    assert [h.key for h in kv.search(ANA, query="shellfish", offset=1)] == []
    assert [h.namespace for h in kv.search(("ben",), query="shellfish")] == [("ben", "memories")]
    # tmem's own search sees the same memory, with the channels that reached it
    (top, *_) = mem.search("shellfish allergy", user_id="ana")
    assert top.id == item_id(ANA, "diet") and "bm25" in top.reached_by


@pytest.mark.anyio
async def test_the_async_methods_run_the_same_batch(mem: Memory) -> None:
    kv = TmemStore(mem)
    await kv.aput(ANA, "diet", {"text": "Ben is allergic to shellfish"})
    item = await kv.aget(ANA, "diet")
    assert item is not None and item.value["text"].startswith("Ben")
    hits = await kv.asearch(ANA, query="shellfish")
    assert [h.key for h in hits] == ["diet"]
    assert await kv.alist_namespaces() == [ANA]
    await kv.adelete(ANA, "diet")
    assert await kv.aget(ANA, "diet") is None


# --- the listing, op for op against LangGraph's InMemoryStore ------------------------------------
PUTS: list[tuple[tuple[str, ...], str, dict[str, Any] | None]] = [
    (("ana", "memories"), "a", {"kind": "fact", "score": 3, "text": "cello on Mondays"}),
    (("ana", "memories"), "b", {"kind": "fact", "score": 5, "text": "Ben and shellfish"}),
    (("ana", "memories", "food"), "c", {"kind": "pref", "score": 4, "tags": ["veg", "tea"]}),
    (("ana", "profile"), "d", {"kind": "pref", "score": 1, "meta": {"lang": "pt", "v": 2}}),
    (("ana", "profile", "v1"), "e", {"kind": "fact", "score": 2, "when": "2025-03-01"}),
    (("ana", "profile", "v1"), "f", {"kind": "fact", "score": 7}),
    (("ben", "memories"), "a", {"kind": "fact", "score": 9}),
    (("ana", "memories"), "b", {"kind": "fact", "score": 6, "text": "Ben and oysters"}),
    (("ana", "profile", "v1"), "e", None),
    (("ana", "profile", "v2"), "e", {"kind": "fact", "score": 2, "when": "2025-04-01"}),
]
FILTERS: list[dict[str, Any]] = [
    {},
    {"kind": "fact"},
    {"score": {"$gte": 4}},
    {"kind": "pref", "score": {"$lt": 4}},
    {"meta": {"lang": "pt"}},
    {"tags": ["veg", "tea"]},
    {"when": "2025-04-01"},
    {"kind": {"$ne": "fact"}},
]
LISTINGS: list[dict[str, Any]] = [
    {},
    {"prefix": ("ana",)},
    {"prefix": ("ana", "profile")},
    {"suffix": ("memories",)},
    {"prefix": ("*", "memories")},
    {"suffix": ("profile", "*")},
    {"prefix": ("ana",), "max_depth": 2},
    {"max_depth": 1},
    {"prefix": ("ana",), "limit": 2, "offset": 1},
]


def loaded(kv: Any) -> Any:
    for namespace, key, value in PUTS:
        if value is None:
            kv.delete(namespace, key)
        else:
            kv.put(namespace, key, value)
    return kv


def keyed(items: list[Any]) -> list[tuple[tuple[str, ...], str, dict[str, Any]]]:
    return sorted((i.namespace, i.key, i.value) for i in items)


def test_listing_filtering_and_namespaces_match_langgraphs_reference_store(mem: Memory) -> None:
    ours, reference = loaded(TmemStore(mem)), loaded(InMemoryStore())
    for prefix in [("ana",), ("ana", "memories"), ("ana", "profile"), ("ben",), ("cleo",)]:
        for conditions in FILTERS:
            got = ours.search(prefix, filter=conditions, limit=100)
            want = reference.search(prefix, filter=conditions, limit=100)
            assert keyed(got) == keyed(want), (prefix, conditions)
            assert all(item.score is None for item in got)
    for listing in LISTINGS:
        assert ours.list_namespaces(**listing) == reference.list_namespaces(**listing), listing


def test_a_listing_is_newest_first_and_pages(lite: Memory) -> None:
    kv = TmemStore(lite)
    for key in "abcde":
        kv.put(ANA, key, {"key": key})
    kv.put(ANA, "b", {"key": "b", "again": True})
    assert [i.key for i in kv.search(ANA)] == ["b", "e", "d", "c", "a"]
    assert [i.key for i in kv.search(ANA, limit=2, offset=2)] == ["d", "c"]
    kv.batch([PutOp(ANA, "x", {"n": 1}), PutOp(ANA, "y", {"n": 2})])  # one instant: later op first
    assert [i.key for i in kv.search(ANA, limit=3)] == ["y", "x", "b"]
    assert kv.search(ANA, limit=0) == []


def test_a_query_search_asks_tmem_for_more_until_the_prefix_has_its_page(lite: Memory) -> None:
    kv = TmemStore(lite)
    noise = tmem_langgraph.RECALL_DEPTH + 10
    for n in range(noise):  # better matches for the query, all outside the prefix searched
        kv.put(("ana", "other"), f"n{n}", {"text": f"shellfish shellfish allergy {n}"})
    kv.put(ANA, "target", {"text": "a mild shellfish note among other things said"})
    assert len(lite.search("shellfish allergy", "ana", limit=tmem_langgraph.RECALL_DEPTH)) == 40
    hits = kv.search(ANA, query="shellfish allergy")
    assert [h.key for h in hits] == ["target"]
    assert len(kv.search(("ana",), query="shellfish allergy", limit=50)) == 50


def test_filters_apply_to_what_tmem_recalls(lite: Memory) -> None:
    kv = TmemStore(lite)
    kv.put(ANA, "a", {"text": "shellfish at the harbour", "year": 2024})
    kv.put(ANA, "b", {"text": "shellfish allergy for Ben", "year": 2025})
    kv.put(ANA, "c", {"text": "cello lessons", "year": 2025})
    hits = kv.search(ANA, query="shellfish", filter={"year": {"$gte": 2025}})
    assert [h.key for h in hits] == ["b"]


# --- users ----------------------------------------------------------------------------------------
def test_the_user_label_scopes_every_item_and_delete_user_erases_all_namespaces(
    lite: Memory,
) -> None:
    kv = TmemStore(lite, user_index=1)
    kv.put(("memories", "ana"), "diet", {"text": "Ben is allergic to shellfish"})
    kv.put(("profile", "ana"), "city", {"text": "Lisbon"})
    kv.put(("memories", "ben"), "diet", {"text": "Ben is allergic to shellfish"})
    assert sorted(lite.store.users()) == ["ana", "ben"]
    assert kv.list_namespaces(prefix=("memories",)) == [("memories", "ana"), ("memories", "ben")]
    assert [i.key for i in kv.search(("memories", "ben"), query="shellfish")] == ["diet"]
    lite.delete_user("ana")
    assert kv.list_namespaces() == [("memories", "ben")]
    assert kv.get(("profile", "ana"), "city") is None


def test_other_memories_of_the_user_are_not_items_and_are_left_alone(lite: Memory) -> None:
    kv = TmemStore(lite)
    lite.add([{"id": "t1", "speaker": "Ana", "content": "shellfish makes Ben ill"}], "ana", "s1")
    kv.put(ANA, "diet", {"text": "Ben is allergic to shellfish"})
    assert [h.key for h in kv.search(("ana",), query="shellfish Ben")] == ["diet"]
    assert [i.key for i in kv.search(("ana",))] == ["diet"]
    assert kv.list_namespaces() == [ANA]
    # A turn someone stored under an item's id is not overwritten by a put of that key.
    squatter = item_id(ANA, "taken")
    lite.add([{"id": squatter, "speaker": "Ana", "content": "mine"}], "ana", "s1")
    assert kv.get(ANA, "taken") is None
    with pytest.raises(InputError, match="not the item 'taken'"):
        kv.put(ANA, "taken", {"text": "x"})
    turn = lite.get(squatter, "ana")
    assert isinstance(turn, Turn) and turn.content == "mine"


# --- what tmem cannot do is refused before anything is written ---------------------------------
@pytest.mark.parametrize(
    ("ops", "error", "match"),
    [
        ([PutOp(ANA, "k", {"a": 1}, ttl=5.0)], InputError, "TTL"),
        ([PutOp(ANA, "k", {"a": 1}, index=False)], InputError, "index=None"),
        ([PutOp(ANA, "k", {"a": 1}, index=["a"])], InputError, "index=None"),
        ([PutOp(ANA, "k", {"when": object()})], InputError, "not JSON-serializable"),
        ([PutOp(ANA, "k", {"text": "x" * 100_001})], InputError, "longer than"),
        ([PutOp(("langgraph", "x"), "k", {"a": 1})], InvalidNamespaceError, "langgraph"),
        ([PutOp(("ana", "a.b"), "k", {"a": 1})], InvalidNamespaceError, "'.'"),
        ([PutOp((), "k", {"a": 1})], InvalidNamespaceError, "position 0"),
        ([SearchOp((), query="x")], InvalidNamespaceError, "names the tmem user"),
        ([SearchOp(ANA, filter={"a": {"$in": [1]}})], InputError, "operator"),
        ([SearchOp(ANA, limit=-1)], InputError, "limit"),
        ([GetOp(("\x01",), "k")], InputError, "user_id"),
        ([ListNamespacesOp((MatchCondition("infix", ("a",)),))], InputError, "match type"),
    ],
)
def test_refused_ops_raise_and_the_batch_writes_nothing(
    lite: Memory, ops: list[Any], error: type[Exception], match: str
) -> None:
    kv = TmemStore(lite)
    with pytest.raises(error, match=match):
        kv.batch([PutOp(ANA, "first", {"text": "written only if all ops pass"}), *ops])
    assert lite.list("ana") == []


def test_ttl_and_user_index_are_refused_through_the_public_methods(lite: Memory) -> None:
    with pytest.raises(NotImplementedError, match="TTL is not supported by TmemStore"):
        TmemStore(lite).put(ANA, "k", {"a": 1}, ttl=1.0)  # LangGraph's own check
    with pytest.raises(InvalidNamespaceError, match="position 2"):
        TmemStore(lite, user_index=2).put(ANA, "k", {"a": 1})
    with pytest.raises(InputError, match="user_index"):
        TmemStore(lite, user_index=-1)


def test_a_batch_runs_in_order_and_a_later_put_of_a_key_wins(lite: Memory) -> None:
    kv = TmemStore(lite)
    results = kv.batch(
        [
            GetOp(ANA, "k"),
            PutOp(ANA, "k", {"v": 1}),
            PutOp(ANA, "k", {"v": 2}),
            GetOp(ANA, "k"),
            PutOp(ANA, "k", None),
            GetOp(ANA, "k"),
        ]
    )
    assert results[0] is None and results[1] is None and results[2] is None
    assert results[3] is not None and results[3].value == {"v": 2}
    assert results[4] is None and results[5] is None


# --- a real graph ----------------------------------------------------------------------------
class State(TypedDict):
    user: str
    message: str
    recalled: list[str]


def remember(state: State, runtime: Runtime[None]) -> dict[str, Any]:
    assert runtime.store is not None
    runtime.store.put((state["user"], "memories"), str(uuid.uuid4()), {"text": state["message"]})
    return {}


def recall(state: State, runtime: Runtime[None]) -> dict[str, Any]:
    assert runtime.store is not None
    found = runtime.store.search((state["user"], "memories"), query=state["message"], limit=3)
    return {"recalled": [item.value["text"] for item in found]}


async def aremember(state: State, runtime: Runtime[None]) -> dict[str, Any]:
    assert runtime.store is not None
    key = str(uuid.uuid4())
    await runtime.store.aput((state["user"], "memories"), key, {"text": state["message"]})
    return {}


async def arecall(state: State, runtime: Runtime[None]) -> dict[str, Any]:
    assert runtime.store is not None
    namespace = (state["user"], "memories")
    found = await runtime.store.asearch(namespace, query=state["message"], limit=3)
    return {"recalled": [item.value["text"] for item in found]}


def graph(kv: TmemStore, nodes: tuple[Any, Any]) -> Any:
    builder = StateGraph(State)
    builder.add_node("remember", nodes[0])
    builder.add_node("recall", nodes[1])
    builder.add_edge(START, "remember")
    builder.add_edge("remember", "recall")
    return builder.compile(store=kv)


def test_a_compiled_graph_puts_and_searches_through_the_store(mem: Memory) -> None:
    app = graph(TmemStore(mem), (remember, recall))
    first = app.invoke({"user": "ana", "message": "Ben is allergic to shellfish", "recalled": []})
    assert first["recalled"] == ["Ben is allergic to shellfish"]
    app.invoke({"user": "ben", "message": "I love shellfish", "recalled": []})
    later = app.invoke({"user": "ana", "message": "shellfish for dinner?", "recalled": []})
    assert later["recalled"] == ["shellfish for dinner?", "Ben is allergic to shellfish"]
    assert len(mem.list("ana", "turn")) == 2 and len(mem.list("ben", "turn")) == 1


@pytest.mark.anyio
async def test_an_async_graph_uses_the_async_store_methods(lite: Memory) -> None:
    app = graph(TmemStore(lite), (aremember, arecall))
    await app.ainvoke({"user": "ana", "message": "Ben is allergic to shellfish", "recalled": []})
    later = await app.ainvoke({"user": "ana", "message": "any shellfish?", "recalled": []})
    assert later["recalled"] == ["any shellfish?", "Ben is allergic to shellfish"]


# --- full mode: recall by association, erasure of what was derived -------------------------------
FACT = "Priya carries an epinephrine pen because shellfish makes her throat swell."
ENTITY = "seafood sensitivity"


def segment(body: dict[str, Any]) -> str:
    scene = {"start": 1, "end": 1, "continues_open_scene": False, "title": "A note",
             "summary": "A stored note.", "narrative": "A note was written down."}  # fmt: skip
    return json.dumps({"scenes": [scene]})


def extract(body: dict[str, Any]) -> str:
    turns = body["messages"][-1]["content"].split("Turns to extract from", 1)[1]
    item = {"content": FACT, "keywords": ["Priya", "epinephrine"], "source_turns": [1],
            "triggers": [{"concept": ENTITY, "bridge": "", "confidence": 0.9}]}  # fmt: skip
    facets = {"situation": "a note", "object": "a pen", "event": "a note", "emotion": "calm"}
    items = [item] if "epinephrine" in turns else []
    return json.dumps({"items": items, "scene": facets, "horizon": {}, "persona": []})


def test_full_mode_reaches_an_item_by_a_trigger_and_erases_what_it_derived(
    lite: Memory, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.script_chat("segment@2", segment)
    fake_openai.script_chat("extract@2", extract)
    llm = LLMConfig(base_url=fake_openai.base_url, model="fake-model", max_retries=1)
    with Memory.open(":memory:", replace(HASH, llm=llm)) as full:
        kv = TmemStore(full)
        kv.put(ANA, "priya", {"text": FACT})
        kv.put(ANA, "cello", {"text": "Ana started the cello"})
        (derived,) = [r for r in full.list("ana", "item") if isinstance(r, TmemItem)]
        assert derived.source_turns == (item_id(ANA, "priya"),)

        query = "What seafood sensitivity matters?"  # shares no word with the value
        hits = kv.search(ANA, query=query)
        assert [h.key for h in hits] == ["priya"] and hits[0].value == {"text": FACT}
        (top, *_) = full.search(query, "ana")
        assert "entity" in top.reached_by and not {"dense", "bm25"} & set(top.reached_by)

        kv.put(ANA, "priya", {"text": "Priya moved to Porto"})
        assert full.list("ana", "item") == []  # the fact derived from the old value is erased
        assert kv.search(ANA, query=query) == []
        assert "epinephrine" not in export_text(full, "ana")


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        yield server
