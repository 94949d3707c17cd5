"""Seeded synthetic workloads: templated multi-speaker conversations and random unit vectors.

Pure functions of a seed: the same arguments give the same turns, queries and vectors, so two
runs (or tmem and a peer in one run) see the same workload. The chat is templated, not
realistic prose, but it has what retrieval cost depends on: a vocabulary of a few thousand
words with a skewed frequency, turns of 8-40 words, named speakers, sessions with dates.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta

import numpy as np
import numpy.typing as npt

DIM = 384
_NAMES = [
    "Ana",
    "Ben",
    "Chloe",
    "Dev",
    "Elif",
    "Farid",
    "Gwen",
    "Hiro",
    "Ines",
    "Jonas",
    "Kemi",
    "Lars",
    "Maya",
    "Nikos",
    "Omar",
    "Priya",
    "Quinn",
    "Rosa",
    "Sami",
    "Tariq",
    "Uma",
    "Vera",
    "Wen",
    "Xavi",
    "Yara",
    "Zane",
]
_PLACES = [
    "Lisbon",
    "Osaka",
    "the lake",
    "the gym",
    "the bakery",
    "Denver",
    "the museum",
    "the office",
    "Berlin",
    "the park",
    "the clinic",
    "the library",
    "Nairobi",
    "the beach",
    "the farmers market",
    "Quebec",
    "the studio",
    "Prague",
]
_ACTIVITIES = [
    "hiking",
    "pottery",
    "a salsa class",
    "a pottery workshop",
    "sailing",
    "rock climbing",
    "a book club",
    "a charity run",
    "painting",
    "volunteering at the shelter",
    "a cooking course",
    "camping",
    "a chess tournament",
    "birdwatching",
    "a jazz concert",
    "gardening",
    "a coding bootcamp",
    "kayaking",
    "yoga",
    "a road trip",
]
_THINGS = [
    "a vintage camera",
    "a golden retriever puppy",
    "a new guitar",
    "a sourdough starter",
    "a red bicycle",
    "a telescope",
    "a tattoo of a fern",
    "a job offer",
    "a scholarship",
    "a sewing machine",
    "a tiny house",
    "a hybrid car",
    "a signed novel",
    "a bonsai tree",
    "an electric piano",
    "a kayak",
]
_FEELINGS = [
    "thrilled",
    "nervous",
    "proud",
    "exhausted",
    "grateful",
    "relieved",
    "curious",
    "homesick",
    "inspired",
    "calm",
    "overwhelmed",
    "hopeful",
]
_TIMES = [
    "last weekend",
    "yesterday",
    "two weeks ago",
    "last summer",
    "in May",
    "this morning",
    "last year",
    "on my birthday",
    "over the holidays",
    "last Friday",
]
_TEMPLATES = (
    "I went {activity} at {place} {time} and felt {feeling}.",
    "{time} I finally bought {thing}, I'm {feeling} about it.",
    "Have you ever tried {activity}? {other} took me to {place} for it.",
    "My sister keeps asking about {thing}; she wants to visit {place} too.",
    "Honestly I was {feeling} when {other} told me about {activity}.",
    "We talked for hours about {thing} after {activity} {time}.",
    "That sounds amazing! How long have you been into {activity}?",
    "I'm thinking of moving to {place} next year, mostly for {activity}.",
    "Remember when we got {thing}? I still laugh about it.",
    "{other} and I are planning {activity} near {place} soon, want to join?",
    "Work has been hectic, but {activity} keeps me {feeling}.",
    "Thanks! I'll send you photos of {thing} tomorrow.",
)
_QUESTIONS = (
    "When did {speaker} go {activity}?",
    "What did {speaker} buy {time}?",
    "Where is {speaker} planning to move?",
    "How did {speaker} feel about {thing}?",
    "Who took {speaker} to {place}?",
    "What does {speaker} do to stay {feeling}?",
)


_SYLLABLES = [
    "ka",
    "lo",
    "mi",
    "ren",
    "tu",
    "sha",
    "vel",
    "dor",
    "bi",
    "nax",
    "que",
    "fi",
    "lom",
    "ar",
    "ze",
    "pu",
]
_LEXICON = tuple(a + b + c for a in _SYLLABLES for b in _SYLLABLES for c in ("", "n", "s", "th"))
"""1,024 made-up words: with a Zipf draw they give the long tail of rare terms real chat has."""
_ZIPF = np.cumsum(1.0 / np.arange(1, len(_LEXICON) + 1))
_ZIPF /= _ZIPF[-1]


def _rare_words(rng: random.Random, count: int) -> str:
    picks = np.searchsorted(_ZIPF, [rng.random() for _ in range(count)])
    return " ".join(_LEXICON[min(int(i), len(_LEXICON) - 1)] for i in picks)


def user_ids(count: int) -> tuple[str, ...]:
    return tuple(f"user-{i:05d}" for i in range(count))


def _fill(template: str, rng: random.Random, speakers: Sequence[str]) -> str:
    return template.format(
        activity=rng.choice(_ACTIVITIES),
        place=rng.choice(_PLACES),
        time=rng.choice(_TIMES),
        feeling=rng.choice(_FEELINGS),
        thing=rng.choice(_THINGS),
        other=rng.choice(_NAMES),
        speaker=rng.choice(speakers),
    )


def conversation(
    seed: int, user_id: str, turns: int, session_turns: int = 20
) -> list[list[dict[str, str]]]:
    """``turns`` chat messages for ``user_id`` in sessions of ``session_turns``, oldest first.

    Each message is a dict ``{"speaker", "content", "timestamp"}`` as :meth:`Memory.add`
    takes it; two speakers alternate, and sessions are a few days apart.
    """
    rng = random.Random(f"{seed}:{user_id}")
    speakers = rng.sample(_NAMES, 2)
    start = datetime(2023, 1, 1, 9, tzinfo=UTC) + timedelta(days=rng.randrange(300))
    sessions: list[list[dict[str, str]]] = []
    for first in range(0, turns, session_turns):
        day = start + timedelta(days=3 * len(sessions))
        session = []
        for offset in range(min(session_turns, turns - first)):
            line = _fill(rng.choice(_TEMPLATES), rng, speakers)
            if rng.random() < 0.5:
                line += " " + _fill(rng.choice(_TEMPLATES), rng, speakers)
            line += f" It made me think of {_rare_words(rng, rng.randint(1, 4))}."
            when = day + timedelta(minutes=offset)
            session.append(
                {"speaker": speakers[offset % 2], "content": line, "timestamp": when.isoformat()}
            )
        sessions.append(session)
    return sessions


def queries(seed: int, count: int) -> list[str]:
    """``count`` templated questions over the same vocabulary as :func:`conversation`."""
    rng = random.Random(f"{seed}:queries")
    return [
        f"{_fill(rng.choice(_QUESTIONS), rng, _NAMES)[:-1]} and {_rare_words(rng, 1)}?"
        for _ in range(count)
    ]


def unit_vectors(seed: int, count: int, dim: int = DIM) -> npt.NDArray[np.float32]:
    """``count`` random unit vectors (Gaussian directions), float32, reproducible by seed."""
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((count, dim), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


def text_seed(text: str) -> int:
    """A stable 64-bit seed from a text (Python's ``hash`` is salted per process)."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")


def batches(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
