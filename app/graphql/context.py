"""Who is asking: the shop and shopper come from a verified token or proxy signature, never from the query."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from app.models import Shop

CUSTOMER_ID = re.compile(r"^(?:gid://shopify/Customer/)?(\d{1,20})$")


@dataclass(frozen=True)
class ShopperContext:
    session: Session
    shop: Shop | None
    customer_id: str | None
    now: datetime
    # Where the shop's storefront reaches the app proxy (Shopify's `path_prefix`): referral share links point there.
    proxy_prefix: str = "/apps/loyalty"
    # The shop row's version (read_cache.Snapshot.shop_version): what the public programme is cached under.
    shop_version: str | None = None

    def own_customer_id(self, requested: str) -> str | None:
        """The requested customer id (bare) when it is the verified shopper of an installed shop; None otherwise."""
        match = CUSTOMER_ID.match(requested.strip())
        if self.shop is None or self.customer_id is None or match is None:
            return None
        return match.group(1) if match.group(1) == self.customer_id else None
