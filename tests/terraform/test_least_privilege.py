"""Least privilege per function: every function's grants are exactly what its ports need.

shared/catalog/needs.json lists, per consumer, HTTP endpoint and schedule, the ports its handlers
declare and the events it emits. Each cloud's module derives its grants from it in a
provider-free file (grants.tf); this test

* evaluates those locals with the real Terraform (`terraform console`, no provider needed) fed
  with the catalog and needs.json, and compares every function's grants with what this test says
  each port means on that cloud (an independent table below): a grant beyond its ports, or a
  port without its grant, fails with the function and the permission named;
* checks on the parsed HCL that the IAM resources bind those grants and nothing else to the
  functions' identities (beyond the fixed baseline every function needs to run).

A later test will do the same from the plan JSON of the real-Terraform gate.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.terraform.conftest import REPO, missing_tool, tfcheck

CATALOG = json.loads((REPO / "shared" / "catalog" / "catalog.json").read_text(encoding="utf-8"))
NEEDS = json.loads((REPO / "shared" / "catalog" / "needs.json").read_text(encoding="utf-8"))
MODULES = REPO / "terraform" / "modules"
UPLOAD_EVENT = "ImageUploaded"

# From the runtime's port contract: which buckets each function's `objects` port touches
# beyond reading claims (everyone) and writing them (publishers).
OBJECT_SPECIFICS = {
    "thumbnailer": {"read uploads", "write thumbnails"},
    "indexer": {"read uploads"},
}

Grant = tuple[str, str]  # (permission or role, target)


def _kinds() -> dict[str, str]:
    kinds = {name: "consumer" for name in CATALOG["consumers"]}
    kinds |= {
        name: "read" if e["method"].upper() in ("GET", "HEAD") else "http"
        for name, e in CATALOG.get("http_endpoints", {}).items()
    }
    kinds |= {name: "schedule" for name in CATALOG.get("schedules", {})}
    return kinds


KINDS = _kinds()
FUNCTION_NEEDS: dict[str, dict[str, list[str]]] = {
    name: spec
    for group in ("consumers", "http_endpoints", "schedules")
    for name, spec in NEEDS.get(group, {}).items()
}


def _objects(
    name: str, read: str, write: str, claims_bucket: str, buckets: dict[str, str]
) -> set[Grant]:
    grants = {(read, claims_bucket)}
    if "publisher" in FUNCTION_NEEDS[name]["ports"]:
        grants.add((write, claims_bucket))
    specifics = OBJECT_SPECIFICS.get(name, set())
    if "read uploads" in specifics:
        grants.add((read, buckets["uploads"]))
    if "write thumbnails" in specifics:
        grants.add((write, buckets["thumbnails"]))
    return grants


# --- what each port means, per cloud -------------------------------------------------------


AWS_MAILER = {"mode": "ses"}
# payment_provider of the evaluated module (stripe: the payments port reads the Stripe key).
PAYMENTS = {"provider": "stripe"}


def aws_expected(name: str, port: str) -> set[Grant]:
    kind = KINDS[name]
    if port == "objects":
        grants = {("s3:GetObject", "objects:claims")}
        if "publisher" in FUNCTION_NEEDS[name]["ports"]:
            grants.add(("s3:PutObject", "objects:claims"))
        if "read uploads" in OBJECT_SPECIFICS.get(name, set()):
            grants |= {
                ("s3:GetObject", "objects:uploads"),
                ("s3:GetObjectVersion", "objects:uploads"),
                ("s3:ListBucket", "bucket:uploads"),
            }
        if "write thumbnails" in OBJECT_SPECIFICS.get(name, set()):
            grants.add(("s3:PutObject", "objects:thumbnails"))
        return grants
    table_actions = {
        "index": {"dynamodb:PutItem"},
        "idempotency": {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem"},
    }
    if port in table_actions:
        return {(a, f"table:{port}") for a in table_actions[port]}
    if port == "orders":
        return {
            "consumer": {
                ("dynamodb:GetItem", "table:orders"),
                ("dynamodb:PutItem", "table:orders"),
                ("dynamodb:UpdateItem", "table:orders"),
            },
            "http": {
                ("dynamodb:PutItem", "table:orders"),
                ("dynamodb:GetItem", "table:orders"),
                ("dynamodb:UpdateItem", "table:orders"),
            },
            "read": {("dynamodb:GetItem", "table:orders")},
            "schedule": {
                ("dynamodb:Query", "table:orders_outbox_index"),
                ("dynamodb:GetItem", "table:orders"),
                ("dynamodb:UpdateItem", "table:orders"),
            },
        }[kind]
    return {
        "publisher": {("events:PutEvents", "bus:events")},
        "payments": {("secretsmanager:GetSecretValue", "secret:stripe")}
        if PAYMENTS["provider"] == "stripe"
        else set(),
        "mailer": {("ses:SendEmail", "ses:identities"), ("ses:SendRawEmail", "ses:identities")}
        if AWS_MAILER["mode"] == "ses"
        else {("secretsmanager:GetSecretValue", "secret:smtp")},
        "dead_letters": {("sqs:SendMessage", f"dlq:{name}")} if kind == "consumer" else set(),
        "webhook_secrets": {("secretsmanager:GetSecretValue", "secret:webhook")},
    }[port]


def gcp_expected(name: str, port: str) -> set[Grant]:
    kind = KINDS[name]
    viewer, user = "roles/storage.objectViewer", "roles/storage.objectUser"
    if port == "objects":
        return _objects(
            name,
            viewer,
            user,
            "bucket:claims",
            {"uploads": "bucket:uploads", "thumbnails": "bucket:thumbnails"},
        )
    firestore = {
        "index": {"create", "update"},
        "idempotency": {"create", "delete", "get", "update"},
        "orders": {
            "consumer": {"create", "get", "update"},
            "http": {"create", "get", "update"},
            "read": {"get"},
            "schedule": {"get", "list", "update"},
        }[kind],
    }
    if port in firestore:
        return {(f"datastore.entities.{p}", "firestore") for p in firestore[port]}
    accessor, publisher = "roles/secretmanager.secretAccessor", "roles/pubsub.publisher"
    return {
        "publisher": {(publisher, f"topic:events:{name}")},
        "payments": {(accessor, "secret:stripe")} if PAYMENTS["provider"] == "stripe" else set(),
        "mailer": {(accessor, "secret:smtp")},
        "dead_letters": {(publisher, f"topic:dlq:{name}")} if kind == "consumer" else set(),
        "webhook_secrets": {(accessor, "secret:webhook")},
    }[port]


def azure_expected(name: str, port: str) -> set[Grant]:
    kind = KINDS[name]
    reader, contributor = "Storage Blob Data Reader", "Storage Blob Data Contributor"
    if port == "objects":
        return _objects(
            name,
            reader,
            contributor,
            "container:claims",
            {"uploads": "container:uploads", "thumbnails": "container:thumbnails"},
        )
    table = "Storage Table Data Contributor"
    secrets = "Key Vault Secrets User"
    return {
        "index": {(table, "table:index")},
        "idempotency": {(table, "table:idempotency")},
        "orders": {("Storage Table Data Reader" if kind == "read" else table, "table:orders")},
        "publisher": {("EventGrid Data Sender", f"topic:events:{name}")},
        "payments": {(secrets, "secret:stripe")} if PAYMENTS["provider"] == "stripe" else set(),
        "mailer": {(secrets, "secret:smtp")},
        "dead_letters": {("Storage Queue Data Message Sender", f"queue:poison:{name}")}
        if kind == "consumer"
        else set(),
        "webhook_secrets": {(secrets, "secret:webhook")},
    }[port]


# --- evaluating grants.tf with the real Terraform -------------------------------------------


def _catalog_inputs() -> dict[str, Any]:
    events = {name: {"type": e["type"]} for name, e in CATALOG["events"].items()}
    consumers = {
        name: {
            k: c[k]
            for k in (
                "group",
                "subscribes",
                "max_delivery_attempts",
                "timeout_seconds",
                "memory_mb",
                "batch_size",
            )
        }
        for name, c in CATALOG["consumers"].items()
    }
    endpoints = {
        name: {
            k: e[k] for k in ("group", "method", "path", "emits", "timeout_seconds", "memory_mb")
        }
        for name, e in CATALOG.get("http_endpoints", {}).items()
    }
    schedules = {
        name: {k: s[k] for k in ("group", "every_minutes", "emits", "timeout_seconds", "memory_mb")}
        for name, s in CATALOG.get("schedules", {}).items()
    }
    return {
        "events": events,
        "consumers": consumers,
        "http_endpoints": endpoints,
        "schedules": schedules,
        "function_needs": NEEDS,
    }


def _inputs(cloud: str) -> dict[str, Any]:
    base = _catalog_inputs() | {"payment_provider": "stripe"}
    packages = {"images": "images.zip", "orders": "orders.zip"}
    if cloud == "aws":
        return base | {
            "name_prefix": "eventsuite",
            "storage": CATALOG["storage"],
            "package_paths": packages,
            "mail_from": "orders@example.com",
        }
    if cloud == "gcp":
        return base | {
            "project_id": "demo-project",
            "region": "europe-west1",
            "name_prefix": "eventsuite",
            "storage": CATALOG["storage"],
            "package_paths": packages,
            "mail_from": "orders@example.com",
            "smtp_password_secret_id": "smtp-password",
        }
    azure = dict(base)
    azure["consumers"] = {
        name: {k: c[k] for k in ("subscribes", "max_delivery_attempts")}
        for name, c in CATALOG["consumers"].items()
    }
    azure["http_endpoints"] = {
        name: {k: e[k] for k in ("method", "path")}
        for name, e in CATALOG.get("http_endpoints", {}).items()
    }
    azure["schedules"] = {
        name: {k: s[k] for k in ("every_minutes", "group", "emits")}
        for name, s in CATALOG.get("schedules", {}).items()
    }
    return azure | {
        "name_prefix": "evsuite",
        "location": "westeurope",
        "mail_from": "orders@example.com",
        "smtp": {"host": "smtp.example.com", "username": "eventsuite"},
        "orders_api_auth": {"mode": "function_key"},
    }


def evaluate(cloud: str, expression: str, tmp_path: Path, **overrides: Any) -> Any:
    """Evaluate an expression over the module's grants.tf and variables.tf (terraform console)."""
    terraform = tfcheck.find_terraform()
    if terraform is None:
        missing_tool("terraform is not installed (needed to evaluate grants.tf)")
    work = tmp_path / cloud
    work.mkdir(exist_ok=True)
    for name in ("grants.tf", "variables.tf"):
        shutil.copy2(MODULES / f"{cloud}-suite" / name, work / name)
    inputs = _inputs(cloud) | overrides
    (work / "inputs.tfvars.json").write_text(json.dumps(inputs), encoding="utf-8")
    result = subprocess.run(
        [str(terraform), "console", "-var-file=inputs.tfvars.json"],
        cwd=work,
        input=f"jsonencode({expression})\n",
        capture_output=True,
        text=True,
        timeout=120,
        env={
            "PATH": "/usr/bin:/bin",
            "TF_IN_AUTOMATION": "1",
            "CHECKPOINT_DISABLE": "1",
            "HOME": str(tmp_path),
        },
        check=False,
    )
    assert result.returncode == 0 and "Error" not in result.stderr, result.stderr
    (line,) = [ln for ln in result.stdout.splitlines() if ln.startswith('"')]
    return json.loads(json.loads(line))


