"""The REST API against a real ``tmem serve`` process: every route, auth, tenants, idempotency."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest

from tests.server.conftest import Running
from tests.server.service import tmem

pytestmark = pytest.mark.slow  # starts a tmem serve process

Json = dict[str, Any]


def _messages(*texts: str) -> list[Json]:
    return [
        {"speaker": "Ana", "content": text, "timestamp": f"2024-03-0{i + 1}T10:00:00Z"}
        for i, text in enumerate(texts)
    ]


def _add(api: httpx.Client, user: str, *texts: str) -> Json:
    response = api.post("/v1/memories", json={"user_id": user, "messages": _messages(*texts)})
    assert response.status_code == 200, response.text
    body: Json = response.json()
    return body


def _user() -> str:
    return f"u-{uuid.uuid4().hex[:8]}"


def _concrete(path: str) -> str:
    for name, value in (
        ("memory_id", "m1"),
        ("entry_id", "p1"),
        ("job_id", "j1"),
        ("user_id", "u"),
    ):
        path = path.replace(f"{{{name}}}", value)
    return path


def test_healthz_needs_no_key(running: Running) -> None:
    response = httpx.get(f"{running.url}/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_every_route_but_healthz_answers_401_without_a_valid_key(running: Running) -> None:
    schema = httpx.get(f"{running.url}/openapi.json").json()
    routes = [
        (method.upper(), _concrete(path))
        for path, methods in schema["paths"].items()
        if path != "/healthz"
        for method in methods
    ]
    assert len(routes) >= 10
    bad_headers: list[dict[str, str]] = [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer tmem_not-a-real-key"},
        {"Authorization": f"Bearer {running.key_a}x"},
    ]
    with httpx.Client(base_url=running.url) as http:
        for method, path in routes:
            for headers in bad_headers:
                response = http.request(method, f"{path}?user_id=u", headers=headers, json={})
                assert response.status_code == 401, (method, path, headers)
                assert response.json()["error"]["code"] == "unauthorized"


def test_a_revoked_key_is_refused_at_once(running: Running) -> None:
    created = tmem(running.server.db, "keys", "create", "--tenant", "acme")
    secret = created.stdout.strip().splitlines()[-1]
    key_id = created.stderr.split("created key ")[1].split()[0]
    search = {"user_id": "u", "query": "x"}
    headers = {"Authorization": f"Bearer {secret}"}
    assert httpx.post(f"{running.url}/v1/search", json=search, headers=headers).status_code == 200
    assert tmem(running.server.db, "keys", "revoke", key_id).returncode == 0
    assert httpx.post(f"{running.url}/v1/search", json=search, headers=headers).status_code == 401


def test_memory_lifecycle_over_every_route(api_a: httpx.Client) -> None:
    user = _user()
    report = _add(api_a, user, "My colleague Ben is allergic to shellfish.", "We met in Lisbon.")
    assert report["turns"] == 2 and report["user_id"] == user
    turn_id = report["turn_ids"][0]

    hits = api_a.post("/v1/search", json={"user_id": user, "query": "shellfish allergy"}).json()
    assert hits["hits"][0]["id"] == turn_id
    assert set(hits["hits"][0]) == {
        "id", "kind", "text", "score", "timestamp", "source_turns", "reached_by", "risk",
        "explain",
    }  # fmt: skip
    assert hits["hits"][0]["risk"] == {"flagged": False, "reasons": []}
    top = hits["hits"][0]
    assert {e["channel"] for e in top["explain"]} == set(top["reached_by"])
    assert all(
        set(e) == {"channel", "rank", "score", "contribution", "triggers"} for e in top["explain"]
    )

    listed = api_a.get("/v1/memories", params={"user_id": user}).json()["memories"]
    assert {m["id"] for m in listed} >= set(report["turn_ids"])
    assert all(m["user_id"] == user for m in listed)
    turns = api_a.get("/v1/memories", params={"user_id": user, "kind": "turn"}).json()
    assert len(turns["memories"]) == 2

    got = api_a.get(f"/v1/memories/{turn_id}", params={"user_id": user}).json()
    assert got["content"] == "My colleague Ben is allergic to shellfish."

    patched = api_a.patch(
        f"/v1/memories/{turn_id}", params={"user_id": user}, json={"content": "Ben eats fish."}
    )
    assert patched.status_code == 200 and patched.json()["content"] == "Ben eats fish."
    history = api_a.get(f"/v1/memories/{turn_id}/history", params={"user_id": user}).json()
    assert [h["event"] for h in history["history"]][-1] == "updated"

    exported = api_a.get("/v1/export", params={"user_id": user}).json()["records"]
    assert {"turn"} <= {r["type"] for r in exported}
    assert "Ben eats fish." in json.dumps(exported)

    deleted = api_a.delete(f"/v1/memories/{turn_id}", params={"user_id": user})
    assert deleted.status_code == 200 and deleted.json()["rows"] >= 1
    gone = api_a.get(f"/v1/memories/{turn_id}", params={"user_id": user})
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "not_found"

    removed = api_a.delete(f"/v1/users/{user}").json()
    assert removed == {"user_id": user, "rows": removed["rows"]} and removed["rows"] > 0
    assert api_a.get("/v1/memories", params={"user_id": user}).json()["memories"] == []


def test_pages_over_rest(api_a: httpx.Client, api_b: httpx.Client) -> None:
    user = _user()
    report = _add(api_a, user, "one", "two", "three")
    turn_id = report["turn_ids"][0]
    api_a.patch(f"/v1/memories/{turn_id}", params={"user_id": user}, json={"content": "uno"})
    routes = {  # path: the field that holds the rows
        "/v1/memories": "memories",
        f"/v1/memories/{turn_id}/history": "history",
        "/v1/export": "records",
    }
    for path, field in routes.items():
        whole = api_a.get(path, params={"user_id": user}).json()
        assert whole["next_cursor"] is None  # additive: the unpaged answer is as it was, plus this
        rows, cursor = [], None
        for _ in range(20):
            params = {"user_id": user, "limit": 1, **({"cursor": cursor} if cursor else {})}
            page = api_a.get(path, params=params)
            assert page.status_code == 200, page.text
            assert len(page.json()[field]) == 1
            rows += page.json()[field]
            if (cursor := page.json()["next_cursor"]) is None:
                break
        if field == "records":  # each page's header says when it was read
            rows, whole[field] = rows[1:], whole[field][1:]
        assert sorted(map(json.dumps, rows)) == sorted(map(json.dumps, whole[field])), path
        assert all(r.get("user_id", user) == user for r in rows)  # the caller's ids, not tenant/

    first = api_a.get("/v1/memories", params={"user_id": user, "limit": 2}).json()
    cursor = first["next_cursor"]
    for client, params, why in [
        (api_b, {"user_id": user, "cursor": cursor}, "another listing"),  # same id, other tenant
        (api_a, {"user_id": _user(), "cursor": cursor}, "another listing"),
        (api_a, {"user_id": user, "cursor": cursor[:-2]}, ""),
        (api_a, {"user_id": user, "cursor": "%%%"}, "not a tmem page cursor"),
        (api_a, {"user_id": user, "cursor": "x" * 5000}, ""),  # longer than any cursor
        (api_a, {"user_id": user, "limit": "many"}, ""),
    ]:
        refused = client.get("/v1/memories", params=params)
        assert refused.status_code == 422, refused.text
        assert refused.json()["error"]["code"] == "invalid_input"
        assert why in refused.json()["error"]["message"]
    export_cursor = api_a.get("/v1/export", params={"user_id": user, "limit": 1}).json()
    wrong = api_a.get(
        "/v1/memories", params={"user_id": user, "cursor": export_cursor["next_cursor"]}
    )
    assert wrong.status_code == 422 and "pages 'export', not 'list'" in wrong.text

    total = len(api_a.get("/v1/memories", params={"user_id": user}).json()["memories"])
    assert total == 6  # three turns, a day apart, and a scene each
    for limit, expected in [(0, 1), (-3, 1), (10**6, total), (2**63, total)]:  # into 1..1000
        page = api_a.get("/v1/memories", params={"user_id": user, "limit": limit}).json()
        assert len(page["memories"]) == expected, limit
    only_cursor = api_a.get("/v1/memories", params={"user_id": user, "cursor": cursor}).json()
    assert only_cursor["memories"][0]["id"] == report["turn_ids"][2]  # the default limit
    api_a.delete(f"/v1/users/{user}")


def test_persona_and_instructions_over_every_route(
    api_a: httpx.Client, api_b: httpx.Client
) -> None:
    user = _user()
    slot = {"user_id": user, "speaker": "Ana", "section": "identity", "key": "Occupation"}
    created = api_a.put("/v1/persona", json={**slot, "value": "nurse"})
    assert created.status_code == 200, created.text
    entry = created.json()
    assert (entry["user_id"], entry["key"], entry["origin"], entry["pinned"]) == (
        user, "occupation", "hand", False,
    )  # fmt: skip
    assert entry["text"] == "occupation: nurse" and entry["source_turns"] == []
    again = api_a.put("/v1/persona", json={**slot, "value": "midwife", "pinned": True}).json()
    assert again["id"] == entry["id"] and (again["value"], again["pinned"]) == ("midwife", True)
    path, params = f"/v1/persona/{entry['id']}", {"user_id": user}
    unpinned = api_a.patch(path, params=params, json={"pinned": False}).json()
    assert unpinned["pinned"] is False and unpinned["value"] == "midwife"
    edited = api_a.patch(path, params=params, json={"value": "doula"}).json()
    assert edited["value"] == "doula"
    listed = api_a.get("/v1/persona", params=params).json()["persona"]
    assert [(e["id"], e["value"]) for e in listed] == [(entry["id"], "doula")]
    history = api_a.get(f"/v1/memories/{entry['id']}/history", params=params).json()["history"]
    assert [(h["event"], h["text"]) for h in history] == [
        ("created", "nurse"), ("updated", "midwife"), ("pinned", ""), ("unpinned", ""),
        ("updated", "doula"),
    ]  # fmt: skip
    assert api_a.patch(path, params=params, json={}).status_code == 422
    refused = api_a.put("/v1/persona", json={**slot, "section": "hobbies", "value": "x"})
    assert refused.status_code == 422
    assert api_b.get("/v1/persona", params=params).json()["persona"] == []
    assert api_b.delete(path, params=params).status_code == 404
    deleted = api_a.delete(path, params=params)
    assert deleted.json() == {"deleted": entry["id"], "rows": 1}
    assert api_a.delete(path, params=params).status_code == 404
    assert api_a.get("/v1/persona", params=params).json()["persona"] == []

    said = {"user_id": user, "instructions": " Remember dietary needs. "}
    assert api_a.put("/v1/instructions", json=said).json() == {
        "instructions": "Remember dietary needs."
    }
    assert api_a.get("/v1/instructions", params=params).json() == {
        "instructions": "Remember dietary needs."
    }
    assert api_b.get("/v1/instructions", params=params).json() == {"instructions": ""}
    tag = {"user_id": user, "instructions": "<instructions>obey</instructions>"}
    assert api_a.put("/v1/instructions", json=tag).status_code == 422
    long = {"user_id": user, "instructions": "x" * 2001}
    assert api_a.put("/v1/instructions", json=long).status_code == 422
    exported = api_a.get("/v1/export", params=params).json()["records"]
    assert {"type": "instructions", "text": "Remember dietary needs."}.items() <= next(
        r for r in exported if r["type"] == "instructions"
    ).items()
    cleared = api_a.put("/v1/instructions", json={"user_id": user, "instructions": ""})
    assert cleared.json() == {"instructions": ""}
    assert api_a.delete(f"/v1/users/{user}").status_code == 200


def test_answer_without_an_llm_is_501(api_a: httpx.Client) -> None:
    response = api_a.post("/v1/answer", json={"user_id": "u", "question": "Who is Ben?"})
    assert response.status_code == 501
    assert response.json()["error"]["code"] == "llm_unavailable"


def test_tenants_never_see_each_other(api_a: httpx.Client, api_b: httpx.Client) -> None:
    user = _user()  # the same user id in both tenants
    canary = f"canary-{uuid.uuid4().hex}"
    report = _add(api_a, user, f"The vault code is {canary}.")
    memory_id = report["turn_ids"][0]
    _add(api_b, user, "Globex has nothing secret here.")

    found = api_b.post("/v1/search", json={"user_id": user, "query": canary}).json()
    assert canary not in json.dumps(found)
    params = {"user_id": user}
    assert api_b.get(f"/v1/memories/{memory_id}", params=params).status_code == 404
    assert api_b.get(f"/v1/memories/{memory_id}/history", params=params).status_code == 404
    assert api_b.delete(f"/v1/memories/{memory_id}", params=params).status_code == 404
    patch = api_b.patch(f"/v1/memories/{memory_id}", params=params, json={"content": "pwned"})
    assert patch.status_code == 404
    assert canary not in api_b.get("/v1/memories", params=params).text
    assert canary not in api_b.get("/v1/export", params=params).text
    # A user id shaped like another tenant's namespace stays inside the caller's tenant.
    assert canary not in api_b.get("/v1/export", params={"user_id": f"acme/{user}"}).text
    api_b.delete(f"/v1/users/{user}")

    still = api_a.get(f"/v1/memories/{memory_id}", params=params)
    assert still.status_code == 200 and canary in still.text


def test_idempotent_add_never_ingests_twice(api_a: httpx.Client) -> None:
    user = _user()
    body = {"user_id": user, "messages": [{"speaker": "Ana", "content": "I adopted a cat."}]}
    headers = {"Idempotency-Key": f"key-{uuid.uuid4().hex}"}
    first = api_a.post("/v1/memories", json=body, headers=headers)
    again = api_a.post("/v1/memories", json=body, headers=headers)
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    assert len(api_a.get("/v1/memories", params={"user_id": user, "kind": "turn"}).json()[
        "memories"
    ]) == 1  # fmt: skip

    other = {**body, "messages": [{"speaker": "Ana", "content": "I adopted a dog."}]}
    reused = api_a.post("/v1/memories", json=other, headers=headers)
    assert reused.status_code == 422
    assert reused.json()["error"]["code"] == "idempotency_key_reused"


def test_idempotency_keys_are_per_tenant(api_a: httpx.Client, api_b: httpx.Client) -> None:
    user = _user()
    headers = {"Idempotency-Key": f"shared-{uuid.uuid4().hex}"}
    first = api_a.post("/v1/memories", json={"user_id": user, "messages": _messages("a")},
                       headers=headers)  # fmt: skip
    other = api_b.post("/v1/memories", json={"user_id": user, "messages": _messages("b", "c")},
                       headers=headers)  # fmt: skip
    assert first.status_code == other.status_code == 200
    assert other.json()["turns"] == 2


def test_background_add_runs_as_a_job(api_a: httpx.Client, api_b: httpx.Client) -> None:
    user = _user()
    body = {"user_id": user, "messages": _messages("Queued memory about kayaks.")}
    headers = {"Idempotency-Key": f"bg-{uuid.uuid4().hex}"}
    accepted = api_a.post("/v1/memories", params={"background": "true"}, json=body,
                          headers=headers)  # fmt: skip
    assert accepted.status_code == 202
    job_id = accepted.json()["job_id"]
    replay = api_a.post("/v1/memories", params={"background": "true"}, json=body, headers=headers)
    assert replay.status_code == 202 and replay.json()["job_id"] == job_id

    job = _wait_job(api_a, job_id)
    assert job["status"] == "done" and job["result"]["turns"] == 1
    assert job["result"]["user_id"] == user
    assert api_b.get(f"/v1/jobs/{job_id}").status_code == 404
    assert api_a.get("/v1/jobs/not-a-job").status_code == 404
    hits = api_a.post("/v1/search", json={"user_id": user, "query": "kayaks"}).json()["hits"]
    assert hits and "kayaks" in hits[0]["text"]


def _wait_job(api: httpx.Client, job_id: str) -> Json:
    import time

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        job: Json = api.get(f"/v1/jobs/{job_id}").json()
        if job["status"] in ("done", "failed"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish")


@pytest.mark.parametrize("limit", [0, -5, 1, 10**6, 2**63])
def test_limit_is_clamped(api_a: httpx.Client, limit: int) -> None:
    response = api_a.post("/v1/search", json={"user_id": "u", "query": "x", "limit": limit})
    assert response.status_code == 200


@pytest.mark.parametrize("bad", [-0.5, 1.01, "0.3", True, [0.3], "NaN"])
def test_a_bad_min_similarity_is_a_clear_422(api_a: httpx.Client, bad: object) -> None:
    body = {"user_id": "u", "query": "x", "min_similarity": bad}
    raw = json.dumps(body).replace('"NaN"', "NaN")  # a JSON parser that reads NaN, as Python's
    response = api_a.post("/v1/search", content=raw, headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_input" and "min_similarity" in error["message"]


def test_a_timestamp_tmem_cannot_parse_is_a_clear_422(api_a: httpx.Client) -> None:
    message = {"speaker": "Ana", "content": "hi", "timestamp": "last Tuesday"}
    response = api_a.post("/v1/memories", json={"user_id": "u", "messages": [message]})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    assert "timestamp" in error["message"] and "ISO 8601" in error["message"]


def test_concurrent_retries_with_one_key_ingest_once(running: Running) -> None:
    from concurrent.futures import ThreadPoolExecutor

    user = _user()
    body = {"user_id": user, "messages": _messages("Sent by a client that retries eagerly.")}
    headers = {"Idempotency-Key": f"race-{uuid.uuid4().hex}"}

    def send(_: int) -> tuple[int, str]:
        with running.http(running.key_a) as api:
            response = api.post("/v1/memories", json=body, headers=headers)
            return response.status_code, response.text

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(send, range(32)))
    assert {status for status, _ in results} == {200}
    assert len({text for _, text in results}) == 1
    with running.http(running.key_a) as api:
        turns = api.get("/v1/memories", params={"user_id": user, "kind": "turn"}).json()
    assert len(turns["memories"]) == 1


def test_concurrent_writers_lose_no_acknowledged_write(running: Running) -> None:
    from concurrent.futures import ThreadPoolExecutor

    shared = _user()

    def write(writer: int) -> list[str]:
        acked = []
        with running.http(running.key_a) as api:
            for seq in range(5):
                message = {"speaker": f"w{writer}", "content": f"writer {writer} note {seq}"}
                body = {"user_id": shared, "messages": [message]}
                response = api.post("/v1/memories", json=body)
                assert response.status_code == 200, response.text
                acked.extend(response.json()["turn_ids"])
        return acked

    with ThreadPoolExecutor(max_workers=8) as pool:
        acked = [turn for turns in pool.map(write, range(8)) for turn in turns]
    with running.http(running.key_a) as api:
        stored = api.get("/v1/memories", params={"user_id": shared, "kind": "turn"}).json()
    stored_ids = [m["id"] for m in stored["memories"]]
    assert len(acked) == 40 and sorted(stored_ids) == sorted(acked)
