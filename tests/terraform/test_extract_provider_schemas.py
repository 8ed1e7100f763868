"""extract_provider_schemas.py and standin_provider.py on small hand-made inputs (no download)."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
import zipfile
from pathlib import Path

import extract_provider_schemas as eps  # terraform/tools is on sys.path (conftest)
import standin_provider as sp

# The shape cdktf generates (trimmed): a nested block struct with its ToHcl mapper and
# OutputReference class, a computed list of objects, and the resource class.
INDEX_JS = """
function fooQueueScalingToHclTerraform(struct) {
    const attrs = {
        maximum: {
            value: cdktn.numberToHclTerraform(struct.maximum),
            isBlock: false,
            type: "simple",
            storageClassType: "number",
        },
    };
}
class FooQueueScalingOutputReference extends cdktn.ComplexObject {
    // maximum - computed: false, optional: false, required: true
    _maximum;
    get maximum() {
        return this.getNumberAttribute('maximum');
    }
}
class FooQueueStatusOutputReference extends cdktn.ComplexObject {
    // code - computed: true, optional: false, required: false
    get code() {
        return this.getStringAttribute('code');
    }
}
class FooQueueStatusList extends cdktn.ComplexList {
}
class FooQueue extends cdktn.TerraformResource {
    static tfResourceType = "foo_queue";
    // arn - computed: true, optional: false, required: false
    get arn() {
        return this.getStringAttribute('arn');
    }
    // name - computed: false, optional: false, required: true
    _name;
    get name() {
        return this.getStringAttribute('name');
    }
    // types - computed: false, optional: true, required: false
    _types;
    get types() {
        return cdktn.Fn.tolist(this.getListAttribute('types'));
    }
    // labels - computed: true, optional: true, required: false
    _labels;
    get labels() {
        return this.getStringMapAttribute('labels');
    }
    // status - computed: true, optional: false, required: false
    _status = new FooQueueStatusList(this, "status", false);
    get status() {
        return this._status;
    }
    // scaling - computed: false, optional: true, required: false
    _scaling = new FooQueueScalingOutputReference(this, "scaling");
    get scaling() {
        return this._scaling;
    }
    synthesizeHclAttributes() {
        const attrs = {
            name: {
                value: cdktn.stringToHclTerraform(this._name),
                isBlock: false,
                type: "simple",
                storageClassType: "string",
            },
            types: {
                value: cdktn.listMapperHcl(cdktn.stringToHclTerraform, false)(this._types),
                isBlock: false,
                type: "set",
                storageClassType: "stringList",
            },
            labels: {
                value: cdktn.hashMapperHcl(cdktn.stringToHclTerraform)(this._labels),
                isBlock: false,
                type: "map",
                storageClassType: "stringMap",
            },
            scaling: {
                value: fooQueueScalingToHclTerraform(this._scaling.internalValue),
                isBlock: true,
                type: "list",
                storageClassType: "FooQueueScalingList",
            },
        };
    }
}
"""

EXPECTED = {
    "attributes": {
        "arn": {"computed": True, "type": "string"},
        "labels": {"computed": True, "optional": True, "type": ["map", "string"]},
        "name": {"required": True, "type": "string"},
        "status": {"computed": True, "type": ["list", ["object", {"code": "string"}]]},
        "types": {"optional": True, "type": ["set", "string"]},
    },
    "block_types": {
        "scaling": {
            "nesting_mode": "list",
            "max_items": 1,
            "block": {
                "attributes": {"maximum": {"required": True, "type": "number"}},
                "block_types": {},
            },
        }
    },
}


def test_compiles_the_generated_javascript_into_a_terraform_schema() -> None:
    schema, names = eps.Compiler([eps.JsModule(INDEX_JS)]).compile()
    assert names == {"foo_queue": "FooQueue"}
    assert schema["resource_schemas"]["foo_queue"] == {"version": 0, "block": EXPECTED}


def _wheel(tmp_path: Path, readme: str) -> Path:
    tgz = io.BytesIO()
    with tarfile.open(fileobj=tgz, mode="w:gz") as tar:
        for name, text in (
            ("package/README.md", readme),
            ("package/lib/foo-queue/index.js", INDEX_JS),
        ):
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    wheel = tmp_path / "cdktn_provider_aws-99.0.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("cdktn_provider_aws/_jsii/provider-aws@99.0.0.jsii.tgz", tgz.getvalue())
    return wheel


def test_extracts_a_wheel_deterministically_and_checks_its_provider(
    tmp_path: Path, monkeypatch
) -> None:
    _wheel(tmp_path, "# prebuilt bindings for hashicorp/aws provider version 6.1.0\n")
    monkeypatch.setitem(eps.PINS, ("aws", 6), ("cdktn-provider-aws", "99.0.0"))
    out = eps.extract_one("aws", 6, tmp_path, tmp_path / "out")
    first = out.read_bytes()
    doc = json.loads(gzip.decompress(first))
    assert doc["eventsuite"]["provider_version"] == "6.1.0"
    assert (
        doc["provider_schemas"]["registry.terraform.io/hashicorp/aws"]["resource_schemas"][
            "foo_queue"
        ]["block"]
        == EXPECTED
    )
    assert eps.extract_one("aws", 6, tmp_path, tmp_path / "out").read_bytes() == first


def test_refuses_a_wheel_of_another_provider_major(tmp_path: Path, monkeypatch) -> None:
    import pytest

    _wheel(tmp_path, "# prebuilt bindings for hashicorp/aws provider version 5.9.0\n")
    monkeypatch.setitem(eps.PINS, ("aws", 6), ("cdktn-provider-aws", "99.0.0"))
    with pytest.raises(SystemExit, match=r"not hashicorp/aws 6\.x"):
        eps.extract_one("aws", 6, tmp_path, tmp_path / "out")


def test_a_real_terraform_schema_file_can_be_used_instead(tmp_path: Path) -> None:
    real = {
        "format_version": "1.0",
        "provider_schemas": {
            "registry.terraform.io/hashicorp/aws": {
                "provider": {"version": 0, "block": {}},
                "resource_schemas": {"foo_queue": {"version": 1, "block": EXPECTED}},
            }
        },
    }
    src = tmp_path / "schema.json"
    src.write_text(json.dumps(real))
    (out,) = eps.from_terraform(src, {"hashicorp/aws": "6.2.0"}, tmp_path)
    assert out.name == "aws-6.json.gz"
    address, schema = sp.load_schema_json(out)
    assert address == "registry.terraform.io/hashicorp/aws"
    assert schema["resource_schemas"]["foo_queue"]["version"] == 1
    assert sp.load_schema_json(src)[1] == schema, "the plugin reads the raw file as well"


def test_stand_in_plans_computed_nulls_as_unknown_and_mocks_data_sources() -> None:
    config = {"name": "q", "arn": None, "labels": None, "types": None, "status": None}
    planned = sp.fill_computed(EXPECTED, {**config, "scaling": [{"maximum": 3}]}, sp._unknown)
    assert planned["arn"] is sp.UNKNOWN and planned["labels"] is sp.UNKNOWN
    assert planned["status"] is sp.UNKNOWN
    assert planned["types"] is None, "optional, not computed: stays null"
    assert planned["name"] == "q" and planned["scaling"] == [{"maximum": 3}]
    read = sp.fill_computed(EXPECTED, config, sp._mock)
    assert read["arn"] == "mock-arn" and read["labels"] == {} and read["status"] == []


WIRE_CHECK = """
import json, sys
import msgpack
import standin_provider as sp
from tf.gen import tfplugin_pb2 as pb
expected = json.loads(sys.argv[1])
schema = {"provider": {"version": 0, "block": {}},
          "resource_schemas": {"foo_queue": {"version": 0, "block": expected}}}
