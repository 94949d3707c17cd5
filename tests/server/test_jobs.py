"""Background jobs survive a crash of the server and run in a separate ``tmem worker``."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.server.service import TMEM, Server, create_key, service_env

pytestmark = pytest.mark.slow  # starts tmem serve and tmem worker processes

BODY = {"user_id": "ana", "messages": [{"speaker": "Ana", "content": "I moved to Porto."}]}


def _enqueue(server: Server, key: str) -> str:
    response = httpx.post(
        f"{server.url}/v1/memories",
        params={"background": "true"},
        json=BODY,
        headers={"Authorization": f"Bearer {key}"},
    )
    assert response.status_code == 202
    job_id: str = response.json()["job_id"]
    return job_id


def _job(server: Server, key: str, job_id: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {key}"}
    job: dict[str, Any] = httpx.get(f"{server.url}/v1/jobs/{job_id}", headers=headers).json()
    return job


def _wait_done(server: Server, key: str, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        job = _job(server, key, job_id)
        if job["status"] == "done":
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} never finished: {job}")


def test_a_queued_job_survives_a_killed_server(tmp_path: Path) -> None:
    db = str(tmp_path / "jobs.db")
    key = create_key(db, "acme")
    first = Server(db, args=("--workers", "0")).start()
    try:
        job_id = _enqueue(first, key)
        assert _job(first, key, job_id)["status"] == "queued"
    finally:
        first.kill()

    second = Server(db, args=("--workers", "1")).start()
    try:
        job = _wait_done(second, key, job_id)
        assert job["result"]["turns"] == 1 and job["attempts"] == 1
        search = httpx.post(
            f"{second.url}/v1/search",
            json={"user_id": "ana", "query": "Porto"},
            headers={"Authorization": f"Bearer {key}"},
        ).json()
        assert "Porto" in search["hits"][0]["text"]
    finally:
        second.stop()


def test_a_separate_worker_process_runs_queued_jobs(tmp_path: Path) -> None:
    db = str(tmp_path / "worker.db")
    key = create_key(db, "acme")
    server = Server(db, args=("--workers", "0")).start()
    worker = None
    try:
        job_id = _enqueue(server, key)
        worker = subprocess.Popen(
            [*TMEM, "--db", db, "worker", "--threads", "1", "--log-level", "warning"],
            env=service_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        assert _wait_done(server, key, job_id)["result"]["user_id"] == "ana"
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(10)
        server.stop()
    assert worker.returncode == 0  # SIGTERM stops it cleanly
