"""A deadline for a whole HTTP exchange with a merchant's endpoint, whatever the endpoint does.

httpx's timeouts bound each connect, read and write on its own, so a receiver that sends its answer a byte every few
seconds (each read well inside the read timeout) holds the sender for as long as it likes: hours for a 64 KiB
answer, and while it does, no other shop's webhook goes out from that worker. httpx has no overall timeout, so the
client for merchants' endpoints runs on httpcore's own sync network backend wrapped so that every connect, read and
write waits at most what is left of the running exchange's deadline, and fails with httpcore's timeout (httpx's
`ConnectTimeout`, `ReadTimeout`, `WriteTimeout` to the caller) once none is left.

The deadline is per exchange, not per connection (a kept-alive connection serves several), so it is set around each
exchange with `within(seconds)`, in a context variable, and read at every socket operation.
"""

from __future__ import annotations

import ssl
import time
import typing
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import httpcore
import httpx

_DEADLINE: ContextVar[tuple[float, float] | None] = ContextVar("loyalty_http_deadline", default=None)


@contextmanager
def within(seconds: float) -> Iterator[None]:
    """Every connect, read and write of the client's exchanges in this block ends `seconds` from now at the latest."""
    token = _DEADLINE.set((time.monotonic() + seconds, seconds))
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def _left(timeout: float | None, error: type[httpcore.TimeoutException]) -> float | None:
    """The operation's own timeout, cut to what is left of the deadline; `error` when nothing is left."""
    deadline = _DEADLINE.get()
    if deadline is None:
        return timeout
    ends, seconds = deadline
    left = ends - time.monotonic()
    if left <= 0:
        raise error(f"the exchange took longer than its {seconds:g} s deadline")
    return left if timeout is None else min(timeout, left)


class _Stream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self.inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        timeout = _left(timeout, httpcore.ReadTimeout)
        try:
            return self.inner.read(max_bytes, timeout)
        except httpcore.ReadTimeout:
            _left(None, httpcore.ReadTimeout)  # say it was the deadline, when it was
            raise

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.inner.write(buffer, _left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self.inner.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        return _Stream(self.inner.start_tls(ssl_context, server_hostname, _left(timeout, httpcore.ConnectTimeout)))

    def get_extra_info(self, info: str) -> typing.Any:
        return self.inner.get_extra_info(info)


class _Backend(httpcore.NetworkBackend):
    def __init__(self) -> None:
        self.inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        timeout = _left(timeout, httpcore.ConnectTimeout)
        return _Stream(self.inner.connect_tcp(host, port, timeout, local_address, socket_options))

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("merchants' endpoints are reached over TCP only")

    def sleep(self, seconds: float) -> None:
        self.inner.sleep(seconds)


class DeadlineTransport(httpx.HTTPTransport):
    """httpx's transport over a connection pool whose sockets keep the running exchange's deadline."""

    def __init__(self) -> None:
        super().__init__()
        # httpx offers no way to hand its pool a network backend: the pool it built, rebuilt with ours (no proxy:
        # the request goes to the address that was checked, app/integrations/targets.py).
        self._pool = httpcore.ConnectionPool(ssl_context=httpx.create_ssl_context(), network_backend=_Backend())
