"""Real headless Chromium for every browser test (a pytest plugin loaded by tests/conftest.py): Debian's chromium
through Playwright's `executable_path`, one browser for the whole session. Playwright's sync API runs its own event
loop, so there can be only one `sync_playwright()` at a time in a test session: every browser test takes this fixture.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.paths import PROJECT_ROOT

CHROMIUM = os.environ.get("LOYALTY_CHROMIUM", "/usr/bin/chromium")
# One folder per checkout (/tmp/shots-<checkout folder name>), so two checkouts testing at once do not mix.
SHOTS = Path(
    os.environ.get("LOYALTY_SHOTS") or Path(tempfile.gettempdir()) / f"shots-{PROJECT_ROOT.name.removeprefix('wt-')}"
)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    playwright_api = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[dev]' for Playwright")
    if shutil.which(CHROMIUM) is None:
        pytest.skip(f"browser tests did not run: no Chromium at {CHROMIUM} (apt-get install -y chromium)")
    with playwright_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()