resp = pb.GetProviderSchema.Response.FromString(sp.compile_schema(schema))
attrs = {a.name: a for a in resp.resource_schemas["foo_queue"].block.attributes}
assert json.loads(attrs["types"].type) == ["set", "string"]
assert attrs["arn"].computed and not attrs["arn"].optional
(scaling,) = resp.resource_schemas["foo_queue"].block.block_types
assert (scaling.type_name, scaling.max_items) == ("scaling", 1)
assert scaling.nesting == pb.Schema.NestedBlock.LIST
assert resp.server_capabilities.get_provider_schema_optional
wire = sp._encode({"arn": sp.UNKNOWN, "name": "q"})
assert msgpack.unpackb(wire.msgpack)["arn"] == msgpack.ExtType(0, b"\\x00")
assert sp._decode(wire)["arn"] is sp.UNKNOWN
print("ok")
"""


def test_stand_in_wire_format_in_its_own_venv() -> None:
    """Schema protobuf and msgpack unknowns, with the plugin's interpreter (.venv-tfgate)."""
    import subprocess

    import tfgate

    from tests.terraform.conftest import missing_tool

    python = tfgate.plugin_python()
    if python is None:
        missing_tool("the stand-in providers' venv .venv-tfgate is missing: `make setup-iac`")
    proc = subprocess.run(
        [python, "-c", WIRE_CHECK, json.dumps(EXPECTED)],
        capture_output=True,
        text=True,
        cwd=tfgate.TOOLS,
        check=False,
    )
    assert proc.stdout.strip() == "ok", proc.stderr
