"""Settings read once from the fixed environment names (DESIGN.md, "Configuration")."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from app.rules.values import is_ascii_digits

ENVIRONMENTS = ("development", "test", "production")

# Development defaults, so a fresh clone runs without a Shopify partner account. Production must set every one.
DEV_API_KEY = "loyalty-dev-api-key"
DEV_API_SECRET = "loyalty-dev-api-secret-not-for-production"
# Development: the app on this machine, at the port ./scripts/run serves (PORT, default 5000).
DEV_APP_HOST = "http://127.0.0.1"
DEFAULT_SCOPES = "read_orders,read_customers,write_customers,write_discounts,write_app_proxy"

REQUIRED_IN_PRODUCTION = (
    "DATABASE_URL",
    "REDIS_URL",
    "SHOPIFY_API_KEY",
    "SHOPIFY_API_SECRET",
    "SHOPIFY_APP_URL",
    "SHOPIFY_SCOPES",
    "LOYALTY_ENCRYPTION_KEY",
)
# The one Shopify API version for the Admin API, webhooks and extensions (shopify.app.toml pins the same).
SHOPIFY_API_VERSION = "2026-10"


@dataclass(frozen=True)
class Plan:
    """A billing plan: `key` is stored on the shop, `name` is the AppSubscription name the merchant approves."""

    key: str
    name: str
    price: Decimal  # USD every 30 days; 0 is the free plan, which needs no subscription
    trial_days: int
    features: frozenset[str]


# The plans (app/shopify/billing.py charges them; app.loyalty.base.plans.plan_allows checks them). What the paid plan
# adds: `backfill` (importing the shop's past orders, `flask shopify backfill`) and `outbound_webhooks` (the merchant's
# own webhook endpoints and the rule action `webhook`: app.integrations refuses new endpoints and makes no new
# delivery without it).
FREE_PLAN = Plan("free", "Free", Decimal("0"), 0, frozenset())
BILLING_PLANS = (
    FREE_PLAN,
    Plan("growth", "Loyalty Growth", Decimal("29.00"), 14, frozenset({"backfill", "outbound_webhooks"})),
)
# What each feature is called where a merchant reads what a plan gives (the admin's upgrade offers).
FEATURE_NAMES = {"outbound_webhooks": "Webhook endpoints", "backfill": "Importing past orders"}


class ConfigError(RuntimeError):
    """A setting is missing or malformed; the message names it."""


@dataclass(frozen=True)
class Settings:
    """Everything the app reads from its environment, validated at start."""

    app_env: str
    database_url: str | None
    redis_url: str | None
    shopify_api_key: str
    shopify_api_secret: str
    shopify_app_url: str
    shopify_scopes: str
    shopify_old_api_secret: str | None = None
    shopify_api_version: str = SHOPIFY_API_VERSION
    # Keys for tokens at rest, newest first (Fernet keys, comma-separated in LOYALTY_ENCRYPTION_KEY): the first
    # encrypts, every one decrypts, so a key can be rotated. Unset outside production: a key under instance/.
    encryption_keys: tuple[str, ...] = ()
    # Development and test only: every request meant for https://<shop>.myshopify.com goes to this origin instead.
    shopify_admin_origin: str | None = None
    # Prefix for every Redis key (stream, consumer group, Huey queue), so several apps or test runs share one Redis.
    redis_namespace: str = "loyalty"
    instance_path: str | None = None
    # Bearer token for /monitoring/* except health; unset: only this machine's loopback may ask (never in production).
    monitoring_token: str | None = None
    # GraphQL introspection and the /graphql explorer: on in development and test, off in production unless set.
    graphql_introspection: bool = True
    # Development and test only: merchants' webhook endpoints may be loopback or private addresses (a local receiver).
    webhooks_allow_private_targets: bool = False
    # "json" (one object per line) or "text"; JSON by default in production.
    log_format: str = "text"
    # Where the app's own threshold alerts are posted once per episode (Slack-style incoming webhook); optional.
    operator_webhook_url: str | None = None
    # A redemption whose code Shopify has not confirmed after this many minutes fails and its points come back
    # (LOYALTY_REDEMPTION_CONFIRM_MINUTES; app/tasks/discount_codes.confirm_overdue).
    redemption_confirm_minutes: int = 15
    # Processed inbox rows older than this many days move to event_queue_archive (LOYALTY_INBOX_ARCHIVE_AFTER_DAYS;
    # app/tasks/sweeps.archive_inbox). At least 3: Shopify re-delivers a webhook for up to 48 hours.
    inbox_archive_after_days: int = 30
    # Server-side prepared statements (psycopg prepares a statement after its fifth run on a connection). Off
    # (LOYALTY_DATABASE_PREPARED_STATEMENTS=off) behind a pooler that hands each transaction another server
    # connection and does not carry prepared statements across: PgBouncer in transaction mode before 1.21, or with
    # max_prepared_statements = 0 (docs/pipeline.md, "Running it on managed services").
    database_prepared_statements: bool = True

    @property
    def is_production(self) -> bool:
        return self.app_env == "production"

    @property
    def development_admin(self) -> bool:
        """Development with no Shopify app configured (SHOPIFY_API_KEY unset): the admin opens at the app's own URL
        with a local stand-in for App Bridge that signs real App Home tokens with the development secret. Never in
        production; with the Shopify CLI's credentials (`shopify app dev`) the real App Bridge is used instead."""
        return self.app_env == "development" and self.shopify_api_key == DEV_API_KEY

    @property
    def webhook_secrets(self) -> tuple[str, ...]:
        """The current secret, then the previous one: Shopify may sign with the old one for an hour after rotation."""
        if self.shopify_old_api_secret:
            return (self.shopify_api_secret, self.shopify_old_api_secret)
        return (self.shopify_api_secret,)

    @property
    def database_connect_args(self) -> dict[str, Any]:
        """psycopg's connection arguments beyond the URL, the same for every connection the app opens (the engine's
        pool, the webhooks' pool, the storefront's reads): prepare_threshold=None never prepares."""
        return {} if self.database_prepared_statements else {"prepare_threshold": None}

    def with_overrides(self, **changes: Any) -> Settings:
        return replace(self, **changes)


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read and validate settings; in production a missing setting raises ConfigError naming it."""
    env = os.environ if environ is None else environ
    app_env = env.get("APP_ENV", "development").strip() or "development"
    if app_env not in ENVIRONMENTS:
        raise ConfigError(f"APP_ENV must be one of {', '.join(ENVIRONMENTS)}; got {app_env!r}")

    if app_env == "production":
        missing = [name for name in REQUIRED_IN_PRODUCTION if not env.get(name, "").strip()]
        if missing:
            raise ConfigError("missing required setting(s) for APP_ENV=production: " + ", ".join(missing))

    database_url = _normalise_database_url(env.get("DATABASE_URL", "").strip() or None)
    admin_origin = env.get("SHOPIFY_ADMIN_ORIGIN", "").strip().rstrip("/") or None
    if admin_origin is not None and app_env == "production":
        raise ConfigError("SHOPIFY_ADMIN_ORIGIN is for development and tests only; unset it when APP_ENV=production")
    if admin_origin is not None and not admin_origin.startswith(("http://", "https://")):
        raise ConfigError(
            f"SHOPIFY_ADMIN_ORIGIN must be an http(s) origin such as http://127.0.0.1:8765; got {admin_origin!r}"
        )
    allow_private = _flag(env, "LOYALTY_WEBHOOKS_ALLOW_PRIVATE_TARGETS", default=False)
    if allow_private and app_env == "production":
        raise ConfigError(
            "LOYALTY_WEBHOOKS_ALLOW_PRIVATE_TARGETS is for development and tests only; unset it when APP_ENV=production"
        )
    stream_partitions(env)  # app.events.stream reads it wherever it runs; a bad value stops every process here
    log_format = env.get("LOYALTY_LOG_FORMAT", "").strip() or ("json" if app_env == "production" else "text")
    if log_format not in ("json", "text"):
        raise ConfigError(f"LOYALTY_LOG_FORMAT must be json or text; got {log_format!r}")
    return Settings(
        app_env=app_env,
        database_url=database_url,
        redis_url=env.get("REDIS_URL", "").strip() or None,
        shopify_api_key=env.get("SHOPIFY_API_KEY", "").strip() or DEV_API_KEY,
        shopify_api_secret=env.get("SHOPIFY_API_SECRET", "").strip() or DEV_API_SECRET,
        shopify_old_api_secret=env.get("SHOPIFY_OLD_API_SECRET", "").strip() or None,
        shopify_app_url=(
            env.get("SHOPIFY_APP_URL", "").strip() or f"{DEV_APP_HOST}:{env.get('PORT', '').strip() or 5000}"
        ).rstrip("/"),
        shopify_scopes=env.get("SHOPIFY_SCOPES", "").strip() or DEFAULT_SCOPES,
        shopify_api_version=env.get("SHOPIFY_API_VERSION", "").strip() or SHOPIFY_API_VERSION,
        encryption_keys=tuple(key.strip() for key in env.get("LOYALTY_ENCRYPTION_KEY", "").split(",") if key.strip()),
        shopify_admin_origin=admin_origin,
        redis_namespace=env.get("LOYALTY_REDIS_NAMESPACE", "").strip() or "loyalty",
        instance_path=env.get("LOYALTY_INSTANCE_PATH", "").strip() or None,
        monitoring_token=env.get("MONITORING_TOKEN", "").strip() or None,
        graphql_introspection=_flag(env, "LOYALTY_GRAPHQL_INTROSPECTION", default=app_env != "production"),
        webhooks_allow_private_targets=allow_private,
        log_format=log_format,
        operator_webhook_url=env.get("LOYALTY_OPERATOR_WEBHOOK_URL", "").strip() or None,
        redemption_confirm_minutes=_whole_number(
            env, "LOYALTY_REDEMPTION_CONFIRM_MINUTES", default=15, minimum=1, unit="minutes"
        ),
        inbox_archive_after_days=_whole_number(
            env, "LOYALTY_INBOX_ARCHIVE_AFTER_DAYS", default=30, minimum=3, unit="days"
        ),
        database_prepared_statements=_flag(env, "LOYALTY_DATABASE_PREPARED_STATEMENTS", default=True),
    )


DEFAULT_STREAM_PARTITIONS = 4
MAX_STREAM_PARTITIONS = 256


def stream_partitions(environ: Mapping[str, str] | None = None) -> int:
    """LOYALTY_STREAM_PARTITIONS: how many partitions the event stream is split into. Read by app.events.stream
    (StreamKeys.for_namespace), which runs outside Flask too, and checked by load_settings at start. Every process
    that publishes or consumes must agree: change it only with the stream drained (docs/operations.md)."""
    env = os.environ if environ is None else environ
    return _whole_number(
        env, "LOYALTY_STREAM_PARTITIONS", default=DEFAULT_STREAM_PARTITIONS, minimum=1, maximum=MAX_STREAM_PARTITIONS
    )


def _flag(env: Mapping[str, str], name: str, *, default: bool) -> bool:
    """A boolean setting: 1/true/yes/on or 0/false/no/off; anything else is refused with its name."""
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false; got {raw!r}")


def _whole_number(
    env: Mapping[str, str], name: str, *, default: int, minimum: int, maximum: int | None = None, unit: str = ""
) -> int:
    """A whole-number setting (`unit`, such as "days", for the message) within its bounds; anything else is refused
    with its name."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not is_ascii_digits(raw) or int(raw) < minimum or (maximum is not None and int(raw) > maximum):
        of_unit = f" of {unit}" if unit else ""
        bounds = f"from {minimum} to {maximum}" if maximum is not None else f"at least {minimum}"
        raise ConfigError(f"{name} must be a whole number{of_unit}, {bounds}; got {raw!r}")
    return int(raw)


def _normalise_database_url(url: str | None) -> str | None:
    """Accept the `postgres://` and `postgresql://` forms hosting platforms hand out; we always drive psycopg 3."""
    if url is None:
        return None
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    if not url.startswith("postgresql+psycopg://"):
        raise ConfigError(
            f"DATABASE_URL must be a PostgreSQL URL (postgresql+psycopg://…); got {url.split(':')[0]}://…"
        )
    return url
