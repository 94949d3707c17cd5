"""A real HTTP server on 127.0.0.1 that speaks enough of the OpenAI API for tests.

``FakeOpenAIServer`` serves ``POST /v1/chat/completions``, ``POST /v1/embeddings`` and
``GET /v1/models`` from a thread, on a random free port. Clients under test talk to it over
real sockets, so retries, timeouts, headers and JSON encoding are exercised end to end.

Behaviour comes from either

* a ``handler(path, headers, body) -> (status, headers, body)`` callable that answers every
  request itself, or
* the helpers: :meth:`~FakeOpenAIServer.script_chat` (a reply per ``X-Tmem-Prompt`` id),
  :meth:`~FakeOpenAIServer.script_embeddings`, queued faults (:meth:`~FakeOpenAIServer.fail_next`,
  :meth:`~FakeOpenAIServer.delay_next`, :meth:`~FakeOpenAIServer.disconnect_next`) and
  :meth:`~FakeOpenAIServer.reject_response_format`.

Every request is recorded (:attr:`~FakeOpenAIServer.requests`) before faults apply.

Example::

    with FakeOpenAIServer() as server:
        server.script_chat("scene@1", lambda body: '{"title": "Lunch"}')
        server.fail_next(503, n=2)
        llm = OpenAICompatibleLLM(server.base_url, "fake-model", backoff_s=0.001)
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Handler = Callable[[str, Mapping[str, str], Any], tuple[int, Mapping[str, str], Any]]
"""``(path, lower-cased headers, decoded JSON body or None) -> (status, headers, body)``.

The returned body is JSON-encoded, unless it is ``bytes``, which are sent as they are.
"""
ChatResponder = Callable[[dict[str, Any]], str]
"""The request body of one chat completion -> the assistant's reply text."""
Embedding = Callable[[str], list[float]]

WILDCARD = "*"


@dataclass(frozen=True)
class RecordedRequest:
    """One request the server received, exactly as decoded."""

    method: str
    path: str
    headers: dict[str, str]
    """Header names lower-cased."""
    body: Any

    @property
    def prompt_id(self) -> str:
        return self.headers.get("x-tmem-prompt", "")

    @property
    def response_format(self) -> dict[str, Any] | None:
        if isinstance(self.body, dict):
            value = self.body.get("response_format")
            return value if isinstance(value, dict) else None
        return None

    @property
    def response_format_type(self) -> str | None:
        """``json_schema``, ``json_object`` or None when no response_format was sent."""
        value = self.response_format
        return str(value.get("type")) if value else None

    @property
    def messages(self) -> list[dict[str, Any]]:
        if isinstance(self.body, dict):
            return list(self.body.get("messages") or [])
        return []


@dataclass(frozen=True)
class _Fault:
    status: int
    retry_after: float | str | None = None
    body: Any = None
    disconnect: bool = False


@dataclass
class _State:
    """Mutable server state; every access holds ``lock``."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    requests: list[RecordedRequest] = field(default_factory=list)
    chat: dict[str, ChatResponder] = field(default_factory=dict)
    faults: deque[_Fault] = field(default_factory=deque)
    delays: deque[float] = field(default_factory=deque)
    rejected_formats: set[str] = field(default_factory=set)


def hash_embedding(text: str, dim: int) -> list[float]:
    """A deterministic unit vector derived from a hash of ``text``."""
    digest = hashlib.sha256(text.encode()).digest()
    while len(digest) < dim:
        digest += hashlib.sha256(digest).digest()
    raw = [(byte - 127.5) / 127.5 for byte in digest[:dim]]
    norm = math.sqrt(sum(x * x for x in raw)) or 1.0
    return [x / norm for x in raw]


def error_body(message: str, kind: str = "invalid_request_error") -> dict[str, Any]:
    """An OpenAI-shaped error body."""
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


def chat_body(content: str, request: Mapping[str, Any], model: str) -> dict[str, Any]:
    """An OpenAI-shaped chat completion whose usage is ``len(text) // 4`` tokens per side."""
    prompt_chars = sum(len(str(m.get("content") or "")) for m in request.get("messages") or [])
    prompt_tokens = prompt_chars // 4
    completion_tokens = len(content) // 4
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 0,
        "model": str(request.get("model") or model),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


