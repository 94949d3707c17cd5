"""``tmem persona``: read and correct a user's persona from the command line (real SQLite)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner, Result

from tmem.cli.main import cli

ENV = {"TMEM_EMBEDDER": "hash"}


def run(db: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--db", str(db), *args], env=ENV)


def test_persona_set_show_pin_history_and_delete(tmp_path: Path) -> None:
    db = tmp_path / "cli.db"
    assert run(db, "persona", "show", "--user", "ana").exit_code == 1  # no store yet

    made = run(db, "--json", "persona", "set", "--user", "ana", "--speaker", "Ana",
               "--section", "identity", "--key", "Occupation", "nurse")  # fmt: skip
    assert made.exit_code == 0, made.output
    entry = json.loads(made.output)
    assert (entry["key"], entry["value"], entry["origin"]) == ("occupation", "nurse", "hand")
    entry_id = entry["id"]

    edited = run(db, "persona", "set", "--user", "ana", "--id", entry_id, "--pin", "midwife")
    assert edited.exit_code == 0, edited.output
    assert edited.output == f"{entry_id}\tAna\tidentity\toccupation\tmidwife\thand, pinned\t-\n"
    unpinned = run(db, "persona", "unpin", "--user", "ana", entry_id)
    assert unpinned.output.split("\t")[5] == "hand"
    assert run(db, "persona", "pin", "--user", "ana", entry_id).output.split("\t")[5] == (
        "hand, pinned"
    )

    shown = run(db, "persona", "show", "--user", "ana")
    assert shown.output.splitlines() == [
        f"{entry_id}\tAna\tidentity\toccupation\tmidwife\thand, pinned\t-"
    ]
    history = run(db, "history", "--user", "ana", entry_id).output.splitlines()
    assert [line.split("\t")[2] for line in history] == [
        "created", "updated", "pinned", "unpinned", "pinned",
    ]  # fmt: skip

    both = run(db, "persona", "set", "--user", "ana", "--id", entry_id, "--key", "age", "x")
    assert both.exit_code == 1 and "not both" in both.output
    assert run(db, "persona", "delete", "--user", "ana", entry_id).output == f"deleted {entry_id}\n"
    assert run(db, "persona", "show", "--user", "ana").output == "no persona entries\n"
    missing = run(db, "persona", "pin", "--user", "ana", entry_id)
    assert missing.exit_code == 1 and "no persona entry" in missing.output
    unknown = run(db, "persona", "show", "--user", "nobody")
    assert unknown.exit_code == 1 and "no user 'nobody'" in unknown.output
