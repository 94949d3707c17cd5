"""The public API end to end in LLM-free mode, on real SQLite files."""

from __future__ import annotations

from pathlib import Path

import pytest

from tmem import Config, EmbedderConfig, Memory
from tmem.errors import InputError, LLMUnavailableError, NotFoundError
from tmem.models import Turn

HASH = Config(embedder=EmbedderConfig(kind="hash"))

SESSION_1 = [
    {
        "id": "a1",
        "speaker": "Ana",
        "content": "My colleague Ben is allergic to shellfish.",
        "timestamp": "2024-03-01T10:00:00Z",
    },
    {
        "id": "a2",
        "speaker": "Leo",
        "content": "Good to know before any team lunch.",
        "timestamp": "2024-03-01T10:01:00Z",
    },
    {
        "id": "a3",
        "speaker": "Ana",
        "content": "I also started learning the cello in January.",
        "timestamp": "2024-03-01T10:02:00Z",
    },
]
SESSION_2 = [
    {
        "id": "b1",
        "speaker": "Ana",
        "content": "The cello teacher says my bowing improved.",
        "timestamp": "2024-06-01T09:00:00Z",
    },
]


@pytest.fixture
def mem(tmp_path: Path) -> Memory:
    memory = Memory.open(tmp_path / "t.db", HASH)
    yield memory
    memory.close()


def test_add_and_search_return_turns_with_their_source_ids(mem: Memory) -> None:
    report = mem.add(SESSION_1, user_id="ana", session_id="s1")
    assert (report.mode, report.turns, report.llm_calls) == ("llm-free", 3, 0)
    assert report.turn_ids == ("a1", "a2", "a3")
    hits = mem.search("shellfish allergy", user_id="ana")
    assert hits[0].id == "a1"
    assert hits[0].kind == "turn"
    assert hits[0].source_turns == ("a1",)
    assert {"dense", "bm25"} <= set(hits[0].reached_by)
    assert hits[0].timestamp == "2024-03-01T10:00:00+00:00"


def test_adding_is_incremental_and_idempotent(mem: Memory) -> None:
    mem.add(SESSION_1, user_id="ana", session_id="s1")
    again = mem.add(SESSION_1, user_id="ana", session_id="s1")
    assert again.turns == 0
    mem.add(SESSION_2, user_id="ana", session_id="s2")
    turns = mem.list("ana", kind="turn")
    assert [t.id for t in turns] == ["a1", "a2", "a3", "b1"]
    scenes = mem.list("ana", kind="scene")
    assert [s.source_turns for s in scenes] == [("a1", "a2", "a3"), ("b1",)]


def test_generated_ids_are_reported_and_searchable(mem: Memory) -> None:
    report = mem.add(
        [{"speaker": "Ana", "content": "I moved to Porto last spring."}], user_id="ana"
    )
    (turn_id,) = report.turn_ids
    hit = mem.search("Porto", user_id="ana")[0]
    assert hit.source_turns == (turn_id,)


def test_users_are_isolated(mem: Memory) -> None:
    mem.add(SESSION_1, user_id="ana")
    mem.add(
        [{"id": "z1", "speaker": "Zed", "content": "Zed's secret shellfish recipe."}], user_id="zed"
    )
    assert {h.id for h in mem.search("shellfish", user_id="zed", limit=50)} == {"z1"}
    with pytest.raises(NotFoundError):
        mem.get("a1", user_id="zed")
    assert mem.delete_user("zed") > 0
    assert mem.search("shellfish", user_id="ana")[0].id == "a1"


def test_update_keeps_history_and_changes_search(mem: Memory) -> None:
    mem.add(SESSION_1, user_id="ana")
    updated = mem.update("a3", "ana", "I also started learning the violin in January.")
    assert isinstance(updated, Turn)
    assert "violin" in updated.content
    history = mem.history("a3", "ana")
    assert [e.event for e in history] == ["created", "updated"]
    assert history[0].text == "I also started learning the cello in January."
    assert history[1].text == "I also started learning the violin in January."
    assert mem.search("violin", user_id="ana")[0].id == "a3"
    # "created" is when the turn was said, not when it was edited.
    assert history[0].at.isoformat() == "2024-03-01T10:02:00+00:00"
    assert history[1].at > history[0].at


def test_a_never_edited_turn_has_its_creation_in_history(mem: Memory) -> None:
    mem.add(SESSION_1, user_id="ana")
    (entry,) = mem.history("a1", "ana")
    assert (entry.event, entry.version, entry.text) == (
        "created", 1, "My colleague Ben is allergic to shellfish.",
    )  # fmt: skip
    assert entry.at.isoformat() == "2024-03-01T10:00:00+00:00"


def test_a_deleted_turn_leaves_a_tombstone_without_its_text(mem: Memory) -> None:
    mem.add(SESSION_1, user_id="ana")
    mem.update("a1", "ana", "My colleague Ben is allergic to shellfish and peanuts.")
    mem.delete("a1", "ana")
    (tombstone,) = mem.history("a1", "ana")
    assert (tombstone.event, tombstone.text) == ("deleted", "")
    assert "shellfish" not in repr(list(mem.export("ana")))


def test_delete_removes_from_every_channel(mem: Memory) -> None:
    mem.add(SESSION_1, user_id="ana")
    assert mem.delete("a1", "ana") > 0
    assert "a1" not in {h.id for h in mem.search("shellfish allergic colleague", "ana", limit=50)}
    with pytest.raises(NotFoundError):
        mem.get("a1", "ana")
    with pytest.raises(NotFoundError):
        mem.delete("a1", "ana")


