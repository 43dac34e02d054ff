"""`python -m tests.shopify_fake` serves the same fake on 127.0.0.1, for running the app against it by hand."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from app.paths import PROJECT_ROOT

SHOP = "by-hand.myshopify.com"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def served() -> Iterator[tuple[str, dict[str, str]]]:
    port = _free_port()
    command = [sys.executable, "-m", "tests.shopify_fake", "--port", str(port), "--api-key", "K", "--api-secret", "S"]
    process = subprocess.Popen([*command, "--install", SHOP], cwd=PROJECT_ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        installed = json.loads(process.stdout.readline())
        assert f"http://127.0.0.1:{port}" in banner
        yield f"http://127.0.0.1:{port}", installed
    finally:
        # SIGTERM, not SIGINT: a suite started in the background by a shell runs with SIGINT ignored, and so would
        # this process (it then never stopped, and the teardown timed out).
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0


def test_the_module_serves_admin_graphql_with_the_token_it_printed(served: tuple[str, dict[str, str]]) -> None:
    origin, installed = served

    response = httpx.post(
        f"{origin}/admin/api/2026-10/graphql.json",
        headers={"Host": SHOP, "X-Shopify-Access-Token": installed["access_token"]},
        json={"query": "{ currentAppInstallation { accessScopes { handle } } }"},
        timeout=5,
    )

    assert installed["shop"] == SHOP and installed["expires_in"] == 3600
    assert response.status_code == 200
    assert {"handle": "write_discounts"} in response.json()["data"]["currentAppInstallation"]["accessScopes"]
