"""Deterministic event ids: a retried producer emits the same id, so consumers dedupe it."""

from __future__ import annotations

import uuid

_NAMESPACE = uuid.UUID("5b0c6f4e-8a39-4c1e-9a57-2f1d0e6b7c11")


def derived_event_id(*parts: str) -> str:
    """A stable UUID for a business fact identified by ``parts``."""
    return str(uuid.uuid5(_NAMESPACE, "\x1f".join(parts)))
