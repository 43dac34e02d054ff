"""Shopify's compliance topics: a customer's data export for the merchant, redaction of one customer, and
deletion of a whole shop."""

from app.loyalty.gdpr.export import export_customer
from app.loyalty.gdpr.redaction import redact_customer, redact_shop

__all__ = ["export_customer", "redact_customer", "redact_shop"]
