"""customer_loyalty_profiles.earned_tier_id: the tier a member earned, kept apart from a tier set by hand

current_tier_id held whatever applied, so a tier set by hand hid the earned one: when the override ended, the member
was placed on what the period under way gave at that moment, and a rolling-window member could fall below the tier
they had reached and were to keep until its review. From here on the earned tier, with tier_achieved_at and
tier_review_at (which now belong to it), is stored whatever an override does, and current_tier_id is the higher of
the two (app.loyalty.tiers.membership).

Backfill: a member with no override, or one whose tier is above the override's, earned the tier they are on. A
member sitting on the tier set by hand gets the tier an override ending now would have given them: the highest tier,
at most the one they are on, whose entry threshold the period under way meets (or, for calendar years, the last
completed year), reached now and reviewed at the period's end as an upgrade now would be.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None

# app.loyalty.tiers.periods.TIER_EARNING_KINDS as of this revision (a migration never imports the app).
_EARNING_KINDS = "('earn', 'referral', 'import', 'adjustment', 'reversal')"

# The members on their tier set by hand: the measure periods.measure would give now (the greater of the period under
# way and, for calendar years, the last completed year; a zone PostgreSQL does not know is UTC, as shop_zone reads
# it), and the earned tier it reaches, never above the tier they are on.
_BACKFILL_HELD = f"""
WITH clock AS (
    SELECT s.id AS shop_id, s.tier_period, s.tier_basis, zone.name AS zone, now() AT TIME ZONE zone.name AS local_now
    FROM shops s
    CROSS JOIN LATERAL (
        SELECT COALESCE((SELECT z.name FROM pg_timezone_names z WHERE z.name = s.timezone LIMIT 1), 'UTC') AS name
    ) zone
),
windows AS (
    SELECT shop_id, tier_basis,
        CASE tier_period
            WHEN 'calendar_year' THEN date_trunc('year', local_now) AT TIME ZONE zone
            WHEN 'rolling_12_months' THEN (local_now - interval '12 months') AT TIME ZONE zone
        END AS window_start,
        CASE WHEN tier_period = 'calendar_year'
            THEN (date_trunc('year', local_now) - interval '1 year') AT TIME ZONE zone
        END AS last_year_start,
        CASE tier_period
            WHEN 'calendar_year' THEN (date_trunc('year', local_now) + interval '1 year') AT TIME ZONE zone
            WHEN 'rolling_12_months' THEN (local_now + interval '12 months') AT TIME ZONE zone
        END AS review_at
    FROM clock
),
held AS (
    SELECT p.id, p.shop_id, applied.level AS applied_level, w.review_at,
        GREATEST(0, CASE
            WHEN w.tier_basis = 'points_earned' THEN (
                SELECT GREATEST(
                    COALESCE(sum(t.points) FILTER (
                        WHERE w.window_start IS NULL OR t.created_at >= w.window_start), 0),
                    COALESCE(sum(t.points) FILTER (
                        WHERE t.created_at >= w.last_year_start AND t.created_at < w.window_start), 0))
                FROM points_transactions t
                WHERE t.shop_id = p.shop_id AND t.profile_id = p.id AND t.kind IN {_EARNING_KINDS})
            WHEN w.window_start IS NULL THEN
                CASE w.tier_basis WHEN 'amount_spent' THEN p.total_spent ELSE p.orders_count END
            ELSE (
                SELECT GREATEST(
                    COALESCE(sum(CASE w.tier_basis WHEN 'amount_spent' THEN o.total - o.refunded_amount ELSE 1 END)
                        FILTER (WHERE o.placed_at >= w.window_start), 0),
                    COALESCE(sum(CASE w.tier_basis WHEN 'amount_spent' THEN o.total - o.refunded_amount ELSE 1 END)
                        FILTER (WHERE o.placed_at >= w.last_year_start AND o.placed_at < w.window_start), 0))
                FROM orders o
                WHERE o.shop_id = p.shop_id AND o.profile_id = p.id AND o.cancelled_at IS NULL)
        END) AS value
    FROM customer_loyalty_profiles p
    JOIN windows w ON w.shop_id = p.shop_id
    JOIN tier_definitions applied ON applied.id = p.current_tier_id
    JOIN tier_definitions manual ON manual.id = p.manual_tier_id
    WHERE applied.level <= manual.level
)
UPDATE customer_loyalty_profiles p
SET earned_tier_id = earned.id,
    tier_achieved_at = CASE WHEN earned.id IS NOT NULL THEN now() END,
    tier_review_at = CASE WHEN earned.id IS NOT NULL THEN held.review_at END
FROM held
LEFT JOIN LATERAL (
    SELECT t.id FROM tier_definitions t
    WHERE t.shop_id = held.shop_id AND t.level <= held.applied_level AND t.threshold <= held.value
    ORDER BY t.level DESC
    LIMIT 1
) earned ON true
WHERE p.id = held.id
"""


def upgrade() -> None:
    op.add_column(
        "customer_loyalty_profiles",
        sa.Column("earned_tier_id", sa.BigInteger(), sa.ForeignKey("tier_definitions.id", ondelete="SET NULL")),
    )
    op.execute("UPDATE customer_loyalty_profiles SET earned_tier_id = current_tier_id")
    op.execute(_BACKFILL_HELD)


def downgrade() -> None:
    op.drop_column("customer_loyalty_profiles", "earned_tier_id")
