"""Per-request bookkeeping for the web process: a request id (kept from X-Request-Id or made), bound to the logs
and echoed in the response, and the request counted and timed by its URL rule."""

from __future__ import annotations

import re
import time
import uuid
from typing import TYPE_CHECKING

from flask import g, request

from app.monitoring.logs import bind, clear
from app.monitoring.metrics import record_http_request

if TYPE_CHECKING:
    from flask import Flask, Response

# A caller's id is kept only when it looks like one (a proxy's or Shopify's), so logs never carry arbitrary input.
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def install_request_tracking(app: Flask) -> None:
    @app.before_request
    def start() -> None:
        offered = request.headers.get("X-Request-Id", "")
        g.request_id = offered if _REQUEST_ID.match(offered) else uuid.uuid4().hex
        g.request_started = time.perf_counter()
        bind(request_id=g.request_id)

    @app.after_request
    def finish(response: Response) -> Response:
        response.headers["X-Request-Id"] = g.get("request_id", "")
        started = g.get("request_started")
        if started is not None:
            endpoint = request.url_rule.rule if request.url_rule is not None else "unmatched"
            record_http_request(endpoint, request.method, response.status_code, time.perf_counter() - started)
        return response

    @app.teardown_request
    def forget(_exc: BaseException | None) -> None:
        clear()  # gthread workers reuse threads: the next request must not inherit this one's id
