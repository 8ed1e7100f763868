"""Generate ``functions/azure/host.json`` from the catalog: ``python -m functions.azure.hostjson``.

host.json holds one value per app for settings the catalog gives per consumer:

* ``maxDequeueCount`` = the largest ``max_delivery_attempts``. Consumers with a smaller limit
  are still cut off at their own: the dispatcher dead-letters (into the same poison queue, with
  the reason) once the message's ``dequeue_count`` reaches the consumer's limit. The runtime's
  own move to the poison queue is then only the backstop (sink unavailable, host crash).
* ``batchSize`` = the smallest ``batch_size``: on Azure it is how many messages of one queue
  an instance runs at once (plus ``newBatchThreshold``, half of it, fetched early). Flex
  Consumption scales each queue function on its own instances, all of one memory size, so the
  smallest value keeps the memory-heavy consumer (the thumbnailer, Pillow) within it; the
  light consumers scale out instead.
* ``functionTimeout`` = the longest consumer, endpoint or schedule ``timeout_seconds``.

Python ``logging`` records reach Application Insights under ``Function.<name>.User``, governed
by the ``Function`` level; requests and exceptions are excluded from sampling (alerts count them).

``messageEncoding = none``: Event Grid writes plain JSON into the queues; with the default
(base64) every message would fail to decode and land in the poison queue (azure-webjobs-sdk
#2667). ``visibilityTimeout`` is the back-off between attempts of a failed message.
``--check`` exits 1 when the committed file differs from what the catalog gives.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from shared.catalog import Catalog, default_catalog
from shared.dispatch import lease_seconds

HOST_JSON = Path(__file__).with_name("host.json")
MAX_POLLING_INTERVAL = "00:00:10"  # latency bound for an idle queue vs. storage transactions
HTTP_ROUTE_PREFIX = ""  # URL path = catalog path (/orders), as on AWS and Google Cloud


def _timespan(seconds: int) -> str:
    hours, rest = divmod(int(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}"


def render(catalog: Catalog | None = None) -> dict[str, Any]:
    """The host.json document for ``catalog``."""
    catalog = catalog or default_catalog()
    consumers = list(catalog.consumers.values())
    batch_size = min(c.batch_size for c in consumers)
    # visibilityTimeout, the wait before a failed message is tried again, outlasts every
    # consumer's idempotency lease: a retry because a crashed attempt still holds the lease
    # then finds it expired, instead of burning the message's dequeues while it waits.
    retry_backoff = 10 * math.ceil(max(lease_seconds(c) for c in consumers) / 10)
    timeouts = (
        [c.timeout_seconds for c in consumers]
        + [e.timeout_seconds for e in catalog.endpoints.values()]
        + [s.timeout_seconds for s in catalog.schedules.values()]
    )
    return {
        "version": "2.0",
        "functionTimeout": _timespan(max(timeouts)),
        "logging": {
            "logLevel": {
                "default": "Warning",
                "Function": "Information",
                "Host.Results": "Information",
                "Host.Aggregator": "Information",
            },
            "applicationInsights": {
                "samplingSettings": {
                    "isEnabled": True,
                    "maxTelemetryItemsPerSecond": 20,
                    # Failures and invocations are never sampled away: alerts count them.
                    "excludedTypes": "Exception;Request",
                },
                "enableLiveMetricsFilters": True,
            },
        },
        "extensions": {
            "queues": {
                "messageEncoding": "none",
                "maxDequeueCount": max(c.max_delivery_attempts for c in consumers),
                "batchSize": batch_size,
                "newBatchThreshold": batch_size // 2,
                "visibilityTimeout": _timespan(retry_backoff),
                "maxPollingInterval": MAX_POLLING_INTERVAL,
            },
            "http": {"routePrefix": HTTP_ROUTE_PREFIX},
        },
        "extensionBundle": {
            "id": "Microsoft.Azure.Functions.ExtensionBundle",
            # Bundle 4 ships the Storage queues extension 5.x, which knows messageEncoding.
            "version": "[4.*, 5.0.0)",
        },
    }


def render_text(catalog: Catalog | None = None) -> str:
    """host.json as committed: 2-space indented JSON with a trailing newline."""
    return json.dumps(render(catalog), indent=2) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write (or with ``--check`` verify) host.json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if host.json is out of date")
    parser.add_argument("--output", type=Path, default=HOST_JSON)
    args = parser.parse_args(argv)
    text = render_text()
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        if current != text:
            print(
                f"{args.output} is out of date: run python -m functions.azure.hostjson",
                file=sys.stderr,
            )
            return 1
        return 0
    args.output.write_text(text, encoding="utf-8")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
