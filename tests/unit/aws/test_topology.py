"""The names and patterns Python derives from the catalog, and their Terraform counterparts."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.catalog import default_catalog
from tests.integration.aws.topology import (
    consumer_pattern,
    resource_names,
    uploads_pattern,
    visibility_timeout,
)

ROOT = Path(__file__).resolve().parents[3]
MODULE = ROOT / "terraform" / "modules" / "aws-suite"


def test_names_follow_the_naming_rule() -> None:
    names = resource_names("suite", account_id="111122223333", region="eu-west-1")
    assert names.bus == "suite-events"
    assert dict(names.tables) == {
        "index": "suite-index",
        "idempotency": "suite-idempotency",
        "orders": "suite-orders",
    }
    assert names.buckets["uploads"] == "suite-uploads-111122223333-eu-west-1"
    thumbnailer = names.consumers["thumbnailer"]
    assert (thumbnailer.queue, thumbnailer.dlq, thumbnailer.rule, thumbnailer.uploads_rule) == (
        "suite-thumbnailer",
        "suite-thumbnailer-dlq",
        "suite-thumbnailer",
        "suite-thumbnailer-uploads",
    )
    assert names.consumers["payments"].uploads_rule is None
    catalog = default_catalog()
    assert set(names.functions) == set(catalog.consumers) | set(catalog.endpoints) | set(
        catalog.schedules
    )
    reconciler = names.schedules["order_reconciler"]
    assert (reconciler.function, reconciler.schedule, reconciler.dlq) == (
        "suite-order_reconciler",
        "suite-order_reconciler",
        "suite-order_reconciler-dlq",
    )


def test_patterns_and_timeouts_come_from_the_catalog() -> None:
    catalog = default_catalog()
    assert consumer_pattern(catalog.consumer("notifier")) == {
        "detail-type": [
            "io.eventsuite.OrderPlaced",
            "io.eventsuite.PaymentReceived",
            "io.eventsuite.PaymentFailed",
            "io.eventsuite.PaymentRefunded",
        ]
    }
    assert uploads_pattern("b", "uploads/")["detail"] == {
        "bucket": {"name": ["b"]},
        "object": {"key": [{"prefix": "uploads/"}]},
    }
    for spec in catalog.consumers.values():
        assert visibility_timeout(spec) >= 6 * spec.timeout_seconds
    assert visibility_timeout(catalog.consumer("thumbnailer")) == 361


def test_terraform_derives_the_same_names() -> None:
    locals_tf = MODULE / "locals.tf"
    if not locals_tf.exists():
        pytest.skip("terraform/modules/aws-suite not present")
    text = locals_tf.read_text()
    for template in (
        '"${var.name_prefix}-${name}"',
        '"${var.name_prefix}-${name}-dlq"',
        '"${var.name_prefix}-${name}-uploads"',
        '"${var.name_prefix}-events"',
        '"${var.name_prefix}-index"',
        '"${var.name_prefix}-idempotency"',
        '"${var.name_prefix}-orders"',
        '"idempotency_key-index"',
        "6 * c.timeout_seconds + var.batching_window_seconds",
        '"functions.aws.entrypoint.handle_queue"',
        '"functions.aws.entrypoint.handle_http"',
    ):
        assert template in text, template
    storage = (MODULE / "storage.tf").read_text()
    for key in (
        'hash_key                    = "image_id"',
        'hash_key                    = "key"',
        'attribute_name = "expires_at"',
        'hash_key                    = "order_id"',
    ):
        assert key in storage, key
