"""Coarse labels for the pause before a turn (as in T-Mem)."""

from __future__ import annotations

from datetime import datetime

GAP_LABELS: tuple[str, ...] = ("immediate", "minutes", "hours", "days")


def gap_label(previous: datetime | None, current: datetime) -> str:
    """``immediate`` (< 1 min), ``minutes`` (< 1 h), ``hours`` (< 1 day) or ``days``.

    Returns ``""`` when there is no previous turn. A negative gap (out-of-order timestamps)
    counts as immediate.
    """
    if previous is None:
        return ""
    seconds = (current - previous).total_seconds()
    if seconds < 60:
        return "immediate"
    if seconds < 3600:
        return "minutes"
    if seconds < 86400:
        return "hours"
    return "days"
