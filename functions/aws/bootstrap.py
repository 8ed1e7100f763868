"""Composition root for the Lambda functions: configuration -> adapters -> ports -> function.

Nothing here runs at import time of ``functions.aws.entrypoint``: the entry point calls
``queue_function_from_env`` / ``http_function_from_env`` / ``schedule_function_from_env`` on
its first invocation and caches the result for the life of the execution environment. Every
builder takes an ``AwsClients`` (lazy boto3 clients), so tests inject moto-backed clients and
nothing else changes.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from functions.aws.clients import AwsClients
from shared.catalog import Catalog, default_catalog
from shared.dispatch import Dispatcher, Handler
from shared.errors import TransientError
from shared.ports import Clock, PaymentGateway, Ports, Settings, SystemClock
from shared.settings import settings_from_env, smtp_mailer_from_env

logger = logging.getLogger("eventsuite.aws")
MAILERS = ("ses", "smtp", "none")
# Stop starting new records when less time is left than the slowest record of this invocation
# took, and never with less than this: the rest are reported as failures and redelivered,
# instead of the whole batch timing out (which would redeliver the finished records too).
DEADLINE_MARGIN_MS = 3000


@dataclass(frozen=True)
class AwsConfig:
    """What a function learns from its environment (deployment contract: functions/README.md)."""

    settings: Settings
    consumer: str | None = None
    endpoint: str | None = None
    schedule: str | None = None
    region: str | None = None
    event_bus: str | None = None
    index_table: str | None = None
    idempotency_table: str | None = None
    orders_table: str | None = None
    dlq_url: str | None = None
    mailer: str = "ses"
    ses_configuration_set: str | None = None
    webhook_secret_arn: str | None = None
    environ: Mapping[str, str] = dataclasses.field(default_factory=dict, repr=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> AwsConfig:
        """Read ``EVENTSUITE_*`` (and ``AWS_REGION``) variables; unset ones stay ``None``."""
        env = dict(os.environ if environ is None else environ)

        def value(name: str) -> str | None:
            text = env.get(name, "").strip()
            return text or None

        mailer = (value("EVENTSUITE_MAILER") or "ses").lower()
        if mailer not in MAILERS:
            raise ValueError(
                f"EVENTSUITE_MAILER must be one of {', '.join(MAILERS)}, got {mailer!r}"
            )
        return cls(
            settings=settings_from_env(env),
            consumer=value("EVENTSUITE_CONSUMER"),
            endpoint=value("EVENTSUITE_ENDPOINT"),
            schedule=value("EVENTSUITE_SCHEDULE"),
            region=value("AWS_REGION") or value("AWS_DEFAULT_REGION"),
            event_bus=value("EVENTSUITE_EVENT_BUS"),
            index_table=value("EVENTSUITE_INDEX_TABLE"),
            idempotency_table=value("EVENTSUITE_IDEMPOTENCY_TABLE"),
            orders_table=value("EVENTSUITE_ORDERS_TABLE"),
            dlq_url=value("EVENTSUITE_DLQ_URL"),
            mailer=mailer,
            ses_configuration_set=value("EVENTSUITE_SES_CONFIGURATION_SET"),
            webhook_secret_arn=value("EVENTSUITE_WEBHOOK_SECRET_ARN"),
            environ=env,
        )


def _settings(config: AwsConfig, clients: AwsClients) -> Settings:
    settings = config.settings
    if not settings.webhook_secrets and config.webhook_secret_arn:
        from functions.aws.adapters.secrets import LazySecrets

        # A lazy Sequence in place of the tuple: fetched only when a signature is verified,
        # so functions whose role may not read the secret never try.
        secrets: Any = LazySecrets(clients, config.webhook_secret_arn)
        settings = dataclasses.replace(settings, webhook_secrets=secrets)
    return settings


def build_ports(
    config: AwsConfig,
    clients: AwsClients,
    *,
    catalog: Catalog | None = None,
    clock: Clock | None = None,
    payments: PaymentGateway | None = None,
    claim_check_threshold_bytes: int | None = None,
) -> Ports:
    """Every port this function may need, over lazily created clients (unused ones cost nothing)."""
    from functions.aws.adapters.dynamodb import (
        DynamoIdempotencyStore,
        DynamoMetadataIndex,
        DynamoOrderStore,
    )
    from functions.aws.adapters.eventbridge import (
        ENVELOPE_HEADROOM_BYTES,
        MAX_REQUEST_BYTES,
        EventBridgePublisher,
    )
    from functions.aws.adapters.s3 import S3ObjectStore
    from functions.aws.adapters.sqs import SqsDeadLetterSink
    from shared.envelope import ClaimCheckPublisher
    from shared.orders import SimulatedPaymentGateway

    catalog = catalog or default_catalog()
    settings = _settings(config, clients)
    objects = S3ObjectStore(clients)
    publisher = None
    if config.event_bus:
        threshold = claim_check_threshold_bytes or min(
            catalog.claim_check_threshold_bytes, MAX_REQUEST_BYTES - ENVELOPE_HEADROOM_BYTES
        )
        publisher = ClaimCheckPublisher(
            EventBridgePublisher(clients, config.event_bus),
            objects,
            bucket=settings.claims_bucket,
            threshold_bytes=threshold,
            prefix=catalog.storage.get("claims_prefix", "claims/"),
        )
    dead_letters = None
    if config.dlq_url:
        dead_letters = SqsDeadLetterSink(clients, config.dlq_url)
    elif config.consumer:
        logger.warning(
            "EVENTSUITE_DLQ_URL is not set: permanent failures of %s are retried until the "
            "queue's redrive policy parks them (without a reason attribute)",
            config.consumer,
        )
    return Ports(
        settings=settings,
        objects=objects,
        index=DynamoMetadataIndex(clients, config.index_table) if config.index_table else None,
        idempotency=(
            DynamoIdempotencyStore(clients, config.idempotency_table)
            if config.idempotency_table
            else None
        ),
        orders=DynamoOrderStore(clients, config.orders_table) if config.orders_table else None,
        publisher=publisher,
        # The real payment provider is out of scope: the deterministic simulation stands in.
        payments=payments or SimulatedPaymentGateway(),
        mailer=_mailer(config, clients, settings),
        dead_letters=dead_letters,
        clock=clock or SystemClock(),
    )


def _mailer(config: AwsConfig, clients: AwsClients, settings: Settings) -> Any:
    if config.mailer == "ses":
        from functions.aws.adapters.ses import SesMailer

        return SesMailer(
            clients, sender=settings.mail_from, configuration_set=config.ses_configuration_set
        )
    if config.mailer == "smtp":
        environ = config.environ
        secret_arn = environ.get("EVENTSUITE_SMTP_PASSWORD_SECRET_ARN")
        if secret_arn and not environ.get("EVENTSUITE_SMTP_PASSWORD"):
            # Terraform gives the ARN, and the right to read it, to the mail functions only.
            from functions.aws.errors import transient_errors

            with transient_errors("Secrets Manager GetSecretValue (SMTP password)"):
                secret = clients.secretsmanager.get_secret_value(SecretId=secret_arn)
            environ = {**environ, "EVENTSUITE_SMTP_PASSWORD": secret.get("SecretString") or ""}
        try:
            return smtp_mailer_from_env(settings.mail_from, environ)
        except RuntimeError as exc:  # only the notifier needs it; it fails loudly on use
            logger.warning("no mailer: %s", exc)
    return None


class QueueFunction:
    """An SQS-triggered consumer: records -> CloudEvents -> dispatcher -> batchItemFailures."""

    def __init__(self, dispatcher: Dispatcher) -> None:
        self.dispatcher = dispatcher

    @property
    def consumer(self) -> str:
        """The catalog consumer this function serves."""
        return self.dispatcher.spec.name

    def __call__(self, event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
        """Handle one SQS batch; the response lists only the records to redeliver."""
        from functions.aws.translate import attempt_of, batch_response, record_decoder

        failed: list[str] = []
        slowest_ms = 0.0  # the longest a record of this batch has taken so far
        for record in event.get("Records") or []:
            message_id = str(record.get("messageId"))
            left_ms = _time_left_ms(context)
            if left_ms < max(DEADLINE_MARGIN_MS, slowest_ms):
                # Not started, because it would likely not finish: reported as a failure so
                # SQS redelivers it. That still costs an attempt: SQS counted this receive
                # (ApproximateReceiveCount), so a record skipped again and again reaches the
                # queue's maxReceiveCount and the DLQ without ever having run. Skipping only
                # when the next record probably would not finish keeps that rare.
                failed.append(message_id)
                continue
            result = self.dispatcher.deliver(
                record_decoder(record),
                attempt=attempt_of(record),
                raw=str(record.get("body") or "").encode(),
            )
            if math.isfinite(left_ms):
                slowest_ms = max(slowest_ms, left_ms - _time_left_ms(context))
            if not result.acknowledged:
                failed.append(message_id)
        return batch_response(failed)


def _time_left_ms(context: Any) -> float:
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    return float(remaining()) if callable(remaining) else float("inf")


class HttpFunction:
    """An HTTP producer behind API Gateway (payload format 2.0) or a function URL."""

    def __init__(self, endpoint: str, ports: Ports) -> None:
        default_catalog().endpoint(endpoint)  # fail at bootstrap on an unknown name
        self.endpoint = endpoint
        self.ports = ports

    def __call__(self, event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
        """Translate, run the catalog endpoint, translate back; never leak a stack trace."""
        from functions.aws.translate import http_request, http_response
        from shared.http import HttpResponse, handle_endpoint

        try:
            request = http_request(event)
        except ValueError as exc:
            return http_response(
                HttpResponse(400, {"error": "invalid request", "problems": [str(exc)]})
            )
        try:
            response = handle_endpoint(self.endpoint, request, self.ports)
        except TransientError as exc:
            logger.warning("%s: dependency unavailable: %s", self.endpoint, exc.reason)
            response = HttpResponse(503, {"error": "temporarily unavailable"}, {"Retry-After": "2"})
        except Exception:
            logger.exception("%s: unexpected error", self.endpoint)
            request_id = getattr(context, "aws_request_id", None)
            response = HttpResponse(500, {"error": "internal error", "request_id": request_id})
        return http_response(response)


class ScheduleFunction:
    """A catalog schedule's job, invoked (asynchronously) by EventBridge Scheduler.

    Returns the job's report as a dict and logs it. Exceptions propagate: the invocation fails,
    Lambda retries it (asynchronous invocation), then parks it in the schedule's dead-letter
    queue, and the function's Errors alarm fires; the next run repeats the job anyway.
    """

    def __init__(self, schedule: str, ports: Ports) -> None:
        default_catalog().schedule(schedule)  # fail at bootstrap on an unknown name
        self.schedule = schedule
        self.ports = ports

    def __call__(
        self, event: Mapping[str, Any] | None = None, context: Any = None
    ) -> dict[str, Any]:
        """Run the job once; ``event`` (the schedule's input) is only logged."""
        from shared.schedules import run_schedule

        report = report_dict(run_schedule(self.schedule, self.ports))
        logger.info(
            "%s (scheduled %s, execution %s): %s",
            self.schedule,
            (event or {}).get("scheduled_time", "-"),
            (event or {}).get("execution_id", "-"),
            json.dumps(report, sort_keys=True, default=str),
        )
        return report


def report_dict(report: Any) -> dict[str, Any]:
    """A job's report as a JSON-ready dict (dataclass fields; tuples become lists)."""
    if report is None:
        return {}
    if dataclasses.is_dataclass(report) and not isinstance(report, type):
        fields = {f.name: getattr(report, f.name) for f in dataclasses.fields(report)}
    elif isinstance(report, Mapping):
        fields = dict(report)
    else:
        fields = {"result": report}
    return {k: list(v) if isinstance(v, tuple) else v for k, v in fields.items()}


def queue_function(
    config: AwsConfig,
    clients: AwsClients,
    *,
    catalog: Catalog | None = None,
    handler: Handler | None = None,
    **port_overrides: Any,
) -> QueueFunction:
    """The consumer function named by ``config.consumer`` (handler resolved from the catalog)."""
    if not config.consumer:
        raise RuntimeError(
            "EVENTSUITE_CONSUMER is not set: this function does not know its consumer"
        )
    catalog = catalog or default_catalog()
    ports = build_ports(config, clients, catalog=catalog, **port_overrides)
    return QueueFunction(Dispatcher(config.consumer, ports, catalog=catalog, handler=handler))


def http_function(config: AwsConfig, clients: AwsClients, **port_overrides: Any) -> HttpFunction:
    """The HTTP function named by ``config.endpoint``."""
    if not config.endpoint:
        raise RuntimeError(
            "EVENTSUITE_ENDPOINT is not set: this function does not know its endpoint"
        )
    return HttpFunction(config.endpoint, build_ports(config, clients, **port_overrides))


def schedule_function(
    config: AwsConfig, clients: AwsClients, **port_overrides: Any
) -> ScheduleFunction:
    """The scheduled job named by ``config.schedule`` (``EVENTSUITE_SCHEDULE``)."""
    if not config.schedule:
        raise RuntimeError(
            "EVENTSUITE_SCHEDULE is not set: this function does not know its schedule"
        )
    return ScheduleFunction(config.schedule, build_ports(config, clients, **port_overrides))


@cache
def default_clients() -> AwsClients:
    """The process's clients (``AWS_ENDPOINT_URL`` redirects them, e.g. to an emulator)."""
    return AwsClients(
        region=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"),
        endpoint_url=os.environ.get("AWS_ENDPOINT_URL") or None,
    )


def configure_logging(environ: Mapping[str, str] | None = None) -> None:
    """Let the suite's INFO logs through (Lambda's root logger defaults to WARNING)."""
    env = os.environ if environ is None else environ
    level = env.get("EVENTSUITE_LOG_LEVEL", "INFO").upper()
    logging.getLogger("eventsuite").setLevel(getattr(logging, level, logging.INFO))


def queue_function_from_env(
    environ: Mapping[str, str] | None = None, clients: AwsClients | None = None
) -> QueueFunction:
    """The consumer function configured by the environment."""
    configure_logging(environ)
    return queue_function(AwsConfig.from_env(environ), clients or default_clients())


def http_function_from_env(
    environ: Mapping[str, str] | None = None, clients: AwsClients | None = None
) -> HttpFunction:
    """The HTTP function configured by the environment."""
    configure_logging(environ)
    return http_function(AwsConfig.from_env(environ), clients or default_clients())


def schedule_function_from_env(
    environ: Mapping[str, str] | None = None, clients: AwsClients | None = None
) -> ScheduleFunction:
    """The scheduled job configured by the environment."""
    configure_logging(environ)
    return schedule_function(AwsConfig.from_env(environ), clients or default_clients())
