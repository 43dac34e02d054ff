"""`flask --app app events …`: inspect and replay dead letters, re-feed the stream from the inbox, run the relay."""

from __future__ import annotations

import signal
from datetime import datetime, timezone
from types import FrameType

import click
from flask.cli import AppGroup, with_appcontext
from sqlalchemy import select

from app.events import inbox, stream
from app.events.relay import Relay
from app.events.replay import take_for_replay
from app.extensions import db, redis_store
from app.models import DeadLetter

events_cli = AppGroup("events", help="Dead letters, replays and the inbox relay.")


@events_cli.command("dead")
@with_appcontext
def list_dead() -> None:
    """List dead letters not yet replayed."""
    rows = db.session.execute(
        select(DeadLetter).where(DeadLetter.replayed_at.is_(None)).order_by(DeadLetter.id)
    ).scalars()
    for row in rows:
        click.echo(f"{row.id}\t{row.event_id}\t{row.deliveries} deliveries\t{row.error[:120]}")


@events_cli.command("replay")
@click.argument("dead_letter_ids", nargs=-1, type=int)
@click.option("--all", "replay_all", is_flag=True, help="Replay every dead letter not yet replayed.")
@with_appcontext
def replay(dead_letter_ids: tuple[int, ...], replay_all: bool) -> None:
    """Queue dead-lettered events again: their inbox rows become pending and the relay streams them next."""
    if not dead_letter_ids and not replay_all:
        raise click.UsageError("name dead letter ids, or pass --all")
    with db.session.begin():
        taken = take_for_replay(
            db.session, now=datetime.now(timezone.utc), ids=None if replay_all else list(dead_letter_ids)
        )
    for letter_id in taken.unreadable:
        click.echo(f"dead letter {letter_id} has no readable event; left as is", err=True)
    click.echo(f"replayed {len(taken.replayed)} dead letter(s)")


@events_cli.command("redrive")
@click.option("--older-than", default=60, show_default=True, help="Seconds an inbox row must have waited.")
@with_appcontext
def redrive(older_than: int) -> None:
    """Stream pending inbox rows again (after a Redis loss): the relay of a running stream process sends them;
    duplicates are harmless."""
    with db.session.begin():
        handed_back = inbox.refeed_older_than(
            db.session, received_before=inbox.grace_cutoff(datetime.now(timezone.utc), older_than)
        )
    click.echo(f"handed {handed_back} event(s) back to the relay")


@events_cli.command("relay")
@with_appcontext
def relay() -> None:
    """Run the inbox relay alone until SIGTERM/SIGINT (every `stream run` already runs one)."""
    running = Relay(db.engine, redis_store.client, stream.StreamKeys.for_namespace(redis_store.namespace))

    def stop(_signum: int, _frame: FrameType | None) -> None:
        running.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    running.run()
    click.echo(f"relay stopped after streaming {running.published} event(s)")
