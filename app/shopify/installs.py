"""Installing a shop: the shop row is created (or an uninstalled one re-activated, with its data) only here, when
Shopify grants an offline token, by token exchange on an admin load or by the authorization-code callback.

Both run under the shop's token lock (app/shopify/tokens.py), so two first loads at once exchange once: the second
finds the token the first stored. A second exchange would not be harmless, because a new offline pair retires the
refresh token of the previous one.
"""

from __future__ import annotations

from datetime import datetime

from shopify_app import IdTokenDetails, Res, token_exchange
from sqlalchemy.orm import Session

from app.models import Shop
from app.shopify.app_config import app_config_for
from app.shopify.token_cipher import TokenCipher
from app.shopify.tokens import (
    OfflineToken,
    TokenContext,
    find_shop,
    lock_shop_tokens,
    needs_token_exchange,
    store_offline_token,
)


class InstallRefused(Exception):
    """Shopify granted no token; `code` is shopify_app's log code and `response` the answer it suggests, if any."""

    def __init__(self, domain: str, code: str, response: Res | None = None) -> None:
        super().__init__(f"Shopify granted no access token for {domain} ({code})")
        self.domain = domain
        self.code = code
        self.response = response


def install_with_id_token(
    context: TokenContext,
    domain: str,
    id_token: IdTokenDetails,
    *,
    invalid_token_response: Res | None,
    now: datetime,
) -> None:
    """Exchange a verified App Home ID token for an expiring offline token and install the shop with it, unless
    another request did so while this one waited; raises InstallRefused when Shopify grants nothing."""
    with context.sessions.begin() as session:
        lock_shop_tokens(session, domain)
        if not needs_token_exchange(find_shop(session, domain), now):
            return
        result = token_exchange(
            "offline",
            app_config_for(context.settings),
            id_token=id_token,
            invalid_token_response=invalid_token_response,
            expiring=True,
            http_client=context.http,
        )
        if not result.ok or result.access_token is None:
            raise InstallRefused(domain, result.log.code, result.response)
        mark_installed(session, domain, OfflineToken.granted(result.access_token), cipher=context.cipher, now=now)


def install_with_token(context: TokenContext, domain: str, token: OfflineToken, *, now: datetime) -> None:
    """Install the shop with a token granted another way (the authorization-code callback)."""
    with context.sessions.begin() as session:
        lock_shop_tokens(session, domain)
        mark_installed(session, domain, token, cipher=context.cipher, now=now)


def mark_installed(session: Session, domain: str, token: OfflineToken, *, cipher: TokenCipher, now: datetime) -> Shop:
    """Create the shop, or re-activate it (keeping its data), and store its token pair; the caller holds the lock."""
    shop = find_shop(session, domain)
    if shop is None:
        shop = Shop(domain=domain, installed_at=now)
        session.add(shop)
    elif shop.installed_at is None or shop.uninstalled_at is not None:
        shop.installed_at, shop.uninstalled_at = now, None
    store_offline_token(session, shop=shop, token=token, cipher=cipher)
    return shop
