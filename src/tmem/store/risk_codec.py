"""How a flag's reasons are written in a store: a JSON list of ``[code, start, end]``."""

from __future__ import annotations

import json
from typing import Any

from tmem.models import RiskReason


def reasons_to_json(reasons: tuple[RiskReason, ...]) -> str:
    return json.dumps([[r.code, r.start, r.end] for r in reasons])


def reasons_from_json(raw: Any) -> tuple[RiskReason, ...]:
    """Reasons from a JSON text (SQLite) or an already decoded list (Postgres ``jsonb``)."""
    rows = json.loads(raw) if isinstance(raw, str) else raw
    return tuple(RiskReason(str(code), int(start), int(end)) for code, start, end in rows)
