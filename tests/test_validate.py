"""tmem.validate: the one home of input limits and checks, and its compatible old names."""

from __future__ import annotations

import pytest

from tmem import ids, validate
from tmem.errors import InputError
from tmem.ingest import normalize
from tmem.server import idempotency, schemas


def test_the_limits_are_named_once() -> None:
    assert validate.MAX_ID_CHARS == validate.MAX_USER_ID_CHARS == 200
    assert validate.MAX_SPEAKER_CHARS == validate.MAX_IDEMPOTENCY_KEY_CHARS == 200
    assert validate.MAX_STORE_USER_CHARS == 200 + 1 + validate.MAX_TENANT_CHARS
    assert validate.MAX_LIMIT == 1000


def test_old_names_are_the_same_objects() -> None:
    assert ids.check_id is validate.check_id
    assert ids.check_lookup_id is validate.check_lookup_id
    assert ids.id_problem is validate.id_problem
    assert ids.MAX_ID_CHARS == validate.MAX_ID_CHARS
    assert normalize.check_user_id is validate.check_user_id
    assert normalize.parse_timestamp is validate.parse_timestamp
    assert normalize.MAX_STORE_USER_CHARS == validate.MAX_STORE_USER_CHARS
    assert schemas.clamp_limit is validate.clamp_limit
    assert schemas.MAX_LIMIT == validate.MAX_LIMIT
    assert idempotency.MAX_KEY_CHARS == validate.MAX_IDEMPOTENCY_KEY_CHARS


@pytest.mark.parametrize("limit", [1, 10, validate.MAX_LIMIT])
def test_check_limit_accepts_1_to_max(limit: int) -> None:
    assert validate.check_limit(limit) == limit


@pytest.mark.parametrize("limit", [0, -1, validate.MAX_LIMIT + 1, 2.5, "10", None])
def test_check_limit_refuses_the_rest(limit: object) -> None:
    with pytest.raises(InputError, match="limit must be an integer between 1 and 1000"):
        validate.check_limit(limit)


def test_clamp_limit() -> None:
    assert [validate.clamp_limit(n) for n in (-5, 0, 1, 50, 10_000)] == [1, 1, 1, 50, 1000]
