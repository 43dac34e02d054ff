"""A shop's offline Admin API token: stored encrypted on its row, refreshed before it expires, read back for the
Admin API client.

Expiring offline tokens (token exchange with `expiring=1`) last an hour and come with a rotating refresh token; both
are stored encrypted (app/shopify/token_cipher.py), never in clear, never logged and never put in an error message.

What the Admin API client calls:
- `access_token_for(context, shop_domain)` before a call: the token, refreshed first when it expires within
  REFRESH_MARGIN;
- `refresh_after_unauthorized(context, shop_domain, rejected_token=...)` once, after Shopify answered 401 to it.
Both raise ShopNotConnected when there is nothing to send (never installed, uninstalled, refresh refused: the next
admin load exchanges a new token) and TokenRefreshFailed when Shopify could not be asked (retry later).

One refresh per shop at a time across processes: a transaction-scoped advisory lock per shop domain, and whoever
gets it second finds the new pair already stored. The new pair is committed in its own transaction, whatever the
caller's transaction does: Shopify rotates the refresh token on use, so a refreshed pair that was rolled back
would leave the shop with a dead refresh token.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import httpx
from shopify_app import TokenExchangeAccessToken, refresh_access_token
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.loyalty.base.installation import Installation, installation_of
from app.models import Shop
from app.shopify.app_config import app_config_for
from app.shopify.shop_domains import shop_handle
from app.shopify.token_cipher import InvalidToken, TokenCipher

# Refresh this long before the access token expires, so a call never starts with a token about to die. (shopify_app
# refreshes within 60 s of expiry; we decide when, and always let it refresh once we have decided.)
REFRESH_MARGIN = timedelta(minutes=5)
# What development mode stores for its demo shop, which has no Shopify behind it: the admin treats the shop as
# connected, and the Admin API client gets ShopNotConnected instead of a token, so nothing is sent to Shopify.
DEVELOPMENT_TOKEN = "loyalty-development-shop-has-no-shopify-token"
# Refresh and exchange errors after which only a new token exchange helps.
REFRESH_REFUSED = frozenset({"invalid_grant", "refresh_token_expired", "configuration_error"})
_LOCK = text("SELECT pg_advisory_xact_lock(hashtext('shopify-token'), hashtext(:domain))")


class ShopNotConnected(Exception):
    """The shop has no usable offline token (never installed, uninstalled, or it must exchange a new one)."""

    def __init__(self, domain: str, why: str) -> None:
        super().__init__(f"{domain} has no usable Admin API token: {why}")
        self.domain = domain


class TokenRefreshFailed(Exception):
    """Shopify could not be asked for a new token (network, 5xx, throttled); the stored pair is unchanged."""

    def __init__(self, domain: str, code: str) -> None:
        super().__init__(f"refreshing the Admin API token of {domain} failed ({code}); retry later")
        self.domain = domain
        self.code = code


@dataclass(frozen=True)
class OfflineToken:
    """What Shopify's token endpoint granted (expiry fields are None for a non-expiring token)."""

    access_token: str
    scopes: str
    expires_at: datetime | None = None
    refresh_token: str | None = None
    refresh_token_expires_at: datetime | None = None

    def __repr__(self) -> str:  # never print the tokens, even in a traceback's locals
        return f"OfflineToken(scopes={self.scopes!r}, expires_at={self.expires_at!r})"

    @classmethod
    def granted(cls, token: TokenExchangeAccessToken) -> OfflineToken:
        """From shopify_app's token (its expiry times are ISO 8601 strings)."""
        return cls(
            access_token=token.token,
            scopes=token.scope,
            expires_at=_parse_time(token.expires),
            refresh_token=token.refresh_token or None,
            refresh_token_expires_at=_parse_time(token.refresh_token_expires),
        )


@dataclass(frozen=True)
class TokenContext:
    """What getting and refreshing tokens needs: settings, the cipher, the one Shopify HTTP client, and sessions of
    its own (token writes commit on their own, see the module docstring)."""

    settings: Settings
    cipher: TokenCipher
    http: httpx.Client
    sessions: sessionmaker[Session]


def store_offline_token(session: Session, *, shop: Shop, token: OfflineToken, cipher: TokenCipher) -> None:
    """Keep the new token pair on the shop's row, encrypted, replacing the old pair in the caller's transaction."""
    shop.access_token = cipher.encrypt(token.access_token)
    shop.access_token_expires_at = token.expires_at
    shop.refresh_token = cipher.encrypt(token.refresh_token) if token.refresh_token else None
    shop.refresh_token_expires_at = token.refresh_token_expires_at
    shop.scopes = token.scopes
    session.flush()


def forget_tokens(session: Session, shop: Shop) -> None:
    """Drop the stored pair: the shop stays installed and its next admin load exchanges a new token."""
    shop.access_token = None
    shop.refresh_token = None
    shop.access_token_expires_at = None
    shop.refresh_token_expires_at = None
    session.flush()


