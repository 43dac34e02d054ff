"""Referrals: one link per advocate, clicks, conversion on a referred friend's first order with its fraud
checks, the rewards of both sides (held for the return window), their reversal, the merchant's review of blocked
conversions (approve or reject), and the programme's settings."""

from app.loyalty.referrals.conversions import convert_from_order, referral_codes, release_due
from app.loyalty.referrals.links import link_for, normalize_email, record_click
from app.loyalty.referrals.reversals import reverse_for_order
from app.loyalty.referrals.review import approve, reject
from app.loyalty.referrals.settings import update_settings

__all__ = [
    "approve",
    "convert_from_order",
    "link_for",
    "normalize_email",
    "record_click",
    "referral_codes",
    "reject",
    "release_due",
    "reverse_for_order",
    "update_settings",
]
