"""The adaptive fusion inside a real search, on real SQLite files (LLM-free turns)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from tmem import Config, EmbedderConfig, Memory
from tmem.config import RetrievalConfig

BASE = Config(embedder=EmbedderConfig(kind="hash"))
TURNS = [
    ("Ana", "I booked the cello lessons for Tuesday evenings."),
    ("Leo", "My sister moved to Lisbon for her new job."),
    ("Ana", "The weekend market had great strawberries."),
    ("Leo", "We are planning a quiet weekend at home."),
    ("Ana", "Tuesday is also when the plumber comes."),
    ("Leo", "Lisbon has lovely tiled houses."),
]
QUERY = "Any plans for the weekend in Lisbon?"


def search(
    tmp_path: Path, name: str, retrieval: RetrievalConfig
) -> list[tuple[str, tuple[str, ...]]]:
    config = replace(BASE, retrieval=retrieval)
    with Memory.open(tmp_path / f"{name}.db", config) as memory:
        memory.add(
            [
                {"id": f"t{i}", "speaker": who, "content": said,
                 "timestamp": f"2024-03-01T10:0{i}:00Z"}
                for i, (who, said) in enumerate(TURNS)
            ],
            user_id="ana",
        )  # fmt: skip
        return [(hit.id, hit.reached_by) for hit in memory.search(QUERY, "ana", limit=10)]


def test_weak_lexical_evidence_ranks_like_the_dense_channels_and_loses_nothing(
    tmp_path: Path,
) -> None:
    plain = search(tmp_path, "plain", RetrievalConfig())
    no_bm25 = search(tmp_path, "dense", RetrievalConfig(lexical=False))
    weak = search(
        tmp_path, "weak", RetrievalConfig(fusion="adaptive", lexical_null=1e6, lexical_sure=1e6)
    )
    assert weak != plain  # BM25's vote moved a turn in plain RRF
    assert {i for i, _ in weak} == {i for i, _ in plain}
    dense_found = [i for i, reached in weak if set(reached) - {"bm25"}]
    assert dense_found == [i for i, _ in no_bm25]
    assert [i for i, _ in weak][: len(dense_found)] == dense_found
    assert any("bm25" in reached for _, reached in plain)


def test_strong_lexical_evidence_with_unit_weights_is_plain_rrf(tmp_path: Path) -> None:
    plain = search(tmp_path, "plain", RetrievalConfig())
    strong = search(
        tmp_path, "strong", RetrievalConfig(fusion="adaptive", lexical_null=0.0, lexical_sure=0.0)
    )
    assert strong == plain


def test_explanations_carry_the_adaptive_weights(tmp_path: Path) -> None:
    """Weak lexical evidence weighs BM25 0: its rank is shown, and it adds nothing."""
    config = replace(
        BASE,
        retrieval=RetrievalConfig(fusion="adaptive", lexical_null=1e6, lexical_sure=1e6),
    )
    with Memory.open(tmp_path / "w.db", config) as memory:
        memory.add([{"speaker": who, "content": said} for who, said in TURNS], user_id="ana")
        hits = memory.search(QUERY, "ana", limit=10)
    k = config.retrieval.rrf_k
    bm25 = [e for h in hits for e in h.explain if e.channel == "bm25"]
    assert bm25 and all(e.contribution == 0.0 and e.score > 0 for e in bm25)
    for hit in hits:
        others = [e for e in hit.explain if e.channel != "bm25"]
        assert all(e.contribution == 1 / (k + e.rank) for e in others)
        assert hit.score == sum(
            e.contribution for e in sorted(hit.explain, key=lambda e: e.channel)
        )
