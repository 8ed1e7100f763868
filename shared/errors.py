"""Typed errors. Only entry points map them to a platform response or a retry decision."""

from __future__ import annotations


class SuiteError(Exception):
    """Base of every error the core raises on purpose."""


class PermanentError(SuiteError):
    """Retrying cannot help: the delivery goes to the dead-letter destination with this reason."""

    code = "permanent"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TransientError(SuiteError):
    """A retry may succeed (a dependency was down, a lease was held): the platform retries."""

    code = "transient"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class InvalidEnvelope(PermanentError):
    """The delivery is not a CloudEvent we can read (bad JSON, missing attributes)."""

    code = "invalid_envelope"


class UnknownEventType(PermanentError):
    """The event type is not in the catalog."""

    code = "unknown_event_type"


class UnknownEventVersion(PermanentError):
    """The event's version is not (or no longer) in the catalog, e.g. a future version."""

    code = "unknown_event_version"


class SchemaViolation(PermanentError):
    """The event's data does not match the JSON Schema of its type and version."""

    code = "schema_violation"


class PayloadTooLarge(PermanentError):
    """A payload exceeds a hard limit."""

    code = "payload_too_large"


class UnsupportedImage(PermanentError):
    """The object is not an image we accept (wrong content type, unknown format)."""

    code = "unsupported_image"


class CorruptImage(PermanentError):
    """The image cannot be decoded (truncated or damaged)."""

    code = "corrupt_image"


class ImageTooLarge(PermanentError):
    """The image's pixel count exceeds the decompression-bomb limit."""

    code = "image_too_large"


class InvalidObjectKey(PermanentError):
    """An object key no store can hold (empty, NUL or control characters, too long)."""

    code = "invalid_object_key"


class ObjectNotFound(PermanentError):
    """An object referenced by an event does not exist (deleted before we read it)."""

    code = "object_not_found"


class CatalogError(SuiteError):
    """The event catalog is inconsistent; the message names the offending entry."""


class InvalidSignature(SuiteError):
    """A webhook's signature is missing, malformed, stale or wrong."""


class ValidationFailed(SuiteError):
    """An HTTP request body is invalid; ``problems`` lists every reason."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems
