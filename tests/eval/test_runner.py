from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from tmem.config import Config, EmbedderConfig
from tmem.embed.hashing import HashEmbedder
from tmem.errors import EvalError
from tmem.eval.plus import load_plus, parse_dialogue, select_split
from tmem.eval.runner import run_locomo, run_plus
from tmem.llm.base import LLMRequest
from tmem.llm.replay import ScriptedLLM

from .standin import StandInMemory

FIXTURE = Path(__file__).with_name("tiny_locomo.json")
DEVSET = Path(__file__).resolve().parents[2] / "benchmarks" / "devset" / "associative-dev.json"
CONFIG = Config(embedder=EmbedderConfig(kind="hash", dim=64))


def standin(path: Path, now: datetime) -> StandInMemory:
    return StandInMemory(path, now)


def test_locomo_retrieval_writes_results_report_and_plots(tmp_path: Path) -> None:
    results = run_locomo(
        FIXTURE,
        None,
        "retrieval",
        ["tmem", "bm25", "full-context"],
        tmp_path,
        CONFIG,
        progress=False,
        memory_factory=standin,
        command="tmem bench locomo",
    )
    tmem = results["systems"]["tmem"]
    assert tmem["n"] == 4
    assert set(tmem["by_category"]) == {"1", "2", "4"}
    assert tmem["by_category"]["1"]["name"] == "multi-hop"
    assert tmem["by_category"]["4"]["n"] == 2
    assert 0.0 <= tmem["overall"]["any_hit@10"] <= 1.0
    assert tmem["latency_ms"]["n"] == 4 and tmem["latency_ms"]["p95"] >= tmem["latency_ms"]["p50"]
    assert tmem["ingest"]["turns"] == 9
    assert tmem["usage"]["ingest_llm_calls_per_turn"] == 1.0
    assert results["systems"]["full-context"]["usage"]["context_tokens_mean"] > 0
    assert results["config_fingerprint"] == CONFIG.fingerprint()
    assert results["models"] == {"embedder": HashEmbedder(dim=64).name, "llm": None}
    assert results["command"] == "tmem bench locomo"
    assert {"prompt_versions", "git_commit", "config"} <= set(results)
    on_disk = json.loads((tmp_path / "results.json").read_text())
    assert on_disk["systems"]["bm25"]["overall"] == results["systems"]["bm25"]["overall"]
    assert "| any_hit@10 |" in (tmp_path / "report.md").read_text()
    assert len((tmp_path / "questions.jsonl").read_text().splitlines()) == 8
    assert {p.name for p in tmp_path.glob("*.png")} == {
        "recall_at_k.png",
        "by_group.png",
        "latency.png",
    }


def test_each_conversation_gets_a_fresh_memory_with_its_sessions(tmp_path: Path) -> None:
    StandInMemory.opened.clear()
    run_locomo(
        FIXTURE,
        [1, 0],
        "retrieval",
        ["tmem"],
        tmp_path,
        CONFIG,
        progress=False,
        memory_factory=standin,
    )
    assert [p.name for p in StandInMemory.opened] == ["conv-b.sqlite", "conv-a.sqlite"]


def judge_and_answer(request: LLMRequest) -> str:
    text = request.messages[-1].content
    if request.prompt_id.startswith("eval.baseline_answer"):
        return '{"answer": "Pixel"}'
    if "Generated answer: Ada: I adopted" in text:
        return '{"reason": "names the cat", "label": "CORRECT"}'
    if "hobbies" in text:
        return "CORRECT, I think"  # never parses: counted wrong, one retry
    return '{"reason": "no", "label": "WRONG"}'


