"""Bounds on idle and slow connections, so a slow client cannot hold the server's sockets.

Uvicorn closes a kept-alive connection that stays idle, but has no bound on a request whose
headers never finish: a client that connects and sends nothing, or trickles a header byte at a
time (slowloris), holds its connection forever. :func:`bounded_h11` returns uvicorn's h11
protocol with a deadline for each request's headers, from the connection's first byte or the
end of the previous response; a request whose headers are not complete by then is cut off.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

from .settings import DEFAULT_HEADER_TIMEOUT


class _BoundedH11(H11Protocol):
    header_timeout = DEFAULT_HEADER_TIMEOUT

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_deadline: asyncio.TimerHandle | None = None
        self._waiting_after: object = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def handle_events(self) -> None:
        super().handle_events()
        # A new request cycle means its headers arrived in time.
        if self._header_deadline is not None and self.cycle is not self._waiting_after:
            self._disarm()

    def on_response_complete(self) -> None:
        self._arm()  # before the parent handles a pipelined request (which disarms again)
        super().on_response_complete()

    def _arm(self) -> None:
        self._disarm()
        self._waiting_after = self.cycle
        self._header_deadline = self.loop.call_later(self.header_timeout, self._too_slow)

    def _disarm(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _too_slow(self) -> None:
        self._header_deadline = None
        if not self.transport.is_closing():
            self.transport.close()


def bounded_h11(header_timeout: float = DEFAULT_HEADER_TIMEOUT) -> type[H11Protocol]:
    """Uvicorn's h11 protocol, closing connections whose request headers take longer than
    ``header_timeout`` seconds."""
    return type("BoundedH11Protocol", (_BoundedH11,), {"header_timeout": header_timeout})
