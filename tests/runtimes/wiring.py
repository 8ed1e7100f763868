"""Each deployed function's wiring, read from the Terraform configuration (not from Python).

One question, one answer shape: ``load(cloud, variables)`` -> ``{function name: Wiring}``
with the handler (AWS) or entry point (GCP) or function name (Azure), the runtime, the
environment variables (static values, and the names whose values are only known after
apply, with the expression that sets them), memory and timeout.

Today the answer comes from the HCL of the root and its module (python-hcl2 plus the small
evaluator in :mod:`tests.runtimes.hcl_eval`), evaluated the way ``terraform plan`` would with
the given root variables. Where the plan JSON plugs in: ``load`` is the only function the
tests call; a ``from_plan(cloud, plan_json)`` with the same result replaces ``_from_hcl`` by
reading ``planned_values.root_module.child_modules[].resources[]`` of type
``aws_lambda_function`` / ``google_cloudfunctions2_function`` /
``azurerm_function_app_flex_consumption`` (``values.handler``, ``runtime``, ``memory_size``,
``timeout``, ``environment[0].variables``; ``build_config[0].entry_point``,
``service_config[0].environment_variables``; ``app_settings``, ``runtime_version``), with
each ``after_unknown`` attribute of ``resource_changes[]`` becoming an entry of
``Wiring.unknown``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import hcl2

from tests.runtimes.hcl_eval import Scope, Unknown, evaluate, parse_value

REPO = Path(__file__).resolve().parents[2]
TERRAFORM = REPO / "terraform"


@dataclass(frozen=True)
class Wiring:
    """How the platform starts one function, as Terraform declares it."""

    cloud: str
    name: str  # the catalog name: consumer, endpoint or schedule
    kind: str  # consumer | http | schedule
    group: str  # the code package (zip) it runs
    handler: str  # AWS handler string, GCP entry point, Azure function name
    runtime: str  # "python3.12" (AWS), "python312" (GCP), "3.12" (Azure)
    environment: Mapping[str, str]  # variables whose values are known at plan time
    unknown: Mapping[str, str] = field(default_factory=dict)  # name -> expression (after apply)
    unknown_parts: tuple[str, ...] = ()  # merged maps whose keys are known only after apply
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


@cache
def _parsed(path: Path, mtime: float) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        return dict(hcl2.load(handle))


def _files(directory: Path) -> Iterator[dict[str, Any]]:
    for path in sorted(directory.glob("*.tf")):
        yield _parsed(path, path.stat().st_mtime)


class LazyLocals(Mapping[str, Any]):
    """A configuration's locals, each evaluated on first use."""

    def __init__(self, expressions: Mapping[str, Any], scope: Scope) -> None:
        self.expressions, self.scope, self.values = expressions, scope, dict[str, Any]()

    def __getitem__(self, name: str) -> Any:
        if name not in self.values:
            self.values[name] = evaluate(parse_value(self.expressions[name]), self.scope)
        return self.values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.expressions)

    def __len__(self) -> int:
        return len(self.expressions)


