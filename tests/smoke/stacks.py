"""The smoke's stacks: the local backend under ``make serve`` and the emulator-backed clouds.

Each yields a :class:`Bench`: the ``SmokeStack`` the production code builds from outputs
shaped like ``terraform output -json`` of the cloud's root (the values an apply would print,
here the emulator's), and the platform stand-ins (``tests/smoke/platform.py``) that deliver
events and serve the HTTP endpoints while the smoke runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from functions.ops.smoke import SmokeStack, SmtpSinkMail, local_stack, stack_from_outputs
from tests.smoke.platform import HttpFront, Pump, bearer, function_key, requiring, sigv4
from tests.support import LOOPBACK, free_port, start_serve

WEBHOOK_SECRET = "whsec_smoke_tests"
FUNCTION_KEY = "smoke-function-key"
IDENTITY_TOKEN = "smoke-identity-token"
NOT_AN_IMAGE = b"these are notes, not a photo\n" * 20


@dataclass
class Bench:
    """A stack under test and the platform running it."""

    stack: SmokeStack
    pump: Pump | None = None
    outputs: dict[str, Any] | None = None  # what `terraform output -json` would give
    env: dict[str, str] | None = None  # what the operator's shell would hold

    def upload_hostile(self, name: str = "smoke-notes.jpg") -> str:
        """A text file named ``.jpg`` in the uploads bucket: both image consumers park it."""
        target = self.stack.target
        key = f"{target.uploads_prefix}{name}"
        target.objects.put(target.uploads_bucket, key, NOT_AN_IMAGE, content_type="image/jpeg")
        return key


def smtp_env(port: int) -> dict[str, str]:
    """The SMTP relay settings a deployment with ``mailer = "smtp"`` gets."""
    return {
        "EVENTSUITE_MAILER": "smtp",
        "EVENTSUITE_SMTP_HOST": LOOPBACK,
        "EVENTSUITE_SMTP_PORT": str(port),
        "EVENTSUITE_SMTP_STARTTLS": "false",
    }


# -- local: `make serve` ----------------------------------------------------------------------


@contextlib.contextmanager
def local_bench(home: Path) -> Iterator[Bench]:
    """``python -m functions.local serve`` on free ports; mail in its outbox folder."""
    process, _ports = start_serve(home)
    stack = local_stack(home)
    try:
        yield Bench(stack)
    finally:
        stack.target.close()
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)
        if process.stdout is not None:
            process.stdout.close()


# -- AWS: moto ------------------------------------------------------------------------------


def api_gateway_event(
    method: str, path: str, headers: Mapping[str, str], body: bytes
) -> dict[str, Any]:
    """An HTTP API (payload format 2.0) request as API Gateway builds it."""
    route = f"{method} {path}"
    return {
        "version": "2.0",
        "routeKey": route,
        "rawPath": path,
        "rawQueryString": "",
        "headers": {k.lower(): v for k, v in headers.items()},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "smoke",
            "domainName": LOOPBACK,
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": LOOPBACK,
                "userAgent": headers.get("User-Agent", "smoke"),
            },
            "requestId": os.urandom(8).hex(),
            "routeKey": route,
            "stage": "$default",
        },
        "body": body.decode(),
        "isBase64Encoded": False,
    }


@contextlib.contextmanager
def aws_bench(clients: Any, moto_url: str) -> Iterator[Bench]:
    """The suite's topology in moto, pollers as event source mappings, an API Gateway front."""
    import boto3

    from tests.integration.aws.conftest import REGION, unique_prefix
    from tests.integration.aws.harness import Deployment
    from tests.integration.aws.topology import create_topology

    topology = create_topology(clients, unique_prefix("smk"), visibility_timeout_seconds=30)
    secret_arn = clients.secretsmanager.create_secret(
        Name=f"{topology.names.prefix}/webhook-secret", SecretString=WEBHOOK_SECRET
    )["ARN"]
    mail_port = free_port()
    mail = SmtpSinkMail(LOOPBACK, mail_port)
    deployment = Deployment(
        clients,
        topology,
        env={**smtp_env(mail_port), "EVENTSUITE_WEBHOOK_SECRET_ARN": secret_arn},
    )

    def route(name: str) -> Any:
        function = deployment.http[name]

        def call(
            method: str, path: str, headers: Mapping[str, str], body: bytes
        ) -> tuple[int, Mapping[str, str], bytes]:
            answer = function(api_gateway_event(method, path, headers, body))
            return answer["statusCode"], answer.get("headers") or {}, answer["body"].encode()

        return call

    front = HttpFront({("POST", "/webhooks/payments"): route("payment_webhook")})
    credentials = boto3.Session().get_credentials()
    front.routes[("POST", "/orders")] = requiring(
        route("orders_api"), sigv4(f"{front.url}/orders", REGION, credentials)
    )

    def step(paused: set[str]) -> None:
        for name, poller in deployment.pollers.items():
            if name not in paused:
                poller.drain()

    pump = Pump(step)
    outputs = {  # terraform/aws outputs, as `terraform output -json` prints them after apply
        "uploads_bucket": topology.names.buckets["uploads"],
        "thumbnails_bucket": topology.names.buckets["thumbnails"],
        "queues": {
            c: {"queue_url": topology.queue_urls[c], "dlq_url": topology.dlq_urls[c]}
            for c in topology.queue_urls
        },
        "table_names": dict(topology.names.tables),
        "api_endpoint": front.url,
        "http_route_authorization": {"orders_api": "AWS_IAM", "payment_webhook": "NONE"},
        "webhook_secret_arn": secret_arn,
    }
    env = {"AWS_REGION": REGION, "AWS_ENDPOINT_URL": moto_url}
    stack = stack_from_outputs(
        "aws", json.loads(json.dumps(outputs)), env, clients=clients, mail=mail
    )
    try:
        yield Bench(stack, pump, outputs, env)
    finally:
        pump.close()
        front.close()
        mail.close()


