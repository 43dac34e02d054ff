"""Managed install: the first admin page load of a shop exchanges its App Home ID token for an expiring offline
token at the fake Shopify, creates the shop, and stores the pair encrypted; later loads exchange nothing."""

from __future__ import annotations

import json
import re
import threading
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from app.models import Shop
from app.shopify.context import token_context
from tests.shopify.conftest import SHOP, STAFF_USER_ID
from tests.shopify_fake.oauth import ID_TOKEN_TYPE, OFFLINE_TOKEN_TYPE, TOKEN_EXCHANGE_GRANT

CSP = f"frame-ancestors https://{SHOP} https://admin.shopify.com;"


def stored_shop(db_session) -> Shop:  # type: ignore[no-untyped-def]
    db_session.expire_all()
    return db_session.execute(select(Shop).where(Shop.domain == SHOP)).scalar_one()


def test_the_first_page_load_exchanges_the_id_token_and_installs_the_shop(  # type: ignore[no-untyped-def]
    app, admin, shopify_fake, db_session
) -> None:
    token = shopify_fake.signer.app_home_token(shop=SHOP, user_id=STAFF_USER_ID)
    before = datetime.now(timezone.utc)

    response = admin.page(token)

    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert f"Connected to <strong>{SHOP}</strong>" in page
    assert f"Signed in as staff user {STAFF_USER_ID}." in page
    assert response.headers["Content-Security-Policy"] == CSP
    [exchange] = shopify_fake.recorder.token_requests(shop=SHOP)
    sent = json.loads(exchange.body)
    assert {key: sent[key] for key in sent if key not in ("subject_token", "client_secret")} == {
        "client_id": "test-api-key",
        "grant_type": TOKEN_EXCHANGE_GRANT,
        "subject_token_type": ID_TOKEN_TYPE,
        "requested_token_type": OFFLINE_TOKEN_TYPE,
        "expiring": 1,
    }
    assert sent["subject_token"] == token

    shop = stored_shop(db_session)
    assert shop.installed_at is not None and shop.installed_at >= before and shop.uninstalled_at is None
    assert shop.scopes == shopify_fake.config.scopes
    assert timedelta(minutes=59) < shop.access_token_expires_at - before <= timedelta(minutes=61)
    assert shop.refresh_token_expires_at - before > timedelta(days=89)
    cipher = token_context(app).cipher
    access, refresh = cipher.decrypt(shop.access_token), cipher.decrypt(shop.refresh_token)
    assert shopify_fake.state.shop_for_access_token(access, SHOP)
    assert refresh in shopify_fake.state.refresh_tokens
    assert access not in shop.access_token and refresh not in shop.refresh_token


def test_later_page_loads_and_htmx_requests_exchange_nothing(admin, shopify_fake) -> None:  # type: ignore[no-untyped-def]
    admin.install()
    again = admin.page(shopify_fake.signer.app_home_token(shop=SHOP))
    fragment = admin.htmx(shopify_fake.signer.app_home_token(shop=SHOP, user_id="42"))

    assert again.status_code == 200 and fragment.status_code == 200
    assert fragment.get_data(as_text=True).strip().startswith(f"<p>Connected to <strong>{SHOP}</strong>")
    assert "Signed in as staff user 42." in fragment.get_data(as_text=True)
    assert "<html" not in fragment.get_data(as_text=True)  # htmx gets the fragment, not the page
    assert fragment.headers["Content-Security-Policy"] == CSP
    assert len(shopify_fake.recorder.token_requests()) == 1


def test_a_page_load_without_an_id_token_goes_to_the_bounce_page(admin, shopify_fake) -> None:  # type: ignore[no-untyped-def]
    response = admin.page(None)

    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith("https://loyalty.test/auth/patch-id-token?")
    assert "shopify-reload=%2F%3Fshop%3Dtest-shop.myshopify.com%26embedded%3D1" in location
    assert shopify_fake.recorder.requests == []


def test_the_bounce_page_loads_app_bridge_for_the_shop(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/auth/patch-id-token", query_string={"shop": SHOP, "shopify-reload": "/"})

    assert response.status_code == 200
    assert 'src="https://cdn.shopify.com/shopifycloud/app-bridge.js"' in response.get_data(as_text=True)
    assert response.headers["Content-Security-Policy"] == CSP


def test_the_bounce_page_refuses_a_shop_that_is_not_a_shop(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get(
        "/auth/patch-id-token", query_string={"shop": "evil.test; script-src *", "shopify-reload": "/"}
    )
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_shop"
    assert "Content-Security-Policy" not in response.headers


def test_concurrent_first_loads_exchange_once(app, shopify_fake, db_session) -> None:  # type: ignore[no-untyped-def]
    barrier = threading.Barrier(5)
    statuses: list[int] = []

    def load() -> None:
        token = shopify_fake.signer.app_home_token(shop=SHOP)
        client = app.test_client()
        barrier.wait()
        statuses.append(client.get("/", query_string={"shop": SHOP, "id_token": token}).status_code)

    threads = [threading.Thread(target=load) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert statuses == [200] * 5
    assert len(shopify_fake.recorder.token_requests()) == 1
    assert db_session.execute(select(func.count()).select_from(Shop)).scalar_one() == 1


def test_shopify_refusing_the_exchange_installs_nothing(admin, shopify_fake, db_session) -> None:  # type: ignore[no-untyped-def]
    shopify_fake.faults.server_error("oauth", status=503, times=3)

    response = admin.htmx(shopify_fake.signer.app_home_token(shop=SHOP))
    page = admin.page(shopify_fake.signer.app_home_token(shop=SHOP))

    assert response.status_code == 401  # an htmx request never installs
    assert (page.status_code, page.get_json()["error"]) == (502, "token_exchange_failed")
    assert "Shopify granted no access token for test-shop.myshopify.com" in page.get_json()["message"]
    assert db_session.execute(select(func.count()).select_from(Shop)).scalar_one() == 0


@pytest.mark.parametrize("path", ["/dev/app-bridge.js", "/dev/id-token"])
def test_outside_development_there_is_no_stand_in(client, path) -> None:  # type: ignore[no-untyped-def]
    response = client.get(path) if path.endswith(".js") else client.post(path, headers={"X-Loyalty-Development": "1"})
    assert response.status_code == 404


def test_production_pages_load_app_bridge_from_shopify_with_the_api_key(client, shopify_fake, make_shop) -> None:  # type: ignore[no-untyped-def]
    make_shop(access_token="stored")
    html = client.get("/", query_string={"id_token": shopify_fake.signer.app_home_token()}).get_data(as_text=True)
    head = html[: html.index("</head>")]
    assert re.search(
        r'<meta name="shopify-api-key" content="test-api-key">\s*'
        r'<script src="https://cdn.shopify.com/shopifycloud/app-bridge.js"></script>',
        head,
    )
    assert head.index("app-bridge.js") < head.index("htmx-2.0.11.min.js") < head.index("session_token.js")
    assert "/dev/" not in html
