"""The README's shell blocks run as written, in order, in an empty folder (LLM-free).

A block that cannot run here (it needs the checkout, an LLM server, or starts a long-running
server) is marked with an HTML comment right above it that says so and why; everything else
runs, with the real ``tmem`` command and the default MiniLM embedder.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import tmem
from tmem import Memory
from tmem.errors import LLMUnavailableError

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
SKIP = "<!-- not run by tests/test_readme.py:"
BLOCK = re.compile(r"(?P<before>[^\n]*)\n```bash\n(?P<body>.*?)\n```", re.S)


def shell_blocks() -> list[tuple[str, str | None]]:
    """Every ```bash block with its skip reason (None: it runs)."""
    blocks = []
    for match in BLOCK.finditer(README.read_text(encoding="utf-8")):
        before = match["before"].strip()
        reason = before[len(SKIP) : -len("-->")].strip() if before.startswith(SKIP) else None
        blocks.append((match["body"], reason))
    return blocks


def tmem_command(folder: Path) -> Path:
    """A ``tmem`` executable for the tmem under test (this checkout's sources)."""
    bin_dir = folder / ".bin"
    bin_dir.mkdir()
    script = bin_dir / "tmem"
    source = Path(tmem.__file__).resolve().parents[1]
    script.write_text(
        "#!/bin/sh\n"
        f'PYTHONPATH="{source}" exec "{sys.executable}" '
        '-c "import sys; sys.argv[0] = \'tmem\'; from tmem.cli.main import main; main()" "$@"\n'
    )
    script.chmod(0o755)
    return bin_dir


def test_every_skipped_block_says_why_and_the_rest_is_the_walk() -> None:
    blocks = shell_blocks()
    assert all(reason for _, reason in blocks if reason is not None)
    running = [body for body, reason in blocks if reason is None]
    assert len(running) >= 2 and len(blocks) - len(running) <= 3
    assert any("tmem import-chat" in body for body in running)


def test_the_example_file_in_the_readme_is_the_shipped_one() -> None:
    walk = next(body for body, reason in shell_blocks() if reason is None)
    heredoc = re.search(r"cat > conversation\.json <<'EOF'\n(.*?)\nEOF\n", walk, re.S)
    assert heredoc is not None
    shipped = (ROOT / "examples" / "conversation.json").read_text(encoding="utf-8")
    assert heredoc.group(1) + "\n" == shipped
    assert json.loads(shipped)[2]["id"] == "s1:3"


@pytest.mark.slow  # a dozen tmem processes, each loading MiniLM
def test_readme_shell_blocks_run_verbatim_in_order(tmp_path: Path) -> None:
    script = "set -eu\n" + "\n".join(body for body, reason in shell_blocks() if reason is None)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TMEM_")}
    env["PATH"] = f"{tmem_command(tmp_path)}{os.pathsep}{env.get('PATH', '')}"
    result = subprocess.run(
        ["bash", "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "added 6 turns" in out and "added 0 turns" in out
    first_hit = re.search(r"^ 1\. \[turn (\S+)\]", out, re.M)
    assert first_hit is not None and first_hit.group(1) == "s1:3"  # the epinephrine pen
    assert "updated s1:3" in out and "imported" in out and "deleted" in out
    assert "2 new turns, 0 already stored" in out and "0 new turns, 2 already stored" in out
    assert (tmp_path / "tmem.db").exists() and (tmp_path / "maya.jsonl").exists()


@pytest.mark.slow  # loads MiniLM
def test_the_python_snippet_runs_and_rerunning_it_stores_nothing_new(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## From Python") :]
    start = section.index("```python\n") + len("```python\n")
    snippet = section[start : section.index("\n```", start)]
    monkeypatch.chdir(tmp_path)
    for _ in range(2):  # the id rule next to the snippet: a second run adds nothing
        with pytest.raises(LLMUnavailableError):  # its last line needs an LLM
            exec(compile(snippet, "README.md", "exec"), {})
    with Memory.open(tmp_path / "tmem.db") as mem:
        assert [t.id for t in mem.list("maya", "turn")] == ["s1:3", "s1:4"]


@pytest.mark.slow  # loads MiniLM
def test_the_async_snippet_runs_on_the_store_the_sync_one_wrote(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("**Async.**") :]
    start = section.index("```python\n") + len("```python\n")
    snippet = section[start : section.index("\n```", start)]
    assert "AsyncMemory" in snippet
    monkeypatch.chdir(tmp_path)
    with Memory.open(tmp_path / "tmem.db") as mem:  # what the sync snippet stores first
        mem.add([{"id": "s1:3", "speaker": "Maya", "content": "Priya is allergic to shellfish."}],
                user_id="maya", session_id="s1")  # fmt: skip
    exec(compile(snippet, "README.md", "exec"), {})
    assert capsys.readouterr().out == "Maya: Priya wants the team dinner at the harbour. 2\n"
    with Memory.open(tmp_path / "tmem.db") as mem:
        assert [t.id for t in mem.list("maya", "turn")] == ["s1:3", "s2:1"]


@pytest.mark.slow  # loads MiniLM
def test_the_pages_snippet_walks_the_turns_a_page_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("**Pages.**") :]
    start = section.index("```python\n") + len("```python\n")
    snippet = section[start : section.index("\n```", start)]
    assert "list_page" in snippet and "next_cursor" in snippet
    monkeypatch.chdir(tmp_path)
    stored = [  # what the sync snippet stores
        {"id": "s1:3", "speaker": "Maya", "content": "Priya is badly allergic to shellfish."},
        {"id": "s1:4", "speaker": "Leo", "content": "Good that she told you on day one."},
    ]
    with Memory.open(tmp_path / "tmem.db") as mem:
        mem.add(stored, user_id="maya", session_id="s1")
    exec(compile(snippet, "README.md", "exec"), {})
    assert capsys.readouterr().out == (
        "s1:3 Priya is badly allergic to shellfish.\ns1:4 Good that she told you on day one.\n"
    )
