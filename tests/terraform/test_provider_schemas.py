"""The committed provider schemas (tests/terraform/schemas/) that the stand-in providers serve.

Each file is one provider in the shape of `terraform providers schema -json`, rebuilt from the
generated JavaScript in the pinned cdktn-provider wheel (extract_provider_schemas.py) and
recording where it came from. The spot checks are facts from the providers' documentation.

"""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path
from typing import Any

import extract_provider_schemas as eps  # terraform/tools is on sys.path (conftest)
import pytest

SCHEMA_DIR = eps.SCHEMA_DIR
VERSIONS_TF = sorted((Path(eps.REPO) / "terraform").glob("**/versions.tf"))


def load(provider: str, major: int) -> tuple[dict[str, Any], dict[str, Any]]:
    doc = json.loads(gzip.decompress((SCHEMA_DIR / f"{provider}-{major}.json.gz").read_bytes()))
    return doc["eventsuite"], doc["provider_schemas"][f"registry.terraform.io/hashicorp/{provider}"]


@pytest.mark.parametrize(("provider", "major"), list(eps.PINS))
def test_every_pin_has_a_committed_schema_recording_its_origin(provider: str, major: int) -> None:
    meta, schema = load(provider, major)
    package, version = eps.PINS[(provider, major)]
    assert meta["source"] == f"hashicorp/{provider}"
    assert int(meta["provider_version"].split(".")[0]) == major
    assert meta["from"] == f"{package}=={version}", "re-run make tf-schemas after changing PINS"
    assert meta["format"] == eps.FORMAT
    assert schema["resource_schemas"] or schema["data_source_schemas"]


def test_every_provider_the_roots_pin_has_a_schema() -> None:
    pinned = set()
    for path in VERSIONS_TF:
        for source, constraint in re.findall(
            r'source\s*=\s*"hashicorp/(\w+)"\s*\n\s*version\s*=\s*"~>\s*(\d+)', path.read_text()
        ):
            pinned.add((source, int(constraint)))
    assert pinned, "no required_providers found"
    assert pinned <= set(eps.PINS), f"no schema pin for {sorted(pinned - set(eps.PINS))}"


def test_schemas_stay_small_and_deterministic() -> None:
    files = sorted(SCHEMA_DIR.glob("*.json.gz"))
    total = sum(p.stat().st_size for p in files)
    assert total < 640 * 1024, f"{total} bytes of schemas (README says about 0.6 MB)"
    for p in files:
        raw = p.read_bytes()
        assert raw[4:8] == b"\0\0\0\0", f"{p.name}: gzip mtime must be 0"
        text = gzip.decompress(raw).decode()
        assert text == json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"))


def test_aws_schema_matches_the_provider_docs() -> None:
    _, aws = load("aws", 6)
    esm = aws["resource_schemas"]["aws_lambda_event_source_mapping"]["block"]
    assert esm["attributes"]["function_response_types"] == {
        "optional": True,
        "type": ["set", "string"],
    }
    assert esm["attributes"]["function_name"] == {"required": True, "type": "string"}
    assert esm["attributes"]["uuid"] == {"computed": True, "type": "string"}
    assert esm["block_types"]["scaling_config"]["max_items"] == 1
    assert esm["block_types"]["scaling_config"]["nesting_mode"] == "list"
    queue = aws["resource_schemas"]["aws_sqs_queue"]["block"]["attributes"]
    assert queue["arn"] == {"computed": True, "type": "string"}
    assert queue["tags"] == {"optional": True, "type": ["map", "string"]}
    # an SDKv2 attribute that also takes block syntax (ConfigModeAttr): a set of objects
    ingress = aws["resource_schemas"]["aws_security_group"]["block"]["attributes"]["ingress"]
    assert ingress["type"][0] == "set" and ingress["type"][1][0] == "object"
    assert ingress["type"][1][1]["from_port"] == "number"
    doc = aws["data_source_schemas"]["aws_iam_policy_document"]["block"]
    assert doc["attributes"]["json"]["computed"] is True
    assert doc["block_types"]["statement"]["nesting_mode"] == "list"
    assert (
        doc["block_types"]["statement"]["block"]["block_types"]["condition"]["nesting_mode"]
        == "set"
    )
    assert "region" in aws["provider"]["block"]["attributes"]
    assert "alias" not in aws["provider"]["block"]["attributes"], "a meta-argument, not schema"


def test_google_and_azurerm_schemas_match_the_provider_docs() -> None:
    _, google = load("google", 7)
    sub = google["resource_schemas"]["google_pubsub_subscription"]["block"]
    assert sub["attributes"]["topic"]["required"] is True
    assert sub["block_types"]["dead_letter_policy"]["max_items"] == 1
    assert (
        sub["block_types"]["dead_letter_policy"]["block"]["attributes"]["max_delivery_attempts"][
            "type"
        ]
        == "number"
    )
    fn = google["resource_schemas"]["google_cloudfunctions2_function"]["block"]
    assert fn["block_types"]["service_config"]["block"]["attributes"]["uri"]["computed"] is True
    _, azurerm = load("azurerm", 4)
    features = azurerm["provider"]["block"]["block_types"]["features"]
    assert (features["min_items"], features["max_items"]) == (1, 1), "azurerm requires features {}"
    flex = azurerm["resource_schemas"]["azurerm_function_app_flex_consumption"]["block"]
    assert flex["attributes"]["app_settings"]["type"] == ["map", "string"]
    assert flex["block_types"]["site_config"]["min_items"] == 1


def test_write_only_attributes_are_marked() -> None:
    """Ephemeral values (the roots' secrets) are accepted only by write-only attributes."""
    _, aws = load("aws", 6)
    version = aws["resource_schemas"]["aws_secretsmanager_secret_version"]["block"]["attributes"]
    assert version["secret_string_wo"].get("write_only") is True
    assert "write_only" not in version["secret_string"]
    _, azurerm = load("azurerm", 4)
    secret = azurerm["resource_schemas"]["azurerm_key_vault_secret"]["block"]["attributes"]
    assert secret["value_wo"].get("write_only") is True
