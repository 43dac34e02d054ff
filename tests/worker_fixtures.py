"""The worker's Huey as the worker process builds it, for any test that enqueues or runs tasks (a pytest plugin
loaded by tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def worker_huey(database_url: str, redis_url: str, redis_namespace: str, shopify_fake_server) -> Iterator[object]:  # type: ignore[no-untyped-def]
    """`app.tasks.huey` and the worker's Flask app, built as the worker process builds them: from the environment,
    here pointed at this run's database and Redis namespace, and at the fake Shopify with the test app's credentials
    (the outbox tasks call it)."""
    from tests.shopify.conftest import TEST_ENCRYPTION_KEY
    from tests.shopify_fake.signing import TEST_API_KEY, TEST_API_SECRET

    with pytest.MonkeyPatch.context() as environment:
        environment.setenv("APP_ENV", "test")
        environment.setenv("DATABASE_URL", database_url)
        environment.setenv("REDIS_URL", redis_url)
        environment.setenv("LOYALTY_REDIS_NAMESPACE", redis_namespace)
        environment.setenv("SHOPIFY_ADMIN_ORIGIN", shopify_fake_server.origin)
        environment.setenv("SHOPIFY_API_KEY", TEST_API_KEY)
        environment.setenv("SHOPIFY_API_SECRET", TEST_API_SECRET)
        environment.setenv("LOYALTY_ENCRYPTION_KEY", TEST_ENCRYPTION_KEY)
        # Merchants' webhook endpoints in these tests are receivers on 127.0.0.1.
        environment.setenv("LOYALTY_WEBHOOKS_ALLOW_PRIVATE_TARGETS", "true")
        from app.tasks import huey
        from app.tasks.context import worker_app

        app = worker_app()
    yield huey
    huey.flush()
    from app.extensions import db

    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def worker(worker_huey, clean_state):  # type: ignore[no-untyped-def]
    """The worker's Huey with an empty queue and schedule."""
    worker_huey.flush()
    yield worker_huey
    worker_huey.flush()


def run_next_task(huey) -> str:  # type: ignore[no-untyped-def]
    """Take the next task off the Redis queue and execute it as the consumer does; its name. No retry may follow."""
    task = huey.dequeue()
    assert task is not None, "nothing was enqueued"
    huey.execute(task)
    assert (huey.pending_count(), huey.scheduled_count()) == (0, 0), "the task failed and was scheduled to retry"
    return task.name
