"""``TmemStore``: a LangGraph ``BaseStore`` whose items are tmem memories.

One label of every namespace names the tmem user (``user_index``, the first label by default):
``("ana", "memories")`` is user ``ana``'s, and so is ``("ana", "profile")``. Each item is one
turn of that user (:mod:`tmem.integrations.keyvalue` says how), so:

- ``search`` with a ``query`` is tmem's recall (dense, BM25, context, and in full mode the
  scenes, items and triggers derived from the items): an item comes back when a memory resting
  on it is recalled, best first, scored by tmem's fused score;
- ``delete`` (and a ``put`` over an existing key) is tmem's ``delete``: the turn, every scene
  and item derived from it, their vectors and index rows are erased, history keeps a
  tombstone; ``memory.delete_user(user)`` erases every namespace of the user;
- the value comes back exactly as JSON round-trips it, with ``created_at`` kept across puts;
  what tmem embeds and indexes is the value alone (its text when it is one string field).

Limits, each raising a clear error rather than passing unnoticed: no TTL, no per-put
``index`` (tmem indexes each value as a whole), a namespace or search prefix must reach the
user label, and a namespace and key must fit a tmem session id (about 160 characters).
Filters are applied to the values themselves: exactly without a query, and with one to the
memories tmem recalls (at most ``MAX_LIMIT`` deep). Reads and writes in one ``batch`` run in
order; a ``put`` over an existing key deletes and then adds, so a failure in between leaves
the key absent. See ``docs/integrations.md``. Requires ``pip install 'tmem[langgraph]'``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import groupby
from typing import Any

try:
    from langgraph.store.base import (
        BaseStore,
        GetOp,
        InvalidNamespaceError,
        Item,
        ListNamespacesOp,
        MatchCondition,
        Op,
        PutOp,
        Result,
        SearchItem,
        SearchOp,
    )
except ImportError as error:
    raise ImportError(
        "tmem.integrations.langgraph needs LangGraph: pip install 'tmem[langgraph]'"
    ) from error

from tmem.async_memory import in_thread
from tmem.errors import InputError, NotFoundError
from tmem.ingest.normalize import to_message
from tmem.integrations.keyvalue import (
    PREFIX,
    SPEAKER,
    KeyValue,
    Stored,
    check_filter,
    decode,
    encode,
    ends_with,
    item_id,
    matches,
    starts_with,
)
from tmem.memory import Memory
from tmem.models import Hit, Message
from tmem.validate import MAX_LIMIT, check_id, check_user_id

RECALL_DEPTH = 40
"""How many memories a query search asks tmem for first; it asks for more (up to
``MAX_LIMIT``) while the namespace prefix and filter leave too few."""
_PLACEHOLDER = datetime(2000, 1, 1, tzinfo=UTC)  # a created_at as long as any real one


@dataclass
class _Plan:
    """What one user's puts erase and add, decided before anything is written."""

    user: str
    erase: list[str] = field(default_factory=list)
    add: list[Stored] = field(default_factory=list)


