"""The rerank client and its place in the read path, against the fake server on 127.0.0.1.

The fake server's rerank scores are hand-authored: the share of query words in a document.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.openai_server import FakeOpenAIServer
from tmem import Config, EmbedderConfig, Memory
from tmem.config import RerankerConfig
from tmem.rerank.http import HTTPReranker, RerankError


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as fake:
        yield fake


def test_scores_come_back_aligned_with_documents(server: FakeOpenAIServer) -> None:
    reranker = HTTPReranker(server.base_url, "fake-reranker", "secret-key")
    scores = reranker.rerank("red apple", ["green pear", "red apple pie", "apple"])
    assert scores == [0.0, 1.0, 0.5]
    (request,) = server.requests
    assert request.body["model"] == "fake-reranker"
    assert request.headers["authorization"] == "Bearer secret-key"
    assert "secret-key" not in repr(reranker)
    assert reranker.rerank("anything", []) == []


def test_server_errors_are_retried_then_raised(server: FakeOpenAIServer) -> None:
    server.fail_next(503, n=1)
    assert HTTPReranker(server.base_url, "m").rerank("a", ["a"]) == [1.0]
    server.fail_next(500, n=2)
    with pytest.raises(RerankError, match="HTTP 500"):
        HTTPReranker(server.base_url, "m", max_retries=1).rerank("a", ["a"])
    server.fail_next(400, n=1)
    with pytest.raises(RerankError, match="HTTP 400"):
        HTTPReranker(server.base_url, "m").rerank("a", ["a"])


def test_malformed_replies_are_errors(server: FakeOpenAIServer) -> None:
    server.handler = lambda path, headers, body: (200, {}, {"results": [{"index": "x"}]})
    with pytest.raises(RerankError, match="malformed"):
        HTTPReranker(server.base_url, "m").rerank("a", ["a"])
    server.handler = lambda path, headers, body: (200, {}, {"nothing": 1})
    with pytest.raises(RerankError, match="no results"):
        HTTPReranker(server.base_url, "m").rerank("a", ["a"])


MESSAGES = [
    {"id": "t1", "speaker": "Ana", "content": "Cello practice went long today, cello cello."},
    {"id": "t2", "speaker": "Ana", "content": "My cello teacher Ines moved to Porto in May."},
    {"id": "t3", "speaker": "Ana", "content": "Lunch was soup."},
]


def open_memory(path: Path, server: FakeOpenAIServer) -> Memory:
    config = Config(
        embedder=EmbedderConfig(kind="hash"),
        reranker=RerankerConfig(base_url=server.base_url, model="fake-reranker"),
    )
    return Memory.open(path, config)


def test_reranker_reorders_search_results(tmp_path: Path, server: FakeOpenAIServer) -> None:
    with open_memory(tmp_path / "r.db", server) as mem:
        mem.add(MESSAGES, user_id="ana")
        plain = Memory(mem.store, mem.embedder, None, mem.config, mem.clock)
        assert plain.search("cello teacher Porto", "ana")[0].id == "t2"
        server.rerank_score = lambda query, document: 1.0 if "practice" in document else 0.1
        hits = mem.search("cello teacher Porto", "ana")
        assert hits[0].id == "t1"
        assert hits[0].score == 1.0
        assert all(h.reached_by[-1] == "rerank" for h in hits)
        # The explanation keeps the fused channels and adds the cross-encoder's rank and score.
        before = {h.id: h.explain for h in plain.search("cello teacher Porto", "ana")}
        for rank, hit in enumerate(hits, start=1):
            *fused, rerank = hit.explain
            assert tuple(fused) == before[hit.id]
            assert (rerank.channel, rerank.rank, rerank.score) == ("rerank", rank, hit.score)
            assert rerank.contribution == 0.0


def test_failed_reranker_keeps_the_fused_order(tmp_path: Path, server: FakeOpenAIServer) -> None:
    with open_memory(tmp_path / "f.db", server) as mem:
        mem.add(MESSAGES, user_id="ana")
        server.fail_next(400, n=1)
        hits = mem.search("cello teacher Porto", "ana")
        assert hits[0].id == "t2"
        assert "rerank" not in hits[0].reached_by
        assert hits[0].explain and all(e.channel != "rerank" for e in hits[0].explain)
