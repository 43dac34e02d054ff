"""The referral programme's settings, stored in `shops.referral_settings` (JSONB) and validated here."""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from app.loyalty.base.errors import InvalidInput
from app.models import Shop
from app.rules.values import to_decimal


@dataclass(frozen=True)
class ReferralSettings:
    enabled: bool = True
    advocate_points: int = 0
    friend_points: int = 0
    friend_reward_id: int | None = None
    max_conversions_per_day: int = 5
    min_order_amount: Decimal = Decimal(0)
    landing_parameter: str = "ref"


def _whole(name: str, raw: Any, minimum: int) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < minimum:
        raise InvalidInput(f"referral_settings.{name} must be a whole number of at least {minimum}, got {raw!r}")
    return raw


def parse_settings(raw: dict[str, Any]) -> ReferralSettings:
    """Settings from their JSON form (unknown keys other than the IP salt are refused), or InvalidInput."""
    unknown = set(raw) - set(ReferralSettings.__dataclass_fields__) - {"ip_salt"}
    if unknown:
        raise InvalidInput(f"referral_settings has unknown keys: {', '.join(sorted(unknown))}")
    defaults = ReferralSettings()
    minimum = to_decimal(raw.get("min_order_amount", defaults.min_order_amount))
    if minimum is None:
        raise InvalidInput("referral_settings.min_order_amount must be a number")
    if minimum < 0:
        raise InvalidInput("referral_settings.min_order_amount must not be negative")
    reward_id = raw.get("friend_reward_id")
    if reward_id is not None:
        reward_id = _whole("friend_reward_id", reward_id, 1)
    parameter = str(raw.get("landing_parameter", defaults.landing_parameter))
    if not parameter.isidentifier():
        raise InvalidInput("referral_settings.landing_parameter must be a simple name such as 'ref'")
    return ReferralSettings(
        enabled=bool(raw.get("enabled", defaults.enabled)),
        advocate_points=_whole("advocate_points", raw.get("advocate_points", 0), 0),
        friend_points=_whole("friend_points", raw.get("friend_points", 0), 0),
        friend_reward_id=reward_id,
        max_conversions_per_day=_whole("max_conversions_per_day", raw.get("max_conversions_per_day", 5), 1),
        min_order_amount=minimum,
        landing_parameter=parameter,
    )


def settings_for(shop: Shop) -> ReferralSettings:
    return parse_settings(dict(shop.referral_settings or {}))


def update_settings(session: Session, *, shop: Shop, changes: dict[str, Any]) -> ReferralSettings:
    """Validate and store new settings (merged over the current ones); the IP salt is kept."""
    current = dict(shop.referral_settings or {})
    merged = {**current, **changes}
    parsed = parse_settings(merged)
    stored = {key: value for key, value in asdict(parsed).items()}
    stored["min_order_amount"] = str(parsed.min_order_amount)
    if "ip_salt" in current:
        stored["ip_salt"] = current["ip_salt"]
    shop.referral_settings = stored
    session.flush()
    return parsed


def ip_salt(session: Session, shop: Shop) -> str:
    """The shop's salt for hashing click IPs, created on first use (hashes from two shops never match)."""
    current = dict(shop.referral_settings or {})
    if not current.get("ip_salt"):
        current["ip_salt"] = secrets.token_hex(16)
        shop.referral_settings = current
        session.flush()
    return str(current["ip_salt"])
