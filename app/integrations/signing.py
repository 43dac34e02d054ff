"""The outbound webhook signature: HMAC-SHA256 over `<timestamp>.<raw body>`, base64, in X-Loyalty-Hmac-Sha256.

The timestamp is inside the signed text, so a captured delivery cannot be replayed later with a fresh timestamp;
receivers refuse a timestamp older than their tolerance (five minutes in `verify_signature`). docs/webhooks.md shows
receivers how to check it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

SIGNATURE_HEADER = "X-Loyalty-Hmac-Sha256"
TIMESTAMP_HEADER = "X-Loyalty-Timestamp"
DELIVERY_HEADER = "X-Loyalty-Delivery-Id"
TOPIC_HEADER = "X-Loyalty-Topic"
SHOP_HEADER = "X-Loyalty-Shop-Domain"
VERSION_HEADER = "X-Loyalty-Webhook-Version"
PAYLOAD_VERSION = 1
DEFAULT_TOLERANCE_S = 300


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """base64(HMAC-SHA256(secret, f"{timestamp}." + body))."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def verify_signature(
    secret: str, headers: dict[str, str], body: bytes, *, now: int, tolerance_s: int = DEFAULT_TOLERANCE_S
) -> bool:
    """What a receiver does: the signature matches and the timestamp is within the tolerance of its clock."""
    try:
        timestamp = int(headers[TIMESTAMP_HEADER])
        offered = headers[SIGNATURE_HEADER]
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance_s:
        return False
    return hmac.compare_digest(offered, signature(secret, timestamp, body))
