"""Merchants' outbound webhook endpoints and each delivery (one row per event and endpoint, updated per attempt)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, created_at_column


class WebhookEndpoint(Base):
    __tablename__ = "webhook_endpoints"
    # Whether a shop has an endpoint for a topic is asked with every change that may be sent (migration 0025).
    __table_args__ = (Index("ix_webhook_endpoints_shop_id_active", "shop_id", postgresql_where=text("active")),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(Text)
    # The signing secret, encrypted at rest with the token cipher (shown to the merchant once, at creation).
    secret: Mapped[str] = mapped_column(Text)
    # Topics (points.earned, …) this endpoint receives.
    event_types: Mapped[list[Any]] = mapped_column(server_default=text("'[]'::jsonb"))
    active: Mapped[bool] = mapped_column(server_default=text("true"))
    description: Mapped[str | None] = mapped_column(Text)
    # Deliveries that gave up in a row; at the limit the endpoint is disabled and the merchant told why.
    consecutive_failures: Mapped[int] = mapped_column(Integer, server_default="0")
    disabled_at: Mapped[datetime | None]
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at_column()


class WebhookDelivery(Base):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'delivered', 'failed')", name="status"),
        # One delivery per business event and endpoint: a re-run of the fan-out finds it and sends nothing new.
        UniqueConstraint("endpoint_id", "dedupe_key"),
        Index(None, "shop_id", "created_at"),
        Index(None, "next_attempt_at", postgresql_where=text("status = 'pending'")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    endpoint_id: Mapped[int | None] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="SET NULL"))
    # Sent as X-Loyalty-Delivery-Id on every attempt, so the receiver can drop a repeat.
    delivery_id: Mapped[uuid.UUID] = mapped_column(unique=True, server_default=text("gen_random_uuid()"))
    topic: Mapped[str] = mapped_column(String(64), server_default="")
    dedupe_key: Mapped[str] = mapped_column(String(255), server_default="")
    url: Mapped[str] = mapped_column(Text)
    event_id: Mapped[uuid.UUID | None]
    payload: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16), server_default="pending")
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    response_status: Mapped[int | None] = mapped_column(Integer)
    response_ms: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime] = created_at_column()
    created_at: Mapped[datetime] = created_at_column()
    delivered_at: Mapped[datetime | None]
