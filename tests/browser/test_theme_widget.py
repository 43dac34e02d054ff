"""The theme widget in Debian's Chromium: the development storefront renders the theme app extension's real Liquid,
its app-proxy stand-in signs each request as Shopify does, and the widget opens, shows the balance, redeems a reward
and shows the code once the app has created it; a guest is invited to join. Screenshots go to SHOTS
(/tmp/shots-<checkout folder>/, or $LOYALTY_SHOTS).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select
from werkzeug.serving import make_server

from app.config import DEV_API_KEY, DEV_API_SECRET
from app.loyalty import rewards
from app.models import RedemptionLog
from app.shopify.development import DEMO_SHOP
from tests.browser_fixtures import SHOTS
from tests.graphql.storefront_helpers import SHOPPER_A, seed_programme

pytestmark = pytest.mark.browser


@pytest.fixture
def settings_overrides(settings_overrides: dict[str, Any]) -> dict[str, Any]:
    return {
        **settings_overrides,
        "app_env": "development",
        "shopify_api_key": DEV_API_KEY,
        "shopify_api_secret": DEV_API_SECRET,
        "shopify_admin_origin": None,
    }


@pytest.fixture
def live_url(app, db_session, make_shop) -> Iterator[str]:  # type: ignore[no-untyped-def]
    shop = make_shop(DEMO_SHOP)
    seed_programme(db_session, shop)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture
def page(browser) -> Iterator[Page]:  # type: ignore[no-untyped-def]
    """A fresh page of the session's one Chromium (tests/browser_fixtures.py)."""
    SHOTS.mkdir(exist_ok=True)
    context = browser.new_context(viewport={"width": 1100, "height": 820})
    yield context.new_page()
    context.close()


def test_a_shopper_opens_the_panel_redeems_and_sees_the_code(live_url, page, db_session) -> None:  # type: ignore[no-untyped-def]
    proxied: list[str] = []
    page.on("request", lambda request: proxied.append(request.url) if "/apps/loyalty/" in request.url else None)
    page.goto(f"{live_url}/dev/storefront?customer={SHOPPER_A}")
    launcher = page.locator("[data-launcher]")
    expect(launcher).to_have_text("Rewards")
    assert proxied == []  # nothing is fetched before the shopper opens the panel
    page.screenshot(path=str(SHOTS / "1-closed.png"))

    launcher.click()
    expect(page.locator("[data-balance]")).to_have_text("1,200 Points")
    expect(page.locator("[data-tier]")).to_have_text("Bronze")
    expect(page.get_by_text("Customers earn 500 Points (First order bonus) when an order is placed")).to_be_visible()
    page.screenshot(path=str(SHOTS / "2-open.png"))

    page.locator("[data-redeem]").first.click()
    expect(page.locator("[data-balance]")).to_have_text("700 Points")
    expect(page.locator("[data-notice]")).to_contain_text("Your code is being created")
    # The outward adapter creates the code in Shopify and settles the redemption; the widget then shows it.
    redemption = db_session.execute(select(RedemptionLog)).scalar_one()
    rewards.settle(db_session, shop_id=redemption.shop_id, redemption_id=redemption.id, now=datetime.now(timezone.utc))
    db_session.commit()
    expect(page.locator("[data-code]").first).to_have_text(redemption.code, timeout=10_000)
    page.screenshot(path=str(SHOTS / "3-redeemed.png"))
    assert all("/apps/loyalty/graphql" in url for url in proxied)


def test_the_theme_cannot_restyle_the_widget(live_url, page) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{live_url}/dev/storefront?customer={SHOPPER_A}")
    # The test page's theme sets every button hot pink at 30px, !important; the shadow root keeps ours.
    launcher = page.locator("[data-launcher]")
    assert launcher.evaluate("b => getComputedStyle(b).fontSize") == "15px"
    assert launcher.evaluate("b => getComputedStyle(b).backgroundColor") == "rgb(31, 81, 50)"


def test_a_guest_is_invited_to_join(live_url, page) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{live_url}/dev/storefront?customer=&ref=REF-FRIEND")
    page.locator("[data-launcher]").click()
    guest = page.locator("[data-guest]")
    expect(guest).to_contain_text("Join our rewards programme")
    expect(guest.get_by_role("link", name="Sign in")).to_have_attribute("href", "/account/login")
    expect(page.get_by_text("A friend sent you here: join and get 200 Points.")).to_be_visible()
    expect(page.locator("[data-balance]")).to_have_count(0)
    page.screenshot(path=str(SHOTS / "4-guest.png"))
