"""Referrals: one link (code) per advocate, click tracking, and conversion on a referred friend's first order.

A conversion is found from the order: the code as a discount code, a note attribute (`ref`, `referral`,
`referral_code`) or the landing-site parameter (`?ref=`). Fraud checks run before any reward, and a blocked
conversion is kept with its reason for the merchant to review:
- `self_referral`: the same customer, the same email or a variant of it (case, dots and +tags for Gmail, +tags
  elsewhere), or the advocate's shipping address;
- `not_first_order`: the friend has ordered before (or was referred before);
- `order_below_minimum`: the order's subtotal is under the programme's minimum;
- `daily_limit`: the advocate already has N conversions in the last 24 hours.
Rewards (advocate points, friend points, friend reward code) come from `shop.referral_settings` and follow the
shop's pending window: points are held as pending credits (ledger.credit, released by the pending sweep); the
friend's code is issued at once without a window, else by `release_due` once the window has passed.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from app.loyalty.base.errors import ReferralNotFound
from app.loyalty.referrals.settings import ReferralSettings, ip_salt, settings_for
from app.models import (
    CustomerLoyaltyProfile,
    Order,
    ReferralClick,
    ReferralConversion,
    ReferralLink,
    Shop,
    event_history,
)

NOTE_ATTRIBUTE_NAMES = frozenset({"ref", "referral", "referral_code"})

# Conversions that were never paid (blocked, or rejected on review): they count for neither the daily limit nor
# the friend's "first order" check.
UNPAID_STATUSES = ("blocked", "rejected")


@dataclass(frozen=True)
class LinkView:
    link_id: int
    code: str
    url: str


@dataclass(frozen=True)
class ConversionResult:
    conversion: ReferralConversion
    status: str  # "pending" | "rewarded" | "blocked" | "rejected"
    block_reason: str | None
    advocate_points: int
    friend_points: int
    replayed: bool


# referral_links.code; _new_code's are 17 characters.
MAX_CODE_LENGTH = 32


def _new_code() -> str:
    return "REF-" + base64.b32encode(secrets.token_bytes(8)).decode("ascii").rstrip("=")


def link_for(session: Session, *, shop: Shop, profile: CustomerLoyaltyProfile, now: datetime) -> LinkView:
    """The advocate's referral link, created on first request (one per customer; the code names no person)."""
    session.execute(
        insert(ReferralLink)
        .values(shop_id=shop.id, profile_id=profile.id, code=_new_code(), created_at=now)
        .on_conflict_do_nothing(index_elements=["shop_id", "profile_id"])
    )
    link = session.execute(
        select(ReferralLink).where(ReferralLink.shop_id == shop.id, ReferralLink.profile_id == profile.id)
    ).scalar_one()
    parameter = settings_for(shop).landing_parameter
    return LinkView(link_id=link.id, code=link.code, url=f"https://{shop.domain}/?{parameter}={link.code}")


def find_link(session: Session, shop_id: int, codes: list[str], lock: bool = False) -> ReferralLink | None:
    for code in codes:
        if len(code) > MAX_CODE_LENGTH or "\x00" in code:
            continue  # no link has it, and PostgreSQL's text cannot even hold a NUL to look for
        query = select(ReferralLink).where(ReferralLink.shop_id == shop_id, ReferralLink.code == code)
        if lock:
            query = query.with_for_update()
        link = session.execute(query).scalar_one_or_none()
        if link is not None:
            return link
    return None


def _header_text(value: str | None, limit: int) -> str | None:
    """A request header as the click keeps it: without NUL characters (a 500 when stored), cut to its column."""
    text = (value or "").replace("\x00", "")[:limit]
    return text or None


def record_click(
    session: Session,
    *,
    shop: Shop,
    code: str,
    ip: str | None,
    user_agent: str | None,
    landing_page: str | None,
    now: datetime,
) -> ReferralClick:
    """Record a visit through a referral link: the IP only as a salted SHA-256, the rest truncated."""
    link = find_link(session, shop.id, [str(code or "").strip().upper()])
    if link is None:
        raise ReferralNotFound(str(code))
    ip_hash = hashlib.sha256(f"{ip_salt(session, shop)}:{ip}".encode()).hexdigest() if ip else None
    click = ReferralClick(
        shop_id=shop.id,
        link_id=link.id,
        ip_hash=ip_hash,
        user_agent=_header_text(user_agent, 512),
        landing_page=_header_text(landing_page, 2048),
        clicked_at=now,
    )
    session.add(click)
    session.flush()
    return click


def _listed(order: dict[str, Any], field: str) -> list[Any]:
    """A list of the order's, as Shopify sends it; anything else in its place names no code."""
    value = order.get(field)
    return value if isinstance(value, list) else []


def codes_in_order(order: dict[str, Any], parameter: str = "ref") -> list[str]:
    """Candidate referral codes in an order payload, in order of trust: discount codes, note attributes, landing
    site."""
    found: list[str] = []
    for discount in _listed(order, "discount_codes"):
        if isinstance(discount, dict) and discount.get("code"):
            found.append(str(discount["code"]))
    for attribute in _listed(order, "note_attributes"):
        if isinstance(attribute, dict) and str(attribute.get("name", "")).strip().lower() in NOTE_ATTRIBUTE_NAMES:
            found.append(str(attribute.get("value") or ""))
    landing = order.get("landing_site")
    if isinstance(landing, str) and landing:
        query = parse_qs(urlsplit(landing).query)
        for name in dict.fromkeys([parameter, "ref"]):
            found.extend(query.get(name, []))
    codes = [code.strip().upper() for code in found if code and code.strip()]
    return list(dict.fromkeys(code for code in codes if len(code) <= 32))


