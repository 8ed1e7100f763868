"""Splitting publishes into requests a service accepts (count and byte limits)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

Item = TypeVar("Item")


def batches(
    items: Iterable[Item], *, size_of: Callable[[Item], int], max_count: int, max_bytes: int
) -> Iterator[list[Item]]:
    """Consecutive batches of at most ``max_count`` items and ``max_bytes`` bytes.

    An item larger than ``max_bytes`` on its own is yielded alone; callers that must refuse it
    check sizes first.
    """
    batch: list[Item] = []
    batch_bytes = 0
    for item in items:
        size = size_of(item)
        if batch and (len(batch) == max_count or batch_bytes + size > max_bytes):
            yield batch
            batch, batch_bytes = [], 0
        batch.append(item)
        batch_bytes += size
    if batch:
        yield batch
