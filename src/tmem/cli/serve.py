"""``tmem serve``, ``tmem worker`` and ``tmem mcp``: the service commands (extras ``server``
and ``mcp``).

These are the edges: they read flags, configure logging and hand a finished configuration to
the service, which itself reads nothing from the environment.
"""

from __future__ import annotations

import ipaddress
import logging
import signal
import sys
from dataclasses import replace

import click

from tmem.config import Config
from tmem.errors import ConfigError, TmemError
from tmem.memory import Memory
from tmem.server.settings import (
    DEFAULT_AUTH_FAILURE_BURST,
    DEFAULT_AUTH_FAILURES_PER_MINUTE,
    DEFAULT_HEADER_TIMEOUT,
    DEFAULT_KEEP_ALIVE_TIMEOUT,
    DEFAULT_LEASE_SECONDS,
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_RATE_BURST,
    DEFAULT_RATE_PER_SECOND,
    ServiceSettings,
)
from tmem.store.factory import open_store
from tmem.validate import check_id

logger = logging.getLogger("tmem.server")


def _state(ctx: click.Context) -> tuple[str, Config]:
    obj = ctx.find_root().obj
    return str(getattr(obj, "db", "tmem.db")), getattr(obj, "config", None) or Config()


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` exposes the service to this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def live_key_count(db: str) -> int | None:
    """How many unrevoked API keys the store holds (None: the store cannot tell)."""

    store = open_store(db)
    try:
        try:
            service = store.service()
        except ConfigError:
            return None
        return sum(1 for key in service.api_keys() if key.revoked_at is None)
    finally:
        store.close()


def _check_exposure(db: str, host: str, insecure_no_auth: bool) -> None:
    if insecure_no_auth:
        logger.warning(
            "AUTH IS OFF (--insecure-no-auth): anyone who can reach %s acts as tenant 'default'",
            host,
        )
        return
    count = live_key_count(db)
    if count:
        return
    if not is_loopback(host):
        raise click.ClickException(
            f"refusing to serve on {host} without an API key: create one with "
            "`tmem keys create --tenant NAME` (or pass --insecure-no-auth)"
        )
    logger.warning("no API keys yet: every request will get 401 (`tmem keys create --tenant NAME`)")


def _logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )


def _with_llm_concurrency(config: Config, concurrency: int | None) -> Config:
    return config if concurrency is None else config.with_llm(concurrency=concurrency)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--insecure-no-auth",
    is_flag=True,
    help="Serve without API keys: every request acts for tenant 'default'. Never on a network.",
)
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(0, 64),
    help="Background-job threads in this process (0: leave jobs to `tmem worker`).",
)
@click.option("--max-attempts", default=5, show_default=True, type=click.IntRange(1, 100))
@click.option(
    "--rate-limit",
    default=DEFAULT_RATE_PER_SECOND,
    show_default=True,
    type=click.FloatRange(min=0.001),
    help="Requests per second per API key (token bucket).",
)
@click.option("--rate-burst", default=DEFAULT_RATE_BURST, show_default=True, type=click.IntRange(1))
@click.option(
    "--auth-failure-limit",
    default=DEFAULT_AUTH_FAILURES_PER_MINUTE,
    show_default=True,
    type=click.FloatRange(min=0.001),
    help="Failed authentications per minute per client address; then 429 with Retry-After.",
)
@click.option(
    "--auth-failure-burst", default=DEFAULT_AUTH_FAILURE_BURST, show_default=True,
    type=click.IntRange(1),
)  # fmt: skip
@click.option(
    "--job-lease",
    default=DEFAULT_LEASE_SECONDS,
    show_default=True,
    type=click.FloatRange(min=1),
    help="Seconds before a job whose worker stopped renewing it (crashed) runs elsewhere.",
)
@click.option(
    "--header-timeout", default=DEFAULT_HEADER_TIMEOUT, show_default=True,
    type=click.FloatRange(min=0.1), help="Seconds a client has to send a request's headers.",
)  # fmt: skip
@click.option(
    "--keep-alive-timeout", default=DEFAULT_KEEP_ALIVE_TIMEOUT, show_default=True,
    type=click.IntRange(1), help="Seconds an idle kept-alive connection stays open.",
)  # fmt: skip
@click.option(
    "--max-body-bytes", default=DEFAULT_MAX_BODY_BYTES, show_default=True, type=click.IntRange(1024)
)
@click.option(
    "--llm-concurrency",
    default=None,
    type=click.IntRange(1, 256),
    help="LLM calls in flight across all requests (default: TMEM_LLM_CONCURRENCY or 4).",
)
@click.option(
    "--durable/--no-durable",
    default=True,
    show_default=True,
    help="SQLite: fsync every commit (synchronous=FULL), so an acknowledged write survives "
    "power loss.",
)
@click.option(
    "--job-retention-hours",
    default=168.0,
    show_default=True,
    type=click.FloatRange(min=0.001),
    help="Finished background jobs older than this are deleted when the service starts.",
)
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"]))  # fmt: skip
@click.pass_context
def serve(
    ctx: click.Context,
    host: str,
    port: int,
    insecure_no_auth: bool,
    workers: int,
    max_attempts: int,
    rate_limit: float,
    rate_burst: int,
    auth_failure_limit: float,
    auth_failure_burst: int,
    job_lease: float,
    header_timeout: float,
    keep_alive_timeout: int,
    max_body_bytes: int,
    llm_concurrency: int | None,
    durable: bool,
    job_retention_hours: float,
    log_level: str,
) -> None:
    """Serve the REST API (see docs/service.md)."""
    import uvicorn

    from tmem.server.app import create_app
    from tmem.server.connections import bounded_h11

    _logging(log_level)
    db, config = _state(ctx)
    settings = ServiceSettings(
        auth=not insecure_no_auth,
        max_body_bytes=max_body_bytes,
        rate_per_second=rate_limit,
        rate_burst=rate_burst,
        auth_failures_per_minute=auth_failure_limit,
        auth_failure_burst=auth_failure_burst,
        workers=workers,
        max_attempts=max_attempts,
        job_retention_hours=job_retention_hours,
        lease_seconds=job_lease,
    )
    try:
        settings.validate()
        _check_exposure(db, host, insecure_no_auth)
        config = replace(_with_llm_concurrency(config, llm_concurrency), durable=durable)
        app = create_app(db, config, settings)
    except TmemError as error:
        raise click.ClickException(str(error)) from None
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level=log_level,
        server_header=False,
        http=bounded_h11(header_timeout),
        timeout_keep_alive=keep_alive_timeout,
    )


@click.command()
@click.option("--threads", default=2, show_default=True, type=click.IntRange(1, 64))
@click.option("--max-attempts", default=5, show_default=True, type=click.IntRange(1, 100))
@click.option("--llm-concurrency", default=None, type=click.IntRange(1, 256))
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"]))  # fmt: skip
@click.pass_context
def worker(
    ctx: click.Context, threads: int, max_attempts: int, llm_concurrency: int | None, log_level: str
) -> None:
    """Run background ingestion jobs from the store's queue until stopped (SIGINT/SIGTERM)."""
    from tmem.server.jobs import WorkerPool
    from tmem.server.service import service_store

    _logging(log_level)
    db, config = _state(ctx)
    settings = ServiceSettings(workers=threads, max_attempts=max_attempts).validate()
    try:
        memory = Memory.open(db, _with_llm_concurrency(config, llm_concurrency))
        store = service_store(memory)
    except TmemError as error:
        raise click.ClickException(str(error)) from None
    pool = WorkerPool(memory, store, settings, threads)
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: pool.stop(timeout=0))
    pool.start()
    logger.info("tmem worker: %d threads on %s", threads, db)
    try:
        pool.wait()
    finally:
        pool.stop()
        memory.close()


@click.command()
@click.option("--user", "user_id", required=True, help="The one user every tool acts for.")
@click.option(
    "--derive",
    type=click.Choice(["now", "batched"]),
    default="now",
    show_default=True,
    help="Full mode: derive at each `remember` (two LLM calls each), or store at once and "
    "derive in the background per --batch-turns turns and when the server stops.",
)
@click.option(
    "--batch-turns",
    type=click.IntRange(1, 1000),
    default=40,
    show_default=True,
    help="With --derive batched: turns waiting before a background derivation pass.",
)
@click.pass_context
def mcp(ctx: click.Context, user_id: str, derive: str, batch_turns: int) -> None:
    """Serve remember / recall / forget tools over MCP (stdio) for one user."""
    try:
        from tmem.server.mcp import build_server
    except ImportError:
        raise click.ClickException(
            "tmem mcp needs the mcp extra: pip install 'tmem[mcp]'"
        ) from None

    # stdout carries the protocol: logs go to stderr, warnings only.
    _logging("warning")
    db, config = _state(ctx)
    try:
        memory = Memory.open(db, config)
        check_id(user_id, "user_id")
    except TmemError as error:
        raise click.ClickException(str(error)) from None
    server, batched = build_server(
        memory,
        user_id,
        derive="batched" if derive == "batched" else "now",
        batch_turns=batch_turns,
    )
    try:
        server.run("stdio")
    finally:
        try:
            if batched is not None:
                batched.flush()
        finally:
            memory.close()


__all__ = ["mcp", "serve", "worker"]
