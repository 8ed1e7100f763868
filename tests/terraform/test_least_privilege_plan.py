"""Least privilege read off the real plans: every function's identity may do what its ports
(``shared/catalog/needs.json``, generated from the handlers' signatures) need, and no more.

``test_least_privilege.py`` checks the grants Terraform computes (``grants.tf``); this reads
what the plans of the example roots would actually create: each Lambda role's policy (AWS)
and each function's Firestore custom role and project bindings (Google Cloud). A grant beyond
the ports fails naming the function and the permission.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.terraform.plans import resources
from tests.terraform.test_least_privilege import (
    FUNCTION_NEEDS,
    aws_expected,
    gcp_expected,
)

pytestmark = pytest.mark.terraform

Plan = Callable[..., dict[str, Any]]
# What every Lambda role holds to run at all: its own log group, the suite key through the
# data services, its own queue (consumers) or its schedule's dead-letter queue (schedules).
AWS_BASELINE = {
    "logs:CreateLogStream",
    "logs:PutLogEvents",
    "kms:Decrypt",
    "kms:GenerateDataKey",
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibility",
    "sqs:GetQueueAttributes",
    "sqs:SendMessage",
}


def _by_function(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {item["index"]: item["values"] for item in items if "index" in item}


def test_every_lambda_role_holds_only_its_ports_actions(plan_json: Plan) -> None:
    plan = plan_json("aws", "example", resolved=True)
    policies = _by_function(
        [r for r in resources(plan, "aws_iam_role_policy") if r["name"] == "function"]
    )
    assert set(policies) == set(FUNCTION_NEEDS)
    for name, values in policies.items():
        granted = {
            action
            for statement in json.loads(values["policy"])["Statement"]
            for action in statement["Action"]
        }
        needed = {
            action
            for port in FUNCTION_NEEDS[name]["ports"]
            for action, _ in aws_expected(name, port)
        }
        beyond = granted - needed - AWS_BASELINE
        assert not beyond, f"aws: {name} is granted {sorted(beyond)} beyond its ports"
        missing = needed - granted
        assert not missing, f"aws: {name} lacks {sorted(missing)} that its ports need"


def test_a_function_that_publishes_nothing_cannot_put_events(plan_json: Plan) -> None:
    plan = plan_json("aws", "example", resolved=True)
    for name, values in _by_function(
        [r for r in resources(plan, "aws_iam_role_policy") if r["name"] == "function"]
    ).items():
        statements = json.loads(values["policy"])["Statement"]
        puts = [s for s in statements if "events:PutEvents" in s["Action"]]
        if not FUNCTION_NEEDS[name]["emits"]:
            assert puts == [], f"aws: {name} emits nothing but may PutEvents"
            continue
        (put,) = puts
        types = put["Condition"]["StringEquals"]["events:detail-type"]
        assert sorted(types) == sorted(f"io.eventsuite.{e}" for e in FUNCTION_NEEDS[name]["emits"])


def test_every_firestore_role_holds_only_its_ports_permissions(plan_json: Plan) -> None:
    plan = plan_json("gcp", "example", resolved=True)
    roles = _by_function(
        [
            r
            for r in resources(plan, "google_project_iam_custom_role")
            if r["name"] == "function_firestore"
        ]
    )
    for name, needs in FUNCTION_NEEDS.items():
        needed = {
            permission
            for port in needs["ports"]
            for permission, target in gcp_expected(name, port)
            if target == "firestore"
        }
        granted = set(roles[name]["permissions"]) if name in roles else set()
        beyond = granted - needed
        assert not beyond, f"gcp: {name} is granted {sorted(beyond)} beyond its ports"
        assert granted == needed, f"gcp: {name} lacks {sorted(needed - granted)}"
        if not needed:
            assert name not in roles, f"gcp: {name} needs no Firestore access but has a role"
