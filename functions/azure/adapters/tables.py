"""Table Storage adapters: the metadata index, idempotency claims and orders.

Table Storage has no conditional "put if absent" other than ``create_entity`` (409 when the
entity exists) and optimistic concurrency through ETags (``If-Match``), so every conditional
write here is one of those two. Nulls cannot be stored, so absent properties read back as None.
Table Storage has no TTL and nothing here deletes old idempotency rows: completed ones and the
in-progress ones of crashed attempts stay (see :class:`TableIdempotencyStore`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import heapq
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError

from functions.azure.errors import transient_azure_errors
from functions.azure.names import INDEX_PARTITION
from shared.errors import TransientError
from shared.index import matches
from shared.orders import (
    order_from_dict,
    order_to_dict,
    transition_changes,
    transitioned,
    without_announced,
)
from shared.ports import ClaimState, IndexQuery, JsonDict, OrderRecord, OrderStatus

_INT32 = (-(2**31), 2**31 - 1)
# PartitionKey/RowKey may not contain / \ # ? or control characters; keep them short too.
_SAFE_KEY = re.compile(r"^[A-Za-z0-9._:@=+,;!$&'()*\[\]~-]{1,255}$")
_MAX_CAS_ROUNDS = 5


def safe_key(value: str) -> str:
    """``value`` if it is a valid PartitionKey/RowKey, else a stable hash of it."""
    if _SAFE_KEY.match(value):
        return value
    return "h-" + hashlib.sha256(value.encode()).hexdigest()


def _int_property(value: int) -> Any:
    from azure.data.tables import EdmType, EntityProperty

    if _INT32[0] <= value <= _INT32[1]:
        return value
    return EntityProperty(value, EdmType.INT64)


def _etag(entity: Any) -> str:
    return str(entity.metadata["etag"])


def _conditional_update(table: Any, entity: JsonDict, etag: str) -> bool:
    """REPLACE the entity if nobody changed it since ``etag``; False when somebody did."""
    from azure.data.tables import UpdateMode

    try:
        table.update_entity(
            entity,
            mode=UpdateMode.REPLACE,
            etag=etag,
            match_condition=MatchConditions.IfNotModified,
        )
    except (ResourceModifiedError, ResourceNotFoundError):
        return False
    return True


# ----------------------------------------------------------------------------------------------
# Metadata index
# ----------------------------------------------------------------------------------------------


class TableMetadataIndex:
    """``MetadataIndex`` over one table (PartitionKey ``images``, RowKey ``image_id``).

    Every scalar field is a column (nested ``gps`` becomes ``gps_lat``/``gps_lon``) so that
    OData filters can do the range work on the server; the whole document is also kept as
    JSON in ``document`` so ``get`` returns exactly what was ``put``. Camera matching
    (case-insensitive substring) has no OData operator: ``shared.index.matches`` finishes it.
    """

    def __init__(self, table: Any, *, partition: str = INDEX_PARTITION) -> None:
        self._table = table
        self._partition = partition

    def _entity(self, document: JsonDict) -> JsonDict:
        entity: JsonDict = {
            "PartitionKey": self._partition,
            "RowKey": safe_key(document["image_id"]),
        }
        for name, value in document.items():
            if name == "gps":
                if isinstance(value, Mapping):
                    entity["gps_lat"] = float(value["lat"])
                    entity["gps_lon"] = float(value["lon"])
            elif isinstance(value, bool | str | float):
                entity[name] = value
            elif isinstance(value, int):
                entity[name] = _int_property(value)
        entity["document"] = json.dumps(
            document, separators=(",", ":"), sort_keys=True, ensure_ascii=False
        )
        return entity

    def put(self, document: JsonDict) -> None:
        """Upsert the document (its ``image_id`` is the row key)."""
        from azure.data.tables import UpdateMode

        with transient_azure_errors("writing the metadata index"):
            self._table.upsert_entity(self._entity(document), mode=UpdateMode.REPLACE)

    def get(self, image_id: str) -> JsonDict | None:
        """One document, or None."""
        try:
            with transient_azure_errors("reading the metadata index"):
                entity = self._table.get_entity(self._partition, safe_key(image_id))
        except ResourceNotFoundError:
            return None
        document: JsonDict = json.loads(entity["document"])
        return document

    def search(self, query: IndexQuery) -> list[JsonDict]:
        """Documents matching every filter of ``query``, ordered by ``image_id``."""
        clauses = ["PartitionKey eq @partition"]
        parameters: dict[str, Any] = {"partition": self._partition}
        if query.min_width is not None:
            clauses.append("width ge @min_width")
            parameters["min_width"] = int(query.min_width)
        if query.captured_from:
            clauses.append("captured_at ge @captured_from")
            parameters["captured_from"] = query.captured_from
        if query.captured_to:
            clauses.append("captured_at le @captured_to")
            parameters["captured_to"] = query.captured_to
        hits: list[JsonDict] = []
        with transient_azure_errors("searching the metadata index"):
            for entity in self._table.query_entities(" and ".join(clauses), parameters=parameters):
                document = json.loads(entity["document"])
                if matches(document, query):
                    hits.append(document)
        hits.sort(key=lambda d: str(d["image_id"]))
        return hits[: query.limit]


# ----------------------------------------------------------------------------------------------
# Idempotency
# ----------------------------------------------------------------------------------------------


class TableIdempotencyStore:
    """``IdempotencyStore``: PartitionKey = consumer, RowKey = event id (hashed if unsafe).

    ``claim`` = ``create_entity`` (409 means someone claimed it before); an expired lease is
    taken over with a REPLACE conditional on the ETag read, so exactly one contender wins.

    Rows are never deleted by age: Table Storage has no TTL and this suite ships no cleanup job.
    Completed rows carry ``expires_at`` (when a cleanup you schedule may delete them) and stay
    until then. In-progress rows carry ``lease_expires``; one whose attempt crashed and was
    never redelivered (the message was dead-lettered or expired) stays until such a cleanup
    too. A cleanup may delete completed rows past ``expires_at`` and in-progress rows whose
    ``lease_expires`` is well past (a redelivery after that would simply run again).
    """

    def __init__(self, table: Any) -> None:
        self._table = table

    @staticmethod
    def _keys(key: str) -> tuple[str, str]:
        consumer, separator, rest = key.partition(":")
        if not separator:
            consumer, rest = "default", key
        return safe_key(consumer), safe_key(rest)

    def claim(self, key: str, *, now: float, lease_seconds: float) -> ClaimState:
        """Acquire the key unless it is completed or leased by a live contender."""
        partition, row = self._keys(key)
        entity = {
            "PartitionKey": partition,
            "RowKey": row,
            "key": key,
            "state": "in_progress",
            "lease_expires": float(now + lease_seconds),
        }
        with transient_azure_errors("claiming an idempotency key"):
            for _ in range(_MAX_CAS_ROUNDS):
                try:
                    self._table.create_entity(entity)
                except ResourceExistsError:
                    pass
                else:
                    return ClaimState.ACQUIRED
                try:
                    current = self._table.get_entity(partition, row)
                except ResourceNotFoundError:
                    continue  # released between our create and read: try to create again
                if current.get("state") == "completed":
                    return ClaimState.COMPLETED
                if float(current.get("lease_expires") or 0.0) > now:
                    return ClaimState.IN_PROGRESS
                if _conditional_update(self._table, entity, _etag(current)):
                    return ClaimState.ACQUIRED
                return ClaimState.IN_PROGRESS  # another contender took the expired lease first
        return ClaimState.IN_PROGRESS

    def complete(self, key: str, *, now: float, ttl_seconds: float) -> None:
        """Mark the key done (final); ``expires_at`` says when a cleanup (none ships) may
        delete it."""
        from azure.data.tables import UpdateMode

        partition, row = self._keys(key)
        with transient_azure_errors("completing an idempotency key"):
            self._table.upsert_entity(
                {
                    "PartitionKey": partition,
                    "RowKey": row,
                    "key": key,
                    "state": "completed",
                    "completed_at": float(now),
                    "expires_at": float(now + ttl_seconds),
                },
                mode=UpdateMode.REPLACE,
            )

    def is_completed(self, key: str) -> bool:
        """Whether the claim entity says completed."""
        partition, row = self._keys(key)
        with transient_azure_errors("reading an idempotency key"):
            try:
                return bool(self._table.get_entity(partition, row).get("state") == "completed")
            except ResourceNotFoundError:
                return False

    def release(self, key: str) -> None:
        """Drop an in-progress claim (never a completed one) so a retry can start at once."""
        partition, row = self._keys(key)
        with transient_azure_errors("releasing an idempotency key"):
            try:
                current = self._table.get_entity(partition, row)
            except ResourceNotFoundError:
                return
            if current.get("state") == "completed":
                return
            try:
                self._table.delete_entity(
                    partition,
                    row,
                    etag=_etag(current),
                    match_condition=MatchConditions.IfNotModified,
                )
            except (ResourceModifiedError, ResourceNotFoundError):
                return  # changed meanwhile (taken over or completed): not ours to delete


# ----------------------------------------------------------------------------------------------
# Orders
# ----------------------------------------------------------------------------------------------

ORDER_ROW = "order"
IDEMPOTENCY_PARTITION_PREFIX = "idempotency-key:"
# Entities per page of a query (the service returns at most 1000; it may return fewer).
QUERY_PAGE_SIZE = 1000
OUTBOX_CHUNK_CHARS = 30_000  # a string property holds at most 32K characters


def _order_entity(order: OrderRecord) -> JsonDict:
    """Table Storage holds no nulls (absent optional fields are left out) and no nested values
    (``items`` is JSON text); ``amount_minor`` is an Edm.Int64 when it needs one.

    ``items`` keeps non-ASCII characters as they are: a string property holds at most 32K
    characters (64 KiB of UTF-16), and JSON's ASCII escapes would make item names six times
    longer, so an order every other cloud accepts would fail with PropertyValueTooLarge.
    """
    fields = {name: value for name, value in order_to_dict(order).items() if value is not None}
    outbox = fields.pop("outbox", "")
    # The outbox repeats the order's data in its events: split over several properties so
    # that a large order stays under the 32K-character limit of one string property.
    chunks = {
        f"outbox_{n}": outbox[start : start + OUTBOX_CHUNK_CHARS]
        for n, start in enumerate(range(0, len(outbox), OUTBOX_CHUNK_CHARS))
    }
    return {
        "PartitionKey": safe_key(order.order_id),
        "RowKey": ORDER_ROW,
        **fields,
        **chunks,
        "amount_minor": _int_property(order.amount_minor),
        "items": json.dumps(fields["items"], separators=(",", ":"), ensure_ascii=False),
    }


def _order_record(entity: Mapping[str, Any]) -> OrderRecord:
    amount = entity["amount_minor"]
    chunks = sorted(
        (int(name.removeprefix("outbox_")), value)
        for name, value in entity.items()
        if name.startswith("outbox_") and name.removeprefix("outbox_").isdigit()
    )
    return order_from_dict(
        {
            **entity,
            "amount_minor": getattr(amount, "value", amount),
            "items": json.loads(entity["items"]),
            "outbox": "".join(value for _, value in chunks) or None,
        }
    )


class TableOrderStore:
    """``OrderStore``: one partition per order (RowKey ``order``) plus, per ``Idempotency-Key``,
    an entity pointing at the order it created.

    ``create`` first claims the idempotency key (``create_entity``), adopting the order id of an
    earlier claim, then creates the order under that id; a crash between the two writes is healed
    by the retry, which finds the claim and creates the same order id. Transitions are
    conditional on the ETag of the order read, so concurrent consumers cannot both win.
    """

    def __init__(self, table: Any, *, page_size: int = QUERY_PAGE_SIZE) -> None:
        self._table = table
        self._page_size = page_size

    def create(self, order: OrderRecord) -> tuple[OrderRecord, bool]:
        """Insert the order unless its idempotency key (or id) already made one."""
        with transient_azure_errors("creating an order"):
            if order.idempotency_key:
                claim = {
                    "PartitionKey": IDEMPOTENCY_PARTITION_PREFIX + safe_key(order.idempotency_key),
                    "RowKey": ORDER_ROW,
                    "order_id": order.order_id,
                }
                try:
                    self._table.create_entity(claim)
                except ResourceExistsError:
                    existing = self._table.get_entity(claim["PartitionKey"], ORDER_ROW)
                    order = dataclasses.replace(order, order_id=str(existing["order_id"]))
            try:
                self._table.create_entity(_order_entity(order))
            except ResourceExistsError:
                stored = self.get(order.order_id)
                if stored is None:  # deleted in between: extremely unlikely, let the caller retry
                    raise
                return stored, False
        return order, True

    def get(self, order_id: str) -> OrderRecord | None:
        """One order, or None."""
        try:
            with transient_azure_errors("reading an order"):
                entity = self._table.get_entity(safe_key(order_id), ORDER_ROW)
        except ResourceNotFoundError:
            return None
        return _order_record(entity)

    def stale_placed(
        self, *, placed_after: str, placed_before: str, limit: int
    ) -> list[OrderRecord]:
        """Orders still PLACED, placed in ``[placed_after, placed_before)``, oldest first.

        One OData query over the order entities (``status`` and ``placed_at`` are columns;
        ISO-8601 UTC strings compare in time order), read page by page through the
        continuation tokens. The service returns entities in key order (one partition per
        order id), not by time, so every match is read and the oldest ``limit`` are kept in a
        heap of that size. Table Storage has no secondary index: the service scans the whole
        table for this filter, which is fine for a job that runs every few minutes over a
        moderate table; a very large one would want a time-keyed index entity instead.
        """
        if limit <= 0:
            return []
        query = (
            "RowKey eq @row and status eq @status "
            "and placed_at ge @placed_after and placed_at lt @placed_before"
        )
        parameters = {
            "row": ORDER_ROW,
            "status": OrderStatus.PLACED.value,
            "placed_after": placed_after,
            "placed_before": placed_before,
        }
        with transient_azure_errors("listing stale orders"):
            entities = self._table.query_entities(
                query, parameters=parameters, results_per_page=self._page_size
            )
            oldest = heapq.nsmallest(
                limit, entities, key=lambda e: (str(e["placed_at"]), str(e["order_id"]))
            )
        return [_order_record(entity) for entity in oldest]

    def by_status(
        self, status: OrderStatus, *, limit: int, newest_first: bool = False
    ) -> list[OrderRecord]:
        """Orders in ``status``, oldest (or newest) first (a filtered scan, like
        :meth:`stale_placed`)."""
        if limit <= 0:
            return []
        parameters = {"row": ORDER_ROW, "status": OrderStatus(status).value}
        with transient_azure_errors("listing orders by status"):
            entities = self._table.query_entities(
                "RowKey eq @row and status eq @status",
                parameters=parameters,
                results_per_page=self._page_size,
            )
            pick = heapq.nlargest if newest_first else heapq.nsmallest
            chosen = pick(limit, entities, key=lambda e: (str(e["placed_at"]), str(e["order_id"])))
        return [_order_record(entity) for entity in chosen]

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
        """Move ``from_status`` -> ``to_status`` if the order is still in ``from_status`` (the
        outbox in the same entity write)."""
        changes = transition_changes(
            to_status, now, payment_id, decline_code, failure_reason, outbox
        )
        with transient_azure_errors("updating an order"):
            for _ in range(_MAX_CAS_ROUNDS):
                try:
                    entity = self._table.get_entity(safe_key(order_id), ORDER_ROW)
                except ResourceNotFoundError:
                    return False
                current = _order_record(entity)
                if current.status is not from_status:
                    return False
                updated = transitioned(current, changes)
                if _conditional_update(self._table, _order_entity(updated), _etag(entity)):
                    return True
        return False

    def announced(self, order_id: str, event_ids: Sequence[str]) -> None:
        """Remove published events from the outbox (entity replaced on its ETag)."""
        with transient_azure_errors("updating an order's outbox"):
            for _ in range(_MAX_CAS_ROUNDS):
                try:
                    entity = self._table.get_entity(safe_key(order_id), ORDER_ROW)
                except ResourceNotFoundError:
                    return
                current = _order_record(entity)
                remaining = without_announced(current, event_ids)
                if remaining == current.outbox:
                    return
                updated = replace(current, outbox=remaining)
                if _conditional_update(self._table, _order_entity(updated), _etag(entity)):
                    return
        raise TransientError(f"outbox of order {order_id} kept changing; retry")

    def pending_announcements(self, *, updated_before: str, limit: int) -> list[OrderRecord]:
        """Orders with pending outbox events changed before ``updated_before``, oldest first
        (one OData query on ``outbox_pending``, which only such orders carry)."""
        if limit <= 0:
            return []
        query = "RowKey eq @row and outbox_pending eq '1' and updated_at lt @before"
        parameters = {"row": ORDER_ROW, "before": updated_before}
        with transient_azure_errors("listing pending announcements"):
            entities = list(self._table.query_entities(query, parameters=parameters))
        pending = [_order_record(entity) for entity in entities]
        return sorted(pending, key=lambda order: order.updated_at or order.placed_at)[:limit]

    def iter_orders(self) -> Iterator[OrderRecord]:
        """Every order (operations and tests; a full scan)."""
        with transient_azure_errors("listing orders"):
            query = self._table.query_entities("RowKey eq @row", parameters={"row": ORDER_ROW})
            for entity in query:
                if "status" in entity:  # skip the Idempotency-Key pointers
                    yield _order_record(entity)
