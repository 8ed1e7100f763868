"""Fixtures for the offline Terraform checks (tests/terraform).

The checks themselves live in terraform/tools/ (tfgate.py and standin_provider.py: the real
terraform against stand-in providers; tfcheck.py: fmt and checkov; gen_module_docs.py) so that
pre-commit and the CLI run exactly the same code as these tests. Plans: tests/terraform/plans.py.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
TOOLS = REPO / "terraform" / "tools"
if str(TOOLS) not in sys.path:
    sys.path.insert(0, str(TOOLS))

import tfcheck  # noqa: E402

IN_CI = os.environ.get("CI", "").lower() == "true"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.terraform)


def missing_tool(reason: str) -> None:
    """A tool the check needs is absent: fail in CI (CI=true), skip with the reason elsewhere."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: a missing tool fails; run `make test`, which installs it)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def gate() -> tuple[Any, Path]:
    """The terraform binary with the stand-in provider mirror and the initialized tree."""
    from tests.terraform import plans

    try:
        return plans.gate()
    except plans.TerraformUnavailable as exc:
        missing_tool(str(exc))
        raise


@pytest.fixture(scope="session")
def all_plans(gate: tuple[Any, Path]) -> dict[tuple[str, str], Any]:
    """Every (root, variant) plan, planned in parallel once per session (cached on disk)."""
    from tests.terraform import plans

    return plans.all_plans()


@pytest.fixture(scope="session")
def plan_json(gate: tuple[Any, Path]) -> Callable[[str, str], dict[str, Any]]:
    """`plan_json(root, variant)` -> `terraform show -json` of that plan (see plans.py)."""
    from tests.terraform import plans

    return plans.plan_json


@pytest.fixture(scope="session")
def terraform_dir() -> Path:
    return tfcheck.TERRAFORM_DIR
