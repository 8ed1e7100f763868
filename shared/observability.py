"""Structured logging: one JSON object per line, which CloudWatch, Cloud Logging and
Application Insights all index. Correlation and trace ids ride along as fields."""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime
from typing import Any

# The fields the runtime and the dispatcher attach to their records (``extra=``), in the order
# they appear on a line: what ran, for which event or request, and how it ended.
_FIELDS = (
    "consumer",
    "endpoint",
    "schedule",
    "event_id",
    "event_type",
    "message_id",
    "attempt",
    "method",
    "route",
    "status",
    "latency_ms",
    "correlation_id",
    "traceparent",
)


class JsonFormatter(logging.Formatter):
    """Formats records as JSON with the dispatcher's extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        """One JSON line."""
        payload: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"
            ),
            "severity": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in _FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                payload[name] = value
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str)


def configure_logging(level: str | None = None) -> None:
    """Route the ``eventsuite`` loggers to stderr as JSON (idempotent)."""
    logger = logging.getLogger("eventsuite")
    if any(isinstance(h.formatter, JsonFormatter) for h in logger.handlers):
        return
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    logger.addHandler(handler)
    logger.setLevel(level or os.environ.get("EVENTSUITE_LOG_LEVEL", "INFO"))
    logger.propagate = False