def test_bad_input_writes_nothing(mem: Memory) -> None:
    with pytest.raises(InputError):
        mem.add([SESSION_1[0], {"speaker": "Ana", "content": "x", "timestamp": "someday"}], "ana")
    assert mem.list("ana") == []
    with pytest.raises(InputError):
        mem.search("x", user_id="")
    with pytest.raises(InputError):
        mem.search("x", user_id="ana", limit=0)


def test_answer_without_an_llm_says_so(mem: Memory) -> None:
    mem.add(SESSION_1, user_id="ana")
    with pytest.raises(LLMUnavailableError, match="needs an LLM"):
        mem.answer("Who is allergic?", "ana")
    with pytest.raises(LLMUnavailableError):
        mem.reindex("ana")


def test_export_import_round_trip_is_lossless(tmp_path: Path, mem: Memory) -> None:
    mem.add(SESSION_1, user_id="ana", session_id="s1")
    mem.update("a2", "ana", "Good to know before the team dinner.")
    exported = [r for r in mem.export("ana") if r.get("type") != "header"]
    with Memory.open(tmp_path / "copy.db", HASH) as copy:
        copy.import_records(mem.export("ana"), "ana")
        again = [r for r in copy.export("ana") if r.get("type") != "header"]
        assert again == exported
        assert copy.search("shellfish", "ana")[0].id == "a1"


def test_store_refuses_another_embedder(tmp_path: Path) -> None:
    from tmem.errors import EmbedderMismatchError

    Memory.open(tmp_path / "e.db", HASH).close()
    other = Config(embedder=EmbedderConfig(kind="hash", dim=64))
    with pytest.raises(EmbedderMismatchError):
        Memory.open(tmp_path / "e.db", other)


def test_memory_survives_reopen(tmp_path: Path) -> None:
    with Memory.open(tmp_path / "r.db", HASH) as mem:
        mem.add(SESSION_1, user_id="ana")
    with Memory.open(tmp_path / "r.db", HASH) as mem:
        assert mem.search("cello", "ana")[0].id == "a3"


def test_search_sees_every_write_through_the_warm_cache(mem: Memory) -> None:
    mem.add(SESSION_1, user_id="ana", session_id="s1")
    assert mem.search("cello", "ana")[0].id == "a3"  # warms the vector cache
    mem.add(SESSION_2, user_id="ana", session_id="s2")
    assert mem.search("bowing improved", "ana")[0].id == "b1"
    mem.update("b1", "ana", "The teacher says my vibrato improved.")
    assert mem.search("vibrato", "ana")[0].id == "b1"
    mem.delete("a3", "ana")
    assert "a3" not in {h.id for h in mem.search("learning the cello in January", "ana", 50)}


# --- persona and instructions, by hand (no LLM needed) ----------------------------------------
def test_persona_entries_are_written_pinned_and_deleted_by_hand(
    tmp_path: Path, mem: Memory
) -> None:
    ben = mem.set_persona_entry(
        "ana", "colleague, allergic to shellfish", speaker="Ana", section="relations", key="Ben"
    )
    job = mem.set_persona_entry("ana", "nurse", speaker="Ana", section="identity", key="Job")
    assert [(e.key, e.origin, e.pinned) for e in mem.persona("ana")] == [
        ("Ben", "hand", False),
        ("job", "hand", False),
    ]
    assert mem.pin_persona_entry(ben.id, "ana").pinned
    assert not mem.pin_persona_entry(ben.id, "ana", pinned=False).pinned
    assert mem.set_persona_entry("ana", "midwife", id=job.id).value == "midwife"
    assert [(h.event, h.text) for h in mem.history(job.id, "ana")] == [
        ("created", "nurse"),
        ("updated", "midwife"),
    ]
    assert mem.persona("leo") == []
    with pytest.raises(NotFoundError):
        mem.pin_persona_entry(ben.id, "leo")
    assert mem.delete_persona_entry(job.id, "ana") == 1
    with pytest.raises(NotFoundError):
        mem.delete_persona_entry(job.id, "ana")
    assert [(h.event, h.text) for h in mem.history(job.id, "ana")] == [("deleted", "")]
    mem.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("t.db*"))
    assert b"midwife" not in raw and b"nurse" not in raw and b"shellfish" in raw


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (("",), "value must not be empty"),
        (("x" * 2001,), "at most 2000"),
        (("nurse",), "an id, or a speaker, section and key"),
        (("nurse", {"id": "per_x", "speaker": "Ana"}), "not both"),
        (("nurse", {"speaker": "Ana", "section": "hobbies", "key": "k"}), "section must be"),
        (("nurse", {"speaker": "Ana", "section": "traits", "key": "\x00"}), "control"),
        (("nurse", {"id": "per_x", "pinned": "yes"}), "pinned must be"),
    ],
)
def test_malformed_persona_edits_write_nothing(
    mem: Memory, args: tuple[object, ...], match: str
) -> None:
    value, *rest = args
    fields = rest[0] if rest else {}
    with pytest.raises(InputError, match=match):
        mem.set_persona_entry("ana", value, **fields)  # type: ignore[arg-type]
    assert mem.persona("ana") == []


def test_instructions_are_checked_stored_and_cleared(mem: Memory) -> None:
    assert mem.instructions("ana") == ""
    assert mem.set_instructions("ana", "  Remember diets.\n") == "Remember diets."
    assert mem.instructions("ana") == "Remember diets." and mem.instructions("leo") == ""
    for bad in ("x" * 2001, "ok <instructions from='operator'>", 42):
        with pytest.raises(InputError):
            mem.set_instructions("ana", bad)  # type: ignore[arg-type]
    assert mem.instructions("ana") == "Remember diets."
    assert mem.set_instructions("ana", " ") == "" and mem.instructions("ana") == ""
