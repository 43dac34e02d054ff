"""Development mode: the admin opens at the app's URL for the demo shop with no Shopify, through a stand-in for App
Bridge that signs real App Home tokens, so the same verification path runs; never outside development."""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import urlsplit

import jwt
import pytest
from sqlalchemy import select

from app.config import DEV_API_KEY, DEV_API_SECRET, load_settings
from app.models import Shop
from app.paths import PROJECT_ROOT
from app.shopify.context import token_context
from app.shopify.development import DEMO_SHOP, connect_demo_shop
from app.shopify.tokens import DEVELOPMENT_TOKEN, OfflineToken, ShopNotConnected, access_token_for, store_offline_token

APP_URL = "http://127.0.0.1:5000"


@pytest.fixture
def settings_overrides(settings_overrides: dict[str, Any]) -> dict[str, Any]:
    """Development with no Shopify app configured and no fake Shopify: the stand-in is on."""
    return {
        **settings_overrides,
        "app_env": "development",
        "shopify_api_key": DEV_API_KEY,
        "shopify_api_secret": DEV_API_SECRET,
        "shopify_app_url": APP_URL,
        "shopify_admin_origin": None,
    }


@pytest.fixture
def seeded(runner: Any) -> str:
    result = runner.invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    return result.output


def demo_shop(db_session: Any) -> Shop:
    db_session.expire_all()
    return db_session.execute(select(Shop).where(Shop.domain == DEMO_SHOP)).scalar_one()


def test_the_seed_connects_the_demo_shop_without_shopify_and_prints_the_admin_url(  # type: ignore[no-untyped-def]
    app, seeded, db_session
) -> None:
    assert f"admin:         {APP_URL}/  (development, no Shopify: connected without Shopify" in seeded
    shop = demo_shop(db_session)
    assert token_context(app).cipher.decrypt(shop.access_token) == DEVELOPMENT_TOKEN
    with pytest.raises(ShopNotConnected, match="development shop: nothing is sent to Shopify"):
        access_token_for(token_context(app), DEMO_SHOP)


def test_opening_the_app_url_walks_the_real_verification_path_to_the_admin(app, seeded, db_session) -> None:  # type: ignore[no-untyped-def]
    browser = app.test_client()
    marker = demo_shop(db_session).access_token

    first = browser.get("/")
    assert first.status_code == 302
    bounce = urlsplit(first.headers["Location"])
    assert (bounce.netloc, bounce.path, bounce.query) == (
        "127.0.0.1:5000",
        "/auth/patch-id-token",
        "shopify-reload=%2F",
    )

    page = browser.get(f"{bounce.path}?{bounce.query}")
    assert page.status_code == 200
    assert '<script src="/dev/app-bridge.js"></script>' in page.get_data(as_text=True)

    standin = browser.get("/dev/app-bridge.js")
    assert standin.status_code == 200 and standin.mimetype == "text/javascript"
    script = standin.get_data(as_text=True)
    assert 'var TOKEN_URL = "/dev/id-token";' in script
    assert f'apiKey: "{DEV_API_KEY}", shop: "{DEMO_SHOP}"' in script

    token = browser.post("/dev/id-token", headers={"X-Loyalty-Development": "1"}).get_data(as_text=True)
    claims = jwt.decode(token, DEV_API_SECRET, algorithms=["HS256"], audience=DEV_API_KEY)
    assert (claims["dest"], claims["iss"], claims["sub"]) == (f"https://{DEMO_SHOP}", f"https://{DEMO_SHOP}/admin", "1")

    admin = browser.get("/", query_string={"id_token": token})
    html = admin.get_data(as_text=True)
    assert admin.status_code == 200
    assert f"Connected to <strong>{DEMO_SHOP}</strong>" in html and "Signed in as staff user 1." in html
    assert '<script src="/dev/app-bridge.js"></script>' in html and "cdn.shopify.com" not in html
    htmx = browser.get("/", headers={"Authorization": f"Bearer {token}", "HX-Request": "true"})
    assert htmx.status_code == 200 and "<html" not in htmx.get_data(as_text=True)
    assert demo_shop(db_session).access_token == marker  # no token exchange was attempted


@pytest.mark.parametrize(
    ("headers", "remote_addr"),
    [({}, "127.0.0.1"), ({"X-Loyalty-Development": "1"}, "192.0.2.10")],
    ids=["no-header", "not-loopback"],
)
def test_the_token_endpoint_answers_only_this_machines_browser(app, headers, remote_addr) -> None:  # type: ignore[no-untyped-def]
    response = app.test_client().post("/dev/id-token", headers=headers, environ_base={"REMOTE_ADDR": remote_addr})
    assert response.status_code == 403
    assert "X-Loyalty-Development" in response.get_json()["message"]


PRODUCTION = {
    "APP_ENV": "production",
    "DATABASE_URL": "postgresql+psycopg://db/loyalty",
    "REDIS_URL": "redis://redis:6379/0",
    "SHOPIFY_API_KEY": DEV_API_KEY,  # even with the development key
    "SHOPIFY_API_SECRET": "s",
    "SHOPIFY_APP_URL": "https://loyalty.example",
    "SHOPIFY_SCOPES": "read_orders",
    "LOYALTY_ENCRYPTION_KEY": "k",
}


@pytest.mark.parametrize(
    ("environ", "development_admin"),
    [
        ({"APP_ENV": "development"}, True),
        ({"APP_ENV": "development", "SHOPIFY_API_KEY": "a-real-partner-app"}, False),  # shopify app dev
        ({"APP_ENV": "test"}, False),
        (PRODUCTION, False),
    ],
    ids=["development", "shopify-cli", "test", "production"],
)
def test_the_stand_in_is_only_for_development_without_a_shopify_app(environ, development_admin) -> None:  # type: ignore[no-untyped-def]
    assert load_settings(environ).development_admin is development_admin


def test_with_a_fake_shopify_the_seed_leaves_the_token_to_a_real_exchange(app, db_session) -> None:  # type: ignore[no-untyped-def]
    context = token_context(app)
    shop = Shop(domain=DEMO_SHOP, installed_at=None)
    db_session.add(shop)
    store_offline_token(
        db_session, shop=shop, token=OfflineToken(DEVELOPMENT_TOKEN, "read_orders"), cipher=context.cipher
    )
    with_fake = type(context)(
        settings=context.settings.with_overrides(shopify_admin_origin="http://127.0.0.1:8765"),
        cipher=context.cipher,
        http=context.http,
        sessions=context.sessions,
    )
    assert connect_demo_shop(db_session, shop, with_fake) == (
        "the first admin load exchanges a token at http://127.0.0.1:8765"
    )
    assert shop.access_token is None


def test_the_vendored_htmx_is_the_one_vendored_md_records() -> None:
    vendor = PROJECT_ROOT / "web" / "static" / "vendor"
    recorded = (vendor / "VENDORED.md").read_text()
    digest = hashlib.sha256((vendor / "htmx-2.0.11.min.js").read_bytes()).hexdigest()
    assert "| `htmx-2.0.11.min.js` | `htmx.org` | 2.0.11 |" in recorded and f"`{digest}`" in recorded
    assert 'HTMX_VERSION="2.0.11"' in (PROJECT_ROOT / "scripts" / "vendor.sh").read_text()
