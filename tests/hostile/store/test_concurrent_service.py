"""Issue 12, defect 3 as deployed: one ``tmem serve`` and two ``tmem worker`` processes.

Client threads send adds for one user, half answered inline by the server, half queued as
background jobs that the server's own job thread and both workers race to run. Afterwards
every acknowledged message is stored once, no ``seq`` is shared and every turn is in the scene
it links to, read back through ``GET /v1/export``.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.server.service import TMEM, Server, create_key, service_env

from .conftest import SCALE
from .integrity import check

pytestmark = pytest.mark.slow

CLIENTS = 6
REQUESTS = 10 * SCALE
BATCH_SIZE = 3


@pytest.fixture
def workers(store_url: str, tmp_path: Path) -> Iterator[Callable[[], None]]:
    """Start two ``tmem worker`` processes on the store (on demand); stopped after the test."""
    procs: list[subprocess.Popen[bytes]] = []

    def start() -> None:
        for n in range(2):
            log = (tmp_path / f"worker{n}.log").open("ab")
            cmd = [*TMEM, "--db", store_url, "worker", "--threads", "2", "--log-level", "warning"]
            procs.append(subprocess.Popen(cmd, env=service_env(), stdout=log, stderr=log))

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(20)


def _client(url: str, key: str, client: int) -> list[str]:
    """Send this client's adds; return the ids of queued jobs."""
    jobs = []
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=60) as api:
        for n in range(REQUESTS):
            messages = [
                {
                    "id": f"c{client}-r{n}-m{i}",
                    "speaker": f"client {client}",
                    "content": f"client {client} request {n} message {i}",
                }
                for i in range(BATCH_SIZE)
            ]
            body = {"user_id": "ana", "session_id": "one-session", "messages": messages}
            background = n % 2 == 1
            answer = api.post("/v1/memories", params={"background": background}, json=body)
            assert answer.status_code == (202 if background else 200), answer.text
            if background:
                jobs.append(answer.json()["job_id"])
    return jobs


def _wait_done(api: httpx.Client, job_ids: list[str]) -> None:
    deadline = time.monotonic() + 120
    for job_id in job_ids:
        while (job := api.get(f"/v1/jobs/{job_id}").json())["status"] != "done":
            assert job["status"] != "failed" and time.monotonic() < deadline, job
            time.sleep(0.05)


def test_serve_and_two_workers_keep_one_users_order_and_scenes(
    store_url: str, workers: Callable[[], None], tmp_path: Path
) -> None:
    key = create_key(store_url, "acme")
    server = Server(store_url, args=("--rate-limit", "1000", "--rate-burst", "1000"),
                    log=tmp_path / "server.log").start()  # fmt: skip
    try:
        workers()
        with ThreadPoolExecutor(CLIENTS) as pool:
            queued = [j for jobs in pool.map(_client, [server.url] * CLIENTS,
                      [key] * CLIENTS, range(CLIENTS)) for j in jobs]  # fmt: skip
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=server.url, headers=headers, timeout=60) as api:
            _wait_done(api, queued)
            records = api.get("/v1/export", params={"user_id": "ana"}).json()["records"]
    finally:
        server.stop()
    found = check(records)
    assert found.turns == CLIENTS * REQUESTS * BATCH_SIZE
    assert (found.duplicate_seq, found.detached, found.stray_sources) == (0, 0, 0), found
