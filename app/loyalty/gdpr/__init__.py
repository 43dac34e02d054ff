"""Shopify's compliance topics: a customer's data export for the merchant, redaction of one customer, and
deletion of a whole shop."""

from app.loyalty.gdpr.export import export_customer
from app.loyalty.gdpr.redaction import forget_event, redact_customer, redact_shop, redacted_among

__all__ = ["export_customer", "forget_event", "redact_customer", "redact_shop", "redacted_among"]
