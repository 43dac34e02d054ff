"""In-memory Shopify: the app's credentials, issued tokens, and per-shop data (discounts, customers, billing, bulk).

One lock guards it all: the server answers requests on many threads, and a test reads the same state.
Every id is a decimal above 2^53, as real Shopify ids are, so a client that parses ids as floats breaks here too.
"""

from __future__ import annotations

import itertools
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from tests.shopify_fake.bucket import DEFAULT_MAXIMUM, DEFAULT_RESTORE_RATE, LeakyBucket

ACCESS_TOKEN_TTL = 3600  # expiring offline access tokens live 60 minutes
REFRESH_TOKEN_TTL = 90 * 24 * 3600  # refresh tokens live 90 days
ONLINE_TOKEN_TTL = 86400
DEFAULT_SCOPES = "read_orders,read_customers,write_customers,write_discounts,write_app_proxy"


@dataclass
class AccessToken:
    token: str
    shop: str
    scope: str
    expires_at: float | None  # None: a non-expiring offline token
    revoked: bool = False

    def usable(self, now: float) -> bool:
        return not self.revoked and (self.expires_at is None or now < self.expires_at)


@dataclass
class RefreshToken:
    token: str
    shop: str
    expires_at: float
    used: bool = False


@dataclass
class Customer:
    gid: str
    tags: list[str] = field(default_factory=list)
    # (namespace, key) -> the Metafield object as the Admin API returns it
    metafields: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)


@dataclass
class Shop:
    domain: str
    bucket: LeakyBucket
    currency: str = "USD"
    discounts: dict[str, dict[str, Any]] = field(default_factory=dict)  # DiscountCodeNode gid -> node
    codes: dict[str, str] = field(default_factory=dict)  # upper-cased code -> DiscountCodeNode gid
    customers: dict[str, Customer] = field(default_factory=dict)
    subscriptions: dict[str, dict[str, Any]] = field(default_factory=dict)  # AppSubscription gid -> object
    bulk_operations: dict[str, dict[str, Any]] = field(default_factory=dict)  # BulkOperation gid -> record
    orders: list[dict[str, Any]] = field(default_factory=list)  # Order objects in Admin GraphQL shape

    def customer(self, gid: str) -> Customer:
        """The customer record, created on first use (the fake treats every well-formed customer gid as existing)."""
        return self.customers.setdefault(gid, Customer(gid))

    def discount_by_code(self, code: str) -> dict[str, Any] | None:
        node_id = self.codes.get(code.upper())
        return self.discounts.get(node_id) if node_id else None


@dataclass
class AppConfig:
    api_key: str
    api_secret: str
    app_id: int = 6_710_533  # the numeric API client id behind `$app` metafield namespaces (app--<id>)
    scopes: str = DEFAULT_SCOPES
    bucket_size: float = DEFAULT_MAXIMUM
    restore_rate: float = DEFAULT_RESTORE_RATE
    # Reads of a bulk operation (currentBulkOperation / node) until it reports COMPLETED; RUNNING before that.
    bulk_polls_until_complete: int = 2


