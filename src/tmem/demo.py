"""``make demo``: ingest a small bundled conversation and show a few searches, offline.

Runs in full mode when an LLM is configured through ``TMEM_LLM_*`` variables, else in
LLM-free mode; it says which and why.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

from tmem.cli.settings import config_from_env, describe_mode
from tmem.memory import Memory


def sample() -> dict[str, Any]:
    text = resources.files("tmem.data").joinpath("sample_conversation.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def run(db_path: Path) -> None:
    config = config_from_env(os.environ)
    data = sample()
    user = data["user_id"]
    print(f"tmem demo — {describe_mode(config)}")
    with Memory.open(db_path, config) as mem:
        print(f"embedder: {mem.embedder.name}; store: {db_path}")
        for session in data["sessions"]:
            report = mem.add(session["messages"], user_id=user, session_id=session["session_id"])
            print(
                f"session {session['session_id']}: {report.turns} turns -> {report.scenes} scenes, "
                f"{report.items} items, {sum(report.triggers.values())} triggers, "
                f"{report.llm_calls} LLM calls"
            )
        for query in data["queries"]:
            print(f"\nsearch: {query}")
            for rank, hit in enumerate(mem.search(query, user_id=user, limit=3), start=1):
                text = " ".join(hit.text.split())[:110]
                print(f"  {rank}. [{hit.kind} {hit.id}] {text}")
                print(f"     reached by: {', '.join(hit.reached_by)}")


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="tmem-demo-") as tmp:
        run(Path(tmp) / "demo.db")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
