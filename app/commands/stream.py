"""`flask --app app stream run`: the Procfile's `stream` process."""

from __future__ import annotations

import signal
from types import FrameType

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext
from sqlalchemy.orm import sessionmaker

from app.events.consumer import ConsumerSettings, StreamConsumer
from app.extensions import db, redis_store
from app.monitoring.metrics import start_process_exporter

stream_cli = AppGroup("stream", help="The Redis Streams consumer.")


@stream_cli.command("run")
@click.option("--name", default=None, help="Consumer name (default: host-pid).")
@click.option("--batch-size", default=50, show_default=True)
@click.option(
    "--redrive-after",
    default=60,
    show_default=True,
    help="Seconds an inbox row may stay pending before it is published again (Redis lost its entry).",
)
@click.option(
    "--retry-base-ms",
    default=5000,
    show_default=True,
    help="Back-off of a failed or waiting event: retried after this many ms, doubling with each delivery.",
)
@with_appcontext
def run(name: str | None, batch_size: int, redrive_after: int, retry_base_ms: int) -> None:
    """Consume loyalty events until SIGTERM/SIGINT; the batch in hand is finished (committed and acknowledged) and
    the partitions are given back first."""
    consumer = StreamConsumer(
        sessionmaker(db.engine, expire_on_commit=False),
        redis_store.client,
        redis_store.namespace,
        name=name,
        settings=ConsumerSettings(batch_size=batch_size, redrive_after_s=redrive_after, retry_base_ms=retry_base_ms),
    )

    def stop(signum: int, _frame: FrameType | None) -> None:
        current_app.logger.info("stream consumer %s stopping (signal %d)", consumer.name, signum)
        consumer.stop()

    start_process_exporter()  # its own /metrics port when it runs in a container of its own
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    click.echo(
        f"stream consumer {consumer.name} sharing the {len(consumer.keys.partitions)} partitions of"
        f" {consumer.keys.namespace}:events with the other stream processes"
    )
    consumer.run()
    click.echo(f"stream consumer {consumer.name} stopped after {consumer.processed} events")
