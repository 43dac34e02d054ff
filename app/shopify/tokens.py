"""A shop's offline Admin API token: stored encrypted on its row, read back for the Admin API client.

Expiring offline tokens (token exchange with `expiring=1`) come with a rotating refresh token; both are stored
encrypted, never in clear, and never logged.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from app.models import Shop
from app.shopify.token_cipher import TokenCipher


class ShopNotConnected(Exception):
    """The shop has no usable offline token (never installed, uninstalled, or it must exchange a new one)."""

    def __init__(self, domain: str, why: str) -> None:
        super().__init__(f"{domain} has no usable Admin API token: {why}")
        self.domain = domain


@dataclass(frozen=True)
class OfflineToken:
    """What Shopify's token endpoint granted (expiry fields are None for a non-expiring token)."""

    access_token: str
    scopes: str
    expires_at: datetime | None = None
    refresh_token: str | None = None
    refresh_token_expires_at: datetime | None = None


def store_offline_token(session: Session, *, shop: Shop, token: OfflineToken, cipher: TokenCipher) -> None:
    """Keep the new token pair on the shop's row, encrypted, replacing the old pair in the caller's transaction."""
    shop.access_token = cipher.encrypt(token.access_token)
    shop.access_token_expires_at = token.expires_at
    shop.refresh_token = cipher.encrypt(token.refresh_token) if token.refresh_token else None
    shop.refresh_token_expires_at = token.refresh_token_expires_at
    shop.scopes = token.scopes
    session.flush()


def stored_access_token(shop: Shop, cipher: TokenCipher) -> str:
    """The shop's access token in clear, for one outward call; raises ShopNotConnected when there is none."""
    if shop.uninstalled_at is not None:
        raise ShopNotConnected(shop.domain, "the app is uninstalled")
    if shop.access_token is None:
        raise ShopNotConnected(shop.domain, "no token has been exchanged yet")
    return cipher.decrypt(shop.access_token)
