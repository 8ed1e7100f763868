"""What every backend's composition root shares: configuration, payments, overrides.

A backend's bootstrap starts from :func:`base_container` (catalog, settings, clock, the image and
webhook settings, the payment gateway) and registers its own adapters by port type.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from typing import Any

from shared.catalog import Catalog, default_catalog
from shared.envelope import ClaimCheckPublisher
from shared.inject import Container
from shared.ports import (
    PORT_FIELDS,
    Clock,
    EventPublisher,
    Mailer,
    ObjectStore,
    PaymentGateway,
    Settings,
    SystemClock,
    config_factories,
)

logger = logging.getLogger("eventsuite.runtime")
PAYMENT_PROVIDERS = ("simulated", "stripe")
# Where the Stripe SDK may send the API key (the adapter's SAFE_API_BASE, kept here so that the
# composition refuses at startup without importing the adapter).
_SAFE_API_BASE = re.compile(r"(https://[^\s]+|http://(127\.0\.0\.1|localhost)(:[0-9]{1,5})?/?)")
# Test and local overrides by the names the ports have in ``shared.ports.Ports``.
OVERRIDE_TYPES: dict[str, type] = {
    **{name: kind for kind, name in PORT_FIELDS.items()},
    "clock": Clock,
    "settings": Settings,
    "catalog": Catalog,
}


def base_container(
    settings: Settings,
    *,
    catalog: Catalog | None = None,
    clock: Clock | None = None,
    warn_simulated: bool = True,
    stripe_api_key: Callable[[], str] | None = None,
) -> Container:
    """A container with the configuration every function may ask for, and the gateway that
    ``settings.payment_provider`` names.

    ``stripe_api_key`` reads the Stripe secret key from the cloud's secret store (called once,
    when the payments function first charges); without it ``stripe`` is refused at startup.
    """
    payment_provider = settings.payment_provider
    container = Container(
        config_factories(catalog or default_catalog(), settings, clock or SystemClock())
    )
    if payment_provider == "simulated":

        def simulated() -> PaymentGateway:
            from functions.common.adapters.simulated_payments import SimulatedPaymentGateway

            if warn_simulated:  # built once per process: at every cold start that charges
                logger.warning(
                    "payments are SIMULATED (EVENTSUITE_PAYMENT_PROVIDER=simulated): no money moves"
                )
            return SimulatedPaymentGateway()

        container.register(PaymentGateway, simulated)
    elif payment_provider == "stripe":
        api_base = settings.stripe_api_base
        if stripe_api_key is None:
            container.refuse(
                PaymentGateway,
                "EVENTSUITE_PAYMENT_PROVIDER=stripe but no Stripe API key secret is configured",
            )
        elif api_base and not _SAFE_API_BASE.fullmatch(api_base):
            container.refuse(
                PaymentGateway,
                "EVENTSUITE_STRIPE_API_BASE must be https (or http on 127.0.0.1 for tests)",
            )
        else:
            key = stripe_api_key

            def stripe_gateway() -> PaymentGateway:
                from functions.common.adapters.stripe_payments import StripePaymentGateway

                return StripePaymentGateway(key, api_base=api_base)

            container.register(PaymentGateway, stripe_gateway)
    else:
        container.refuse(
            PaymentGateway,
            f"EVENTSUITE_PAYMENT_PROVIDER={payment_provider!r} is not one of {PAYMENT_PROVIDERS}",
        )
    return container


def stripe_api_key(environ: Mapping[str, str]) -> Callable[[], str] | None:
    """The Stripe key as Google Cloud and Azure hand it over: ``EVENTSUITE_STRIPE_API_KEY``
    resolved by the platform from the secret store (a Secret Manager secret environment
    variable, a Key Vault reference app setting), the way the webhook secret arrives; Terraform
    names the secret, and the value is never in its configuration or state."""
    if not environ.get("EVENTSUITE_STRIPE_API_KEY"):
        return None
    return lambda: environ.get("EVENTSUITE_STRIPE_API_KEY", "").strip()


def register_publisher(
    container: Container,
    build_inner: Callable[[], EventPublisher],
    *,
    max_inline_bytes: int | None = None,
) -> None:
    """Register the claim-checking publisher around the platform's ``build_inner()``.

    Event data above the catalog's claim-check threshold, or above what the platform's bus
    carries inline (``max_inline_bytes``), goes to the claims bucket instead.
    """

    def build() -> EventPublisher:
        catalog = container.get(Catalog)
        threshold = catalog.claim_check_threshold_bytes
        return ClaimCheckPublisher(
            build_inner(),
            lambda: container.get(ObjectStore),
            bucket=container.get(Settings).claims_bucket,
            threshold_bytes=min(threshold, max_inline_bytes or threshold),
            prefix=catalog.storage["claims_prefix"],
        )

    container.register(EventPublisher, build)


def register_smtp_mailer(container: Container, environ: Mapping[str, str]) -> None:
    """The SMTP mailer (the only mailer on Google Cloud and Azure), when a relay is set."""
    kind = environ.get("EVENTSUITE_MAILER", "smtp").lower()
    if kind != "smtp":
        container.refuse(Mailer, f"EVENTSUITE_MAILER={kind!r} is not available here (smtp)")
    elif environ.get("EVENTSUITE_SMTP_HOST"):
        sender = container.get(Settings).mail_from

        def smtp() -> Mailer:
            from functions.common.adapters.smtp import smtp_mailer_from_env

            return smtp_mailer_from_env(sender, environ)

        container.register(Mailer, smtp)
    else:
        container.refuse(Mailer, "EVENTSUITE_SMTP_HOST is not set")


def install_overrides(container: Container, overrides: Mapping[str, Any]) -> Container:
    """Replace ports or configuration by name (tests hand in fakes and clocks this way)."""
    for name, value in overrides.items():
        kind = OVERRIDE_TYPES.get(name)
        if kind is None:
            raise TypeError(f"no port or setting named {name!r}")
        if value is None:
            container.refuse(kind, f"{name} was overridden with None")
        else:
            container.install(kind, value)
    if "catalog" in overrides or "settings" in overrides or "clock" in overrides:
        catalog, settings, clock = (
            container.get(Catalog),
            container.get(Settings),
            container.get(Clock),
        )
        for kind, factory in config_factories(catalog, settings, clock).items():
            if kind not in (Catalog, Settings, Clock):
                container.register(kind, factory)
    return container
