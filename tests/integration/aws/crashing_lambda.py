"""A Lambda invocation that dies mid-handler (test code: production has no hooks).

``python -m tests.integration.aws.crashing_lambda CONFIG_JSON < sqs_event.json`` builds the
consumer's ``QueueFunction`` from the environment Terraform would set, against moto, and
SIGKILLs its own process right after the order store's status transition returned: the charge
and the transition are durable, the announcement and the completion mark never happen (as when
Lambda kills a timed-out or out-of-memory invocation).
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import sys

from functions.aws.adapters.dynamodb import DynamoOrderStore
from functions.aws.clients import AwsClients
from functions.aws.config import AwsConfig
from functions.aws.functions import queue_function
from tests.integration.aws.harness import FakeLambdaContext


def _die_after_transition() -> None:
    original = DynamoOrderStore.transition

    def transition(self: DynamoOrderStore, *args: object, **kwargs: object) -> bool:
        changed = original(self, *args, **kwargs)  # type: ignore[arg-type]
        if changed:
            os.kill(os.getpid(), signal.SIGKILL)
        return changed

    DynamoOrderStore.transition = transition  # type: ignore[method-assign]


def main(argv: list[str]) -> int:
    """Invoke once with the event on stdin; the process is expected to die inside."""
    config = json.loads(argv[0])
    aws = AwsConfig.from_env(config["environment"])
    settings = dataclasses.replace(aws.settings, idempotency_lease_seconds=config["lease"])
    clients = AwsClients(region=config["region"], endpoint_url=config["endpoint_url"])
    function = queue_function(aws, clients, settings=settings)
    _die_after_transition()
    function(json.load(sys.stdin), FakeLambdaContext(config["environment"]["EVENTSUITE_CONSUMER"]))
    return 3  # not reached when the kill point was reached


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