class Configuration:
    """One Terraform module directory, evaluated with given input variables."""

    def __init__(self, directory: Path, inputs: Mapping[str, Any]) -> None:
        self.directory = directory
        self.blocks = list(_files(directory))
        defaults: dict[str, Any] = {}
        for block in self.blocks:
            for variable in block.get("variable", []):
                for name, body in variable.items():
                    key = name.strip('"')
                    if "default" not in body:  # required: unknown unless the caller sets it
                        defaults[key] = Unknown(f"var.{key}")
                    elif body["default"] is None:
                        defaults[key] = None
                    else:
                        defaults[key] = evaluate(parse_value(body["default"]), Scope({}, directory))
        variables = {**defaults, **inputs}
        expressions = {
            k: v
            for block in self.blocks
            for local in block.get("locals", [])
            for k, v in local.items()
        }
        path = {"root": str(directory), "module": str(directory), "cwd": str(directory)}
        self.scope = Scope({"var": variables, "path": path}, directory)
        self.locals = LazyLocals(expressions, self.scope)
        self.scope.names["local"] = self.locals

    def resources(self, rtype: str) -> dict[str, dict[str, Any]]:
        """The resources of a type by name (their raw python-hcl2 bodies)."""
        found: dict[str, dict[str, Any]] = {}
        for block in self.blocks:
            for resource in block.get("resource", []):
                for kind, named in resource.items():
                    if kind.strip('"') == rtype:
                        found.update({n.strip('"'): body for n, body in named.items()})
        return found

    def module_call(self, name: str) -> tuple[Path, dict[str, Any]]:
        """A module call's source directory and its evaluated arguments."""
        for block in self.blocks:
            for module in block.get("module", []):
                body = module.get(f'"{name}"')
                if body is None:
                    continue
                source = evaluate(parse_value(body["source"]), self.scope)
                arguments = {
                    k: evaluate(parse_value(v), self.scope)
                    for k, v in body.items()
                    if k not in ("source", "providers", "depends_on", "count", "for_each")
                }
                return (self.directory / source).resolve(), arguments
        raise KeyError(f"{self.directory}: no module {name!r}")

    def instances(self, rtype: str, name: str) -> Iterator[tuple[str, Scope, dict[str, Any]]]:
        """Each ``for_each`` instance of a resource: (key, scope with ``each``, body)."""
        body = self.resources(rtype)[name]
        collection = evaluate(parse_value(body["for_each"]), self.scope)
        if isinstance(collection, Unknown):
            raise ValueError(f"{rtype}.{name}: for_each is unknown at plan time: {collection}")
        for key, value in collection.items():
            yield key, self.scope.child(each={"key": key, "value": value}), body

    def value(self, body: Any, scope: Scope) -> Any:
        """An attribute's value in an instance's scope."""
        return evaluate(parse_value(body), scope)


SUITE_MODULES = {"aws": "suite", "gcp": "gcp_suite", "azure": "suite"}


def module_of(
    cloud: str, variables: Mapping[str, Any] | None = None, terraform: Path = TERRAFORM
) -> Configuration:
    """The cloud's suite module, evaluated with the arguments its root passes."""
    root = Configuration(terraform / cloud, dict(variables or {}))
    source, arguments = root.module_call(SUITE_MODULES[cloud])
    return Configuration(source, arguments)


def _split_environment(variables: Any, where: str) -> tuple[dict[str, str], dict[str, str]]:
    if isinstance(variables, Unknown):
        raise ValueError(f"{where}: the whole environment is unknown at plan time: {variables}")
    nulls = [k for k, v in variables.items() if v is None]
    if nulls:
        raise ValueError(f"{where}: environment variables set to null: {', '.join(nulls)}")
    known = {k: str(v) for k, v in variables.items() if not isinstance(v, Unknown)}
    unknown = {k: v.expression for k, v in variables.items() if isinstance(v, Unknown)}
    return known, unknown


def _one(blocks: Any) -> dict[str, Any]:
    return dict(blocks[0]) if isinstance(blocks, list) else dict(blocks)


def _aws(module: Configuration) -> dict[str, Wiring]:
    wirings: dict[str, Wiring] = {}
    for key, scope, body in module.instances("aws_lambda_function", "function"):
        environment = module.value(_one(body["environment"])["variables"], scope)
        known, unknown = _split_environment(environment, f"aws_lambda_function.function[{key}]")
        parts = tuple(getattr(environment, "unknown_parts", ()))
        function = scope.names["each"]["value"]
        wirings[key] = Wiring(
            cloud="aws",
            name=key,
            kind=function["kind"],
            group=function["group"],
            handler=module.value(body["handler"], scope),
            runtime=module.value(body["runtime"], scope),
            environment=known,
            unknown=unknown,
            unknown_parts=parts,
            memory_mb=module.value(body["memory_size"], scope),
            timeout_seconds=module.value(body["timeout"], scope),
            architecture=module.value(body["architectures"], scope)[0],
        )
    return wirings


