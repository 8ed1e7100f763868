"""The event catalog: one data file (``catalog.json``) read by Python and by Terraform.

It lists every event type with its versions and JSON Schemas, every consumer with the
events it subscribes to and its delivery settings, the HTTP endpoints and the scheduled jobs.
The catalog validates itself on load; errors name the offending entry.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from shared.errors import CatalogError

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator

_Spec = TypeVar("_Spec")

CATALOG_PATH = Path(__file__).with_name("catalog.json")

_CONSUMER_LIMITS = {
    "max_delivery_attempts": (1, 100),
    "timeout_seconds": (1, 900),
    "memory_mb": (128, 10240),
    "batch_size": (1, 100),
}


@dataclass(frozen=True)
class EventVersion:
    """One version of an event type; its validators are built on first use.

    Cold start matters: a function compiles only the schemas of the events it actually sees
    or emits, and imports ``jsonschema`` only to explain a failure.
    """

    version: int
    schema_path: Path
    schema: Mapping[str, Any]
    upcast_to: int | None

    @cached_property
    def validator(self) -> Draft202012Validator:
        """The reference validator (detailed error messages)."""
        from jsonschema import Draft202012Validator

        return Draft202012Validator(self.schema)

    @cached_property
    def fast_validate(self) -> Any:
        """The compiled validator (fastjsonschema speaks draft 7; our schemas use only keywords
        common to both drafts)."""
        import fastjsonschema

        try:
            return fastjsonschema.compile({k: v for k, v in self.schema.items() if k != "$schema"})
        except fastjsonschema.JsonSchemaDefinitionException as exc:
            raise CatalogError(f"schema {self.schema_path.name} is invalid: {exc}") from exc

    def is_valid(self, data: Any) -> bool:
        """Fast check (compiled); use ``validator`` only to explain a failure."""
        import fastjsonschema

        try:
            self.fast_validate(data)
        except fastjsonschema.JsonSchemaValueException:
            return False
        return True

    def check_schema(self) -> None:
        """Check the schema against the JSON Schema 2020-12 meta-schema."""
        from jsonschema import Draft202012Validator
        from jsonschema.exceptions import SchemaError

        try:
            Draft202012Validator.check_schema(self.schema)
        except SchemaError as exc:
            raise CatalogError(f"schema {self.schema_path.name} is invalid: {exc.message}") from exc


@dataclass(frozen=True)
class EventSpec:
    """An event type: catalog name, CloudEvents ``type`` and versions."""

    name: str
    type: str
    description: str
    current_version: int
    versions: Mapping[int, EventVersion]
    ordering_key: str | None

    @property
    def current(self) -> EventVersion:
        """The version producers emit."""
        return self.versions[self.current_version]


@dataclass(frozen=True)
class ConsumerSpec:
    """A consumer: handler reference, subscriptions and delivery settings."""

    name: str
    description: str
    handler: str
    group: str
    subscribes: tuple[str, ...]
    max_delivery_attempts: int
    timeout_seconds: int
    memory_mb: int
    batch_size: int
    emits: tuple[str, ...] = ()


@dataclass(frozen=True)
class ProducerSpec:
    """What HTTP endpoints and scheduled jobs share: a handler that emits catalog events."""

    name: str
    description: str
    handler: str
    group: str
    emits: tuple[str, ...]
    timeout_seconds: int
    memory_mb: int


@dataclass(frozen=True)
class EndpointSpec(ProducerSpec):
    """An HTTP producer endpoint."""

    method: str
    path: str


@dataclass(frozen=True)
class ScheduleSpec(ProducerSpec):
    """A job run on a timer (e.g. the order reconciler), not triggered by an event."""

    every_minutes: int


@dataclass(frozen=True)
class Catalog:
    """The whole catalog, validated."""

    name: str
    source: str
    claim_check_threshold_bytes: int
    storage: Mapping[str, str]
    images: Mapping[str, Any]
    events: Mapping[str, EventSpec]
    consumers: Mapping[str, ConsumerSpec]
    endpoints: Mapping[str, EndpointSpec]
    schedules: Mapping[str, ScheduleSpec]
    by_type: Mapping[str, EventSpec]

    def event(self, name: str) -> EventSpec:
        """Event by catalog name."""
        return _lookup("event", self.events, name)

    def event_by_type(self, ce_type: str) -> EventSpec | None:
        """Event by CloudEvents ``type``, or None when the type is not in the catalog."""
        return self.by_type.get(ce_type)

    def consumer(self, name: str) -> ConsumerSpec:
        """Consumer by name; a clear error lists the known ones."""
        return _lookup("consumer", self.consumers, name)

    def endpoint(self, name: str) -> EndpointSpec:
        """HTTP endpoint by name."""
        return _lookup("endpoint", self.endpoints, name)

    def schedule(self, name: str) -> ScheduleSpec:
        """Scheduled job by name."""
        return _lookup("schedule", self.schedules, name)

    def consumers_of(self, event_name: str) -> list[ConsumerSpec]:
        """Consumers subscribed to an event, in catalog order."""
        return [c for c in self.consumers.values() if event_name in c.subscribes]


def _lookup(kind: str, entries: Mapping[str, _Spec], name: str) -> _Spec:
    try:
        return entries[name]
    except KeyError:
        known = ", ".join(sorted(entries))
        raise CatalogError(f"unknown {kind} {name!r} (known: {known})") from None


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise CatalogError(f"duplicate entry {key!r} in catalog")
        result[key] = value
    return result


def _require(
    mapping: Mapping[str, Any], key: str, where: str, kind: type | tuple[type, ...]
) -> Any:
    if key not in mapping:
        raise CatalogError(f"{where}: missing {key!r}")
    value = mapping[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise CatalogError(f"{where}: {key!r} must be {getattr(kind, '__name__', kind)}")
    return value


def _load_version(
    event: str, raw_version: str, spec: Any, base: Path, check_schemas: bool
) -> EventVersion:
    where = f"event {event!r} version {raw_version}"
    if not raw_version.isdigit() or int(raw_version) < 1:
        raise CatalogError(f"{where}: versions are positive integers")
    if not isinstance(spec, dict):
        raise CatalogError(f"{where}: must be an object")
    schema_rel = _require(spec, "schema", where, str)
    schema_path = (base / schema_rel).resolve()
    if not schema_path.is_file():
        raise CatalogError(f"{where}: schema file {schema_rel!r} does not exist")
    try:
        schema = json.loads(schema_path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise CatalogError(f"{where}: schema {schema_rel!r} is invalid: {exc}") from exc
    if not isinstance(schema, dict):
        raise CatalogError(f"{where}: schema {schema_rel!r} is invalid: not a JSON object")
    upcast_to = spec.get("upcast_to")
    if upcast_to is not None and (not isinstance(upcast_to, int) or upcast_to <= int(raw_version)):
        raise CatalogError(f"{where}: upcast_to must be a later version")
    version = EventVersion(int(raw_version), schema_path, schema, upcast_to)
    if check_schemas:
        try:
            version.check_schema()
        except CatalogError as exc:
            raise CatalogError(f"{where}: {exc}") from exc
    return version


def _load_event(name: str, raw: Any, base: Path, check_schemas: bool) -> EventSpec:
    where = f"event {name!r}"
    if not isinstance(raw, dict):
        raise CatalogError(f"{where}: must be an object")
    versions_raw = _require(raw, "versions", where, dict)
    if not versions_raw:
        raise CatalogError(f"{where}: needs at least one version")
    versions = {
        int(v): _load_version(name, v, spec, base, check_schemas)
        for v, spec in versions_raw.items()
    }
    current = _require(raw, "current_version", where, int)
    if current not in versions:
        raise CatalogError(f"{where}: current_version {current} is not among its versions")
    for version in versions.values():
        if version.upcast_to is not None and version.upcast_to not in versions:
            raise CatalogError(
                f"{where} version {version.version}: upcasts to unknown version {version.upcast_to}"
            )
        if version.version != current and version.upcast_to is None:
            raise CatalogError(
                f"{where} version {version.version}: an old version needs 'upcast_to'"
            )
    return EventSpec(
        name=name,
        type=_require(raw, "type", where, str),
        description=str(raw.get("description", "")),
        current_version=current,
        versions=versions,
        ordering_key=raw.get("ordering_key"),
    )


def _bounded(raw: Mapping[str, Any], key: str, where: str) -> int:
    low, high = _CONSUMER_LIMITS[key]
    value: int = _require(raw, key, where, int)
    if not low <= value <= high:
        raise CatalogError(f"{where}: {key} must be between {low} and {high}, got {value}")
    return value


def _check_limits(where: str, raw: Mapping[str, Any]) -> dict[str, int]:
    return {key: _bounded(raw, key, where) for key in _CONSUMER_LIMITS}


def _load_consumer(name: str, raw: Any, events: Mapping[str, EventSpec]) -> ConsumerSpec:
    where = f"consumer {name!r}"
    if not isinstance(raw, dict):
        raise CatalogError(f"{where}: must be an object")
    subscribes = _require(raw, "subscribes", where, list)
    if not subscribes:
        raise CatalogError(f"{where}: subscribes to nothing")
    for event in subscribes:
        if event not in events:
            raise CatalogError(f"{where}: subscribes to unknown event {event!r}")
    if len(set(subscribes)) != len(subscribes):
        raise CatalogError(f"{where}: subscribes to an event twice")
    handler = _require(raw, "handler", where, str)
    if ":" not in handler:
        raise CatalogError(f"{where}: handler must look like 'package.module:function'")
    emits = raw.get("emits", [])
    if not isinstance(emits, list) or any(event not in events for event in emits):
        raise CatalogError(f"{where}: emits must list catalog events, got {emits!r}")
    return ConsumerSpec(
        name=name,
        description=str(raw.get("description", "")),
        handler=handler,
        group=_require(raw, "group", where, str),
        subscribes=tuple(subscribes),
        **_check_limits(where, raw),
        emits=tuple(emits),
    )


def _producer_fields(
    name: str, raw: Any, events: Mapping[str, EventSpec], where: str
) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise CatalogError(f"{where}: must be an object")
    emits = _require(raw, "emits", where, list)
    for event in emits:
        if event not in events:
            raise CatalogError(f"{where}: emits unknown event {event!r}")
    handler = _require(raw, "handler", where, str)
    if ":" not in handler:
        raise CatalogError(f"{where}: handler must look like 'package.module:function'")
    return {
        "name": name,
        "description": str(raw.get("description", "")),
        "handler": handler,
        "group": _require(raw, "group", where, str),
        "emits": tuple(emits),
        "timeout_seconds": _bounded(raw, "timeout_seconds", where),
        "memory_mb": _bounded(raw, "memory_mb", where),
    }


def _load_endpoint(name: str, raw: Any, events: Mapping[str, EventSpec]) -> EndpointSpec:
    where = f"http endpoint {name!r}"
    fields = _producer_fields(name, raw, events, where)
    return EndpointSpec(
        **fields,
        method=_require(raw, "method", where, str).upper(),
        path=_require(raw, "path", where, str),
    )


def _load_schedule(name: str, raw: Any, events: Mapping[str, EventSpec]) -> ScheduleSpec:
    where = f"schedule {name!r}"
    fields = _producer_fields(name, raw, events, where)
    every = _require(raw, "every_minutes", where, int)
    if not 1 <= every <= 1440:
        raise CatalogError(f"{where}: every_minutes must be between 1 and 1440, got {every}")
    return ScheduleSpec(**fields, every_minutes=every)


def parse_catalog(text: str, base: Path, *, check_schemas: bool = True) -> Catalog:
    """Parse and validate catalog JSON; schema paths are relative to ``base``."""
    try:
        raw = json.loads(text, object_pairs_hook=_reject_duplicates)
    except ValueError as exc:
        if isinstance(exc, CatalogError):
            raise
        raise CatalogError(f"catalog is not valid JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise CatalogError("catalog must be a JSON object")
    events_raw = _require(raw, "events", "catalog", dict)
    events = {
        name: _load_event(name, spec, base, check_schemas) for name, spec in events_raw.items()
    }
    types = [spec.type for spec in events.values()]
    duplicates = {t for t in types if types.count(t) > 1}
    if duplicates:
        raise CatalogError(f"CloudEvents type used by two events: {sorted(duplicates)}")
    consumers = {
        name: _load_consumer(name, spec, events)
        for name, spec in _require(raw, "consumers", "catalog", dict).items()
    }
    endpoints = {
        name: _load_endpoint(name, spec, events)
        for name, spec in raw.get("http_endpoints", {}).items()
    }
    threshold = _require(raw, "claim_check_threshold_bytes", "catalog", int)
    if threshold < 1024:
        raise CatalogError("catalog: claim_check_threshold_bytes must be at least 1024")
    return Catalog(
        name=_require(raw, "name", "catalog", str),
        source=_require(raw, "source", "catalog", str),
        claim_check_threshold_bytes=threshold,
        storage=_require(raw, "storage", "catalog", dict),
        images=_require(raw, "images", "catalog", dict),
        events=events,
        consumers=consumers,
        endpoints=endpoints,
        schedules={
            name: _load_schedule(name, spec, events)
            for name, spec in raw.get("schedules", {}).items()
        },
        by_type={spec.type: spec for spec in events.values()},
    )


def load_catalog(path: Path | None = None, *, check_schemas: bool = True) -> Catalog:
    """Load and validate a catalog file (default: the packaged ``catalog.json``).

    ``check_schemas`` also checks every schema against the JSON Schema meta-schema (imports
    ``jsonschema``); the test suite does it, deployed functions skip it to start faster.
    """
    target = path or CATALOG_PATH
    return parse_catalog(
        target.read_text(encoding="utf-8"), target.parent, check_schemas=check_schemas
    )


@cache
def default_catalog() -> Catalog:
    """The packaged catalog, loaded once per process (meta-schema checks left to the tests)."""
    return load_catalog(check_schemas=False)
