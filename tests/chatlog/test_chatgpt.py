"""The ChatGPT data export (``conversations.json``), on a small file written for the test.

Its shape follows the real export: a list of conversations with ``mapping`` (a tree of nodes
with ``parent``/``children``), ``current_node``, and messages with ``author.role``,
``create_time`` in Unix seconds and ``content.parts``.
"""

from __future__ import annotations

import json
from typing import Any

from tmem.chatlog import detect_format, read_chat


def node(node_id: str, parent: str | None, children: list[str], message: Any) -> dict[str, Any]:
    return {"id": node_id, "parent": parent, "children": children, "message": message}


def message(
    msg_id: str, role: str, parts: list[Any], at: float | None, **extra: Any
) -> dict[str, Any]:
    return {
        "id": msg_id,
        "author": {"role": role, "name": None, "metadata": {}},
        "create_time": at,
        "content": {"content_type": "text", "parts": parts},
        "metadata": extra,
    }


EXPORT: list[dict[str, Any]] = [
    {
        "id": "conv-1",
        "conversation_id": "conv-1",
        "title": "Team dinner",
        "create_time": 1725305000.0,
        "current_node": "n4b",
        "mapping": {
            "root": node("root", None, ["n1"], None),
            "n1": node(
                "n1",
                "root",
                ["n2"],
                message("m-sys", "system", [""], None, is_visually_hidden_from_conversation=True),
            ),
            "n2": node(
                "n2",
                "n1",
                ["n3"],
                message("m-u1", "user", ["Priya is allergic to shellfish."], 1725305000.5),
            ),
            "n3": node(
                "n3", "n2", ["n4a", "n4b"], message("m-a1", "assistant", ["Noted."], 1725305001.0)
            ),
            "n4a": node(
                "n4a",
                "n3",
                [],
                message(
                    "m-u2-old", "user", ["Where should we eat? (abandoned edit)"], 1725305100.0
                ),
            ),
            "n4b": node(
                "n4b",
                "n3",
                [],
                message(
                    "m-u2",
                    "user",
                    ["Where should we eat?", {"content_type": "image_asset_pointer"}],
                    1725305200.0,
                ),
            ),
        },
    },
    {
        "id": "conv-2",
        "title": "Empty",
        "current_node": "r",
        "mapping": {"r": node("r", None, [], None)},
    },
]


def test_the_active_branch_of_each_conversation_becomes_a_session() -> None:
    text = json.dumps(EXPORT)
    assert detect_format(text) == "chatgpt"
    (session,) = read_chat(text, "auto", "unused")
    assert (session.session_id, session.title, session.skipped) == ("conv-1", "Team dinner", 1)
    assert session.messages == (
        {
            "id": "m-u1",
            "speaker": "user",
            "content": "Priya is allergic to shellfish.",
            "timestamp": "2024-09-02T19:23:20.500000+00:00",
        },
        {
            "id": "m-a1",
            "speaker": "assistant",
            "content": "Noted.",
            "timestamp": "2024-09-02T19:23:21+00:00",
        },
        {
            "id": "m-u2",
            "speaker": "user",
            "content": "Where should we eat?",
            "timestamp": "2024-09-02T19:26:40+00:00",
        },
    )


def test_without_current_node_the_latest_branch_is_followed() -> None:
    conversation: dict[str, Any] = dict(EXPORT[0])
    del conversation["current_node"]
    (session,) = read_chat(json.dumps([conversation]), "chatgpt", "unused")
    assert [m["id"] for m in session.messages] == ["m-u1", "m-a1", "m-u2"]


def test_a_file_that_is_not_an_export_says_so() -> None:
    import pytest

    from tmem.errors import InputError

    with pytest.raises(InputError, match='conversation 1 has no "mapping"'):
        read_chat(json.dumps([{"title": "x"}]), "chatgpt", "s")


def test_a_cycle_in_the_tree_ends_the_branch_instead_of_looping() -> None:
    mapping = {
        "a": node("a", "b", ["b"], message("m-a", "user", ["first"], 1.0)),
        "b": node("b", "a", ["a"], message("m-b", "assistant", ["second"], 2.0)),
    }
    (session,) = read_chat(
        json.dumps([{"id": "c", "current_node": "b", "mapping": mapping}]), "chatgpt", "s"
    )
    assert [m["id"] for m in session.messages] == ["m-a", "m-b"]
