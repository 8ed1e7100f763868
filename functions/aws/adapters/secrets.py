"""The webhook HMAC secret(s), read lazily from Secrets Manager once per process.

Terraform sets ``EVENTSUITE_WEBHOOK_SECRET_ARN`` on every function, but only the webhook
function's role may read it; so nothing is fetched until a signature is actually verified.
The secret string holds one secret or several comma separated (rotation); a JSON list or an
object of strings is accepted too.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from typing import overload

from functions.aws.clients import AwsClients
from functions.aws.errors import transient_errors


def parse_secret_string(text: str) -> tuple[str, ...]:
    """Secrets from a secret string: ``"a,b"``, ``'["a","b"]'`` or ``'{"current":"a",...}'``."""
    stripped = text.strip()
    if stripped[:1] in "[{":
        try:
            value = json.loads(stripped)
        except ValueError:
            value = None
        if isinstance(value, dict):
            return tuple(str(v).strip() for v in value.values() if str(v).strip())
        if isinstance(value, list):
            return tuple(str(v).strip() for v in value if str(v).strip())
    return tuple(s.strip() for s in stripped.split(",") if s.strip())


class LazySecrets(Sequence[str]):
    """A read-only sequence of secrets fetched on first use and then cached.

    A failed fetch is not cached, so the next request tries again.
    """

    def __init__(self, clients: AwsClients, secret_id: str) -> None:
        self._clients = clients
        self.secret_id = secret_id
        self._values: tuple[str, ...] | None = None
        self._lock = threading.Lock()

    def _load(self) -> tuple[str, ...]:
        if self._values is None:
            with self._lock:
                if self._values is None:
                    with transient_errors("Secrets Manager GetSecretValue"):
                        response = self._clients.secretsmanager.get_secret_value(
                            SecretId=self.secret_id
                        )
                    self._values = parse_secret_string(response.get("SecretString") or "")
        return self._values

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...

    def __getitem__(self, index: int | slice) -> str | Sequence[str]:
        return self._load()[index]

    def __len__(self) -> int:
        return len(self._load())

    def __iter__(self) -> Iterator[str]:
        return iter(self._load())

    def __repr__(self) -> str:  # never print secret values
        state = "loaded" if self._values is not None else "not loaded"
        return f"LazySecrets({self.secret_id!r}, {state})"
