"""merchant webhooks staged where the change happens

The merchant's endpoints could subscribe to points.earned, tier.changed and the other topics, but nothing staged
them: only data_request.ready and the rule action `webhook` were ever delivered.

- stage_merchant_webhooks(shops, topics, keys, payloads): one `merchant_webhook` outbox row per element whose shop
  has an active endpoint subscribed to its topic (ON CONFLICT on the shop's dedupe key: once per change). The one
  place that stages them; app.loyalty.base.merchant_webhooks calls it for app events and settled rewards.
- A statement trigger on points_transactions calls it for every ledger entry, whatever wrote it (as
  customer_loyalty_profiles_stage_sync stages customer.sync): the entry's kind gives the topic. It returns at once
  when no shop of the statement has an active endpoint.
- webhook_endpoints gets an index on shop_id (active ones), which those probes use.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE INDEX ix_webhook_endpoints_shop_id_active ON webhook_endpoints (shop_id) WHERE active")
    op.execute(
        """
        CREATE FUNCTION stage_merchant_webhooks(shops bigint[], topics text[], keys text[], payloads jsonb[])
        RETURNS void LANGUAGE sql AS $$
            INSERT INTO outbox (shop_id, kind, dedupe_key, payload, status, next_attempt_at)
            SELECT v.shop_id, 'merchant_webhook', v.key, v.payload, 'pending', now()
            FROM unnest(shops, topics, keys, payloads) AS v(shop_id, topic, key, payload)
            WHERE EXISTS (
                SELECT 1 FROM webhook_endpoints e
                WHERE e.shop_id = v.shop_id AND e.active AND e.event_types ? v.topic
            )
            ORDER BY v.shop_id, v.key
            ON CONFLICT (shop_id, dedupe_key) DO NOTHING
        $$;
        """
    )
    op.execute(
        """
        CREATE FUNCTION stage_entry_webhooks() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NOT EXISTS (
                SELECT 1 FROM webhook_endpoints e
                WHERE e.active AND e.shop_id IN (SELECT DISTINCT shop_id FROM new_entries)
            ) THEN
                RETURN NULL;
            END IF;
            PERFORM stage_merchant_webhooks(
                array_agg(w.shop_id), array_agg(w.topic), array_agg('webhook:entry:' || w.id), array_agg(w.payload)
            )
            FROM (
                SELECT n.shop_id, n.id, t.topic,
                       jsonb_build_object(
                           'topic', t.topic,
                           'occurred_at', n.created_at,
                           'event_id', n.event_id,
                           'data', jsonb_strip_nulls(jsonb_build_object(
                               'customer_id', p.customer_id,
                               'entry_id', n.id::text,
                               'kind', n.kind,
                               'points', n.points,
                               'reason', n.reason,
                               'order_id', CASE WHEN n.source_type = 'order' THEN n.source_id END,
                               'redemption_id', n.redemption_id::text
                           ))
                       ) AS payload
                FROM new_entries n
                JOIN customer_loyalty_profiles p ON p.id = n.profile_id
                CROSS JOIN LATERAL (SELECT CASE n.kind
                    WHEN 'earn' THEN 'points.earned'
                    WHEN 'referral' THEN 'points.earned'
                    WHEN 'redeem' THEN 'points.redeemed'
                    WHEN 'expiry' THEN 'points.expired'
                    WHEN 'adjustment' THEN 'points.adjusted'
                    WHEN 'import' THEN 'points.adjusted'
                    WHEN 'reversal' THEN 'points.reversed'
                    WHEN 'redemption_refund' THEN 'points.returned'
                END AS topic) t
                WHERE t.topic IS NOT NULL
            ) w;
            RETURN NULL;
        END;
        $$;
        """
    )
    op.execute(
        """
        CREATE TRIGGER points_transactions_stage_webhooks
        AFTER INSERT ON points_transactions
        REFERENCING NEW TABLE AS new_entries
        FOR EACH STATEMENT EXECUTE FUNCTION stage_entry_webhooks();
        """
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER points_transactions_stage_webhooks ON points_transactions")
    op.execute("DROP FUNCTION stage_entry_webhooks()")
    op.execute("DROP FUNCTION stage_merchant_webhooks(bigint[], text[], text[], jsonb[])")
    op.execute("DROP INDEX ix_webhook_endpoints_shop_id_active")
