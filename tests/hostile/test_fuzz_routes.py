"""Property: no route answers 5xx, whatever its body, ids, query and headers (reliability S6).

Routes come from the application itself, so a new route is fuzzed without editing this file.
In-process (Starlette's TestClient over a real SQLite file) so Hypothesis can send many
requests; the example count grows with ``TMEM_HOSTILE_SCALE``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.hostile.conftest import SCALE
from tests.hostile.figures import record
from tmem.config import Config, EmbedderConfig
from tmem.server.app import create_app
from tmem.server.settings import ServiceSettings
from tmem.store.api_keys import new_api_key
from tmem.store.sqlite import SQLiteStore

odd = st.sampled_from(
    [
        "\ud800",
        "\x00",
        "\u202e",
        "\u200b",
        "\ufeff",
        "/",
        "..",
        ".",
        "%2e",
        "%00",
        "%FF",
        "\\",
        "ana",
        "u" * 201,
        "'; DROP TABLE turns; --",
    ]
)
text = st.text(max_size=30) | odd
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=10,
)
message = st.fixed_dictionaries(
    {"speaker": text, "content": text},
    optional={"timestamp": text, "id": json_values, "role": json_values},
)
FIELDS = [
    *(
        "user_id",
        "messages",
        "session_id",
        "query",
        "limit",
        "min_similarity",
        "question",
        "content",
        "derive",
    ),
    *("speaker", "section", "key", "value", "pinned", "instructions"),
]
bodies = st.dictionaries(
    st.sampled_from(FIELDS) | text, json_values | st.lists(message, max_size=3), max_size=6
)
header_bytes = st.binary(max_size=60).filter(lambda b: b"\r" not in b and b"\n" not in b)
headers = st.dictionaries(
    st.sampled_from(
        [
            "Authorization",
            "Idempotency-Key",
            "Content-Type",
            "X-Forwarded-For",
            "Accept",
            "Content-Encoding",
        ]
    ),
    header_bytes,
    max_size=3,
)
_counts = {"requests": 0, "server_errors": 0}


@pytest.fixture(scope="module")
def app_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, str]]:
    db = tmp_path_factory.mktemp("fuzz-routes") / "fuzz.db"
    secret, key = new_api_key("acme", datetime.now(UTC))
    store = SQLiteStore(db)
    store.service().add_api_key(key)
    store.close()
    config = Config(embedder=EmbedderConfig(kind="hash"))
    service = ServiceSettings(
        rate_per_second=1e6, rate_burst=10**6, workers=0, auth_failure_burst=10**6
    )
    with TestClient(create_app(str(db), config, service), raise_server_exceptions=False) as http:
        yield http, secret
    record("fuzz_routes", _counts)


def _routes(http: TestClient) -> list[tuple[str, str]]:
    """Every (method, path) of the application's OpenAPI schema."""
    paths = http.app.openapi()["paths"]  # type: ignore[attr-defined]
    return [(method.upper(), path) for path, item in paths.items() for method in sorted(item)]


def _encode(value: str) -> str:
    # surrogatepass: a lone surrogate goes out as the invalid UTF-8 a hostile client would send
    return quote(value.encode("utf-8", "surrogatepass"), safe="")


def _fill(path: str, ids: list[str]) -> str:
    values = iter(ids)
    return re.sub(r"\{[^}]+\}", lambda _: _encode(next(values, "x")), path)


def _assert_no_5xx(response: Any) -> None:
    _counts["requests"] += 1
    if response.status_code >= 500:
        _counts["server_errors"] += 1
    assert response.status_code < 500, (response.status_code, response.text[:300])
    if response.status_code >= 400:
        assert set(response.json()["error"]) == {"code", "message"}


@settings(
    max_examples=150 * SCALE,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    data=st.data(), body=bodies | json_values, ids=st.lists(text, min_size=1, max_size=2), user=text
)
def test_no_route_answers_5xx(
    app_client: tuple[TestClient, str], data: st.DataObject, body: Any, ids: list[str], user: str
) -> None:
    http, secret = app_client
    routes = _routes(http)
    assert len(routes) >= 12  # the schema lists the routes
    method, path = data.draw(st.sampled_from(routes))
    target = _fill(path, ids)
    raw = json.dumps(body).encode()
    sent = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}
    response = http.request(method, f"{target}?user_id={_encode(user)}", content=raw, headers=sent)
    _assert_no_5xx(response)


@settings(
    max_examples=100 * SCALE,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data(), hostile=headers)
def test_no_header_makes_a_5xx(
    app_client: tuple[TestClient, str], data: st.DataObject, hostile: dict[str, bytes]
) -> None:
    http, secret = app_client
    method, path = data.draw(st.sampled_from(_routes(http)))
    sent: dict[str, Any] = {"Authorization": f"Bearer {secret}", **hostile}
    body = {"user_id": "ana", "messages": [{"speaker": "A", "content": "hi"}], "query": "hi"}
    response = http.request(
        method,
        _fill(path, ["m1"]),
        params={"user_id": "ana"},
        content=json.dumps(body).encode(),
        headers=sent,
    )
    _assert_no_5xx(response)
