"""Run real ``tmem serve`` / ``tmem worker`` processes on 127.0.0.1 for the service tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

TMEM = [sys.executable, "-c", "from tmem.cli.main import main; main()"]
START_TIMEOUT = 30.0


def service_env(**extra: str) -> dict[str, str]:
    """The environment for a service process: the hash embedder, no caller TMEM_* settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TMEM_")}
    return {**env, "TMEM_EMBEDDER": "hash", **extra}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def tmem(db: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run one ``tmem --db DB ...`` command to completion."""
    return subprocess.run(
        [*TMEM, "--db", db, *args],
        capture_output=True,
        text=True,
        env=service_env(),
        timeout=60,
        check=False,
    )


def create_key(db: str, tenant: str) -> str:
    """A new API key for ``tenant`` from ``tmem keys create`` (its last line of output)."""
    result = tmem(db, "keys", "create", "--tenant", tenant)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


@dataclass
class Server:
    """A ``tmem serve`` child process."""

    db: str
    port: int = field(default_factory=free_port)
    args: Sequence[str] = ()
    log: Path | None = None
    env: dict[str, str] = field(default_factory=dict)
    """Extra environment variables (e.g. ``TMEM_LLM_BASE_URL``)."""
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Server:
        out = self.log.open("ab") if self.log else subprocess.DEVNULL
        cmd = [*TMEM, "--db", self.db, "serve", "--port", str(self.port), "--log-level",
               "warning", *self.args]  # fmt: skip
        self.process = subprocess.Popen(cmd, env=service_env(**self.env), stdout=out, stderr=out)
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"tmem serve exited with {self.process.returncode}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.05)
        raise RuntimeError("tmem serve did not become ready")

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a crash."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
