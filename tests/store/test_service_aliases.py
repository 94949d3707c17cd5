"""0.2.0's service methods on the store still work, warn, and act on ``store.service()``."""

from __future__ import annotations

import pytest

from tmem.store.base import Store


def test_a_deprecated_store_method_warns_and_reaches_the_service(store: Store) -> None:
    with pytest.warns(DeprecationWarning, match=r"store\.service\(\)\.enqueue_job"):
        job_id = store.enqueue_job("add", {"messages": []}, "alice")  # type: ignore[attr-defined]
    job = store.service().get_job(job_id, "alice")
    assert job is not None and job.kind == "add"
    with pytest.warns(DeprecationWarning, match="api_keys"):
        assert store.api_keys() == store.service().api_keys()  # type: ignore[attr-defined]
