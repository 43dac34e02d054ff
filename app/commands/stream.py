"""`flask --app app stream run`: the Procfile's `stream` process: the consumer, and the inbox relay in a thread."""

from __future__ import annotations

import signal
from types import FrameType

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext
from sqlalchemy.orm import sessionmaker

from app.events.consumer import ConsumerSettings, StreamConsumer
from app.events.relay import Relay, RelaySettings
from app.extensions import db, redis_store
from app.monitoring.metrics import start_process_exporter

stream_cli = AppGroup("stream", help="The Redis Streams consumer.")


@stream_cli.command("run")
@click.option("--name", default=None, help="Consumer name (default: host-pid).")
@click.option("--batch-size", default=200, show_default=True)
@click.option(
    "--retry-base-ms",
    default=5000,
    show_default=True,
    help="Back-off of a failed or waiting event: retried after this many ms, doubling with each delivery.",
)
@click.option(
    "--refeed-after",
    default=60,
    show_default=True,
    help="Seconds after streaming a still-pending inbox row that the relay streams it again (Redis lost its entry).",
)
@with_appcontext
def run(name: str | None, batch_size: int, retry_base_ms: int, refeed_after: int) -> None:
    """Consume loyalty events until SIGTERM/SIGINT; the batch in hand is finished (committed and acknowledged) and
    the partitions are given back first.

    The inbox relay runs in a thread beside the consumer: every stream process has one, and one at a time streams
    (an advisory lock), so the events keep flowing as long as any stream process runs.
    """
    consumer = StreamConsumer(
        sessionmaker(db.engine, expire_on_commit=False),
        redis_store.client,
        redis_store.namespace,
        name=name,
        settings=ConsumerSettings(batch_size=batch_size, retry_base_ms=retry_base_ms),
    )

    relay = Relay(db.engine, redis_store.client, consumer.keys, settings=RelaySettings(refeed_after_s=refeed_after))

    def stop(signum: int, _frame: FrameType | None) -> None:
        current_app.logger.info("stream consumer %s stopping (signal %d)", consumer.name, signum)
        relay.stop()
        consumer.stop()

    start_process_exporter()  # its own /metrics port when it runs in a container of its own
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    click.echo(
        f"stream consumer {consumer.name} sharing the {len(consumer.keys.partitions)} partitions of"
        f" {consumer.keys.namespace}:events with the other stream processes"
    )
    relaying = relay.start_thread()
    consumer.run()
    relay.stop()
    relaying.join(timeout=30)
    click.echo(f"stream consumer {consumer.name} stopped after {consumer.processed} events")
