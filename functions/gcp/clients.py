"""Google Cloud SDK clients, built lazily once per process and injectable for tests.

Adapters receive a zero-argument factory (``clients.storage``), not a client, so building the
ports costs nothing and an SDK is imported only when an adapter first talks to its service:
the image functions never import ``google.cloud.pubsub`` unless they dead-letter something.
Emulators are honoured by the SDKs themselves (``STORAGE_EMULATOR_HOST``,
``FIRESTORE_EMULATOR_HOST``, ``PUBSUB_EMULATOR_HOST``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from functions.common.cache import LazyClients
from shared.errors import TransientError

ClientFactory = Callable[[], Any]


class GcpClients(LazyClients):
    """The process's SDK clients. Pass ready clients to inject emulator-backed ones."""

    def __init__(
        self,
        *,
        project: str | None = None,
        database: str | None = None,
        storage: Any = None,
        firestore: Any = None,
        publisher: Any = None,
        subscriber: Any = None,
    ) -> None:
        ready = {
            "storage": storage,
            "firestore": firestore,
            "publisher": publisher,
            "subscriber": subscriber,
        }
        super().__init__({name: client for name, client in ready.items() if client is not None})
        self.project = project
        self.database = database

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> GcpClients:
        """Project and Firestore database from ``EVENTSUITE_GCP_PROJECT`` (or
        ``GOOGLE_CLOUD_PROJECT``) and ``EVENTSUITE_FIRESTORE_DATABASE``."""
        env = os.environ if environ is None else environ
        return cls(
            project=env.get("EVENTSUITE_GCP_PROJECT") or env.get("GOOGLE_CLOUD_PROJECT") or None,
            database=env.get("EVENTSUITE_FIRESTORE_DATABASE") or None,
        )

    def storage(self) -> Any:
        """``google.cloud.storage.Client``."""
        return self.client("storage")

    def firestore(self) -> Any:
        """``google.cloud.firestore.Client`` for the configured database."""
        return self.client("firestore")

    def publisher(self) -> Any:
        """``google.cloud.pubsub_v1.PublisherClient`` with message ordering enabled.

        Ordering must be enabled on the client for ordering keys to be accepted; messages
        without a key are unaffected, so one client serves events and dead letters.
        """
        return self.client("publisher")

    def subscriber(self) -> Any:
        """``google.cloud.pubsub_v1.SubscriberClient`` (the operator tools pull dead letters)."""
        return self.client("subscriber")

    def subscription_path(self, subscription: str) -> str:
        """``projects/<project>/subscriptions/<name>`` unless already a full path."""
        if subscription.startswith("projects/"):
            return subscription
        if not self.project:
            raise RuntimeError(
                f"subscription {subscription!r} is not a full path and EVENTSUITE_GCP_PROJECT "
                "is not set"
            )
        return f"projects/{self.project}/subscriptions/{subscription}"

    def _build(self, service: str) -> Any:
        if service == "storage":
            from google.cloud import storage  # type: ignore[attr-defined]

            return storage.Client(project=self.project)
        if service == "firestore":
            from google.cloud import firestore

            return firestore.Client(project=self.project, database=self.database)
        if service == "publisher":
            from google.cloud import pubsub_v1  # type: ignore[attr-defined]

            return pubsub_v1.PublisherClient(
                publisher_options=pubsub_v1.types.PublisherOptions(enable_message_ordering=True)
            )
        if service == "subscriber":
            from google.cloud import pubsub_v1  # type: ignore[attr-defined]

            return pubsub_v1.SubscriberClient()
        raise ValueError(f"unknown Google Cloud client {service!r}")

    def topic_path(self, topic: str) -> str:
        """``projects/<project>/topics/<topic>`` unless ``topic`` is already a full path."""
        if topic.startswith("projects/"):
            return topic
        if not self.project:
            raise RuntimeError(
                f"topic {topic!r} is not a full path and EVENTSUITE_GCP_PROJECT is not set"
            )
        return f"projects/{self.project}/topics/{topic}"


def as_transient(exc: Exception, what: str) -> TransientError:
    """A ``TransientError`` naming the operation and the cause.

    Adapters map every SDK or transport failure they do not understand to a transient error:
    the dispatcher retries it and, at the consumer's last attempt, dead-letters it with this
    reason, so a misconfiguration (IAM, missing bucket) is visible rather than silent.
    """
    return TransientError(f"{what}: {type(exc).__name__}: {exc}")
