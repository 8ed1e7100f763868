"""AWS Lambda entry points (handlers ``functions.aws.entrypoint.handle_queue`` / ``handle_http``
/ ``handle_schedule``).

Importing this module imports nothing but the standard library: the function is composed on
its first invocation and reused for the life of the execution environment. Which consumer,
endpoint or schedule this is comes from ``EVENTSUITE_CONSUMER`` / ``EVENTSUITE_ENDPOINT`` /
``EVENTSUITE_SCHEDULE``.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from functions.aws.functions import HttpFunction, QueueFunction, ScheduleFunction


@cache
def queue_function() -> QueueFunction:
    """The consumer function, built once per process from the environment."""
    from functions.aws.functions import from_env

    function: QueueFunction = from_env("queue")
    return function


@cache
def http_function() -> HttpFunction:
    """The HTTP function, built once per process from the environment."""
    from functions.aws.functions import from_env

    function: HttpFunction = from_env("http")
    return function


@cache
def schedule_function() -> ScheduleFunction:
    """The scheduled job, built once per process from the environment."""
    from functions.aws.functions import from_env

    function: ScheduleFunction = from_env("schedule")
    return function


def handle_queue(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """SQS event source mapping handler; returns ``{"batchItemFailures": [...]}``."""
    return queue_function()(event, context)


def handle_http(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """API Gateway HTTP API / function URL handler (payload format 2.0)."""
    return http_function()(event, context)


def handle_schedule(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """EventBridge Scheduler target: run the catalog schedule once, return its report.

    Failures raise: Lambda retries the asynchronous invocation, then dead-letters it.
    """
    return schedule_function()(event, context)


def reset() -> None:
    """Forget the composed functions (tests that change the environment)."""
    queue_function.cache_clear()
    http_function.cache_clear()
    schedule_function.cache_clear()
