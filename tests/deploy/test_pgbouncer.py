"""The app behind a real PgBouncer in transaction mode that keeps no prepared statements (PgBouncer before 1.21, or
`max_prepared_statements = 0`), with LOYALTY_DATABASE_PREPARED_STATEMENTS=off: webhooks through the inbox pool,
the relay and a consumer through the engine, storefront reads through their own engine, all on two server
connections, as a managed PostgreSQL's pooler hands them out. With preparing on, a statement psycopg prepared is
missing on the next server connection ("prepared statement ... does not exist"), or meets another client's of the
same name ("... already exists").

Debian's `pgbouncer` package (scripts/test installs it when run as root)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from app.commands.demo import DEMO_SHOP
from app.models import EventQueue, PointsTransaction
from tests.events.test_end_to_end import drain, loyalty_profile, make_consumer
from tests.helpers import order_payload

CUSTOMERS = [str(115310627314723954 + n) for n in range(12)]


def _pgbouncer() -> str:
    found = shutil.which("pgbouncer") or next(
        (path for path in ("/usr/sbin/pgbouncer", "/usr/bin/pgbouncer") if os.path.exists(path)), None
    )
    assert found, "PgBouncer is needed for this test: apt-get install pgbouncer (scripts/test does it when root)"
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def pgbouncer_url(database_url: str) -> Iterator[str]:
    """The test database behind a PgBouncer in transaction mode, two server connections shared by every client."""
    url = make_url(database_url)
    port = _free_port()
    # Readable by the user PgBouncer runs as: it refuses to run as root, and pytest's tmp_path is root's alone.
    folder = Path(tempfile.mkdtemp(prefix="loyalty-pgbouncer-"))
    folder.chmod(0o755)
    (folder / "users.txt").write_text(f'"{url.username}" ""\n')
    (folder / "pgbouncer.ini").write_text(
        "[databases]\n"
        f"{url.database} = host={url.host} port={url.port or 5432} dbname={url.database} user={url.username}\n"
        "[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        f"auth_type = trust\nauth_file = {folder / 'users.txt'}\n"
        # Two server connections taken in turn: each transaction of a client may land on the other one, where a
        # statement prepared on the first is missing, as under a busy pooler.
        "pool_mode = transaction\ndefault_pool_size = 2\nmin_pool_size = 2\nserver_round_robin = 1\n"
        "max_client_conn = 200\n"
        # psycopg sends no startup options; listed as a managed service's URL might add them.
        "ignore_startup_parameters = extra_float_digits,options\n"
    )
    for name in ("users.txt", "pgbouncer.ini"):
        (folder / name).chmod(0o644)
    command = [_pgbouncer(), str(folder / "pgbouncer.ini")]
    if os.geteuid() == 0:
        command[1:1] = ["-u", "nobody"]
    log = folder / "pgbouncer.log"
    process = subprocess.Popen(command, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    bounced = url.set(port=port).render_as_string(hide_password=False)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with psycopg.connect(bounced.replace("postgresql+psycopg://", "postgresql://"), connect_timeout=1):
                    break
            except psycopg.OperationalError as exc:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"PgBouncer did not start: {log.read_text(errors='replace')}") from exc
                time.sleep(0.1)
        yield bounced
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def settings_overrides(settings_overrides: dict[str, object], pgbouncer_url: str) -> dict[str, object]:
    return {**settings_overrides, "database_url": pgbouncer_url, "database_prepared_statements": False}


def test_webhooks_processing_and_storefront_reads_work_through_pgbouncer_in_transaction_mode(  # type: ignore[no-untyped-def]
    app, runner, client, shopify, redis_client, redis_namespace, db_session
) -> None:
    from app.extensions import db

    assert "127.0.0.1:5432" not in str(db.engine.url)  # every connection of the app goes through PgBouncer
    result = runner.invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    consumer = make_consumer(app, redis_client, redis_namespace)
    # More than psycopg's prepare_threshold (5) of each statement, on each of the app's pools.
    for round_ in range(2):
        for n, customer in enumerate(CUSTOMERS):
            payload = order_payload(order_id=1000 * round_ + n + 1, customer_id=int(customer), total="150.00")
            delivery = shopify.signed_webhook("orders/create", payload, shop=DEMO_SHOP, event_id=str(uuid.uuid4()))
            response = client.post("/webhooks", data=delivery.body, headers=delivery.headers)
            assert response.status_code == 200, response.get_json()
        drain(consumer)
    balances = []
    for customer in CUSTOMERS:
        response = loyalty_profile(client, shopify, customer=customer)
        assert response.status_code == 200, response.get_json()
        balances.append(response.get_json()["data"]["loyaltyProfile"]["points_balance"])
    # The demo's First Order Bonus: 500 points for a first order of 100 or more, once per customer.
    assert balances == [500] * len(CUSTOMERS)
    assert db_session.execute(select(func.count()).select_from(PointsTransaction)).scalar_one() == len(CUSTOMERS)
    statuses = db_session.execute(
        select(EventQueue.status, func.count())
        .where(EventQueue.event_type == "order_created")
        .group_by(EventQueue.status)
    ).all()
    assert statuses == [("processed", 2 * len(CUSTOMERS))]
