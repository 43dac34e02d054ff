"""The composition root: `create_app()` wires settings, extensions, blueprints, error handlers and CLI commands.

Import-light on purpose: `import app.rules` or `import app.loyalty` must not load Flask, so everything Flask-shaped
is imported inside the factory.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.paths import PROJECT_ROOT

if TYPE_CHECKING:
    from flask import Flask


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    """Build the app. `overrides` replaces Settings fields (tests) and may set Flask config keys in upper case."""
    from flask import Flask

    from app.config import load_settings
    from app.embedded import announce, ensure_postgres, ensure_redis
    from app.errors import register_error_handlers
    from app.extensions import db, inbox_pool, redis_store

    overrides = dict(overrides or {})
    settings = load_settings()
    field_overrides = {k: v for k, v in overrides.items() if k.islower()}
    if field_overrides:
        settings = settings.with_overrides(**field_overrides)

    app = Flask(
        __name__,
        template_folder=str(PROJECT_ROOT / "web" / "templates"),
        static_folder=str(PROJECT_ROOT / "web" / "static"),
        instance_path=settings.instance_path or str(PROJECT_ROOT / "instance"),
    )
    instance = Path(app.instance_path)

    database_url = settings.database_url
    redis_url = settings.redis_url
    if database_url is None:
        database_url = ensure_postgres(instance)
        announce(f"DATABASE_URL unset: using embedded PostgreSQL under {instance / 'postgres'}")
    if redis_url is None:
        redis_url = ensure_redis(instance)
        announce(f"REDIS_URL unset: using embedded Redis at {redis_url}")

    app.config.update(
        SETTINGS=settings,
        SECRET_KEY=settings.shopify_api_secret,
        SQLALCHEMY_DATABASE_URI=database_url,
        SQLALCHEMY_ENGINE_OPTIONS={
            "pool_pre_ping": True,
            "pool_size": 10,
            "max_overflow": 10,
            "connect_args": settings.database_connect_args,
        },
        REDIS_URL=redis_url,
        # Requests are small; anything larger is refused with 413 before it is read. POST /webhooks raises its own
        # limit (app/shopify/routes.py) for the largest real orders.
        MAX_CONTENT_LENGTH=2 * 1024 * 1024,
        JSON_SORT_KEYS=False,
    )
    app.config.update({k: v for k, v in overrides.items() if k.isupper()})

    from app.monitoring.logs import configure_logging
    from app.monitoring.requests import install_request_tracking
    from app.routing import install_converters
    from app.sessions import NoSessions

    configure_logging(settings.log_format)
    db.init_app(app)
    redis_store.init_app(app)
    inbox_pool.init_app(app)
    register_error_handlers(app)
    install_request_tracking(app)
    app.session_interface = NoSessions()
    install_converters(app)

    from app.admin import register_admin
    from app.developer.routes import bp as developer_bp
    from app.graphql.proxy import bp as proxy_bp
    from app.graphql.routes import bp as graphql_bp
    from app.monitoring.routes import bp as monitoring_bp
    from app.shopify.billing_routes import bp as billing_bp
    from app.shopify.install_routes import bp as install_bp
    from app.shopify.routes import bp as shopify_bp

    app.register_blueprint(shopify_bp)
    app.register_blueprint(install_bp)
    register_admin(app)
    app.register_blueprint(graphql_bp)
    app.register_blueprint(proxy_bp)
    app.register_blueprint(monitoring_bp)
    app.register_blueprint(developer_bp)
    app.register_blueprint(billing_bp)
    if settings.development_admin:
        from app.shopify.development import bp as development_bp
        from app.shopify.storefront_preview import bp as storefront_preview_bp

        app.register_blueprint(development_bp)
        app.register_blueprint(storefront_preview_bp)

    from app.commands import register_commands

    register_commands(app)
    return app