def _compare(
    cloud: str, actual: dict[str, set[Grant]], expected_of: Callable[[str, str], set[Grant]]
) -> list[str]:
    problems = []
    assert set(actual) == set(KINDS), (
        f"{cloud}: grants for {sorted(actual)}, catalog functions {sorted(KINDS)}"
    )
    for name in sorted(KINDS):
        expected: set[Grant] = set()
        for port in FUNCTION_NEEDS[name]["ports"]:
            expected |= expected_of(name, port)
        for permission, target in sorted(actual[name] - expected):
            problems.append(
                f"{cloud}: {name} is granted {permission} on {target}, which no port of it needs"
            )
        for permission, target in sorted(expected - actual[name]):
            problems.append(f"{cloud}: {name} lacks {permission} on {target}, which its ports need")
    return problems


def test_needs_cover_every_catalog_function() -> None:
    assert set(FUNCTION_NEEDS) == set(KINDS)
    for name, spec in FUNCTION_NEEDS.items():
        declared = set(CATALOG.get("http_endpoints", {}).get(name, {}).get("emits", [])) | set(
            CATALOG.get("schedules", {}).get(name, {}).get("emits", [])
        )
        assert set(spec["emits"]) <= set(CATALOG["events"]), name
        if KINDS[name] != "consumer":
            assert set(spec["emits"]) == declared, (
                f"{name} emits {spec['emits']}, the catalog says {sorted(declared)}"
            )
        assert bool(spec["emits"]) == ("publisher" in spec["ports"]), (
            f"{name}: emits without publisher or the reverse"
        )


