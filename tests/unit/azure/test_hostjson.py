"""host.json is generated from the catalog, and the committed file is up to date."""

from __future__ import annotations

import json
from pathlib import Path

from functions.azure import hostjson
from shared.catalog import default_catalog, load_catalog
from shared.dispatch import lease_seconds

CATALOG = default_catalog()


def test_committed_host_json_matches_the_catalog() -> None:
    assert hostjson.HOST_JSON.read_text(encoding="utf-8") == hostjson.render_text(), (
        "functions/azure/host.json is stale: run python -m functions.azure.hostjson"
    )
    assert hostjson.main(["--check"]) == 0


def test_check_mode_fails_on_a_stale_file(tmp_path: Path) -> None:
    stale = tmp_path / "host.json"
    stale.write_text("{}\n", encoding="utf-8")
    assert hostjson.main(["--check", "--output", str(stale)]) == 1
    assert hostjson.main(["--output", str(stale)]) == 0
    assert hostjson.main(["--check", "--output", str(stale)]) == 0


def test_queue_settings() -> None:
    queues = hostjson.render()["extensions"]["queues"]
    # Event Grid writes plain JSON: base64 decoding would poison every message.
    assert queues["messageEncoding"] == "none"
    assert queues["maxDequeueCount"] == max(
        c.max_delivery_attempts for c in CATALOG.consumers.values()
    )
    assert queues["batchSize"] == min(c.batch_size for c in CATALOG.consumers.values())
    assert queues["newBatchThreshold"] <= queues["batchSize"]
    # A failed message comes back only after every consumer's lease has expired, so a retry
    # that waits for a crashed attempt's lease does not burn dequeues.
    hours, minutes, seconds = (int(part) for part in queues["visibilityTimeout"].split(":"))
    backoff = hours * 3600 + minutes * 60 + seconds
    assert backoff >= max(lease_seconds(c) for c in CATALOG.consumers.values())


def test_timeout_covers_the_slowest_function() -> None:
    slowest = max(
        [c.timeout_seconds for c in CATALOG.consumers.values()]
        + [e.timeout_seconds for e in CATALOG.endpoints.values()]
        + [s.timeout_seconds for s in CATALOG.schedules.values()]
    )
    hours, minutes, seconds = (int(p) for p in hostjson.render()["functionTimeout"].split(":"))
    assert hours * 3600 + minutes * 60 + seconds == slowest


def test_a_new_consumer_with_more_attempts_raises_the_host_limit(tmp_path: Path) -> None:
    raw = json.loads(
        (
            Path(CATALOG.events["OrderPlaced"].current.schema_path).parents[1] / "catalog.json"
        ).read_text(encoding="utf-8")
    )
    raw["consumers"]["auditor"] = {
        "handler": "shared.handlers.notifications:notify_customer",
        "group": "orders",
        "subscribes": ["OrderPlaced"],
        "max_delivery_attempts": 12,
        "timeout_seconds": 120,
        "memory_mb": 256,
        "batch_size": 2,
    }
    source = Path(CATALOG.events["OrderPlaced"].current.schema_path).parent
    (tmp_path / "schemas").symlink_to(source)
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(raw), encoding="utf-8")
    rendered = hostjson.render(load_catalog(path))
    assert rendered["extensions"]["queues"]["maxDequeueCount"] == 12
    assert rendered["extensions"]["queues"]["batchSize"] == 2
    assert rendered["functionTimeout"] == "00:02:00"


def test_a_slow_schedule_raises_the_function_timeout(tmp_path: Path) -> None:
    # The timer functions run in the same app, under the same host-wide functionTimeout.
    base = Path(CATALOG.events["OrderPlaced"].current.schema_path).parents[1]
    raw = json.loads((base / "catalog.json").read_text(encoding="utf-8"))
    raw["schedules"]["order_reconciler"]["timeout_seconds"] = 300
    (tmp_path / "schemas").symlink_to(base / "schemas")
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(raw), encoding="utf-8")
    assert hostjson.render(load_catalog(path))["functionTimeout"] == "00:05:00"


def test_routes_are_the_catalog_paths() -> None:
    # routePrefix "" makes https://<app>/orders the URL of POST /orders, as on the other clouds.
    assert hostjson.render()["extensions"]["http"]["routePrefix"] == ""
