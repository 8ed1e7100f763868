"""Each deployed function's wiring, read from the Terraform plan (not from Python).

One question, one answer shape: ``load(cloud, variables)`` -> ``{function name: Wiring}``
with the handler (AWS) or entry point (GCP) or function name (Azure), the runtime, the
environment variables, memory and timeout.

``load`` plans the root with the real ``terraform`` against the stand-in providers
(:mod:`tests.terraform.plans`, ``resolved=True``: cached on disk by its inputs) and
``from_plan`` reads the planned resources: ``aws_lambda_function.function[*]``,
``google_cloudfunctions2_function.{consumer,http,schedule}[*]``,
``azurerm_function_app_flex_consumption.this[*]`` (+ ``azurerm_storage_queue``).

What a deployment decides (a placeholder ``mock-<attr>-<hash>`` in a resolved plan, or a
plan-known name such as a bucket or table name) is found by value among the managed
resources and becomes ``Wiring.unknown[variable] = 'aws_sqs_queue.dlq["indexer"].url'``
(module prefix stripped): the tests fill it from their emulator stack by that reference, so
a renamed resource or attribute fails to resolve.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
TERRAFORM = REPO / "terraform"
IN_CI = os.environ.get("CI", "").lower() == "true"

PLACEHOLDER = re.compile(r"mock-(?P<attribute>[a-z0-9_]+)-(?P<digest>[0-9a-f]{12})")
# The attributes that carry a resource's own name, best first. ``name`` before ``bucket``:
# GCP's IAM members and notifications hold their bucket's name in ``bucket``.
NAME_ATTRIBUTES = ("name", "bucket", "url", "arn", "id")


@dataclass(frozen=True)
class Wiring:
    """How the platform starts one function, as the Terraform plan declares it."""

    cloud: str
    name: str  # the catalog name: consumer, endpoint or schedule
    kind: str  # consumer | http | schedule
    group: str  # the code package (zip) it runs
    handler: str  # AWS handler string, GCP entry point, Azure function name
    runtime: str  # "python3.12" (AWS), "python312" (GCP), "3.12" (Azure)
    environment: Mapping[str, str]  # variables whose values do not depend on the deployment
    unknown: Mapping[str, str] = field(default_factory=dict)  # variable -> resource reference
    planned: Mapping[str, str] = field(default_factory=dict)  # variable -> the plan's value
    memory_mb: int | None = None
    timeout_seconds: int | None = None
    signature_type: str | None = None  # GCP: cloudevent | http
    architecture: str | None = None  # AWS: arm64 | x86_64
    app: str | None = None  # Azure: the function app that runs it (the others disable it)
    queue: str | None = None  # Azure consumers: the Storage queue Terraform creates for it
    storage_identity: bool | None = None  # Azure: host storage over Entra ID (else a key)

    @property
    def variable_names(self) -> set[str]:
        """Every environment variable the platform sets for this function."""
        return {*self.environment, *self.unknown}

    @property
    def python_version(self) -> str:
        """``3.12`` from ``python3.12`` / ``python312`` / ``3.12``."""
        digits = self.runtime.removeprefix("python")
        return digits if "." in digits else f"{digits[0]}.{digits[1:]}"


# -- tfvars ----------------------------------------------------------------------------------
def hcl_value(value: Any) -> str:
    """A Python value as an HCL expression (strings JSON-quoted, templates escaped)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return json.dumps(value)
    if isinstance(value, str):
        return json.dumps(value).replace("${", "$${").replace("%{", "%%{")
    if isinstance(value, list | tuple):
        return "[" + ", ".join(hcl_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{json.dumps(k)} = {hcl_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"no HCL for {value!r}")


def tfvars(variables: Mapping[str, Any]) -> str:
    """A tfvars text, stable for the same variables (so the plan cache answers)."""
    return "".join(f"{name} = {hcl_value(variables[name])}\n" for name in sorted(variables))


# -- references by value ---------------------------------------------------------------------
def reference(resource: Mapping[str, Any]) -> str:
    """``type.name[index]`` without the module path."""
    index = f"[{json.dumps(resource['index'])}]" if "index" in resource else ""
    return f"{resource['type']}.{resource['name']}{index}"


class References:
    """Which managed resource attribute a plan value is: placeholders and plan-known names."""

    def __init__(self, plan: Mapping[str, Any]) -> None:
        from tests.terraform.plans import resources

        self.placeholders: dict[str, list[tuple[str, bool]]] = {}
        self.names: dict[str, list[tuple[int, str]]] = {}
        for resource in resources(dict(plan)):
            values, ref = resource["values"], reference(resource)
            for attribute, value in values.items():
                match = PLACEHOLDER.fullmatch(value) if isinstance(value, str) else None
                if match and match["attribute"] == attribute:
                    own = any(  # its other computed attributes carry the same digest
                        isinstance(v, str) and v.endswith(f"-{match['digest']}")
                        for a, v in values.items()
                        if a != attribute and PLACEHOLDER.fullmatch(str(v))
                    )
                    self.placeholders.setdefault(value, []).append((f"{ref}.{attribute}", own))
            for rank, attribute in enumerate(NAME_ATTRIBUTES):
                value = values.get(attribute)
                if isinstance(value, str) and value and not PLACEHOLDER.fullmatch(value):
                    self.names.setdefault(value, []).append((rank, f"{ref}.{attribute}"))

    def owner(self, placeholder: str, where: str) -> str:
        """The one resource attribute a placeholder stands for."""
        found = self.placeholders.get(placeholder, [])
        owners = [r for r, own in found if own] or [r for r, _ in found]
        if len(owners) != 1:
            whose = f"the value of several resources: {owners}" if owners else "owned by none"
            raise ValueError(f"{where}: {placeholder!r} is {whose}")
        return owners[0]

    def of(self, value: str, where: str) -> str | None:
        """The ``type.name[key].attribute`` that ``value`` is (``...${ref}...`` for a value built
        from one), or None: the value does not depend on the deployment."""
        if PLACEHOLDER.fullmatch(value):
            return self.owner(value, where)
        if value in self.names:
            best = min(rank for rank, _ in self.names[value])
            owners = [r for rank, r in self.names[value] if rank == best]
            if len(owners) != 1:
                raise ValueError(f"{where}: {value!r} names several resources: {owners}")
            return owners[0]
        if PLACEHOLDER.search(value):  # built from one: the template with its references
            return PLACEHOLDER.sub(lambda m: "${" + self.owner(m[0], where) + "}", value)
        if "mock-" in value:
            raise ValueError(f"{where}: {value!r} comes from no managed resource of the plan")
        return None


def _split_environment(
    variables: Mapping[str, Any] | None, references: References, where: str
) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    if variables is None:
        raise ValueError(f"{where}: no environment in the plan")
    nulls = sorted(k for k, v in variables.items() if v is None)
    if nulls:
        raise ValueError(f"{where}: environment variables set to null: {', '.join(nulls)}")
    known: dict[str, str] = {}
    unknown: dict[str, str] = {}
    planned: dict[str, str] = {}
    for name, value in sorted(variables.items()):
        ref = references.of(str(value), f"{where} {name}")
        if ref is None:
            known[name] = str(value)
        else:
            unknown[name], planned[name] = ref, str(value)
    return known, unknown, planned


def _resources(plan: Mapping[str, Any], type_: str, name: str) -> list[dict[str, Any]]:
    from tests.terraform.plans import resources

    return [r for r in resources(dict(plan), type_) if r["name"] == name]


def _kinds() -> dict[str, str]:
    from shared.catalog import default_catalog

    catalog = default_catalog()
    return {
        **dict.fromkeys(catalog.consumers, "consumer"),
        **dict.fromkeys(catalog.endpoints, "http"),
        **dict.fromkeys(catalog.schedules, "schedule"),
    }


# -- per cloud -------------------------------------------------------------------------------
def _aws(plan: Mapping[str, Any], references: References) -> dict[str, Wiring]:
    kinds = _kinds()
    wirings: dict[str, Wiring] = {}
    for resource in _resources(plan, "aws_lambda_function", "function"):
        key, values = resource["index"], resource["values"]
        where = reference(resource)
        (environment,) = values.get("environment") or [{"variables": None}]
        known, unknown, planned = _split_environment(environment["variables"], references, where)
        wirings[key] = Wiring(
            cloud="aws",
            name=key,
            kind=kinds.get(key, "unknown"),
            group=Path(values["filename"]).stem,
            handler=values["handler"],
            runtime=values["runtime"],
            environment=known,
            unknown=unknown,
            planned=planned,
            memory_mb=values["memory_size"],
            timeout_seconds=values["timeout"],
            architecture=values["architectures"][0],
        )
    return wirings


GCP_FUNCTIONS = ("consumer", "http", "schedule")
# Gen2 Terraform does not name a signature type: functions-framework takes it from the entry
# point's decorator (@cloud_event for consumers, which Pub/Sub push and Eventarc feed; @http
# for endpoints and schedules).
GCP_SIGNATURES = {"consumer": "cloudevent", "http": "http", "schedule": "http"}


def _gcp(plan: Mapping[str, Any], references: References) -> dict[str, Wiring]:
    wirings: dict[str, Wiring] = {}
    for kind in GCP_FUNCTIONS:
        for resource in _resources(plan, "google_cloudfunctions2_function", kind):
            key, values = resource["index"], resource["values"]
            (build,), (service,) = values["build_config"], values["service_config"]
            (source,) = build["source"][0]["storage_source"]  # <group>-<content hash>.zip
            known, unknown, planned = _split_environment(
                service["environment_variables"], references, reference(resource)
            )
            memory = str(service["available_memory"])
            wirings[key] = Wiring(
                cloud="gcp",
                name=key,
                kind=kind,
                group=source["object"].rsplit("-", 1)[0],
                handler=build["entry_point"],
                runtime=build["runtime"],
                environment=known,
                unknown=unknown,
                planned=planned,
                memory_mb=int(memory.removesuffix("Mi")) if memory.endswith("Mi") else None,
                timeout_seconds=service["timeout_seconds"],
                signature_type=GCP_SIGNATURES[kind],
            )
    return wirings


def _azure_queues(plan: Mapping[str, Any]) -> dict[str, str]:
    """Consumer -> the queue its events arrive on (the one an Event Grid subscription feeds)."""
    from tests.terraform.plans import resources

    fed = {
        endpoint["queue_name"]
        for type_ in (
            "azurerm_eventgrid_event_subscription",
            "azurerm_eventgrid_system_topic_event_subscription",
        )
        for r in resources(dict(plan), type_)
        for endpoint in r["values"].get("storage_queue_endpoint") or []
    }
    return {
        (r["values"].get("metadata") or {}).get("consumer", ""): r["values"]["name"]
        for r in _resources(plan, "azurerm_storage_queue", "this")
        if r["values"]["name"] in fed
    }


def _azure(plan: Mapping[str, Any], references: References) -> dict[str, Wiring]:
    kinds = _kinds()  # the plan names apps and disabled functions; the catalog the kinds
    queues = _azure_queues(plan)
    wirings: dict[str, Wiring] = {}
    for resource in _resources(plan, "azurerm_function_app_flex_consumption", "this"):
        app, values = resource["index"], resource["values"]
        known, unknown, planned = _split_environment(
            values["app_settings"], references, reference(resource)
        )
        disabled = {
            name.removeprefix("AzureWebJobs.").removesuffix(".Disabled")
            for name, value in known.items()
            if name.startswith("AzureWebJobs.") and name.endswith(".Disabled") and value == "true"
        }
        for function in sorted(set(kinds) - disabled):
            if function in wirings:
                raise ValueError(
                    f"{function}: enabled in two apps ({wirings[function].app}, {app})"
                )
            wirings[function] = Wiring(
                cloud="azure",
                name=function,
                kind=kinds[function],
                group="app",
                handler=function,
                runtime=values["runtime_version"],
                environment=known,
                unknown=unknown,
                planned=planned,
                memory_mb=values["instance_memory_in_mb"],
                app=app,
                queue=queues.get(function),
                storage_identity=values["storage_authentication_type"] == "SystemAssignedIdentity",
            )
    return wirings


READERS = {"aws": _aws, "gcp": _gcp, "azure": _azure}


def from_plan(cloud: str, plan: Mapping[str, Any]) -> dict[str, Wiring]:
    """Every function of ``cloud`` in a resolved plan (``terraform show -json``)."""
    return READERS[cloud](plan, References(plan))


def planned(
    cloud: str, variables: Mapping[str, Any] | None = None, terraform: Path = TERRAFORM
) -> dict[str, Any]:
    """The resolved plan of the ``cloud`` root with these root variables (cached on disk).
    ``terraform``: another copy of the terraform/ directory (its parent holds the files the
    roots read, as in the repository). Raises ``plans.TerraformUnavailable``.

    ``payment_provider`` (a required root input) is ``simulated`` unless given: the packages run
    under the platforms' runtimes here without Stripe (its adapter has its own tests)."""
    from tests.terraform import plans

    text = tfvars({"payment_provider": "simulated", **(variables or {})})
    if terraform.resolve() == TERRAFORM:
        return plans.plan_text(cloud, text, resolved=True)
    return plans.plan_text(cloud, text, resolved=True, repo=terraform.parent)


def load(
    cloud: str, variables: Mapping[str, Any] | None = None, terraform: Path = TERRAFORM
) -> dict[str, Wiring]:
    """Every function the plan of the ``cloud`` root declares, with the root ``variables``
    (a tfvars). Without terraform or the stand-in providers: a skip (a failure under CI=true)."""
    import pytest

    from tests.terraform import plans

    try:
        plan = planned(cloud, variables, terraform)
    except plans.TerraformUnavailable as exc:
        if IN_CI:
            pytest.fail(f"{exc} (CI=true: a missing tool fails; `make setup-iac`)")
        pytest.skip(str(exc))
    return from_plan(cloud, plan)
