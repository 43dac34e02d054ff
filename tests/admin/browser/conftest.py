"""Real headless Chromium (Debian's, through Playwright's `executable_path`) against the real app, served by a
werkzeug server in a thread on the test database and Redis, in development mode.

Every test here is marked `browser` (deselect with `-m "not browser"` for a quick loop). Screenshots go to
`$LOYALTY_SHOTS` (default /tmp/shots-<checkout folder>/); the accessibility check injects axe-core (vendored for
the tests, web/static/vendor/VENDORED.md) and fails on any serious or critical violation.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from werkzeug.serving import make_server

from tests.browser_fixtures import SHOTS

AXE = Path(__file__).parent / "vendor" / "axe-4.14.1.min.js"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).is_relative_to(here):
            item.add_marker(pytest.mark.browser)


@pytest.fixture
def live_app(app: Any, demo_shop: Any, app_url: str) -> Iterator[str]:
    """The app served at app_url (the URL its settings name, so bounce redirects come back here)."""
    server = make_server("127.0.0.1", urlsplit(app_url).port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield app_url
    server.shutdown()
    thread.join()


@pytest.fixture
def page(browser: Any, live_app: str) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=live_app)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(f"{error} {error.stack}"))
    page.set_default_timeout(10_000)
    yield page
    context.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"


def open_admin(page: Any, path: str = "/") -> None:
    """Open an admin page as Shopify would: a page load without a token bounces and comes back with one."""
    page.goto(path)
    page.wait_for_url(lambda url: "id_token=" in url)
    page.wait_for_load_state("networkidle")


def screenshot(page: Any, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def serious_violations(page: Any) -> list[str]:
    """axe-core's serious and critical violations on the page as it is now."""
    page.add_script_tag(content=AXE.read_text())
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{violation['id']} ({violation['impact']}): {violation['help']} at "
        + ", ".join(node["target"][0] for node in violation["nodes"][:3])
        for violation in result["violations"]
        if violation["impact"] in ("serious", "critical")
    ]