def test_locomo_qa_mode_judges_strictly_and_caches(tmp_path: Path) -> None:
    llm = ScriptedLLM(judge_and_answer)
    results = run_locomo(
        FIXTURE,
        [0],
        "qa",
        ["tmem", "bm25"],
        tmp_path,
        CONFIG,
        progress=False,
        llm=llm,
        memory_factory=standin,
    )
    tmem = results["systems"]["tmem"]
    # QA grades all four category 1-4 questions of conv-a, including the one without evidence.
    assert tmem["n"] == 4
    assert tmem["usage"]["judge_parse_failures"] == 1
    assert tmem["usage"]["judge_llm_calls"] == 5  # 4 verdicts + 1 retry
    assert tmem["usage"]["query_llm_calls_per_query"] == 1.0
    assert {"j", "f1", "bleu1"} <= set(tmem["overall"])
    assert results["systems"]["bm25"]["by_category"]["4"]["f1"] == 1.0  # "Pixel" vs "Pixel"
    assert (tmp_path / "llm-cache.sqlite").exists()
    # QA mode asks questions on worker threads; records keep the question order.
    lines = [json.loads(line) for line in (tmp_path / "questions.jsonl").read_text().splitlines()]
    assert [r["id"] for r in lines if r["system"] == "tmem"] == [f"conv-a/q{i}" for i in range(4)]
    assert results["llm_cache"]["sent"] == llm.calls
    calls = llm.calls
    again = run_locomo(FIXTURE, [0], "qa", ["bm25"], tmp_path, CONFIG, progress=False, llm=llm)
    assert llm.calls == calls  # answered from the cache
    assert again["llm_cache"]["sent"] == 0 and again["llm_cache"]["replayed"] > 0
    # What the system spends does not depend on how much of the run was replayed.
    assert again["systems"]["bm25"]["usage"] == results["systems"]["bm25"]["usage"]


def test_qa_mode_without_llm_fails_and_bad_names_fail(tmp_path: Path) -> None:
    with pytest.raises(EvalError):
        run_locomo(FIXTURE, None, "qa", ["bm25"], tmp_path, CONFIG, progress=False)
    with pytest.raises(EvalError):
        run_locomo(FIXTURE, None, "retrieval", ["mem0"], tmp_path, CONFIG, progress=False)
    with pytest.raises(EvalError):
        run_locomo(FIXTURE, [5], "retrieval", ["bm25"], tmp_path, CONFIG, progress=False)


def write_items(path: Path, n: int) -> Path:
    items = [
        {
            "relation_type": ["causal", "state", "goal", "value"][i % 4],
            "cue_dialogue": f"A: My violin number {i} was stolen.\nB: That is awful.",
            "trigger_query": f"A: Should I join the orchestra {i}?",
            "time_gap": f"{i + 1} weeks later",
        }
        for i in range(n)
    ]
    path.write_text(json.dumps(items))
    return path


def test_plus_builds_each_base_once_and_isolates_cues(tmp_path: Path) -> None:
    StandInMemory.opened.clear()
    items = write_items(tmp_path / "items.json", 5)
    results = run_plus(
        items,
        FIXTURE,
        None,
        "retrieval",
        ["tmem", "hybrid"],
        tmp_path / "out",
        CONFIG,
        progress=False,
        memory_factory=standin,
    )
    opened = [p.name for p in StandInMemory.opened]
    assert opened.count("base-0.sqlite") == 1 and opened.count("base-1.sqlite") == 1
    assert [n for n in opened if n.startswith("item-")] == [f"item-{i}.sqlite" for i in range(5)]
    tmem = results["systems"]["tmem"]
    assert tmem["n"] == 5
    assert set(tmem["by_relation_type"]) == {"causal", "state", "goal", "value"}
    assert tmem["by_relation_type"]["causal"]["n"] == 2
    assert results["systems"]["hybrid"]["overall"]["any_hit@50"] == 1.0


def test_plus_library_holds_base_and_own_cue_but_never_the_trigger(tmp_path: Path) -> None:
    seen: list[StandInMemory] = []

    def recording(path: Path, now: datetime) -> StandInMemory:
        memory = StandInMemory(path, now)
        seen.append(memory)
        return memory

    items = write_items(tmp_path / "items.json", 3)
    run_plus(
        items,
        FIXTURE,
        None,
        "retrieval",
        ["tmem"],
        tmp_path / "out",
        CONFIG,
        progress=False,
        memory_factory=recording,
    )
    for memory in seen:
        if not memory.path.name.startswith("item-"):
            continue
        index = int(memory.path.stem.split("-")[1])
        cue_ids = {t["id"] for t in memory.turns if t["id"].startswith("P")}
        assert cue_ids == {f"P{index}:C1", f"P{index}:C2"}
        assert all("orchestra" not in t["content"] for t in memory.turns)
        base_ids = {t["id"] for t in memory.turns if t["id"].startswith("D")}
        assert base_ids  # the base conversation came along with the copy
        assert memory.now.isoformat() > max(t["timestamp"] for t in memory.turns)


