"""Store contract: a batch whose basis no longer holds is refused whole (issue 12).

The pipeline plans a write (sequence numbers, the scene it extends, the turns it places) before
the store's transaction; the store re-checks that plan under the user's write lock. These tests
make the basis stale by hand, as another process would, and check that nothing is written.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from tmem.errors import WriteConflictError
from tmem.store.base import Basis, Store

from .records import batch, scene, turn

U = "u1"


def _seeded(store: Store) -> None:
    """Two turns in scene s1, one turn waiting in no scene; next seq is 3."""
    store.write(
        batch(
            U,
            turns=(turn(U, 0, "a"), turn(U, 1, "b"), turn(U, 2, "c")),
            scenes=(scene(U, "s1", ("u1-t0", "u1-t1"), "a b"),),
            scene_of_turn=(("u1-t0", "s1"), ("u1-t1", "s1")),
            pending_turns=("u1-t2",),
        )
    )


def _state(store: Store) -> list[dict[str, object]]:
    return list(store.export(U))[1:]


def test_a_current_basis_is_written(store: Store) -> None:
    _seeded(store)
    extended = scene(U, "s1", ("u1-t0", "u1-t1", "u1-t3"), "a b d")
    store.write(
        batch(
            U,
            turns=(turn(U, 3, "d"),),
            scenes=(extended,),
            scene_of_turn=(("u1-t3", "s1"),),
            basis=Basis(next_seq=3, scenes=(("s1", ("u1-t0", "u1-t1")),), unplaced=("u1-t2",)),
        )
    )
    assert store.next_seq(U) == 4
    assert store.last_scene(U) == extended


@pytest.mark.parametrize(
    "stale",
    [
        Basis(next_seq=2),  # another writer numbered turns meanwhile
        Basis(next_seq=4),
        Basis(scenes=(("s1", ("u1-t0",)),)),  # s1 gained a turn meanwhile
        Basis(scenes=(("gone", ("u1-t0",)),)),  # the scene was erased meanwhile
        Basis(unplaced=("u1-t0",)),  # another writer placed the turn meanwhile
        Basis(unplaced=("never-stored",)),  # or deleted it
    ],
    ids=["seq-behind", "seq-ahead", "scene-changed", "scene-gone", "turn-placed", "turn-gone"],
)
def test_a_stale_basis_writes_nothing(store: Store, stale: Basis) -> None:
    _seeded(store)
    before = _state(store)
    attempt = batch(
        U,
        turns=(turn(U, 3, "d"),),
        scenes=(scene(U, "s2", ("u1-t2", "u1-t3"), "c d"),),
        scene_of_turn=(("u1-t2", "s2"), ("u1-t3", "s2")),
        basis=Basis(next_seq=3, scenes=(("s1", ("u1-t0", "u1-t1")),), unplaced=("u1-t2",)),
    )
    with pytest.raises(WriteConflictError):
        store.write(replace(attempt, basis=stale))
    assert _state(store) == before
    assert store.next_seq(U) == 3
