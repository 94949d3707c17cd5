"""``tmem bench longmemeval`` end to end on tests/eval/tiny_longmemeval.json."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

import pytest
from click.testing import CliRunner

from tests.fakes.openai_server import FakeOpenAIServer
from tmem.cli.bench import bench
from tmem.config import Config, EmbedderConfig, LLMConfig
from tmem.eval.longmemeval import haystack, load_longmemeval
from tmem.eval.longmemeval_metrics import LONGMEMEVAL_K, metric_names
from tmem.eval.longmemeval_run import run_longmemeval
from tmem.llm.base import LLMRequest
from tmem.llm.replay import ScriptedLLM
from tmem.models import Answer, Hit, IngestReport, Usage

FIXTURE = Path(__file__).with_name("tiny_longmemeval.json")
INSTANCES = load_longmemeval(FIXTURE)
HASH = Config(embedder=EmbedderConfig(kind="hash", dim=32))
# Test-side knowledge only: which opaque turn ids are evidence, per question text.
GOLD = {
    i.question: {t for t, official in haystack(i).official_ids.items() if "answer" in official}
    for i in INSTANCES
}


class OracleMemory:
    """Ranks the evidence turns first (it is told them by the test, never by the harness) and
    records everything the harness hands it."""

    opened: ClassVar[list[OracleMemory]] = []

    def __init__(self, path: Path, now: datetime) -> None:
        self.path, self.now = path, now
        self.sessions: list[tuple[str | None, list[dict[str, Any]]]] = []
        self.users: set[str] = set()
        OracleMemory.opened.append(self)

    def add(
        self, messages: Sequence[Mapping[str, Any]], user_id: str, session_id: str | None = None
    ) -> IngestReport:
        self.sessions.append((session_id, [dict(m) for m in messages]))
        self.users.add(user_id)
        self.path.write_text("stand-in")  # the harness must remove it afterwards
        ids = tuple(str(m["id"]) for m in messages)
        return IngestReport(user_id, session_id or "", "llm-free", len(ids), 0, 0, {}, 0,
                            Usage(), (), ids)  # fmt: skip

    def search(self, query: str, user_id: str, limit: int = 10) -> list[Hit]:
        turns = [m for _, messages in self.sessions for m in messages]
        ranked = sorted(turns, key=lambda m: m["id"] not in GOLD[query])[:limit]
        return [Hit(m["id"], "turn", m["content"], 1.0, m["timestamp"], (m["id"],), ("oracle",))
                for m in ranked]  # fmt: skip

    def answer(self, question: str, user_id: str) -> Answer:
        return Answer("not used", (), Usage())

    def close(self) -> None:
        pass


def oracle(path: Path, now: datetime) -> OracleMemory:
    return OracleMemory(path, now)


def test_a_perfect_ranking_scores_one_on_the_official_averages(tmp_path: Path) -> None:
    OracleMemory.opened.clear()
    results = run_longmemeval(
        FIXTURE, systems=["tmem"], out_dir=tmp_path, config=HASH, progress=False,
        memory_factory=oracle,
    )  # fmt: skip
    tmem = results["systems"]["tmem"]
    subsets = tmem["subsets"]
    assert tmem["n"] == 7
    assert {name: s["n"] for name, s in subsets.items()} == {
        "all_but_abstention": 6,
        "with_user_evidence": 5,  # q_assist_1's evidence is on the assistant's side
        "abstention": 1,
    }
    perfect = subsets["with_user_evidence"]
    for name in metric_names():
        # recall_all@1 cannot be 1 for two evidence turns; every question here has at most two.
        if not name.endswith(("recall_all@1",)):
            assert perfect[name] == 1.0, name
    assert perfect["turn.recall_all@1"] == perfect["session.recall_all@1"] == 2 / 5
    wider = subsets["all_but_abstention"]
    for k in LONGMEMEVAL_K:
        # The question without a marked user turn: recall_any and nDCG 0, recall_all 1.
        assert wider[f"turn.recall_any@{k}"] == pytest.approx(5 / 6)
        assert wider[f"session.ndcg_any@{k}"] == pytest.approx(5 / 6)
        if k >= 3:
            assert wider[f"session.recall_all@{k}"] == 1.0
    assert tmem["overall"]["turn.recall_any@5"] == wider["turn.recall_any@5"]
    assert "abstention" not in tmem["by_question_type"]  # grouped by type, like the reference
    assert tmem["by_question_type"]["knowledge-update"]["n"] == 2
    assert results["official"] is True and results["roles"] == "user"


def test_each_question_gets_a_fresh_store_that_sees_no_labels(tmp_path: Path) -> None:
    OracleMemory.opened.clear()
    run_longmemeval(FIXTURE, systems=["tmem"], out_dir=tmp_path, config=HASH, progress=False,
                    memory_factory=oracle)  # fmt: skip
    opened = OracleMemory.opened
    searched = [i for i in INSTANCES if not i.abstention]  # nothing scores abstention retrieval
    assert len(opened) == len(searched) == len({m.path for m in opened})
    for memory, instance in zip(opened, searched, strict=True):
        assert not memory.path.exists()  # removed after its question
        assert memory.now == instance.question_date
        shown = json.dumps([memory.sessions, sorted(memory.users)])
        for leak in ("answer", "noans", "has_answer", "_abs", instance.question_id):
            assert leak not in shown.replace(instance.answer, "")
        stamps = [m["timestamp"] for _, messages in memory.sessions for m in messages]
        assert stamps == sorted(stamps)
        assert all(m["speaker"] == "user" for _, ms in memory.sessions for m in ms)


def invoke(args: list[str], config: Config) -> Any:
    result = CliRunner().invoke(bench, args, obj={"config": config})
    assert result.exit_code == 0, result.output
    return result


def test_the_command_runs_every_system_llm_free(tmp_path: Path) -> None:
    out = tmp_path / "lme"
    result = invoke(["longmemeval", "--data", str(FIXTURE), "--systems", "tmem,bm25,dense,hybrid",
                     "--out", str(out), "-q"], HASH)  # fmt: skip
    assert "session.recall_all@10" in result.output
    results = json.loads((out / "results.json").read_text())
    assert results["benchmark"] == "longmemeval" and results["questions"] == 7
    assert set(results["systems"]) == {"tmem", "bm25", "dense", "hybrid"}
    for summary in results["systems"].values():
        assert summary["subsets"]["with_user_evidence"]["n"] == 5
        assert summary["latency_ms"]["n"] == 6  # abstention is not searched
        for name in metric_names():
            assert 0.0 <= summary["overall"][name] <= 1.0
    assert results["systems"]["tmem"]["ingest"]["turns"] == sum(
        len(messages) for i in INSTANCES if not i.abstention for _, messages in haystack(i).sessions
    )
    # The dog question names the breed in its only marked turn: BM25 finds it first.
    lines = [json.loads(line) for line in (out / "questions.jsonl").read_text().splitlines()]
    dog = next(r for r in lines if r["system"] == "bm25" and r["id"] == "q_user_1")
    assert dog["scores"]["turn.recall_any@1"] == 1.0
    assert dog["subsets"] == ["all_but_abstention", "with_user_evidence"]
    report = (out / "report.md").read_text()
    assert "user turns only (the official setup)" in report
    assert "## Subset with_user_evidence" in report
    assert "## session.recall_all@10 by question_type" in report
    assert results["prompt_versions"]["eval.longmemeval_judge"] == "1"


def test_all_roles_and_type_filters(tmp_path: Path) -> None:
    out = tmp_path / "all"
    invoke(["longmemeval", "--data", str(FIXTURE), "--systems", "bm25", "--roles", "all",
            "--types", "single-session-assistant,multi-session", "--questions", "1",
            "--out", str(out), "-q"], HASH)  # fmt: skip
    results = json.loads((out / "results.json").read_text())
    assert results["official"] is False and results["roles"] == "all"
    assert results["types"] == ["single-session-assistant", "multi-session"]
    bm25 = results["systems"]["bm25"]
    assert bm25["n"] == 1 and set(bm25["by_question_type"]) == {"multi-session"}
    assert "NOT the official setup" in (out / "report.md").read_text()


def test_bad_options_are_usage_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    base = ["longmemeval", "--data", str(FIXTURE), "--out", str(tmp_path), "-q"]
    bad_type = runner.invoke(bench, [*base, "--types", "chit-chat"], obj={"config": HASH})
    assert bad_type.exit_code == 2 and "unknown question type" in bad_type.output
    bad_n = runner.invoke(bench, [*base, "--questions", "0"], obj={"config": HASH})
    assert bad_n.exit_code == 2
    qa = runner.invoke(bench, [*base, "--mode", "qa", "--systems", "bm25"], obj={"config": HASH})
    assert qa.exit_code == 1 and "needs an LLM" in qa.output
    broken = tmp_path / "broken.json"
    broken.write_text('[{"question_id": "x"}]')
    bad_file = runner.invoke(bench, ["longmemeval", "--data", str(broken), "--out",
                                     str(tmp_path), "-q"], obj={"config": HASH})  # fmt: skip
    assert bad_file.exit_code == 1 and "has no 'question_type'" in bad_file.output


def test_qa_mode_judges_with_the_reference_prompts_through_the_http_client(
    tmp_path: Path,
) -> None:
    # Hand-authored replies: the baseline knows only the dog's breed and otherwise says it
    # does not know; the judge says yes when the response holds the gold answer, or, for an
    # abstention question, when the response declines.
    def answer(body: dict[str, Any]) -> str:
        known = "What breed is my dog?" in str(body["messages"][-1]["content"])
        return json.dumps({"answer": "A border collie" if known else "I don't know"})

    def judge(body: dict[str, Any]) -> str:
        (message,) = body["messages"]
        text = str(message["content"])
        if "unanswerable" in text:
            return "Yes" if "Model Response: I don't know" in text else "No"
        holds = "Correct Answer: A border collie" in text and "Response: A border collie" in text
        return "yes" if holds else "no"

    out = tmp_path / "qa"
    args = ["longmemeval", "--data", str(FIXTURE), "--mode", "qa", "--systems", "bm25",
            "--out", str(out), "-q"]  # fmt: skip
    with FakeOpenAIServer() as server:
        server.script_chat("eval.baseline_answer@1", answer)
        server.script_chat("eval.longmemeval_judge@1", judge)
        config = Config(
            llm=LLMConfig(base_url=server.base_url, model="fake-model", max_retries=0),
            embedder=EmbedderConfig(kind="hash", dim=32),
        )
        invoke(args, config)
        sent = len(server.requests)
        invoke(args, config)
        assert len(server.requests) == sent  # the rerun is answered from the cache
        judged = server.chat_requests("eval.longmemeval_judge@1")

    assert sent == 14  # one answer and one verdict per question, abstention included
    assert all(r.body["max_tokens"] == 10 for r in judged)
    results = json.loads((out / "results.json").read_text())
    assert results["roles"] == "all" and results["official"] is False  # QA reads every turn
    bm25 = results["systems"]["bm25"]
    assert bm25["overall"]["accuracy"] == pytest.approx(2 / 7)
    assert bm25["by_question_type"]["single-session-user"]["accuracy"] == 1.0
    assert bm25["by_question_type"]["knowledge-update"]["accuracy"] == 0.5
    assert bm25["subsets"]["abstention"]["accuracy"] == 1.0
    assert bm25["task_averaged_accuracy"] == pytest.approx((1.0 + 0.5) / 6)
    assert bm25["usage"]["judge_parse_failures"] == 0
    assert "Accuracy averaged over question types" in (out / "report.md").read_text()


def scripted(request: LLMRequest) -> str:
    text = request.messages[-1].content
    if request.prompt_id.startswith("eval.baseline_answer"):
        return json.dumps({"answer": "A border collie" if "dog" in text else "No idea"})
    return "yes" if "Model Response: A border collie" in text else "no"


@pytest.mark.parametrize("workers", [1, 4])
def test_qa_questions_run_concurrently_and_merge_in_file_order(
    tmp_path: Path, workers: int
) -> None:
    config = Config(
        llm=LLMConfig(model="scripted", concurrency=workers),
        embedder=EmbedderConfig(kind="hash", dim=32),
    )
    llm = ScriptedLLM(scripted)
    results = run_longmemeval(
        FIXTURE, mode="qa", systems=["tmem", "bm25"], out_dir=tmp_path, config=config,
        progress=False, llm=llm, memory_factory=oracle,
    )  # fmt: skip
    bm25, tmem = results["systems"]["bm25"], results["systems"]["tmem"]
    assert bm25["overall"]["accuracy"] == pytest.approx(1 / 7)  # only the dog question
    assert tmem["overall"]["accuracy"] == 0.0  # the oracle answers "not used"
    assert bm25["usage"]["judge_llm_calls"] == tmem["usage"]["judge_llm_calls"] == 7
    assert bm25["usage"]["query_llm_calls_per_query"] == 1.0
    assert tmem["ingest"]["turns"] == sum(len(m) for i in INSTANCES
                                          for _, m in haystack(i, "all").sessions)  # fmt: skip
    assert llm.calls == 7 * 3  # bm25 answers + two systems' verdicts
    lines = [json.loads(line) for line in (tmp_path / "questions.jsonl").read_text().splitlines()]
    for system in ("tmem", "bm25"):
        ids = [r["id"] for r in lines if r["system"] == system]
        assert ids == [i.question_id for i in INSTANCES]
