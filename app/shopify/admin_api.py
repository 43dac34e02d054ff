"""The one Admin GraphQL client: shopify_app's `admin_graphql_request` at the pinned API version, over the one
Shopify HTTP client (app/shopify/http.py), with the shop's offline token, the shared leaky bucket and bounded retries.

What a caller gets back, and must handle:
- the `data` of a query, or the payload of a mutation (`mutate`);
- `UserErrors`: Shopify refused the mutation's input (nothing was written); a definite answer;
- `OutcomeUnknown`: a write was sent and no answer came (timeout, dropped connection, a 5xx other than 503,
  Shopify's INTERNAL_SERVER_ERROR GraphQL error, its 500 answered as HTTP 200, or an HTTP 200 whose body is not a
  GraphQL answer: not JSON, cut off, JSON that is not an object, or no `data`): it may or may not have happened, so
  look before writing again;
- `RetryLater`: not done, safe to try again later (throttled, 429, 503 after our bounded retries; token refresh
  could not reach Shopify);
- `RequestRefused`: Shopify will not do it (400, 403, GraphQL errors other than THROTTLED and INTERNAL_SERVER_ERROR);
  retrying will not help; its `ShopUnavailable` for 402 (the shop is frozen) and 423 (locked): not until the shop's
  owner acts, which usually happens;
- `ShopNotConnected` (app.shopify.tokens): the shop has no usable token (uninstalled, never installed): nothing was
  sent, and nothing will be until it installs again.

THROTTLED, 429 and 503 (and a read's 5xx, INTERNAL_SERVER_ERROR or unreadable answer) are retried here, waiting
for the bucket to refill or for `Retry-After`; shopify_app's own retries are turned off (`max_retries=0`) so that
there is one retry policy and its waits are bounded. A 401 refreshes the token once
(tokens.refresh_after_unauthorized) and repeats the call once.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shopify_app import admin_graphql_request

from app.shopify.shop_domains import shop_handle
from app.shopify.throttle import ShopThrottle
from app.shopify.tokens import (
    ShopNotConnected,
    TokenContext,
    TokenRefreshFailed,
    access_token_for,
    refresh_after_unauthorized,
)

log = logging.getLogger(__name__)

# Statuses Shopify uses for "not processed, come back": retried after Retry-After (or a short back-off).
RETRY_STATUSES = frozenset({429, 503})
# Other server errors: a read is retried; a write may have happened, so it is OutcomeUnknown.
SERVER_ERRORS = frozenset({500, 502, 504})
# The GraphQL error code Shopify answers (HTTP 200) "instead of 500 Internal Server Error in most circumstances".
INTERNAL_ERROR = "INTERNAL_SERVER_ERROR"
# The longest Retry-After taken as said: a later time (1e12 s is past any date a datetime holds) would stop the outbox
# from rescheduling the row at all; asked again after an hour, Shopify says again how long to wait.
MAX_RETRY_AFTER_S = 3600.0
NOT_AN_ANSWER = "HTTP 200 with a body that is not a GraphQL answer"
# Statuses with which Shopify refuses every call for a shop until its owner acts (its response codes page,
# https://shopify.dev/docs/api/usage/response-codes): nothing was done, and trying again soon will not help.
SHOP_UNAVAILABLE = {
    402: "402 Payment Required: the shop is frozen until its owner pays Shopify's outstanding balance",
    423: "423 Locked: Shopify has locked the shop (it went over the API's rate limits again and again, or a "
    "compromise or fraud risk); its owner must contact Shopify support",
}
DEFAULT_COST = 10  # a mutation's usual requested cost; the bucket reservation only needs an estimate


class AdminApiError(Exception):
    """Base of what the client raises besides ShopNotConnected."""


class UserErrors(AdminApiError):
    """The mutation's payload listed userErrors: Shopify refused the input and wrote nothing."""

    def __init__(self, mutation: str, errors: list[dict[str, Any]]) -> None:
        self.mutation = mutation
        self.errors = errors
        described = "; ".join(
            f"{'.'.join(error.get('field') or []) or '(input)'}: {error.get('message')}"
            + (f" [{error['code']}]" if error.get("code") else "")
            for error in errors
        )
        super().__init__(f"{mutation} refused: {described}")

    @property
    def codes(self) -> set[str]:
        return {str(error["code"]) for error in self.errors if error.get("code")}


