"""``Memory.list_page``, ``history_page`` and ``export_page`` (and ``AsyncMemory``'s), on every
store: pages with opaque cursors that continue only their own listing."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TypeVar

import pytest

from tests.store.conftest import backend, make_store, store  # noqa: F401 - fixtures
from tests.store.pg_server import (  # noqa: F401 - fixtures the postgres backend needs
    pg_database_url,
    pg_new_url,
    pg_server,
)
from tmem import AsyncMemory, Config, EmbedderConfig, Memory, Page
from tmem.errors import InputError, NotFoundError
from tmem.store.base import Store

T = TypeVar("T")
HASH = Config(embedder=EmbedderConfig(kind="hash"))
SESSION = [
    {"id": f"m{i}", "speaker": "Ana" if i % 2 else "Leo", "content": f"message number {i}",
     "timestamp": f"2024-03-01T10:{59 - i:02d}:00Z"}
    for i in range(7)
]  # fmt: skip


@pytest.fixture
def mem(store: Store) -> Iterator[Memory]:  # noqa: F811
    memory = Memory.open(config=HASH, store=store)
    memory.add(SESSION, user_id="ana", session_id="s1")
    memory.add([{"id": "x1", "speaker": "Bo", "content": "another user"}], user_id="bo")
    yield memory


def pages(read: Callable[[str | None], Page[T]]) -> list[Page[T]]:
    out, cursor = [], None
    while True:
        page = read(cursor)
        out.append(page)
        if page.next_cursor is None:
            return out
        cursor = page.next_cursor


def test_list_pages_join_into_the_listing_in_the_order_turns_were_added(mem: Memory) -> None:
    walked = pages(lambda cursor: mem.list_page("ana", limit=3, cursor=cursor))
    assert [len(p.items) for p in walked] == [3, 3, 2]
    ids = [r.id for p in walked for r in p.items]
    # Turns by when they were added (their times run backwards), then the scene.
    assert ids[:7] == [f"m{i}" for i in range(7)] and ids[7].startswith("scn_")
    assert sorted(ids) == sorted(r.id for r in mem.list("ana"))
    assert [r.id for r in mem.list("ana", "turn")] == ids[:7]
    turns = pages(lambda cursor: mem.list_page("ana", "turn", limit=7, cursor=cursor))
    assert len(turns) == 1 and [t.id for t in turns[0].items] == ids[:7]
    assert mem.list_page("nobody") == Page((), None)
    assert len(mem.list_page("ana").items) == 8  # the default limit (100) holds them all


def test_limits_are_checked(mem: Memory) -> None:
    for bad in (0, 1001, -1, True, "5", 2.0):
        with pytest.raises(InputError, match="limit must be an integer between 1 and 1000"):
            mem.list_page("ana", limit=bad)  # type: ignore[arg-type]
        with pytest.raises(InputError, match="limit"):
            mem.history_page("m1", "ana", limit=bad)  # type: ignore[arg-type]
        with pytest.raises(InputError, match="limit"):
            mem.export_page("ana", limit=bad)  # type: ignore[arg-type]
    assert len(mem.list_page("ana", limit=1000).items) == 8
    with pytest.raises(InputError, match="kind must be one of"):
        mem.list_page("ana", "fact")  # type: ignore[arg-type]


def test_a_cursor_continues_only_its_own_listing(mem: Memory) -> None:
    cursor = mem.list_page("ana", limit=2).next_cursor
    assert cursor is not None
    with pytest.raises(InputError, match="another listing"):
        mem.list_page("bo", limit=2, cursor=cursor)  # never pages another user's records
    with pytest.raises(InputError, match="another listing"):
        mem.list_page("ana", "turn", limit=2, cursor=cursor)
    with pytest.raises(InputError, match="pages 'list', not 'history'"):
        mem.history_page("m1", "ana", cursor=cursor)
    with pytest.raises(InputError, match="pages 'list', not 'export'"):
        mem.export_page("ana", cursor=cursor)
    with pytest.raises(InputError, match="not a tmem page cursor"):
        mem.list_page("ana", cursor=cursor[:-3] + "%%%")
    assert [r.id for r in mem.list_page("ana", limit=2, cursor=cursor).items] == ["m2", "m3"]


def test_history_pages_follow_versions_and_an_unedited_memory_has_its_creation(
    mem: Memory,
) -> None:
    only = mem.history_page("m1", "ana", limit=1)
    assert [(e.version, e.event, e.text) for e in only.items] == [
        (1, "created", "message number 1")
    ]
    assert only.next_cursor is None
    for n in range(3):
        mem.update("m1", "ana", f"edit {n}")
    walked = pages(lambda cursor: mem.history_page("m1", "ana", limit=3, cursor=cursor))
    assert [[e.version for e in p.items] for p in walked] == [[1, 2, 3], [4]]
    assert [e for p in walked for e in p.items] == mem.history("m1", "ana")
    with pytest.raises(NotFoundError):
        mem.history_page("nope", "ana")
    with pytest.raises(NotFoundError):
        mem.history_page("m1", "bo")  # another user's memory does not exist for this one


def test_a_walk_survives_a_deletion_and_lists_the_rest_once(mem: Memory) -> None:
    first = mem.list_page("ana", "turn", limit=2)
    mem.delete("m3", "ana")
    mem.update("m4", "ana", "edited while the walk was under way")
    mem.add([{"id": "m9", "speaker": "Ana", "content": "added meanwhile"}], user_id="ana")
    rest = pages(
        lambda cursor: mem.list_page("ana", "turn", limit=2, cursor=cursor or first.next_cursor)
    )
    ids = [t.id for p in rest for t in p.items]
    assert ids == ["m2", "m4", "m5", "m6", "m9"]
    assert next(t for p in rest for t in p.items if t.id == "m4").content.startswith("edited")


def test_export_pages_join_into_an_export_that_imports(mem: Memory) -> None:
    mem.update("m2", "ana", "edited")
    walked = pages(lambda cursor: mem.export_page("ana", limit=4, cursor=cursor))
    rows = [row for page in walked for row in page.items]
    assert all(len(page.items) <= 4 for page in walked) and rows[0]["type"] == "header"
    whole = list(mem.export("ana"))
    assert sorted(map(repr, rows[1:])) == sorted(map(repr, whole[1:]))
    assert mem.import_records(rows, "copy") == len(rows) - 1
    assert sorted(map(repr, list(mem.export("copy"))[1:])) == sorted(map(repr, whole[1:]))


@pytest.mark.anyio
async def test_async_memory_pages_as_memory_does(mem: Memory) -> None:
    amem = AsyncMemory(mem)
    first = await amem.list_page("ana", limit=5)
    rest = await amem.list_page("ana", limit=5, cursor=first.next_cursor)
    assert [r.id for r in first.items + rest.items] == [
        r.id for r in mem.list_page("ana", limit=100).items
    ]
    assert rest.next_cursor is None
    history = await amem.history_page("m1", "ana", limit=1)
    assert history == mem.history_page("m1", "ana", limit=1)
    exported = await amem.export_page("ana", limit=2)
    assert [r["type"] for r in exported.items] == ["header", "turn"]
    assert exported.next_cursor is not None
    with pytest.raises(InputError):
        await amem.list_page("bo", cursor=first.next_cursor)
