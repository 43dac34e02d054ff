"""Runs the fake Shopify by hand: `python -m tests.shopify_fake --port 8765 --api-key K --api-secret S`.

Point the app at it with SHOPIFY_ADMIN_ORIGIN=http://127.0.0.1:8765 (development and test only). `--install SHOP`
issues an expiring offline token for a shop at start, for trying Admin GraphQL with curl.
"""

from __future__ import annotations

import argparse
import json
import signal
import threading
from typing import NoReturn

from tests.shopify_fake.bucket import DEFAULT_MAXIMUM, DEFAULT_RESTORE_RATE
from tests.shopify_fake.server import FakeShopify
from tests.shopify_fake.state import DEFAULT_SCOPES, AppConfig


def _stop(_signum: int, _frame: object) -> NoReturn:
    raise SystemExit(0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.shopify_fake", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--api-key", required=True, help="the app's client id (SHOPIFY_API_KEY)")
    parser.add_argument("--api-secret", required=True, help="the app's client secret (SHOPIFY_API_SECRET)")
    parser.add_argument("--scopes", default=DEFAULT_SCOPES)
    parser.add_argument("--bucket-size", type=float, default=DEFAULT_MAXIMUM)
    parser.add_argument("--restore-rate", type=float, default=DEFAULT_RESTORE_RATE)
    parser.add_argument("--install", action="append", default=[], metavar="SHOP", help="issue a token for SHOP")
    options = parser.parse_args(argv)
    config = AppConfig(
        api_key=options.api_key,
        api_secret=options.api_secret,
        scopes=options.scopes,
        bucket_size=options.bucket_size,
        restore_rate=options.restore_rate,
    )
    # SIGTERM stops it cleanly too: a process started in the background by a shell inherits SIGINT ignored, so Ctrl-C's
    # signal alone cannot be relied on by whoever started it (a supervisor, the tests).
    signal.signal(signal.SIGTERM, _stop)
    fake = FakeShopify(config)
    origin = fake.start(options.host, options.port)
    print(f"fake Shopify listening on {origin} (send the shop's domain in the Host header)", flush=True)
    for shop in options.install:
        print(json.dumps({"shop": shop, **fake.state.install(shop)}), flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