class TmemStore(BaseStore):
    """A LangGraph store backed by a :class:`tmem.Memory` (see the module docstring).

    Args:
        memory: the memory to keep the items in; the store does not close it.
        user_index: the position in every namespace of the label that names the tmem user.
        derive: passed to :meth:`tmem.Memory.add`; in full mode ``False`` stores items without
            an LLM call and :meth:`tmem.Memory.reindex` derives them later.

    Example::

        store = TmemStore(Memory.open("tmem.db"))
        store.put(("ana", "memories"), "diet", {"text": "Ben is allergic to shellfish"})
        store.search(("ana", "memories"), query="which dinner venue?")
    """

    def __init__(self, memory: Memory, *, user_index: int = 0, derive: bool = True) -> None:
        if isinstance(user_index, bool) or not isinstance(user_index, int) or user_index < 0:
            raise InputError("user_index must be a non-negative integer")
        self.memory = memory
        self.user_index = user_index
        self.derive = derive

    # --- BaseStore -----------------------------------------------------------------------------
    def batch(self, ops: Iterable[Op]) -> list[Result]:
        """Run ``ops`` in order; every op is checked before the first one runs."""
        ops = list(ops)
        for op in ops:
            self._check(op)
        results: list[Result] = []
        for is_put, run in groupby(ops, key=lambda op: isinstance(op, PutOp)):
            run_ops = list(run)
            if is_put:
                self._put([op for op in run_ops if isinstance(op, PutOp)])
                results.extend(None for _ in run_ops)
            else:
                results.extend(self._read(op) for op in run_ops)
        return results

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        """:meth:`batch` in a worker thread, so the event loop never waits on tmem."""
        return await in_thread(self.batch, list(ops))

    # --- checks --------------------------------------------------------------------------------
    def _user(self, namespace: Sequence[str]) -> str:
        _check_labels(namespace)
        if len(namespace) <= self.user_index:
            raise InvalidNamespaceError(
                f"namespace {tuple(namespace)} has no label at position {self.user_index}, "
                f"which names the tmem user (TmemStore(user_index={self.user_index}))"
            )
        return check_user_id(namespace[self.user_index])

    def _check(self, op: Op) -> None:
        if not isinstance(op, (GetOp, PutOp, SearchOp, ListNamespacesOp)):
            raise InputError(f"unknown store operation {type(op).__name__}")
        if isinstance(op, GetOp):
            self._user(op.namespace)
        elif isinstance(op, PutOp):
            self._user(op.namespace)
            _check_put(op)
        elif isinstance(op, SearchOp):
            self._user(op.namespace_prefix)
            check_filter(op.filter or {})
            _check_page(op.limit, op.offset)
        else:
            for condition in op.match_conditions or ():
                _check_labels(condition.path)
                if condition.match_type not in ("prefix", "suffix"):
                    raise InputError(f"unknown namespace match type {condition.match_type!r}")
            if op.max_depth is not None and op.max_depth < 1:
                raise InputError("max_depth must be at least 1")
            _check_page(op.limit, op.offset)

    # --- reads ---------------------------------------------------------------------------------
    def _read(self, op: Op) -> Result:
        if isinstance(op, GetOp):
            return self._get(op)
        if isinstance(op, SearchOp):
            return self._search(op)
        assert isinstance(op, ListNamespacesOp)
        return self._namespaces(op)

    def _get(self, op: GetOp) -> Item | None:
        user = self._user(op.namespace)
        record = self.memory.store.get(user, item_id(op.namespace, op.key))
        found = decode(record) if record is not None else None
        if found is None or (found.namespace, found.key) != (tuple(op.namespace), op.key):
            return None
        return Item(
            value=found.value,
            key=found.key,
            namespace=found.namespace,
            created_at=found.created_at,
            updated_at=found.updated_at,
        )

    def _search(self, op: SearchOp) -> list[SearchItem]:
        user = self._user(op.namespace_prefix)
        prefix = tuple(op.namespace_prefix)
        conditions = op.filter or {}

        def wanted(found: KeyValue) -> bool:
            return found.namespace[: len(prefix)] == prefix and matches(found.value, conditions)

        needed = op.offset + op.limit
        if op.limit == 0:
            scored: list[tuple[KeyValue, float | None]] = []
        elif op.query:
            scored = self._recall(user, op.query, wanted, needed)
        else:
            scored = [(found, None) for found in self._items(user) if wanted(found)]
            scored.reverse()  # newest first; the stable sort keeps later puts first on ties
            scored.sort(key=lambda pair: pair[0].updated_at, reverse=True)
        return [
            SearchItem(
                namespace=found.namespace,
                key=found.key,
                value=found.value,
                created_at=found.created_at,
                updated_at=found.updated_at,
                score=score,
            )
            for found, score in scored[op.offset : needed]
        ]

    def _recall(
        self, user: str, query: str, wanted: Callable[[KeyValue], bool], needed: int
    ) -> list[tuple[KeyValue, float | None]]:
        """The wanted items resting on what tmem recalls for ``query``, best first."""
        depth = min(MAX_LIMIT, max(needed, RECALL_DEPTH))
        while True:
            hits = self.memory.search(query, user, depth)
            found = self._items_of(user, hits, wanted)
            if len(found) >= needed or len(hits) < depth or depth == MAX_LIMIT:
                return found
            depth = min(MAX_LIMIT, depth * 4)

    def _items_of(
        self, user: str, hits: Sequence[Hit], wanted: Callable[[KeyValue], bool]
    ) -> list[tuple[KeyValue, float | None]]:
        recalled = dict.fromkeys(t for hit in hits for t in hit.source_turns)
        ids = [t for t in recalled if t.startswith(PREFIX)]
        turns = {turn.id: turn for turn in self.memory.store.turns(user, ids)}
        seen: set[str] = set()
        found: list[tuple[KeyValue, float | None]] = []
        for hit in hits:
            for turn_id in hit.source_turns:
                item = decode(turns[turn_id]) if turn_id in turns else None
                if item is not None and turn_id not in seen and wanted(item):
                    seen.add(turn_id)
                    found.append((item, hit.score))
        return found

    def _items(self, user: str) -> list[KeyValue]:
        """Every item of ``user``, in the order they were stored."""
        decoded = (decode(record) for record in self.memory.store.list(user, "turn"))
        return [found for found in decoded if found is not None]

    def _namespaces(self, op: ListNamespacesOp) -> list[tuple[str, ...]]:
        conditions = op.match_conditions or ()
        users = self._users(conditions)
        spaces = {found.namespace for user in users for found in self._items(user)}
        kept = {
            space if op.max_depth is None else space[: op.max_depth]
            for space in spaces
            if all(_meets(space, condition) for condition in conditions)
        }
        return sorted(kept)[op.offset : op.offset + op.limit]

    def _users(self, conditions: Sequence[MatchCondition]) -> list[str]:
        """The users a listing must read: the one a prefix names, else every user."""
        for condition in conditions:
            path = condition.path
            pinned = len(path) > self.user_index and path[self.user_index] != "*"
            if condition.match_type == "prefix" and pinned:
                return [check_user_id(path[self.user_index])]
        return self.memory.store.users()

    # --- writes --------------------------------------------------------------------------------
    def _put(self, ops: Sequence[PutOp]) -> None:
        latest = {(tuple(op.namespace), op.key): op for op in ops}  # a later put of a key wins
        by_user: dict[str, list[PutOp]] = defaultdict(list)
        for op in latest.values():
            by_user[self._user(op.namespace)].append(op)
        now = self.memory.clock.now()
        plans = [self._plan(user, puts, now) for user, puts in by_user.items()]
        for plan in plans:
            for turn_id in plan.erase:
                with suppress(NotFoundError):  # another writer deleted it first: gone either way
                    self.memory.delete(turn_id, plan.user)
            for item in plan.add:  # each item its own session: see keyvalue's docstring
                message = Message(SPEAKER, item.content, now, item.id)
                self.memory.add([message], plan.user, item.session, derive=self.derive)

    def _plan(self, user: str, puts: Sequence[PutOp], now: datetime) -> _Plan:
        ids = [item_id(op.namespace, op.key) for op in puts]
        stored = self.memory.store.get_many(user, ids)
        plan = _Plan(user)
        for op, turn_id in zip(puts, ids, strict=True):
            created = now
            record = stored.get(turn_id)
            if record is not None:
                found = decode(record)
                if found is None or (found.namespace, found.key) != (tuple(op.namespace), op.key):
                    raise InputError(
                        f"user {user!r} has a memory {turn_id!r} that is not the item "
                        f"{op.key!r} of {tuple(op.namespace)}; the store leaves it alone"
                    )
                plan.erase.append(turn_id)
                created = found.created_at
            if op.value is not None:
                plan.add.append(encode(op.namespace, op.key, op.value, created))
        return plan


