"""The GitHub Actions workflow shipped to users' repositories, and the pre-commit config.

Syntax: check-jsonschema's vendored github-workflows schema (works offline; from .venv-iac or
EVENTSUITE_CHECK_JSONSCHEMA), plus actionlint when one is installed (EVENTSUITE_ACTIONLINT,
.venv-iac/bin/actionlint or PATH). Then the properties we promise: pinned majors, least
privilege, actions pinned by commit, packages built before and apart from any cloud login, plan
only with OIDC credentials in a protected environment.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.terraform.conftest import REPO, missing_tool, tfcheck

WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.y*ml"))
CI = REPO / ".github" / "workflows" / "ci.yml"


def _load(path: Path) -> dict[str, Any]:
    data: dict[Any, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    if True in data:  # YAML 1.1 reads the `on:` key as a boolean
        data["on"] = data.pop(True)
    return data


@pytest.fixture(scope="module")
def ci() -> dict[str, Any]:
    return _load(CI)


def _steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return list(job.get("steps", []))


def _uses(job: dict[str, Any], prefix: str) -> list[dict[str, Any]]:
    return [s for s in _steps(job) if str(s.get("uses", "")).startswith(prefix)]


def test_workflows_exist() -> None:
    assert CI in WORKFLOWS


def test_workflows_match_the_github_workflow_schema() -> None:
    binary = tfcheck.find_tool("check-jsonschema", "EVENTSUITE_CHECK_JSONSCHEMA")
    if binary is None:
        missing_tool("check-jsonschema not found: `make test` installs it into .venv-iac")
    proc = subprocess.run(
        [binary, "--builtin-schema", "vendor.github-workflows", *map(str, WORKFLOWS)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_actionlint_when_available() -> None:
    binary = tfcheck.find_tool("actionlint", "EVENTSUITE_ACTIONLINT")
    if binary is None:
        pytest.skip("actionlint not installed (optional; see terraform/tools/README.md)")
    proc = subprocess.run(
        [binary, "-no-color", *map(str, WORKFLOWS)],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_actions_are_pinned_to_a_commit_with_its_version_named() -> None:
    for wf in WORKFLOWS:
        for line in wf.read_text(encoding="utf-8").splitlines():
            if re.match(r"\s*(- )?uses:", line):
                assert re.fullmatch(
                    r"\s*(- )?uses: [\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+", line
                ), f"{wf.name}: {line.strip()} (pin a commit SHA, name its version)"


def test_checkouts_do_not_persist_the_token() -> None:
    for wf in WORKFLOWS:
        for job_name, job in _load(wf)["jobs"].items():
            for step in _uses(job, "actions/checkout@"):
                assert step.get("with", {}).get("persist-credentials") is False, job_name


def test_least_privilege(ci: dict[str, Any]) -> None:
    assert ci["permissions"] == {"contents": "read"}
    for name, job in ci["jobs"].items():
        perms = job.get("permissions", {})
        if name == "plan":
            assert perms == {"contents": "read", "id-token": "write"}
            # The OIDC trusts are bound to this protected environment (README "CI").
            assert job["environment"] == "terraform-plan"
        else:
            assert "id-token" not in perms, f"{name} must not mint OIDC tokens"
    assert "concurrency" in ci and "group" in ci["concurrency"]


def test_test_job_runs_make_test_with_the_google_emulators(ci: dict[str, Any]) -> None:
    job = ci["jobs"]["test"]
    assert _uses(job, "actions/setup-python@")[0]["with"]["python-version"] == "3.12"
    assert str(_uses(job, "actions/setup-node@")[0]["with"]["node-version"]) == "20"
    components = _uses(job, "google-github-actions/setup-gcloud@")[0]["with"]["install_components"]
    assert {"beta", "pubsub-emulator", "cloud-firestore-emulator"} <= set(components.split(","))
    assert {"PUBSUB_EMULATOR_HOST", "FIRESTORE_EMULATOR_HOST"} <= set(job["env"])
    runs = "\n".join(s.get("run", "") for s in _steps(job))
    assert "emulators pubsub start" in runs and "emulators firestore start" in runs
    assert re.search(r"^make test$", runs, re.M)


def test_terraform_job_validates_every_cloud_without_credentials(ci: dict[str, Any]) -> None:
    job = ci["jobs"]["terraform"]
    assert job["strategy"]["matrix"]["cloud"] == ["aws", "gcp", "azure"]
    assert _uses(job, "hashicorp/setup-terraform@")
    text = "\n".join(s.get("run", "") for s in _steps(job))
    assert "terraform fmt -check -recursive" in text
    assert "init -backend=false" in text
    assert "validate" in text
    assert "permissions" not in job


def test_packages_are_built_before_and_apart_from_any_login(ci: dict[str, Any]) -> None:
    package, plan = ci["jobs"]["package"], ci["jobs"]["plan"]
    assert "permissions" not in package  # the workflow's contents: read, no OIDC token
    assert any("make package-" in s.get("run", "") for s in _steps(package))
    assert _uses(package, "actions/upload-artifact@")
    assert "package" in plan["needs"]
    # Nothing is installed where credentials exist: the plan job only downloads the packages.
    plan_runs = "\n".join(s.get("run", "") for s in _steps(plan))
    assert "make " not in plan_runs and "pip " not in plan_runs
    assert not _uses(plan, "actions/setup-python@")
    assert _uses(plan, "actions/download-artifact@")


def test_plan_job_plans_only_with_credentials(ci: dict[str, Any]) -> None:
    job = ci["jobs"]["plan"]
    assert job["strategy"]["matrix"]["cloud"] == ["aws", "gcp", "azure"]
    fork_guard = "github.event.pull_request.head.repo.full_name == github.repository"
    assert fork_guard in job["if"] and fork_guard in ci["jobs"]["package"]["if"]
    gated = [
        s
        for s in _steps(job)
        if any(
            k in str(s.get("uses", ""))
            for k in (
                "configure-aws-credentials",
                "google-github-actions/auth",
                "azure/login",
                "upload-artifact",
                "download-artifact",
            )
        )
        or "plan -input=false" in s.get("run", "")
    ]
    assert len(gated) >= 6
    for step in gated:
        assert "steps.creds.outputs.plan == 'true'" in str(step.get("if", "")), step
    # Read-only plan identities cannot take the state lock; a plan writes no state.
    assert "-lock=false" in "\n".join(s.get("run", "") for s in gated)
    assert _uses(job, "aws-actions/configure-aws-credentials@")[0]["with"][
        "role-to-assume"
    ].startswith("${{ vars.")
    assert "workload_identity_provider" in _uses(job, "google-github-actions/auth@")[0]["with"]
    assert {"client-id", "tenant-id", "subscription-id"} <= set(
        _uses(job, "azure/login@")[0]["with"]
    )


def test_pre_commit_hooks_call_scripts_that_exist() -> None:
    config = yaml.safe_load((REPO / ".pre-commit-config.yaml").read_text(encoding="utf-8"))
    hooks = [h for repo in config["repos"] for h in repo["hooks"]]
    ids = {h["id"] for h in hooks}
    assert {
        "terraform-fmt",
        "terraform-plan-gate",
        "terraform-module-docs",
        "checkov",
        "check-github-workflows",
    } <= ids
    for hook in hooks:
        for word in str(hook.get("entry", "")).split():
            if word.endswith(".py"):
                assert (REPO / word).is_file(), f"{hook['id']}: {word} missing"
