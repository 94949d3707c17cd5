"""``AsyncMemory``: :class:`~tmem.memory.Memory` for ``async`` code.

Each method calls the ``Memory`` method of the same name and signature in a worker thread
(``anyio.to_thread``), so the event loop never waits on the store, the embedder or an LLM,
and calls awaited together run at the same time. That is safe because ``Memory`` is: both
stores serve any thread (SQLite through one connection behind a lock, Postgres through a
pool), and concurrent writes of one user are planned again when another got there first, as
for threads and processes sharing a store.
"""

from __future__ import annotations

import builtins
import functools
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, ParamSpec, TypeVar

import anyio.to_thread

from tmem.clock import Clock
from tmem.config import Config
from tmem.embed.base import Embedder
from tmem.ingest.pipeline import Progress
from tmem.llm.base import LLM
from tmem.memory import Memory
from tmem.models import (
    Answer,
    HistoryEntry,
    Hit,
    IngestReport,
    Kind,
    Message,
    Mode,
    Page,
    PersonaEntry,
    Record,
    RiskFlag,
)
from tmem.rerank.base import Reranker
from tmem.store.base import Store
from tmem.validate import DEFAULT_PAGE_LIMIT

P = ParamSpec("P")
T = TypeVar("T")


async def in_thread(function: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """``function(*args, **kwargs)`` in a worker thread, awaited.

    Cancelling the awaiting task does not stop the call: it finishes in its thread (a write
    is committed whole or not at all) and the task is cancelled when it returns.
    """
    return await anyio.to_thread.run_sync(functools.partial(function, *args, **kwargs))


class AsyncMemory:
    """:class:`tmem.Memory` for ``async`` code: the same methods, arguments, results and
    exceptions, each awaited.

    Open one with :meth:`open`, or wrap a ``Memory`` you have (``AsyncMemory(memory)``; the
    wrapped object stays usable from threads). Close it with ``await mem.aclose()`` or
    ``async with``. Progress callbacks are called from the worker thread.

    Example::

        async with await AsyncMemory.open("tmem.db") as mem:
            await mem.add([{"speaker": "Ana", "content": "Ben is allergic to shellfish."}],
                          user_id="ana")
            hits = await mem.search("which venue for the team dinner?", user_id="ana")
    """

    def __init__(self, memory: Memory) -> None:
        self.memory = memory

    @classmethod
    async def open(
        cls,
        path: str | os.PathLike[str] = "tmem.db",
        config: Config | None = None,
        *,
        store: Store | None = None,
        embedder: Embedder | None = None,
        llm: LLM | None = None,
        clock: Clock | None = None,
        reranker: Reranker | None = None,
    ) -> AsyncMemory:
        """As :meth:`tmem.Memory.open` (opening the store and loading the embedder in a
        worker thread)."""
        memory = await in_thread(
            Memory.open,
            path,
            config,
            store=store,
            embedder=embedder,
            llm=llm,
            clock=clock,
            reranker=reranker,
        )
        return cls(memory)

    @property
    def mode(self) -> Mode:
        """``full`` with an LLM configured, else ``llm-free``."""
        return self.memory.mode

    # --- write ---------------------------------------------------------------------------------
    async def add(
        self,
        messages: Sequence[Message | Mapping[str, Any]],
        user_id: str,
        session_id: str | None = None,
        *,
        progress: Progress | None = None,
        derive: bool = True,
    ) -> IngestReport:
        """As :meth:`tmem.Memory.add`."""
        add = self.memory.add
        return await in_thread(add, messages, user_id, session_id, progress=progress, derive=derive)

    async def reindex(self, user_id: str, *, progress: Progress | None = None) -> IngestReport:
        """As :meth:`tmem.Memory.reindex`."""
        return await in_thread(self.memory.reindex, user_id, progress=progress)

    async def update(self, id: str, user_id: str, content: str) -> Record:
        """As :meth:`tmem.Memory.update`."""
        return await in_thread(self.memory.update, id, user_id, content)

    async def delete(self, id: str, user_id: str) -> int:
        """As :meth:`tmem.Memory.delete`."""
        return await in_thread(self.memory.delete, id, user_id)

    async def delete_user(self, user_id: str) -> int:
        """As :meth:`tmem.Memory.delete_user`."""
        return await in_thread(self.memory.delete_user, user_id)

    # --- read ----------------------------------------------------------------------------------
    async def search(
        self, query: str, user_id: str, limit: int = 10, *, min_similarity: float | None = None
    ) -> builtins.list[Hit]:
        """As :meth:`tmem.Memory.search`."""
        return await in_thread(
            self.memory.search, query, user_id, limit, min_similarity=min_similarity
        )

    async def answer(self, question: str, user_id: str, *, include_flagged: bool = False) -> Answer:
        """As :meth:`tmem.Memory.answer`."""
        answer = self.memory.answer
        return await in_thread(answer, question, user_id, include_flagged=include_flagged)

    async def get(self, id: str, user_id: str) -> Record:
        """As :meth:`tmem.Memory.get`."""
        return await in_thread(self.memory.get, id, user_id)

    async def list(self, user_id: str, kind: Kind | None = None) -> builtins.list[Record]:
        """As :meth:`tmem.Memory.list`."""
        return await in_thread(self.memory.list, user_id, kind)

    async def list_page(
        self,
        user_id: str,
        kind: Kind | None = None,
        *,
        limit: int = DEFAULT_PAGE_LIMIT,
        cursor: str | None = None,
    ) -> Page[Record]:
        """As :meth:`tmem.Memory.list_page`."""
        return await in_thread(self.memory.list_page, user_id, kind, limit=limit, cursor=cursor)

    async def history(self, id: str, user_id: str) -> builtins.list[HistoryEntry]:
        """As :meth:`tmem.Memory.history`."""
        return await in_thread(self.memory.history, id, user_id)

    async def history_page(
        self,
        id: str,
        user_id: str,
        *,
        limit: int = DEFAULT_PAGE_LIMIT,
        cursor: str | None = None,
    ) -> Page[HistoryEntry]:
        """As :meth:`tmem.Memory.history_page`."""
        return await in_thread(self.memory.history_page, id, user_id, limit=limit, cursor=cursor)

    # --- persona and instructions ----------------------------------------------------------------
    async def persona(self, user_id: str) -> builtins.list[PersonaEntry]:
        """As :meth:`tmem.Memory.persona`."""
        return await in_thread(self.memory.persona, user_id)

    async def set_persona_entry(
        self,
        user_id: str,
        value: str,
        *,
        id: str | None = None,
        speaker: str | None = None,
        section: str | None = None,
        key: str | None = None,
        pinned: bool | None = None,
    ) -> PersonaEntry:
        """As :meth:`tmem.Memory.set_persona_entry`."""
        return await in_thread(
            self.memory.set_persona_entry,
            user_id,
            value,
            id=id,
            speaker=speaker,
            section=section,
            key=key,
            pinned=pinned,
        )

    async def pin_persona_entry(self, id: str, user_id: str, pinned: bool = True) -> PersonaEntry:
        """As :meth:`tmem.Memory.pin_persona_entry`."""
        return await in_thread(self.memory.pin_persona_entry, id, user_id, pinned)

    async def delete_persona_entry(self, id: str, user_id: str) -> int:
        """As :meth:`tmem.Memory.delete_persona_entry`."""
        return await in_thread(self.memory.delete_persona_entry, id, user_id)

    async def instructions(self, user_id: str) -> str:
        """As :meth:`tmem.Memory.instructions`."""
        return await in_thread(self.memory.instructions, user_id)

    async def set_instructions(self, user_id: str, text: str) -> str:
        """As :meth:`tmem.Memory.set_instructions`."""
        return await in_thread(self.memory.set_instructions, user_id, text)

    # --- injection flags -------------------------------------------------------------------------
    async def flagged(
        self, user_id: str, *, include_cleared: bool = False
    ) -> builtins.list[RiskFlag]:
        """As :meth:`tmem.Memory.flagged`."""
        return await in_thread(self.memory.flagged, user_id, include_cleared=include_cleared)

    async def review_flag(self, id: str, user_id: str, verdict: str, note: str = "") -> RiskFlag:
        """As :meth:`tmem.Memory.review_flag`."""
        return await in_thread(self.memory.review_flag, id, user_id, verdict, note)

    async def scan_flags(self, user_id: str) -> builtins.list[RiskFlag]:
        """As :meth:`tmem.Memory.scan_flags`."""
        return await in_thread(self.memory.scan_flags, user_id)

    async def flag_history(self, id: str, user_id: str) -> builtins.list[RiskFlag]:
        """As :meth:`tmem.Memory.flag_history`."""
        return await in_thread(self.memory.flag_history, id, user_id)

    # --- export / import ---------------------------------------------------------------------
    async def export(self, user_id: str) -> Iterator[dict[str, Any]]:
        """As :meth:`tmem.Memory.export`; the rows are read whole in the worker thread, so
        iterating them never touches the store from the event loop."""
        rows = await in_thread(_drained, self.memory.export, user_id)
        return iter(rows)

    async def export_page(
        self, user_id: str, *, limit: int = DEFAULT_PAGE_LIMIT, cursor: str | None = None
    ) -> Page[dict[str, Any]]:
        """As :meth:`tmem.Memory.export_page`."""
        return await in_thread(self.memory.export_page, user_id, limit=limit, cursor=cursor)

    async def import_records(self, records: Iterable[dict[str, Any]], user_id: str) -> int:
        """As :meth:`tmem.Memory.import_records` (``records`` is consumed in the worker thread)."""
        return await in_thread(self.memory.import_records, records, user_id)

    # --- lifecycle -------------------------------------------------------------------------------
    async def aclose(self) -> None:
        """Close the store (in a worker thread: a Postgres pool closes its connections)."""
        await in_thread(self.memory.close)

    async def __aenter__(self) -> AsyncMemory:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


def _drained(
    export: Callable[[str], Iterator[dict[str, Any]]], user_id: str
) -> builtins.list[dict[str, Any]]:
    return builtins.list(export(user_id))
