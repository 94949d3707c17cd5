"""The ServiceStore contract (jobs, API keys, idempotency) on every backend."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from tmem.errors import NotFoundError, StoreError
from tmem.store.api_keys import hash_secret, new_api_key
from tmem.store.base import IdempotencyRecord, ServiceStore, Store
from tmem.store.postgres import PostgresStore
from tmem.store.sqlite import SQLiteStore

NOW = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def _conforms(sqlite: SQLiteStore, postgres: PostgresStore) -> tuple[ServiceStore, ServiceStore]:
    """Never called: mypy checks here that both service objects implement the protocol."""
    return sqlite.service(), postgres.service()


@pytest.fixture
def service(store: Store) -> ServiceStore:
    return store.service()


# --- jobs -----------------------------------------------------------------------------------------
def test_a_job_goes_from_queued_to_running_to_done(service: ServiceStore) -> None:
    job_id = service.enqueue_job("ingest", {"messages": ["hi"], "n": 1}, "alice", now=NOW)
    queued = service.get_job(job_id, "alice")
    assert queued is not None
    assert (queued.status, queued.attempts, queued.run_at, queued.created_at) == (
        "queued", 0, NOW, NOW,
    )  # fmt: skip
    claimed = service.claim_job("w1", lease=MINUTE, now=NOW)
    assert claimed is not None
    assert (claimed.id, claimed.status, claimed.worker_id, claimed.attempts) == (
        job_id, "running", "w1", 1,
    )  # fmt: skip
    assert claimed.lease_until == NOW + MINUTE
    assert claimed.payload == {"messages": ["hi"], "n": 1}
    service.finish_job(job_id, {"turns": 1}, worker_id="w1")
    done = service.get_job(job_id, "alice")
    assert done is not None and done.status == "done" and done.result == {"turns": 1}
    assert done.lease_until is None
    assert done.payload == {}  # the messages are not kept once the job is done
    assert service.claim_job("w1", now=NOW + timedelta(days=1)) is None


def test_a_job_is_visible_only_to_its_user(service: ServiceStore) -> None:
    job_id = service.enqueue_job("ingest", {}, "alice", now=NOW)
    assert service.get_job(job_id, "bob") is None
    assert service.get_job("no-such-job", "alice") is None
    found = service.get_job(job_id, "alice")
    assert found is not None and found.user_id == "alice"


def test_jobs_are_claimed_oldest_first_and_only_when_due(service: ServiceStore) -> None:
    first = service.enqueue_job("a", {}, "u", now=NOW)
    second = service.enqueue_job("b", {}, "u", now=NOW)
    later = service.enqueue_job("c", {}, "u", now=NOW + 5 * MINUTE)
    claims = [service.claim_job("w", now=NOW + MINUTE) for _ in range(3)]
    assert [job.id if job else None for job in claims] == [first, second, None]
    due = service.claim_job("w", now=NOW + 5 * MINUTE)
    assert due is not None and due.id == later


def test_an_expired_lease_lets_another_worker_take_the_job(service: ServiceStore) -> None:
    job_id = service.enqueue_job("ingest", {}, "u", now=NOW)
    assert service.claim_job("w1", lease=MINUTE, now=NOW) is not None
    assert service.claim_job("w2", lease=MINUTE, now=NOW + MINUTE / 2) is None  # still held
    taken = service.claim_job("w2", lease=MINUTE, now=NOW + 2 * MINUTE)
    assert taken is not None
    assert (taken.id, taken.worker_id, taken.attempts) == (job_id, "w2", 2)


def test_a_renewed_lease_keeps_the_job_from_other_workers(service: ServiceStore) -> None:
    # Issue 12: workers renew their lease while a job runs, so a lease can be short and only
    # a crashed worker's job is taken over. Real clock: renewing counts from the store's now.
    job_id = service.enqueue_job("ingest", {}, "u")
    start = datetime.now(UTC) + timedelta(seconds=1)  # the job is due by then on any clock
    assert service.claim_job("w1", lease=timedelta(seconds=1), now=start) is not None
    service.renew_job(job_id, "w1", lease=MINUTE)
    assert service.claim_job("w2", lease=MINUTE, now=start + timedelta(seconds=5)) is None
    taken = service.claim_job("w2", lease=MINUTE, now=start + 3 * MINUTE)
    assert taken is not None and taken.worker_id == "w2"
    with pytest.raises(NotFoundError):  # w1 lost it: renewing says so
        service.renew_job(job_id, "w1", lease=MINUTE)


def test_a_stale_worker_cannot_finish_or_fail_a_job_taken_over(service: ServiceStore) -> None:
    job_id = service.enqueue_job("ingest", {}, "u", now=NOW)
    service.claim_job("w1", lease=MINUTE, now=NOW)
    service.claim_job("w2", lease=MINUTE, now=NOW + 2 * MINUTE)
    with pytest.raises(NotFoundError):
        service.finish_job(job_id, {"by": "w1"}, worker_id="w1")
    with pytest.raises(NotFoundError):
        service.fail_job(job_id, "w1 gave up", None, worker_id="w1")
    held = service.get_job(job_id, "u")
    assert held is not None and (held.status, held.worker_id) == ("running", "w2")
    service.finish_job(job_id, {"by": "w2"}, worker_id="w2")
    done = service.get_job(job_id, "u")
    assert done is not None and done.result == {"by": "w2"}


def test_a_failed_job_retries_only_once_due(service: ServiceStore) -> None:
    job_id = service.enqueue_job("ingest", {}, "u", now=NOW)
    service.claim_job("w1", now=NOW)
    service.fail_job(job_id, "LLM timed out", NOW + 10 * MINUTE, worker_id="w1")
    waiting = service.get_job(job_id, "u")
    assert waiting is not None
    assert (waiting.status, waiting.error, waiting.run_at) == (
        "queued", "LLM timed out", NOW + 10 * MINUTE,
    )  # fmt: skip
    assert service.claim_job("w2", now=NOW + 9 * MINUTE) is None
    retried = service.claim_job("w2", now=NOW + 10 * MINUTE)
    assert retried is not None and (retried.id, retried.attempts) == (job_id, 2)


def test_a_job_failed_without_retry_stays_failed(service: ServiceStore) -> None:
    job_id = service.enqueue_job("ingest", {}, "u", now=NOW)
    service.claim_job("w1", now=NOW)
    service.fail_job(job_id, "bad payload", None)
    failed = service.get_job(job_id, "u")
    assert failed is not None and (failed.status, failed.error) == ("failed", "bad payload")
    assert service.claim_job("w2", now=NOW + timedelta(days=365)) is None


def test_a_job_keeps_its_payload_only_while_it_may_still_run(service: ServiceStore) -> None:
    retried = service.enqueue_job("ingest", {"messages": ["keep"]}, "u", now=NOW)
    given_up = service.enqueue_job("ingest", {"messages": ["drop"]}, "u", now=NOW)
    service.claim_job("w1", now=NOW)
    service.claim_job("w1", now=NOW)
    service.fail_job(retried, "later", NOW + MINUTE)
    service.fail_job(given_up, "never", None)
    kept, dropped = service.get_job(retried, "u"), service.get_job(given_up, "u")
    assert kept is not None and kept.payload == {"messages": ["keep"]}
    assert dropped is not None and dropped.payload == {} and dropped.error == "never"


def test_purging_jobs_deletes_only_finished_ones_older_than_the_cutoff(
    service: ServiceStore,
) -> None:
    done = service.enqueue_job("ingest", {}, "u", now=NOW)
    queued = service.enqueue_job("ingest", {}, "u", now=NOW + timedelta(days=400))
    assert service.claim_job("w1", now=NOW) is not None
    service.finish_job(done, {"turns": 0})
    assert service.purge_jobs(NOW - timedelta(days=400)) == 0
    assert service.get_job(done, "u") is not None
    assert service.purge_jobs(datetime.now(UTC) + timedelta(days=1)) == 1
    assert service.get_job(done, "u") is None
    assert service.get_job(queued, "u") is not None


def test_finishing_an_unknown_job_is_not_found(service: ServiceStore) -> None:
    with pytest.raises(NotFoundError):
        service.finish_job("no-such-job", {})
    with pytest.raises(NotFoundError):
        service.fail_job("no-such-job", "x", None)


def test_deleting_a_user_drops_their_jobs(store: Store) -> None:
    service = store.service()
    mine = service.enqueue_job("ingest", {}, "alice", now=NOW)
    theirs = service.enqueue_job("ingest", {}, "bob", now=NOW)
    assert store.delete_user("alice") >= 1
    assert service.get_job(mine, "alice") is None
    assert service.get_job(theirs, "bob") is not None


def claim_all(service: ServiceStore, worker: str, out: list[str]) -> None:
    while (job := service.claim_job(worker, now=NOW)) is not None:
        out.append(job.id)


def run_workers(stores: list[ServiceStore], threads_per_store: int) -> list[list[str]]:
    claimed: list[list[str]] = [[] for _ in range(len(stores) * threads_per_store)]
    threads = [
        threading.Thread(target=claim_all, args=(stores[n % len(stores)], f"w{n}", claimed[n]))
        for n in range(len(claimed))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return claimed


def test_concurrent_workers_never_claim_the_same_job(service: ServiceStore) -> None:
    job_ids = {service.enqueue_job("ingest", {"n": n}, "u", now=NOW) for n in range(60)}
    claimed = run_workers([service], threads_per_store=4)
    flat = [job_id for each in claimed for job_id in each]
    assert len(flat) == len(set(flat)) == 60
    assert set(flat) == job_ids


# --- API keys -------------------------------------------------------------------------------------
def test_a_key_is_found_by_its_hash_until_revoked(service: ServiceStore) -> None:
    secret, key = new_api_key("acme", NOW, "ci")
    service.add_api_key(key)
    found = service.api_key_by_hash(hash_secret(secret))
    assert found is not None
    assert (found.id, found.tenant, found.label, found.created_at) == (key.id, "acme", "ci", NOW)
    assert found.revoked_at is None
    assert service.api_key_by_hash(hash_secret(secret + "x")) is None
    assert service.revoke_api_key(key.id, NOW + MINUTE) is True
    assert service.api_key_by_hash(hash_secret(secret)) is None
    assert service.revoke_api_key(key.id, NOW + 2 * MINUTE) is False
    assert service.revoke_api_key("key_unknown", NOW) is False


def test_revoking_one_key_leaves_the_tenants_other_keys(service: ServiceStore) -> None:
    first_secret, first = new_api_key("acme", NOW)
    second_secret, second = new_api_key("acme", NOW)
    service.add_api_key(first)
    service.add_api_key(second)
    service.revoke_api_key(first.id, NOW)
    assert service.api_key_by_hash(hash_secret(first_secret)) is None
    live = service.api_key_by_hash(hash_secret(second_secret))
    assert live is not None and live.id == second.id


def test_a_duplicate_key_hash_is_refused(service: ServiceStore) -> None:
    _, key = new_api_key("acme", NOW)
    service.add_api_key(key)
    with pytest.raises(StoreError):
        service.add_api_key(key)


def test_keys_are_listed_by_tenant_with_revoked_ones(service: ServiceStore) -> None:
    _, a = new_api_key("acme", NOW)
    _, b = new_api_key("beta", NOW)
    service.add_api_key(a)
    service.add_api_key(b)
    service.revoke_api_key(b.id, NOW)
    assert [key.id for key in service.api_keys("acme")] == [a.id]
    everything = service.api_keys()
    assert [(key.tenant, key.revoked_at) for key in everything] == [("acme", None), ("beta", NOW)]


# --- idempotency ----------------------------------------------------------------------------------
def record(
    key: str, body: str, tenant: str = "acme", created_at: datetime = NOW
) -> IdempotencyRecord:
    return IdempotencyRecord(tenant, key, f"hash-{body}", 202, {"job_id": body}, created_at)


def test_the_first_idempotency_record_wins(service: ServiceStore) -> None:
    assert service.idempotency_get("acme", "k1") is None
    first = service.idempotency_put(record("k1", "one"))
    assert first == record("k1", "one")
    again = service.idempotency_put(record("k1", "two"))
    assert again == first
    assert service.idempotency_get("acme", "k1") == first


def test_idempotency_keys_are_per_tenant(service: ServiceStore) -> None:
    mine = service.idempotency_put(record("k1", "one", tenant="acme"))
    theirs = service.idempotency_put(record("k1", "two", tenant="beta"))
    assert mine.response == {"job_id": "one"} and theirs.response == {"job_id": "two"}
    assert service.idempotency_get("beta", "k1") == theirs


def test_racing_idempotent_inserts_store_one_record(service: ServiceStore) -> None:
    results: list[IdempotencyRecord] = []
    barrier = threading.Barrier(8)

    def put(n: int) -> None:
        barrier.wait()
        results.append(service.idempotency_put(record("race", f"body{n}")))

    threads = [threading.Thread(target=put, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 8
    assert len({(r.request_hash, str(r.response)) for r in results}) == 1
    assert service.idempotency_get("acme", "race") == results[0]


def test_old_idempotency_records_can_be_purged(service: ServiceStore) -> None:
    service.idempotency_put(record("old", "a", created_at=NOW - timedelta(days=2)))
    service.idempotency_put(record("new", "b", created_at=NOW))
    assert service.idempotency_purge(NOW - timedelta(days=1)) == 1
    assert service.idempotency_get("acme", "old") is None
    assert service.idempotency_get("acme", "new") is not None
