"""``tmem.Client`` and ``tmem.AsyncClient``: the REST service from Python, with the same
methods as :class:`tmem.Memory`.

Results come back as the same frozen dataclasses (:class:`~tmem.models.Hit`,
:class:`~tmem.models.IngestReport`, ...), rebuilt from the service's JSON, and errors as the same
exceptions (:class:`~tmem.errors.NotFoundError`, :class:`~tmem.errors.InputError`, ...), so code
written against a local ``Memory`` runs against a server by swapping the object::

    client = tmem.Client("http://127.0.0.1:8000", api_key="tmk_...")
    client.add([{"speaker": "Ana", "content": "Ben is allergic to shellfish."}], user_id="ana")
    hits = client.search("dinner venue?", user_id="ana")

The package is split so the two clients share everything but the wait for the network:
``calls`` describes each request and reads its answer, ``decode`` rebuilds the dataclasses,
``errors`` maps error responses; ``sync_client`` and ``async_client`` only send.
"""

from tmem.client.async_client import AsyncClient
from tmem.client.calls import DEFAULT_TIMEOUT
from tmem.client.decode import (
    JobInfo,
    answer_from,
    evidence_from,
    history_from,
    hit_from,
    job_from,
    page_from,
    record_from,
    report_from,
    risk_from,
    usage_from,
)
from tmem.client.errors import ServiceError, error_from
from tmem.client.sync_client import Client

__all__ = [
    "DEFAULT_TIMEOUT",
    "AsyncClient",
    "Client",
    "JobInfo",
    "ServiceError",
    "answer_from",
    "error_from",
    "evidence_from",
    "history_from",
    "hit_from",
    "job_from",
    "page_from",
    "record_from",
    "report_from",
    "risk_from",
    "usage_from",
]