def _check_labels(namespace: Sequence[str]) -> None:
    """LangGraph's rule for labels, applied to ops handed to ``batch`` directly too."""
    for label in namespace:
        if not isinstance(label, str) or not label or "." in label or "\x00" in label:
            raise InvalidNamespaceError(
                f"namespace labels must be non-empty strings without '.' or NUL: {namespace!r}"
            )


def _check_put(op: PutOp) -> None:
    """Refuse what tmem cannot do for a put, before anything of the batch is written."""
    if op.namespace[0] == "langgraph":
        raise InvalidNamespaceError(f'the root label of a namespace cannot be "langgraph": {op}')
    if op.ttl is not None:
        raise InputError("tmem keeps memories until they are deleted: TTL is not supported")
    if op.index is not None:
        raise InputError(
            "tmem indexes each value as a whole: put with index=None (index=False and "
            "field lists are not supported)"
        )
    if op.value is not None:
        item = encode(op.namespace, op.key, op.value, _PLACEHOLDER)
        to_message(Message(SPEAKER, item.content, None, item.id))
        check_id(item.session, "session")


def _check_page(limit: Any, offset: Any) -> None:
    for name, number in (("limit", limit), ("offset", offset)):
        if isinstance(number, bool) or not isinstance(number, int) or number < 0:
            raise InputError(f"{name} must be a non-negative integer")


def _meets(namespace: tuple[str, ...], condition: MatchCondition) -> bool:
    if condition.match_type == "prefix":
        return starts_with(namespace, condition.path)
    return ends_with(namespace, condition.path)


__all__ = ["TmemStore"]