class FakeOpenAIServer:
    """A threaded OpenAI-compatible server for tests; use it as a context manager.

    Args:
        handler: if given, answers every request (after recording, delays and faults).
        model: the model name reported by ``/v1/models`` and in replies.
        embedding_dim: the length of the default hash embeddings.
    """

    def __init__(
        self, handler: Handler | None = None, *, model: str = "fake-model", embedding_dim: int = 8
    ) -> None:
        self.handler = handler
        self.model = model
        self.embedding_dim = embedding_dim
        self.embed: Embedding = lambda text: hash_embedding(text, self.embedding_dim)
        self.rerank_score: Callable[[str, str], float] = _word_overlap
        self._state = _State()
        self._closing = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> FakeOpenAIServer:
        self._closing.clear()
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler_class(self))
        httpd.daemon_threads = True
        httpd.block_on_close = False
        self._httpd = httpd
        # A short poll interval keeps close() (which waits for one poll) fast.
        self._thread = threading.Thread(
            target=httpd.serve_forever, args=(0.02,), name="fake-openai", daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        self._closing.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("FakeOpenAIServer is not started")
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>/v1``."""
        return f"http://127.0.0.1:{self.port}/v1"

    # -- configuration ----------------------------------------------------------------------

    def script_chat(self, prompt_id: str, responder: ChatResponder | str) -> None:
        """Answer chat calls whose ``X-Tmem-Prompt`` is ``prompt_id``.

        ``prompt_id`` may be ``id@version`` (exact), a bare ``id`` (any version) or ``"*"``
        (any prompt without a more specific script). A string is returned verbatim.
        """
        reply = (lambda body: responder) if isinstance(responder, str) else responder
        with self._state.lock:
            self._state.chat[prompt_id] = reply

    def script_embeddings(self, embed: Embedding) -> None:
        """Compute each ``/v1/embeddings`` input's vector with ``embed``."""
        self.embed = embed

    def fail_next(
        self, status: int, n: int = 1, retry_after: float | str | None = None, body: Any = None
    ) -> None:
        """Answer the next ``n`` requests with ``status`` (and a Retry-After header if given)."""
        with self._state.lock:
            for _ in range(n):
                self._state.faults.append(_Fault(status, retry_after, body))

    def disconnect_next(self, n: int = 1) -> None:
        """Close the connection without answering the next ``n`` requests."""
        with self._state.lock:
            for _ in range(n):
                self._state.faults.append(_Fault(0, disconnect=True))

    def delay_next(self, seconds: float, n: int = 1) -> None:
        """Wait ``seconds`` before answering each of the next ``n`` requests."""
        with self._state.lock:
            self._state.delays.extend([seconds] * n)

    def reject_response_format(self, *types: str) -> None:
        """Answer 400 to chat calls whose ``response_format.type`` is one of ``types``.

        ``reject_response_format("json_schema")`` mimics servers without structured outputs;
        add ``"json_object"`` to mimic servers without any JSON mode.
        """
        with self._state.lock:
            self._state.rejected_formats = set(types)

    # -- inspection -------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, oldest first."""
        with self._state.lock:
            return list(self._state.requests)

    def chat_requests(self, prompt_id: str | None = None) -> list[RecordedRequest]:
        """Chat-completion requests, optionally only those for one ``X-Tmem-Prompt`` id."""
        return [
            r
            for r in self.requests
            if r.path.endswith("/chat/completions") and prompt_id in (None, r.prompt_id)
        ]

    # -- request handling (runs on server threads) -----------------------------------------

    def respond(self, request: RecordedRequest) -> tuple[int, dict[str, str], Any] | None:
        """The answer to one request; None means "drop the connection"."""
        with self._state.lock:
            self._state.requests.append(request)
            delay = self._state.delays.popleft() if self._state.delays else 0.0
            fault = self._state.faults.popleft() if self._state.faults else None
        if delay:
            self._closing.wait(delay)
        if fault is not None:
            return None if fault.disconnect else _fault_response(fault)
        try:
            if self.handler is not None:
                status, headers, body = self.handler(request.path, request.headers, request.body)
                return status, dict(headers), body
            return self._route(request)
        except Exception as exc:  # a test's script failed: report it to the client under test
            message = f"FakeOpenAIServer: script raised {type(exc).__name__}: {exc}"
            return 500, {}, error_body(message, "server_error")

    def _route(self, request: RecordedRequest) -> tuple[int, dict[str, str], Any]:
        path = request.path.rstrip("/")
        if request.method == "GET" and path == "/v1/models":
            return 200, {}, {"object": "list", "data": [{"id": self.model, "object": "model"}]}
        if request.method == "POST" and path == "/v1/chat/completions":
            return self._chat(request)
        if request.method == "POST" and path == "/v1/embeddings":
            return self._embeddings(request)
        if request.method == "POST" and path == "/v1/rerank":
            return self._rerank(request)
        return 404, {}, error_body(f"no route for {request.method} {request.path}")

    def _chat(self, request: RecordedRequest) -> tuple[int, dict[str, str], Any]:
        body = request.body if isinstance(request.body, dict) else {}
        kind = request.response_format_type
        with self._state.lock:
            rejected = kind in self._state.rejected_formats
            responder = self._responder(request.prompt_id)
        if rejected:
            message = f"Invalid parameter: 'response_format' of type '{kind}' is not supported."
            return 400, {}, error_body(message)
        if responder is None:
            return 404, {}, error_body(f"FakeOpenAIServer: no script for {request.prompt_id!r}")
        return 200, {}, chat_body(responder(body), body, self.model)

    def _responder(self, prompt_id: str) -> ChatResponder | None:
        chat = self._state.chat
        bare = prompt_id.split("@", 1)[0]
        return chat.get(prompt_id) or chat.get(bare) or chat.get(WILDCARD)

    def _rerank(self, request: RecordedRequest) -> tuple[int, dict[str, str], Any]:
        """A Jina/Cohere-style rerank reply scored by :attr:`rerank_score` (word overlap)."""
        body = request.body if isinstance(request.body, dict) else {}
        query = str(body.get("query", ""))
        documents = [str(d) for d in body.get("documents") or []]
        results = [
            {"index": i, "relevance_score": self.rerank_score(query, doc)}
            for i, doc in enumerate(documents)
        ]
        results.sort(key=lambda r: -float(r["relevance_score"]))
        top_n = body.get("top_n")
        if isinstance(top_n, int):
            results = results[:top_n]
        return 200, {}, {"model": str(body.get("model") or self.model), "results": results}

    def _embeddings(self, request: RecordedRequest) -> tuple[int, dict[str, str], Any]:
        body = request.body if isinstance(request.body, dict) else {}
        inputs = body.get("input")
        texts = [inputs] if isinstance(inputs, str) else list(inputs or [])
        data = [
            {"object": "embedding", "index": i, "embedding": self.embed(str(text))}
            for i, text in enumerate(texts)
        ]
        tokens = sum(len(str(text)) for text in texts) // 4
        usage = {"prompt_tokens": tokens, "total_tokens": tokens}
        model = str(body.get("model") or self.model)
        return 200, {}, {"object": "list", "data": data, "model": model, "usage": usage}


def _word_overlap(query: str, document: str) -> float:
    """The default rerank score: the share of the query's words found in the document."""
    words = set(query.lower().split())
    found = set(document.lower().split())
    return len(words & found) / len(words) if words else 0.0


def _fault_response(fault: _Fault) -> tuple[int, dict[str, str], Any]:
    headers = {} if fault.retry_after is None else {"Retry-After": str(fault.retry_after)}
    body = fault.body if fault.body is not None else error_body(f"injected HTTP {fault.status}")
    return fault.status, headers, body


def _decode(raw: bytes) -> Any:
    """The JSON body, the raw text when it is not JSON, or None when empty."""
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", errors="replace")


def _make_handler_class(server: FakeOpenAIServer) -> type[BaseHTTPRequestHandler]:
    class _RequestHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in separate writes; without this, Nagle plus delayed ACKs
        # add ~40 ms to every keep-alive request.
        disable_nagle_algorithm = True

        def do_GET(self) -> None:
            self._serve()

        def do_POST(self) -> None:
            self._serve()

        def log_message(self, format: str, *args: Any) -> None:
            """Stay quiet: tests read :attr:`FakeOpenAIServer.requests` instead."""

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = _decode(raw)
            headers = {name.lower(): value for name, value in self.headers.items()}
            recorded = RecordedRequest(self.command, self.path, headers, body)
            answer = server.respond(recorded)
            if answer is None:
                self.close_connection = True
                return
            self._write(*answer)

        def _write(self, status: int, headers: Mapping[str, str], body: Any) -> None:
            # Bytes pass through untouched, so a test can send a body that is not JSON.
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                # The client gave up (a timeout test); nothing is left to tell it.
                self.close_connection = True

    return _RequestHandler
