"""The AWS topology the suite needs, derived from the catalog: names, patterns and creation.

Terraform (terraform/modules/aws-suite) declares the same resources with the same names
(``locals.tf``); this module is the Python mirror used to build that topology in moto for the
integration tests, so both sides derive from one catalog and one naming rule:

* bus ``<prefix>-events``; tables ``<prefix>-index``, ``<prefix>-idempotency`` (TTL
  ``expires_at``), ``<prefix>-orders`` (GSIs ``idempotency_key-index`` and
  ``status-placed_at-index``, the order reconciler's query);
* buckets ``<prefix>-<uploads|thumbnails|claims>-<account>-<region>``;
* per consumer: queue ``<prefix>-<consumer>``, DLQ ``<prefix>-<consumer>-dlq`` (redrive after
  ``max_delivery_attempts`` receives), rule ``<prefix>-<consumer>`` on the bus matching the
  ``detail-type`` of every subscribed event, and for consumers of the upload event a rule
  ``<prefix>-<consumer>-uploads`` on the default bus (``aws.s3`` / ``Object Created`` / bucket /
  uploads prefix); every target retries and dead-letters to the consumer's DLQ;
* per catalog schedule (names only: Lambda and EventBridge Scheduler are not emulated here, the
  tests call the function the way the schedule would): function ``<prefix>-<schedule>``,
  schedule ``<prefix>-<schedule>``, dead-letter queue ``<prefix>-<schedule>-dlq``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from functions.aws.adapters.dynamodb import ORDERS_OUTBOX_INDEX, ORDERS_STATUS_INDEX
from functions.aws.clients import AwsClients
from shared.catalog import Catalog, ConsumerSpec, default_catalog

UPLOAD_EVENT = "ImageUploaded"
ORDERS_IDEMPOTENCY_INDEX = "idempotency_key-index"
DEFAULT_BATCHING_WINDOW_SECONDS = 1
DLQ_RETENTION_SECONDS = 1_209_600
QUEUE_RETENTION_SECONDS = 345_600


@dataclass(frozen=True)
class ConsumerNames:
    """Names of one consumer's resources."""

    function: str
    queue: str
    dlq: str
    rule: str
    uploads_rule: str | None


@dataclass(frozen=True)
class ScheduleNames:
    """Names of one catalog schedule's resources."""

    function: str
    schedule: str
    dlq: str


@dataclass(frozen=True)
class Names:
    """Every resource name of one deployment."""

    prefix: str
    bus: str
    tables: Mapping[str, str]
    buckets: Mapping[str, str]
    consumers: Mapping[str, ConsumerNames]
    functions: Mapping[str, str]
    schedules: Mapping[str, ScheduleNames] = field(default_factory=dict)


def resource_names(
    prefix: str,
    catalog: Catalog | None = None,
    *,
    account_id: str,
    region: str,
    upload_event: str = UPLOAD_EVENT,
) -> Names:
    """Names exactly as terraform/modules/aws-suite/locals.tf derives them."""
    catalog = catalog or default_catalog()
    consumers = {
        name: ConsumerNames(
            function=f"{prefix}-{name}",
            queue=f"{prefix}-{name}",
            dlq=f"{prefix}-{name}-dlq",
            rule=f"{prefix}-{name}",
            uploads_rule=f"{prefix}-{name}-uploads" if upload_event in spec.subscribes else None,
        )
        for name, spec in catalog.consumers.items()
    }
    schedules = {
        name: ScheduleNames(
            function=f"{prefix}-{name}", schedule=f"{prefix}-{name}", dlq=f"{prefix}-{name}-dlq"
        )
        for name in catalog.schedules
    }
    functions = {
        name: f"{prefix}-{name}"
        for name in [*catalog.consumers, *catalog.endpoints, *catalog.schedules]
    }
    suffix = f"{account_id}-{region}"
    return Names(
        prefix=prefix,
        bus=f"{prefix}-events",
        tables={role: f"{prefix}-{role}" for role in ("index", "idempotency", "orders")},
        buckets={role: f"{prefix}-{role}-{suffix}" for role in ("uploads", "thumbnails", "claims")},
        consumers=consumers,
        functions=functions,
        schedules=schedules,
    )


def visibility_timeout(
    spec: ConsumerSpec, batching_window_seconds: int = DEFAULT_BATCHING_WINDOW_SECONDS
) -> int:
    """Queue visibility timeout: 6x the function timeout plus the batching window (>= 30 s)."""
    return min(43_200, max(30, 6 * spec.timeout_seconds + batching_window_seconds))


def consumer_pattern(spec: ConsumerSpec, catalog: Catalog | None = None) -> dict[str, Any]:
    """Custom-bus rule pattern: the CloudEvents types (detail-types) the consumer subscribes to."""
    catalog = catalog or default_catalog()
    types = list(dict.fromkeys(catalog.event(name).type for name in spec.subscribes))
    return {"detail-type": types}


