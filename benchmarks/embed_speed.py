"""Measure the default embedder's throughput on short chat sentences.

Usage: python benchmarks/embed_speed.py OUT.json [--sentences 512] [--batch-size 64]

Prints sentences per second and writes the measurement, with the numpy/BLAS setup that
produced it, to OUT.json. Sentences are generated from a fixed seed (~15 tokens each, like
chat turns), so runs are comparable.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import time
from pathlib import Path

import numpy as np

from tmem.embed.minilm import MiniLMEmbedder

_SUBJECTS = ["I", "My sister", "Our team", "The landlord", "My doctor", "We", "Tom", "Anna"]
_VERBS = ["moved", "booked", "cancelled", "started", "finished", "forgot", "planned", "bought"]
_OBJECTS = [
    "the trip to Lisbon",
    "a new running schedule",
    "the piano lessons",
    "dinner with my parents",
    "a second-hand bike",
    "the dentist appointment",
    "our anniversary weekend",
    "the kitchen renovation",
]
_TAILS = [
    "last Tuesday, I think.",
    "because work got busy again.",
    "and honestly it went great!",
    "before the end of the month.",
    "after talking it over with Sam.",
    "so I need to reschedule everything.",
]


def chat_sentences(count: int, seed: int = 7) -> list[str]:
    """``count`` short, varied chat-like sentences, identical for a given seed."""
    rng = random.Random(seed)
    return [
        " ".join(
            (rng.choice(_SUBJECTS), rng.choice(_VERBS), rng.choice(_OBJECTS), rng.choice(_TAILS))
        )
        for _ in range(count)
    ]


def measure(sentences: list[str], batch_size: int, repeats: int) -> dict[str, object]:
    """Load the model, warm it up, then time ``repeats`` passes over ``sentences``."""
    started = time.perf_counter()
    embedder = MiniLMEmbedder(batch_size=batch_size)
    embedder.embed(sentences[:batch_size])
    first_s = time.perf_counter() - started
    timings, cpu_timings = [], []
    for _ in range(repeats):
        started, cpu_started = time.perf_counter(), time.process_time()
        embedder.embed(sentences)
        timings.append(time.perf_counter() - started)
        cpu_timings.append(time.process_time() - cpu_started)
    best = min(timings)
    return {
        "embedder": embedder.name,
        "sentences": len(sentences),
        "batch_size": batch_size,
        "load_and_first_batch_s": round(first_s, 3),
        "best_s": round(best, 3),
        "sentences_per_s": round(len(sentences) / best, 1),
        "all_runs_s": [round(t, 3) for t in timings],
        # CPU seconds over all threads: steadier than wall time on a shared machine.
        "best_cpu_s": round(min(cpu_timings), 3),
        "load_average_1min": round(os.getloadavg()[0], 2),
    }


def environment() -> dict[str, object]:
    """What the number depends on: CPU count, numpy version, BLAS thread settings."""
    blas_vars = ("OPENBLAS_NUM_THREADS", "OPENBLAS_CORETYPE", "OMP_NUM_THREADS")
    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "env": {name: os.environ.get(name) for name in blas_vars},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="where to write the JSON result")
    parser.add_argument("--sentences", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    result = measure(chat_sentences(args.sentences), args.batch_size, args.repeats)
    result["environment"] = environment()
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"{result['sentences_per_s']} sentences/s ({result['embedder']}, batch {args.batch_size})"
    )


if __name__ == "__main__":
    main()
