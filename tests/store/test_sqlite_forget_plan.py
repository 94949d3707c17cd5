"""A deletion planned before its write transaction reuses the plan only while it still holds."""

from __future__ import annotations

from typing import Any

import pytest

from tmem.store import plan
from tmem.store.base import Forgetting
from tmem.store.forget_cache import KEPT, PlanCache
from tmem.store.sqlite import SQLiteStore

from .records import T0, batch, item, scene, turn


def _store() -> SQLiteStore:
    store = SQLiteStore(":memory:")
    turns = tuple(turn("u1", i, f"turn {i} about the garden") for i in range(4))
    store.write(
        batch(
            "u1",
            turns=turns,
            scenes=(scene("u1", "u1-s1", ("u1-t0", "u1-t1"), "they talk about the garden"),),
            items=(item("u1", "u1-i1", "the garden has roses", turns=("u1-t0",)),),
        )
    )
    return store


def _counting(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    inner = plan.plan_forget_of

    def counted(steps: Any, user_id: str, memory_id: str) -> Forgetting:
        calls.append(memory_id)
        return inner(steps, user_id, memory_id)

    monkeypatch.setattr(plan, "plan_forget_of", counted)
    return calls


def test_an_unchanged_user_is_not_planned_again_inside_the_write(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = _store()
    calls = _counting(monkeypatch)
    planned = store.plan_forget("u1", "u1-t0")
    store.delete_memory("u1", "u1-t0", T0)
    assert calls == ["u1-t0"]  # the read snapshot's plan, used by the write
    assert planned.scenes == ("u1-s1",) and planned.items == ("u1-i1",)
    assert store.get_many("u1", ["u1-t0", "u1-s1", "u1-i1", "u1-t1"]).keys() == {"u1-t1"}


def test_a_change_between_planning_and_erasing_is_planned_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = _store()
    calls = _counting(monkeypatch)
    store.plan_forget("u1", "u1-t0")
    # Written after the plan: an item resting on the turn about to be deleted.
    store.write(batch("u1", items=(item("u1", "u1-i2", "roses need sun", turns=("u1-t0",)),)))
    store.delete_memory("u1", "u1-t0", T0)
    assert calls == ["u1-t0", "u1-t0"]
    assert "u1-i2" not in store.get_many("u1", ["u1-i2"])  # a stale plan would have kept it


def test_a_plan_serves_one_deletion_of_its_own_memory() -> None:
    cache = PlanCache()
    forgetting = Forgetting(requested="m", turns=("m",))
    cache.keep("u", "m", 7, forgetting)
    assert cache.take("u", "other", 7) is None
    assert cache.take("u", "m", 8) is None  # the user changed: and the plan is gone
    cache.keep("u", "m", 7, forgetting)
    assert cache.take("u", "m", 7) is forgetting
    assert cache.take("u", "m", 7) is None
    cache.keep("u", "m", None, forgetting)  # an unknown user has no generation to check
    assert cache.take("u", "m", None) is None


def test_the_cache_keeps_a_bounded_number_of_plans() -> None:
    cache = PlanCache()
    forgetting = Forgetting(requested="m", turns=("m",))
    for i in range(KEPT + 5):
        cache.keep("u", f"m{i}", 1, forgetting)
    assert cache.take("u", "m0", 1) is None
    assert cache.take("u", f"m{KEPT + 4}", 1) is forgetting
