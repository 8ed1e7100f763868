"""Composition root for the Lambda functions: environment -> adapters -> the one runtime.

Nothing runs at import time of ``functions.aws.entrypoint``: it composes its function on the
first invocation and caches it for the life of the execution environment. Each adapter is
built on first use over lazy boto3 clients (``AwsClients``), so a function builds only what
its handler's signature asks for; tests inject moto-backed clients, or fakes by port name.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from functions.aws.clients import AwsClients
from functions.aws.config import AwsConfig
from functions.common.composition import base_container, install_overrides, register_publisher
from shared.catalog import Catalog
from shared.inject import Container
from shared.ports import (
    DeadLetterSink,
    EventPublisher,
    IdempotencyStore,
    Mailer,
    MetadataIndex,
    ObjectStore,
    OrderStore,
)

TABLES: dict[type, tuple[str, str]] = {
    MetadataIndex: ("index_table", "DynamoMetadataIndex"),
    IdempotencyStore: ("idempotency_table", "DynamoIdempotencyStore"),
    OrderStore: ("orders_table", "DynamoOrderStore"),
}


def build_container(
    config: AwsConfig, clients: AwsClients, *, catalog: Catalog | None = None, **overrides: Any
) -> Container:
    """Every adapter an AWS function may need, each built on first use."""
    from functions.aws import adapters  # the package only; each adapter loads when built

    settings = config.settings
    if not settings.webhook_secrets and config.webhook_secret_arn:
        # A lazy sequence: Secrets Manager is read only when a signature is verified.
        secrets: Any = adapters.lazy("secrets", "LazySecrets")(clients, config.webhook_secret_arn)
        settings = dataclasses.replace(settings, webhook_secrets=secrets)
    container = base_container(
        settings, catalog=catalog, stripe_api_key=_stripe_api_key(config, clients)
    )
    container.register(ObjectStore, lambda: adapters.lazy("s3", "S3ObjectStore")(clients))
    for kind, (field, adapter) in TABLES.items():
        table = getattr(config, field)
        if table:
            container.register(kind, _built(adapters.lazy("dynamodb", adapter), clients, table))
        else:
            container.refuse(kind, f"EVENTSUITE_{field.upper()} is not set")
    if config.event_bus:
        bus = config.event_bus
        register_publisher(
            container,
            lambda: adapters.lazy("eventbridge", "EventBridgePublisher")(clients, bus),
            max_inline_bytes=adapters.EVENTBRIDGE_MAX_INLINE_BYTES,
        )
    else:
        container.refuse(EventPublisher, "EVENTSUITE_EVENT_BUS is not set")
    if config.dlq_url:
        dlq = config.dlq_url
        container.register(
            DeadLetterSink, lambda: adapters.lazy("sqs", "SqsDeadLetterSink")(clients, dlq)
        )
    else:
        container.refuse(DeadLetterSink, "EVENTSUITE_DLQ_URL is not set")
    if config.mailer == "ses":
        ses = adapters.lazy("ses", "SesMailer")
        container.register(
            Mailer,
            lambda: ses(
                clients, sender=settings.mail_from, configuration_set=config.ses_configuration_set
            ),
        )
    elif config.mailer == "smtp":
        container.register(Mailer, lambda: _smtp_mailer(config, clients))
    else:
        container.refuse(Mailer, "EVENTSUITE_MAILER is none")
    return install_overrides(container, overrides)


def _stripe_api_key(config: AwsConfig, clients: AwsClients) -> Callable[[], str] | None:
    """The Stripe secret key's reader: Secrets Manager, which Terraform lets only the payments
    function read (``EVENTSUITE_STRIPE_API_KEY_SECRET_ARN``); never from state or plain env."""
    secret_arn = config.environ.get("EVENTSUITE_STRIPE_API_KEY_SECRET_ARN")
    if not secret_arn:
        return None

    def read() -> str:
        from functions.aws.errors import transient_errors

        with transient_errors("Secrets Manager GetSecretValue (Stripe API key)"):
            secret = clients.secretsmanager.get_secret_value(SecretId=secret_arn)
        return str(secret.get("SecretString") or "").strip()

    return read


def _smtp_mailer(config: AwsConfig, clients: AwsClients) -> Mailer:
    """The SMTP mailer; its password comes from Secrets Manager, which Terraform lets only the
    mail functions read (``EVENTSUITE_SMTP_PASSWORD_SECRET_ARN``), never from state."""
    from functions.aws.errors import transient_errors
    from functions.common.adapters.smtp import smtp_mailer_from_env

    environ = config.environ
    secret_arn = environ.get("EVENTSUITE_SMTP_PASSWORD_SECRET_ARN")
    if secret_arn and not environ.get("EVENTSUITE_SMTP_PASSWORD"):
        with transient_errors("Secrets Manager GetSecretValue (SMTP password)"):
            secret = clients.secretsmanager.get_secret_value(SecretId=secret_arn)
        environ = {**environ, "EVENTSUITE_SMTP_PASSWORD": secret.get("SecretString") or ""}
    return smtp_mailer_from_env(config.settings.mail_from, environ)


def _built(factory: Callable[..., Any], *arguments: Any) -> Callable[[], Any]:
    return lambda: factory(*arguments)
