"""The ledger CSV export through a real server: Flask pops the request's app context before a server reads a streamed
body, and the test client (inside the test's own app context) cannot show what that does to a generator reading the
database. Both exports stopped after their header row (the whole shop's) or failed (one customer's) before."""

from __future__ import annotations

import csv
import io
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from werkzeug.serving import make_server

from app.extensions import db
from tests.admin.conftest import Admin, add_member
from tests.admin.free_port import free_port


@pytest.fixture
def served(app: Any, demo_shop: Any) -> Iterator[str]:
    port = free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    server.shutdown()
    thread.join()


def test_the_ledger_csv_streams_every_entry_from_a_real_server(app: Any, demo_shop: Any, served: str) -> None:
    add_member(db.session, demo_shop, "7001", email="ada@example.com", name="Ada", points=120)
    add_member(db.session, demo_shop, "7002", email="bob@example.com", name="Bob", points=80)
    db.session.commit()
    headers = Admin(app).headers()
    whole = httpx.get(f"{served}/admin/customers/ledger.csv", headers=headers, timeout=10)
    one = httpx.get(f"{served}/admin/customers/ledger.csv?customer_id=7002", headers=headers, timeout=10)
    assert (whole.status_code, one.status_code) == (200, 200)
    rows = list(csv.DictReader(io.StringIO(whole.text)))
    assert sorted(row["points"] for row in rows) == ["120", "80"]
    assert [row["points"] for row in csv.DictReader(io.StringIO(one.text))] == ["80"]
