"""checkov --skip-download over terraform/: zero failed checks.

Skips must be inline `#checkov:skip=CKV_...:reason` comments next to the resource. checkov
comes from the `.venv-iac` virtualenv (its pins clash with the app's), or EVENTSUITE_CHECKOV.
It runs once per module (about 20 s), over the whole tree.
"""

from __future__ import annotations

import pytest

from tests.terraform.conftest import missing_tool, tfcheck

# with pytest-xdist (--dist loadgroup) keep the three tests on one worker: one checkov run
pytestmark = pytest.mark.xdist_group("checkov")


@pytest.fixture(scope="module")
def checkov() -> tfcheck.CheckovResult:
    binary = tfcheck.find_tool("checkov", "EVENTSUITE_CHECKOV")
    if binary is None:
        missing_tool(
            "checkov not found: `make test` installs it into .venv-iac (or set EVENTSUITE_CHECKOV)"
        )
    return tfcheck.run_checkov(tfcheck.TERRAFORM_DIR, binary)


def test_checkov_scanned_the_tree(checkov: tfcheck.CheckovResult) -> None:
    assert not checkov.parsing_errors, checkov.parsing_errors
    assert checkov.passed > 0, "checkov found no resources to check"


def test_no_failed_checks(checkov: tfcheck.CheckovResult) -> None:
    lines = sorted({tfcheck.format_checkov_failure(fc) for fc in checkov.failed})
    assert not lines, (
        f"{len(lines)} checkov failure(s); fix them or add "
        "`#checkov:skip=ID:reason` in the resource:\n" + "\n".join(lines)
    )


def test_every_skip_has_a_reason(checkov: tfcheck.CheckovResult) -> None:
    vague = [
        f"{s.get('file_path')}:{(s.get('file_line_range') or [0])[0]} {s.get('check_id')}"
        for s in checkov.skipped_checks
        if len((s.get("check_result") or {}).get("suppress_comment", "").strip()) < 10
        or "No comment provided" in (s.get("check_result") or {}).get("suppress_comment", "")
    ]
    assert not vague, "checkov:skip without a reason:\n" + "\n".join(vague)
