"""Build-once caches: the lazy, once-per-process SDK clients of every cloud.

``OnceCache(build).get(key)`` calls ``build(key)`` the first time a key is asked for and
returns that value ever after. The first caller builds under a lock, so concurrent first
calls build one value; later calls take a lock-free fast path. The lock is reentrant, so a
``build`` may itself ask the cache for another key.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Mapping
from typing import Any, Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class OnceCache(Generic[K, V]):
    """Values built on first use, once per key; ``initial`` seeds ready-made ones (tests)."""

    def __init__(self, build: Callable[[K], V], initial: Mapping[K, V] | None = None) -> None:
        self._build = build
        self._values: dict[K, V] = dict(initial or {})
        self._lock = threading.RLock()

    def get(self, key: K) -> V:
        """The value of ``key``, built now if it was not yet."""
        existing = self._values.get(key)
        if existing is not None:
            return existing
        with self._lock:
            if key not in self._values:
                self._values[key] = self._build(key)
            return self._values[key]

    def keys(self) -> list[K]:
        """The keys whose value exists (built or seeded)."""
        with self._lock:
            return list(self._values)


class LazyClients:
    """A cloud's SDK clients, each built on first use and once per process.

    Subclasses implement ``_build(service)`` (importing the SDK there, so a function that
    never talks to a service never imports its SDK); ``overrides`` maps a service name to a
    ready-made client used as is (tests hand in emulator-backed ones).
    """

    def __init__(self, overrides: Mapping[str, Any] | None = None) -> None:
        self._clients: OnceCache[str, Any] = OnceCache(self._build, overrides)

    def client(self, service: str) -> Any:
        """The client for ``service``, built on first use."""
        return self._clients.get(service)

    def created(self) -> list[str]:
        """Services whose client exists (for tests of laziness)."""
        return sorted(self._clients.keys())

    def _build(self, service: str) -> Any:
        raise NotImplementedError