GCP_FUNCTIONS = {"consumer": "consumer", "http": "http", "schedule": "schedule"}
# Gen2 Terraform does not name a signature type: functions-framework takes it from the entry
# point's decorator (@cloud_event for consumers, which Pub/Sub push and Eventarc feed; @http
# for endpoints and schedules).
GCP_SIGNATURES = {"consumer": "cloudevent", "http": "http", "schedule": "http"}


def _gcp(module: Configuration) -> dict[str, Wiring]:
    wirings: dict[str, Wiring] = {}
    for resource, kind in GCP_FUNCTIONS.items():
        for key, scope, body in module.instances("google_cloudfunctions2_function", resource):
            build, service = _one(body["build_config"]), _one(body["service_config"])
            environment = module.value(service["environment_variables"], scope)
            where = f"google_cloudfunctions2_function.{resource}[{key}]"
            known, unknown = _split_environment(environment, where)
            parts = tuple(getattr(environment, "unknown_parts", ()))
            memory = str(module.value(service["available_memory"], scope))
            wirings[key] = Wiring(
                cloud="gcp",
                name=key,
                kind=kind,
                group=scope.names["each"]["value"]["group"],
                handler=module.value(build["entry_point"], scope),
                runtime=module.value(build["runtime"], scope),
                environment=known,
                unknown=unknown,
                unknown_parts=parts,
                memory_mb=int(memory.removesuffix("Mi")) if memory.endswith("Mi") else None,
                timeout_seconds=module.value(service["timeout_seconds"], scope),
                signature_type=GCP_SIGNATURES[kind],
            )
    return wirings


def _azure(module: Configuration) -> dict[str, Wiring]:
    kinds = module.locals["function_kinds"]
    queues = {consumer: queue for queue, consumer in module.locals["all_queues"].items()}
    queue_of = {c: q for c, q in queues.items()}
    for queue, consumer in module.locals["all_queues"].items():
        if not queue.endswith("-poison"):
            queue_of[consumer] = queue
    wirings: dict[str, Wiring] = {}
    for app, scope, body in module.instances("azurerm_function_app_flex_consumption", "this"):
        settings = module.value(body["app_settings"], scope)
        known, unknown = _split_environment(
            settings, f"azurerm_function_app_flex_consumption[{app}]"
        )
        auth = module.value(body["storage_authentication_type"], scope)
        disabled = {
            name.removeprefix("AzureWebJobs.").removesuffix(".Disabled")
            for name, value in known.items()
            if name.startswith("AzureWebJobs.") and name.endswith(".Disabled") and value == "true"
        }
        for function in scope.names["each"]["value"]:
            if function in disabled:
                continue
            kind = kinds[function]
            wirings[function] = Wiring(
                cloud="azure",
                name=function,
                kind="http" if kind == "read" else kind,  # "read": a GET endpoint
                group="app",
                handler=function,
                runtime=module.value(body["runtime_version"], scope),
                environment=known,
                unknown=unknown,
                unknown_parts=tuple(getattr(settings, "unknown_parts", ())),
                memory_mb=module.value(body["instance_memory_in_mb"], scope),
                app=app,
                queue=queue_of.get(function),
                storage_identity=auth == "SystemAssignedIdentity",
            )
    return wirings


def load(
    cloud: str, variables: Mapping[str, Any] | None = None, terraform: Path = TERRAFORM
) -> dict[str, Wiring]:
    """Every function Terraform declares for ``cloud``, with the root ``variables`` given
    (``-var`` style overrides of the root's defaults). See the module docstring for where the
    plan JSON replaces this reading.

    ``payment_provider`` (a required root input) is ``simulated`` unless given: the packages run
    under the platforms' runtimes here without Stripe (its adapter has its own tests)."""
    return _from_hcl(cloud, {"payment_provider": "simulated", **(variables or {})}, terraform)


def _from_hcl(cloud: str, variables: Mapping[str, Any], terraform: Path) -> dict[str, Wiring]:
    readers = {"aws": _aws, "gcp": _gcp, "azure": _azure}
    return readers[cloud](module_of(cloud, variables, terraform))
