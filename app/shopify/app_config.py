"""Our credentials in the shape Shopify's `shopify_app` package takes them (its `AppConfig`)."""

from __future__ import annotations

from collections.abc import Sequence

from shopify_app import AppConfig

from app.config import Settings


def app_config(*, api_key: str, secrets: Sequence[str]) -> AppConfig:
    """The current secret first; a second one is the previous secret, still accepted during a rotation."""
    if not secrets:
        raise ValueError("at least one app secret is needed")
    return {
        "client_id": api_key,
        "client_secret": secrets[0],
        "old_client_secret": secrets[1] if len(secrets) > 1 else None,
    }


def app_config_for(settings: Settings) -> AppConfig:
    """The app's own credentials from its settings."""
    return app_config(api_key=settings.shopify_api_key, secrets=settings.webhook_secrets)
