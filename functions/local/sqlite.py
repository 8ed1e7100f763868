"""SQLite adapters for the embedded backend: metadata index, idempotency, orders, payments.

One database file per concern group; WAL mode so the broker and several functions-framework
processes can share it. Every multi-step change runs in ``BEGIN IMMEDIATE`` so check-then-write
sequences are atomic across processes.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from functions.common.adapters.simulated_payments import simulated_decision
from shared.index import matches
from shared.orders import (
    order_from_dict,
    order_to_dict,
    transition_changes,
    transitioned,
    without_announced,
)
from shared.ports import (
    ChargeResult,
    ClaimState,
    IndexQuery,
    JsonDict,
    OrderRecord,
    OrderStatus,
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS images (
    image_id TEXT PRIMARY KEY, width INTEGER, captured_at TEXT, camera TEXT, document TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS images_captured ON images(captured_at);
CREATE TABLE IF NOT EXISTS claims (
    key TEXT PRIMARY KEY, state TEXT NOT NULL, lease_expires REAL, expires_at REAL
);
CREATE TABLE IF NOT EXISTS orders (
    order_id TEXT PRIMARY KEY, idempotency_key TEXT UNIQUE, status TEXT NOT NULL,
    record TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS charges (
    idempotency_key TEXT PRIMARY KEY, result TEXT NOT NULL
);
"""


