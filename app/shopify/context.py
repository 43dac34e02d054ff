"""The app's TokenContext (app/shopify/tokens.py) and Admin API client, built once per Flask app on first use."""

from __future__ import annotations

from pathlib import Path

from flask import Flask, current_app
from sqlalchemy.orm import sessionmaker

from app.extensions import db, redis_store
from app.shopify.admin_api import AdminApi
from app.shopify.http import build_client
from app.shopify.throttle import ShopThrottle
from app.shopify.token_cipher import cipher_for
from app.shopify.tokens import TokenContext

_EXTENSION = "loyalty_shopify_tokens"


def token_context(app: Flask | None = None) -> TokenContext:
    """The context for `app` (default: the current app): its settings, cipher, Shopify client and sessions."""
    flask_app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    context = flask_app.extensions.get(_EXTENSION)
    if context is None:
        settings = flask_app.config["SETTINGS"]
        with flask_app.app_context():
            engine = db.engine
        context = TokenContext(
            settings=settings,
            cipher=cipher_for(settings, Path(flask_app.instance_path)),
            http=build_client(settings),
            sessions=sessionmaker(engine, expire_on_commit=False),
        )
        flask_app.extensions[_EXTENSION] = context
    return context


_ADMIN_API = "loyalty_shopify_admin_api"


def admin_api(app: Flask | None = None) -> AdminApi:
    """The app's Admin API client (one per app, sharing the token context's HTTP client)."""
    flask_app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    client = flask_app.extensions.get(_ADMIN_API)
    if client is None:
        client = AdminApi(
            tokens=token_context(flask_app),
            throttle=ShopThrottle(redis_store.client, redis_store.namespace),
        )
        flask_app.extensions[_ADMIN_API] = client
    return client
