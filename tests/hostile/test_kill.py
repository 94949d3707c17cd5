"""``kill -9`` of the server during concurrent writes, then idempotent retries (reliability R2).

Several client threads send adds (some as background jobs) with an ``Idempotency-Key`` each;
the server is killed at a random moment, restarted, and every request whose outcome is unknown
is retried with its key. At the end every acknowledged or retried message is stored exactly
once, no two turns of a user share a ``seq``, every turn is among its scene's sources, no
request got a 5xx, and replays return the original response. On SQLite and Postgres; loop
sizes grow with ``TMEM_HOSTILE_SCALE``.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.hostile.conftest import SCALE, UNLIMITED
from tests.hostile.figures import record
from tests.hostile.integrity import check_users, sqlite_integrity_ok
from tests.server.service import Server, create_key
from tests.store.pg_server import (  # noqa: F401 - fixtures
    pg_database_url,
    pg_new_url,
    pg_server,
)

pytestmark = pytest.mark.slow  # starts and kills tmem serve processes

ROUNDS = 2 * SCALE
WRITERS = 6
USERS = ["ana", "ünï 日本", "100%", "a.b"]  # legal ids that are easy to get wrong
ARGS = (*UNLIMITED, "--workers", "1", "--job-lease", "2")


@dataclass
class Request:
    key: str
    body: dict[str, Any]
    background: bool


@dataclass
class Ledger:
    """What the clients know: acknowledged responses, unknown outcomes, errors."""

    acked: dict[str, tuple[int, Any]] = field(default_factory=dict)
    unknown: dict[str, Request] = field(default_factory=dict)
    requests: dict[str, Request] = field(default_factory=dict)
    jobs: list[tuple[str, str]] = field(default_factory=list)
    sent: int = 0
    server_errors: int = 0
    refused: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, request: Request, response: httpx.Response | None) -> None:
        with self.lock:
            self.sent += 1
            self.requests[request.key] = request
            if response is None:
                self.unknown[request.key] = request
                return
            if response.status_code >= 500:
                self.server_errors += 1
                self.unknown[request.key] = request
            elif response.status_code in (200, 202):
                self.acked[request.key] = (response.status_code, response.json())
                self.unknown.pop(request.key, None)
                if response.status_code == 202:
                    self.jobs.append((request.key, response.json()["job_id"]))
            else:
                self.refused += 1


def _send(http: httpx.Client, request: Request) -> httpx.Response | None:
    params = {"background": "true"} if request.background else {}
    try:
        return http.post(
            "/v1/memories",
            json=request.body,
            params=params,
            headers={"Idempotency-Key": request.key},
        )
    except httpx.HTTPError:
        return None


def _writer(url: str, key: str, name: str, ledger: Ledger, stop: threading.Event) -> None:
    rng = random.Random(name)
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=10) as http:
        i = 0
        while not stop.is_set():
            request_key = f"{name}-{i}"
            user = USERS[i % len(USERS)]
            messages = [
                {"speaker": "Ana", "content": f"canary {request_key} {j}"}
                for j in range(rng.randint(1, 3))
            ]
            request = Request(
                request_key, {"user_id": user, "messages": messages}, background=rng.random() < 0.2
            )
            response = _send(http, request)
            ledger.note(request, response)
            if response is None:
                return  # the server is gone
            i += 1


def _round(url: str, key: str, number: int, ledger: Ledger, server: Server) -> None:
    stop = threading.Event()
    threads = [
        threading.Thread(target=_writer, args=(url, key, f"r{number}w{w}", ledger, stop))
        for w in range(WRITERS)
    ]
    for thread in threads:
        thread.start()
    time.sleep(random.Random(number).uniform(0.3, 1.5))
    server.kill()
    stop.set()
    for thread in threads:
        thread.join(30)


def _retry(url: str, key: str, ledger: Ledger) -> None:
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as http:
        for request in list(ledger.unknown.values()):
            ledger.note(request, _send(http, request))
        for request_key in list(ledger.acked)[-5:]:  # replays answer as the first time
            status, body = ledger.acked[request_key]
            response = _send(http, ledger.requests[request_key])
            ledger.sent += 1
            assert response is not None and (response.status_code, response.json()) == (
                status,
                body,
            )


def _wait_for_jobs(url: str, key: str, ledger: Ledger) -> int:
    failed = 0
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as http:
        for _, job_id in ledger.jobs:
            deadline = time.monotonic() + 60
            while (job := http.get(f"/v1/jobs/{job_id}").json())["status"] not in (
                "done",
                "failed",
            ):
                assert time.monotonic() < deadline, job
                time.sleep(0.1)
            ledger.sent += 1
            failed += job["status"] == "failed"
    return failed


def _battery(db: str, store_users: Callable[[str], str]) -> dict[str, int]:
    key = create_key(db, "acme")
    ledger = Ledger()
    processes = 0
    server = Server(db, args=ARGS).start()
    processes += 1
    for number in range(ROUNDS):
        _round(server.url, key, number, ledger, server)
        server = Server(db, args=ARGS).start()
        processes += 1
        _retry(server.url, key, ledger)
        assert not ledger.unknown, f"{len(ledger.unknown)} requests still unknown after retry"
    failed_jobs = _wait_for_jobs(server.url, key, ledger)
    server.stop()
    found = check_users(db, [store_users(u) for u in USERS])
    expected = Counter(m["content"] for r in ledger.requests.values() for m in r.body["messages"])
    return {
        "requests": ledger.sent,
        "kills": ROUNDS,
        "processes": processes,
        "server_errors": ledger.server_errors,
        "refused": ledger.refused,
        "failed_jobs": failed_jobs,
        "acked": len(ledger.acked),
        "turns": found.turns,
        "lost_writes": sum(1 for text in expected if found.contents[text] == 0),
        "duplicate_writes": sum(1 for text in expected if found.contents[text] > 1),
        "unexpected_turns": sum(1 for text in found.contents if text not in expected),
        "duplicate_seq": found.duplicate_seq,
        "detached_turns": found.detached_turns,
    }


def _assert_clean(figures: dict[str, int]) -> None:
    assert figures["acked"] > 0 and figures["turns"] > 0, figures
    bad = (
        "server_errors",
        "refused",
        "failed_jobs",
        "lost_writes",
        "duplicate_writes",
        "unexpected_turns",
        "duplicate_seq",
        "detached_turns",
    )
    assert {k: figures[k] for k in bad} == dict.fromkeys(bad, 0), figures


def test_kill_9_during_writes_on_sqlite(tmp_path: Path) -> None:
    db = str(tmp_path / "kill.db")
    figures = _battery(db, lambda user: f"acme/{user}")
    integrity = sqlite_integrity_ok(db)
    record("kill_sqlite", {**figures, "integrity_failures": int(not integrity)})
    _assert_clean(figures)
    assert integrity


@pytest.mark.postgres
def test_kill_9_during_writes_on_postgres(pg_new_url: Callable[[], str]) -> None:  # noqa: F811
    figures = _battery(pg_new_url(), lambda user: f"acme/{user}")
    record("kill_postgres", figures)
    _assert_clean(figures)