def test_aws_grants_are_exactly_the_ports(tmp_path: Path) -> None:
    grants = evaluate("aws", "local.function_grants", tmp_path)
    actual = {
        name: {(a, t) for g in gs for a in g["actions"] for t in g["targets"]}
        for name, gs in grants.items()
    }
    problems = _compare("aws", actual, aws_expected)
    types = {name: e["type"] for name, e in CATALOG["events"].items()}
    for name, gs in grants.items():
        sids = [g["sid"] for g in gs]
        assert len(sids) == len(set(sids)), f"aws: {name} has duplicate statement ids {sids}"
        for g in gs:
            if g["actions"] == ["events:PutEvents"]:
                allowed = g["conditions"].get("StringEquals", {}).get("events:detail-type")
                emitted = sorted(types[e] for e in FUNCTION_NEEDS[name]["emits"])
                if allowed != emitted:
                    problems.append(
                        f"aws: {name} may PutEvents detail-types {allowed}, it emits {emitted}"
                    )
            sender_only = {"StringEquals": {"ses:FromAddress": ["orders@example.com"]}}
            if g["actions"][0].startswith("ses:") and g["conditions"] != sender_only:
                problems.append(f"aws: {name} may send mail as anyone: {g['conditions']}")
    assert not problems, "\n".join(problems)