class RetryLater(AdminApiError):
    """Not done; safe to try again after `retry_after` seconds."""

    def __init__(self, message: str, retry_after: float = 60.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class OutcomeUnknown(RetryLater):
    """A write went out and no answer came back: it may have happened. Look it up before writing again."""


class RequestRefused(AdminApiError):
    """Shopify will not do this (bad query, missing scope, GraphQL errors): retrying does not help."""


class ShopUnavailable(RequestRefused):
    """Shopify serves nothing for this shop until its owner acts: frozen (402) or locked (423). Nothing was done.
    A refusal for now, which usually ends: the outbox waits for the shop (app/tasks/deliveries.py)."""

    def __init__(self, shop_domain: str, status: int) -> None:
        self.status = status
        super().__init__(f"Shopify answered {SHOP_UNAVAILABLE[status]} ({shop_domain})")


@dataclass
class AdminApi:
    tokens: TokenContext
    throttle: ShopThrottle
    # Injected so tests can see the waits without spending them.
    sleep: Callable[[float], None] = time.sleep
    max_attempts: int = 4
    # The longest single wait (Retry-After or bucket refill) the client spends in-process; longer ones: RetryLater.
    max_wait_s: float = 10.0

    @property
    def api_version(self) -> str:
        return self.tokens.settings.shopify_api_version

    def query(self, shop_domain: str, document: str, variables: dict[str, Any] | None = None, *, cost: int = 5) -> dict:
        """The `data` of a read. A lost answer is retried (a read changes nothing)."""
        return self._execute(shop_domain, document, variables, cost=cost, write=False)

    def mutate(
        self, shop_domain: str, document: str, variables: dict[str, Any], *, payload: str, cost: int = DEFAULT_COST
    ) -> dict[str, Any]:
        """The payload object `data[payload]` of a mutation; UserErrors when it lists any."""
        return self.mutate_all(shop_domain, document, variables, payloads=(payload,), cost=cost)[payload]

    def mutate_all(
        self,
        shop_domain: str,
        document: str,
        variables: dict[str, Any],
        *,
        payloads: tuple[str, ...],
        cost: int = DEFAULT_COST,
    ) -> dict[str, dict[str, Any]]:
        """Several mutations in one request (one HTTP call, one cost): each payload by name; UserErrors naming the
        first one that lists any (Shopify runs them in order; the ones before it were written)."""
        data = self._execute(shop_domain, document, variables, cost=cost, write=True)
        results: dict[str, dict[str, Any]] = {}
        for name in payloads:
            result = data.get(name)
            if not isinstance(result, dict):
                raise RequestRefused(f"{name}: Shopify answered no payload")
            errors = result.get("userErrors") or []
            if errors:
                raise UserErrors(name, errors)
            results[name] = result
        return results

    def _execute(
        self, shop_domain: str, document: str, variables: dict[str, Any] | None, *, cost: int, write: bool
    ) -> dict[str, Any]:
        token = self._token(access_token_for, self.tokens, shop_domain)
        refreshed = False
        attempt = 0
        while True:
            attempt += 1
            self._wait_for_bucket(shop_domain, cost)
            try:
                result = admin_graphql_request(
                    document,
                    shop=shop_handle(shop_domain),
                    access_token=token,
                    api_version=self.api_version,
                    variables=variables,
                    max_retries=0,
                    http_client=self.tokens.http,
                )
            except AttributeError:
                # shopify_app reads a 200's JSON with `.get` before anything else: a body that is JSON but not an
                # object (a list, a string, a number, null) raises here. It is not a GraphQL answer either.
                if write:
                    raise OutcomeUnknown(f"{NOT_AN_ANSWER} from Shopify for {shop_domain} after the write") from None
                self._wait_to_retry(shop_domain, NOT_AN_ANSWER, attempt, float(2 ** (attempt - 1)))
                continue
            # With retries off, shopify_app answers a 429 or 5xx with a stand-in response without Shopify's headers;
            # what Shopify sent (Retry-After included) is the last entry of its HTTP log.
            response = result.http_logs[-1].res if result.http_logs else result.response
            body = _json(response.body)
            extensions = body.get("extensions") if isinstance(body, dict) else None
            self.throttle.record(shop_domain, extensions)
            status = response.status
            if result.ok and isinstance(result.data, dict):
                return result.data
            if status == 401:
                if refreshed:
                    raise ShopNotConnected(shop_domain, "Shopify refused a freshly refreshed token")
                token = self._token(refresh_after_unauthorized, self.tokens, shop_domain, rejected_token=token)
                refreshed = True
                attempt -= 1  # the refresh is not a retry of Shopify's answer
                continue
            if result.log.code == "network_error":
                if write:
                    raise OutcomeUnknown(f"no answer from Shopify for {shop_domain} after the write was sent")
                wait = 1.0
            elif result.ok:
                # HTTP 200 with no GraphQL answer (not JSON, cut off, no `data`): it says nothing of what happened.
                if write:
                    raise OutcomeUnknown(f"{_describe(status, body)} from Shopify for {shop_domain} after the write")
                wait = float(2 ** (attempt - 1))
            elif status == 200 and _error_code(body, "THROTTLED"):
                wait = self.throttle.refill_time(extensions) or 1.0
            elif status == 200 and _error_code(body, INTERNAL_ERROR):
                # Shopify's 500, answered as a GraphQL error: a read is retried, a write may have happened.
                if write:
                    raise OutcomeUnknown(f"{_describe(status, body)} from Shopify for {shop_domain} after the write")
                wait = float(2 ** (attempt - 1))
            elif status in RETRY_STATUSES:
                wait = _retry_after(response.headers) or float(2 ** (attempt - 1))
            elif status in SERVER_ERRORS:
                if write:
                    raise OutcomeUnknown(f"Shopify answered {status} for {shop_domain} after the write was sent")
                wait = float(2 ** (attempt - 1))
            elif status in SHOP_UNAVAILABLE:
                raise ShopUnavailable(shop_domain, status)
            else:
                raise RequestRefused(f"Admin API refused the request for {shop_domain}: {_describe(status, body)}")
            self._wait_to_retry(shop_domain, _describe(status, body), attempt, wait)

    def _wait_to_retry(self, shop_domain: str, answer: str, attempt: int, wait: float) -> None:
        """Sleep `wait` before the next attempt; RetryLater when the attempts are spent or the wait is too long."""
        if attempt >= self.max_attempts or wait > self.max_wait_s:
            raise RetryLater(
                f"Admin API for {shop_domain}: {answer} after {attempt} attempt(s)", retry_after=max(wait, 1.0)
            )
        log.info("Admin API for %s: %s; retrying in %.1f s", shop_domain, answer, wait)
        self.sleep(wait)

    @staticmethod
    def _token(get: Callable[..., str], *args: Any, **kwargs: Any) -> str:
        """A token from the token store; a refresh that could not reach Shopify is RetryLater like any outage."""
        try:
            return get(*args, **kwargs)
        except TokenRefreshFailed as exc:
            raise RetryLater(str(exc), retry_after=60.0) from exc

    def _wait_for_bucket(self, shop_domain: str, cost: int) -> None:
        """Wait (bounded) until the shop's shared bucket can pay for this call, so it does not come back THROTTLED."""
        waited = 0.0
        while True:
            wait = self.throttle.wait_needed(shop_domain, cost)
            if wait <= 0:
                return
            if waited + wait > self.max_wait_s:
                raise RetryLater(f"Admin API bucket of {shop_domain} is low; try again later", retry_after=wait)
            self.sleep(wait)
            waited += wait


def _json(raw: str) -> Any:
    try:
        return json.loads(raw) if raw else {}
    except ValueError:
        return {}


def _error_code(body: Any, code: str) -> bool:
    """Whether one of the answer's GraphQL errors carries `extensions.code` == code."""
    errors = body.get("errors") if isinstance(body, dict) else None
    return isinstance(errors, list) and any(
        isinstance(error, dict)
        and isinstance(error.get("extensions"), dict)
        and error["extensions"].get("code") == code
        for error in errors
    )


def _retry_after(headers: dict[str, str]) -> float | None:
    """Retry-After in seconds, at most MAX_RETRY_AFTER_S; None when absent or not a number of seconds (a date, "nan",
    "inf"): then the caller's own back-off applies."""
    for name, value in headers.items():
        if name.lower() == "retry-after":
            try:
                seconds = float(value)
            except ValueError:
                return None
            return min(max(seconds, 0.0), MAX_RETRY_AFTER_S) if math.isfinite(seconds) else None
    return None


def _describe(status: int, body: Any) -> str:
    errors = body.get("errors") if isinstance(body, dict) else None
    if isinstance(errors, list):
        messages = "; ".join(str(error.get("message")) for error in errors if isinstance(error, dict))
        return f"HTTP {status}: {messages}"[:500]
    if status == 200 and not errors:
        return NOT_AN_ANSWER
    return f"HTTP {status}" + (f": {errors}" if errors else "")
