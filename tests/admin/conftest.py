"""The embedded admin under test: development mode (the App Bridge stand-in signs real App Home tokens for the demo
shop, so admin_required's real verification runs), the demo shop seeded, and helpers to call it as htmx does."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from app.config import DEV_API_KEY, DEV_API_SECRET
from app.models import Shop
from app.shopify.development import DEMO_SHOP, sign_app_home_token
from tests.admin.free_port import free_port


@pytest.fixture(scope="session")
def app_url() -> str:
    """Where the browser tests serve the app; the app's settings name it, so its bounce redirects come back here."""
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture
def settings_overrides(settings_overrides: dict[str, Any], app_url: str) -> dict[str, Any]:
    return {
        **settings_overrides,
        "app_env": "development",
        "shopify_api_key": DEV_API_KEY,
        "shopify_api_secret": DEV_API_SECRET,
        "shopify_app_url": app_url,
        "shopify_admin_origin": None,
    }


@pytest.fixture
def demo_shop(app: Any, runner: Any) -> Shop:
    """The seeded, connected demo shop (its tier ladder and starter rule included)."""
    result = runner.invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    from app.extensions import db

    return db.session.execute(select(Shop).where(Shop.domain == DEMO_SHOP)).scalar_one()


class Admin:
    """Requests to the admin as the page makes them: htmx requests carry a fresh session token as Bearer."""

    def __init__(self, app: Any, shop: str = DEMO_SHOP) -> None:
        self.client = app.test_client()
        self.settings = app.config["SETTINGS"]
        self.shop = shop

    def headers(self, **extra: str) -> dict[str, str]:
        token = sign_app_home_token(self.settings, shop=self.shop)
        return {"Authorization": f"Bearer {token}", "HX-Request": "true", **extra}

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.client.get(path, headers=self.headers(**{"HX-Boosted": "true"}), **kwargs)

    def fragment(self, path: str, **kwargs: Any) -> Any:
        return self.client.get(path, headers=self.headers(), **kwargs)

    def post(self, path: str, data: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        return self.client.post(path, data=data or {}, headers=self.headers(), **kwargs)


@pytest.fixture
def admin(app: Any, demo_shop: Shop) -> Admin:
    return Admin(app)


def add_member(
    session: Any, shop: Shop, customer_id: str, *, email: str, name: str, points: int = 0, now: Any = None
) -> Any:
    """A loyalty member of `shop` with an opening balance credited through the ledger (as an import would)."""
    from datetime import datetime, timezone

    from app.loyalty import ledger
    from app.loyalty.ledger.profiles import lock_profile

    now = now or datetime.now(timezone.utc)
    first, _, last = name.partition(" ")
    profile = lock_profile(session, shop_id=shop.id, customer_id=customer_id, now=now)
    profile.email, profile.first_name, profile.last_name = email, first, last
    if points:
        ledger.adjust_points(
            session,
            shop=shop,
            profile=profile,
            points=points,
            reason="Opening balance",
            actor="staff:seed",
            idempotency_key=f"seed:{customer_id}",
            now=now,
        )
    session.commit()
    return profile


@pytest.fixture
def other_admin_shop(app: Any, demo_shop: Shop) -> Shop:
    """A second installed, connected shop (development marker token), with its own admin."""
    from datetime import datetime, timezone

    from app.extensions import db
    from app.shopify.context import token_context
    from app.shopify.development import connect_demo_shop

    shop = Shop(domain="other-shop.myshopify.com", installed_at=datetime.now(timezone.utc))
    db.session.add(shop)
    db.session.flush()
    connect_demo_shop(db.session, shop, token_context(app))
    db.session.commit()
    return shop


def add_dead_letter(session: Any, shop: Shop, *, event_type: str = "order_created", error: str = "boom") -> Any:
    """An inbox event of `shop` that went dead, and its dead letter (as the consumer leaves them)."""
    import uuid
    from datetime import datetime, timezone

    from app.models import DeadLetter, EventQueue

    now = datetime.now(timezone.utc)
    event_id = uuid.uuid4()
    session.add(
        EventQueue(
            event_id=event_id,
            shop_id=shop.id,
            event_type=event_type,
            customer_id="7001",
            payload={"id": 1},
            occurred_at=now,
            received_at=now,
            status="dead",
            attempts=5,
            last_error=error,
        )
    )
    letter = DeadLetter(
        shop_id=shop.id,
        event_id=event_id,
        stream_id="1-0",
        deliveries=5,
        error=f"Traceback (most recent call last):\nValueError: {error}",
        fields={"event_id": str(event_id), "event_type": event_type, "shop_domain": shop.domain},
        created_at=now,
    )
    session.add(letter)
    session.commit()
    return letter