def test_aws_smtp_grants_are_exactly_the_ports(tmp_path: Path) -> None:
    smtp = {"host": "smtp.example.com", "username": "eventsuite"}
    grants = evaluate("aws", "local.function_grants", tmp_path, mailer="smtp", smtp=smtp)
    actual = {
        name: {(a, t) for g in gs for a in g["actions"] for t in g["targets"]}
        for name, gs in grants.items()
    }
    AWS_MAILER["mode"] = "smtp"
    try:
        problems = _compare("aws", actual, aws_expected)
    finally:
        AWS_MAILER["mode"] = "ses"
    assert not problems, "\n".join(problems)


def test_simulated_payments_read_no_secret_on_any_cloud(tmp_path: Path) -> None:
    PAYMENTS["provider"] = "simulated"
    try:
        problems: list[str] = []
        for cloud, expected_of in (("aws", aws_expected), ("gcp", gcp_expected)):
            grants = evaluate(
                cloud, "local.function_grants", tmp_path, payment_provider="simulated"
            )
            if cloud == "aws":
                actual = {
                    n: {(a, t) for g in gs for a in g["actions"] for t in g["targets"]}
                    for n, gs in grants.items()
                }
            else:
                actual = {
                    n: {
                        (p, "firestore")
                        for g in gs
                        if g["target"] == "firestore"
                        for p in g["permissions"]
                    }
                    | {(g["role"], g["target"]) for g in gs if g["target"] != "firestore"}
                    for n, gs in grants.items()
                }
            problems += _compare(cloud, actual, expected_of)
        app_grants = evaluate("azure", "local.app_grants", tmp_path, payment_provider="simulated")
        actual = {a: {(g["role"], g["scope"]) for g in gs.values()} for a, gs in app_grants.items()}
        problems += _compare("azure", actual, azure_expected)
    finally:
        PAYMENTS["provider"] = "stripe"
    assert not problems, "\n".join(problems)


def test_only_the_charging_functions_are_told_where_the_stripe_key_is(tmp_path: Path) -> None:
    charging = sorted(n for n, s in FUNCTION_NEEDS.items() if "payments" in s["ports"])
    assert charging == ["payments"]
    assert sorted(evaluate("aws", "local.payment_functions", tmp_path)) == charging
    assert sorted(evaluate("gcp", "local.stripe_key_readers", tmp_path)) == charging
    azure = evaluate("azure", "local.app_reads_secret", tmp_path)
    assert sorted(app for app, secret in azure.items() if secret["stripe"]) == charging


def test_aws_mail_password_only_where_mail_is_sent(tmp_path: Path) -> None:
    mailers = evaluate("aws", "local.smtp_mail_functions", tmp_path)
    assert sorted(mailers) == sorted(n for n, s in FUNCTION_NEEDS.items() if "mailer" in s["ports"])


def test_gcp_grants_are_exactly_the_ports(tmp_path: Path) -> None:
    grants = evaluate("gcp", "local.function_grants", tmp_path)
    actual = {
        name: {(p, "firestore") for g in gs if g["target"] == "firestore" for p in g["permissions"]}
        | {(g["role"], g["target"]) for g in gs if g["target"] != "firestore"}
        for name, gs in grants.items()
    }
    assert not (problems := _compare("gcp", actual, gcp_expected)), "\n".join(problems)


