"""The one grammar for the ids callers choose: message ids and user ids.

The grammar and its limit live in :mod:`tmem.validate` with the other input checks; this module
keeps the names it has always offered.
"""

from __future__ import annotations

from tmem.validate import MAX_ID_CHARS, check_id, check_lookup_id, id_problem

__all__ = ["MAX_ID_CHARS", "check_id", "check_lookup_id", "id_problem"]