# -- Azure: azurite -------------------------------------------------------------------------


@contextlib.contextmanager
def azure_bench(azurite: Any, storage: Any) -> Iterator[Bench]:
    """Containers, tables and queues in azurite; the Functions host's queue listeners, the
    storage system topic's BlobCreated subscriptions and Event Grid stand-ins; the HTTP
    functions behind a front like the host's (host.json's routePrefix is "")."""
    import uuid

    import azure.functions as func

    from functions.azure import bootstrap
    from functions.azure.names import queue_name
    from shared.catalog import default_catalog
    from tests.integration.azure.harness import (
        Deployment,
        EventGridEmulator,
        QueueHost,
        blob_created_event,
    )
    from tests.unit.azure.app_support import user_function

    deployment = Deployment.create(storage, azurite)
    deadletters = f"deadletters-{uuid.uuid4().hex[:10]}"
    storage.blob.create_container(deadletters)
    eventgrid = EventGridEmulator(storage).start()
    mail_port = free_port()
    mail = SmtpSinkMail(LOOPBACK, mail_port)
    environ = deployment.environ(
        EVENTSUITE_EVENTGRID_ENDPOINT=eventgrid.endpoint,
        EVENTSUITE_EVENTGRID_KEY=eventgrid.key,
        EVENTSUITE_WEBHOOK_SECRET=WEBHOOK_SECRET,
        **smtp_env(mail_port),
    )
    bootstrap.configure(environ)

    def route(name: str) -> Any:
        function = user_function(name)

        def call(
            method: str, path: str, headers: Mapping[str, str], body: bytes
        ) -> tuple[int, Mapping[str, str], bytes]:
            request = func.HttpRequest(
                method=method,
                url=f"https://smoke.azurewebsites.net{path}",
                headers=dict(headers),
                body=body,
            )
            response = function(request)
            return response.status_code, dict(response.headers), response.get_body()

        return call

    front = HttpFront(
        {
            ("POST", "/orders"): requiring(route("orders_api"), function_key(FUNCTION_KEY)),
            ("POST", "/webhooks/payments"): route("payment_webhook"),
        }
    )
    catalog = default_catalog()
    image_consumers = [c.name for c in catalog.consumers_of("ImageUploaded")]
    hosts = {name: QueueHost(storage, name) for name in catalog.consumers}
    uploads = storage.blob.get_container_client(deployment.uploads)
    notified: set[str] = set()

    def step(paused: set[str]) -> None:
        for key in uploads.list_blob_names(name_starts_with=catalog.storage["uploads_prefix"]):
            if key not in notified:  # the storage system topic's BlobCreated subscriptions
                notified.add(key)
                event = json.dumps(blob_created_event(storage, deployment.uploads, key))
                for consumer in image_consumers:
                    storage.queue.get_queue_client(queue_name(consumer)).send_message(event)
        for name, host in hosts.items():
            if name not in paused:
                host.drain()

    pump = Pump(step)
    outputs = {  # terraform/azure outputs (the account's endpoints come from the environment)
        "storage_account_name": "devstoreaccount1",
        "table_names": dict(deployment.tables),
        "container_names": {
            "uploads": deployment.uploads,
            "thumbnails": deployment.thumbnails,
            "claims": deployment.claims,
            "deadletter": deadletters,
        },
        "http_endpoint_urls": {
            "orders_api": f"{front.url}/orders",
            "order_status": f"{front.url}/orders/{{order_id}}",
            "payment_webhook": f"{front.url}/webhooks/payments",
        },
        "orders_api_auth_mode": "function_key",
    }
    env = {
        "EVENTSUITE_STORAGE_CONNECTION_STRING": deployment.connection_string,
        "EVENTSUITE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "EVENTSUITE_SMOKE_FUNCTION_KEY": FUNCTION_KEY,
    }
    stack = stack_from_outputs("azure", json.loads(json.dumps(outputs)), env, mail=mail)
    try:
        yield Bench(stack, pump)
    finally:
        pump.close()
        front.close()
        eventgrid.stop()
        mail.close()
        bootstrap.reset()


