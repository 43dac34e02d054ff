"""A Redis proxy that holds traffic back at a chosen moment, so a test can act while a command or its reply is still
on its way.

`stall="request"`: the first XADD never reaches Redis (a relay killed between the inbox row and its XADD).
`stall="reply"`: the XADD reaches Redis but its answer never comes back (a relay killed between XADD and the commit
that marks the row streamed). Everything before passes through untouched.
`reply_delay_s`: every reply reaches the client that much later (a reply still in flight when its sender gives up).
"""

from __future__ import annotations

import socket
import threading
import time
from urllib.parse import urlparse


class StallingRedisProxy:
    def __init__(self, redis_url: str, *, stall: str | None = None, reply_delay_s: float = 0.0) -> None:
        assert stall in (None, "request", "reply")
        self.upstream = urlparse(redis_url)
        self.stall = stall
        self.reply_delay_s = reply_delay_s
        self.stalled = threading.Event()  # set once an XADD has been held back (or its answer)
        self._xadd_sent = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"redis://127.0.0.1:{self._listener.getsockname()[1]}/{self._database()}"
        self._sockets: list[socket.socket] = [self._listener]
        threading.Thread(target=self._accept, daemon=True).start()

    def __enter__(self) -> StallingRedisProxy:
        return self

    def __exit__(self, *_exc: object) -> None:
        for sock in self._sockets:
            sock.close()

    def _database(self) -> str:
        return "0" if self.upstream.scheme == "unix" else (self.upstream.path.lstrip("/") or "0")

    def _connect_upstream(self) -> socket.socket:
        if self.upstream.scheme == "unix":
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect(self.upstream.path)
            return sock
        return socket.create_connection((self.upstream.hostname or "127.0.0.1", self.upstream.port or 6379))

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = self._connect_upstream()
            self._sockets += [client, server]
            threading.Thread(target=self._requests, args=(client, server), daemon=True).start()
            threading.Thread(target=self._replies, args=(server, client), daemon=True).start()

    def _requests(self, client: socket.socket, server: socket.socket) -> None:
        while chunk := _receive(client):
            if self.stall is not None and b"XADD" in chunk.upper():
                if self.stall == "request":
                    self.stalled.set()
                    return
                self._xadd_sent.set()
            server.sendall(chunk)

    def _replies(self, server: socket.socket, client: socket.socket) -> None:
        while chunk := _receive(server):
            if self._xadd_sent.is_set():
                self.stalled.set()
                return
            time.sleep(self.reply_delay_s)
            client.sendall(chunk)


def _receive(sock: socket.socket) -> bytes:
    try:
        return sock.recv(65536)
    except OSError:
        return b""
