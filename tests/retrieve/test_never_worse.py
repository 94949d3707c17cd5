"""Full mode is never worse than LLM-free mode on the same turns, whatever the model writes.

The comparison, per query and per turn, in two forms:

* the *first covering rank* of a turn is the rank of the first hit whose ``source_turns``
  contain it;
* its *turn rank* is its position when the hits are expanded into their source turns in order,
  repeats dropped, as the benchmarks score retrieval.

For every turn among LLM-free mode's top ``LIMIT`` hits, both ranks in full mode must be no
worse (no larger) than in LLM-free mode, where every hit is one turn and the two coincide.
Nothing is claimed about turns LLM-free mode does not return.

The model's output ranges over partial derivations: nothing valid, scenes only, items only,
everything, and random mixtures chunk by chunk, including hostile output that a small model
writes: items citing the wrong turn, and scene facets, Horizon sentences and triggers that copy
the queries themselves so they outrank the real evidence. Replies are hand-authored in the
prompts' schemas and served by the fake OpenAI-compatible server over HTTP; both stores are
real (a SQLite file, and the test Postgres server).
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.openai_server import FakeOpenAIServer
from tests.store.pg_server import pg_database_url, pg_new_url, pg_server  # noqa: F401
from tmem import Config, EmbedderConfig, LLMConfig, Memory
from tmem.demo.show import sample
from tmem.models import Hit
from tmem.retrieve.merge import merge_floor

LIMIT = 10
TURN_LINE = re.compile(r"^\[(\d+)\] \S+ \S+ \(\w+\)(?: \(gap: \w+\))? ([^:]+): (.*)$", re.M)
QUERIES = [
    *(q["query"] for group in sample()["queries"].values() for q in group),
    "deploy pipeline onboarding engineers",
    "Who is training for a race?",
    "grandmother keepsake recipe",
    "What did the physio say?",
    "dinner venue harbour",
    "bike commute rain",
]


@dataclass(frozen=True)
class Scenario:
    """How the scripted model behaves, chunk by chunk (decided from a seeded RNG per chunk)."""

    name: str
    segment_ok: float  # chance a segmentation window gets a valid reply
    extract_ok: float  # chance an extraction chunk gets a valid reply
    items: float  # chance each turn of a valid chunk gets an item
    hostile: float  # chance each written text copies a query or cites a wrong turn
    seed: int = 0
    retell: int = 0  # a narrative retells the chat this many times (a small model's habit)


SCENARIOS = [
    Scenario("nothing", 0.0, 0.0, 0.0, 0.0),
    Scenario("scenes-only", 1.0, 0.0, 0.0, 0.0),
    Scenario("scenes-no-items", 1.0, 1.0, 0.0, 0.0),
    Scenario("items-sparse", 1.0, 1.0, 0.3, 0.0),
    Scenario("everything", 1.0, 1.0, 1.0, 0.0),
    Scenario("hostile-scenes", 1.0, 1.0, 0.0, 1.0),
    Scenario("hostile-everything", 1.0, 1.0, 1.0, 0.6, seed=1),
    # Narratives that retell the whole chat many times over, as small models do.
    Scenario("retelling-scenes", 1.0, 1.0, 0.5, 0.0, retell=40),
    *(Scenario(f"mixed-{seed}", 0.7, 0.6, 0.5, 0.4, seed=seed) for seed in range(2, 6)),
]


def _turns_of(body: dict[str, Any]) -> list[tuple[int, str]]:
    text = body["messages"][-1]["content"]
    return [(int(n), content) for n, _, content in TURN_LINE.findall(text)]


class ScriptedModel:
    """Hand-authored replies for one scenario; the RNG is keyed by the chunk's text."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario

    def _rng(self, body: dict[str, Any], salt: str) -> random.Random:
        turns = "|".join(content for _, content in _turns_of(body))
        return random.Random(f"{self.scenario.seed}:{salt}:{turns}")

    def _text(self, rng: random.Random, own: str) -> str:
        if rng.random() < self.scenario.hostile:
            return f"{rng.choice(QUERIES)} {rng.choice(QUERIES)}"
        return own

    def _narrative(self, body: dict[str, Any]) -> str:
        if not self.scenario.retell:
            return "They talk about their week."
        told = " ".join(content for _, content in _turns_of(body))
        return " ".join([told] * self.scenario.retell)

    def segment(self, body: dict[str, Any]) -> str:
        rng = self._rng(body, "segment")
        if rng.random() >= self.scenario.segment_ok:
            return "not JSON"
        numbers = [n for n, _ in _turns_of(body)]
        cuts = sorted(rng.sample(numbers[1:], k=min(2, len(numbers) - 1)))
        spans, start = [], 1
        for end in [*(c - 1 for c in cuts), numbers[-1]]:
            title = self._text(rng, f"Part of a chat from turn {start}")
            spans.append(
                {
                    "start": start,
                    "end": end,
                    "continues_open_scene": False,
                    "title": title,
                    "summary": self._text(rng, "Two friends talk."),
                    "narrative": self._text(rng, self._narrative(body)),
                }
            )
            start = end + 1
        return json.dumps({"scenes": spans})

    def extract(self, body: dict[str, Any]) -> str:
        rng = self._rng(body, "extract")
        if rng.random() >= self.scenario.extract_ok:
            return "not JSON"
        turns = _turns_of(body)
        items = [self._item(rng, n, content, turns) for n, content in turns]
        facets = {
            key: self._text(rng, f"a plain {key} of an ordinary chat")
            for key in ("situation", "object", "event", "emotion")
        }
        horizon = {
            "GOAL_ARC": {"sent": self._text(rng, "Plans may change next month."), "confidence": 0.8}
        }
        return json.dumps(
            {
                "items": [i for i in items if i is not None],
                "scene": facets,
                "horizon": horizon,
                "persona": [],
            }
        )

    def _item(
        self, rng: random.Random, number: int, content: str, turns: Sequence[tuple[int, str]]
    ) -> dict[str, Any] | None:
        if rng.random() >= self.scenario.items:
            return None
        cited = number
        if rng.random() < self.scenario.hostile:
            cited = rng.choice(turns)[0]  # cites a wrong turn
        concept = self._text(rng, "everyday matters")
        return {
            "content": self._text(rng, content),
            "keywords": [],
            "source_turns": [cited],
            "triggers": [
                {"concept": concept[:40], "bridge": self._text(rng, ""), "confidence": 0.9}
            ],
        }


