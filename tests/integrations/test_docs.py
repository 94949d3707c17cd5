"""``docs/integrations.md``: its examples run as written, with the default MiniLM embedder.

The Agent Framework example needs a model client; it runs with a scripted one handed in as
``chat_client``, the one name the page says to supply.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.integrations.scripted_chat import ScriptedClient

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "integrations.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)\n```", PAGE.read_text(encoding="utf-8"), re.S)


def run(block: str, scope: dict[str, object]) -> None:
    exec(compile(block, str(PAGE), "exec"), scope)


def test_the_page_has_one_example_per_integration_and_the_readme_links_it() -> None:
    blocks = python_blocks()
    assert len(blocks) == 2
    assert "TmemStore" in blocks[0] and "TmemContextProvider" in blocks[1]
    assert "docs/integrations.md" in (ROOT / "README.md").read_text(encoding="utf-8")


@pytest.mark.slow  # loads MiniLM
def test_the_langgraph_example_recalls_the_note_from_the_earlier_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    scope: dict[str, object] = {"__name__": "docs_example"}
    run(python_blocks()[0], scope)
    assert capsys.readouterr().out == "['My colleague Ben is allergic to shellfish.']\n"
    store = scope["store"]
    memory = store.memory  # type: ignore[attr-defined]
    assert [t.speaker for t in memory.list("ana", "turn")] == ["langgraph", "langgraph"]
    memory.close()


@pytest.mark.slow  # loads MiniLM
def test_the_agent_framework_example_recalls_the_first_session_in_the_second(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    client = ScriptedClient("Pick a place without shellfish on the menu.")
    run(python_blocks()[1], {"__name__": "docs_example", "chat_client": client})
    assert capsys.readouterr().out == "Pick a place without shellfish on the menu.\n"
    (recalled,) = [text for text in client.texts(1) if text.startswith("## Memories")]
    assert re.search(r"^- \[\d{4}-\d\d-\d\d\] Ana: My colleague Ben is allergic", recalled, re.M)
    assert client.texts(1)[-1] == "Which venue for the team dinner?"
