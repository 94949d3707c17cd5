"""The service's edges (issue 12, defects 5 and 6) against real ``tmem serve`` processes.

Each test here failed on the code before its fix: dot segments and invalid UTF-8 addressed
users, bad keys were never limited, the 200-character user id limit shrank by the tenant's
name, ``/healthz`` queued behind busy endpoints, a connection could hold its headers open
forever, and a job running longer than its lease was taken over while still running.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.fakes.openai_server import FakeOpenAIServer
from tests.hostile.conftest import UNLIMITED, Service
from tests.server.service import Server, create_key
from tests.test_full_mode import ALLERGY_TURNS, extract_reply, segment_reply
from tmem.config import Config, EmbedderConfig, LLMConfig
from tmem.memory import Memory
from tmem.server.jobs import ADD_JOB, JobRunner, add_payload
from tmem.server.service import service_store
from tmem.server.settings import ServiceSettings

pytestmark = pytest.mark.slow  # starts tmem serve processes

DOT_SEGMENT_TARGETS = [
    b"/v1/users/..",
    b"/v1/users/.",
    b"/v1/users/ana/../ana",
    b"/v1/users/%2e%2e",
    b"/v1/users/ana/%2E%2E/bob",
    b"/v1/users/ana/./ana",
    b"/v1/users/ana%2F..%2Fbob",
    b"/v1/memories/..?user_id=ana",
    b"/v1/memories/%2e/history?user_id=ana",
]
BAD_UTF8_TARGETS = [
    b"/v1/users/%FF",
    b"/v1/memories/%C3%28?user_id=ana",
    b"/v1/memories?user_id=%FF%FE",
    b"/v1/memories?user_id=ana&kind=%80",
]


def _send_raw(url: str, key: str, method: str, target: bytes) -> httpx.Response:
    """One request with exactly this target: httpx would otherwise remove dot segments."""
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}) as http:
        request = http.build_request(method, "/")
        request.extensions["target"] = target
        return http.send(request)


def _remember(url: str, key: str, user: str) -> None:
    body = {"user_id": user, "messages": [{"speaker": "A", "content": f"I am {user}"}]}
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}) as http:
        assert http.post("/v1/memories", json=body).status_code == 200


def _count(url: str, key: str, user: str) -> int:
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}) as http:
        return len(http.get("/v1/memories", params={"user_id": user}).json()["memories"])


@pytest.mark.parametrize("target", DOT_SEGMENT_TARGETS, ids=lambda t: t.decode())
@pytest.mark.parametrize("method", ["DELETE", "GET"])
def test_dot_segments_are_refused_and_delete_nobody(
    service: Service, method: str, target: bytes
) -> None:
    for user in ("ana", "bob"):
        _remember(service.url, service.key_a, user)
    response = _send_raw(service.url, service.key_a, method, target)
    assert response.status_code == 400, (response.status_code, response.text)
    assert response.json()["error"]["code"] == "bad_request"
    assert _count(service.url, service.key_a, "ana") >= 1
    assert _count(service.url, service.key_a, "bob") >= 1


@pytest.mark.parametrize("target", BAD_UTF8_TARGETS, ids=lambda t: t.decode())
def test_invalid_utf8_in_path_or_query_is_400(service: Service, target: bytes) -> None:
    method = "DELETE" if target.startswith(b"/v1/users") else "GET"
    response = _send_raw(service.url, service.key_a, method, target)
    assert response.status_code == 400, (response.status_code, response.text)
    assert "UTF-8" in response.json()["error"]["message"]


def test_the_200_character_limit_is_the_callers_own(service: Service) -> None:
    longest = "u" * 200
    _remember(service.url, service.key_a, longest)
    with httpx.Client(
        base_url=service.url, headers={"Authorization": f"Bearer {service.key_a}"}
    ) as http:
        listed = http.get("/v1/memories", params={"user_id": longest}).json()["memories"]
        assert listed and {m["user_id"] for m in listed} == {longest}
        body = {"user_id": longest + "u", "messages": [{"speaker": "A", "content": "x"}]}
        refused = http.post("/v1/memories", json=body)
        assert refused.status_code == 422
        assert "acme" not in refused.text  # errors never reveal the tenant prefix


def test_failed_authentication_is_limited_per_address(tmp_path: Path) -> None:
    db = str(tmp_path / "auth.db")
    key = create_key(db, "acme")
    args = ("--auth-failure-limit", "6", "--auth-failure-burst", "10")
    server = Server(db, args=args, log=tmp_path / "server.log").start()
    try:
        statuses = []
        with httpx.Client(base_url=server.url) as http:
            for i in range(30):
                bad = {"Authorization": f"Bearer tmk_wrong{i}"}
                statuses.append(http.get("/v1/memories?user_id=u", headers=bad).status_code)
            limited = http.get("/v1/memories?user_id=u", headers={"Authorization": "Bearer x"})
            good = http.get("/v1/memories?user_id=u", headers={"Authorization": f"Bearer {key}"})
            health = http.get("/healthz")
        assert statuses[:10] == [401] * 10 and set(statuses[10:]) == {429}
        assert int(limited.headers["Retry-After"]) >= 1
        assert good.status_code == 429  # the address is held off, whatever key it sends
        assert health.status_code == 200
    finally:
        server.stop()


@pytest.fixture
def slow_llm() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as fake:
        fake.script_chat("segment@2", segment_reply)
        fake.script_chat("extract@2", extract_reply)
        yield fake


def test_healthz_answers_promptly_while_every_endpoint_thread_is_busy(
    tmp_path: Path, slow_llm: FakeOpenAIServer
) -> None:
    db = str(tmp_path / "busy.db")
    key = create_key(db, "acme")
    env = {"TMEM_LLM_BASE_URL": slow_llm.base_url, "TMEM_LLM_MODEL": "fake-model"}
    args = (*UNLIMITED, "--llm-concurrency", "128", "--workers", "0")
    server = Server(db, args=args, env=env, log=tmp_path / "server.log").start()
    slow_llm.delay_next(2.0, n=50)  # each add holds an endpoint thread for 2 s or more
    headers = {"Authorization": f"Bearer {key}"}

    def add(i: int) -> int:
        body = {"user_id": f"u{i}", "messages": [{"speaker": "A", "content": f"note {i}"}]}
        with httpx.Client(base_url=server.url, headers=headers, timeout=60) as http:
            return http.post("/v1/memories", json=body).status_code

    try:
        with ThreadPoolExecutor(50) as pool:
            adds = [pool.submit(add, i) for i in range(50)]
            time.sleep(1.0)  # every endpoint thread is now waiting on the LLM
            started = time.monotonic()
            health = httpx.get(f"{server.url}/healthz", timeout=30)
            took = time.monotonic() - started
            assert all(f.result() == 200 for f in adds)
        assert health.status_code == 200 and took < 0.5, took
    finally:
        server.stop()


def _connection_closed_within(url: str, partial: bytes, seconds: float) -> bool:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(partial)
        sock.settimeout(seconds)
        try:
            return sock.recv(1024) == b""
        except TimeoutError:
            return False


def test_slow_headers_and_silent_connections_are_cut_off(tmp_path: Path) -> None:
    db = str(tmp_path / "slow.db")
    create_key(db, "acme")
    args = ("--header-timeout", "1", "--keep-alive-timeout", "1")
    server = Server(db, args=args, log=tmp_path / "server.log").start()
    try:
        assert _connection_closed_within(server.url, b"", 4)
        assert _connection_closed_within(server.url, b"GET /healthz HTTP/1.1\r\nHost: x\r\n", 4)
        # A complete request is still answered, then the idle connection is closed.
        host, port = server.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port))) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            sock.settimeout(4)
            received = b""
            while chunk := sock.recv(1024):  # a TimeoutError here: the connection stayed open
                received += chunk
            assert received.startswith(b"HTTP/1.1 200")
    finally:
        server.stop()


def test_a_running_job_keeps_its_short_lease_until_done(
    tmp_path: Path, slow_llm: FakeOpenAIServer
) -> None:
    config = Config(
        llm=LLMConfig(base_url=slow_llm.base_url, model="fake-model", max_retries=1),
        embedder=EmbedderConfig(kind="hash"),
    )
    settings = ServiceSettings(lease_seconds=1.0, workers=0)
    with Memory.open(str(tmp_path / "lease.db"), config) as memory:
        store = service_store(memory)
        payload = add_payload("acme/maya", [dict(t) for t in ALLERGY_TURNS], "s1")
        job_id = store.enqueue_job(ADD_JOB, json.loads(json.dumps(payload)), "acme/maya")
        slow_llm.delay_next(3.0)  # the job runs three leases long
        runner = JobRunner(memory, store, settings, worker_id="w1")
        worker = threading.Thread(target=runner.run_once)
        worker.start()
        try:
            time.sleep(2.0)
            later = datetime.now(UTC) + timedelta(seconds=0.5)
            assert store.claim_job("w2", lease=timedelta(seconds=1), now=later) is None
        finally:
            worker.join(30)
        job = store.get_job(job_id, "acme/maya")
        assert job is not None and (job.status, job.attempts) == ("done", 1), job
