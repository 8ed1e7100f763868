"""Dependency injection by type: handlers say what they need in their signatures.

A consumer handler is ``handler(event: Event, orders: OrderStore, ...)``, an HTTP handler
``handler(request: HttpRequest, ...)``, a scheduled job ``job(orders: OrderStore, ...)``: every
parameter after the leading positional ones is annotated with a type the composition root can
provide. :func:`needs_of` reads those annotations once; :class:`Container` builds each
dependency on first use, once per process; :func:`bind` turns a handler into a call that takes
only its leading arguments. A handler asking for something a backend cannot provide fails when
it is bound (at startup), naming the function, the parameter and the reason.
"""

from __future__ import annotations

import inspect
import threading
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

T = TypeVar("T")
Factory = Callable[[], Any]


class MissingDependency(RuntimeError):
    """A handler needs something the composition root cannot provide."""


class Dependencies(Protocol):
    """What a composition root offers: instances by type."""

    def provides(self, kind: type[Any]) -> bool:
        """Whether ``kind`` can be provided."""
        ...

    def missing_reason(self, kind: type[Any]) -> str:
        """Why ``kind`` cannot be provided (a setting to set, a backend that lacks it)."""
        ...

    def get(self, kind: type[T]) -> T:
        """The instance of ``kind`` (built on first use); ``MissingDependency`` if none."""
        ...


@dataclass(frozen=True)
class Need:
    """One injected parameter of a handler."""

    parameter: str
    kind: type[Any]


def _qualified(function: Callable[..., Any]) -> str:
    return f"{getattr(function, '__module__', '?')}:{getattr(function, '__qualname__', function)}"


def needs_of(function: Callable[..., Any], *, leading: int) -> tuple[Need, ...]:
    """The injected parameters of ``function``: every parameter after the first ``leading``.

    Each must be annotated with a class (or Protocol); anything else is a programming error
    reported with the function's name.
    """
    signature = inspect.signature(function)
    target = function if inspect.isroutine(function) else type(function).__call__
    hints = typing.get_type_hints(target)
    parameters = list(signature.parameters.values())
    if len(parameters) < leading:
        raise TypeError(f"{_qualified(function)} must take {leading} leading argument(s)")
    needs = []
    for parameter in parameters[leading:]:
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            raise TypeError(f"{_qualified(function)}: *args/**kwargs cannot be injected")
        if parameter.default is not parameter.empty:
            continue  # tuning knobs with defaults (tests pass them) are not dependencies
        kind = hints.get(parameter.name)
        if not isinstance(kind, type) or kind is Any:  # Any is a class since Python 3.11
            raise TypeError(
                f"{_qualified(function)}: parameter {parameter.name!r} needs a class annotation "
                f"to be injected, got {kind!r}"
            )
        needs.append(Need(parameter.name, kind))
    return tuple(needs)


def check_needs(
    function: Callable[..., Any],
    dependencies: Dependencies,
    *,
    leading: int,
    role: str,
    extra: Mapping[type[Any], Any] | None = None,
) -> tuple[Need, ...]:
    """The needs of ``function``, or ``MissingDependency`` naming every one that is missing."""
    needs = needs_of(function, leading=leading)
    missing = [
        f"{need.parameter}: {need.kind.__name__} ({dependencies.missing_reason(need.kind)})"
        for need in needs
        if need.kind not in (extra or {}) and not dependencies.provides(need.kind)
    ]
    if missing:
        raise MissingDependency(
            f"{role} ({_qualified(function)}) cannot start: {'; '.join(missing)}"
        )
    return needs


def bind(
    function: Callable[..., T],
    dependencies: Dependencies,
    *,
    leading: int,
    role: str,
    extra: Mapping[type[Any], Any] | None = None,
) -> Callable[..., T]:
    """``function`` with its dependencies resolved now; call it with its leading arguments.

    ``extra`` provides what only this role knows (the consumer being served), before
    ``dependencies``.
    """
    given = dict(extra or {})
    needs = check_needs(function, dependencies, leading=leading, role=role, extra=given)
    resolved = {
        need.parameter: given[need.kind] if need.kind in given else dependencies.get(need.kind)
        for need in needs
    }

    def bound(*arguments: Any) -> T:
        return function(*arguments, **resolved)

    bound.__name__ = getattr(function, "__name__", "bound")
    bound.__wrapped__ = function  # type: ignore[attr-defined]
    return bound


class Container:
    """Dependencies built from factories by type, each once per process, thread-safely.

    ``unavailable`` records why a type cannot be provided (e.g. the setting that is not set),
    so a function that needs it fails at startup with that reason.
    """

    def __init__(
        self,
        factories: Mapping[type[Any], Factory] | None = None,
        *,
        instances: Mapping[type[Any], Any] | None = None,
        unavailable: Mapping[type[Any], str] | None = None,
    ) -> None:
        self._factories: dict[type[Any], Factory] = dict(factories or {})
        self._instances: dict[type[Any], Any] = dict(instances or {})
        self._unavailable: dict[type[Any], str] = dict(unavailable or {})
        self._lock = threading.RLock()

    def register(self, kind: type[Any], factory: Factory) -> None:
        """Provide ``kind`` through ``factory`` (replacing any earlier way)."""
        with self._lock:
            self._factories[kind] = factory
            self._instances.pop(kind, None)
            self._unavailable.pop(kind, None)

    def install(self, kind: type[Any], instance: Any) -> None:
        """Provide ``kind`` as a ready-made instance (tests hand in fakes this way)."""
        with self._lock:
            self._instances[kind] = instance
            self._unavailable.pop(kind, None)

    def refuse(self, kind: type[Any], reason: str) -> None:
        """Record that ``kind`` cannot be provided, and why."""
        with self._lock:
            self._factories.pop(kind, None)
            self._instances.pop(kind, None)
            self._unavailable[kind] = reason

    def provides(self, kind: type[Any]) -> bool:
        """Whether ``kind`` has an instance or a factory."""
        return kind in self._instances or kind in self._factories

    def built(self, kind: type[Any]) -> bool:
        """Whether ``kind`` has been built already (tests of laziness)."""
        return kind in self._instances

    def missing_reason(self, kind: type[Any]) -> str:
        """Why ``kind`` is not provided."""
        return self._unavailable.get(kind, "this backend does not provide it")

    def get(self, kind: type[T]) -> T:
        """The instance of ``kind``, built on first use."""
        existing = self._instances.get(kind)
        if existing is not None:
            return typing.cast(T, existing)
        with self._lock:
            if kind not in self._instances:
                factory = self._factories.get(kind)
                if factory is None:
                    raise MissingDependency(f"{kind.__name__}: {self.missing_reason(kind)}")
                self._instances[kind] = factory()
            return typing.cast(T, self._instances[kind])

    def get_optional(self, kind: type[T]) -> T | None:
        """The instance of ``kind``, or None when it is not provided."""
        return self.get(kind) if self.provides(kind) else None