def uploads_pattern(bucket: str, uploads_prefix: str) -> dict[str, Any]:
    """Default-bus rule pattern for S3 "Object Created" under the uploads prefix."""
    return {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {
            "bucket": {"name": [bucket]},
            "object": {"key": [{"prefix": uploads_prefix}]},
        },
    }


@dataclass
class Topology:
    """A created deployment: names plus the URLs and ARNs the functions and tests need."""

    names: Names
    region: str
    queue_urls: dict[str, str] = field(default_factory=dict)
    queue_arns: dict[str, str] = field(default_factory=dict)
    dlq_urls: dict[str, str] = field(default_factory=dict)
    dlq_arns: dict[str, str] = field(default_factory=dict)
    bus_arn: str = ""

    def environment(
        self,
        *,
        consumer: str | None = None,
        endpoint: str | None = None,
        schedule: str | None = None,
        mailer: str = "ses",
        mail_from: str = "orders@eventsuite.example",
        webhook_secret_arn: str | None = None,
        extra: Mapping[str, str] | None = None,
    ) -> dict[str, str]:
        """The environment Terraform gives a function (common env + its own)."""
        env = {
            "AWS_REGION": self.region,
            "EVENTSUITE_UPLOADS_BUCKET": self.names.buckets["uploads"],
            "EVENTSUITE_THUMBNAILS_BUCKET": self.names.buckets["thumbnails"],
            "EVENTSUITE_CLAIMS_BUCKET": self.names.buckets["claims"],
            "EVENTSUITE_EVENT_BUS": self.names.bus,
            "EVENTSUITE_INDEX_TABLE": self.names.tables["index"],
            "EVENTSUITE_IDEMPOTENCY_TABLE": self.names.tables["idempotency"],
            "EVENTSUITE_ORDERS_TABLE": self.names.tables["orders"],
            "EVENTSUITE_MAILER": mailer,
            "EVENTSUITE_MAIL_FROM": mail_from,
        }
        if webhook_secret_arn:
            env["EVENTSUITE_WEBHOOK_SECRET_ARN"] = webhook_secret_arn
        if consumer:
            env["EVENTSUITE_CONSUMER"] = consumer
            env["EVENTSUITE_DLQ_URL"] = self.dlq_urls[consumer]
        if endpoint:
            env["EVENTSUITE_ENDPOINT"] = endpoint
        if schedule:
            env["EVENTSUITE_SCHEDULE"] = schedule
        env.update(extra or {})
        return env


def _queue_policy(queue_arn: str, rule_arns: list[str], sid: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": sid,
                    "Effect": "Allow",
                    "Principal": {"Service": "events.amazonaws.com"},
                    "Action": "sqs:SendMessage",
                    "Resource": queue_arn,
                    "Condition": {"ArnEquals": {"aws:SourceArn": rule_arns}},
                }
            ],
        }
    )


