"""The integrations stay optional: ``import tmem`` loads no framework, and an integration
imported without its framework names the extra to install."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys

import pytest

FRAMEWORKS = ("langgraph", "langchain_core", "agent_framework")


def test_importing_tmem_loads_no_agent_framework() -> None:
    code = (
        "import sys, tmem, tmem.integrations, tmem.integrations.keyvalue; "
        f"print(sorted(m for m in {FRAMEWORKS!r} if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("module", "blocked", "extra"),
    [
        ("tmem.integrations.langgraph", "langgraph.store.base", "tmem[langgraph]"),
        ("tmem.integrations.agent_framework", "agent_framework", "tmem[agent-framework]"),
    ],
)
def test_an_integration_without_its_framework_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, module: str, blocked: str, extra: str
) -> None:
    monkeypatch.delitem(sys.modules, module, raising=False)
    # None in sys.modules makes the import fail as if the package were not installed.
    monkeypatch.setitem(sys.modules, blocked, None)
    with pytest.raises(ImportError, match=re.escape(f"pip install '{extra}'")):
        importlib.import_module(module)
