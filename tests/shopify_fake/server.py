"""The fake Shopify's HTTP server: routing, the shop from the Host header, access tokens, faults and the recorder.

Requests meant for https://<shop>.myshopify.com arrive at this origin with the shop in the Host header, as the app
sends them when SHOPIFY_ADMIN_ORIGIN is set. Routes:
  POST /admin/oauth/access_token                      token endpoint (oauth.py)
  POST /admin/api/<version>/graphql.json              Admin GraphQL (admin_graphql.py), X-Shopify-Access-Token
  GET  /admin/charges/<app>/<id>/RecurringApplicationCharge/confirm_recurring_application_charge
                                                      the merchant approves a subscription; 302 to its returnUrl
  GET  /bulk-operations/<id>.jsonl                    a finished bulk operation's result (any Host, like a file URL)
"""

from __future__ import annotations

import dataclasses
import json
import re
import socket
import threading
import uuid
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.shopify_fake import billing
from tests.shopify_fake.admin_graphql import AdminGraphQL, BadRequest, GraphQLRequest, parse_request
from tests.shopify_fake.bucket import LeakyBucket
from tests.shopify_fake.faults import OAUTH, Fault, Faults
from tests.shopify_fake.oauth import answer_token_request
from tests.shopify_fake.recorder import ReceivedRequest, Recorder
from tests.shopify_fake.signing import ShopifySigner
from tests.shopify_fake.state import ApiContext, AppConfig, State

SHOP_DOMAIN = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9-]*\.myshopify\.com$")
GRAPHQL_PATH = re.compile(r"^/admin/api/([0-9]{4}-(?:01|04|07|10)|unstable)/graphql\.json$")
CONFIRM_PATH = re.compile(
    r"^/admin/charges/[0-9]+/([0-9]+)/RecurringApplicationCharge/confirm_recurring_application_charge$"
)
BULK_FILE_PATH = re.compile(r"^/bulk-operations/([0-9]+)\.jsonl$")
UNAUTHORIZED = "[API] Invalid API key or access token (unrecognized login or wrong password)"


def internal_error_body() -> dict[str, Any]:
    """Shopify's INTERNAL_SERVER_ERROR answer (HTTP 200), as its status and error codes page shows it."""
    request_id = str(uuid.uuid4())
    message = (
        "Internal error. Looks like something went wrong on our end.\n"
        f"Request ID: {request_id} (include this in support requests)."
    )
    return {"errors": [{"message": message, "extensions": {"code": "INTERNAL_SERVER_ERROR", "requestId": request_id}}]}


class FakeShopify:
    """One fake Shopify for one app: `state`, `faults` and `recorder` are what tests drive and inspect."""

    def __init__(self, config: AppConfig) -> None:
        self._initial_config = config
        self.config = dataclasses.replace(config)
        self.state = State(config)
        self.faults = Faults()
        self.recorder = Recorder()
        self.admin = AdminGraphQL(self.faults)
        self.signer = ShopifySigner(config.api_key, config.api_secret)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def origin(self) -> str:
        assert self._server is not None, "the fake is not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serves on a thread (port 0: a free port); answers the origin."""
        fake = self

        class Handler(RequestHandler):
            shopify = fake

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="shopify-fake", daemon=True)
        self._thread.start()
        return self.origin

    def stop(self) -> None:
        self.faults.clear()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def reset(self) -> None:
        """Forgets every token, shop, fault and recorded request, and returns to the configuration it started with."""
        self.faults.clear()
        self.recorder.clear()
        self.config = dataclasses.replace(self._initial_config)
        self.state = State(self.config)

    def configure_bucket(self, maximum: float, restore_rate: float) -> None:
        """Sets the bucket size and restore rate for shops from now on (and resets existing shops' buckets)."""
        self.config.bucket_size, self.config.restore_rate = maximum, restore_rate
        with self.state.lock:
            for shop in list(self.state.shops):
                self.state.shops[shop].bucket = LeakyBucket(maximum, restore_rate)

    def approve_subscription(self, shop: str, subscription_id: str) -> str:
        """The merchant approves the charge; answers the returnUrl Shopify redirects to (with charge_id)."""
        return billing.approve_subscription(self.state, shop, subscription_id)

    def decline_subscription(self, shop: str, subscription_id: str) -> None:
        billing.decline_subscription(self.state, shop, subscription_id)


