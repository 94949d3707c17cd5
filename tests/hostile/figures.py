"""Figures the hostile battery reports: each test adds its counts, a run sums them.

With ``TMEM_HOSTILE_REPORT=path`` every test appends one JSON line of counts there;
``python -m tests.hostile.figures path`` prints the totals (``make hostile`` does both).
"""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

# Read at import: the suite's autouse fixture hides TMEM_* variables from the tests themselves.
REPORT = os.environ.get("TMEM_HOSTILE_REPORT", "")
FIGURES = (
    "requests",
    "kills",
    "processes",
    "server_errors",
    "lost_writes",
    "duplicate_writes",
    "duplicate_seq",
    "detached_turns",
    "cross_tenant_reads",
    "integrity_failures",
)


def record(test: str, counts: Mapping[str, int]) -> None:
    """Append ``counts`` for ``test`` to the report file, when one is configured."""
    if not REPORT:
        return
    with Path(REPORT).open("a", encoding="utf-8") as out:
        out.write(json.dumps({"test": test, **counts}) + "\n")


def totals(path: Path) -> Counter[str]:
    summed: Counter[str] = Counter()
    for line in path.read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        summed.update({k: int(v) for k, v in entry.items() if k != "test"})
    return summed


def main(argv: list[str]) -> int:
    summed = totals(Path(argv[0]))
    for name in FIGURES:
        print(f"{name:>20}: {summed.get(name, 0)}")
    bad = sum(summed.get(name, 0) for name in FIGURES[3:])
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
