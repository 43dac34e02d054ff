"""customers/data_request in the worker: the export processing.lifecycle staged (outbox kind `gdpr.data_request`)
is handed to the merchant.

Shopify has no API to hand an export to a merchant, so the merchant downloads it from the admin (Operations → Data
requests), where the row shows as ready once this handler has run (the dispatcher marks it done). A merchant with a
webhook endpoint subscribed to `data_request.ready` is also told, with ids only: the customer's data never leaves
in a webhook body, only through the admin's authenticated download.
"""

from __future__ import annotations

from app.integrations import outbound_webhooks as outbound
from app.loyalty.reports.operations import DATA_REQUEST_KIND
from app.tasks.deliveries import OutboxJob, Outward, handles
from app.tasks.outbound_webhooks import send_due

READY_TOPIC = "data_request.ready"


@handles(DATA_REQUEST_KIND)
def export_ready(job: OutboxJob, outward: Outward) -> None:
    """Tell the shop's subscribed endpoints the export is ready to download (the admin shows it ready once done)."""
    with outward.sessions.begin() as session:
        staged = outbound.fan_out(
            session,
            shop_id=job.shop_id,
            topic=READY_TOPIC,
            data={
                "data_request_id": str(job.payload.get("data_request_id", "")),
                "customer_id": str(job.payload.get("customer_id", "")),
            },
            dedupe_key=f"outbox:{job.id}",
            occurred_at=outward.clock(),
        )
    if staged:
        send_due(outward.sessions, outward.settings, outward.clock())
