"""A durable local message broker on SQLite that behaves like the clouds' queues.

* ``publish`` routes each CloudEvent by the catalog: one delivery row per subscribed consumer
  (like an EventBridge rule or a filtered Pub/Sub subscription per consumer);
* ``receive`` leases due deliveries for a visibility timeout and counts the attempt;
* a failed delivery becomes visible again after exponential backoff with jitter, and after the
  consumer's ``max_delivery_attempts`` it moves to ``dead_letters`` with its reason (redrive);
* the broker is also the local ``DeadLetterSink``, so permanent failures park at once, and
  the local ``DeadLetterAdmin``: list, show, redrive (back into ``deliveries`` with the
  original event id and a ``redrivecount`` extension, in the same transaction that removes the
  dead letter) and purge.
Nothing is deleted before it is acknowledged, so a crash loses nothing.

It also keeps a bounded record of what happened (the console's live view and traces): every
published event (``event_log``) and the outcome of every delivery attempt with its latency
(``delivery_log``), each written in the transaction of the change it records.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cloudevents.abstract import CloudEvent

from functions.local.sqlite import Database
from shared.catalog import Catalog, default_catalog
from shared.deadletter import (
    DeadLetterRecord,
    count_redrive,
    redrive_count,
    structured_event,
    subject_of,
)
from shared.envelope import to_json_bytes
from shared.ports import ParkedMessage, RedriveResult

_SCHEMA = """
CREATE TABLE IF NOT EXISTS deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    consumer TEXT NOT NULL,
    event_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    body BLOB NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    available_at REAL NOT NULL,
    last_error TEXT,
    published_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries(available_at);
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    consumer TEXT NOT NULL,
    event_id TEXT,
    event_type TEXT,
    body BLOB,
    reason TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    dead_lettered_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS event_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    correlation_id TEXT,
    subject TEXT,
    consumers INTEGER NOT NULL,
    body BLOB NOT NULL,
    published_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS event_log_correlation ON event_log(correlation_id);
CREATE TABLE IF NOT EXISTS delivery_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    consumer TEXT NOT NULL,
    event_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    reason TEXT,
    started_at REAL NOT NULL,
    latency_ms REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS delivery_log_event ON delivery_log(event_id);
