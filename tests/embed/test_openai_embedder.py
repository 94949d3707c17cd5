"""OpenAIEmbedder against a tiny fake embeddings server on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import pytest

from tests.fakes.openai_server import FakeOpenAIServer, hash_embedding
from tmem.embed.openai import OpenAIEmbedder
from tmem.errors import EmbedderError

DIM = 4


def fake_vector(text: str) -> list[float]:
    """Deliberately not unit length, so the client's normalisation is visible."""
    return [float(len(text)), 1.0, 2.0, 3.0]


@dataclass
class Reply:
    status: int = 200
    body: bytes | None = None
    delay_s: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class FakeServer:
    """Answers POST /v1/embeddings; scripted replies first, then well-formed vectors."""

    url: str = ""
    script: list[Reply] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    dim: int = DIM

    def reply(self, payload: dict[str, Any]) -> Reply:
        if self.script:
            return self.script.pop(0)
        items = [
            {"object": "embedding", "index": i, "embedding": fake_vector(text)[: self.dim]}
            for i, text in enumerate(payload["input"])
        ]
        # Out of order on purpose: clients must sort by "index".
        return Reply(body=json.dumps({"object": "list", "data": items[::-1]}).encode())


def _handler(server: FakeServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            payload = json.loads(self.rfile.read(length))
            server.requests.append(
                {"path": self.path, "auth": self.headers.get("Authorization"), "body": payload}
            )
            reply = server.reply(payload)
            time.sleep(reply.delay_s)
            body = reply.body if reply.body is not None else b'{"error": "scripted"}'
            try:
                self.send_response(reply.status)
                for name, value in {"Content-Type": "application/json", **reply.headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client timed out and hung up, as the timeout test intends

        def log_message(self, format: str, *args: Any) -> None:
            """Keep test output quiet."""

    return Handler


@pytest.fixture
def server() -> Iterator[FakeServer]:
    fake = FakeServer()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    fake.url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    thread = threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    yield fake
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def _embedder(server: FakeServer, **options: Any) -> OpenAIEmbedder:
    settings: dict[str, Any] = {"dim": DIM, "backoff_s": 0.01, "timeout_s": 5.0} | options
    return OpenAIEmbedder(server.url, "fake-embed", **settings)


def test_rows_come_back_in_order_and_normalised(server: FakeServer) -> None:
    texts = ["a", "bbb", "cc", "dddd", "eeeee"]
    with _embedder(server, batch_size=2, api_key="sk-test") as embedder:
        vectors = embedder.embed(texts)

    expected = np.array([fake_vector(t) for t in texts], dtype=np.float32)
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    assert vectors.shape == (5, DIM)
    assert np.allclose(vectors, expected, atol=1e-6)
    assert [len(r["body"]["input"]) for r in server.requests] == [2, 2, 1]
    assert {r["path"] for r in server.requests} == {"/v1/embeddings"}
    assert {r["auth"] for r in server.requests} == {"Bearer sk-test"}
    assert server.requests[0]["body"]["model"] == "fake-embed"


def test_empty_input_sends_nothing(server: FakeServer) -> None:
    with _embedder(server) as embedder:
        assert embedder.embed([]).shape == (0, DIM)
    assert server.requests == []


def test_empty_strings_are_sent_as_a_space(server: FakeServer) -> None:
    with _embedder(server) as embedder:
        embedder.embed(["", "x"])

    assert server.requests[0]["body"]["input"] == [" ", "x"]
    assert server.requests[0]["auth"] is None


def test_rate_limits_and_server_errors_are_retried(server: FakeServer) -> None:
    server.script = [Reply(429, headers={"Retry-After": "0"}), Reply(500), Reply(503)]
    with _embedder(server) as embedder:
        vectors = embedder.embed(["hello"])

    assert len(server.requests) == 4
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0)


def test_persistent_failure_gives_up_after_the_retries(server: FakeServer) -> None:
    server.script = [Reply(503)] * 10
    with _embedder(server, max_retries=2) as embedder, pytest.raises(EmbedderError, match="503"):
        embedder.embed(["hello"])

    assert len(server.requests) == 3


def test_client_errors_fail_at_once(server: FakeServer) -> None:
    server.script = [Reply(400, body=b'{"error": "bad model"}')]
    with _embedder(server) as embedder, pytest.raises(EmbedderError, match=r"400.*bad model"):
        embedder.embed(["hello"])

    assert len(server.requests) == 1


def test_a_wrong_dimension_is_refused(server: FakeServer) -> None:
    server.dim = 3
    with _embedder(server) as embedder, pytest.raises(EmbedderError, match="dim"):
        embedder.embed(["hello"])


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b'{"data": "nope"}',
        b'{"data": [{"embedding": [1, 2, 3, 4]}]}',
        b'{"data": [{"index": 0, "embedding": [0, 0, 0, 0]}]}',
    ],
)
def test_malformed_replies_are_refused(server: FakeServer, body: bytes) -> None:
    server.script = [Reply(200, body=body)]
    with _embedder(server) as embedder, pytest.raises(EmbedderError):
        embedder.embed(["hello"])


def test_timeouts_are_retried_then_reported(server: FakeServer) -> None:
    server.script = [Reply(delay_s=0.5)] * 2
    with (
        _embedder(server, timeout_s=0.1, max_retries=1) as embedder,
        pytest.raises(EmbedderError, match="Timeout"),
    ):
        embedder.embed(["hello"])

    assert len(server.requests) == 2


def test_an_unreachable_endpoint_is_an_embedder_error() -> None:
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    closed = OpenAIEmbedder(
        f"http://127.0.0.1:{port}/v1", "m", dim=DIM, max_retries=1, backoff_s=0.01
    )
    with closed, pytest.raises(EmbedderError, match="failed 2 times"):
        closed.embed(["hello"])


def test_name_and_dim(server: FakeServer) -> None:
    with _embedder(server) as embedder:
        assert (embedder.name, embedder.dim) == ("openai:fake-embed@4", DIM)


def test_works_with_the_shared_fake_openai_server() -> None:
    # The fake other suites use: dropped connections and 503s, then its hash vectors.
    with FakeOpenAIServer(embedding_dim=8) as shared:
        shared.disconnect_next()
        shared.fail_next(503, retry_after=0)
        with OpenAIEmbedder(shared.base_url, "fake-model", dim=8, backoff_s=0.01) as embedder:
            vectors = embedder.embed(["first", "second"])

        expected = np.array([hash_embedding(t, 8) for t in ("first", "second")], np.float32)
        assert np.allclose(vectors, expected, atol=1e-6)
        assert len(shared.requests) == 3
