"""Signed payment-provider webhooks.

Signature header (Stripe-style): ``Eventsuite-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>]``
where ``v1 = HMAC-SHA256(secret, f"{t}.".encode() + body)``. Several ``v1`` values and several
secrets are accepted so keys can rotate. Timestamps outside the tolerance window are rejected
to stop replays; comparisons are constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

from shared.errors import InvalidSignature

SIGNATURE_HEADER = "Eventsuite-Signature"
MAX_HEADER_LENGTH = 2048


def sign(body: bytes, secret: str, timestamp: int) -> str:
    """The header value a provider would send for ``body`` at ``timestamp``."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def verify(
    body: bytes,
    header: str | None,
    secrets: Sequence[str],
    *,
    now: float,
    tolerance_seconds: int = 300,
) -> int:
    """Check a webhook's signature; return its timestamp or raise ``InvalidSignature``."""
    if not secrets:
        raise InvalidSignature("no webhook secret is configured")
    if not header:
        raise InvalidSignature(f"missing {SIGNATURE_HEADER} header")
    if len(header) > MAX_HEADER_LENGTH:
        raise InvalidSignature("signature header too long")
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        # isascii(): str.isdigit() also accepts digits like "²" that int() refuses.
        if name == "t" and value.isascii() and value.isdigit():
            timestamp = int(value)
        elif name == "v1" and value.isascii() and value:
            signatures.append(value)
    if timestamp is None or not signatures:
        raise InvalidSignature("malformed signature header")
    if abs(now - timestamp) > tolerance_seconds:
        raise InvalidSignature("signature timestamp outside the tolerance window")
    signed = f"{timestamp}.".encode() + body
    for secret in secrets:
        expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
        # compare_digest on every candidate: no early exit leaks which one matched
        if any(hmac.compare_digest(expected, candidate) for candidate in signatures):
            return timestamp
    raise InvalidSignature("signature does not match")