"""

LOG_ROWS_KEPT = 20_000
"""Rows each log keeps (the newest); older ones are pruned as the broker runs."""


@dataclass(frozen=True)
class Message:
    """A leased delivery."""

    id: int
    consumer: str
    event_id: str
    body: bytes
    attempt: int
    event_type: str = ""


@dataclass(frozen=True)
class LoggedEvent:
    """A published event as the broker recorded it."""

    log_id: int
    event_id: str
    event_type: str
    correlation_id: str | None
    subject: str | None
    consumers: int
    body: bytes
    published_at: float


def _logged_event(row: tuple[Any, ...]) -> LoggedEvent:
    return LoggedEvent(row[0], row[1], row[2], row[3], row[4], row[5], bytes(row[6]), row[7])


@dataclass(frozen=True)
class LoggedDelivery:
    """One delivery attempt and what came of it.

    ``outcome``: ``acknowledged``, ``duplicate`` (already done: acknowledged), ``retry``
    (backoff), ``deferred`` (another attempt holds the lease; not counted) or ``dead-lettered``
    (by the consumer for a permanent failure, or by the broker after the last attempt).
    """

    log_id: int
    consumer: str
    event_id: str
    event_type: str
    attempt: int
    outcome: str
    reason: str | None
    started_at: float
    latency_ms: float


@dataclass(frozen=True)
class DeadLetter:
    """A parked delivery and why."""

    consumer: str
    event_id: str | None
    event_type: str | None
    body: bytes | None
    reason: str
    attempts: int


@dataclass
class RunStats:
    """What a ``run_until_idle`` call did."""

    delivered: int = 0
    acknowledged: int = 0
    retried: int = 0
    dead_lettered: int = 0


@dataclass(frozen=True)
class Verdict:
    """What a consumer made of a delivery.

    ``retry_after``: the consumer could not start because another attempt holds the event's
    lease; redeliver after that many seconds without counting this as an attempt.
    ``outcome``: the consumer's own account of an acknowledged delivery when it is not plain
    success (``duplicate``, or ``dead-lettered`` by the consumer for a permanent failure), for
    the delivery log.
    """

    acknowledged: bool
    reason: str | None = None
    retry_after: float | None = None
    outcome: str | None = None


DeliverFn = Callable[[Message], Verdict]


class LocalBroker:
    """SQLite-backed broker; safe to share between threads and processes."""

    def __init__(
        self,
        path: Path,
        *,
        catalog: Catalog | None = None,
        base_backoff: float = 0.5,
        max_backoff: float = 60.0,
        visibility_timeout: float = 120.0,
        clock: Callable[[], float] = time.time,
        log_rows_kept: int = LOG_ROWS_KEPT,
    ) -> None:
        self.catalog = catalog or default_catalog()
        self.log_rows_kept = log_rows_kept
        self.base_backoff, self.max_backoff = base_backoff, max_backoff
        self.visibility_timeout = visibility_timeout
        self.clock = clock
        self._db = Database(path, schema=_SCHEMA)

    @property
    def consumers(self) -> list[str]:
        """The catalog's consumers (``DeadLetterAdmin``)."""
        return list(self.catalog.consumers)

    # -- EventPublisher -------------------------------------------------------------------
    def publish(self, events: Sequence[CloudEvent]) -> None:
        """Route events to every subscribed consumer in one transaction."""
        now = self.clock()
        rows: list[tuple[str, str, str, bytes, float, float]] = []
        logged: list[tuple[Any, ...]] = []
        for event in events:
            spec = self.catalog.event_by_type(str(event["type"]))
            consumers = self.catalog.consumers_of(spec.name) if spec else []
            body = to_json_bytes(event)
            rows.extend(
                (c.name, str(event["id"]), str(event["type"]), body, now, now) for c in consumers
            )
            attributes = event.get_attributes()
            logged.append(
                (
                    str(event["id"]),
                    str(event["type"]),
                    attributes.get("correlationid"),
                    attributes.get("subject"),
                    len(consumers),
                    body,
                    now,
                )
            )
        if not logged:
            return
        with self._db.transaction() as tx:
            tx.executemany(
                "INSERT INTO deliveries(consumer, event_id, event_type, body, available_at, "
                "published_at) VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )
            tx.executemany(
                "INSERT INTO event_log(event_id, event_type, correlation_id, subject, consumers, "
                "body, published_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                logged,
            )

    # -- DeadLetterSink -------------------------------------------------------------------
    def dead_letter(
        self,
        *,
        consumer: str,
        event: dict[str, Any] | None,
        raw: bytes | None,
        reason: str,
        attempts: int,
    ) -> None:
        """Park a delivery with its reason."""
        record = DeadLetterRecord.of(consumer, event, reason=reason, attempts=attempts)
        body = raw if raw is not None else (json.dumps(event).encode() if event else None)
        with self._db.transaction() as tx:
            tx.execute(
                "INSERT INTO dead_letters(consumer, event_id, event_type, body, reason, attempts, "
                "dead_lettered_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    record.consumer,
                    record.event_id,
                    record.event_type,
                    body,
                    record.reason,
                    record.attempts,
                    self.clock(),
                ),
            )

    # -- queue operations -----------------------------------------------------------------
    def receive(self, consumer: str | None = None, limit: int = 10) -> list[Message]:
        """Lease up to ``limit`` due deliveries (oldest first) and count the attempt."""
        now = self.clock()
        where = "available_at <= ?" + (" AND consumer = ?" if consumer else "")
        parameters: tuple[Any, ...] = (now, consumer, limit) if consumer else (now, limit)
        with self._db.transaction() as tx:
            rows = tx.execute(
                f"SELECT id, consumer, event_id, body, attempts, event_type FROM deliveries WHERE {where} "  # noqa: S608, E501
                "ORDER BY available_at, id LIMIT ?",
                parameters,
            ).fetchall()
            tx.executemany(
                "UPDATE deliveries SET attempts = attempts + 1, available_at = ? WHERE id = ?",
                [(now + self.visibility_timeout, row[0]) for row in rows],
            )
        return [Message(r[0], r[1], r[2], bytes(r[3]), r[4] + 1, r[5]) for r in rows]

    @staticmethod
    def _log_delivery(
        tx: Any, message: Message, outcome: str, reason: str | None, timing: tuple[float, float]
    ) -> None:
        tx.execute(
            "INSERT INTO delivery_log(consumer, event_id, event_type, attempt, outcome, reason, "
            "started_at, latency_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                message.consumer,
                message.event_id,
                message.event_type,
                message.attempt,
                outcome,
                reason,
                *timing,
            ),
        )

    def ack(
        self,
        message: Message,
        *,
        timing: tuple[float, float] | None = None,
        outcome: str = "acknowledged",
        reason: str | None = None,
    ) -> None:
        """Delete a delivery for good; ``timing`` (start epoch, latency in ms) records it with
        ``outcome`` and ``reason``."""
        with self._db.transaction() as tx:
            tx.execute("DELETE FROM deliveries WHERE id = ?", (message.id,))
            if timing is not None:
                self._log_delivery(tx, message, outcome, reason, timing)

    def nack(
        self,
        message: Message,
        reason: str | None,
        *,
        retry_after: float | None = None,
        timing: tuple[float, float] | None = None,
    ) -> bool:
        """Schedule a retry, or dead-letter at the consumer's max attempts; True if parked.

        With ``retry_after`` (another attempt holds the lease) the delivery comes back once
        that lease has expired and the attempt is not counted: waiting for a live or crashed
        attempt never spends the delivery's attempts, nor parks it.
        """
        spec = self.catalog.consumer(message.consumer)
        with self._db.transaction() as tx:
            if retry_after is not None:
                tx.execute(
                    "UPDATE deliveries SET attempts = attempts - 1, available_at = ?, "
                    "last_error = ? WHERE id = ?",
                    (self.clock() + retry_after, reason, message.id),
                )
                if timing is not None:
                    self._log_delivery(tx, message, "deferred", reason, timing)
                return False
            if message.attempt >= spec.max_delivery_attempts:
                tx.execute(
                    "INSERT INTO dead_letters(consumer, event_id, event_type, body, reason, "
                    "attempts, dead_lettered_at) SELECT consumer, event_id, event_type, body, ?, "
                    "attempts, ? FROM deliveries WHERE id = ?",
                    (
                        f"max delivery attempts ({spec.max_delivery_attempts}) reached: "
                        f"{reason or 'no reason given'}",
                        self.clock(),
                        message.id,
                    ),
                )
                tx.execute("DELETE FROM deliveries WHERE id = ?", (message.id,))
                if timing is not None:
                    self._log_delivery(tx, message, "dead-lettered", reason, timing)
                return True
            delay = min(self.max_backoff, self.base_backoff * 2 ** (message.attempt - 1))
            delay *= random.uniform(0.8, 1.2)  # jitter: retries of a burst do not align
            tx.execute(
                "UPDATE deliveries SET available_at = ?, last_error = ? WHERE id = ?",
                (self.clock() + delay, reason, message.id),
            )
            if timing is not None:
                self._log_delivery(tx, message, "retry", reason, timing)
            return False

    def run_until_idle(
        self,
        deliver: DeliverFn,
        *,
        max_seconds: float = 60.0,
        batch_size: int = 50,
        sleep: Callable[[float], None] = time.sleep,
    ) -> RunStats:
        """Deliver until nothing is pending (or ``max_seconds`` pass), waiting out backoffs."""
        stats = RunStats()
        deadline = time.monotonic() + max_seconds
        while time.monotonic() < deadline:
            messages = self.receive(limit=batch_size)
            if not messages:
                wait = self.next_due_in()
                if wait is None:
                    break
                sleep(min(max(wait, 0.005), max(0.0, deadline - time.monotonic()), 1.0))
                continue
            for message in messages:
                stats.delivered += 1
                started, clock_start = self.clock(), time.perf_counter()
                verdict = deliver(message)
                timing = (started, (time.perf_counter() - clock_start) * 1000)
                if verdict.acknowledged:
                    self.ack(
                        message,
                        timing=timing,
                        outcome=verdict.outcome or "acknowledged",
                        reason=verdict.reason,
                    )
                    stats.acknowledged += 1
                elif self.nack(
                    message, verdict.reason, retry_after=verdict.retry_after, timing=timing
                ):
                    stats.dead_lettered += 1
                else:
                    stats.retried += 1
        if stats.delivered:
            self.prune_logs(self.log_rows_kept)
        return stats

    def prune_logs(self, keep: int = LOG_ROWS_KEPT) -> None:
        """Drop all but the newest ``keep`` rows of each log."""
        with self._db.transaction() as tx:
            for table in ("event_log", "delivery_log"):
                tx.execute(
                    f"DELETE FROM {table} WHERE id <= (SELECT MAX(id) FROM {table}) - ?",  # noqa: S608 - fixed names
                    (keep,),
                )

    def recent_deliveries(self, after: int = 0, *, limit: int = 200) -> list[LoggedDelivery]:
        """Delivery attempts logged after log id ``after`` (oldest first); with ``after=0``
        the newest ``limit`` ones."""
        columns = (
            "id, consumer, event_id, event_type, attempt, outcome, reason, started_at, latency_ms"
        )
        if after:
            rows = self._db.query(
                f"SELECT {columns} FROM delivery_log WHERE id > ? ORDER BY id LIMIT ?",  # noqa: S608
                (after, limit),
            )
        else:
            rows = self._db.query(
                f"SELECT * FROM (SELECT {columns} FROM delivery_log ORDER BY id DESC LIMIT ?) "  # noqa: S608
                "ORDER BY id",
                (limit,),
            )
        return [LoggedDelivery(*row) for row in rows]

    def delivery_counts(self) -> dict[str, dict[str, int]]:
        """Logged delivery attempts per consumer and outcome."""
        rows = self._db.query(
            "SELECT consumer, outcome, COUNT(*) FROM delivery_log GROUP BY consumer, outcome"
        )
        counts: dict[str, dict[str, int]] = {}
        for consumer, outcome, count in rows:
            counts.setdefault(consumer, {})[outcome] = int(count)
        return counts

    def recent_events(self, *, limit: int = 200) -> list[LoggedEvent]:
        """The newest published events, newest first."""
        rows = self._db.query(
            "SELECT id, event_id, event_type, correlation_id, subject, consumers, body, "
            "published_at FROM event_log ORDER BY id DESC LIMIT ?",
            (limit,),
        )
        return [_logged_event(row) for row in rows]

    def trace(self, correlation_id: str) -> tuple[list[LoggedEvent], list[LoggedDelivery]]:
        """Every logged event of one correlation id and every delivery attempt of them."""
        rows = self._db.query(
            "SELECT id, event_id, event_type, correlation_id, subject, consumers, body, "
            "published_at FROM event_log WHERE correlation_id = ? ORDER BY id",
            (correlation_id,),
        )
        events = [_logged_event(row) for row in rows]
        deliveries = self._db.query(
            "SELECT id, consumer, event_id, event_type, attempt, outcome, reason, started_at, "
            "latency_ms FROM delivery_log WHERE event_id IN "
            "(SELECT event_id FROM event_log WHERE correlation_id = ?) ORDER BY id",
            (correlation_id,),
        )
        return events, [LoggedDelivery(*row) for row in deliveries]

    # -- inspection -----------------------------------------------------------------------
    def next_due_in(self) -> float | None:
        """Seconds until the next delivery is due, or None when nothing is pending."""
        row = self._db.query("SELECT MIN(available_at) FROM deliveries")[0]
        return None if row[0] is None else row[0] - self.clock()

    def pending(self, consumer: str | None = None) -> int:
        """Deliveries not yet acknowledged."""
        sql = "SELECT COUNT(*) FROM deliveries" + (" WHERE consumer = ?" if consumer else "")  # noqa: S608 - fixed SQL
        return int(self._db.query(sql, (consumer,) if consumer else ())[0][0])

    def dead_letters(self, consumer: str | None = None) -> list[DeadLetter]:
        """Parked deliveries, oldest first."""
        where = " WHERE consumer = ?" if consumer else ""
        sql = f"SELECT consumer, event_id, event_type, body, reason, attempts FROM dead_letters{where} ORDER BY id"  # noqa: S608, E501 - fixed SQL
        rows = self._db.query(sql, (consumer,) if consumer else ())
        return [
            DeadLetter(r[0], r[1], r[2], bytes(r[3]) if r[3] is not None else None, r[4], r[5])
            for r in rows
        ]

    # -- DeadLetterAdmin ------------------------------------------------------------------
    _PARKED = (
        "SELECT id, consumer, event_id, event_type, body, reason, attempts, dead_lettered_at "
        "FROM dead_letters"
    )

    @staticmethod
    def _parked(row: tuple[Any, ...]) -> ParkedMessage:
        body = bytes(row[4]) if row[4] is not None else None
        event = structured_event(body)
        return ParkedMessage(
            id=str(row[0]),
            consumer=row[1],
            reason=row[5],
            attempts=int(row[6]),
            event_id=row[2],
            event_type=row[3],
            subject=subject_of(event),
            dead_lettered_at=row[7],
            redrive_count=redrive_count(event),
            event=event,
            body=body,
        )

    def parked(self, consumer: str | None = None, *, limit: int = 100) -> list[ParkedMessage]:
        """Parked deliveries, oldest first."""
        where = " WHERE consumer = ?" if consumer else ""
        parameters: tuple[Any, ...] = (consumer, limit) if consumer else (limit,)
        rows = self._db.query(f"{self._PARKED}{where} ORDER BY id LIMIT ?", parameters)
        return [self._parked(row) for row in rows]

    def show(self, message_id: str) -> ParkedMessage | None:
        """One parked delivery by its row id, or the first one with that event id."""
        rows = self._db.query(
            f"{self._PARKED} WHERE CAST(id AS TEXT) = ? OR event_id = ? ORDER BY id LIMIT 1",
            (message_id, message_id),
        )
        return self._parked(rows[0]) if rows else None

    def redrive(self, messages: Sequence[ParkedMessage]) -> RedriveResult:
        """Move each parked delivery back to its consumer's queue, one transaction each."""
        redriven: list[str] = []
        failed: list[tuple[str, str]] = []
        for message in messages:
            now = self.clock()
            with self._db.transaction() as tx:
                row = tx.execute(
                    "SELECT consumer, event_id, event_type, body FROM dead_letters WHERE id = ?",
                    (int(message.id),),
                ).fetchone()
                if row is None:
                    failed.append((message.id, "no longer dead-lettered"))
                    continue
                if row[3] is None:
                    failed.append((message.id, "nothing to redrive: the payload was not kept"))
                    continue
                tx.execute(
                    "INSERT INTO deliveries(consumer, event_id, event_type, body, available_at, "
                    "published_at) VALUES (?, ?, ?, ?, ?, ?)",
                    (row[0], row[1] or "", row[2] or "", count_redrive(bytes(row[3]))[0], now, now),
                )
                tx.execute("DELETE FROM dead_letters WHERE id = ?", (int(message.id),))
            redriven.append(message.id)
        return RedriveResult(tuple(redriven), tuple(failed))

    def purge(self, consumer: str) -> int:
        """Delete every dead letter of ``consumer``."""
        with self._db.transaction() as tx:
            return int(
                tx.execute("DELETE FROM dead_letters WHERE consumer = ?", (consumer,)).rowcount
            )

    def close(self) -> None:
        """Close the connection."""
        self._db.close()
