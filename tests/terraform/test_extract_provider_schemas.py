"""extract_provider_schemas.py on a tiny hand-made jsii assembly (no download)."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
import zipfile
from pathlib import Path

import extract_provider_schemas as eps  # terraform/tools is on sys.path (conftest)
import pytest

from tests.terraform.conftest import tfcheck  # noqa: F401

DOCS = "https://registry.terraform.io/providers/hashicorp/aws/6.1.0/docs"


def _prop(name: str, tf: str, type_: dict, *, optional: bool = True, block: bool = False) -> dict:
    link = (
        f"{{@link {DOCS}/resources/lambda_event_source_mapping#{tf} LambdaEventSourceMapping#{tf}}}"
    )
    docs = (
        {"summary": f"{tf} block.", "remarks": f"Docs at Terraform Registry: {link}"}
        if block
        else {"summary": f"Docs at Terraform Registry: {link}."}
    )
    out = {"name": name, "type": type_, "docs": docs}
    if optional:
        out["optional"] = True
    return out


P = "@cdktn/provider-aws.lambdaEventSourceMapping."
ASSEMBLY = {
    "name": "@cdktn/provider-aws",
    "version": "99.0.0",
    "readme": {"markdown": "# CDKTN prebuilt bindings for hashicorp/aws provider version 6.1.0\n"},
    "types": {
        P + "LambdaEventSourceMapping": {
            "kind": "class",
            "base": "cdktn.TerraformResource",
            "fqn": P + "LambdaEventSourceMapping",
            "docs": {
                "summary": f"Represents a {{@link {DOCS}/resources/lambda_event_source_mapping "
                "aws_lambda_event_source_mapping}."
            },
            "initializer": {
                "parameters": [
                    {"name": "scope"},
                    {"name": "id"},
                    {"name": "config", "type": {"fqn": P + "Config"}},
                ]
            },
            # computed-only attributes are getters on the class, never in the config struct
            "properties": [{"name": "uuid", "type": {"primitive": "string"}}],
        },
        P + "Config": {
            "kind": "interface",
            "datatype": True,
            "fqn": P + "Config",
            "properties": [
                _prop("functionName", "function_name", {"primitive": "string"}, optional=False),
                _prop(
                    "functionResponseTypes",
                    "function_response_types",
                    {"collection": {"kind": "array", "elementtype": {"primitive": "string"}}},
                ),
                _prop("s3UsePathStyle", "s3_use_path_style", {"primitive": "boolean"}),
                _prop("scalingConfig", "scaling_config", {"fqn": P + "Scaling"}, block=True),
                _prop(
                    "filter",
                    "filter",
                    {
                        "union": {
                            "types": [
                                {"fqn": "cdktn.IResolvable"},
                                {
                                    "collection": {
                                        "kind": "array",
                                        "elementtype": {"fqn": P + "Scaling"},
                                    }
                                },
                            ]
                        }
                    },
                    block=True,
                    optional=False,
                ),
                _prop(
                    "encryptionConfiguration", "encryption_configuration", {"fqn": P + "Scaling"}
                ),
            ],
        },
        P + "Scaling": {
            "kind": "interface",
            "datatype": True,
            "fqn": P + "Scaling",
            "properties": [
                _prop("maximumConcurrency", "maximum_concurrency", {"primitive": "number"})
            ],
        },
    },
}


def _wheel(tmp_path: Path) -> Path:
    """A wheel whose .jsii is a gzip file-redirect, as some jsii versions write it."""
    blob = gzip.compress(json.dumps(ASSEMBLY).encode())
    redirect = json.dumps(
        {"schema": "jsii/file-redirect", "filename": ".jsii.gz", "compression": "gzip"}
    ).encode()
    tar_bytes = io.BytesIO()
    with tarfile.open(fileobj=tar_bytes, mode="w:gz") as tf:
        for name, data in (("package/.jsii", redirect), ("package/.jsii.gz", blob)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    wheel = tmp_path / "cdktn_provider_aws-99.0.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("cdktn_provider_aws/_jsii/provider-aws@99.0.0.jsii.tgz", tar_bytes.getvalue())
    return wheel


def test_extracts_names_requiredness_blocks_and_objects(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _wheel(tmp_path)
    monkeypatch.setitem(eps.PINS, ("aws", 6), ("cdktn-provider-aws", "99.0.0"))
    out = eps.extract_one("aws", 6, tmp_path, tmp_path / "out")
    schema = json.loads(gzip.decompress(out.read_bytes()))
    assert (schema["source"], schema["provider_version"], schema["package_version"]) == (
        "hashicorp/aws",
        "6.1.0",
        "99.0.0",
    )
    res = schema["resources"]["aws_lambda_event_source_mapping"]
    assert res["arguments"] == {
        "function_name": {"required": True},
        "function_response_types": {"required": False},
        "s3_use_path_style": {"required": False},  # digits: the docs link, not a camelCase guess
        "encryption_configuration": {"required": False, "object": True},  # nested attribute
    }
    assert res["blocks"]["scaling_config"]["list"] is False
    assert res["blocks"]["scaling_config"]["arguments"] == {
        "maximum_concurrency": {"required": False}
    }
    assert res["blocks"]["filter"]["list"] is True and res["blocks"]["filter"]["required"] is True
    assert "uuid" not in res["arguments"]


def test_refuses_a_wheel_wrapping_another_major(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _wheel(tmp_path)
    monkeypatch.setitem(eps.PINS, ("aws", 5), ("cdktn-provider-aws", "99.0.0"))
    with pytest.raises(SystemExit, match=r"wraps hashicorp/aws 6\.1\.0"):
        eps.extract_one("aws", 5, tmp_path, tmp_path / "out")


def test_camel_to_snake_fallback() -> None:
    assert eps.camel_to_snake("functionResponseTypes") == "function_response_types"
