"""The service's own settings: auth, limits, rate limits and background workers.

Built at the edge (``tmem serve`` flags) and passed to :func:`tmem.server.app.create_app`; the
service never reads the environment.
"""

from __future__ import annotations

from dataclasses import dataclass

from tmem.errors import ConfigError

DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024
DEFAULT_RATE_PER_SECOND = 20.0
DEFAULT_RATE_BURST = 40
DEFAULT_AUTH_FAILURES_PER_MINUTE = 30.0
DEFAULT_AUTH_FAILURE_BURST = 20
DEFAULT_LEASE_SECONDS = 60.0
"""A worker renews its lease every third of this while it runs a job, so only a crashed
worker's job waits this long before another worker (or the restarted server) takes it."""
DEFAULT_HEADER_TIMEOUT = 10.0
"""Seconds a client has to send a request's headers (``tmem serve``)."""
DEFAULT_KEEP_ALIVE_TIMEOUT = 5
"""Seconds an idle kept-alive connection stays open (``tmem serve``)."""


@dataclass(frozen=True)
class ServiceSettings:
    """How the REST service behaves.

    Attributes:
        auth: require ``Authorization: Bearer KEY`` on every route but ``/healthz``. With auth
            off every request acts for the tenant ``default``.
        max_body_bytes: larger request bodies get 413 before any parsing.
        rate_per_second: requests per second each API key may make on average.
        rate_burst: how many requests a key may make at once before the rate applies.
        auth_failures_per_minute: failed authentications each client address may make per
            minute on average; past the burst, its requests get 429 with ``Retry-After``
            before any key is checked.
        auth_failure_burst: how many failed authentications an address may make at once.
        workers: background-job threads inside the server process (0: none; run
            ``tmem worker`` instead).
        max_attempts: a background job that failed this many times is given up (``failed``).
        retry_base_seconds: the first retry waits this long; each further one twice as long.
        retry_max_seconds: the longest wait between retries.
        poll_seconds: how often an idle worker looks for queued jobs it was not told about.
        lease_seconds: how long a job's lease lasts; its worker renews it every third of
            that while the job runs, so a job is taken over by another worker only when its
            worker stopped (crashed, killed), at most this long after.
        idempotency_ttl_hours: stored ``Idempotency-Key`` responses older than this are
            forgotten when the service starts.
        job_retention_hours: finished background jobs (done or failed) last updated longer
            ago than this are deleted when the service starts. A finished job keeps its
            result and error, never its messages.
    """

    auth: bool = True
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    rate_per_second: float = DEFAULT_RATE_PER_SECOND
    rate_burst: int = DEFAULT_RATE_BURST
    auth_failures_per_minute: float = DEFAULT_AUTH_FAILURES_PER_MINUTE
    auth_failure_burst: int = DEFAULT_AUTH_FAILURE_BURST
    workers: int = 1
    max_attempts: int = 5
    retry_base_seconds: float = 2.0
    retry_max_seconds: float = 300.0
    poll_seconds: float = 1.0
    lease_seconds: float = DEFAULT_LEASE_SECONDS
    idempotency_ttl_hours: float = 24.0
    job_retention_hours: float = 168.0

    def validate(self) -> ServiceSettings:
        if self.max_body_bytes < 1024:
            raise ConfigError("max_body_bytes must be at least 1024")
        if self.rate_per_second <= 0 or self.rate_burst < 1:
            raise ConfigError("the rate limit needs rate_per_second > 0 and rate_burst >= 1")
        if self.auth_failures_per_minute <= 0 or self.auth_failure_burst < 1:
            raise ConfigError("the failed-authentication limit needs a rate > 0 and a burst >= 1")
        if self.workers < 0 or self.max_attempts < 1:
            raise ConfigError("workers must be >= 0 and max_attempts >= 1")
        if self.retry_base_seconds < 0 or self.retry_max_seconds < self.retry_base_seconds:
            raise ConfigError("retry delays must satisfy 0 <= base <= max")
        if min(self.poll_seconds, self.lease_seconds, self.idempotency_ttl_hours) <= 0:
            raise ConfigError("poll_seconds, lease_seconds and idempotency_ttl_hours must be > 0")
        if self.job_retention_hours <= 0:
            raise ConfigError("job_retention_hours must be > 0")
        return self

    def retry_delay(self, attempts: int) -> float:
        """Seconds to wait before the next try of a job that has failed ``attempts`` times."""
        exponent = max(attempts - 1, 0)
        # Cap the exponent first: 2.0 ** 2000 overflows a float.
        return min(self.retry_base_seconds * 2.0 ** min(exponent, 60), self.retry_max_seconds)