def test_gcp_every_producer_has_its_own_topic_for_what_it_emits(tmp_path: Path) -> None:
    # Subscriptions take from a producer's topic only the types it emits (main.tf), and only the
    # producer may publish there (its publisher port's grant, above).
    types = evaluate("gcp", "local.producer_event_types", tmp_path)
    topics = evaluate("gcp", "local.producer_topics", tmp_path)
    producers = {n for n, spec in FUNCTION_NEEDS.items() if "publisher" in spec["ports"]}
    assert set(types) == set(topics) == producers
    assert len(set(topics.values())) == len(topics)
    for name in producers:
        emitted = sorted(CATALOG["events"][e]["type"] for e in FUNCTION_NEEDS[name]["emits"])
        assert types[name] == emitted, f"gcp: {name}'s topic carries {types[name]}, emits {emitted}"


def test_gcp_only_producers_are_told_a_topic(tmp_path: Path) -> None:
    env = evaluate("gcp", "local.producer_env", tmp_path)
    topics = evaluate("gcp", "local.producer_topics", tmp_path)
    for name in KINDS:
        expected = {"EVENTSUITE_EVENTS_TOPIC": topics[name]} if name in topics else {}
        assert env[name] == expected, f"gcp: {name} gets {env[name]}"


def test_gcp_firestore_roles_hold_only_the_ports_permissions(tmp_path: Path) -> None:
    roles = evaluate("gcp", "local.function_firestore_permissions", tmp_path)
    for name in KINDS:
        expected = sorted(
            {
                p
                for port in FUNCTION_NEEDS[name]["ports"]
                for p, t in gcp_expected(name, port)
                if t == "firestore"
            }
        )
        assert roles.get(name, []) == expected, (
            f"gcp: {name}'s Firestore role holds {roles.get(name)}, its ports need {expected}"
        )


def test_azure_every_function_has_its_own_app_and_identity(tmp_path: Path) -> None:
    apps = evaluate("azure", "local.apps", tmp_path)
    assert apps == {name: [name] for name in KINDS}


def test_azure_each_app_runs_only_its_own_functions(tmp_path: Path) -> None:
    disabled = evaluate("azure", "local.app_disabled_functions", tmp_path)
    for app, functions in disabled.items():
        assert functions == sorted(set(KINDS) - {app}), f"azure: app {app} disables {functions}"
    grouped = {"orders": ["payments", "notifier"]} | {
        name: [name] for name in KINDS if name not in ("payments", "notifier")
    }
    disabled = evaluate("azure", "local.app_disabled_functions", tmp_path, function_apps=grouped)
    assert disabled["orders"] == sorted(set(KINDS) - {"payments", "notifier"})


def test_azure_grants_are_exactly_the_ports(tmp_path: Path) -> None:
    app_grants = evaluate("azure", "local.app_grants", tmp_path)
    actual = {
        app: {(g["role"], g["scope"]) for g in grants.values()}
        for app, grants in app_grants.items()
    }
    assert not (problems := _compare("azure", actual, azure_expected)), "\n".join(problems)


def test_azure_every_producer_has_its_own_topic_for_what_it_emits(tmp_path: Path) -> None:
    types = evaluate("azure", "local.producer_event_types", tmp_path)
    producers = {n for n, spec in FUNCTION_NEEDS.items() if "publisher" in spec["ports"]}
    assert set(types) == producers
    for name in producers:
        emitted = sorted(CATALOG["events"][e]["type"] for e in FUNCTION_NEEDS[name]["emits"])
        assert types[name] == emitted, f"azure: {name}'s topic: {types[name]}, emits {emitted}"
    assert evaluate("azure", "local.apps_with_two_producers", tmp_path) == []


def test_azure_entra_id_guards_every_endpoint_but_the_signed_webhook(tmp_path: Path) -> None:
    entra = {"mode": "entra", "client_id": "11111111-2222-3333-4444-555555555555"}
    apps = evaluate("azure", "local.entra_apps", tmp_path, orders_api_auth=entra)
    signed = {n for n, spec in FUNCTION_NEEDS.items() if "webhook_secrets" in spec["ports"]}
    endpoints = set(CATALOG.get("http_endpoints", {}))
    assert set(apps) == endpoints - signed and all(paths == [] for paths in apps.values())
    # Grouped with the webhook, the app excludes the webhook's path from authentication.
    grouped = {"http": sorted(endpoints)} | {n: [n] for n in KINDS if n not in endpoints}
    apps = evaluate(
        "azure", "local.entra_apps", tmp_path, orders_api_auth=entra, function_apps=grouped
    )
    assert apps == {"http": sorted(CATALOG["http_endpoints"][n]["path"] for n in signed)}
    assert evaluate("azure", "local.entra_apps", tmp_path) == {}  # function_key: opted out


