"""The relay: the one owner of "inbox -> stream".

POST /webhooks only commits the inbox row and answers; every transaction that stages app events (tier_changed, …)
only commits them. The relay follows the inbox and puts each pending row on the Redis stream:

- one transaction per batch: take the rows still pending without `published_at`, oldest id first (locked), XADD them
  in one pipelined round trip, set their `published_at`, commit. A crash or a Redis error anywhere before the commit
  rolls the marks back and the same rows go out again on the next turn; a duplicate on the stream is absorbed by the
  consumer's dedupe row. So a committed row is never left unstreamed, and nothing waits on Redis but the relay.
- the "position" it remembers is in the rows themselves (`published_at`), not a cursor: a row whose id is lower than
  one already streamed (its transaction committed later) is still found, which an id cursor would skip.
- one relay at a time: each turn runs under a transaction-scoped advisory lock, so with a relay in every stream
  process the others find the lock taken and look again only after `lock_retry_s`. Each partition thus gets its rows
  in the order one relay found them, batch after batch and by id within a batch, never two relays' batches
  interleaved; not in id order overall (a row that committed late follows higher ids already streamed, see above).
  Transaction-scoped, so it works behind PgBouncer in transaction mode.
- rows streamed long ago (`refeed_after_s`) that are still pending and that the consumer group no longer holds
  (Redis lost them in a restart, or trimming overtook them) are handed back (`published_at` cleared) and go out again,
  by the relay holding the lock only: the others would ask Redis the same questions for nothing.

It runs as a thread of every `stream` process (app/commands/stream.py); `loyalty events relay` runs it alone.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone

import redis
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import OperationalError

from app.events import inbox, stream
from app.events.backoff import Backoff

log = logging.getLogger(__name__)
# pg_try_advisory_xact_lock key of the relay ("relay" in ASCII); no other lock of the app uses it.
RELAY_LOCK = 0x72656C6179


@dataclass
class RelaySettings:
    batch_size: int = 500
    # Pause after a turn that found less than a full batch: about the most a row waits before the relay takes it.
    idle_poll_s: float = 0.05
    # Pause after finding the lock taken: another process's relay is at work; this one stands by in case it stops.
    lock_retry_s: float = 1.0
    refeed_after_s: int = 60
    refeed_every_s: float = 5.0


class Relay:
    def __init__(
        self,
        engine: Engine,
        client: redis.Redis,
        keys: stream.StreamKeys,
        *,
        settings: RelaySettings | None = None,
    ) -> None:
        self.engine = engine
        self.client = client
        self.keys = keys
        self.settings = settings or RelaySettings()
        self.stop_event = threading.Event()
        self._last_refeed = float("-inf")  # the first turn looks for lost rows
        self.published = 0

    def run(self) -> None:
        """Relay until stop(), one turn() after another. Redis or PostgreSQL going away does not end it: it waits with
        growing pauses and carries on, and whatever it had not committed goes out again. Any other error is logged and
        retried the same way: a relay that stopped would leave every new event waiting."""
        backoff = Backoff()
        while not self.stop_event.is_set():
            try:
                streamed = self.turn()
                if streamed is None:
                    self.stop_event.wait(self.settings.lock_retry_s)
                elif streamed < self.settings.batch_size:
                    # Caught up: let rows gather for a moment, so each turn (a transaction and a round trip to Redis)
                    # carries many of them instead of one.
                    self.stop_event.wait(self.settings.idle_poll_s)
                backoff.succeeded()
            except Exception as exc:  # noqa: BLE001 - see the docstring
                pause = backoff.failed()
                if isinstance(exc, (redis.ConnectionError, redis.TimeoutError, OperationalError)):
                    log.warning("relay lost a connection (%s); retrying in %.1fs", exc, pause)
                else:
                    log.exception("relay failed; retrying in %.1fs", pause)
                self.stop_event.wait(pause)

    def stop(self) -> None:
        self.stop_event.set()

    def start_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, name="inbox-relay", daemon=True)
        thread.start()
        return thread

    def turn(self) -> int | None:
        """One turn, as run() does it: in one transaction under the relay lock, hand back the rows the stream lost
        when that is due (every `refeed_every_s`, and on the first turn), then stream a batch. Returns how many rows
        it streamed (0 when none was waiting), or None, having done nothing, when another relay holds the lock: run()
        waits `lock_retry_s` after None and `idle_poll_s` after a short batch. Redis and PostgreSQL errors propagate,
        with nothing of the turn committed."""
        with self.engine.begin() as connection:
            if not connection.execute(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": RELAY_LOCK}).scalar():
                return None
            if time.monotonic() - self._last_refeed >= self.settings.refeed_every_s:
                self._last_refeed = time.monotonic()
                self._refeed_lost(connection)
            streamed = self._stream_batch(connection)
        self.published += streamed
        return streamed

    def _stream_batch(self, connection: Connection) -> int:
        rows = inbox.unpublished(connection, limit=self.settings.batch_size)
        if not rows:
            return 0
        stream.publish_many(self.client, self.keys, [event for _id, event in rows])
        inbox.mark_published(connection, [row_id for row_id, _event in rows])
        return len(rows)

    def _refeed_lost(self, connection: Connection) -> int:
        """Hand back rows streamed more than `refeed_after_s` ago, still pending, that the stream no longer carries.

        Only once the group has been handed every entry, and never for an event still in the group's pending list
        (being processed or backing off): what is left was lost by Redis, or trimmed. A race with a consumer at worst
        streams a duplicate, which the dedupe row absorbs.
        """
        if not stream.caught_up(self.client, self.keys):
            return 0
        cutoff = inbox.grace_cutoff(datetime.now(timezone.utc), self.settings.refeed_after_s)
        candidates = inbox.published_and_pending(connection, published_before=cutoff, limit=500)
        if not candidates:
            return 0
        in_flight = stream.in_flight_event_ids(self.client, self.keys)
        lost = [row_id for row_id, event_id in candidates if event_id not in in_flight]
        if not lost:
            return 0
        handed_back = inbox.refeed(connection, lost)
        if handed_back:  # none when the consumer finished them between the two reads
            log.warning(
                "%d inbox events streamed over %ds ago are no longer on the stream: streaming them again",
                handed_back,
                self.settings.refeed_after_s,
            )
        return handed_back
