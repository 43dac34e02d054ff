"""The shell in a real browser: the page loads through the real token path, navigation is keyboard reachable."""

from __future__ import annotations

from typing import Any

from tests.admin.browser.conftest import open_admin, screenshot, serious_violations


def test_the_dashboard_opens_through_the_bounce_with_the_polaris_shell(page: Any) -> None:
    open_admin(page)
    assert page.locator("h1").inner_text() == "Dashboard"
    assert page.locator("text=Connected to").is_visible()
    assert page.get_by_role("link", name="Import their balances").is_visible()  # the empty state's next step
    page.wait_for_function(
        "document.querySelectorAll('canvas[data-loyalty-chart]').length === 2"
        " && [...document.querySelectorAll('canvas')].every(c => window.Chart.getChart(c))"
    )
    screenshot(page, "dashboard-empty")
    assert serious_violations(page) == []
