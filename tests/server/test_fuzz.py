"""Property: no request body, however malformed, makes the app answer 5xx (reliability S6).

In-process (Starlette's TestClient) so Hypothesis can send hundreds of requests quickly; the
real-server battery lives in ``test_hostile.py``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tmem.config import Config, EmbedderConfig
from tmem.server.app import create_app
from tmem.server.settings import ServiceSettings
from tmem.store.api_keys import new_api_key
from tmem.store.sqlite import SQLiteStore

# Lone surrogates included: json.dumps escapes them (\ud800), as a hostile client would.
odd = st.sampled_from(["\ud800", "\udfff", "\x00", "\u202e", "\ufeff", "\x7f", "/", "%"])
any_text = st.text(st.characters(exclude_categories=()) | odd, max_size=40)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | any_text,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
FIELDS = [
    "user_id", "messages", "session_id", "query", "limit", "min_similarity", "question", "content",
]  # fmt: skip
message = st.fixed_dictionaries(
    {"speaker": any_text, "content": any_text},
    optional={"timestamp": st.text(max_size=30), "id": json_values, "role": json_values},
)
bodies = st.dictionaries(
    st.sampled_from(FIELDS) | st.text(max_size=8),
    json_values | st.lists(message, max_size=3) | st.text(max_size=40),
    max_size=5,
)
ROUTES = [
    ("POST", "/v1/memories"),
    ("POST", "/v1/search"),
    ("POST", "/v1/answer"),
    ("PATCH", "/v1/memories/m1?user_id=u"),
    ("POST", "/v1/memories?background=true"),
]


@pytest.fixture(scope="module")
def http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    db = tmp_path_factory.mktemp("fuzz") / "fuzz.db"
    secret, key = new_api_key("acme", datetime.now(UTC))
    store = SQLiteStore(db)
    store.service().add_api_key(key)
    store.close()
    config = Config(embedder=EmbedderConfig(kind="hash"))
    settings_ = ServiceSettings(rate_per_second=1e6, rate_burst=10**6, workers=0)
    app = create_app(str(db), config, settings_)
    headers = {"Authorization": f"Bearer {secret}"}
    with TestClient(app, headers=headers, raise_server_exceptions=False) as client:
        yield client


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(route=st.sampled_from(ROUTES), body=bodies | json_values)
def test_no_body_makes_a_5xx(http: TestClient, route: tuple[str, str], body: Any) -> None:
    method, path = route
    # json.dumps writes NaN and Infinity, which Python's parser (the server's) accepts too.
    raw = json.dumps(body).encode()
    response = http.request(method, path, content=raw, headers={"Content-Type": "application/json"})
    assert response.status_code < 500, (response.status_code, response.text[:300])
    if response.status_code >= 400:
        assert set(response.json()["error"]) == {"code", "message"}


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(user=st.text(max_size=300), memory_id=st.text(min_size=1, max_size=300))
def test_no_id_or_user_makes_a_5xx(http: TestClient, user: str, memory_id: str) -> None:
    from urllib.parse import quote

    path = f"/v1/memories/{quote(memory_id, safe='')}"
    for method in ("GET", "DELETE"):
        response = http.request(method, path, params={"user_id": user})
        assert response.status_code < 500, (response.status_code, response.text[:300])
    job = http.get(f"/v1/jobs/{quote(memory_id, safe='')}")
    assert job.status_code < 500
