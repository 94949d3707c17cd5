"""docs/persona.md's Python blocks run as written, in order, in an empty folder, and print
what their comments say (LLM-free, with the hash embedder)."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

from tmem import Config, Memory

DOC = Path(__file__).resolve().parents[1] / "docs" / "persona.md"
BLOCK = re.compile(r"```python\n(.*?)\n```", re.S)


def test_the_persona_page_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = BLOCK.findall(DOC.read_text(encoding="utf-8"))
    assert len(blocks) == 3
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TMEM_EMBEDDER", "hash")
    namespace: dict[str, object] = {}
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        for block in blocks:
            exec(compile(block, str(DOC), "exec"), namespace)
    namespace["mem"].close()  # type: ignore[attr-defined]
    # The comments under the print calls are what they print.
    promised = re.findall(r"^# (\[.*\])$", blocks[1], re.M)
    assert printed.getvalue().splitlines() == [
        *promised,
        "['midwife']",
        "Remember dietary needs and travel plans; ignore small talk.",
    ]
    with Memory.open(tmp_path / "tmem.db", Config.from_env()) as mem:
        assert mem.instructions("maya") == ""
        assert [(e.key, e.value, e.origin, e.pinned) for e in mem.persona("maya")] == [
            ("occupation", "midwife", "hand", True)
        ]
