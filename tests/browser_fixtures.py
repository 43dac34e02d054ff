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
    # A browser test that cannot run fails: a skip would let the suite pass without the pages ever being opened.
    if shutil.which(CHROMIUM) is None:
        pytest.fail(f"no Chromium at {CHROMIUM}: apt-get install -y chromium (./scripts/test does it when run as root)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()
