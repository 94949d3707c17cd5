"""The seeded workload: reproducible, well-formed, and shaped as Memory.add takes it."""

from __future__ import annotations

from datetime import datetime

import numpy as np

from tmem.embed.hashing import HashEmbedder
from tmem.eval.speed.embedders import RandomEmbedder, RecordingEmbedder, random_vector
from tmem.eval.speed.generate import conversation, queries, unit_vectors


def test_conversation_is_reproducible_and_split_into_sessions() -> None:
    first = conversation(3, "user-1", 45, session_turns=20)
    assert first == conversation(3, "user-1", 45, session_turns=20)
    assert first != conversation(4, "user-1", 45, session_turns=20)
    assert [len(s) for s in first] == [20, 20, 5]
    speakers = {m["speaker"] for s in first for m in s}
    assert len(speakers) == 2
    stamps = [datetime.fromisoformat(m["timestamp"]) for s in first for m in s]
    assert stamps == sorted(stamps)


def test_queries_and_vectors_are_seeded() -> None:
    assert queries(1, 5) == queries(1, 5) and len(set(queries(1, 50))) > 10
    vectors = unit_vectors(2, 10)
    assert vectors.shape == (10, 384) and np.allclose(np.linalg.norm(vectors, axis=1), 1.0)
    assert np.array_equal(random_vector("a"), random_vector("a"))
    assert not np.array_equal(random_vector("a"), random_vector("b"))


def test_random_embedder_embeds_single_queries_with_the_model() -> None:
    model = HashEmbedder()
    embedder = RandomEmbedder(query_model=model)
    assert np.array_equal(embedder.embed(["hello there"]), model.embed(["hello there"]))
    batch = embedder.embed(["a", "b"])
    assert np.array_equal(batch[0], random_vector("a"))


def test_recording_embedder_keeps_what_it_returned() -> None:
    recording = RecordingEmbedder(HashEmbedder())
    out = recording.embed(["one fish", "two fish"])
    assert np.array_equal(recording.vectors["two fish"], out[1])
    assert recording.name == HashEmbedder().name and recording.dim == 384
