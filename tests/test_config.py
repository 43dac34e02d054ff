"""Settings: production refuses to start without its settings, naming them; elsewhere sensible defaults."""

from __future__ import annotations

import pytest

from app.config import REQUIRED_IN_PRODUCTION, ConfigError, load_settings, stream_partitions

PRODUCTION = {
    "APP_ENV": "production",
    "DATABASE_URL": "postgresql://u:p@db/loyalty",
    "REDIS_URL": "redis://cache:6379/0",
    "SHOPIFY_API_KEY": "key",
    "SHOPIFY_API_SECRET": "secret",
    "SHOPIFY_APP_URL": "https://loyalty.example.com/",
    "SHOPIFY_SCOPES": "read_orders",
    "LOYALTY_ENCRYPTION_KEY": "bm90LWEtcmVhbC1rZXktYnV0LTMyLWJ5dGVzLWxvbmchIQ==",
}


@pytest.mark.parametrize("missing", REQUIRED_IN_PRODUCTION)
def test_production_names_the_missing_setting(missing: str) -> None:
    environ = {k: v for k, v in PRODUCTION.items() if k != missing}
    with pytest.raises(ConfigError, match=missing):
        load_settings(environ)


def test_production_with_everything_set() -> None:
    settings = load_settings(PRODUCTION)
    assert settings.is_production
    assert settings.database_url == "postgresql+psycopg://u:p@db/loyalty"
    assert settings.shopify_app_url == "https://loyalty.example.com"


def test_development_needs_nothing() -> None:
    settings = load_settings({})
    assert (settings.app_env, settings.database_url, settings.redis_url) == ("development", None, None)
    assert (stream_partitions({}), settings.inbox_archive_after_days) == (4, 30)
    overridden = {"LOYALTY_STREAM_PARTITIONS": "16", "LOYALTY_INBOX_ARCHIVE_AFTER_DAYS": "90"}
    assert (stream_partitions(overridden), load_settings(overridden).inbox_archive_after_days) == (16, 90)


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"APP_ENV": "staging"}, "APP_ENV"),
        ({"DATABASE_URL": "mysql://x/y"}, "DATABASE_URL"),
        ({"LOYALTY_STREAM_PARTITIONS": "0"}, "LOYALTY_STREAM_PARTITIONS"),
        ({"LOYALTY_STREAM_PARTITIONS": "four"}, "LOYALTY_STREAM_PARTITIONS"),
        ({"LOYALTY_STREAM_PARTITIONS": "257"}, "LOYALTY_STREAM_PARTITIONS"),
        ({"LOYALTY_INBOX_ARCHIVE_AFTER_DAYS": "2"}, "LOYALTY_INBOX_ARCHIVE_AFTER_DAYS"),
        # Digits other than 0-9: int() refuses superscripts and reads Arabic-Indic ones; neither is a setting.
        ({"LOYALTY_INBOX_ARCHIVE_AFTER_DAYS": "\u00b2"}, "LOYALTY_INBOX_ARCHIVE_AFTER_DAYS"),
        ({"LOYALTY_STREAM_PARTITIONS": "\u0663"}, "LOYALTY_STREAM_PARTITIONS"),
        ({"LOYALTY_DATABASE_PREPARED_STATEMENTS": "pgbouncer"}, "LOYALTY_DATABASE_PREPARED_STATEMENTS"),
    ],
)
def test_malformed_settings_are_refused(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(environ)


def test_prepared_statements_can_be_turned_off_for_a_transaction_pooler() -> None:
    """tests/deploy/test_pgbouncer.py runs the app behind PgBouncer with them off."""
    assert load_settings({}).database_connect_args == {}
    settings = load_settings({"LOYALTY_DATABASE_PREPARED_STATEMENTS": "off"})
    assert settings.database_connect_args == {"prepare_threshold": None}


def test_the_previous_secret_is_tried_second() -> None:
    settings = load_settings({**PRODUCTION, "SHOPIFY_OLD_API_SECRET": "old"})
    assert settings.webhook_secrets == ("secret", "old")


def test_the_admin_origin_override_is_refused_in_production() -> None:
    with pytest.raises(ConfigError, match="SHOPIFY_ADMIN_ORIGIN is for development and tests only"):
        load_settings({**PRODUCTION, "SHOPIFY_ADMIN_ORIGIN": "http://127.0.0.1:8765"})


@pytest.mark.parametrize("origin", ["127.0.0.1:8765", "ftp://fake", "fake-shopify"])
def test_the_admin_origin_must_be_an_http_origin(origin: str) -> None:
    with pytest.raises(ConfigError, match="SHOPIFY_ADMIN_ORIGIN must be an http"):
        load_settings({"SHOPIFY_ADMIN_ORIGIN": origin})


def test_encryption_keys_are_read_newest_first() -> None:
    settings = load_settings({**PRODUCTION, "LOYALTY_ENCRYPTION_KEY": " new , old "})
    assert settings.encryption_keys == ("new", "old")


def test_the_redemption_confirmation_limit_is_minutes_greater_than_zero() -> None:
    assert load_settings({}).redemption_confirm_minutes == 15
    assert load_settings({"LOYALTY_REDEMPTION_CONFIRM_MINUTES": "30"}).redemption_confirm_minutes == 30
    for bad in ("0", "-5", "ten", "1.5"):
        with pytest.raises(ConfigError, match="LOYALTY_REDEMPTION_CONFIRM_MINUTES"):
            load_settings({"LOYALTY_REDEMPTION_CONFIRM_MINUTES": bad})


def test_in_development_the_app_url_follows_the_port() -> None:
    """`PORT=5055 ./scripts/run` and, in another shell, `PORT=5055 loyalty demo order` reach the same server."""
    assert load_settings({}).shopify_app_url == "http://127.0.0.1:5000"
    assert load_settings({"PORT": "5055"}).shopify_app_url == "http://127.0.0.1:5055"
    assert load_settings({"PORT": "5055", "SHOPIFY_APP_URL": "https://x.test/"}).shopify_app_url == "https://x.test"
