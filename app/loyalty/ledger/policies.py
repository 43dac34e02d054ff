"""The shop's points policies (what its points are called, which order event earns, whether test orders earn, when
points expire, how long they are held, what a refund may take, what a point is worth), validated and saved together.
Each error names the field it is about."""

from __future__ import annotations

import unicodedata
from dataclasses import asdict, dataclass
from decimal import Decimal

from sqlalchemy.orm import Session

from app.loyalty.base.errors import InvalidInput
from app.loyalty.base.inbound import ORDERS_EARN_ON
from app.models import Shop
from app.rules.values import to_decimal

EXPIRY_POLICIES = ("never", "after_earning", "inactivity")
NEGATIVE_BALANCE_POLICIES = ("cap", "allow")
MAX_DAYS = 3650
# Points worth one unit of the shop's currency. shops.redemption_points_per_unit is NUMERIC(12, 4): it would store a
# smaller rate than MIN_REDEMPTION_RATE as 0, which its check constraint refuses.
MIN_REDEMPTION_RATE = Decimal("0.0001")
MAX_REDEMPTION_RATE = Decimal(10**6)
# shops.points_name is a VARCHAR(40); the storefront shows it after every balance ("1,200 Stars").
MAX_POINTS_NAME = 40


@dataclass(frozen=True)
class Policies:
    points_expiry_policy: str
    points_expiry_days: int | None
    return_window_days: int
    negative_balance_policy: str
    refund_redeemed_points: bool
    redemption_points_per_unit: Decimal
    points_name: str
    # Orders Shopify marks `test: true` (the merchant trying checkout) earn nothing unless this is on.
    test_orders_earn: bool = False
    # Which order event earns: "created" (orders/create), "paid" (orders/paid) or "fulfilled" (orders/fulfilled).
    orders_earn_on: str = "created"


def policies_of(shop: Shop) -> Policies:
    return Policies(
        points_expiry_policy=shop.points_expiry_policy,
        points_expiry_days=shop.points_expiry_days,
        return_window_days=shop.return_window_days,
        negative_balance_policy=shop.negative_balance_policy,
        refund_redeemed_points=shop.refund_redeemed_points,
        redemption_points_per_unit=Decimal(shop.redemption_points_per_unit),
        points_name=shop.points_name,
        test_orders_earn=shop.test_orders_earn,
        orders_earn_on=shop.orders_earn_on,
    )


def update_policies(session: Session, *, shop: Shop, policies: Policies) -> Policies:
    """Validate and store the shop's policies; InvalidInput names the first bad field."""
    if policies.orders_earn_on not in ORDERS_EARN_ON:
        raise InvalidInput(f"orders_earn_on must be one of {', '.join(ORDERS_EARN_ON)}")
    if policies.points_expiry_policy not in EXPIRY_POLICIES:
        raise InvalidInput(f"points_expiry_policy must be one of {', '.join(EXPIRY_POLICIES)}")
    days = policies.points_expiry_days
    if policies.points_expiry_policy == "never":
        days = None
    elif days is None or not 0 < days <= MAX_DAYS:
        raise InvalidInput(f"points_expiry_days: points that expire need a number of days from 1 to {MAX_DAYS}")
    if not 0 <= policies.return_window_days <= MAX_DAYS:
        raise InvalidInput(f"return_window_days must be from 0 to {MAX_DAYS}")
    if policies.negative_balance_policy not in NEGATIVE_BALANCE_POLICIES:
        raise InvalidInput(f"negative_balance_policy must be one of {', '.join(NEGATIVE_BALANCE_POLICIES)}")
    rate = to_decimal(policies.redemption_points_per_unit)
    if rate is None or not MIN_REDEMPTION_RATE <= rate <= MAX_REDEMPTION_RATE:
        raise InvalidInput(
            f"redemption_points_per_unit must be a number from {MIN_REDEMPTION_RATE} to {MAX_REDEMPTION_RATE}"
        )
    stored = Policies(
        **{
            **asdict(policies),
            "points_expiry_days": days,
            "redemption_points_per_unit": rate,
            "points_name": clean_points_name(policies.points_name),
        }
    )
    for name, value in asdict(stored).items():
        setattr(shop, name, value)
    session.flush()
    return stored


def clean_points_name(raw: str) -> str:
    """What the shop calls its points ("Stars"), trimmed; InvalidInput when it is empty, longer than the column holds,
    or carries control characters (a newline or escape would break the storefront's one-line "1,200 Stars")."""
    name = raw.strip()
    if not 1 <= len(name) <= MAX_POINTS_NAME:
        raise InvalidInput(f"points_name must be 1 to {MAX_POINTS_NAME} characters, got {len(name)}")
    if any(unicodedata.category(char) in ("Cc", "Zl", "Zp") for char in name):
        raise InvalidInput("points_name must not contain control characters such as line breaks or tabs")
    return name
