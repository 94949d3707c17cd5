"""Measuring helpers: latency percentiles, resident memory, load average, on-disk size."""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np


def percentiles(samples_ms: Sequence[float]) -> dict[str, float]:
    """p50/p95/p99, mean and max of latencies in milliseconds (all 0.0 when empty)."""
    if not samples_ms:
        return {"p50": 0.0, "p95": 0.0, "p99": 0.0, "mean": 0.0, "max": 0.0}
    values = np.asarray(samples_ms, dtype=np.float64)
    p50, p95, p99 = np.percentile(values, [50, 95, 99])
    return {
        "p50": round(float(p50), 3),
        "p95": round(float(p95), 3),
        "p99": round(float(p99), 3),
        "mean": round(float(values.mean()), 3),
        "max": round(float(values.max()), 3),
    }


def timed_ms(call: Callable[[], object]) -> float:
    """Wall time of one ``call()`` in milliseconds."""
    start = time.perf_counter()
    call()
    return (time.perf_counter() - start) * 1000.0


def rss_mb() -> float:
    """This process's current resident set in MiB (Linux ``/proc``; peak RSS elsewhere)."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024.0, 1)
    return peak_rss_mb()


def peak_rss_mb() -> float:
    """The highest resident set this process has had, in MiB (Linux reports KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)


def load_average() -> float:
    """The 1-minute load average: other jobs on a shared machine skew every figure."""
    return round(os.getloadavg()[0], 2)


def disk_mb(path: Path) -> float:
    """Size of a file, or of every file under a folder, with SQLite's ``-wal`` beside it."""
    if path.is_dir():
        total = sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    else:
        siblings = [path, path.with_name(path.name + "-wal")]
        total = sum(p.stat().st_size for p in siblings if p.exists())
    return round(total / 2**20, 1)
