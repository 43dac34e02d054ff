"""The Admin API token: refreshed before it expires and once after a 401, one refresh per shop however many callers,
`invalid_grant` then a new exchange, encrypted everywhere it is stored."""

from __future__ import annotations

import json
import logging
import threading
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select, text, update

from app.models import Shop
from app.shopify.context import token_context
from app.shopify.tokens import (
    DEVELOPMENT_TOKEN,
    OfflineToken,
    ShopNotConnected,
    TokenRefreshFailed,
    access_token_for,
    refresh_after_unauthorized,
    store_offline_token,
)
from tests.shopify.conftest import SHOP


def refresh_requests(fake) -> list:  # type: ignore[no-untyped-def]
    return [r for r in fake.recorder.token_requests(shop=SHOP) if json.loads(r.body)["grant_type"] == "refresh_token"]


def stored(app, db_session) -> tuple[str, str | None, Shop]:  # type: ignore[no-untyped-def]
    db_session.expire_all()
    shop = db_session.execute(select(Shop).where(Shop.domain == SHOP)).scalar_one()
    cipher = token_context(app).cipher
    refresh = cipher.decrypt(shop.refresh_token) if shop.refresh_token else None
    return cipher.decrypt(shop.access_token), refresh, shop


def expire_soon(db_session, minutes: int = 2) -> None:  # type: ignore[no-untyped-def]
    soon = datetime.now(timezone.utc) + timedelta(minutes=minutes)
    db_session.execute(update(Shop).where(Shop.domain == SHOP).values(access_token_expires_at=soon))
    db_session.commit()


def test_a_token_far_from_expiry_is_returned_without_asking_shopify(app, admin, shopify_fake, db_session) -> None:  # type: ignore[no-untyped-def]
    admin.install()
    access, _, _ = stored(app, db_session)
    assert access_token_for(token_context(app), SHOP) == access
    assert refresh_requests(shopify_fake) == []


def test_a_token_about_to_expire_is_refreshed_and_the_new_pair_stored(app, admin, shopify_fake, db_session) -> None:  # type: ignore[no-untyped-def]
    admin.install()
    old_access, old_refresh, _ = stored(app, db_session)
    expire_soon(db_session)

    new_access = access_token_for(token_context(app), SHOP)

    [refresh] = refresh_requests(shopify_fake)
    assert json.loads(refresh.body)["refresh_token"] == old_refresh
    access, refresh_token, shop = stored(app, db_session)
    assert new_access == access != old_access
    assert refresh_token != old_refresh and shopify_fake.state.refresh_tokens[old_refresh].used
    assert shop.access_token_expires_at > datetime.now(timezone.utc) + timedelta(minutes=59)
    assert shopify_fake.state.shop_for_access_token(new_access, SHOP)


def test_twenty_threads_at_once_cause_exactly_one_refresh(app, admin, shopify_fake, db_session) -> None:  # type: ignore[no-untyped-def]
    admin.install()
    expire_soon(db_session)
    context = token_context(app)
    barrier = threading.Barrier(20)
    tokens: list[str] = []
    errors: list[BaseException] = []

    def call() -> None:
        barrier.wait()
        try:
            tokens.append(access_token_for(context, SHOP))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert len(refresh_requests(shopify_fake)) == 1
    assert len(tokens) == 20 and set(tokens) == {stored(app, db_session)[0]}


def test_a_401_refreshes_once_and_a_second_caller_gets_the_new_token_without_asking(  # type: ignore[no-untyped-def]
    app, admin, shopify_fake, db_session
) -> None:
    admin.install()
    rejected, _, _ = stored(app, db_session)
    context = token_context(app)

    first = refresh_after_unauthorized(context, SHOP, rejected_token=rejected)
    second = refresh_after_unauthorized(context, SHOP, rejected_token=rejected)

    assert first == second == stored(app, db_session)[0] != rejected
    assert len(refresh_requests(shopify_fake)) == 1