def test_real_memory_llm_free_on_fixture(tmp_path: Path) -> None:
    results = run_locomo(
        FIXTURE,
        None,
        "retrieval",
        ["tmem"],
        tmp_path,
        CONFIG,
        progress=False,
        embedder=HashEmbedder(dim=64),
    )
    tmem = results["systems"]["tmem"]
    assert tmem["n"] == 4
    # Both single-hop questions share a content word with their gold turn.
    assert tmem["by_category"]["4"]["any_hit@10"] == 1.0
    assert tmem["usage"]["ingest_llm_calls"] == 0
    assert tmem["ingest"]["turns"] == 9


def test_real_memory_on_devset_items(tmp_path: Path) -> None:
    results = run_plus(
        DEVSET,
        FIXTURE,
        None,
        "retrieval",
        ["tmem", "bm25"],
        tmp_path,
        CONFIG,
        progress=False,
        limit=6,
    )
    tmem = results["systems"]["tmem"]
    assert tmem["n"] == 6 and results["items"] == 6
    # Each base library is built once (6 + 3 turns); each item adds only its own cue turns.
    cue_turns = sum(len(parse_dialogue(item.cue_dialogue)) for item in load_plus(DEVSET)[:6])
    assert tmem["ingest"]["turns"] == 9 + cue_turns


def test_plus_runs_only_the_chosen_half_and_records_it(tmp_path: Path) -> None:
    seen: list[StandInMemory] = []

    def recording(path: Path, now: datetime) -> StandInMemory:
        memory = StandInMemory(path, now)
        seen.append(memory)
        return memory

    results = run_plus(
        DEVSET,
        FIXTURE,
        None,
        "retrieval",
        ["tmem"],
        tmp_path / "out",
        CONFIG,
        progress=False,
        memory_factory=recording,
        split="check",
        limit=4,
    )
    assert results["split"] == "check" and results["items"] == 4
    expected = [
        [said for _, said in parse_dialogue(item.cue_dialogue)]
        for item in select_split(load_plus(DEVSET), "check")[:4]
    ]
    cues = [
        [t["content"] for t in memory.turns if t["id"].startswith("P")]
        for memory in seen
        if memory.path.name.startswith("item-")
    ]
    assert cues == expected
    assert (
        "4 items from the check half of the file." in (tmp_path / "out" / "report.md").read_text()
    )


class CountingEmbedder:
    def __init__(self) -> None:
        self.inner = HashEmbedder(dim=16)
        self.texts = 0

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def dim(self) -> int:
        return self.inner.dim

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        self.texts += len(texts)
        return self.inner.embed(texts)


def test_turns_are_embedded_once_per_conversation_and_not_for_bm25(tmp_path: Path) -> None:
    embedder = CountingEmbedder()
    run_locomo(FIXTURE, None, "retrieval", ["bm25"], tmp_path, CONFIG, False, embedder=embedder)
    assert embedder.texts == 0
    run_locomo(
        FIXTURE, None, "retrieval", ["dense", "hybrid"], tmp_path, CONFIG, False, embedder=embedder
    )
    # 9 turns once, plus one query embedding per question for each dense system (4 + 4)
    assert embedder.texts == 9 + 8


def test_judge_runs_are_separate_requests_and_averaged(tmp_path: Path) -> None:
    replies = iter(['{"label": "CORRECT"}', '{"label": "WRONG"}', '{"label": "CORRECT"}'])

    def judge(request: LLMRequest) -> str:
        return next(replies)

    llm = ScriptedLLM.by_prompt({"eval.locomo_judge": judge})
    results = run_locomo(
        FIXTURE,
        [1],
        "qa",
        ["tmem"],
        tmp_path,
        CONFIG,
        False,
        llm=llm,
        memory_factory=standin,
        judge_runs=3,
    )
    assert results["systems"]["tmem"]["overall"]["j"] == pytest.approx(2 / 3)
    assert [r.prompt_id for r in llm.requests] == [
        "eval.locomo_judge@1",
        "eval.locomo_judge@1#run1",
        "eval.locomo_judge@1#run2",
    ]
    line = json.loads((tmp_path / "questions.jsonl").read_text().splitlines()[0])
    assert line["judge_labels"] == ["CORRECT", "WRONG", "CORRECT"]