def create_topology(
    clients: AwsClients,
    prefix: str,
    catalog: Catalog | None = None,
    *,
    visibility_timeout_seconds: int | None = None,
    batching_window_seconds: int = DEFAULT_BATCHING_WINDOW_SECONDS,
    max_event_age_seconds: int = 86_400,
    max_retry_attempts: int = 185,
    upload_event: str = UPLOAD_EVENT,
) -> Topology:
    """Create bus, tables, buckets, queues, rules and targets for every catalog consumer.

    ``visibility_timeout_seconds`` overrides the derived timeout (tests use a short one so a
    failed message reappears quickly).
    """
    catalog = catalog or default_catalog()
    region = clients.region or clients.s3.meta.region_name
    account_id = clients.client("sts").get_caller_identity()["Account"]
    names = resource_names(
        prefix, catalog, account_id=account_id, region=region, upload_event=upload_event
    )
    topology = Topology(names=names, region=region)
    _create_tables(clients, names)
    _create_buckets(clients, names, region)
    events, sqs = clients.events, clients.sqs
    topology.bus_arn = events.create_event_bus(Name=names.bus)["EventBusArn"]
    uploads_prefix = catalog.storage["uploads_prefix"]
    for name, spec in catalog.consumers.items():
        own = names.consumers[name]
        dlq_url = sqs.create_queue(
            QueueName=own.dlq,
            Attributes={
                "MessageRetentionPeriod": str(DLQ_RETENTION_SECONDS),
                "SqsManagedSseEnabled": "true",
            },
        )["QueueUrl"]
        dlq_arn = _queue_arn(clients, dlq_url)
        timeout = visibility_timeout_seconds
        if timeout is None:
            timeout = visibility_timeout(spec, batching_window_seconds)
        queue_url = sqs.create_queue(
            QueueName=own.queue,
            Attributes={
                "VisibilityTimeout": str(timeout),
                "MessageRetentionPeriod": str(QUEUE_RETENTION_SECONDS),
                "ReceiveMessageWaitTimeSeconds": "20",
                "SqsManagedSseEnabled": "true",
                "RedrivePolicy": json.dumps(
                    {
                        "deadLetterTargetArn": dlq_arn,
                        "maxReceiveCount": spec.max_delivery_attempts,
                    }
                ),
            },
        )["QueueUrl"]
        queue_arn = _queue_arn(clients, queue_url)
        sqs.set_queue_attributes(
            QueueUrl=dlq_url,
            Attributes={
                "RedriveAllowPolicy": json.dumps(
                    {
                        "redrivePermission": "byQueue",
                        "sourceQueueArns": [queue_arn],
                    }
                )
            },
        )
        target = {
            "Id": "queue",
            "Arn": queue_arn,
            "RetryPolicy": {
                "MaximumEventAgeInSeconds": max_event_age_seconds,
                "MaximumRetryAttempts": max_retry_attempts,
            },
            "DeadLetterConfig": {"Arn": dlq_arn},
        }
        rule_arns = [
            events.put_rule(
                Name=own.rule,
                EventBusName=names.bus,
                EventPattern=json.dumps(consumer_pattern(spec, catalog)),
                Description=f"{name}: {', '.join(spec.subscribes)}",
            )["RuleArn"]
        ]
        events.put_targets(Rule=own.rule, EventBusName=names.bus, Targets=[target])
        if own.uploads_rule:
            rule_arns.append(
                events.put_rule(
                    Name=own.uploads_rule,
                    EventPattern=json.dumps(
                        uploads_pattern(names.buckets["uploads"], uploads_prefix)
                    ),
                    Description=f"{name}: S3 Object Created under {uploads_prefix}",
                )["RuleArn"]
            )
            events.put_targets(Rule=own.uploads_rule, Targets=[target])
        sqs.set_queue_attributes(
            QueueUrl=queue_url,
            Attributes={"Policy": _queue_policy(queue_arn, rule_arns, "EventBridgeDelivery")},
        )
        sqs.set_queue_attributes(
            QueueUrl=dlq_url,
            Attributes={"Policy": _queue_policy(dlq_arn, rule_arns, "EventBridgeDeadLetter")},
        )
        topology.queue_urls[name], topology.queue_arns[name] = queue_url, queue_arn
        topology.dlq_urls[name], topology.dlq_arns[name] = dlq_url, dlq_arn
    return topology


def _queue_arn(clients: AwsClients, url: str) -> str:
    attributes = clients.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return str(attributes["Attributes"]["QueueArn"])


def _create_buckets(clients: AwsClients, names: Names, region: str) -> None:
    s3 = clients.s3
    for bucket in names.buckets.values():
        arguments: dict[str, Any] = {"Bucket": bucket}
        if region != "us-east-1":
            arguments["CreateBucketConfiguration"] = {"LocationConstraint": region}
        s3.create_bucket(**arguments)
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        s3.put_public_access_block(
            Bucket=bucket,
            PublicAccessBlockConfiguration={
                "BlockPublicAcls": True,
                "IgnorePublicAcls": True,
                "BlockPublicPolicy": True,
                "RestrictPublicBuckets": True,
            },
        )
    # One notification configuration on the uploads bucket only: everything to EventBridge.
    s3.put_bucket_notification_configuration(
        Bucket=names.buckets["uploads"],
        NotificationConfiguration={"EventBridgeConfiguration": {}},
    )


def _create_tables(clients: AwsClients, names: Names) -> None:
    dynamodb = clients.dynamodb

    def table(name: str, key: str, **extra: Any) -> None:
        attributes = [{"AttributeName": key, "AttributeType": "S"}, *extra.pop("attributes", [])]
        dynamodb.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
            AttributeDefinitions=attributes,
            BillingMode="PAY_PER_REQUEST",
            SSESpecification={"Enabled": True},
            **extra,
        )

    table(names.tables["index"], "image_id")
    table(names.tables["idempotency"], "key")
    dynamodb.update_time_to_live(
        TableName=names.tables["idempotency"],
        TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"},
    )
    table(
        names.tables["orders"],
        "order_id",
        attributes=[
            {"AttributeName": "idempotency_key", "AttributeType": "S"},
            {"AttributeName": "status", "AttributeType": "S"},
            {"AttributeName": "placed_at", "AttributeType": "S"},
            {"AttributeName": "outbox_pending", "AttributeType": "S"},
            {"AttributeName": "updated_at", "AttributeType": "S"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": ORDERS_IDEMPOTENCY_INDEX,
                "KeySchema": [{"AttributeName": "idempotency_key", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            },
            {
                "IndexName": ORDERS_STATUS_INDEX,
                "KeySchema": [
                    {"AttributeName": "status", "KeyType": "HASH"},
                    {"AttributeName": "placed_at", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            },
            {
                "IndexName": ORDERS_OUTBOX_INDEX,
                "KeySchema": [
                    {"AttributeName": "outbox_pending", "KeyType": "HASH"},
                    {"AttributeName": "updated_at", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            },
        ],
    )
