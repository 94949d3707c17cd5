"""What a new user meets first: no silent empty stores, flags where they type them, honest
counts, chat imports, and failures that show in the exit code.

In-process with click's runner on real SQLite files; full mode drives the real HTTP LLM client
against the fake OpenAI-compatible server with hand-authored (and deliberately broken) replies.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from tests.cli.test_cli import ENV, MESSAGES
from tests.fakes.openai_server import FakeOpenAIServer
from tests.test_full_mode import segment_reply
from tmem.cli.feedback import EXIT_DERIVATION_FAILED
from tmem.cli.main import cli


def run(args: list[str], env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, args, env={**ENV, **(env or {})})


@pytest.fixture
def db(tmp_path: Path) -> str:
    path = tmp_path / "cli.db"
    messages = tmp_path / "m.json"
    messages.write_text(json.dumps(MESSAGES))
    result = run(["--db", str(path), "-q", "add", "--user", "ana", str(messages)])
    assert result.exit_code == 0, result.output
    return str(path)


@pytest.mark.parametrize(
    "command",
    [
        ["search", "--user", "ana", "x"],
        ["list", "--user", "ana"],
        ["get", "--user", "ana", "m1"],
        ["history", "--user", "ana", "m1"],
        ["export", "--user", "ana"],
        ["delete", "--user", "ana", "m1"],
        ["reindex", "--user", "ana"],
    ],
)
def test_reading_a_missing_store_is_an_error_naming_it_and_creates_nothing(
    tmp_path: Path, command: list[str]
) -> None:
    missing = tmp_path / "typo.db"
    result = run(["--db", str(missing), *command])
    assert result.exit_code == 1
    assert f"no tmem store at {missing.resolve()}" in result.output
    assert not missing.exists()


def test_an_unknown_user_is_named_with_the_users_the_store_has(db: str) -> None:
    result = run(["--db", db, "search", "--user", "ama", "shellfish"])
    assert result.exit_code == 1
    assert "no user 'ama'" in result.output and "'ana'" in result.output
    assert "no memories found" not in result.output


def test_db_and_json_work_after_the_subcommand_too(db: str) -> None:
    before = run(["--db", db, "--json", "search", "--user", "ana", "shellfish"])
    after = run(["search", "--user", "ana", "shellfish", "--db", db, "--json"])
    assert before.exit_code == after.exit_code == 0, after.output
    assert json.loads(after.output)[0]["id"] == json.loads(before.output)[0]["id"] == "m1"


def test_importing_into_the_same_user_says_nothing_changed(db: str, tmp_path: Path) -> None:
    export = tmp_path / "ana.jsonl"
    assert run(["--db", db, "export", "--user", "ana", "-o", str(export)]).exit_code == 0
    again = run(["--db", db, "--json", "import", "--user", "ana", str(export)])
    assert again.exit_code == 0, again.output
    report = json.loads(again.output)
    assert report["new_rows"] == 0 and report["rows"] > 0
    copy = run(["--db", db, "import", "--user", "copy", str(export)])
    assert f"{report['rows']} new, 0 already stored" in copy.output


def test_re_adding_a_file_with_ids_reports_the_messages_already_stored(
    db: str, tmp_path: Path
) -> None:
    wrapped = tmp_path / "wrapped.json"
    wrapped.write_text(json.dumps({"messages": MESSAGES}, indent=2))
    result = run(["--db", db, "add", "--user", "ana", str(wrapped)])
    assert result.exit_code == 0, result.output
    assert "added 0 turns" in result.output and "2 messages were already stored" in result.output


def test_a_bad_message_names_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('[\n  {"role": "user", "content": "hi"},\n  {"role": "user", "content": ""}\n]')
    result = run(["--db", str(tmp_path / "x.db"), "add", "--user", "u", str(bad)])
    assert result.exit_code == 1
    assert f"{bad}, line 3: message 2: content is empty" in result.output


def test_import_chat_reads_each_format_and_a_second_import_adds_nothing(tmp_path: Path) -> None:
    db = str(tmp_path / "chat.db")
    transcript = tmp_path / "notes.txt"
    transcript.write_text("[2025-09-02 19:40] Maya: Dinner for eleven on Friday.\nLeo: Harbour?\n")
    openai = tmp_path / "chat.jsonl"
    openai.write_text(
        '{"role": "system", "content": "Be brief."}\n'
        '{"role": "user", "content": "I moved to Porto."}\n'
    )
    chatgpt = tmp_path / "conversations.json"
    chatgpt.write_text(json.dumps([_chatgpt_conversation()]))
    for path, new in ((transcript, 2), (openai, 1), (chatgpt, 2)):
        first = run(["--db", db, "--json", "import-chat", "--user", "maya", str(path)])
        assert first.exit_code == 0, first.output
        assert json.loads(first.output)["added"] == new
        second = run(["--db", db, "--json", "import-chat", "--user", "maya", str(path)])
        assert json.loads(second.output)["added"] == 0
    listed = json.loads(
        run(["--db", db, "--json", "list", "--user", "maya", "--kind", "turn"]).output
    )
    by_id = {r["id"]: r for r in listed}
    assert by_id["notes:1"]["timestamp"].startswith("2025-09-02T19:40")
    assert by_id["chat:2"]["speaker"] == "user" and by_id["chat:2"]["session_id"] == "chat"
    assert by_id["msg-2"]["timestamp"].startswith("2024-09-02T19:23:21")


def _chatgpt_conversation() -> dict[str, Any]:
    def node(nid: str, parent: str | None, role: str, text: str, at: float) -> dict[str, Any]:
        message = {
            "id": f"msg-{nid}",
            "author": {"role": role},
            "create_time": at,
            "content": {"content_type": "text", "parts": [text]},
        }
        return {"id": nid, "parent": parent, "children": [], "message": message}

    return {
        "id": "c1",
        "title": "Move",
        "current_node": "2",
        "mapping": {
            "1": node("1", None, "user", "Which neighbourhood in Porto is quiet?", 1725305000.0),
            "2": node("2", "1", "assistant", "Foz is calm and near the sea.", 1725305001.0),
        },
    }


def test_failed_derivation_exits_3_with_a_summary_and_the_turns_stay(tmp_path: Path) -> None:
    with FakeOpenAIServer() as server:
        server.script_chat("segment", segment_reply)
        server.script_chat("extract", "this is not JSON")
        env = {
            "TMEM_LLM_BASE_URL": server.base_url,
            "TMEM_LLM_MODEL": "fake-model",
            "TMEM_LLM_MAX_RETRIES": "0",
            "TMEM_LLM_OUTPUT_RETRIES": "0",
        }
        messages = tmp_path / "m.json"
        messages.write_text(json.dumps(MESSAGES))
        db = str(tmp_path / "full.db")
        result = run(["--db", db, "add", "--user", "ana", str(messages)], env)
        assert result.exit_code == EXIT_DERIVATION_FAILED, result.output
        assert "derivation failed for 2 of 2 turns" in result.output
        assert "tmem reindex --user ana" in result.output
        listed = json.loads(
            run(["--db", db, "--json", "list", "--user", "ana", "--kind", "turn"], env).output
        )
        assert [r["id"] for r in listed] == ["m1", "m2"]
        again = run(["--db", db, "reindex", "--user", "ana"], env)
        assert again.exit_code == EXIT_DERIVATION_FAILED, again.output


def test_full_mode_add_reports_each_llm_call_off_a_terminal(tmp_path: Path) -> None:
    from tests.test_full_mode import extract_reply

    with FakeOpenAIServer() as server:
        server.script_chat("segment", segment_reply)
        server.script_chat("extract", extract_reply)
        env = {"TMEM_LLM_BASE_URL": server.base_url, "TMEM_LLM_MODEL": "fake-model"}
        messages = tmp_path / "m.json"
        messages.write_text(json.dumps(MESSAGES))
        result = run(["--db", str(tmp_path / "p.db"), "add", "--user", "ana", str(messages)], env)
        calls = len(server.chat_requests())
        quiet = run(
            ["--db", str(tmp_path / "q.db"), "-q", "add", "--user", "ana", str(messages)], env
        )
    assert result.exit_code == 0, result.output
    assert "add: 1/1 LLM calls done" in result.output  # the segmentation window
    assert f"add: {calls}/{calls} LLM calls done" in result.output
    assert quiet.exit_code == 0 and "LLM calls done" not in quiet.output


def test_import_chat_session_ids_from_file_names_are_plain(tmp_path: Path) -> None:
    transcript = tmp_path / "Team chat (Sept).txt"
    transcript.write_text("Maya: Dinner on Friday?\n")
    db = str(tmp_path / "s.db")
    assert run(["--db", db, "import-chat", "--user", "maya", str(transcript)]).exit_code == 0
    listed = json.loads(run(["--db", db, "--json", "list", "--user", "maya"]).output)
    turn = next(r for r in listed if r["kind"] == "turn")
    assert (turn["session_id"], turn["id"]) == ("Team-chat-Sept", "Team-chat-Sept:1")


def test_import_chat_names_the_roles_as_asked(tmp_path: Path) -> None:
    export = tmp_path / "conversations.json"
    export.write_text(json.dumps([_chatgpt_conversation()]))
    db = str(tmp_path / "n.db")
    args = ["--db", db, "import-chat", "--user", "maya", str(export)]
    named = run([*args, "--speaker", "user=Maya", "--speaker", "assistant=ChatGPT"])
    assert named.exit_code == 0, named.output
    listed = json.loads(
        run(["--db", db, "--json", "list", "--user", "maya", "--kind", "turn"]).output
    )
    assert [r["speaker"] for r in listed] == ["Maya", "ChatGPT"]
    bad = run([*args, "--speaker", "user"])
    assert bad.exit_code == 2 and "expected ROLE=NAME" in bad.output
