"""What a Lambda function learns from its environment (the deployment contract, which
Terraform sets: functions/README.md)."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass

from shared.ports import Settings
from shared.settings import settings_from_env

MAILERS = ("ses", "smtp", "none")


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
