"""Every id the grammar accepts is reachable on every path (issue 12, defect 4).

For a spread of odd but legal message and user ids: add, get, update, history and delete
through the REST service with ``tmem.Client``, through the CLI, and forget through MCP. Ids
the grammar refuses get a clear 422 / ``InputError`` instead of being stored unreachable (before
the grammar, ``a/b``, ``..`` and U+202E were accepted with 200 and then never found again).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from click.testing import CliRunner
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from tests.hostile.conftest import Service
from tests.server.service import service_env
from tests.test_ids import ODD_LEGAL
from tmem.cli.main import cli
from tmem.client import Client
from tmem.config import Config, EmbedderConfig
from tmem.errors import InputError, NotFoundError
from tmem.memory import Memory

pytestmark = pytest.mark.slow  # starts tmem serve and tmem mcp processes

HASH = Config(embedder=EmbedderConfig(kind="hash"))
UNREACHABLE_BEFORE = ["a/b", "..", ".", "rtl\u202eevil", "zero\u200bwidth", "soft\u00adhyphen"]


def _message(memory_id: str, content: str = "first words") -> dict[str, str]:
    return {"speaker": "Ana", "content": content, "id": memory_id}


@pytest.mark.parametrize("odd", ODD_LEGAL)
def test_client_reaches_every_legal_id(service: Service, odd: str) -> None:
    user = odd  # the same spread as user ids, in query strings and the delete-user path
    with Client(service.url, service.key_a) as client:
        report = client.add([_message(odd)], user)
        assert report.turn_ids == (odd,)
        assert client.get(odd, user).id == odd
        assert client.update(odd, user, "second words").text.endswith("second words")
        assert len(client.history(odd, user)) >= 2
        assert [r.id for r in client.list(user, "turn")] == [odd]
        assert client.delete(odd, user) >= 1
        with pytest.raises(NotFoundError):
            client.get(odd, user)
        client.add([_message(odd)], user)
        assert client.delete_user(user) >= 1
        assert client.list(user) == []


@pytest.mark.parametrize("bad", UNREACHABLE_BEFORE)
def test_client_add_refuses_ids_no_path_could_reach(service: Service, bad: str) -> None:
    with Client(service.url, service.key_a) as client:
        with pytest.raises(InputError, match="id"):
            client.add([_message(bad)], "ana")
        with pytest.raises(InputError, match="user_id"):
            client.add([_message("fine")], bad)
        assert client.list("ana") == []


def _cli(db: str, *args: str) -> Any:
    result = CliRunner().invoke(
        cli, ["--db", db, "--json", "--quiet", *args], env={"TMEM_EMBEDDER": "hash"}
    )
    return result


def test_cli_reaches_every_legal_id(tmp_path: Path) -> None:
    db = str(tmp_path / "cli.db")
    for odd in ODD_LEGAL:
        batch = tmp_path / "batch.json"
        batch.write_text(json.dumps([_message(odd)]), encoding="utf-8")
        assert _cli(db, "add", "--user", odd, str(batch)).exit_code == 0
        got = _cli(db, "get", "--user", odd, "--", odd)
        assert got.exit_code == 0 and json.loads(got.output)["id"] == odd, got.output
        assert _cli(db, "update", "--user", odd, "--", odd, "second words").exit_code == 0
        history = _cli(db, "history", "--user", odd, "--", odd)
        assert history.exit_code == 0 and len(json.loads(history.output)) >= 2
        assert _cli(db, "delete", "--user", odd, "--", odd).exit_code == 0
        assert _cli(db, "get", "--user", odd, "--", odd).exit_code != 0


def test_cli_add_refuses_an_unreachable_user_id(tmp_path: Path) -> None:
    batch = tmp_path / "batch.json"
    batch.write_text(json.dumps([_message("m1")]), encoding="utf-8")
    result = _cli(str(tmp_path / "cli.db"), "add", "--user", "a/b", str(batch))
    assert result.exit_code == 2 and "user_id must not contain '/'" in result.output


async def _forget_all(db: str, user: str, ids: list[str]) -> list[bool]:
    params = StdioServerParameters(
        command=sys.executable,
        args=["-c", "from tmem.cli.main import main; main()", "--db", db, "mcp", "--user", user],
        env=service_env(),
    )
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        return [
            not (await session.call_tool("forget", {"id": memory_id})).is_error for memory_id in ids
        ]


def test_mcp_forgets_every_legal_id(tmp_path: Path) -> None:
    db, user = str(tmp_path / "mcp.db"), "ünï 日本"
    with Memory.open(db, HASH) as memory:
        memory.add([_message(odd, f"words {i}") for i, odd in enumerate(ODD_LEGAL)], user)
    assert all(anyio.run(_forget_all, db, user, ODD_LEGAL))
    with Memory.open(db, HASH) as memory:
        assert memory.list(user, "turn") == []