def _sessions() -> list[dict[str, Any]]:
    sessions: list[dict[str, Any]] = sample()["sessions"]
    return sessions


def _ingest(mem: Memory) -> None:
    for session in _sessions():
        mem.add(session["messages"], user_id="u", session_id=session["session_id"])


def first_covering_ranks(hits: Sequence[Hit]) -> dict[str, int]:
    ranks: dict[str, int] = {}
    for rank, hit in enumerate(hits, start=1):
        for turn in hit.source_turns:
            ranks.setdefault(turn, rank)
    return ranks


def turn_ranks(hits: Sequence[Hit]) -> dict[str, int]:
    expanded = dict.fromkeys(t for hit in hits for t in hit.source_turns)
    return {t: rank for rank, t in enumerate(expanded, start=1)}


def assert_never_worse(free: Sequence[Hit], full: Sequence[Hit], query: str) -> None:
    before = first_covering_ranks(free)
    assert before == turn_ranks(free)  # LLM-free hits are single turns
    for ranks in (first_covering_ranks(full), turn_ranks(full)):
        worse = {t: (r, ranks.get(t)) for t, r in before.items() if ranks.get(t, 10**6) > r}
        assert not worse, f"{query!r}: turn -> (LLM-free rank, full-mode rank): {worse}"
    assert len({h.id for h in full}) == len(full), "a memory was shown twice"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def locate(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[str], str]:
    if request.param == "sqlite":
        return lambda name: str(tmp_path / f"{name}.db")
    new_url: Callable[[], str] = request.getfixturevalue("pg_new_url")
    return lambda name: new_url()


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as fake:
        yield fake


HASH = EmbedderConfig(kind="hash")


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_full_mode_never_ranks_a_turn_lower_than_llm_free_mode(
    scenario: Scenario, locate: Callable[[str], str], server: FakeOpenAIServer
) -> None:
    model = ScriptedModel(scenario)
    server.script_chat("segment@2", model.segment)
    server.script_chat("extract@2", model.extract)
    full_config = Config(
        llm=LLMConfig(base_url=server.base_url, model="scripted", max_retries=0, output_retries=0),
        embedder=HASH,
    )
    with (
        Memory.open(locate("free"), Config(embedder=HASH)) as free,
        Memory.open(locate("full"), full_config) as full,
    ):
        _ingest(free)
        _ingest(full)
        derived = len(full.list("u", "item")) + len(full.list("u", "scene"))
        for query in QUERIES:
            assert_never_worse(
                free.search(query, "u", limit=LIMIT), full.search(query, "u", limit=LIMIT), query
            )
    if scenario.name == "everything":
        assert derived > 0  # the scripted model did write memories


def _hit(hit_id: str, kind: str, turns: Sequence[str]) -> Hit:
    return Hit(hit_id, kind, hit_id, 0.0, None, tuple(turns), ())  # type: ignore[arg-type]


@pytest.mark.parametrize("seed", range(200))
def test_merge_floor_holds_for_any_derived_ranking(seed: int) -> None:
    """The pure merge, over random turn rankings and random derived hits."""
    rng = random.Random(seed)
    pool = [f"t{i}" for i in range(30)]
    turns = [_hit(t, "turn", [t]) for t in rng.sample(pool, k=rng.randint(0, 15))]
    derived = [
        _hit(f"d{i}", rng.choice(["scene", "item"]), rng.sample(pool, k=rng.randint(1, 6)))
        for i in range(rng.randint(0, 12))
    ]
    limit = rng.randint(1, 15)
    merged = merge_floor(turns, derived, limit)
    assert len(merged) <= limit
    assert_never_worse(turns[:limit], merged, f"seed {seed}")
    stated = [t for h in merged if h.kind != "scene" for t in h.source_turns]
    assert all(
        h.kind == "scene" or not set(h.source_turns) <= set(stated[: _offset(merged, h)])
        for h in merged
    )
    assert [h.score for h in merged] == sorted((h.score for h in merged), reverse=True)


def _offset(merged: Sequence[Hit], hit: Hit) -> int:
    """How many stated turns precede ``hit`` (turns of items and turns ranked before it)."""
    count = 0
    for other in merged:
        if other is hit:
            return count
        if other.kind != "scene":
            count += len(other.source_turns)
    return count
