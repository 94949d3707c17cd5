"""The command line, driven in-process with click's runner on real SQLite files."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tmem.cli.explain import explain_lines
from tmem.cli.main import cli
from tmem.models import ChannelEvidence, Hit, TriggerMatch

MESSAGES = [
    {
        "id": "m1",
        "speaker": "Ana",
        "content": "Ben is allergic to shellfish.",
        "timestamp": "2024-03-01T10:00:00Z",
    },
    {
        "id": "m2",
        "speaker": "Leo",
        "content": "I will book the harbour restaurant.",
        "timestamp": "2024-03-01T10:01:00Z",
    },
]
ENV = {"TMEM_EMBEDDER": "hash"}


def run(args: list[str], env: dict[str, str] | None = None, stdin: str | None = None) -> object:
    result = CliRunner().invoke(cli, args, env={**ENV, **(env or {})}, input=stdin)
    return result


@pytest.fixture
def db(tmp_path: Path) -> str:
    path = tmp_path / "cli.db"
    messages = tmp_path / "m.json"
    messages.write_text(json.dumps(MESSAGES))
    result = run(["--db", str(path), "--quiet", "add", "--user", "ana", str(messages)])
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    return str(path)


def test_add_reports_what_was_written(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    path.write_text("\n".join(json.dumps(m) for m in MESSAGES) + "\n")
    result = run(
        ["--db", str(tmp_path / "x.db"), "--json", "--quiet", "add", "--user", "u", str(path)]
    )
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    report = json.loads(result.output)  # type: ignore[attr-defined]
    assert report["turns"] == 2 and report["mode"] == "llm-free" and report["llm_calls"] == 0


def test_search_json_has_the_hit_fields(db: str) -> None:
    result = run(["--db", db, "--json", "search", "--user", "ana", "shellfish"])
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    hits = json.loads(result.output)  # type: ignore[attr-defined]
    assert isinstance(hits, list)
    assert set(hits[0]) == {
        "id",
        "kind",
        "text",
        "score",
        "timestamp",
        "source_turns",
        "reached_by",
        "risk",
        "explain",
    }
    assert hits[0]["source_turns"] == ["m1"]
    assert hits[0]["risk"] == {"flagged": False, "reasons": []}


def test_human_search_lists_hits(db: str) -> None:
    result = run(["--db", db, "search", "--user", "ana", "harbour restaurant"])
    assert "m2" in result.output  # type: ignore[attr-defined]
    assert "via" in result.output  # type: ignore[attr-defined]


def test_list_get_update_history_delete(db: str) -> None:
    listed = json.loads(run(["--db", db, "--json", "list", "--user", "ana"]).output)  # type: ignore[attr-defined]
    assert [r["id"] for r in listed if r["kind"] == "turn"] == ["m1", "m2"]
    got = json.loads(run(["--db", db, "--json", "get", "--user", "ana", "m1"]).output)  # type: ignore[attr-defined]
    assert got["content"] == "Ben is allergic to shellfish."
    assert (
        run(["--db", db, "update", "--user", "ana", "m1", "Ben is allergic to peanuts."]).exit_code
        == 0
    )  # type: ignore[attr-defined]
    history = json.loads(run(["--db", db, "--json", "history", "--user", "ana", "m1"]).output)  # type: ignore[attr-defined]
    assert history[-1]["event"] == "updated"
    assert run(["--db", db, "delete", "--user", "ana", "m1"]).exit_code == 0  # type: ignore[attr-defined]
    missing = run(["--db", db, "get", "--user", "ana", "m1"])
    assert missing.exit_code != 0 and "no memory" in missing.output  # type: ignore[attr-defined]


def test_export_import_round_trip(db: str, tmp_path: Path) -> None:
    out = tmp_path / "ana.jsonl"
    assert run(["--db", db, "--quiet", "export", "--user", "ana", "-o", str(out)]).exit_code == 0  # type: ignore[attr-defined]
    copy = str(tmp_path / "copy.db")
    assert run(["--db", copy, "import", "--user", "ana", str(out)]).exit_code == 0  # type: ignore[attr-defined]
    out2 = tmp_path / "again.jsonl"
    run(["--db", copy, "--quiet", "export", "--user", "ana", "-o", str(out2)])

    def rows(path: Path) -> list[dict[str, object]]:
        return [
            r for r in map(json.loads, path.read_text().splitlines()) if r.get("type") != "header"
        ]

    assert rows(out2) == rows(out)


def test_bad_file_is_a_clear_error_and_writes_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('[{"speaker": "A", "content": "ok"}, {"speaker": "B"}]')
    db = str(tmp_path / "b.db")
    result = run(["--db", db, "add", "--user", "u", str(bad)])
    assert result.exit_code != 0  # type: ignore[attr-defined]
    assert "content" in result.output  # type: ignore[attr-defined]
    assert "line 1: message 2: content must be a string" in result.output  # type: ignore[attr-defined]
    assert not Path(db).exists()  # a file that fails validation does not even create the store
    notjson = tmp_path / "n.json"
    notjson.write_text("[{")
    assert "not valid JSON" in run(["--db", db, "add", "--user", "u", str(notjson)]).output  # type: ignore[attr-defined]


def test_answer_without_llm_explains(db: str) -> None:
    result = run(["--db", db, "answer", "--user", "ana", "who is allergic?"])
    assert result.exit_code != 0  # type: ignore[attr-defined]
    assert "needs an LLM" in result.output  # type: ignore[attr-defined]


def test_bad_environment_is_a_config_error(db: str) -> None:
    result = run(["--db", db, "search", "--user", "ana", "x"], env={"TMEM_DURABLE": "maybe"})
    assert result.exit_code != 0 and "TMEM_DURABLE" in result.output  # type: ignore[attr-defined]


def test_info_names_the_mode(db: str) -> None:
    assert "LLM-free mode" in run(["--db", db, "info"]).output  # type: ignore[attr-defined]
    full = run(
        ["--db", db, "info"],
        env={"TMEM_LLM_BASE_URL": "http://127.0.0.1:9/v1", "TMEM_LLM_MODEL": "m"},
    )
    assert "full mode" in full.output  # type: ignore[attr-defined]


LOCOMO = Path(__file__).resolve().parents[3] / "shared" / "data" / "locomo" / "locomo10.json"


@pytest.mark.skipif(not LOCOMO.exists(), reason="LoCoMo is read from ../shared beside the repo")
def test_locomo_conversation_0_source_turns_are_dia_ids(tmp_path: Path) -> None:
    """Issue acceptance: LLM-free add of LoCoMo conversation 0, search returns dia_id turns."""
    from tmem.eval.locomo import conversation_messages, load_locomo, scored_questions

    sample = load_locomo(LOCOMO)[0]
    db = str(tmp_path / "locomo.db")
    dia_ids = set()
    for session_id, messages in conversation_messages(sample):
        path = tmp_path / f"{session_id}.json"
        rows = list(messages)
        dia_ids.update(r["id"] for r in rows)
        path.write_text(json.dumps(rows))
        result = run(
            ["--db", db, "--quiet", "add", "--user", "conv0", "--session", session_id, str(path)]
        )
        assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    for question in scored_questions(sample)[::25]:
        result = run(
            ["--db", db, "--json", "search", "--user", "conv0", "--limit", "10", question.question]
        )
        hits = json.loads(result.output)  # type: ignore[attr-defined]
        assert hits, question.question
        assert all(h["kind"] == "turn" for h in hits)
        assert all(set(h["source_turns"]) <= dia_ids for h in hits)


def test_add_no_derive_stores_without_calling_the_llm(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    path.write_text(json.dumps(MESSAGES))
    down = {"TMEM_LLM_BASE_URL": "http://127.0.0.1:9/v1", "TMEM_LLM_MODEL": "m"}
    args = ["--db", str(tmp_path / "d.db"), "--json", "--quiet", "add", "--user", "u"]
    result = run([*args, "--no-derive", str(path)], env=down)
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    report = json.loads(result.output)  # type: ignore[attr-defined]
    assert report["mode"] == "full" and report["turns"] == 2
    assert report["llm_calls"] == 0 and report["failures"] == []


def _next_cursor(stderr: str) -> str | None:
    found = [line for line in stderr.splitlines() if line.startswith("next cursor: ")]
    return found[0].removeprefix("next cursor: ") if found else None


def test_list_history_and_export_print_pages_and_the_next_cursor(db: str, tmp_path: Path) -> None:
    def invoke(args: list[str]) -> Any:
        result = CliRunner().invoke(cli, ["--db", db, *args], env=ENV)
        assert result.exit_code == 0, result.output
        return result

    whole = json.loads(invoke(["--json", "list", "--user", "ana"]).stdout)
    first = invoke(["list", "--user", "ana", "--limit", "2"])
    assert [line.split("\t")[0] for line in first.stdout.splitlines()] == ["m1", "m2"]
    cursor = _next_cursor(first.stderr)
    assert cursor is not None
    rest = json.loads(invoke(["--json", "list", "--user", "ana", "--cursor", cursor]).stdout)
    assert (
        rest["next_cursor"] is None
        and "last page" in invoke(["list", "--user", "ana", "--cursor", cursor]).stderr
    )
    assert [r["id"] for r in rest["memories"]] == [r["id"] for r in whole if r["kind"] != "turn"]
    quiet = invoke(["--quiet", "list", "--user", "ana", "--kind", "turn", "--limit", "1"])
    assert _next_cursor(quiet.stderr) is not None  # the cursor is the result, not a note

    invoke(["update", "--user", "ana", "m1", "Ben is allergic to peanuts."])
    page = json.loads(invoke(["--json", "history", "--user", "ana", "m1", "--limit", "1"]).stdout)
    assert [h["event"] for h in page["history"]] == ["created"] and page["next_cursor"]
    later = ["--json", "history", "--user", "ana", "m1", "--cursor", page["next_cursor"]]
    assert [h["event"] for h in json.loads(invoke(later).stdout)["history"]] == ["updated"]

    lines: list[str] = []
    cursor = None
    for n in range(1, 20):
        out = tmp_path / f"page{n}.jsonl"
        args = ["export", "--user", "ana", "--limit", "2", "-o", str(out)]
        result = invoke([*args, *(["--cursor", cursor] if cursor else [])])
        lines += out.read_text().splitlines()
        if (cursor := _next_cursor(result.stderr)) is None:
            break
    joined = tmp_path / "joined.jsonl"
    joined.write_text("\n".join(lines) + "\n")
    whole_out = tmp_path / "whole.jsonl"
    invoke(["--quiet", "export", "--user", "ana", "-o", str(whole_out)])
    assert sorted(lines[1:]) == sorted(whole_out.read_text().splitlines()[1:])
    copy = str(tmp_path / "copy.db")
    imported = CliRunner().invoke(
        cli, ["--db", copy, "import", "--user", "ana", str(joined)], env=ENV
    )
    assert imported.exit_code == 0, imported.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["list", "--user", "ana", "--limit", "0"], "limit must be an integer between 1 and 1000"),
        (["list", "--user", "ana", "--cursor", "nope!"], "not a tmem page cursor"),
        (["history", "--user", "ana", "m1", "--limit", "5000"], "between 1 and 1000"),
        (["export", "--user", "ana", "--cursor", "abc"], "not a tmem page cursor"),
    ],
)
def test_a_bad_limit_or_cursor_is_a_clear_error(db: str, args: list[str], message: str) -> None:
    result = run(["--db", db, *args])
    assert result.exit_code == 1 and message in result.output  # type: ignore[attr-defined]


def test_search_explain_prints_each_channel_as_the_json_carries_it(db: str) -> None:
    args = ["--db", db, "search", "--user", "ana", "shellfish allergic"]
    plain = run(args)
    assert "why (" not in plain.output  # type: ignore[attr-defined]
    explained = run([*args, "--explain"])
    assert explained.exit_code == 0, explained.output  # type: ignore[attr-defined]
    hits = json.loads(run([*args, "--json"]).output)  # type: ignore[attr-defined]
    text = explained.output  # type: ignore[attr-defined]
    top = hits[0]
    assert top["id"] == "m1" and top["explain"]
    total = sum(e["contribution"] for e in top["explain"])
    assert f"why (fused {total:.4f} among turns, {len(top['explain'])} channels):" in text
    for evidence in top["explain"]:
        name = "bm25" if evidence["channel"] == "bm25" else "cosine"
        value = f"{evidence['score']:.4g}" if name == "bm25" else f"{evidence['score']:.4f}"
        line = (
            f"{evidence['channel']}, rank {evidence['rank']}: {name} {value}, "
            f"adds {evidence['contribution']:.4f}"
        )
        assert line in text


def test_search_min_similarity_is_checked_and_cuts(db: str) -> None:
    args = ["--db", db, "search", "--user", "ana", "shellfish allergic"]
    bad = run([*args, "--min-similarity", "1.5"])
    assert bad.exit_code == 2  # type: ignore[attr-defined]
    assert "1.5 is not in the range 0.0<=x<=1.0" in bad.output  # type: ignore[attr-defined]
    hits = json.loads(run([*args, "--json"]).output)  # type: ignore[attr-defined]
    best = {h["id"]: max(e["score"] for e in h["explain"] if e["channel"] != "bm25") for h in hits}
    assert best["m1"] > best.get("m2", 0.0)
    cut = run([*args, "--json", "--min-similarity", str(best["m1"])])
    assert [h["id"] for h in json.loads(cut.output)] == ["m1"]  # type: ignore[attr-defined]
    none = run([*args, "--min-similarity", "1"])
    assert none.exit_code == 0 and "no memories found" in none.output  # type: ignore[attr-defined]


def test_explain_lines_name_each_raw_score_and_set_the_reranker_apart() -> None:
    match = TriggerMatch(
        "trg_1", "bridge", "allergy -> " + "a venue without shellfish " * 6, 0.7, 0.9
    )
    hit = Hit(
        "it1", "item", "Ben is allergic", 0.93, None, ("t1",), ("bm25", "bridge", "rerank"),
        explain=(
            ChannelEvidence("bridge", 1, 0.63, 1 / 61, (match,)),
            ChannelEvidence("bm25", 4, 7.25, 1 / 64),
            ChannelEvidence("rerank", 1, 0.93, 0.0),
        ),
    )  # fmt: skip
    lines = explain_lines(hit)
    assert lines[0] == f"why (fused {1 / 61 + 1 / 64:.4f} among items, 2 channels):"
    assert lines[1] == f"  bridge, rank 1: cosine x confidence 0.6300, adds {1 / 61:.4f}"
    assert lines[2].startswith('    bridge "allergy -> a venue without shellfish')
    assert lines[2].endswith('..." cosine 0.70, confidence 0.90')
    assert len(lines[2]) == len('    bridge ""') + 100 + len(" cosine 0.70, confidence 0.90")
    assert lines[3] == f"  bm25, rank 4: bm25 7.25, adds {1 / 64:.4f}"
    assert lines[4] == "  rerank, rank 1: cross-encoder 0.93 (replaces the fused score)"
    assert explain_lines(replace(hit, explain=())) == []
