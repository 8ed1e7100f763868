"""EventBridge implementation of the ``EventPublisher`` port.

Each CloudEvent becomes one PutEvents entry on the suite's custom bus:
``Source`` = CloudEvent ``source``, ``DetailType`` = CloudEvent ``type`` (the consumer rules
match on it), ``Detail`` = the structured CloudEvent JSON. Calls carry at most 10 entries and
256 KiB; entries that fail inside a successful call (``FailedEntryCount``) are retried with
jittered exponential backoff, then reported as ``TransientError``.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from cloudevents.abstract import CloudEvent

from functions.aws.clients import AwsClients
from functions.aws.errors import describe
from functions.common.batching import batches
from shared.envelope import to_structured
from shared.errors import PayloadTooLarge, TransientError

MAX_ENTRIES_PER_CALL = 10
MAX_REQUEST_BYTES = 256 * 1024
# Keep claim-checked payloads well below the entry limit: the CloudEvent attributes and
# the EventBridge envelope around the detail (when delivered to SQS) need room too.
ENVELOPE_HEADROOM_BYTES = 8 * 1024
logger = logging.getLogger("eventsuite.aws.eventbridge")

Entry = dict[str, Any]


def to_entry(event: CloudEvent, bus_name: str) -> Entry:
    """The PutEvents entry for a CloudEvent."""
    detail = json.dumps(to_structured(event), separators=(",", ":"), ensure_ascii=False)
    return {
        "EventBusName": bus_name,
        "Source": str(event["source"]),
        "DetailType": str(event["type"]),
        "Detail": detail,
    }


def entry_size(entry: Entry) -> int:
    """Entry size as EventBridge counts it (UTF-8 bytes of Source, DetailType, Detail, ...)."""
    size = sum(len(str(entry.get(k, "")).encode()) for k in ("Source", "DetailType", "Detail"))
    size += sum(len(r.encode()) for r in entry.get("Resources", []))
    return size + (14 if "Time" in entry else 0)


def chunks(entries: Sequence[Entry]) -> Iterator[list[Entry]]:
    """Split entries into calls of at most 10 entries and 256 KiB."""
    for entry in entries:
        size = entry_size(entry)
        if size > MAX_REQUEST_BYTES:
            raise PayloadTooLarge(
                f"event {json.loads(entry['Detail']).get('id')} is {size} bytes; EventBridge "
                f"accepts {MAX_REQUEST_BYTES} (publish through ClaimCheckPublisher)"
            )
    yield from batches(
        entries, size_of=entry_size, max_count=MAX_ENTRIES_PER_CALL, max_bytes=MAX_REQUEST_BYTES
    )


class EventBridgePublisher:
    """Publishes CloudEvents to an EventBridge bus."""

    def __init__(
        self,
        clients: AwsClients,
        bus_name: str,
        *,
        max_attempts: int = 4,
        base_delay: float = 0.1,
        max_delay: float = 2.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._clients = clients
        self.bus_name = bus_name
        self._max_attempts = max_attempts
        self._base_delay = base_delay
        self._max_delay = max_delay
        self._sleep = sleep

    def publish(self, events: Sequence[CloudEvent]) -> None:
        """Publish every event or raise ``TransientError`` naming what failed."""
        for batch in chunks([to_entry(event, self.bus_name) for event in events]):
            self._put(batch)

    def _put(self, entries: list[Entry]) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        pending = entries
        errors: list[str] = []
        for attempt in range(1, self._max_attempts + 1):
            try:
                response = self._clients.events.put_events(Entries=pending)
            except (ClientError, BotoCoreError) as exc:
                # botocore already retried throttling/5xx; the caller's retry is the next level.
                raise TransientError(f"EventBridge PutEvents failed: {describe(exc)}") from exc
            if not response.get("FailedEntryCount"):
                return
            results = response.get("Entries", [])
            failed = [
                (entry, result)
                for entry, result in zip(pending, results, strict=False)
                if result.get("ErrorCode")
            ]
            if len(results) < len(pending):  # defensive: treat unreported entries as failed
                failed += [
                    (entry, {"ErrorCode": "Unreported"}) for entry in pending[len(results) :]
                ]
            errors = sorted(
                {f"{r.get('ErrorCode')}: {r.get('ErrorMessage', '')}" for _, r in failed}
            )
            pending = [entry for entry, _ in failed]
            logger.warning(
                "EventBridge rejected %d of %d entries (attempt %d): %s",
                len(pending),
                len(entries),
                attempt,
                "; ".join(errors),
            )
            if attempt < self._max_attempts:
                ceiling = min(self._max_delay, self._base_delay * 2 ** (attempt - 1))
                self._sleep(random.uniform(0, ceiling))
        raise TransientError(
            f"EventBridge did not accept {len(pending)} event(s) after {self._max_attempts} "
            f"attempts: {'; '.join(errors)}"
        )
