"""Hostile input (reliability.md S6) against the real server: always a 4xx JSON error, never 5xx."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.server.conftest import Running

pytestmark = pytest.mark.slow  # starts a tmem serve process

MAX_BODY = 4 * 1024 * 1024
_MSG = {"speaker": "Ana", "content": "hello"}


def _add(**overrides: Any) -> bytes:
    return json.dumps({"user_id": "u", "messages": [_MSG], **overrides}).encode()


# (name, method, path, raw JSON body or None, extra headers)
RAW_BODIES: list[tuple[str, str, str, bytes]] = [
    ("nul in content", "POST", "/v1/memories",
     b'{"user_id": "u", "messages": [{"speaker": "A", "content": "a\\u0000b"}]}'),
    ("nul in user_id", "POST", "/v1/search", b'{"user_id": "u\\u0000", "query": "x"}'),
    ("nul in query", "POST", "/v1/search", b'{"user_id": "u", "query": "x\\u0000y"}'),
    ("lone surrogate in content", "POST", "/v1/memories",
     b'{"user_id": "u", "messages": [{"speaker": "A", "content": "a\\ud800"}]}'),
    ("lone surrogate in user_id", "POST", "/v1/search", b'{"user_id": "\\udfff", "query": "x"}'),
    ("lone surrogate in a field name", "POST", "/v1/search",
     b'{"user_id": "u", "query": "x", "\\ud800": 1}'),
    ("lone surrogate in a timestamp", "POST", "/v1/memories",
     b'{"user_id": "u", "messages": [{"speaker": "A", "content": "a", "timestamp": "\\ud800"}]}'),
    ("invalid utf-8", "POST", "/v1/search", b'{"user_id": "\xff\xfe", "query": "x"}'),
    ("not json", "POST", "/v1/search", b"user_id=u&query=x"),
    ("empty body", "POST", "/v1/search", b""),
    ("json 10k deep", "POST", "/v1/search", b"[" * 10_000 + b"]" * 10_000),
    ("json 100k deep unclosed", "POST", "/v1/memories", b'{"messages": ' + b"[" * 100_000),
    ("deep inside a field", "POST", "/v1/memories",
     b'{"user_id": "u", "messages": ' + b"[" * 5000 + b"]" * 5000 + b"}"),
    ("messages is a string", "POST", "/v1/memories", _add(messages="hello")),
    ("message is a list", "POST", "/v1/memories", _add(messages=[["Ana", "hi"]])),
    ("content is a number", "POST", "/v1/memories",
     _add(messages=[{"speaker": "Ana", "content": 5}])),
    ("user_id is a number", "POST", "/v1/search", b'{"user_id": 7, "query": "x"}'),
    ("limit is a string", "POST", "/v1/search", b'{"user_id": "u", "query": "x", "limit": "5"}'),
    ("limit is a float", "POST", "/v1/search", b'{"user_id": "u", "query": "x", "limit": 5.5}'),
    ("limit is true", "POST", "/v1/search", b'{"user_id": "u", "query": "x", "limit": true}'),
    ("limit is NaN", "POST", "/v1/search", b'{"user_id": "u", "query": "x", "limit": NaN}'),
    ("limit is 1e400", "POST", "/v1/search", b'{"user_id": "u", "query": "x", "limit": 1e400}'),
    ("unknown top-level field", "POST", "/v1/memories", _add(tenant="globex")),
    ("unknown message field", "POST", "/v1/memories",
     _add(messages=[{**_MSG, "metadata": {"a": 1}}])),
    ("no messages", "POST", "/v1/memories", _add(messages=[])),
    ("too many messages", "POST", "/v1/memories", _add(messages=[_MSG] * 1001)),
    ("content over 100k chars", "POST", "/v1/memories",
     _add(messages=[{"speaker": "Ana", "content": "x" * 1_000_000}])),
    ("blank content", "POST", "/v1/memories", _add(messages=[{"speaker": "A", "content": " "}])),
    ("no speaker", "POST", "/v1/memories", _add(messages=[{"content": "hi"}])),
    ("blank user_id", "POST", "/v1/search", b'{"user_id": "   ", "query": "x"}'),
    ("user_id with a newline", "POST", "/v1/search", b'{"user_id": "a\\nb", "query": "x"}'),
    ("user_id too long", "POST", "/v1/search", json.dumps({"user_id": "u" * 5000, "query": "x"})
     .encode()),
    ("query too long", "POST", "/v1/search", json.dumps({"user_id": "u", "query": "q" * 20_000})
     .encode()),
    ("body is a list", "POST", "/v1/search", b'[{"user_id": "u", "query": "x"}]'),
    ("body is null", "POST", "/v1/answer", b"null"),
    ("patch with no content", "PATCH", "/v1/memories/m1?user_id=u", b"{}"),
    ("patch content is null", "PATCH", "/v1/memories/m1?user_id=u", b'{"content": null}'),
]  # fmt: skip

URL_CASES: list[tuple[str, str, str]] = [
    ("nul in a path id", "GET", "/v1/memories/a%00b?user_id=u"),
    ("10k-char path id", "GET", "/v1/memories/" + "m" * 10_000 + "?user_id=u"),
    ("encoded surrogate in a path id", "GET", "/v1/memories/%ED%A0%80?user_id=u"),
    ("nul in user_id query", "GET", "/v1/memories?user_id=a%00b"),
    ("missing user_id", "GET", "/v1/memories"),
    ("unknown kind", "GET", "/v1/memories?user_id=u&kind=persona"),
    ("background=maybe", "POST", "/v1/memories?background=maybe"),
    ("wrong method", "PUT", "/v1/search"),
    ("forged job id", "GET", "/v1/jobs/abc.%2F%2F%2F"),
    ("job id with nul", "GET", "/v1/jobs/abc.AA"),
    ("job id of garbage base64", "GET", "/v1/jobs/abc.!!!!"),
]


@pytest.fixture(scope="module")
def http(running: Running) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {running.key_a}", "Content-Type": "application/json"}
    with httpx.Client(base_url=running.url, headers=headers, timeout=30.0) as client:
        yield client


def _assert_clean_4xx(response: httpx.Response) -> None:
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:300])
    error = response.json()["error"]
    assert error["code"] and len(error["message"]) <= 500


@pytest.mark.parametrize(
    ("name", "method", "path", "body"), RAW_BODIES, ids=[c[0] for c in RAW_BODIES]
)
def test_hostile_body_gets_a_4xx_json_error(
    http: httpx.Client, name: str, method: str, path: str, body: bytes
) -> None:
    _assert_clean_4xx(http.request(method, path, content=body))


@pytest.mark.parametrize(("name", "method", "path"), URL_CASES, ids=[c[0] for c in URL_CASES])
def test_hostile_url_gets_a_4xx_json_error(
    http: httpx.Client, name: str, method: str, path: str
) -> None:
    _assert_clean_4xx(http.request(method, path, content=_add()))


def test_oversized_body_is_413_by_its_declared_length(http: httpx.Client) -> None:
    response = http.post("/v1/memories", content=b"x" * (10 * 1024 * 1024))
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


def test_oversized_streamed_body_is_413(http: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(MAX_BODY // 65536 + 2):
            yield b" " * 65536

    response = http.post("/v1/memories", content=chunks())
    assert response.status_code == 413


def test_bad_idempotency_keys_are_422(http: httpx.Client) -> None:
    for key in ("k" * 201, "caf\u00e9".encode(), b"a\tb"):
        response = http.post("/v1/memories", content=_add(), headers={"Idempotency-Key": key})
        _assert_clean_4xx(response)


def test_invalid_utf8_in_a_query_string_is_400_not_a_replacement_user(
    http: httpx.Client,
) -> None:
    # Starlette would decode it with U+FFFD replacement: a valid user named "\ufffd\ufffd".
    response = http.get("/v1/memories?user_id=%FF%FE")
    assert response.status_code == 400, response.text
    assert "UTF-8" in response.json()["error"]["message"]


def test_duplicate_json_keys_never_500(http: httpx.Client) -> None:
    body = b'{"user_id": "u", "query": "x", "query": "y", "user_id": "dup"}'
    assert http.post("/v1/search", content=body).status_code == 200


def test_unusual_text_round_trips_byte_exact(http: httpx.Client) -> None:
    text = 'RTL \u202eevil\u202c zero\u200bwidth e\u0301 \U0001f600 \u00a0nbsp \\ "q" </tag>'
    message = {"speaker": "Ana", "content": text}
    report = http.post("/v1/memories", json={"user_id": "rt", "messages": [message]}).json()
    got = http.get(f"/v1/memories/{report['turn_ids'][0]}", params={"user_id": "rt"}).json()
    assert got["content"] == text


def test_the_server_logged_no_internal_error(running: Running) -> None:
    # Runs last in this module: every hostile request above was refused without a 500.
    assert running.server.log is not None
    log = running.server.log.read_text(errors="replace")
    assert "failed unexpectedly" not in log and "Traceback" not in log
