"""Plan JSON of every Terraform root and tfvars variant, for any test that needs it.

    from tests.terraform.plans import plan_json, resources
    plan = plan_json("aws", "example")          # `terraform show -json` of that plan, as a dict
    for r in resources(plan, "aws_lambda_function"):
        r["values"]["memory_size"], r["address"]

Variants are tests/terraform/variants/<root>/<name>.tfvars plus "example" (the root's
terraform.tfvars.example). Roots: "aws", "gcp", "azure", and "<root>-harness" (the same root
with the override files of tests/terraform/harness/<root>/, which expose module-only inputs).

A plan runs the real `terraform` against stand-in providers that serve the pinned providers'
schemas (terraform/tools/tfgate.py): computed attributes are unknown in `planned_values`
(listed in `resource_changes[].change.after_unknown`) and data sources hold placeholders
("mock-<attribute>"). With resolved=True, computed attributes hold per-resource placeholders
instead ("mock-arn-<hash>"), as after an apply, to follow the wiring.

Results are cached on disk (`.terraform-gate/plans/`) under a hash of everything that can change
them: the terraform version, the schemas and the plugin, every file of terraform/ and of
tests/terraform/harness/, the catalog, the packaged code, and the tfvars text. So a warm call
costs a file read, and the cache never answers for inputs it has not seen.

Raises `TerraformUnavailable` when there is no terraform binary (tests turn it into a skip, or a
failure under CI=true, through the `plan_json` fixture in conftest.py) and `tfgate.GateError`
with Terraform's diagnostics when a plan fails.
"""

from __future__ import annotations

import functools
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
if str(REPO / "terraform" / "tools") not in sys.path:
    sys.path.insert(0, str(REPO / "terraform" / "tools"))

import tfgate  # noqa: E402

ROOTS = tfgate.ROOTS  # the three root configurations
ALL_ROOTS = tfgate.ALL_ROOTS  # plus "<root>-harness": the root with module-only inputs exposed
REPO = tfgate.REPO
GateError = tfgate.GateError


class TerraformUnavailable(RuntimeError):
    """No terraform binary on PATH (or at EVENTSUITE_TERRAFORM), or no plugin venv."""


@functools.cache
def gate() -> tuple[tfgate.Terraform, Path]:
    """The terraform binary with its stand-in provider mirror, and the initialized tree (once)."""
    if tfgate.terraform_binary() is None:
        raise TerraformUnavailable("terraform not found on PATH (or EVENTSUITE_TERRAFORM)")
    if tfgate.plugin_python() is None:
        raise TerraformUnavailable(
            "the stand-in providers' venv .venv-tfgate is missing: `make setup-iac`"
            " (or set EVENTSUITE_TFGATE_PYTHON)"
        )
    tf = tfgate.setup()
    return tf, tfgate.prepare_tree(tf)


def variants(root: str) -> dict[str, Path]:
    return tfgate.variants(root)


def plan_json(root: str, variant: str = "example", *, resolved: bool = False) -> dict[str, Any]:
    """`terraform show -json` of the plan of `root` with one of its variants (cached).

    resolved=True: computed attributes hold placeholders unique to each resource
    ("mock-arn-<hash>") instead of being unknown, as after an apply, so the plan shows the wiring
    (which queue a mapping reads, where dead letters go). Use it to read wiring, never as a gate.
    """
    tf, tree = gate()
    return tfgate.plan(tf, tree, root, variants(root)[variant].read_text(), resolved=resolved)


def plan_text(
    root: str, tfvars_text: str, *, resolved: bool = False, repo: Path | None = None
) -> dict[str, Any]:
    """The same for an ad-hoc tfvars text. `repo`: plan a copy of the repository instead (its
    terraform/ and the files the roots read; a tree of its own, cached by its content)."""
    tf, tree = gate()
    if repo is not None:
        tree = tfgate.prepare_tree(tf, repo, roots=[root])
    return tfgate.plan(tf, tree, root, tfvars_text, resolved=resolved)


def all_plans(*, resolved: bool = False) -> dict[tuple[str, str], dict[str, Any] | GateError]:
    """Every (root, variant) planned in parallel; a failure is returned, not raised."""
    gate()
    jobs = [(root, name) for root in ALL_ROOTS for name in variants(root)]

    def one(job: tuple[str, str]) -> dict[str, Any] | GateError:
        try:
            return plan_json(*job, resolved=resolved)
        except GateError as exc:
            return exc

    workers = max(2, min(4, (os.cpu_count() or 2) + 1))  # a plan waits on plugin start-ups too
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return dict(zip(jobs, pool.map(one, jobs), strict=True))


def resources(plan: dict[str, Any], type_: str | None = None) -> list[dict[str, Any]]:
    """Every planned resource (root and child modules), optionally of one type."""
    out: list[dict[str, Any]] = []

    def walk(module: dict[str, Any]) -> None:
        out.extend(r for r in module.get("resources", []) if r.get("mode") == "managed")
        for child in module.get("child_modules", []):
            walk(child)

    walk(plan.get("planned_values", {}).get("root_module", {}))
    return [r for r in out if type_ is None or r["type"] == type_]


def unknown_after_apply(plan: dict[str, Any], address: str) -> dict[str, Any]:
    """`after_unknown` of one resource change: which attributes are known only after apply."""
    for rc in plan.get("resource_changes", []):
        if rc["address"] == address:
            return rc["change"].get("after_unknown") or {}
    raise KeyError(address)
