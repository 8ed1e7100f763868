"""The wiring loader: the Terraform plan's view of every function."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from shared.catalog import default_catalog
from tests.runtimes import wiring

ROOT_VARIABLES = {
    "aws": {},
    "gcp": {"project_id": "rt-project", "region": "europe-west1", "mail_from": "o@x.test"},
    "azure": {
        "subscription_id": "00000000-0000-0000-0000-000000000000",
        "mail_from": "o@x.test",
        "orders_api_auth": {"mode": "entra", "client_id": "00000000-0000-0000-0000-000000000000"},
    },
}
READ_BY_ROOTS = ("shared/catalog", "functions/azure/host.json")


def test_root_variables_become_a_stable_tfvars_text() -> None:
    text = wiring.tfvars({"b": {"port": 25, "tls": False}, "a": "x${y}", "c": [1, None]})
    assert text == 'a = "x$${y}"\nb = {"port" = 25, "tls" = false}\nc = [1, null]\n'


def _plan(*resources: tuple[str, str, object, dict[str, object]]) -> dict[str, object]:
    rows = [
        {
            "mode": "managed",
            "type": t,
            "name": n,
            "values": v,
            **({} if i is None else {"index": i}),
        }
        for t, n, i, v in resources
    ]
    return {"planned_values": {"root_module": {"child_modules": [{"resources": rows}]}}}


def test_a_value_is_named_by_the_resource_that_owns_it() -> None:
    refs = wiring.References(
        _plan(
            (
                "aws_sqs_queue",
                "dlq",
                "a",
                {"url": "mock-url-0123456789ab", "id": "mock-id-0123456789ab"},
            ),
            # An input that copies the queue's url is not its owner.
            (
                "aws_thing",
                "t",
                None,
                {"url": "mock-url-0123456789ab", "id": "mock-id-ffffffffffff"},
            ),
            ("aws_dynamodb_table", "index", None, {"name": "ix", "arn": "mock-arn-aaaaaaaaaaaa"}),
            ("aws_role", "r", 0, {"name": "dup"}),
            ("aws_rule", "r", 0, {"name": "dup"}),
        )
    )
    assert refs.of("mock-url-0123456789ab", "f") == 'aws_sqs_queue.dlq["a"].url'
    assert refs.of("ix", "f") == "aws_dynamodb_table.index.name"
    assert refs.of("x-mock-arn-aaaaaaaaaaaa/y", "f") == "x-${aws_dynamodb_table.index.arn}/y"
    assert refs.of("static", "f") is None
    with pytest.raises(ValueError, match="names several resources"):
        refs.of("dup", "f X")
    with pytest.raises(ValueError, match="f X: 'mock-arn-bbbbbbbbbbbb' is owned by none"):
        refs.of("mock-arn-bbbbbbbbbbbb", "f X")
    with pytest.raises(ValueError, match="no managed resource"):
        refs.of("bucket-mock-account_id", "f X")


@pytest.mark.parametrize("cloud", ["aws", "gcp", "azure"])
def test_every_catalog_function_is_wired_on_every_cloud(cloud: str) -> None:
    catalog = default_catalog()
    wirings = wiring.load(cloud, ROOT_VARIABLES[cloud])
    assert set(wirings) == {*catalog.consumers, *catalog.endpoints, *catalog.schedules}
    for function in wirings.values():
        assert function.python_version == "3.12", function
        assert function.handler
        role = {"consumer": "EVENTSUITE_CONSUMER", "http": "EVENTSUITE_ENDPOINT"}
        if cloud != "azure":  # one Azure app package serves every role by function name
            variable = role.get(function.kind, "EVENTSUITE_SCHEDULE")
            assert function.environment[variable] == function.name
        # Nothing a deployment decides is left as a value: each is a resource reference.
        assert not any("mock-" in v for v in function.environment.values()), function


def test_memory_and_timeout_are_the_catalog_settings() -> None:
    catalog = default_catalog()
    for cloud in ("aws", "gcp"):
        for name, function in wiring.load(cloud, ROOT_VARIABLES[cloud]).items():
            spec = (
                catalog.consumers.get(name)
                or catalog.endpoints.get(name)
                or catalog.schedules[name]
            )
            assert (function.memory_mb, function.timeout_seconds) == (
                spec.memory_mb,
                spec.timeout_seconds,
            ), f"{cloud}/{name}"


def test_deployment_values_are_named_by_the_resource_they_come_from() -> None:
    aws = wiring.load("aws", ROOT_VARIABLES["aws"])["indexer"]
    assert aws.unknown["EVENTSUITE_DLQ_URL"] == 'aws_sqs_queue.dlq["indexer"].url'
    assert aws.unknown["EVENTSUITE_INDEX_TABLE"] == "aws_dynamodb_table.index.name"
    assert aws.planned["EVENTSUITE_INDEX_TABLE"] == "eventsuite-index"
    assert aws.unknown["EVENTSUITE_UPLOADS_BUCKET"] == 'aws_s3_bucket.this["uploads"].bucket'
    # A placeholder copied into another resource (an event target's queue arn) is not its own.
    assert aws.unknown["EVENTSUITE_WEBHOOK_SECRET_ARN"] == "aws_secretsmanager_secret.webhook.arn"
    gcp = wiring.load("gcp", ROOT_VARIABLES["gcp"])["indexer"]
    # The bucket, not the IAM members and notification that hold its name in `bucket`.
    assert gcp.unknown["EVENTSUITE_UPLOADS_BUCKET"] == "google_storage_bucket.uploads.name"
    azure = wiring.load("azure", ROOT_VARIABLES["azure"])
    assert (
        azure["indexer"].unknown["EVENTSUITE_STORAGE_QUEUE_URL"]
        == "azurerm_storage_account.this.primary_queue_endpoint"
    )
    assert azure["indexer"].queue == "indexer-events"
    assert azure["indexer"].app == "indexer" and azure["indexer"].storage_identity is True


def test_a_handler_renamed_in_terraform_shows_in_the_wiring(tmp_path: Path) -> None:
    copy = tmp_path / "terraform"
    shutil.copytree(wiring.TERRAFORM, copy, ignore=shutil.ignore_patterns(".terraform", "tools"))
    for name in READ_BY_ROOTS:
        source, target = wiring.REPO / name, tmp_path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if source.is_dir() else shutil.copy2)(source, target)
    locals_tf = copy / "modules" / "aws-suite" / "locals.tf"
    text = locals_tf.read_text(encoding="utf-8")
    locals_tf.write_text(text.replace("entrypoint.handle_http", "entrypoint.handle_htp"), "utf-8")
    wirings = wiring.load("aws", {}, copy)
    assert wirings["orders_api"].handler == "functions.aws.entrypoint.handle_htp"
    assert wiring.load("aws", {})["orders_api"].handler == "functions.aws.entrypoint.handle_http"
