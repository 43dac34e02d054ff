"""The admin's banner of open operational alerts: only those that change what the merchant sees (points arriving
late), on every page, gone once the episode closes; the operator's own alerts are not shown."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from app.admin.alerts import MERCHANT_MESSAGES
from app.monitoring.alerts import update_episodes
from tests.admin.conftest import Admin


def open_episodes(redis_client: Any, redis_namespace: str, firing: dict[str, float]) -> None:
    update_episodes(redis_client, redis_namespace, firing, now=datetime.now(timezone.utc), notify=lambda notice: None)


def test_a_backlog_alert_is_a_banner_on_every_page_until_it_clears(
    admin: Admin, redis_client: Any, redis_namespace: str
) -> None:
    assert MERCHANT_MESSAGES["stream_lag"] not in admin.get("/").get_data(as_text=True)

    open_episodes(redis_client, redis_namespace, {"stream_lag": 5000.0, "ledger_drift": 3.0, "high_error_rate": 0.2})
    for path in ("/", "/admin/customers/", "/admin/webhooks/"):
        page = admin.get(path).get_data(as_text=True)
        assert "Delays in the loyalty app" in page and MERCHANT_MESSAGES["stream_lag"] in page
        assert "stored balance differs" not in page and "failed at least once" not in page
        assert MERCHANT_MESSAGES["slow_processing"] not in page

    open_episodes(redis_client, redis_namespace, {})  # the backlog cleared: the episode closes
    assert "Delays in the loyalty app" not in admin.get("/").get_data(as_text=True)


def test_slow_processing_is_shown_too(admin: Admin, redis_client: Any, redis_namespace: str) -> None:
    open_episodes(redis_client, redis_namespace, {"slow_processing": 4.2})
    page = admin.get("/admin/settings/").get_data(as_text=True)
    assert MERCHANT_MESSAGES["slow_processing"] in page and MERCHANT_MESSAGES["stream_lag"] not in page
