"""DynamoDB implementations of ``MetadataIndex``, ``IdempotencyStore`` and ``OrderStore``.

Tables (names from the environment, keys as Terraform declares them):

* index: hash key ``image_id``; one item per image document;
* idempotency: hash key ``key``; ``state`` (``in_progress``/``completed``), ``lease_expires``,
  and TTL attribute ``expires_at`` (epoch seconds);
* orders: hash key ``order_id``. An order placed with an ``Idempotency-Key`` is written in one
  transaction with a guard item ``order_id = "idempotency-key#<key>"`` (``kind =
  "idempotency_key"``, ``target_order_id``), so two concurrent requests with the same key can
  never both create an order. (A GSI lookup followed by a put could: GSIs are eventually
  consistent and cannot carry a uniqueness condition.) GSI ``status-placed_at-index`` (hash
  ``status``, range ``placed_at``, projection ALL) serves the order reconciler: orders still
  ``PLACED`` in a time window are one ``Query``, not a ``Scan`` of every order ever placed
  (guard items have no ``status`` and stay out of it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from functions.aws.clients import AwsClients
from functions.aws.errors import error_code, transient_errors
from shared.errors import TransientError
from shared.index import matches
from shared.orders import (
    order_from_dict,
    order_to_dict,
    outbox_fields,
    transition_changes,
    without_announced,
)
from shared.ports import ClaimState, IndexQuery, JsonDict, OrderRecord, OrderStatus

_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()
IN_PROGRESS_RETENTION_SECONDS = 24 * 3600.0
GUARD_PREFIX = "idempotency-key#"
ORDERS_STATUS_INDEX = "status-placed_at-index"
# Sparse: only orders with pending outbox events carry ``outbox_pending``.
ORDERS_OUTBOX_INDEX = "outbox_pending-updated_at-index"
_OUTBOX_CAS_ROUNDS = 5
_RETRYABLE_CANCELLATIONS = frozenset(
    {"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"}
)


def _to_dynamo(value: Any) -> Any:
    """Python/JSON values -> values TypeSerializer accepts (floats become Decimals)."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, Mapping):
        return {str(k): _to_dynamo(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_to_dynamo(v) for v in value]
    return value


def _from_dynamo(value: Any) -> Any:
    """Decimals back to int (when integral) or float; containers recursively."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, Mapping):
        return {k: _from_dynamo(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_from_dynamo(v) for v in value]
    return value


def serialize(item: Mapping[str, Any]) -> dict[str, Any]:
    """A plain dict -> a DynamoDB attribute-value map."""
    return {k: _SERIALIZER.serialize(_to_dynamo(v)) for k, v in item.items()}


def deserialize(item: Mapping[str, Any]) -> dict[str, Any]:
    """A DynamoDB attribute-value map -> a plain dict (numbers as int/float)."""
    return {k: _from_dynamo(_DESERIALIZER.deserialize(v)) for k, v in item.items()}


def _number(value: float) -> dict[str, str]:
    return {"N": f"{value:.3f}"}


class DynamoMetadataIndex:
    """Image documents keyed by ``image_id``.

    ``search`` scans the table and filters in process with the core's ``matches`` (camera is a
    case-insensitive substring match DynamoDB cannot express). Fine for a gallery-sized index;
    at scale add a GSI per query shape.
    """

    def __init__(self, clients: AwsClients, table: str) -> None:
        self._clients = clients
        self._table = table

    def put(self, document: JsonDict) -> None:
        """PutItem (upsert by ``image_id``)."""
        with transient_errors(f"DynamoDB PutItem {self._table}"):
            self._clients.dynamodb.put_item(TableName=self._table, Item=serialize(document))

    def get(self, image_id: str) -> JsonDict | None:
        """GetItem, strongly consistent."""
        with transient_errors(f"DynamoDB GetItem {self._table}"):
            response = self._clients.dynamodb.get_item(
                TableName=self._table, Key={"image_id": {"S": image_id}}, ConsistentRead=True
            )
        item = response.get("Item")
        return deserialize(item) if item else None

    def search(self, query: IndexQuery) -> list[JsonDict]:
        """Every document matching ``query``, ordered by ``image_id``, at most ``query.limit``."""
        documents: list[JsonDict] = []
        with transient_errors(f"DynamoDB Scan {self._table}"):
            paginator = self._clients.dynamodb.get_paginator("scan")
            for page in paginator.paginate(TableName=self._table):
                documents.extend(deserialize(item) for item in page.get("Items", []))
        hits = sorted((d for d in documents if matches(d, query)), key=lambda d: d["image_id"])
        return hits[: query.limit]


class DynamoIdempotencyStore:
    """Leased claims: a conditional PutItem takes a free or expired key, never a completed one."""

    def __init__(self, clients: AwsClients, table: str) -> None:
        self._clients = clients
        self._table = table

    def claim(self, key: str, *, now: float, lease_seconds: float) -> ClaimState:
        """Acquire ``key`` unless completed or leased by a live claim (compare-and-set)."""
        try:
            with transient_errors(f"DynamoDB PutItem {self._table}"):
                self._clients.dynamodb.put_item(
                    TableName=self._table,
                    Item={
                        "key": {"S": key},
                        "state": {"S": "in_progress"},
                        "lease_expires": _number(now + lease_seconds),
                        "claimed_at": _number(now),
                        # Garbage-collect claims of deliveries that never came back.
                        "expires_at": {
                            "N": str(int(now + lease_seconds + IN_PROGRESS_RETENTION_SECONDS))
                        },
                    },
                    ConditionExpression=(
                        "attribute_not_exists(#k) OR (#state = :in_progress AND #lease < :now)"
                    ),
                    ExpressionAttributeNames={
                        "#k": "key",
                        "#state": "state",
                        "#lease": "lease_expires",
                    },
                    ExpressionAttributeValues={
                        ":in_progress": {"S": "in_progress"},
                        ":now": _number(now),
                    },
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            existing = exc.response.get("Item") or self._get(key)
            if existing is None:  # deleted between our put and the read: let the retry decide
                raise TransientError(f"idempotency claim {key!r} raced with a release") from exc
            state = existing.get("state", {}).get("S")
            return ClaimState.COMPLETED if state == "completed" else ClaimState.IN_PROGRESS
        return ClaimState.ACQUIRED

    def complete(self, key: str, *, now: float, ttl_seconds: float) -> None:
        """Mark ``key`` done; DynamoDB TTL removes the record after ``ttl_seconds``."""
        with transient_errors(f"DynamoDB PutItem {self._table}"):
            self._clients.dynamodb.put_item(
                TableName=self._table,
                Item={
                    "key": {"S": key},
                    "state": {"S": "completed"},
                    "completed_at": _number(now),
                    "expires_at": {"N": str(int(now + ttl_seconds))},
                },
            )

    def release(self, key: str) -> None:
        """Delete an in-progress claim (never a completed one)."""
        try:
            with transient_errors(f"DynamoDB DeleteItem {self._table}"):
                self._clients.dynamodb.delete_item(
                    TableName=self._table,
                    Key={"key": {"S": key}},
                    ConditionExpression="#state = :in_progress",
                    ExpressionAttributeNames={"#state": "state"},
                    ExpressionAttributeValues={":in_progress": {"S": "in_progress"}},
                )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise

    def is_completed(self, key: str) -> bool:
        """A consistent GetItem of the claim."""
        item = self._get(key)
        return item is not None and item.get("state", {}).get("S") == "completed"

    def _get(self, key: str) -> dict[str, Any] | None:
        with transient_errors(f"DynamoDB GetItem {self._table}"):
            response = self._clients.dynamodb.get_item(
                TableName=self._table, Key={"key": {"S": key}}, ConsistentRead=True
            )
        item: dict[str, Any] | None = response.get("Item")
        return item


def _order_item(order: OrderRecord) -> dict[str, Any]:
    item = {**order_to_dict(order), "kind": "order"}
    for key in ("idempotency_key", "outbox_pending", "updated_at"):
        if item[key] is None:  # a GSI key attribute must be absent, never NULL
            del item[key]
    return serialize(item)


def _order_record(item: Mapping[str, Any]) -> OrderRecord:
    return order_from_dict(deserialize(item))


class DynamoOrderStore:
    """Orders with conditional creation (deduped on idempotency key) and status transitions."""

    def __init__(self, clients: AwsClients, table: str) -> None:
        self._clients = clients
        self._table = table

    def create(self, order: OrderRecord) -> tuple[OrderRecord, bool]:
        """Insert ``order``; if its idempotency key (or id) is taken, return the stored order."""
        new_item = {
            "TableName": self._table,
            "Item": _order_item(order),
            "ConditionExpression": "attribute_not_exists(order_id)",
        }
        if order.idempotency_key is None:
            try:
                with transient_errors(f"DynamoDB PutItem {self._table}"):
                    self._clients.dynamodb.put_item(**new_item)
            except ClientError as exc:
                if error_code(exc) != "ConditionalCheckFailedException":
                    raise
                return self._existing(order.order_id), False
            return order, True
        guard = {
            "TableName": self._table,
            "Item": serialize(
                {
                    "order_id": GUARD_PREFIX + order.idempotency_key,
                    "kind": "idempotency_key",
                    "target_order_id": order.order_id,
                    "created_at": order.placed_at,
                }
            ),
            "ConditionExpression": "attribute_not_exists(order_id)",
        }
        try:
            with transient_errors(f"DynamoDB TransactWriteItems {self._table}"):
                self._clients.dynamodb.transact_write_items(
                    TransactItems=[{"Put": guard}, {"Put": new_item}]
                )
        except ClientError as exc:
            if error_code(exc) != "TransactionCanceledException":
                raise
            reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
            if _RETRYABLE_CANCELLATIONS.intersection(reasons):
                raise TransientError(f"order creation conflicted, retry ({reasons})") from exc
            if reasons[:1] == ["ConditionalCheckFailed"]:
                return self._by_idempotency_key(order.idempotency_key), False
            if reasons[1:2] == ["ConditionalCheckFailed"]:
                return self._existing(order.order_id), False
            raise
        return order, True

    def get(self, order_id: str) -> OrderRecord | None:
        """GetItem, strongly consistent; None when absent."""
        item = self._get_item(order_id)
        if item is None or item.get("kind", {}).get("S", "order") != "order":
            return None
        return _order_record(item)

    def stale_placed(
        self, *, placed_after: str, placed_before: str, limit: int
    ) -> list[OrderRecord]:
        """Orders still PLACED, ``placed_at`` in ``[placed_after, placed_before)``, oldest first.

        One ``Query`` of the status index (``BETWEEN`` is inclusive, so an order placed exactly
        at ``placed_before`` is dropped here), paged until ``limit`` orders or the window's end.
        The index is eventually consistent: an order paid a moment ago may still show as PLACED
        and be re-announced, which its consumers deduplicate (same derived event id).
        """
        if limit <= 0 or placed_after >= placed_before:
            return []
        arguments: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": ORDERS_STATUS_INDEX,
            "KeyConditionExpression": "#status = :placed AND #placed_at BETWEEN :after AND :before",
            "ExpressionAttributeNames": {"#status": "status", "#placed_at": "placed_at"},
            "ExpressionAttributeValues": {
                ":placed": {"S": OrderStatus.PLACED.value},
                ":after": {"S": placed_after},
                ":before": {"S": placed_before},
            },
            "ScanIndexForward": True,
        }
        found: list[OrderRecord] = []
        while True:
            arguments["Limit"] = limit - len(found) + 1  # room for one at placed_before
            with transient_errors(f"DynamoDB Query {self._table}/{ORDERS_STATUS_INDEX}"):
                response = self._clients.dynamodb.query(**arguments)
            for item in response.get("Items", []):
                order = _order_record(item)
                if order.placed_at >= placed_before:  # ascending: nothing after it is in range
                    return found
                found.append(order)
                if len(found) == limit:
                    return found
            last = response.get("LastEvaluatedKey")
            if not last:
                return found
            arguments["ExclusiveStartKey"] = last

    def by_status(
        self, status: OrderStatus, *, limit: int, newest_first: bool = False
    ) -> list[OrderRecord]:
        """Orders in ``status``, oldest (or newest) first: a ``Query`` of the status index,
        paged."""
        if limit <= 0:
            return []
        arguments: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": ORDERS_STATUS_INDEX,
            "KeyConditionExpression": "#status = :status",
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": {":status": {"S": OrderStatus(status).value}},
            "ScanIndexForward": not newest_first,
        }
        return self._query_orders(arguments, limit)

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
        """Conditional UpdateItem on ``status`` (the outbox in the same write); False when the
        order was not in ``from_status``."""
        changes = transition_changes(
            to_status, now, payment_id, decline_code, failure_reason, outbox
        )
        assignments = [f"#{name} = :{name}" for name in changes]
        names = {"#kind": "kind", **{f"#{name}": name for name in changes}}
        values: dict[str, Any] = {
            ":from": {"S": from_status.value},
            ":order": {"S": "order"},
            **{f":{name}": {"S": value} for name, value in changes.items()},
        }
        try:
            with transient_errors(f"DynamoDB UpdateItem {self._table}"):
                self._clients.dynamodb.update_item(
                    TableName=self._table,
                    Key={"order_id": {"S": order_id}},
                    UpdateExpression="SET " + ", ".join(assignments),
                    ConditionExpression="#status = :from AND #kind = :order",
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues=values,
                )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def announced(self, order_id: str, event_ids: Sequence[str]) -> None:
        """Remove published events from the outbox: a compare-and-set on the outbox text,
        re-read when a concurrent write changed it."""
        for _ in range(_OUTBOX_CAS_ROUNDS):
            order = self.get(order_id)
            if order is None:
                return
            remaining = without_announced(order, event_ids)
            if remaining == order.outbox:
                return
            fields = outbox_fields(remaining)
            arguments: dict[str, Any] = {
                "TableName": self._table,
                "Key": {"order_id": {"S": order_id}},
                "ConditionExpression": "#outbox = :old",
                "ExpressionAttributeNames": {"#outbox": "outbox"},
                "ExpressionAttributeValues": {":old": {"S": outbox_fields(order.outbox)["outbox"]}},
            }
            if remaining:
                arguments["UpdateExpression"] = "SET #outbox = :new"
                arguments["ExpressionAttributeValues"][":new"] = {"S": fields["outbox"]}
            else:
                arguments["UpdateExpression"] = "REMOVE #outbox, #pending"
                arguments["ExpressionAttributeNames"]["#pending"] = "outbox_pending"
            try:
                with transient_errors(f"DynamoDB UpdateItem {self._table}"):
                    self._clients.dynamodb.update_item(**arguments)
                return
            except ClientError as exc:
                if error_code(exc) != "ConditionalCheckFailedException":
                    raise
        raise TransientError(f"outbox of order {order_id} kept changing; retry")

    def pending_announcements(self, *, updated_before: str, limit: int) -> list[OrderRecord]:
        """Orders with pending outbox events changed before ``updated_before``, oldest first:
        one Query of the sparse outbox index (eventually consistent: an outbox emptied a
        moment ago may still be listed, and relaying it again is deduplicated downstream)."""
        if limit <= 0:
            return []
        arguments: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": ORDERS_OUTBOX_INDEX,
            "KeyConditionExpression": "#pending = :yes AND #updated_at < :before",
            "ExpressionAttributeNames": {"#pending": "outbox_pending", "#updated_at": "updated_at"},
            "ExpressionAttributeValues": {":yes": {"S": "1"}, ":before": {"S": updated_before}},
            "ScanIndexForward": True,
        }
        return self._query_orders(arguments, limit)

    def _query_orders(self, arguments: dict[str, Any], limit: int) -> list[OrderRecord]:
        """Up to ``limit`` orders from one index ``Query``, following its pages."""
        found: list[OrderRecord] = []
        while len(found) < limit:
            arguments["Limit"] = limit - len(found)
            with transient_errors(f"DynamoDB Query {self._table}/{arguments['IndexName']}"):
                response = self._clients.dynamodb.query(**arguments)
            found.extend(_order_record(item) for item in response.get("Items", []))
            last = response.get("LastEvaluatedKey")
            if not last:
                break
            arguments["ExclusiveStartKey"] = last
        return found[:limit]

    def _get_item(self, order_id: str) -> dict[str, Any] | None:
        with transient_errors(f"DynamoDB GetItem {self._table}"):
            response = self._clients.dynamodb.get_item(
                TableName=self._table, Key={"order_id": {"S": order_id}}, ConsistentRead=True
            )
        item: dict[str, Any] | None = response.get("Item")
        return item

    def _existing(self, order_id: str) -> OrderRecord:
        existing = self.get(order_id)
        if existing is None:
            raise TransientError(f"order {order_id} exists but could not be read yet")
        return existing

    def _by_idempotency_key(self, key: str) -> OrderRecord:
        guard = self._get_item(GUARD_PREFIX + key)
        if guard is None:
            raise TransientError(f"idempotency key {key!r} is taken but its guard is not readable")
        return self._existing(guard["target_order_id"]["S"])