def normalize_email(email: str | None) -> str | None:
    """An email reduced to the mailbox that receives it: lower case, no +tag, no dots for Gmail."""
    if not email or "@" not in email:
        return None
    local, _, domain = email.strip().lower().rpartition("@")
    local = local.split("+", 1)[0]
    if domain in ("gmail.com", "googlemail.com"):
        domain, local = "gmail.com", local.replace(".", "")
    return f"{local}@{domain}" if local else None


def address_fingerprint(address: Any) -> str | None:
    """Street line, postcode and country reduced to letters and digits, or None when too little is known."""
    if not isinstance(address, dict):
        return None
    parts = [str(address.get(key) or "") for key in ("address1", "zip", "country_code")]
    if not parts[0].strip() or not parts[1].strip():
        return None
    return "|".join(re.sub(r"[^a-z0-9]", "", part.lower()) for part in parts)


def _advocate_addresses(session: Session, shop_id: int, advocate: CustomerLoyaltyProfile) -> set[str]:
    # The advocate's latest events wherever they are kept (the inbox, or its archive once weeks old).
    payloads = session.execute(
        select(event_history.c.payload)
        .where(event_history.c.shop_id == shop_id, event_history.c.customer_id == advocate.customer_id)
        .order_by(event_history.c.occurred_at.desc())
        .limit(50)
    ).scalars()
    found: set[str] = set()
    for payload in payloads:
        customer = payload.get("customer") if isinstance(payload.get("customer"), dict) else {}
        candidates = [payload.get("shipping_address"), payload.get("default_address"), customer.get("default_address")]
        candidates += list(payload.get("addresses") or ()) + list(customer.get("addresses") or ())
        found.update(fp for fp in map(address_fingerprint, candidates) if fp)
    return found


def _order_email(order: dict[str, Any]) -> str | None:
    customer = order.get("customer") if isinstance(order.get("customer"), dict) else {}
    return order.get("email") or order.get("contact_email") or customer.get("email")


def order_amount(order: dict[str, Any]) -> Decimal:
    for key in ("current_subtotal_price", "subtotal_price", "total_price"):
        try:
            if order.get(key) not in (None, ""):
                return Decimal(str(order[key]))
        except ArithmeticError:
            continue
    return Decimal(0)


def block_reason(
    session: Session,
    *,
    shop: Shop,
    settings: ReferralSettings,
    link: ReferralLink,
    advocate: CustomerLoyaltyProfile,
    friend: CustomerLoyaltyProfile,
    order: dict[str, Any],
    order_id: str,
    now: datetime,
) -> str | None:
    """The first fraud check the conversion fails, as "code: detail" (no personal data), or None."""
    if advocate.id == friend.id or advocate.customer_id == friend.customer_id:
        return "self_referral: the friend is the advocate"
    friend_email = friend.email or _order_email(order)
    if advocate.email and friend_email:
        if advocate.email.strip().lower() == friend_email.strip().lower():
            return "self_referral: same email as the advocate"
        if normalize_email(advocate.email) == normalize_email(friend_email):
            return "self_referral: a variant of the advocate's email"
    shipping = address_fingerprint(order.get("shipping_address"))
    if shipping and shipping in _advocate_addresses(session, shop.id, advocate):
        return "self_referral: ships to the advocate's address"
    earlier_orders = session.execute(
        select(func.count(Order.id)).where(
            Order.shop_id == shop.id, Order.profile_id == friend.id, Order.order_id != order_id
        )
    ).scalar_one()
    earlier_referral = session.execute(
        select(func.count(ReferralConversion.id)).where(
            ReferralConversion.shop_id == shop.id,
            ReferralConversion.friend_profile_id == friend.id,
            ReferralConversion.status.notin_(UNPAID_STATUSES),
        )
    ).scalar_one()
    if earlier_orders or friend.orders_count > 1 or earlier_referral:
        return "not_first_order: the friend is not a first-time customer"
    amount = order_amount(order)
    if amount < settings.min_order_amount:
        return f"order_below_minimum: {amount} is under the minimum of {settings.min_order_amount}"
    recent = session.execute(
        select(func.count(ReferralConversion.id)).where(
            ReferralConversion.shop_id == shop.id,
            ReferralConversion.advocate_profile_id == advocate.id,
            ReferralConversion.status.notin_(UNPAID_STATUSES),
            ReferralConversion.created_at > now - timedelta(days=1),
        )
    ).scalar_one()
    if recent >= settings.max_conversions_per_day:
        return f"daily_limit: the advocate already has {recent} conversions in the last 24 hours"
    return None


def conversion_result(conversion: ReferralConversion, replayed: bool) -> ConversionResult:
    return ConversionResult(
        conversion=conversion,
        status=conversion.status,
        block_reason=conversion.block_reason,
        advocate_points=conversion.advocate_points,
        friend_points=conversion.friend_points,
        replayed=replayed,
    )


__all__ = [
    "ConversionResult",
    "LinkView",
    "codes_in_order",
    "link_for",
    "normalize_email",
    "record_click",
]