def test_plus_qa_mode_judges_awareness_of_the_cue(tmp_path: Path) -> None:
    def respond(request: LLMRequest) -> str:
        aware = "violin" in request.messages[-1].content.split("Later reply:")[-1]
        return '{"reason": "r", "label": "%s"}' % ("CORRECT" if aware else "WRONG")

    llm = ScriptedLLM.by_prompt(
        {"eval.plus_awareness_judge": respond, "eval.baseline_answer": '{"answer": "Sure."}'}
    )
    items = write_items(tmp_path / "items.json", 2)
    results = run_plus(
        items,
        FIXTURE,
        None,
        "qa",
        ["tmem", "bm25"],
        tmp_path / "out",
        CONFIG,
        False,
        llm=llm,
        memory_factory=standin,
    )
    # The stand-in answers with its best-matching turn; with no shared words that is not the cue.
    assert results["systems"]["bm25"]["overall"]["awareness"] == 0.0
    assert results["systems"]["tmem"]["n"] == 2
    assert results["systems"]["tmem"]["usage"]["judge_llm_calls"] == 2


def test_kept_libraries_are_reused_only_when_ingest_inputs_match(tmp_path: Path) -> None:
    libraries = tmp_path / "libraries"

    def run(config: Config, out: str) -> dict[str, Any]:
        return run_plus(
            DEVSET, FIXTURE, None, "retrieval", ["tmem"], tmp_path / out, config,
            progress=False, limit=4, libraries=libraries,
        )  # fmt: skip

    cue_turns = sum(len(parse_dialogue(item.cue_dialogue)) for item in load_plus(DEVSET)[:4])
    first = run(CONFIG, "first")
    assert first["systems"]["tmem"]["ingest"]["turns"] == 9 + cue_turns
    assert len(list(libraries.glob("base-*.sqlite"))) == 2
    # A retrieval setting does not change what ingest writes: the libraries are reused.
    second = run(replace(CONFIG, retrieval=replace(CONFIG.retrieval, rrf_k=10)), "second")
    assert second["systems"]["tmem"]["ingest"]["turns"] == cue_turns
    assert second["libraries"] == str(libraries)
    # A write setting does: both bases are built again, under new names.
    third = run(replace(CONFIG, write=replace(CONFIG.write, max_scene_turns=5)), "third")
    assert third["systems"]["tmem"]["ingest"]["turns"] == 9 + cue_turns
    assert len(list(libraries.glob("base-*.sqlite"))) == 4


def test_locomo_reuses_kept_libraries_and_shares_them_with_plus(tmp_path: Path) -> None:
    libraries = tmp_path / "libraries"

    def locomo(out: str) -> dict[str, Any]:
        return run_locomo(
            FIXTURE, None, "retrieval", ["tmem"], tmp_path / out, CONFIG, progress=False,
            libraries=libraries,
        )  # fmt: skip

    first, second = locomo("first"), locomo("second")
    assert first["systems"]["tmem"]["ingest"]["turns"] == 9
    assert second["systems"]["tmem"]["ingest"]["turns"] == 0
    assert second["systems"]["tmem"]["overall"] == first["systems"]["tmem"]["overall"]
    plus = run_plus(
        DEVSET, FIXTURE, None, "retrieval", ["tmem"], tmp_path / "plus", CONFIG,
        progress=False, limit=2, libraries=libraries,
    )  # fmt: skip
    cue_turns = sum(len(parse_dialogue(item.cue_dialogue)) for item in load_plus(DEVSET)[:2])
    assert plus["systems"]["tmem"]["ingest"]["turns"] == cue_turns
    assert len(list(libraries.glob("base-*.sqlite"))) == 2
