"""The ChatGPT data export: ``conversations.json``.

The file is a JSON array of conversations. Each has an ``id`` (or ``conversation_id``), a
``title``, and a ``mapping`` from node id to ``{"message", "parent", "children"}``: a tree,
because editing a prompt or regenerating a reply branches it. ``current_node`` is the leaf of
the branch the user last saw; we follow it up to the root, so abandoned branches are left out.
A message has ``author.role``, ``create_time`` (Unix seconds) and ``content.parts``; only the
text parts of user and assistant messages are conversation.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from tmem.chatlog.model import ChatSession
from tmem.errors import InputError

_ROLES = frozenset({"user", "assistant"})


def parse_chatgpt(text: str) -> list[ChatSession]:
    """Every conversation of a ChatGPT export, in file order, empty ones left out.

    Raises:
        InputError: the text is not a ChatGPT ``conversations.json``.
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise InputError(f"line {error.lineno}: not valid JSON ({error.msg})") from None
    conversations = [data] if isinstance(data, dict) else data
    if not isinstance(conversations, list):
        raise InputError("a ChatGPT export is a JSON array of conversations")
    sessions = []
    for number, conversation in enumerate(conversations, start=1):
        if not isinstance(conversation, Mapping) or not isinstance(
            conversation.get("mapping"), Mapping
        ):
            raise InputError(f'conversation {number} has no "mapping"; is this conversations.json?')
        session = _session(conversation, number)
        if session.messages:
            sessions.append(session)
    return sessions


def _session(conversation: Mapping[str, Any], number: int) -> ChatSession:
    mapping: Mapping[str, Any] = conversation["mapping"]
    conversation_id = str(conversation.get("conversation_id") or conversation.get("id") or number)
    messages: list[dict[str, Any]] = []
    skipped = 0
    for node_id in _active_branch(mapping, conversation.get("current_node")):
        node = mapping.get(node_id)
        raw = node.get("message") if isinstance(node, Mapping) else None
        if not isinstance(raw, Mapping):
            continue
        message = _message(raw, node_id)
        if message is None:
            skipped += 1
        else:
            messages.append(message)
    title = conversation.get("title")
    return ChatSession(
        conversation_id, title if isinstance(title, str) else "", tuple(messages), skipped
    )


def _active_branch(mapping: Mapping[str, Any], current: object) -> list[str]:
    """Node ids from the root to ``current`` (or, without it, along each node's last child)."""
    if isinstance(current, str) and current in mapping:
        return _walk(mapping, current, _parent)[::-1]
    roots = [k for k, v in mapping.items() if isinstance(v, Mapping) and not v.get("parent")]
    return _walk(mapping, roots[0], _last_child) if roots else []


def _walk(mapping: Mapping[str, Any], start: str, step: Callable[[Any], object]) -> list[str]:
    """Node ids from ``start`` following ``step``, stopping at a missing node or a cycle."""
    path: list[str] = []
    seen: set[str] = set()
    node_id: object = start
    while isinstance(node_id, str) and node_id in mapping and node_id not in seen:
        path.append(node_id)
        seen.add(node_id)
        node_id = step(mapping[node_id])
    return path


def _parent(node: Any) -> object:
    return node.get("parent") if isinstance(node, Mapping) else None


def _last_child(node: Any) -> object:
    children = node.get("children") if isinstance(node, Mapping) else None
    return children[-1] if isinstance(children, list) and children else None


def _message(raw: Mapping[str, Any], node_id: str) -> dict[str, Any] | None:
    author = raw.get("author")
    role = author.get("role") if isinstance(author, Mapping) else None
    metadata = raw.get("metadata")
    hidden = isinstance(metadata, Mapping) and metadata.get("is_visually_hidden_from_conversation")
    content = raw.get("content")
    parts = content.get("parts") if isinstance(content, Mapping) else None
    texts = [p for p in parts or [] if isinstance(p, str) and p.strip()]
    if role not in _ROLES or hidden or not texts:
        return None
    message: dict[str, Any] = {
        "id": str(raw.get("id") or node_id),
        "speaker": str(role),
        "content": "\n".join(texts),
    }
    created = raw.get("create_time")
    if isinstance(created, (int, float)) and not isinstance(created, bool) and created > 0:
        message["timestamp"] = datetime.fromtimestamp(created, UTC).isoformat()
    return message
