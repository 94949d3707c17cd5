"""The service's pure parts: token bucket, retry backoff, job ids, idempotency, bind checks."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tmem.cli.serve import is_loopback
from tmem.errors import (
    ConfigError,
    EmbedderMismatchError,
    InputError,
    LLMTimeoutError,
    LLMUnavailableError,
    NotFoundError,
    StoreError,
    TmemError,
)
from tmem.server.errors import status_of
from tmem.server.idempotency import request_hash, with_message_ids
from tmem.server.jobs import parse_job_id, public_job_id
from tmem.server.limits import TokenBucket, retry_after
from tmem.server.settings import ServiceSettings
from tmem.server.tenancy import caller_user_id, store_user_id


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_token_bucket_allows_a_burst_then_refills_at_the_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=2.0, burst=3, clock=clock)
    assert [bucket.take("k") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take("k") == pytest.approx(0.5)
    assert bucket.take("other") == 0.0  # keys have separate buckets
    clock.now = 0.5
    assert bucket.take("k") == 0.0
    clock.now = 100.0
    assert [bucket.take("k") for _ in range(4)][-1] > 0  # refill is capped at the burst


def test_retry_after_is_whole_seconds_at_least_one() -> None:
    assert retry_after(0.01) == "1"
    assert retry_after(2.2) == "3"


def test_retry_delay_doubles_up_to_the_cap() -> None:
    settings = ServiceSettings(retry_base_seconds=2.0, retry_max_seconds=30.0)
    assert [settings.retry_delay(n) for n in (1, 2, 3, 4, 5, 10_000)] == [2, 4, 8, 16, 30, 30]


@pytest.mark.parametrize(
    "bad",
    [
        ServiceSettings(max_body_bytes=10),
        ServiceSettings(rate_per_second=0),
        ServiceSettings(workers=-1),
        ServiceSettings(max_attempts=0),
        ServiceSettings(retry_base_seconds=10, retry_max_seconds=1),
        ServiceSettings(poll_seconds=0),
    ],
)
def test_invalid_settings_are_refused(bad: ServiceSettings) -> None:
    with pytest.raises(ConfigError):
        bad.validate()


@given(st.text(min_size=1, max_size=200).filter(lambda s: "\x00" not in s))
def test_job_ids_round_trip_any_user(user: str) -> None:
    try:
        user.encode("utf-8")
    except UnicodeEncodeError:
        return
    assert parse_job_id(public_job_id("0123abcd", user)) == ("0123abcd", user)


@pytest.mark.parametrize("forged", ["", "abc", ".dQ", "a-b.dQ", "abc.!!", "abc.\u00e9", "abc.gA"])
def test_malformed_job_ids_parse_to_none(forged: str) -> None:
    assert parse_job_id(forged) is None


@given(st.text(min_size=1, max_size=20, alphabet="abc/"), st.text(min_size=1, max_size=20))
def test_user_ids_map_into_the_tenant_and_back(user: str, tenant_tail: str) -> None:
    tenant = "t" + "".join(c for c in tenant_tail if c.isalnum())
    assert caller_user_id(store_user_id(tenant, user)) == user


def test_request_hash_ignores_key_order_but_not_content_or_mode() -> None:
    body = {"user_id": "u", "messages": [{"speaker": "A", "content": "x"}]}
    reordered = {"messages": [{"content": "x", "speaker": "A"}], "user_id": "u"}
    assert request_hash(body, False) == request_hash(reordered, False)
    assert request_hash(body, False) != request_hash(body, True)
    assert request_hash(body, False) != request_hash({**body, "user_id": "v"}, False)


def test_derived_message_ids_are_stable_and_keep_given_ids() -> None:
    messages = [{"speaker": "A", "content": "x"}, {"speaker": "A", "content": "y", "id": "m2"}]
    once = with_message_ids(messages, "acme", "k1")
    assert once == with_message_ids(messages, "acme", "k1")
    assert once[1]["id"] == "m2" and once[0]["id"].startswith("idem_")
    assert once[0]["id"] != with_message_ids(messages, "globex", "k1")[0]["id"]


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("localhost", True), ("::1", True), ("[::1]", True),
     ("0.0.0.0", False), ("192.0.2.1", False), ("example.com", False), ("::", False)],
)  # fmt: skip
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (InputError("x"), 422, "invalid_input"),
        (NotFoundError("x"), 404, "not_found"),
        (LLMUnavailableError("x"), 501, "llm_unavailable"),
        (LLMTimeoutError("x"), 503, "llm_error"),
        (StoreError("x"), 503, "store_unavailable"),
        (EmbedderMismatchError("x"), 500, "internal"),
        (ConfigError("x"), 500, "internal"),
    ],
)
def test_tmem_errors_map_to_statuses(error: TmemError, status: int, code: str) -> None:
    assert status_of(error) == (status, code)
