"""JSON-ready views of tmem's objects, with the same field names as the Python objects.

Used by the CLI's ``--json`` output and the REST service, so both speak one vocabulary.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from tmem.models import IngestReport


def to_dict(obj: Any) -> Any:
    """Convert a tmem dataclass (or a list of them) into JSON-ready values."""
    if isinstance(obj, IngestReport):
        data = _plain(obj)
        data["llm_calls"] = obj.llm_calls
        data["tokens"] = obj.tokens
        return data
    if isinstance(obj, (list, tuple)):
        return [to_dict(o) for o in obj]
    return _plain(obj)


def _plain(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        data = {f.name: _plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
        if hasattr(obj, "text") and "text" not in data:
            data["text"] = obj.text
        return data
    if isinstance(obj, datetime):
        return obj.isoformat()
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(o) for o in obj]
    return obj