class Database:
    """A shared SQLite connection guarded by a lock (one per process and file).

    WAL mode, so several processes can share the file; ``schema`` (by default the adapters'
    tables) is created when missing.
    """

    def __init__(self, path: Path, *, schema: str = _SCHEMA) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.RLock()
        self._connection = sqlite3.connect(
            path, timeout=30, isolation_level=None, check_same_thread=False
        )
        self._connection.execute("PRAGMA journal_mode=WAL")
        self._connection.execute("PRAGMA synchronous=NORMAL")
        self._connection.executescript(schema)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """An immediate (write-locked) transaction."""
        with self._lock:
            self._connection.execute("BEGIN IMMEDIATE")
            try:
                yield self._connection
            except BaseException:
                self._connection.execute("ROLLBACK")
                raise
            self._connection.execute("COMMIT")

    def query(self, sql: str, parameters: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Run a read and fetch every row."""
        with self._lock:
            return self._connection.execute(sql, parameters).fetchall()

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._connection.close()


class SqliteMetadataIndex:
    """Index documents with the searchable fields in columns."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def put(self, document: dict[str, Any]) -> None:
        """Upsert a document."""
        camera = f"{document.get('camera_make') or ''} {document.get('camera_model') or ''}".strip()
        with self.db.transaction() as tx:
            tx.execute(
                "INSERT INTO images(image_id, width, captured_at, camera, document) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT(image_id) DO UPDATE SET width=excluded.width, "
                "captured_at=excluded.captured_at, camera=excluded.camera, "
                "document=excluded.document",
                (
                    document["image_id"],
                    document.get("width"),
                    document.get("captured_at"),
                    camera.lower(),
                    json.dumps(document, sort_keys=True),
                ),
            )

    def get(self, image_id: str) -> dict[str, Any] | None:
        """One document, or None."""
        rows = self.db.query("SELECT document FROM images WHERE image_id = ?", (image_id,))
        return json.loads(rows[0][0]) if rows else None

    def search(self, query: IndexQuery) -> list[dict[str, Any]]:
        """Filter in SQL, then apply the shared semantics as the final word."""
        clauses: list[str] = []
        parameters: list[Any] = []
        if query.min_width is not None:
            clauses.append("width >= ?")
            parameters.append(query.min_width)
        if query.captured_from:
            clauses.append("captured_at >= ?")
            parameters.append(query.captured_from)
        if query.captured_to:
            clauses.append("captured_at <= ?")
            parameters.append(query.captured_to)
        if query.camera:
            clauses.append("instr(camera, ?) > 0")
            parameters.append(query.camera.lower())
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        sql = f"SELECT document FROM images {where} ORDER BY image_id"  # noqa: S608 - fixed clauses
        rows = self.db.query(sql, tuple(parameters))
        documents = [json.loads(row[0]) for row in rows]
        return [d for d in documents if matches(d, query)][: query.limit]


class SqliteIdempotencyStore:
    """Claims with leases; completed claims expire after their TTL."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def claim(self, key: str, *, now: float, lease_seconds: float) -> ClaimState:
        """Acquire unless completed (and not expired) or leased by a live attempt."""
        with self.db.transaction() as tx:
            row = tx.execute(
                "SELECT state, lease_expires, expires_at FROM claims WHERE key = ?", (key,)
            ).fetchone()
            if row is not None:
                state, lease_expires, expires_at = row
                if state == "completed" and (expires_at is None or expires_at > now):
                    return ClaimState.COMPLETED
                if state == "in_progress" and lease_expires > now:
                    return ClaimState.IN_PROGRESS
            tx.execute(
                "INSERT INTO claims(key, state, lease_expires, expires_at) "
                "VALUES (?, 'in_progress', ?, NULL) ON CONFLICT(key) DO UPDATE SET "
                "state='in_progress', lease_expires=excluded.lease_expires, expires_at=NULL",
                (key, now + lease_seconds),
            )
            return ClaimState.ACQUIRED

    def is_completed(self, key: str) -> bool:
        """Whether ``key`` was completed."""
        rows = self.db.query("SELECT state FROM claims WHERE key = ?", (key,))
        return bool(rows) and rows[0][0] == "completed"

    def complete(self, key: str, *, now: float, ttl_seconds: float) -> None:
        """Mark done until ``now + ttl_seconds``."""
        with self.db.transaction() as tx:
            tx.execute(
                "INSERT INTO claims(key, state, lease_expires, expires_at) "
                "VALUES (?, 'completed', NULL, ?) ON CONFLICT(key) DO UPDATE SET "
                "state='completed', lease_expires=NULL, expires_at=excluded.expires_at",
                (key, now + ttl_seconds),
            )

    def release(self, key: str) -> None:
        """Forget an in-progress claim."""
        with self.db.transaction() as tx:
            tx.execute("DELETE FROM claims WHERE key = ? AND state = 'in_progress'", (key,))


def _record_to_json(order: OrderRecord) -> str:
    return json.dumps(order_to_dict(order), sort_keys=True)


def _record_from_json(text: str) -> OrderRecord:
    return order_from_dict(json.loads(text))


_ORDERS_OLDEST_FIRST = (
    "SELECT record FROM orders WHERE status = ? "
    "ORDER BY json_extract(record, '$.placed_at'), order_id LIMIT ?"
)
_ORDERS_NEWEST_FIRST = (
    "SELECT record FROM orders WHERE status = ? "
    "ORDER BY json_extract(record, '$.placed_at') DESC, order_id DESC LIMIT ?"
)


class SqliteOrderStore:
    """Orders keyed by id, unique on the client's idempotency key."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, order: OrderRecord) -> tuple[OrderRecord, bool]:
        """Insert unless the id or idempotency key exists; return the stored order."""
        with self.db.transaction() as tx:
            row = tx.execute(
                "SELECT record FROM orders WHERE order_id = ? OR "
                "(idempotency_key IS NOT NULL AND idempotency_key = ?)",
                (order.order_id, order.idempotency_key),
            ).fetchone()
            if row is not None:
                return _record_from_json(row[0]), False
            tx.execute(
                "INSERT INTO orders(order_id, idempotency_key, status, record) VALUES (?,?,?,?)",
                (order.order_id, order.idempotency_key, order.status.value, _record_to_json(order)),
            )
            return order, True

    def get(self, order_id: str) -> OrderRecord | None:
        """One order, or None."""
        rows = self.db.query("SELECT record FROM orders WHERE order_id = ?", (order_id,))
        return _record_from_json(rows[0][0]) if rows else None

    def stale_placed(
        self, *, placed_after: str, placed_before: str, limit: int
    ) -> list[OrderRecord]:
        """Orders still PLACED, placed in ``[placed_after, placed_before)``, oldest first."""
        rows = self.db.query(
            "SELECT record FROM orders WHERE status = ? "
            "AND json_extract(record, '$.placed_at') >= ? "
            "AND json_extract(record, '$.placed_at') < ? "
            "ORDER BY json_extract(record, '$.placed_at') LIMIT ?",
            (OrderStatus.PLACED.value, placed_after, placed_before, limit),
        )
        return [_record_from_json(row[0]) for row in rows]

    def transition(
        self,
        order_id: str,
        *,
        from_status: OrderStatus,
        to_status: OrderStatus,
        now: str,
        payment_id: str | None = None,
        decline_code: str | None = None,
        failure_reason: str | None = None,
        outbox: Sequence[JsonDict] | None = None,
    ) -> bool:
        """Compare-and-set on the status (with the outbox, in one transaction)."""
        with self.db.transaction() as tx:
            row = tx.execute(
                "SELECT record FROM orders WHERE order_id = ? AND status = ?",
                (order_id, from_status.value),
            ).fetchone()
            if row is None:
                return False
            changes = transition_changes(
                to_status, now, payment_id, decline_code, failure_reason, outbox
            )
            updated = transitioned(_record_from_json(row[0]), changes)
            tx.execute(
                "UPDATE orders SET status = ?, record = ? WHERE order_id = ?",
                (to_status.value, _record_to_json(updated), order_id),
            )
            return True

    def by_status(
        self, status: OrderStatus, *, limit: int, newest_first: bool = False
    ) -> list[OrderRecord]:
        """Orders in ``status``, oldest (or newest) first."""
        rows = self.db.query(
            _ORDERS_NEWEST_FIRST if newest_first else _ORDERS_OLDEST_FIRST,
            (OrderStatus(status).value, max(0, limit)),
        )
        return [_record_from_json(row[0]) for row in rows]

    def announced(self, order_id: str, event_ids: Sequence[str]) -> None:
        """Remove published events from the order's outbox."""
        with self.db.transaction() as tx:
            row = tx.execute("SELECT record FROM orders WHERE order_id = ?", (order_id,)).fetchone()
            if row is None:
                return
            order = _record_from_json(row[0])
            remaining = without_announced(order, event_ids)
            if remaining != order.outbox:
                tx.execute(
                    "UPDATE orders SET record = ? WHERE order_id = ?",
                    (_record_to_json(replace(order, outbox=remaining)), order_id),
                )

    def pending_announcements(self, *, updated_before: str, limit: int) -> list[OrderRecord]:
        """Orders with pending outbox events, changed before ``updated_before``, oldest first."""
        rows = self.db.query(
            "SELECT record FROM orders WHERE json_extract(record, '$.outbox_pending') = '1' "
            "AND json_extract(record, '$.updated_at') < ? "
            "ORDER BY json_extract(record, '$.updated_at') LIMIT ?",
            (updated_before, limit),
        )
        return [_record_from_json(row[0]) for row in rows]

    def all(self) -> list[OrderRecord]:
        """Every order (for the demo summary)."""
        return [
            _record_from_json(r[0])
            for r in self.db.query("SELECT record FROM orders ORDER BY order_id")
        ]


class SqlitePaymentGateway:
    """The simulated gateway's rules with results persisted per idempotency key."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def charge(
        self,
        *,
        order_id: str,
        amount_minor: int,
        currency: str,
        customer_email: str,
        idempotency_key: str,
        payment_method: str | None = None,
    ) -> ChargeResult:
        """Decide once per key; later calls return the stored result."""
        with self.db.transaction() as tx:
            row = tx.execute(
                "SELECT result FROM charges WHERE idempotency_key = ?", (idempotency_key,)
            ).fetchone()
            if row is not None:
                return ChargeResult(**json.loads(row[0]))
            result = simulated_decision(amount_minor, currency, customer_email, idempotency_key)
            tx.execute(
                "INSERT INTO charges(idempotency_key, result) VALUES (?, ?)",
                (idempotency_key, json.dumps(result.__dict__)),
            )
            return result

    def order_of_payment(self, payment_id: str) -> str | None:
        """The order charged as ``payment_id``: the payments consumer keys each order's charge
        ``<order id>:charge``."""
        rows = self.db.query(
            "SELECT idempotency_key FROM charges WHERE json_extract(result, '$.payment_id') = ?",
            (payment_id,),
        )
        return str(rows[0][0]).rsplit(":", 1)[0] if rows else None
