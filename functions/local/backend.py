"""Composition root of the embedded local backend (no cloud, no network).

Layout under ``home``: ``objects/<bucket>/...`` (filesystem object store), ``state.db``
(index, idempotency, orders, simulated charges), ``broker.db`` (deliveries and dead letters),
``outbox/*.eml`` (mail). Writing under the uploads prefix of the uploads bucket publishes
``ImageUploaded``, as the clouds' storage notifications do.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from functions.common.adapters.smtp import smtp_mailer_from_env
from functions.common.runtime import ConsumerFunction, Runtime
from functions.local.broker import LocalBroker, Message, RunStats, Verdict
from functions.local.objects import FilesystemObjectStore
from functions.local.outbox import OutboxMailer
from functions.local.sqlite import (
    Database,
    SqliteIdempotencyStore,
    SqliteMetadataIndex,
    SqliteOrderStore,
    SqlitePaymentGateway,
)
from shared.catalog import Catalog, default_catalog
from shared.dispatch import Delivery, DeliveryResult, Outcome
from shared.envelope import ClaimCheckPublisher, utc_now_iso
from shared.errors import PermanentError
from shared.http import HttpRequest, HttpResponse
from shared.ports import Clock, Mailer, PaymentGateway, Ports, Settings, SystemClock
from shared.storage_events import image_uploaded, is_upload, marker_reason

DEFAULT_HOME = Path(".eventsuite")
# How a consumer under ``make serve`` tells the broker's delivery log what it made of an
# acknowledged delivery (``duplicate``, ``dead-lettered``) and why (percent-encoded).
OUTCOME_HEADER = "X-Eventsuite-Outcome"
REASON_HEADER = "X-Eventsuite-Reason"
logger = logging.getLogger("eventsuite.local")
LOCAL_SOURCE = "urn:eventsuite:local:storage"
DEMO_WEBHOOK_SECRET = "whsec_local_demo_only"  # noqa: S105 - a local, documented demo secret


def local_payment_gateway(database: Database) -> PaymentGateway:
    """The simulated gateway (durable in SQLite), or, for development against Stripe's test
    mode, Stripe when ``EVENTSUITE_PAYMENT_PROVIDER=stripe``: its key from the file named by
    ``EVENTSUITE_STRIPE_API_KEY_FILE`` (or ``EVENTSUITE_STRIPE_API_KEY``), never a cloud's
    secret store; ``EVENTSUITE_STRIPE_API_BASE`` points it at a stand-in."""
    if os.environ.get("EVENTSUITE_PAYMENT_PROVIDER", "simulated").strip().lower() != "stripe":
        return SqlitePaymentGateway(database)
    from functions.common.adapters.stripe_payments import StripePaymentGateway

    key_file = os.environ.get("EVENTSUITE_STRIPE_API_KEY_FILE")

    def api_key() -> str:
        if key_file:
            return Path(key_file).read_text(encoding="utf-8").strip()
        return os.environ.get("EVENTSUITE_STRIPE_API_KEY", "").strip()

    return StripePaymentGateway(api_key, api_base=os.environ.get("EVENTSUITE_STRIPE_API_BASE"))


def default_mailer(home: Path, sender: str) -> Mailer:
    """SMTP when ``EVENTSUITE_MAILER=smtp`` (any relay), else the ``.eml`` outbox folder."""
    if os.environ.get("EVENTSUITE_MAILER", "outbox") == "smtp":
        return smtp_mailer_from_env(sender)
    return OutboxMailer(home / "outbox", sender=sender)


@dataclass
class LocalBackend:
    """Every port wired to local storage, plus the broker that drives the consumers."""

    home: Path
    settings: Settings
    broker: LocalBroker
    database: Database
    objects: FilesystemObjectStore
    ports: Ports
    catalog: Catalog
    runtime: Runtime

    @classmethod
    def open(
        cls,
        home: Path = DEFAULT_HOME,
        *,
        mailer: Mailer | None = None,
        clock: Clock | None = None,
        base_backoff: float = 0.5,
        catalog: Catalog | None = None,
        settings: Settings | None = None,
        claim_check_threshold: int | None = None,
    ) -> LocalBackend:
        """Open (creating if needed) a backend rooted at ``home``."""
        catalog = catalog or default_catalog()
        secrets = tuple(
            s
            for s in os.environ.get("EVENTSUITE_WEBHOOK_SECRET", DEMO_WEBHOOK_SECRET).split(",")
            if s
        )
        settings = settings or Settings(webhook_secrets=secrets)
        broker = LocalBroker(home / "broker.db", catalog=catalog, base_backoff=base_backoff)
        database = Database(home / "state.db")
        objects = FilesystemObjectStore(home / "objects")

        def on_created(
            bucket: str, key: str, size: int, content_type: str | None, etag: str
        ) -> None:
            if bucket != settings.uploads_bucket or not is_upload(key):
                return
            ignored = marker_reason(key, size)
            if ignored:  # acknowledged and logged like the clouds' folder markers
                logger.info("upload notification ignored: %s", ignored, extra={"key": key})
            else:
                broker.publish(
                    [
                        image_uploaded(
                            bucket=bucket,
                            key=key,
                            size=size,
                            content_type=content_type,
                            etag=etag,
                            uploaded_at=utc_now_iso(),
                            source=LOCAL_SOURCE,
                        )
                    ]
                )

        objects.on_created = on_created
        ports = Ports(
            settings=settings,
            objects=objects,
            index=SqliteMetadataIndex(database),
            idempotency=SqliteIdempotencyStore(database),
            orders=SqliteOrderStore(database),
            publisher=ClaimCheckPublisher(
                broker,
                lambda: objects,
                bucket=settings.claims_bucket,
                threshold_bytes=claim_check_threshold or catalog.claim_check_threshold_bytes,
                prefix=catalog.storage["claims_prefix"],
            ),
            payments=local_payment_gateway(database),
            mailer=mailer or default_mailer(home, settings.mail_from),
            dead_letters=broker,
            clock=clock or SystemClock(),
            catalog=catalog,
        )
        return cls(home, settings, broker, database, objects, ports, catalog, Runtime(ports))

    def consumer(self, name: str) -> ConsumerFunction:
        """The consumer function ``name``, built once."""
        return self.runtime.consumer(name)

    def deliver_in_process(self, message: Message) -> Verdict:
        """Deliver a broker message by calling the consumer's function directly."""
        result = self.consumer(message.consumer).deliver(broker_delivery(message))
        if result is None:
            return Verdict(True)
        return Verdict(
            result.acknowledged, result.reason, result.retry_after, verdict_outcome(result)
        )

    def run(self, *, max_seconds: float = 60.0) -> RunStats:
        """Drive every pending delivery through its consumer until the broker is idle."""
        return self.broker.run_until_idle(self.deliver_in_process, max_seconds=max_seconds)

    def run_schedules(self) -> dict[str, Any]:
        """Run every catalog schedule once (the clouds run them on timers)."""
        return {name: self.runtime.schedule(name)()["report"] for name in self.catalog.schedules}

    def upload(self, name: str, data: bytes, *, content_type: str | None = None) -> str:
        """Store a file under the uploads prefix (publishes ``ImageUploaded``); return its key."""
        if "/" in name:
            raise PermanentError("upload names are file names, not paths")
        key = f"{self.catalog.storage['uploads_prefix']}{name}"
        self.objects.put(self.settings.uploads_bucket, key, data, content_type=content_type)
        return key

    def http(
        self, endpoint: str, body: bytes, headers: dict[str, str] | None = None
    ) -> HttpResponse:
        """Call a catalog HTTP endpoint in process."""
        spec = self.catalog.endpoint(endpoint)
        return self.runtime.endpoint(endpoint)(
            HttpRequest(spec.method, spec.path, headers or {}, body)
        )

    def close(self) -> None:
        """Release the database connections."""
        self.broker.close()
        self.database.close()


def verdict_outcome(result: DeliveryResult) -> str | None:
    """How the delivery log names an acknowledged result that is not plain success."""
    return {Outcome.DUPLICATE: "duplicate", Outcome.DEAD_LETTERED: "dead-lettered"}.get(
        result.outcome
    )


def broker_delivery(message: Message, *, attempt: int | None = None) -> Delivery:
    """A local broker message (a structured CloudEvent) as the runtime's delivery."""
    from shared.envelope import from_structured

    return Delivery(
        message_id=str(message.id),
        decode=lambda: from_structured(message.body),
        attempt=attempt or message.attempt,
        raw=message.body,
    )
