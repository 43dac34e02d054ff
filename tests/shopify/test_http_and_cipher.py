"""The one Shopify HTTP client (origin override for the fake Shopify) and the token cipher at rest."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from app.config import ConfigError, load_settings
from app.shopify.http import build_client
from app.shopify.token_cipher import DEV_KEY_FILE, InvalidToken, TokenCipher, cipher_for


class Echo(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = json.dumps({"path": self.path, "host": self.headers["Host"]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def echo_origin() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_requests_for_a_shop_go_to_the_override_origin_with_the_shop_as_host(echo_origin: str) -> None:
    client = build_client(load_settings({"APP_ENV": "test", "SHOPIFY_ADMIN_ORIGIN": echo_origin}))
    answer = client.post("https://demo.myshopify.com/admin/api/2026-10/graphql.json?x=1", json={}).json()
    assert answer == {"path": "/admin/api/2026-10/graphql.json?x=1", "host": "demo.myshopify.com"}


def test_other_hosts_are_not_redirected(echo_origin: str) -> None:
    client = build_client(load_settings({"APP_ENV": "test", "SHOPIFY_ADMIN_ORIGIN": echo_origin}))
    port = echo_origin.rsplit(":", 1)[1]
    answer = client.post(f"http://localhost:{port}/other", json={}).json()
    assert answer == {"path": "/other", "host": f"localhost:{port}"}


def test_tokens_round_trip_and_the_ciphertext_does_not_contain_them() -> None:
    cipher = TokenCipher((Fernet.generate_key().decode(),))
    ciphertext = cipher.encrypt("shpat_secret_token")
    assert "shpat" not in ciphertext and cipher.decrypt(ciphertext) == "shpat_secret_token"


def test_a_rotated_key_still_decrypts_and_rotation_moves_to_the_new_key() -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    stored = TokenCipher((old,)).encrypt("shpat_1")
    both = TokenCipher((new, old))
    assert both.decrypt(stored) == "shpat_1"
    rotated = both.rotate(stored)
    assert TokenCipher((new,)).decrypt(rotated) == "shpat_1"
    with pytest.raises(InvalidToken):
        TokenCipher((new,)).decrypt(stored)


@pytest.mark.parametrize("keys", [(), ("not-a-fernet-key",)])
def test_missing_or_malformed_keys_are_a_clear_start_up_error(keys: tuple[str, ...]) -> None:
    with pytest.raises(ConfigError, match="LOYALTY_ENCRYPTION_KEY"):
        TokenCipher(keys)


def test_development_generates_one_key_under_instance_and_keeps_it(tmp_path: Path) -> None:
    settings = load_settings({"APP_ENV": "development"})
    first = cipher_for(settings, tmp_path).encrypt("t")
    assert (tmp_path / DEV_KEY_FILE).stat().st_mode & 0o777 == 0o600
    assert cipher_for(settings, tmp_path).decrypt(first) == "t"