def test_azure_secrets_only_in_apps_that_read_them(tmp_path: Path) -> None:
    reads = evaluate("azure", "local.app_reads_secret", tmp_path)
    for name, secret in reads.items():
        ports = FUNCTION_NEEDS[name]["ports"]
        assert secret == {
            "webhook": "webhook_secrets" in ports,
            "smtp": "mailer" in ports,
            "stripe": "payments" in ports,
        }, name
    simulated = evaluate("azure", "local.app_reads_secret", tmp_path, payment_provider="simulated")
    assert not any(secret["stripe"] for secret in simulated.values())


# --- the IAM resources bind those grants and nothing else -----------------------------------


def _local(module: Any, name: str) -> str:
    (found,) = [b.attrs[name].text for b in module.top("locals") if name in b.attrs]
    return str(found)


def _resources(module: Any, rtype: str) -> list[Any]:
    return [b for b in module.top("resource") if b.labels[0] == rtype]


def test_aws_function_policies_are_baseline_plus_port_grants() -> None:
    module = tfcheck.load_module(MODULES / "aws-suite")
    (policy,) = [r for r in _resources(module, "aws_iam_role_policy") if r.labels[1] == "function"]
    assert "local.function_statements[each.key]" in policy.attrs["policy"].text
    statements = _local(module, "function_statements")
    assert "for g in local.function_grants[name]" in statements
    baseline = {
        "OwnLogGroup",
        "SuiteKeyViaServices",
        "OwnQueueConsume",
        "OwnScheduleDeadLetterQueueSend",
    }
    assert set(re.findall(r'Sid\s*=\s*"(\w+)"', statements)) == baseline
    # The key is usable only through the services that hold the suite's data.
    assert '"kms:ViaService"' in statements
    # Only X-Ray is attached besides: no managed policy widens a function role.
    attachments = [
        r
        for r in _resources(module, "aws_iam_role_policy_attachment")
        if "aws_iam_role.function" in r.attrs["role"].text
    ]
    assert [a.attrs["policy_arn"].text for a in attachments] == [
        '"arn:${local.partition}:iam::aws:policy/AWSXRayDaemonWriteAccess"'
    ]


def test_gcp_function_accounts_get_only_derived_grants() -> None:
    module = tfcheck.load_module(MODULES / "gcp-suite")
    derived = (
        "local.function_role_grants",
        "local.function_firestore_permissions",
        "local.webhook_secret_readers",
        "local.smtp_mail_functions",
        "local.stripe_key_readers",
    )
    for res in module.top("resource"):
        member = res.attrs.get("member")
        if (
            not res.labels[0].endswith("_iam_member")
            or member is None
            or "google_service_account.function[" not in member.text
        ):
            continue
        for_each = res.attrs["for_each"].text
        assert any(d in for_each for d in derived), (
            f"{res.labels}: for_each {for_each} is not derived from needs.json"
        )
    for res in module.top("resource"):
        if (
            res.labels[0] == "google_project_iam_member"
            and "google_service_account.function[" in res.attrs["member"].text
        ):
            assert "condition" in [b.type for b in res.blocks], (
                f"{res.labels}: a project-level grant without a database condition"
            )


def test_azure_app_identities_get_baseline_plus_port_grants() -> None:
    module = tfcheck.load_module(MODULES / "azure-suite")
    (assignment,) = [
        r for r in _resources(module, "azurerm_role_assignment") if r.labels[1] == "function"
    ]
    assert assignment.attrs["for_each"].text == "local.app_role_assignments"
    assignments = _local(module, "app_role_assignments")
    assert "values(local.app_grants[app])" in assignments
    # The baseline: queue trigger, package (read only), telemetry, host storage.
    assert set(re.findall(r'role\s*=\s*"([^"]+)"', assignments)) == {
        "Storage Queue Data Reader",
        "Storage Queue Data Message Processor",
        "Storage Queue Data Message Sender",
        "Storage Blob Data Reader",
        "Monitoring Metrics Publisher",
        "Storage Blob Data Owner",
    }
    assert "package-reader" in assignments and "package-contributor" not in assignments
