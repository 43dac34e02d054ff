"""The stream consumer: read a batch, apply it in one transaction (processing.process_batch), commit, then
acknowledge it with one XACK (L6). A batch that fails is split until the failing event stands alone.

- The stream is split into partitions; this consumer reads only those it holds a lease on (app/events/leases.py), so
  several processes share the partitions and one that dies is replaced once its leases expire.
- A failing event stays in the group's pending list and is retried with exponential back-off (stream.claim_stale);
  after `max_deliveries` it goes to the dead-letter stream and a `dead_letters` row with its error, replayable with
  `loyalty events replay`.
- What goes on the stream, and back on it when Redis lost or trimmed an entry, is the relay's job
  (app/events/relay.py); the dedupe row makes a duplicate harmless.
- Housekeeping trims what the group has acknowledged from the held partitions (never a pending entry).
- A heartbeat key tells /monitoring/health that this consumer is alive.
- After a customers/redact commits, the customer's storefront keys go (app/graphql/shopper_keys.py) before the XACK,
  and the request's own entry (the email and phone Shopify sent) is deleted after it.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import traceback
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone

import redis
from sqlalchemy import insert
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from app.events import inbox, stream
from app.events.backoff import Backoff
from app.events.envelope import from_fields
from app.events.leases import PartitionLeases
from app.events.unit_of_work import unit_of_work
from app.graphql import shopper_keys
from app.loyalty.base.inbound import InboundEvent
from app.loyalty.base.outcome import Outcome, RetryLater, Unprocessable
from app.loyalty.processing import process_batch, split_batches
from app.models import DeadLetter
from app.monitoring.logs import log_context
from app.monitoring.metrics import record_event, record_rule_evaluation

log = logging.getLogger(__name__)
HEARTBEAT_TTL_S = 30
REDACT_CUSTOMER = "customer_redact_requested"
# How often a consumer short of its fair share of partitions looks for free ones (a few Redis commands each time).
SHORT_OF_SHARE_EVERY_S = 0.25


@dataclass
class ConsumerSettings:
    batch_size: int = 200
    block_ms: int = 1000
    retry_base_ms: int = 5_000
    max_deliveries: int = 5
    housekeeping_every_s: float = 5.0
    # A partition whose holder has not renewed its lease for this long is taken over by another process. Renewed by
    # housekeeping, so it must be a few times housekeeping_every_s.
    lease_ttl_ms: int = 15_000


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
        self.name = name or default_consumer_name()
        self.settings = settings or ConsumerSettings()
        self.keys = stream.StreamKeys.for_namespace(namespace)
        self.leases = PartitionLeases(client, self.keys, self.name, ttl_ms=self.settings.lease_ttl_ms)
        self.stop_event = threading.Event()
        self._clock = clock
        self._last_housekeeping = 0.0
        self.processed = 0
        self.duplicates = 0

    def now(self) -> datetime:
        return self._clock.now(timezone.utc)

    def run(self) -> None:
        """Loop until stop() (or SIGTERM/SIGINT through the CLI); finishes the batch in hand, then gives its
        partitions back so other processes take them over at once.

        Redis or PostgreSQL going away (a restart, a fail-over) does not end the loop: it waits with growing pauses
        and carries on; what was in hand stays pending and is retried.
        """
        backoff = Backoff()
        resumed = False
        try:
            while not self.stop_event.is_set():
                try:
                    if not resumed:
                        stream.ensure_group(self.client, self.keys)
                        resumed = True
                        self._last_housekeeping = 0.0  # take partitions now
                    self.run_once()
                    backoff.succeeded()
                except (redis.ConnectionError, redis.TimeoutError, redis.ResponseError, OperationalError) as exc:
                    if isinstance(exc, redis.ResponseError) and "NOGROUP" not in str(exc):
                        raise
                    pause = backoff.failed()
                    log.warning("consumer %s lost a connection (%s); retrying in %.1fs", self.name, exc, pause)
                    resumed = False  # a restarted Redis may have lost the groups (NOGROUP): create them again
                    self.stop_event.wait(pause)
        finally:
            self._give_back_partitions()

    def stop(self) -> None:
        self.stop_event.set()

    def run_once(self) -> int:
        """One iteration: housekeeping when due, then one blocking read of the held partitions (about one batch in
        all); returns how many messages were handled."""
        every = self.settings.housekeeping_every_s
        if self.leases.short_of_share:
            # Short of its share (holding nothing, or taken part of it while another process was giving its extra
            # partitions back): look for free ones four times a second, or a freed partition waits unread until then.
            every = min(every, SHORT_OF_SHARE_EVERY_S)
        if time.monotonic() - self._last_housekeeping >= every:
            self.housekeeping()
        owned = self.leases.owned
        if not owned:
            self.stop_event.wait(self.settings.block_ms / 1000)
            return 0
        messages = stream.read_new(
            self.client,
            owned,
            self.name,
            count=max(1, self.settings.batch_size // len(owned)),
            block_ms=self.settings.block_ms,
        )
        return self.handle(messages)

    def housekeeping(self) -> None:
        """Heartbeat; renew, give back or take partitions; redo this name's pending entries of newly taken ones;
        claim stale entries and trim the held partitions."""
        self._last_housekeeping = time.monotonic()
        self.client.set(heartbeat_key(self.namespace, self.name), self.now().isoformat(), ex=HEARTBEAT_TTL_S)
        for partition in self.leases.rebalance():
            self.handle(stream.read_own_pending(self.client, partition, self.name, count=self.settings.batch_size))
        for partition in self.leases.owned:
            self.handle(stream.claim_stale(self.client, partition, self.name, base_idle_ms=self.settings.retry_base_ms))
            stream.trim(self.client, partition)

    def _give_back_partitions(self) -> None:
        try:
            self.leases.release_all()
        except redis.RedisError as exc:  # Redis is away: the leases expire by themselves
            log.warning("consumer %s could not give its partitions back (%s)", self.name, exc)

    def handle(self, messages: list[stream.Message]) -> int:
        """Process and acknowledge messages in batches (one transaction each, one XACK each); returns how many came.

        A batch that fails is rolled back and split in halves until the failing event stands alone: the others
        commit, and only that one stays pending for a later, backed-off retry (or goes to the dead letters).
        """
        ready: dict[uuid.UUID, list[stream.Message]] = {}
        events: list[InboundEvent] = []
        for message in messages:
            if message.fields is None:
                # Deleted while pending (by hand: trim() keeps pending entries): the inbox still has the event, and
                # the relay streams it again.
                stream.ack(self.client, message)
                continue
            try:
                event = from_fields(message.fields)
            except (ValueError, KeyError, TypeError) as exc:
                self._dead_letter(message, f"malformed message: {exc}", event=None)
                record_event("other", "dead_lettered")
                continue
            if event.event_id not in ready:
                events.append(event)
            # The same event twice in one read (a re-publish): applied once, both entries acknowledged with it.
            ready.setdefault(event.event_id, []).append(message)
        # Everything read is in hand and is finished even after stop(): it is about one batch (run_once reads
        # batch_size in all), and leaving it pending would hold it back until another process's claim.
        for batch in split_batches(events, max_size=self.settings.batch_size):
            self._apply(batch, ready)
        return len(messages)

    def handle_one(self, message: stream.Message) -> None:
        """Process and acknowledge one message (see handle)."""
        self.handle([message])

    def _apply(self, batch: list[InboundEvent], messages: dict[uuid.UUID, list[stream.Message]]) -> None:
        session = self.sessions()
        started = time.perf_counter()
        try:
            with unit_of_work(session):
                outcomes = process_batch(session, batch, consumer_group=stream.GROUP, now=self.now())
        except Exception as exc:  # noqa: BLE001 - any failure: split the batch, or count the lone event's attempt
            if len(batch) > 1:
                log.info("batch of %d failed (%s: %s); splitting it", len(batch), type(exc).__name__, exc)
                middle = len(batch) // 2
                self._apply(batch[:middle], messages)
                self._apply(batch[middle:], messages)
            else:
                [event] = batch
                for message in messages[event.event_id]:
                    self._failed(event, message, exc)
            return
        finally:
            session.close()
        # An event that waits for another (a refund read before its order) was left out of the commit, nothing of
        # it written: it stays pending for a backed-off retry while its batch-mates are acknowledged.
        waiting = [(event, outcome.waiting) for event, outcome in zip(batch, outcomes, strict=True) if outcome.waiting]
        done = [(event, outcome) for event, outcome in zip(batch, outcomes, strict=True) if not outcome.waiting]
        redactions = [event for event, _ in done if event.event_type == REDACT_CUSTOMER]
        self._forget_shoppers(redactions)
        stream.ack(self.client, *(m for event, _ in done for m in messages[event.event_id]))
        stream.discard(self.client, *(m for event in redactions for m in messages[event.event_id]))
        for event, reason in waiting:
            for message in messages[event.event_id]:
                self._failed(event, message, reason)
        self.duplicates += sum(1 for _, outcome in done if outcome.duplicate)
        self.processed += sum(1 for _, outcome in done if not outcome.duplicate)
        if done:
            seconds = time.perf_counter() - started
            self._record([event for event, _ in done], [outcome for _, outcome in done], seconds=seconds)

    def _forget_shoppers(self, redactions: list[InboundEvent]) -> None:
        """After customers/redact events committed, the customers' storefront keys in Redis go too (kept answers,
        rate-limit counters: app/graphql/shopper_keys.py). Before the XACK, so a Redis failure here leaves the event
        pending; its retry is a duplicate in the database and deletes the keys then."""
        for event in redactions:
            if event.customer_id is not None:
                shopper_keys.forget_shopper(
                    self.client, self.namespace, shop_domain=event.shop_domain, customer_id=event.customer_id
                )

    def _record(self, batch: list[InboundEvent], outcomes: list[Outcome], *, seconds: float) -> None:
        """Metrics and one log line per committed event; the batch's time is shared out evenly among its events."""
        committed = self.now()
        for event, outcome in zip(batch, outcomes, strict=True):
            kind = "duplicate" if outcome.duplicate else "processed"
            record_event(
                event.event_type,
                kind,
                seconds=seconds / len(batch),
                age_s=(committed - event.timestamp).total_seconds(),
            )
            if outcome.rules_elapsed_ns is not None:
                record_rule_evaluation(outcome.rules_elapsed_ns / 1e9)
            with log_context(event_id=str(event.event_id), shop=event.shop_domain, outcome=kind):
                log.info("event %s %s", event.event_id, kind)

    def _failed(self, event: InboundEvent, message: stream.Message, exc: Exception) -> None:
        """Count a failed attempt; leave the message pending for a backed-off retry, or dead-letter it at the last."""
        if isinstance(exc, RetryLater):
            # Waiting for another event (a refund for its order): back off, but never dead-letter for it; it ends
            # once that event is processed or itself dead-lettered.
            log.info("event %s waits: %s (delivery %d)", event.event_id, exc, message.deliveries)
            record_event(event.event_type, "retry_later")
            with self.sessions.begin() as bookkeeping:
                inbox.record_failure(bookkeeping, event.event_id, f"waiting: {exc}", dead=False)
            return
        error = f"{type(exc).__name__}: {exc}"
        trace = "".join(traceback.format_exception(exc))
        log.error("event %s failed (delivery %d)\n%s", event.event_id, message.deliveries, trace)
        dead = isinstance(exc, Unprocessable) or message.deliveries >= self.settings.max_deliveries
        record_event(event.event_type, "dead_lettered" if dead else "failed")
        with self.sessions.begin() as bookkeeping:
            inbox.record_failure(bookkeeping, event.event_id, error, dead=dead)
        if dead:
            self._dead_letter(message, error, event=event, trace=trace)

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
        stream.dead_letter(self.client, message, error)
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
