"""The committed provider schemas, and the Terraform tree validated against them.

Schemas come from the jsii assemblies in the cdktn-provider-* wheels (terraform/tools/
extract_provider_schemas.py); each file records the provider and wheel versions it came from.
"""

from __future__ import annotations

import extract_provider_schemas as eps
import pytest

from tests.terraform.conftest import report, tfcheck

AVAILABLE = tfcheck.available_schemas()


def test_every_pin_has_a_committed_schema_recording_its_origin() -> None:
    for (provider, major), (package, version) in eps.PINS.items():
        path = tfcheck.SCHEMA_DIR / f"{provider}-{major}.json.gz"
        assert path.is_file(), (
            f"{path.name} missing: run "
            f"terraform/tools/extract_provider_schemas.py {provider}:{major}"
        )
        schema = tfcheck.load_schema(path)
        assert schema["source"] == f"hashicorp/{provider}"
        assert int(schema["provider_version"].split(".")[0]) == major
        assert (schema["package"], schema["package_version"]) == (package, version), (
            f"{path.name} came from {schema['package']}=={schema['package_version']}, "
            f"pin says {package}=={version}"
        )


def test_schemas_stay_small() -> None:
    total = sum(p.stat().st_size for p in tfcheck.SCHEMA_DIR.glob("*.json.gz"))
    assert total < 4 * 1024 * 1024, f"{total} bytes of schemas"


def test_schema_content_matches_the_provider_docs() -> None:
    aws = tfcheck.load_schema(AVAILABLE["hashicorp/aws"][6])
    esm = aws["resources"]["aws_lambda_event_source_mapping"]
    assert esm["arguments"]["function_response_types"] == {"required": False}
    assert esm["arguments"]["function_name"]["required"] is True
    assert esm["blocks"]["scaling_config"]["list"] is False
    assert "arn" not in esm["arguments"], "computed-only attributes are not arguments"
    assert "uuid" not in esm["arguments"]
    assert aws["resources"]["aws_security_group"]["arguments"]["ingress"].get("object"), (
        "attributes-as-blocks"
    )
    assert "aws_iam_policy_document" in aws["data_sources"]

    google = tfcheck.load_schema(AVAILABLE["hashicorp/google"][max(AVAILABLE["hashicorp/google"])])
    sub = google["resources"]["google_pubsub_subscription"]
    assert sub["blocks"]["dead_letter_policy"]["arguments"]["max_delivery_attempts"] == {
        "required": False
    }
    assert (
        google["resources"]["google_monitoring_alert_policy"]["blocks"]["conditions"]["required"]
        is True
    )

    azurerm = tfcheck.load_schema(AVAILABLE["hashicorp/azurerm"][4])
    retry = azurerm["resources"]["azurerm_eventgrid_event_subscription"]["blocks"]["retry_policy"]
    assert {k for k, v in retry["arguments"].items() if v["required"]} == {
        "max_delivery_attempts",
        "event_time_to_live",
    }
    assert azurerm["provider_config"]["blocks"]["features"]["required"] is True


@pytest.mark.parametrize(
    ("constraint", "expected"),
    [
        ("~> 6.0", 6),
        (">= 6.0, < 7.0", 6),
        ("~> 7.10", 7),
        ("~> 6.12.1", 6),
        ("6.50.0", 6),
        (">= 5.0", 7),
        ("~> 9.0", None),
    ],
)
def test_version_constraint_picks_the_schema_major(constraint: str, expected: int | None) -> None:
    assert tfcheck.pick_major([constraint], [6, 7]) == expected


@pytest.mark.parametrize("root", ["aws", "gcp", "azure"])
def test_each_root_pins_a_provider_major_we_have_a_schema_for(root: str) -> None:
    directory = tfcheck.TERRAFORM_DIR / root
    if not tfcheck.tf_files(directory):
        pytest.fail(f"terraform/{root} has no .tf files yet")
    pins = tfcheck.load_module(directory).required_providers()
    main = {"aws": "hashicorp/aws", "gcp": "hashicorp/google", "azure": "hashicorp/azurerm"}[root]
    wanted = [c for s, c in pins.values() if s == main]
    assert wanted and wanted[0], f"terraform/{root} must pin {main} in required_providers"
    assert tfcheck.pick_major(wanted, AVAILABLE[main]) is not None, (
        f"{main} {wanted[0]}: no committed schema; see terraform/tools/README.md"
    )


def test_terraform_tree_validates_against_the_provider_schemas() -> None:
    findings = tfcheck.validate(tfcheck.TERRAFORM_DIR)
    assert not findings, "offline `terraform validate` found:\n" + report(findings)