def stored_access_token(shop: Shop, cipher: TokenCipher) -> str:
    """The shop's access token in clear, for one outward call; raises ShopNotConnected when there is none."""
    installation = installation_of(shop)
    if installation is Installation.UNINSTALLED:
        raise ShopNotConnected(shop.domain, "the app is uninstalled")
    if installation is Installation.NEVER_INSTALLED or shop.access_token is None:
        raise ShopNotConnected(shop.domain, "no token has been exchanged yet (the next admin load exchanges one)")
    try:
        token = cipher.decrypt(shop.access_token)
    except InvalidToken:
        raise ShopNotConnected(shop.domain, "no key in LOYALTY_ENCRYPTION_KEY opens the stored token") from None
    if token == DEVELOPMENT_TOKEN:
        raise ShopNotConnected(shop.domain, "a development shop: nothing is sent to Shopify")
    return token


def needs_token_exchange(shop: Shop | None, now: datetime) -> bool:
    """Whether an admin load must exchange its ID token: the shop is not installed, or it has no token that works
    or can be refreshed (none stored, or the refresh token has expired)."""
    if installation_of(shop) is not Installation.INSTALLED:
        return True
    assert shop is not None
    if shop.access_token is None:
        return True
    if shop.refresh_token is None:
        return shop.access_token_expires_at is not None and shop.access_token_expires_at <= now
    return shop.refresh_token_expires_at is not None and shop.refresh_token_expires_at <= now


def lock_shop_tokens(session: Session, domain: str) -> None:
    """Serialise token exchanges and refreshes of one shop across processes, until the transaction ends."""
    session.execute(_LOCK, {"domain": domain})


def find_shop(session: Session, domain: str) -> Shop | None:
    """The shop's row as the database has it now (not as an earlier read in this session left it)."""
    return session.execute(
        select(Shop).where(Shop.domain == domain).execution_options(populate_existing=True)
    ).scalar_one_or_none()


def access_token_for(context: TokenContext, shop_domain: str, *, now: datetime | None = None) -> str:
    """The shop's access token for an Admin API call, refreshed first when it expires within REFRESH_MARGIN."""
    now = now or datetime.now(timezone.utc)
    with context.sessions() as session:
        shop = _required_shop(session, shop_domain)
        token = stored_access_token(shop, context.cipher)
        if not _expires_soon(shop, now):
            return token
    return _refresh(context, shop_domain, rejected_token=None, now=now)


def refresh_after_unauthorized(context: TokenContext, shop_domain: str, *, rejected_token: str) -> str:
    """A new access token after Shopify answered 401 to `rejected_token`; when another process already replaced
    it, that newer token, without asking Shopify again. Call it once per 401, then retry the call once."""
    return _refresh(context, shop_domain, rejected_token=rejected_token, now=datetime.now(timezone.utc))


def _refresh(context: TokenContext, shop_domain: str, *, rejected_token: str | None, now: datetime) -> str:
    refused = None
    with context.sessions.begin() as session:
        lock_shop_tokens(session, shop_domain)
        shop = _required_shop(session, shop_domain)
        current = stored_access_token(shop, context.cipher)
        if (rejected_token is None and not _expires_soon(shop, now)) or (
            rejected_token is not None and current != rejected_token
        ):
            return current  # another process refreshed while this one waited for the lock
        if shop.refresh_token is None:
            refused = "the token does not expire and cannot be refreshed, and Shopify refused it"
        else:
            result = refresh_access_token(
                {
                    "shop": shop_handle(shop.domain),
                    "refresh_token": context.cipher.decrypt(shop.refresh_token),
                    # Empty: refresh now. Given the expiry, shopify_app would skip a refresh more than 60 s early.
                    "expires": "",
                    "refresh_token_expires": _format_time(shop.refresh_token_expires_at),
                    "access_mode": "offline",
                },
                app_config_for(context.settings),
                http_client=context.http,
            )
            if result.ok and result.access_token is not None:
                token = OfflineToken.granted(result.access_token)
                store_offline_token(session, shop=shop, token=token, cipher=context.cipher)
                return token.access_token
            if result.log.code not in REFRESH_REFUSED:
                raise TokenRefreshFailed(shop_domain, result.log.code)
            refused = f"Shopify refused the refresh token ({result.log.code})"
        forget_tokens(session, shop)
    # Raised after the block, so that forgetting the dead pair is committed.
    raise ShopNotConnected(shop_domain, f"{refused}; the next admin load exchanges a new token")


def _required_shop(session: Session, domain: str) -> Shop:
    shop = find_shop(session, domain)
    if shop is None:
        raise ShopNotConnected(domain, "the app was never installed on this shop")
    return shop


def _expires_soon(shop: Shop, now: datetime) -> bool:
    return shop.access_token_expires_at is not None and shop.access_token_expires_at <= now + REFRESH_MARGIN


def _parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def _format_time(value: datetime | None) -> str:
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if value else ""
