"""The stream consumer: claim a batch, one transaction per event, commit, then acknowledge (L6).

- A failing event stays in the group's pending list and is retried with exponential back-off (stream.claim_stale);
  after `max_deliveries` it goes to the dead-letter stream and a `dead_letters` row with its error, replayable with
  `flask --app app events replay`.
- Inbox rows still pending after `redrive_after_s` (Redis lost or trimmed the entry) are published again when the
  group has caught up; the dedupe row makes the duplicate harmless.
- A heartbeat key tells /monitoring/health that this consumer is alive.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import traceback
from dataclasses import dataclass
from datetime import datetime, timezone

import redis
from sqlalchemy import insert
from sqlalchemy.orm import Session, sessionmaker

from app.events import inbox, stream
from app.events.envelope import from_fields
from app.events.unit_of_work import unit_of_work
from app.loyalty.base.inbound import InboundEvent
from app.loyalty.base.outcome import Outcome, RetryLater
from app.loyalty.processing.event import process_event
from app.models import DeadLetter

log = logging.getLogger(__name__)
HEARTBEAT_TTL_S = 30


@dataclass
class ConsumerSettings:
    batch_size: int = 50
    block_ms: int = 1000
    retry_base_ms: int = 5_000
    max_deliveries: int = 5
    redrive_after_s: int = 60
    housekeeping_every_s: float = 5.0


def default_consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def heartbeat_key(namespace: str, consumer: str) -> str:
    return f"{namespace}:consumers:{consumer}"


class StreamConsumer:
    """One consumer of the group; run several processes (or threads) to scale out."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        client: redis.Redis,
        namespace: str,
        *,
        name: str | None = None,
        settings: ConsumerSettings | None = None,
        clock: type[datetime] = datetime,
    ) -> None:
        self.sessions = sessions
        self.client = client
        self.namespace = namespace
        self.keys = stream.StreamKeys.for_namespace(namespace)
        self.name = name or default_consumer_name()
        self.settings = settings or ConsumerSettings()
        self.stop_event = threading.Event()
        self._clock = clock
        self._last_housekeeping = 0.0
        self.processed = 0
        self.duplicates = 0

    def now(self) -> datetime:
        return self._clock.now(timezone.utc)

    def run(self) -> None:
        """Loop until stop() (or SIGTERM/SIGINT through the CLI); finishes the event in hand before returning."""
        stream.ensure_group(self.client, self.keys)
        self.handle(stream.read_own_pending(self.client, self.keys, self.name, count=self.settings.batch_size))
        while not self.stop_event.is_set():
            self.run_once()

    def stop(self) -> None:
        self.stop_event.set()

    def run_once(self) -> int:
        """One iteration: housekeeping when due, then one blocking read; returns how many messages were handled."""
        if time.monotonic() - self._last_housekeeping >= self.settings.housekeeping_every_s:
            self.housekeeping()
        messages = stream.read_new(
            self.client, self.keys, self.name, count=self.settings.batch_size, block_ms=self.settings.block_ms
        )
        return self.handle(messages)

    def housekeeping(self) -> None:
        self._last_housekeeping = time.monotonic()
        self.client.set(heartbeat_key(self.namespace, self.name), self.now().isoformat(), ex=HEARTBEAT_TTL_S)
        self.handle(stream.claim_stale(self.client, self.keys, self.name, base_idle_ms=self.settings.retry_base_ms))
        self.redrive()

    def handle(self, messages: list[stream.Message]) -> int:
        for message in messages:
            if self.stop_event.is_set():
                break
            self.handle_one(message)
        return len(messages)

    def handle_one(self, message: stream.Message) -> Outcome | None:
        """Process and acknowledge one message; on failure leave it pending for a later, backed-off retry."""
        if message.fields is None:
            # Trimmed while pending: the inbox still has the event, and redrive() publishes it again.
            stream.ack(self.client, self.keys, message.stream_id)
            return None
        try:
            event = from_fields(message.fields)
        except (ValueError, KeyError, TypeError) as exc:
            self._dead_letter(message, f"malformed message: {exc}", event=None)
            return None
        session = self.sessions()
        try:
            with unit_of_work(session, self.client, self.keys):
                outcome = process_event(session, event, consumer_group=stream.GROUP, now=self.now())
        except RetryLater as exc:
            # Waiting for another event (a refund for its order): back off, but never dead-letter for it; it ends
            # once that event is processed or itself dead-lettered.
            log.info("event %s waits: %s (delivery %d)", event.event_id, exc, message.deliveries)
            with self.sessions.begin() as bookkeeping:
                inbox.record_failure(bookkeeping, event.event_id, f"waiting: {exc}", dead=False)
            return None
        except Exception as exc:  # noqa: BLE001 - any failure: keep the message, count the attempt
            error = f"{type(exc).__name__}: {exc}"
            log.exception("event %s failed (delivery %d)", event.event_id, message.deliveries)
            dead = message.deliveries >= self.settings.max_deliveries
            with self.sessions.begin() as bookkeeping:
                inbox.record_failure(bookkeeping, event.event_id, error, dead=dead)
            if dead:
                self._dead_letter(message, error, event=event, trace=traceback.format_exc())
            return None
        finally:
            session.close()
        stream.ack(self.client, self.keys, message.stream_id)
        if outcome.duplicate:
            self.duplicates += 1
        else:
            self.processed += 1
        return outcome

    def redrive(self) -> int:
        """Publish inbox rows still pending long after they arrived that the stream no longer carries.

        Only once the group has been handed every entry, and never for an event still in the group's pending list
        (being processed or backing off): what is left was lost by Redis, or trimmed. A race with another consumer
        at worst publishes a duplicate, which the dedupe row absorbs.
        """
        if not stream.caught_up(self.client, self.keys):
            return 0
        cutoff = inbox.grace_cutoff(self.now(), self.settings.redrive_after_s)
        with self.sessions.begin() as session:
            candidates = inbox.pending_for_redrive(session, older_than=cutoff)
        if not candidates:
            return 0
        in_flight = stream.in_flight_event_ids(self.client, self.keys)
        events = [event for event in candidates if str(event.event_id) not in in_flight]
        for event in events:
            stream.publish(self.client, self.keys, event)
        if events:
            log.warning(
                "re-published %d inbox events still pending after %ds", len(events), self.settings.redrive_after_s
            )
        return len(events)

    def _dead_letter(
        self, message: stream.Message, error: str, *, event: InboundEvent | None, trace: str | None = None
    ) -> None:
        """Keep the message with its error (and the traceback of its last failure, for whoever investigates) under
        its shop, so customer and shop redaction find the payload it holds."""
        fields = {
            (k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
            for k, v in (message.fields or {}).items()
        }
        event_id = None if event is None else event.event_id
        with self.sessions.begin() as session:
            shop_id = None if event is None else inbox.shop_id_of(session, event.shop_domain)
            session.execute(
                insert(DeadLetter).values(
                    shop_id=shop_id,
                    event_id=event_id,
                    stream_id=message.stream_id,
                    deliveries=message.deliveries,
                    error=_with_trace(error, trace),
                    fields=fields,
                )
            )
        stream.dead_letter(self.client, self.keys, message, error)
        log.error("event %s dead-lettered after %d deliveries: %s", event_id, message.deliveries, error)


# The stored error: its line first (what lists and alerts show), then as much of the traceback as fits.
MAX_ERROR_CHARS = 16_000


def _with_trace(error: str, trace: str | None) -> str:
    if not trace:
        return error[:MAX_ERROR_CHARS]
    text = f"{error}\n\n{trace}"
    if len(text) <= MAX_ERROR_CHARS:
        return text
    # Keep the error line and the innermost frames, where the failure happened.
    return f"{error[:2000]}\n\n…\n{trace[-(MAX_ERROR_CHARS - 2010) :]}"
