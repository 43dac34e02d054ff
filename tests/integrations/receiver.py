"""A real HTTP receiver on 127.0.0.1 for outbound webhook tests: records every request and answers from a script
(e.g. two 503s, then 200s)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    url: str
    requests: list[Received] = field(default_factory=list)
    script: list[int] = field(default_factory=list)  # statuses to answer in turn; 200 once it runs out
    response_body: bytes = b"ok"
    # A slow receiver: "headers" sends its status line, then a header one byte at a time; "body" sends a 200 and its
    # headers, then the body one byte at a time. Each byte `trickle_interval` seconds after the last, each well
    # inside any read timeout, for at most `trickle_for` seconds.
    trickle: str | None = None
    trickle_interval: float = 0.1
    trickle_for: float = 20.0

    def next_status(self) -> int:
        return self.script.pop(0) if self.script else 200


def serve() -> Iterator[Receiver]:
    receiver = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the http.server naming
            length = int(self.headers.get("Content-Length", "0"))
            receiver.requests.append(Received(self.path, dict(self.headers.items()), self.rfile.read(length)))
            status = receiver.next_status()
            if receiver.trickle is not None:
                return self._trickle(status)
            try:
                self.send_response(status)
                self.send_header("Content-Length", str(len(receiver.response_body)))
                self.end_headers()
                self.wfile.write(receiver.response_body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the sender stopped reading (a body over its limit, a timeout): what the test is about

        def _trickle(self, status: int) -> None:
            self.close_connection = True
            ends = time.monotonic() + receiver.trickle_for
            try:
                if receiver.trickle == "headers":
                    self.wfile.write(f"HTTP/1.1 {status} OK\r\nX-Slow: ".encode())
                else:
                    self.send_response(status)
                    self.send_header("Content-Length", "1000000")
                    self.end_headers()
                self.wfile.flush()
                while time.monotonic() < ends:
                    time.sleep(receiver.trickle_interval)
                    self.wfile.write(b"a")
                    self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                pass  # the sender gave up on it

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/loyalty"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
