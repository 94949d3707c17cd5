"""A stand-in with :class:`tmem.Memory`'s add/search/answer/close, persisted as JSON at its path."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from tmem.models import Answer, Hit, IngestReport, Usage

WORD = re.compile(r"[a-z]+")


class StandInMemory:
    opened: ClassVar[list[Path]] = []

    def __init__(self, path: Path, now: datetime) -> None:
        StandInMemory.opened.append(path)
        self.path = path
        self.now = now
        self.turns: list[dict[str, str]] = json.loads(path.read_text()) if path.exists() else []

    def add(
        self, messages: Sequence[Mapping[str, Any]], user_id: str, session_id: str | None = None
    ) -> IngestReport:
        for message in messages:
            self.turns.append({**message, "session": session_id or "", "user": user_id})
        ids = tuple(str(m["id"]) for m in messages)
        return IngestReport(
            user_id,
            session_id or "",
            "full",
            len(messages),
            0,
            0,
            {},
            0,
            Usage(len(messages), 10 * len(messages), 0),
            (),
            ids,
        )

    def search(self, query: str, user_id: str, limit: int = 10) -> list[Hit]:
        words = set(WORD.findall(query.lower()))
        scored = [
            (len(words & set(WORD.findall(t["content"].lower()))), i)
            for i, t in enumerate(self.turns)
        ]
        ranked = [i for score, i in sorted(scored, key=lambda p: (-p[0], p[1]))][:limit]
        return [self._hit(self.turns[i]) for i in ranked if self.turns[i]["user"] == user_id]

    def _hit(self, turn: Mapping[str, str]) -> Hit:
        text = f"{turn['speaker']}: {turn['content']}"
        return Hit(turn["id"], "turn", text, 1.0, turn["timestamp"], (turn["id"],), ("overlap",))

    def answer(self, question: str, user_id: str) -> Answer:
        hits = self.search(question, user_id, limit=1)
        return Answer(hits[0].text if hits else "not mentioned", tuple(hits), Usage(1, 40, 5))

    def close(self) -> None:
        self.path.write_text(json.dumps(self.turns))
