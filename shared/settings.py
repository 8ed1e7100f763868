"""Deployment settings from ``EVENTSUITE_*`` environment variables (see functions/README.md)."""

from __future__ import annotations

import os
from collections.abc import Mapping

from shared.ports import Settings


def settings_from_env(environ: Mapping[str, str] | None = None) -> Settings:
    """Settings for this process; unset variables keep their defaults."""
    env = os.environ if environ is None else environ
    defaults = Settings()
    secrets = tuple(
        s.strip() for s in env.get("EVENTSUITE_WEBHOOK_SECRET", "").split(",") if s.strip()
    )
    return Settings(
        uploads_bucket=env.get("EVENTSUITE_UPLOADS_BUCKET", defaults.uploads_bucket),
        thumbnails_bucket=env.get("EVENTSUITE_THUMBNAILS_BUCKET", defaults.thumbnails_bucket),
        claims_bucket=env.get("EVENTSUITE_CLAIMS_BUCKET", defaults.claims_bucket),
        mail_from=env.get("EVENTSUITE_MAIL_FROM", defaults.mail_from),
        webhook_secrets=secrets,
        payment_provider=env.get("EVENTSUITE_PAYMENT_PROVIDER", defaults.payment_provider)
        .strip()
        .lower(),
        stripe_api_base=env.get("EVENTSUITE_STRIPE_API_BASE") or None,
        webhook_tolerance_seconds=int(
            env.get("EVENTSUITE_WEBHOOK_TOLERANCE_SECONDS", defaults.webhook_tolerance_seconds)
        ),
    )
