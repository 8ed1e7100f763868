"""The Lambda functions: SQS batches, API Gateway requests and scheduler runs, translated to
and from the one runtime (``functions.common.runtime``)."""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping
from functools import cache
from typing import Any

from functions.aws.bootstrap import build_container
from functions.aws.clients import AwsClients
from functions.aws.config import AwsConfig
from functions.aws.translate import (
    attempt_of,
    batch_response,
    http_request,
    http_response,
    ignored_reason,
    record_decoder,
)
from functions.common import runtime
from shared.dispatch import Delivery
from shared.http import problem
from shared.inject import Container
from shared.observability import configure_logging

MAX_VISIBILITY_SECONDS = 12 * 3600  # SQS's limit
logger = logging.getLogger("eventsuite.aws")


def queue_url(arn: str) -> str:
    """The URL of the queue ``arn:aws:sqs:<region>:<account>:<name>``."""
    _, _, _, region, account, name = arn.split(":", 5)
    return f"https://sqs.{region}.amazonaws.com/{account}/{name}"


class QueueFunction:
    """An SQS-triggered consumer: records -> runtime -> ``batchItemFailures``."""

    def __init__(
        self,
        function: runtime.ConsumerFunction,
        container: Container | None = None,
        clients: AwsClients | None = None,
    ) -> None:
        self.function, self.container, self.clients = function, container, clients
        self.consumer = function.name

    def __call__(self, event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
        """Handle one SQS batch; the response lists only the records to redeliver."""
        records = {str(r.get("messageId")): r for r in event.get("Records") or []}
        deliveries = (self._delivery(record) for record in records.values())
        remaining = getattr(context, "get_remaining_time_in_millis", None)
        time_left = (lambda: float(remaining())) if callable(remaining) else None

        def postpone(delivery: Delivery, seconds: float) -> None:
            self._hold_back(records[delivery.message_id], seconds)

        return batch_response(self.function.run_batch(deliveries, time_left, postpone))

    def _hold_back(self, record: Mapping[str, Any], seconds: float) -> None:
        """Keep a record that waits for another attempt's lease invisible until that lease
        expires, so it does not spend the queue's receives (maxReceiveCount) meanwhile. A
        failure here only leaves the queue's own visibility timeout in force."""
        if self.clients is None:
            return
        try:
            self.clients.sqs.change_message_visibility(
                QueueUrl=queue_url(str(record.get("eventSourceARN", ""))),
                ReceiptHandle=record["receiptHandle"],
                VisibilityTimeout=min(math.ceil(seconds) + 1, MAX_VISIBILITY_SECONDS),
            )
        except Exception as exc:  # the batch's answer matters more than this optimisation
            logger.warning("%s: could not postpone a lease-held record: %s", self.consumer, exc)

    @staticmethod
    def _delivery(record: Mapping[str, Any]) -> Delivery:
        body = str(record.get("body") or "")
        ignored = ignored_reason(body)
        return Delivery(
            message_id=str(record.get("messageId")),
            decode=None if ignored else record_decoder(record),
            attempt=attempt_of(record),
            raw=body.encode(),
            ignored=ignored,
        )


class HttpFunction:
    """An HTTP endpoint behind API Gateway (payload format 2.0) or a function URL."""

    def __init__(
        self, function: runtime.EndpointFunction, container: Container | None = None
    ) -> None:
        self.function, self.container = function, container
        self.endpoint = function.spec.name

    def __call__(self, event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
        """Translate, answer through the runtime's error policy, translate back."""
        try:
            request = http_request(event)
        except ValueError as exc:
            return http_response(problem(400, "invalid request", [str(exc)]))
        request_id = getattr(context, "aws_request_id", None)
        return http_response(self.function(request, request_id=request_id))


class ScheduleFunction:
    """A catalog schedule's job, invoked asynchronously by EventBridge Scheduler.

    Failures raise: Lambda retries the invocation, then parks it in the schedule's
    dead-letter queue, and the function's Errors alarm fires.
    """

    def __init__(
        self, function: runtime.ScheduleFunction, container: Container | None = None
    ) -> None:
        self.function, self.container = function, container
        self.schedule = function.spec.name

    def __call__(
        self, event: Mapping[str, Any] | None = None, context: Any = None
    ) -> dict[str, Any]:
        """Run the job once; returns ``{"schedule", "report"}``."""
        return self.function()


def _role(value: str | None, variable: str) -> str:
    if not value:
        raise RuntimeError(f"{variable} is not set: this function does not know its role")
    return value


def queue_function(config: AwsConfig, clients: AwsClients, **overrides: Any) -> QueueFunction:
    """The consumer function named by ``config.consumer``."""
    name = _role(config.consumer, "EVENTSUITE_CONSUMER")
    container = build_container(config, clients, **overrides)
    return QueueFunction(runtime.Runtime(container).consumer(name), container, clients)


def http_function(config: AwsConfig, clients: AwsClients, **overrides: Any) -> HttpFunction:
    """The HTTP function named by ``config.endpoint``."""
    name = _role(config.endpoint, "EVENTSUITE_ENDPOINT")
    container = build_container(config, clients, **overrides)
    return HttpFunction(runtime.Runtime(container).endpoint(name), container)


def schedule_function(config: AwsConfig, clients: AwsClients, **overrides: Any) -> ScheduleFunction:
    """The scheduled job named by ``config.schedule``."""
    name = _role(config.schedule, "EVENTSUITE_SCHEDULE")
    container = build_container(config, clients, **overrides)
    return ScheduleFunction(runtime.Runtime(container).schedule(name), container)


@cache
def default_clients() -> AwsClients:
    """The process's clients (``AWS_ENDPOINT_URL`` redirects them, e.g. to an emulator)."""
    return AwsClients(
        region=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"),
        endpoint_url=os.environ.get("AWS_ENDPOINT_URL") or None,
    )


def from_env(kind: str, environ: Mapping[str, str] | None = None) -> Any:
    """The ``queue``, ``http`` or ``schedule`` function configured by the environment."""
    configure_logging()
    builders = {"queue": queue_function, "http": http_function, "schedule": schedule_function}
    return builders[kind](AwsConfig.from_env(environ), default_clients())
