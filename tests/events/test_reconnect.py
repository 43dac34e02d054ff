"""A stream process outlives a Redis restart: it waits, reconnects, re-creates its group and carries on.

The Redis here is a redis-server of the test's own on a free port (the shared one is never restarted)."""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator

import pytest
import redis
from sqlalchemy.orm import Session, sessionmaker

from app.events import stream
from app.events.consumer import ConsumerSettings, StreamConsumer
from app.loyalty.base.inbound import InboundEvent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class OwnRedis:
    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def own_redis() -> Iterator[OwnRedis]:
    server = OwnRedis()
    server.start()
    yield server
    server.stop()


def wait_until(condition: Callable[[], bool], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_the_consumer_outlives_a_redis_restart_and_processes_what_comes_after(  # type: ignore[no-untyped-def]
    own_redis: OwnRedis,
    session_factory: sessionmaker[Session],
    accept_order: Callable[..., InboundEvent],
    redis_namespace: str,
) -> None:
    client = redis.Redis(port=own_redis.port, socket_timeout=5)
    consumer = StreamConsumer(
        session_factory, client, redis_namespace, name="survivor", settings=ConsumerSettings(block_ms=50)
    )
    loop = threading.Thread(target=consumer.run)
    loop.start()
    try:
        stream.publish(client, consumer.keys, accept_order(1))
        wait_until(lambda: consumer.processed == 1)

        own_redis.stop()  # everything in it is gone, the consumer group too
        time.sleep(0.5)
        assert loop.is_alive()
        own_redis.start()
        stream.publish(client, consumer.keys, accept_order(2))
        wait_until(lambda: consumer.processed == 2)
        assert loop.is_alive()
    finally:
        consumer.stop()
        loop.join(timeout=30)
    assert not loop.is_alive()
