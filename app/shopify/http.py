"""The one HTTP client for every call to Shopify (OAuth token endpoint, Admin GraphQL), built in one place.

With `SHOPIFY_ADMIN_ORIGIN` set (development and tests only; production refuses it at start), every request meant
for `https://<shop>.myshopify.com` goes to that origin instead, same path and query, with the shop's domain in the
`Host` header. That is how the local fake Shopify stands in for the real one without any other code knowing.
"""

from __future__ import annotations

import httpx

from app.config import Settings

# Explicit timeouts on every outward call: connect fast, and give Admin GraphQL mutations time to answer.
TIMEOUT = httpx.Timeout(20.0, connect=5.0)
MYSHOPIFY_SUFFIX = ".myshopify.com"


class RedirectToOrigin(httpx.BaseTransport):
    """Sends requests for https://<shop>.myshopify.com to another origin, keeping the shop in the Host header."""

    def __init__(self, origin: str, inner: httpx.BaseTransport | None = None) -> None:
        self.origin = httpx.URL(origin)
        self.inner = inner or httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        if request.url.scheme == "https" and host.endswith(MYSHOPIFY_SUFFIX):
            request.url = request.url.copy_with(scheme=self.origin.scheme, host=self.origin.host, port=self.origin.port)
            request.headers["Host"] = host
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


def build_client(settings: Settings) -> httpx.Client:
    """A client for Shopify: explicit timeouts, and the development origin override when it is set."""
    transport = RedirectToOrigin(settings.shopify_admin_origin) if settings.shopify_admin_origin else None
    return httpx.Client(timeout=TIMEOUT, transport=transport, follow_redirects=False)