def test_invalid_grant_forgets_the_pair_and_the_next_page_load_exchanges_again(  # type: ignore[no-untyped-def]
    app, admin, shopify_fake, db_session
) -> None:
    admin.install()
    _, refresh, _ = stored(app, db_session)
    shopify_fake.state.expire_refresh_token(refresh)  # Shopify now answers invalid_grant
    expire_soon(db_session)
    context = token_context(app)

    with pytest.raises(ShopNotConnected, match=r"refused the refresh token \(invalid_grant\).*next admin load"):
        access_token_for(context, SHOP)
    db_session.expire_all()
    shop = db_session.execute(select(Shop).where(Shop.domain == SHOP)).scalar_one()
    assert (shop.access_token, shop.refresh_token, shop.uninstalled_at) == (None, None, None)
    with pytest.raises(ShopNotConnected, match="no token has been exchanged"):
        access_token_for(context, SHOP)

    admin.install()  # the next admin load
    exchanges = [r for r in shopify_fake.recorder.token_requests() if "subject_token" in json.loads(r.body)]
    assert len(exchanges) == 2
    assert shopify_fake.state.shop_for_access_token(access_token_for(context, SHOP), SHOP)


def test_a_shopify_outage_during_refresh_changes_nothing(app, admin, shopify_fake, db_session) -> None:  # type: ignore[no-untyped-def]
    admin.install()
    expire_soon(db_session)
    before = stored(app, db_session)[:2]
    shopify_fake.faults.server_error("oauth", status=503, times=3)  # shopify_app retries 5xx twice

    with pytest.raises(TokenRefreshFailed, match=r"test-shop.myshopify.com failed \(server_error\); retry later"):
        access_token_for(token_context(app), SHOP)
    assert stored(app, db_session)[:2] == before


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        ({"uninstalled_at": datetime(2026, 2, 1, tzinfo=timezone.utc)}, "the app is uninstalled"),
        ({"installed_at": None}, "no token has been exchanged"),
    ],
    ids=["uninstalled", "never-installed-row"],
)
def test_a_shop_that_is_not_installed_gets_no_token_and_nothing_is_sent(  # type: ignore[no-untyped-def]
    app, admin, shopify_fake, db_session, columns, message
) -> None:
    admin.install()
    db_session.execute(update(Shop).where(Shop.domain == SHOP).values(**columns))
    db_session.commit()
    shopify_fake.recorder.clear()
    with pytest.raises(ShopNotConnected, match=message):
        access_token_for(token_context(app), SHOP)
    with pytest.raises(ShopNotConnected, match=message):
        refresh_after_unauthorized(token_context(app), SHOP, rejected_token="shpat_whatever")
    assert shopify_fake.recorder.requests == []


def test_an_unknown_shop_gets_no_token(app, shopify_fake) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ShopNotConnected, match="never installed"):
        access_token_for(token_context(app), "nobody.myshopify.com")
    assert shopify_fake.recorder.requests == []


def test_the_development_marker_is_never_sent_to_shopify(app, make_shop, db_session, shopify_fake) -> None:  # type: ignore[no-untyped-def]
    shop = make_shop()
    context = token_context(app)
    store_offline_token(
        db_session, shop=shop, token=OfflineToken(DEVELOPMENT_TOKEN, "read_orders"), cipher=context.cipher
    )
    db_session.commit()
    with pytest.raises(ShopNotConnected, match="development shop: nothing is sent to Shopify"):
        access_token_for(context, SHOP)
    assert shopify_fake.recorder.requests == []


def test_no_token_is_found_in_clear_in_any_row_or_any_log(app, admin, shopify_fake, db_session, caplog) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.DEBUG)
    admin.install()
    first = stored(app, db_session)[:2]
    expire_soon(db_session)
    access_token_for(token_context(app), SHOP)
    second = stored(app, db_session)[:2]
    secrets = {token for token in (*first, *second) if token}
    assert len(secrets) == 4

    # Every row of every table of the test database, as text: what a data dump would hold.
    tables = db_session.execute(
        text(
            "SELECT quote_ident(table_schema) || '.' || quote_ident(table_name) FROM information_schema.tables"
            " WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')"
        )
    ).scalars()
    dump = "\n".join(
        row for table in tables for row in db_session.execute(text(f"SELECT t::text FROM {table} t")).scalars()
    )
    assert SHOP in dump  # the dump is real
    assert [secret for secret in secrets if secret in dump] == []
    assert [secret for secret in secrets if secret in caplog.text] == []
    assert [
        secret for secret in secrets if secret in repr(OfflineToken(secret, "read_orders", refresh_token=secret))
    ] == []
