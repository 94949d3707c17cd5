"""kill -9 during ingestion (reliability.md R2, PR-sized): after a restart, retrying every request
with its ``Idempotency-Key`` leaves exactly one copy of each message, and acknowledged
requests replay their original response."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.server.service import Server, create_key

pytestmark = pytest.mark.slow  # starts two tmem serve processes

REQUESTS = 80
UNLIMITED = ("--workers", "0", "--rate-limit", "10000", "--rate-burst", "10000")


def _body(i: int) -> dict[str, Any]:
    return {"user_id": "ana", "messages": [{"speaker": "Ana", "content": f"note number {i}"}]}


def _send_all(url: str, key: str, acked: dict[int, Any], first_ack: threading.Event) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=url, headers=headers, timeout=5) as http:
        for i in range(REQUESTS):
            try:
                response = http.post("/v1/memories", json=_body(i),
                                     headers={"Idempotency-Key": f"k{i}"})  # fmt: skip
            except httpx.HTTPError:
                return  # the server is gone: the rest are unacknowledged
            if response.status_code == 200:
                acked[i] = response.json()
                first_ack.set()


def test_retries_after_a_crash_store_each_message_once(tmp_path: Path) -> None:
    db = str(tmp_path / "crash.db")
    key = create_key(db, "acme")
    server = Server(db, args=UNLIMITED).start()
    acked: dict[int, Any] = {}
    first_ack = threading.Event()
    sender = threading.Thread(target=_send_all, args=(server.url, key, acked, first_ack))
    sender.start()
    assert first_ack.wait(20)
    time.sleep(0.2)  # let some more requests through, then crash mid-stream
    server.kill()
    sender.join(30)
    assert 0 < len(acked) < REQUESTS, "the crash should land mid-stream"

    restarted = Server(db, args=UNLIMITED).start()
    try:
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=restarted.url, headers=headers, timeout=30) as http:
            for i in range(REQUESTS):
                retry = http.post(
                    "/v1/memories", json=_body(i), headers={"Idempotency-Key": f"k{i}"}
                )
                assert retry.status_code == 200, retry.text
                if i in acked:
                    assert retry.json() == acked[i]  # the original response, replayed
            turns = http.get("/v1/memories", params={"user_id": "ana", "kind": "turn"}).json()
    finally:
        restarted.stop()
    contents = sorted(t["content"] for t in turns["memories"])
    assert contents == sorted(f"note number {i}" for i in range(REQUESTS))
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