class RequestHandler(BaseHTTPRequestHandler):
    shopify: FakeShopify
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; without TCP_NODELAY a kept-alive connection waits ~40 ms for the
    # client's delayed ACK between them.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the recorder keeps what arrived."""

    # --- plumbing --------------------------------------------------------------------------------------------------

    def _shop(self) -> str | None:
        host = (self.headers.get("Host") or "").rsplit(":", 1)[0].lower()
        return host if SHOP_DOMAIN.match(host) else None

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        payload = json.dumps(body).encode() if not isinstance(body, bytes) else body
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def _send_fault(self, fault: Fault) -> None:
        headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
        reason = HTTPStatus(fault.status).phrase
        self._send(fault.status, {"errors": reason}, headers)

    def _send_failure(self, fault: Fault, version: str) -> None:
        """An HTTP 200 that is not the request's answer: INTERNAL_SERVER_ERROR, or a body that is not GraphQL's."""
        body = fault.body if fault.kind == "malformed" else internal_error_body()
        self._send(200, body, {"X-Shopify-API-Version": version})

    def _drop(self, fault: Fault) -> None:
        """Answers nothing: stalls first in "stall" mode, then closes the connection."""
        if fault.mode == "stall":
            self.shopify.faults.release.wait(fault.stall_seconds)
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _record(self, body: bytes, shop: str | None, graphql: GraphQLRequest | None = None) -> None:
        url = urlsplit(self.path)
        self.shopify.recorder.record(
            ReceivedRequest(
                method=self.command,
                path=url.path,
                query=url.query,
                headers=dict(self.headers.items()),
                body=body,
                shop=shop,
                operation_name=graphql.operation_name if graphql else None,
                root_fields=graphql.root_fields if graphql else (),
                variables=graphql.variables if graphql else {},
            )
        )

    # --- routes ----------------------------------------------------------------------------------------------------

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        path = urlsplit(self.path).path
        shop = self._shop()
        if path == "/admin/oauth/access_token":
            self._record(body, shop)
            return self._token(shop, body)
        version = GRAPHQL_PATH.match(path)
        if version:
            return self._graphql(shop, body, version.group(1))
        self._record(body, shop)
        self._send(404, {"errors": "Not Found"})

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        shop = self._shop()
        self._record(b"", shop)
        bulk_file = BULK_FILE_PATH.match(url.path)
        if bulk_file:
            with self.shopify.state.lock:
                content = self.shopify.state.bulk_files.get(bulk_file.group(1))
            if content is None:
                return self._send(404, {"errors": "Not Found"})
            return self._send(200, content, {"Content-Type": "application/jsonl"})
        confirm = CONFIRM_PATH.match(url.path)
        if confirm and shop:
            subscription_id = f"gid://shopify/AppSubscription/{confirm.group(1)}"
            try:
                location = self.shopify.approve_subscription(shop, subscription_id)
            except KeyError:
                return self._send(404, {"errors": "Not Found"})
            return self._send(302, b"", {"Location": location})
        self._send(404, {"errors": "Not Found"})

    def _token(self, shop: str | None, body: bytes) -> None:
        fault = self.shopify.faults.take({"status"}, {OAUTH})
        if fault is not None:
            return self._send_fault(fault)
        if shop is None:
            return self._send(
                404, {"errors": f"Not Found: the Host header must name a shop, got {self.headers.get('Host')!r}"}
            )
        content_type = self.headers.get("Content-Type") or ""
        try:
            params = json.loads(body) if "json" in content_type else dict(parse_qsl(body.decode()))
        except ValueError:
            params = None
        if not isinstance(params, dict):
            return self._send(400, {"error": "invalid_request", "error_description": "The request body is malformed."})
        status, answer = answer_token_request(self.shopify.state, shop, params)
        self._send(status, answer)

    def _graphql(self, shop: str | None, body: bytes, version: str) -> None:
        try:
            request = parse_request(body)
        except BadRequest:
            self._record(body, shop)
            return self._send(400, {"errors": {"query": "Required parameter missing or invalid"}})
        self._record(body, shop, request)
        faults = self.shopify.faults
        fault = faults.take({"status", "throttled"}, request.names)
        if fault is not None and fault.kind == "status":
            return self._send_fault(fault)
        if shop is None:
            return self._send(
                404, {"errors": f"Not Found: the Host header must name a shop, got {self.headers.get('Host')!r}"}
            )
        state = self.shopify.state
        if not state.shop_for_access_token(self.headers.get("X-Shopify-Access-Token"), shop):
            return self._send(401, {"errors": UNAUTHORIZED})
        context = ApiContext(state, state.shop(shop), self.shopify.origin)
        failure = faults.take({"internal_error", "malformed"}, request.names)
        if failure is not None and not failure.after_write:
            return self._send_failure(failure, version)
        answer = self.shopify.admin.answer(request, context, force_throttle=fault is not None)
        if failure is not None:
            return self._send_failure(failure, version)
        dropped = faults.take({"timeout_after_write"}, request.names)
        if dropped is not None:
            return self._drop(dropped)
        self._send(200, answer, {"X-Shopify-API-Version": version})
