"""Cold start hygiene: the entry module imports nothing heavy; order functions never load Pillow."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

BLOCK_PILLOW = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "PIL" or name.startswith("PIL."):
            raise ImportError("PIL must not be imported by the orders group")
        return None
sys.meta_path.insert(0, Block())
"""


def run(code: str, env: dict[str, str] | None = None) -> str:
    import os

    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={
            **os.environ,
            "AWS_ACCESS_KEY_ID": "x",
            "AWS_SECRET_ACCESS_KEY": "x",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": "/dev/null",
            "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
            "AWS_EC2_METADATA_DISABLED": "true",
            # a closed loopback port: nothing may reach a real endpoint
            "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
            **(env or {}),
        },
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_importing_the_entry_point_loads_only_the_standard_library() -> None:
    out = run(
        "import sys, json; import functions.aws.entrypoint; "
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'boto3','botocore','cloudevents','jsonschema','fastjsonschema','PIL','shared'})))"
    )
    assert json.loads(out) == []


def test_order_functions_run_without_pillow() -> None:
    """The orders API, the order consumers and the order reconciler (schedule)."""
    code = (
        BLOCK_PILLOW
        + """
import json
from functions.aws import entrypoint
bad = entrypoint.handle_http({"requestContext": {"http": {"method": "POST"}}, "rawPath": "/orders",
                              "body": "{}"}, None)
entrypoint.reset()
import os
os.environ["EVENTSUITE_CONSUMER"] = "payments"
# an unreadable record is permanent; its DLQ is a closed port here, so it is reported for redelivery
poison = {"messageId": "m1", "body": "nope", "attributes": {"ApproximateReceiveCount": "1"}}
batch = entrypoint.handle_queue({"Records": [poison]}, None)
os.environ["EVENTSUITE_CONSUMER"] = "notifier"
entrypoint.reset()
entrypoint.queue_function()
os.environ["EVENTSUITE_SCHEDULE"] = "order_reconciler"
assert entrypoint.schedule_function().schedule == "order_reconciler"
print(json.dumps([bad["statusCode"], batch, "PIL" in sys.modules]))
"""
    )
    out = run(
        "import sys\n" + code,
        env={
            "EVENTSUITE_ENDPOINT": "orders_api",
            "EVENTSUITE_MAILER": "ses",
            "EVENTSUITE_ORDERS_TABLE": "orders",
            "EVENTSUITE_IDEMPOTENCY_TABLE": "idempotency",
            "EVENTSUITE_EVENT_BUS": "events",
            "EVENTSUITE_DLQ_URL": "http://127.0.0.1:9/queue/dlq",
        },
    )
    status, batch, pil_loaded = json.loads(out.strip().splitlines()[-1])
    assert status == 400
    assert batch == {"batchItemFailures": [{"itemIdentifier": "m1"}]}
    assert pil_loaded is False


def test_image_functions_do_load_pillow_when_composed() -> None:
    out = run(
        "import sys\nfrom functions.aws import entrypoint\nentrypoint.queue_function()\n"
        "print('PIL' in sys.modules)",
        env={
            "EVENTSUITE_CONSUMER": "thumbnailer",
            "EVENTSUITE_MAILER": "none",
            "EVENTSUITE_DLQ_URL": "http://127.0.0.1:9/queue/thumbnailer-dlq",
        },
    )
    assert out.strip().splitlines()[-1] == "True"