class State:
    def __init__(self, config: AppConfig) -> None:
        self.config = config
        self.lock = threading.RLock()
        self.shops: dict[str, Shop] = {}
        self.access_tokens: dict[str, AccessToken] = {}
        self.refresh_tokens: dict[str, RefreshToken] = {}
        self.authorization_codes: dict[str, str] = {}  # code -> shop, single use
        self.bulk_files: dict[str, bytes] = {}  # bulk operation number -> its JSONL result
        self._ids = itertools.count(9_007_199_254_740_993)

    def next_id(self) -> int:
        with self.lock:
            return next(self._ids)

    def gid(self, kind: str) -> str:
        return f"gid://shopify/{kind}/{self.next_id()}"

    def shop(self, domain: str) -> Shop:
        """The shop's data, created on first use with a fresh bucket."""
        with self.lock:
            if domain not in self.shops:
                bucket = LeakyBucket(self.config.bucket_size, self.config.restore_rate)
                self.shops[domain] = Shop(domain=domain, bucket=bucket)
            return self.shops[domain]

    # --- tokens -----------------------------------------------------------------------------------------------

    def issue_authorization_code(self, shop: str) -> str:
        """A single-use code, as Shopify appends to the OAuth callback after the merchant approves."""
        code = secrets.token_hex(16)
        with self.lock:
            self.authorization_codes[code] = shop
        return code

    def issue_tokens(self, shop: str, *, expiring: bool, online: bool = False) -> dict[str, Any]:
        """Issues an access token (and a refresh token when expiring) and answers the token endpoint's fields.

        A new offline pair for a shop retires that shop's earlier refresh tokens ("a later token acquisition for the
        same store replaces that pair"); earlier access tokens keep working until they expire.
        """
        now = time.time()
        with self.lock:
            access = AccessToken(f"shpat_{secrets.token_hex(16)}", shop, self.config.scopes, None)
            response: dict[str, Any] = {"access_token": access.token, "scope": access.scope}
            if online:
                access.expires_at = now + ONLINE_TOKEN_TTL
                response["expires_in"] = ONLINE_TOKEN_TTL
            elif expiring:
                for old in self.refresh_tokens.values():
                    if old.shop == shop:
                        old.used = True
                refresh = RefreshToken(f"shprt_{secrets.token_hex(16)}", shop, now + REFRESH_TOKEN_TTL)
                self.refresh_tokens[refresh.token] = refresh
                access.expires_at = now + ACCESS_TOKEN_TTL
                response |= {
                    "expires_in": ACCESS_TOKEN_TTL,
                    "refresh_token": refresh.token,
                    "refresh_token_expires_in": REFRESH_TOKEN_TTL,
                }
            self.access_tokens[access.token] = access
            return response

    def install(self, shop: str, *, expiring: bool = True) -> dict[str, Any]:
        """Installs the app on `shop` without any OAuth round trip; answers what the token endpoint would."""
        return self.issue_tokens(shop, expiring=expiring)

    def uninstall(self, shop: str) -> None:
        """Revokes every token of the shop and cancels its app subscriptions, as uninstalling the app does."""
        with self.lock:
            for subscription in self.shop(shop).subscriptions.values():
                if subscription["status"] in ("ACTIVE", "PENDING", "FROZEN"):
                    subscription["status"] = "CANCELLED"
            for access in self.access_tokens.values():
                if access.shop == shop:
                    access.revoked = True
            for refresh in self.refresh_tokens.values():
                if refresh.shop == shop:
                    refresh.used = True

    def expire_access_token(self, token: str) -> None:
        """Makes an access token expired, as if its hour had passed."""
        with self.lock:
            self.access_tokens[token].expires_at = time.time() - 1

    def expire_refresh_token(self, token: str) -> None:
        with self.lock:
            self.refresh_tokens[token].expires_at = time.time() - 1

    def shop_for_access_token(self, token: str | None, shop: str) -> bool:
        """Whether `token` is a live access token issued for `shop`."""
        with self.lock:
            access = self.access_tokens.get(token or "")
            return access is not None and access.shop == shop and access.usable(time.time())

    # --- seeding and inspection helpers for tests ----------------------------------------------------------------

    def add_order(self, shop: str, order: dict[str, Any]) -> dict[str, Any]:
        """Adds an Order object (Admin GraphQL shape, see bulk.order_node) that bulk queries and `orders` return."""
        with self.lock:
            self.shop(shop).orders.append(order)
        return order

    def discount_codes(self, shop: str) -> list[str]:
        """Every discount code the shop has, in creation order."""
        with self.lock:
            return [node["codeDiscount"]["codes"]["nodes"][0]["code"] for node in self.shop(shop).discounts.values()]


@dataclass
class ApiContext:
    """What an Admin GraphQL resolver sees of the request: the fake's state, the shop (from Host) and its origin."""

    state: State
    shop: Shop
    origin: str
    # A bulk operation's query runs with bulk=True: connections need no `first` and return every object.
    bulk: bool = False
