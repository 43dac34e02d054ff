"""The shell every admin area shares: the navigation (the rule builder's entry links its blueprint's list),
writes refused without the session token header, and every admin page behind admin_required."""

from __future__ import annotations

from typing import Any

import pytest

from tests.admin.conftest import Admin

NAVIGATION = [
    "Dashboard",
    "Customers",
    "Rewards",
    "Tiers",
    "Referrals",
    "Rules",
    "Settings",
    "Webhooks",
    "Operations",
]


def nav_labels(html: str) -> list[str]:
    menu = html.split("<ui-nav-menu>")[1].split("</ui-nav-menu>")[0]
    return [part.split(">", 1)[1].split("<", 1)[0] for part in menu.split("<a ")[1:]]


def test_the_navigation_lists_every_area_with_the_rules_entry_linking_the_builder(admin: Admin) -> None:
    html = admin.get("/").get_data(as_text=True)
    assert nav_labels(html) == NAVIGATION
    assert '<a href="/admin/rules/">Rules</a>' in html


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/admin/customers/",
        "/admin/rewards/",
        "/admin/tiers/",
        "/admin/referrals/",
        "/admin/settings/",
        "/admin/webhooks/",
        "/admin/operations/",
        "/admin/operations/events",
        "/admin/operations/audit",
        "/admin/rules/",
        "/admin/rules/new",
        "/admin/customers/import/",
        "/admin/customers/ledger.csv",
        "/admin/dashboard/points.json",
    ],
)
def test_every_admin_page_needs_a_valid_session_token(app: Any, demo_shop: Any, path: str) -> None:
    client = app.test_client()
    forged = client.get(path, headers={"Authorization": "Bearer not.a.token", "HX-Request": "true"})
    assert forged.status_code == 401
    assert forged.headers["X-Shopify-Retry-Invalid-Session-Request"] == "1"
    assert client.get(path).status_code == 302  # a page load without a token bounces to get one


def test_static_files_have_content_versioned_urls_cached_for_a_year(admin: Admin) -> None:
    html = admin.get("/").get_data(as_text=True)
    url = html.split('<link rel="stylesheet" href="')[1].split('"')[0]
    assert url.startswith("/static/vendor/polaris-13.9.5.css?v=")
    cached = admin.client.get(url)
    assert cached.status_code == 200 and cached.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert "immutable" not in (admin.client.get("/static/js/admin.js").headers.get("Cache-Control") or "")
