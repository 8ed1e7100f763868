"""What every queue-backed ``DeadLetterAdmin`` (SQS, Pub/Sub, Storage queues) does the same way:
read parked messages by leasing them briefly, find one by id, and group a redrive by consumer."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from shared.ports import DeadLetterAdmin, ParkedMessage

Raw = TypeVar("Raw")


def collect_parked(
    consumers: Iterable[str],
    receive: Callable[[str], Sequence[Raw]],
    convert: Callable[[str, Raw], ParkedMessage],
    release: Callable[[str, Sequence[Raw]], Any],
) -> list[ParkedMessage]:
    """Every consumer's parked messages: leased by ``receive``, converted, and always released
    again (made visible, un-acknowledged), so reading never takes a message away."""
    found: list[ParkedMessage] = []
    for name in consumers:
        held = receive(name)
        try:
            found.extend(convert(name, raw) for raw in held)
        finally:
            release(name, held)
    return found


def oldest_first(messages: list[ParkedMessage], limit: int) -> list[ParkedMessage]:
    """The ``limit`` oldest dead letters."""
    messages.sort(key=lambda parked: parked.dead_lettered_at or 0)
    return messages[:limit]


def find_parked(admin: DeadLetterAdmin, message_id: str) -> ParkedMessage | None:
    """A dead letter by its message id or its event's id."""
    for message in admin.parked(limit=10_000):
        if message_id in (message.id, message.event_id):
            return message
    return None


def by_consumer(messages: Sequence[ParkedMessage]) -> dict[str, set[str]]:
    """Message ids to redrive, per consumer (each consumer's queue is handled in one pass)."""
    wanted: dict[str, set[str]] = {}
    for message in messages:
        wanted.setdefault(message.consumer, set()).add(message.id)
    return wanted