# -- Google Cloud: the Pub/Sub, Firestore and GCS emulators -----------------------------------


@contextlib.contextmanager
def gcp_bench(storage_client: Any) -> Iterator[Bench]:
    """Topics and subscriptions named as terraform/modules/gcp-suite names them in the Pub/Sub
    emulator, Firestore in its emulator, buckets in gcp-storage-emulator; functions-framework
    apps per function; push subscriptions played by pulling and posting push bodies (with the
    subscription's ``ce-type`` filter applied here: the emulator ignores filters); the bucket's
    Pub/Sub notification played by publishing ``OBJECT_FINALIZE`` for each new upload."""
    import base64
    import uuid

    from functions.gcp import bootstrap
    from functions.gcp.clients import GcpClients
    from functions.ops.targets import _needs, _producers
    from shared.catalog import default_catalog
    from tests.integration.gcp.conftest import make_app

    catalog = default_catalog()
    project = f"smk{uuid.uuid4().hex[:8]}"
    prefix = f"smk{uuid.uuid4().hex[:6]}"
    clients = GcpClients(project=project, storage=storage_client)
    publisher, subscriber = clients.publisher(), clients.subscriber()
    buckets = {kind: f"{prefix}-{kind}" for kind in ("uploads", "thumbnails", "claims")}
    for name in buckets.values():
        storage_client.create_bucket(name)

    def dashed(name: str) -> str:
        return name.replace("_", "-")

    producer_topics = {p: f"{prefix}-events-{dashed(p)}" for p in _producers()}
    uploads_topic = f"{prefix}-uploads"
    dead_letter_topics = {c: f"{prefix}-{dashed(c)}-dlq" for c in catalog.consumers}
    needs = _needs()
    emits = {
        name: set(need["emits"]) for section in needs.values() for name, need in section.items()
    }
    push: dict[str, list[str]] = {c: [] for c in catalog.consumers}  # consumer -> subscriptions
    subscriptions: dict[str, str] = {}  # subscription -> topic
    for consumer, spec in catalog.consumers.items():
        for producer, topic in producer_topics.items():
            if emits[producer] & set(spec.subscribes):
                name = f"{prefix}-{dashed(consumer)}-from-{dashed(producer)}"
                subscriptions[name], push[consumer] = topic, [*push[consumer], name]
        if "ImageUploaded" in spec.subscribes:
            name = f"{prefix}-{dashed(consumer)}-uploads"
            subscriptions[name], push[consumer] = uploads_topic, [*push[consumer], name]
        subscriptions[f"{dead_letter_topics[consumer]}-sub"] = dead_letter_topics[consumer]
    for topic in [*producer_topics.values(), uploads_topic, *dead_letter_topics.values()]:
        publisher.create_topic(request={"name": clients.topic_path(topic)})
    for name, topic in subscriptions.items():
        subscriber.create_subscription(
            request={
                "name": clients.subscription_path(name),
                "topic": clients.topic_path(topic),
                "ack_deadline_seconds": 60,
            }
        )

    mail_port = free_port()
    mail = SmtpSinkMail(LOOPBACK, mail_port)
    common = {
        "EVENTSUITE_GCP_PROJECT": project,
        "EVENTSUITE_UPLOADS_BUCKET": buckets["uploads"],
        "EVENTSUITE_THUMBNAILS_BUCKET": buckets["thumbnails"],
        "EVENTSUITE_CLAIMS_BUCKET": buckets["claims"],
        "EVENTSUITE_MAIL_FROM": "orders@eventsuite.test",
        "EVENTSUITE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        **smtp_env(mail_port),
    }

    def deploy(kind: str, name: str) -> Any:
        env = dict(common)
        if name in producer_topics:
            env["EVENTSUITE_EVENTS_TOPIC"] = producer_topics[name]
        if kind == "consumer":
            env["EVENTSUITE_DEAD_LETTER_TOPIC"] = dead_letter_topics[name]
        bootstrap.install(bootstrap.build_container(environ=env, clients=clients), **{kind: name})
        target = "handle_event" if kind == "consumer" else "handle_http"
        return make_app(target, **{kind: name})

    apps = {c: deploy("consumer", c) for c in catalog.consumers}
    endpoints = {e: deploy("endpoint", e) for e in ("orders_api", "payment_webhook")}

    def route(name: str) -> Any:
        def call(
            method: str, path: str, headers: Mapping[str, str], body: bytes
        ) -> tuple[int, Mapping[str, str], bytes]:
            answer = endpoints[name].post("/", data=body, headers=dict(headers))
            return answer.status_code, dict(answer.headers), answer.get_data()

        return call

    front = HttpFront(  # Cloud Run: IAM on the orders API, allUsers on the signed webhook
        {
            ("POST", "/orders-api"): requiring(route("orders_api"), bearer(IDENTITY_TOKEN)),
            ("POST", "/payment-webhook"): route("payment_webhook"),
        }
    )
    types = {
        c: {catalog.event(e).type for e in spec.subscribes} for c, spec in catalog.consumers.items()
    }
    uploads = storage_client.bucket(buckets["uploads"])
    notified: set[str] = set()
    attempts: dict[str, int] = {}

    def notify_uploads() -> None:
        for blob in storage_client.list_blobs(uploads, prefix=catalog.storage["uploads_prefix"]):
            if blob.name in notified:
                continue
            notified.add(blob.name)
            resource = uploads.get_blob(blob.name)._properties
            publisher.publish(
                clients.topic_path(uploads_topic),
                json.dumps(resource).encode(),
                eventType="OBJECT_FINALIZE",
                payloadFormat="JSON_API_V1",
                bucketId=buckets["uploads"],
                objectId=blob.name,
                objectGeneration=str(resource.get("generation", "1")),
                eventTime=str(resource.get("updated", "")),
                notificationConfig=f"projects/_/buckets/{buckets['uploads']}/notificationConfigs/1",
            ).result(timeout=30)

    def deliver(consumer: str, subscription: str) -> None:
        path = clients.subscription_path(subscription)
        response = subscriber.pull(
            request={"subscription": path, "max_messages": 10, "return_immediately": True},
            timeout=10,
        )
        for received in response.received_messages:
            message = received.message
            ce_type = message.attributes.get("ce-type")
            if ce_type is not None and ce_type not in types[consumer]:  # the filter
                subscriber.acknowledge(request={"subscription": path, "ack_ids": [received.ack_id]})
                continue
            attempts[message.message_id] = attempts.get(message.message_id, 0) + 1
            body = {
                "message": {
                    "data": base64.b64encode(message.data).decode(),
                    "attributes": dict(message.attributes),
                    "messageId": message.message_id,
                    "publishTime": message.publish_time.isoformat(),
                },
                "subscription": path,
                "deliveryAttempt": attempts[message.message_id],
            }
            answer = apps[consumer].post("/", json=body)
            if answer.status_code < 300:
                subscriber.acknowledge(request={"subscription": path, "ack_ids": [received.ack_id]})
            else:  # Pub/Sub redelivers after its backoff; here at once
                subscriber.modify_ack_deadline(
                    request={
                        "subscription": path,
                        "ack_ids": [received.ack_id],
                        "ack_deadline_seconds": 0,
                    }
                )

    def step(paused: set[str]) -> None:
        notify_uploads()
        for consumer, names in push.items():
            if consumer not in paused:
                for name in names:
                    deliver(consumer, name)

    pump = Pump(step)
    outputs = {  # terraform/gcp outputs, as `terraform output -json` prints them after apply
        "project_id": project,
        "producer_topics": producer_topics,
        "uploads_topic": uploads_topic,
        "dead_letter_topics": dead_letter_topics,
        "dead_letter_subscriptions": {c: f"{t}-sub" for c, t in dead_letter_topics.items()},
        "buckets": {**buckets, "source": f"{prefix}-source"},
        "http_endpoint_uris": {e: f"{front.url}/{dashed(e)}" for e in endpoints},
    }
    stack = stack_from_outputs(
        "gcp",
        json.loads(json.dumps(outputs)),
        {"EVENTSUITE_WEBHOOK_SECRET": WEBHOOK_SECRET, "EVENTSUITE_SMOKE_TOKEN": IDENTITY_TOKEN},
        clients=clients,
        mail=mail,
    )
    try:
        yield Bench(stack, pump)
    finally:
        pump.close()
        front.close()
        mail.close()
        bootstrap.reset()
