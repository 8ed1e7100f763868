#!/usr/bin/env python3
"""Extract compact Terraform provider schemas from the prebuilt CDK provider wheels on PyPI.

Every `cdktn-provider-*` (CDK Terrain, the maintained fork) and `cdktf-cdktf-provider-*` wheel
embeds a jsii assembly (`<pkg>/_jsii/<name>@<version>.jsii.tgz` -> `package/.jsii`, sometimes a
`jsii/file-redirect` to a gzipped `.jsii.gz`). The assembly records, for one pinned version of a
Terraform provider:

* one class per resource / data source / ephemeral resource (base `cdktn.TerraformResource`,
  `cdktn.TerraformDataSource`, ...), whose docs link names the Terraform type
  (`{@link https://registry.terraform.io/.../docs/resources/lambda_function aws_lambda_function}`);
* its `...Config` struct: one property per configurable argument or block, `optional` unless
  required. Computed-only attributes are not in the struct (they are getters on the class), and
  meta-arguments (`count`, `for_each`, `depends_on`, `provider`, `lifecycle`) come from the
  inherited `TerraformMetaArguments` interface, not from the struct's own properties;
* property names are camelCase, but each property's docs link ends in the original Terraform
  name (`...#function_response_types LambdaEventSourceMapping#function_response_types`), which is
  what we record. Blocks are documented as "`<name>` block." and typed as a struct (max one) or
  `IResolvable | Struct[]` (list/set); struct-typed properties without that text are nested
  *attributes* (`x = { ... }`), recorded as arguments with `"object": true`.

The provider version a wheel wraps is read from its README ("bindings for hashicorp/aws provider
version 6.69.1") and stored in the output together with the wheel name and version.

Usage:
    python terraform/tools/extract_provider_schemas.py            # all pins below
    python terraform/tools/extract_provider_schemas.py aws:6       # one provider major
    python terraform/tools/extract_provider_schemas.py --wheel-dir /tmp/wheels  # reuse downloads

Writes tests/terraform/schemas/<provider>-<major>.json.gz (deterministic: sorted keys, mtime 0).
See terraform/tools/README.md for refreshing the pins.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
SCHEMA_DIR = REPO / "tests" / "terraform" / "schemas"

# (provider, major) -> (PyPI package, version). The provider version each wheel wraps is verified
# at extraction time against the wheel's README; the comment is what it said when pinned.
PINS: dict[tuple[str, int], tuple[str, str]] = {
    ("aws", 6): ("cdktn-provider-aws", "25.8.1"),  # hashicorp/aws 6.69.1
    ("google", 6): ("cdktn-provider-google", "18.0.0"),  # hashicorp/google 6.50.0 (last 6.x)
    ("google", 7): ("cdktn-provider-google", "20.3.1"),  # hashicorp/google 7.46.1
    ("azurerm", 4): ("cdktn-provider-azurerm", "17.0.0"),  # hashicorp/azurerm 4.81.0
    ("archive", 2): ("cdktn-provider-archive", "14.0.1"),
    ("random", 3): ("cdktn-provider-random", "15.0.1"),
    ("null", 3): ("cdktn-provider-null", "15.0.2"),
    ("time", 0): ("cdktn-provider-time", "14.0.2"),
    ("local", 2): ("cdktn-provider-local", "14.0.1"),
}

# cdktf makes every provider-level argument optional (they may come from the environment), but
# Terraform itself requires some: record those here. azurerm: "features" is Required, MaxItems 1.
PROVIDER_REQUIRED_BLOCKS: dict[str, dict[str, bool]] = {"azurerm": {"features": False}}  # name -> list

_LINK = re.compile(r"\{@link https://registry\.terraform\.io/providers/[^ ]+?#([A-Za-z0-9_]+) [^}]*\}")
_TYPE_LINK = re.compile(
    r"\{@link https://registry\.terraform\.io/providers/([^/]+)/([^/]+)/([^/]+)/docs"
    r"(?:/(resources|data-sources|ephemeral-resources)/[^ ]+)? ([A-Za-z0-9_\-]+)\}"
)
_README = re.compile(r"bindings for ([\w-]+/[\w-]+) provider version (\d+\.\d+\.\d+\S*)")
_KINDS = {
    "TerraformResource": "resources",
    "TerraformDataSource": "data_sources",
    "TerraformEphemeralResource": "ephemeral_resources",
}


def camel_to_snake(name: str) -> str:
    """Fallback only (most names come from the docs link): `s3UsePathStyle` -> `s3_use_path_style`."""
    out = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name)
    return out.lower()


def download_wheel(package: str, version: str, dest: Path) -> Path:
    existing = sorted(dest.glob(f"{package.replace('-', '_')}-{version}-*.whl"))
    if existing:
        return existing[0]
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
         "-d", str(dest), f"{package}=={version}"],
        check=True,
    )
    found = sorted(dest.glob(f"{package.replace('-', '_')}-{version}-*.whl"))
    if not found:
        raise SystemExit(f"pip did not produce a wheel for {package}=={version} in {dest}")
    return found[0]


def read_assembly(wheel: Path) -> dict[str, Any]:
    with zipfile.ZipFile(wheel) as zf:
        names = [n for n in zf.namelist() if "/_jsii/" in n and n.endswith((".jsii.tgz", ".tgz"))]
        if not names:
            raise SystemExit(f"{wheel.name}: no jsii tarball under <pkg>/_jsii/")
        data = zf.read(names[0])
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tf:
        raw = tf.extractfile("package/.jsii")
        if raw is None:
            raise SystemExit(f"{wheel.name}: tarball has no package/.jsii")
        assembly: dict[str, Any] = json.load(raw)
        if assembly.get("schema") == "jsii/file-redirect":
            target = tf.extractfile("package/" + assembly["filename"])
            if target is None:
                raise SystemExit(f"{wheel.name}: redirect target {assembly['filename']} missing")
            blob = target.read()
            if assembly.get("compression") == "gzip":
                blob = gzip.decompress(blob)
            assembly = json.loads(blob)
    return assembly


class Extractor:
    def __init__(self, assembly: dict[str, Any]) -> None:
        self.types: dict[str, dict[str, Any]] = assembly["types"]
        self.fallback_names: set[str] = set()

    def _struct_ref(self, t: dict[str, Any]) -> tuple[str | None, bool]:
        """Return (struct fqn, is_collection) for a property type."""
        if "fqn" in t:
            fqn = t["fqn"]
            if self.types.get(fqn, {}).get("datatype"):
                return fqn, False
            return None, False
        if "union" in t:
            for u in t["union"]["types"]:
                ref, coll = self._struct_ref(u)
                if ref:
                    return ref, coll
        if "collection" in t:
            ref, _ = self._struct_ref(t["collection"]["elementtype"])
            return ref, bool(ref)
        return None, False

    def _tf_name(self, prop: dict[str, Any]) -> str:
        docs = prop.get("docs") or {}
        text = f"{docs.get('summary', '')} {docs.get('remarks', '')}"
        m = _LINK.search(text)
        if m:
            return m.group(1)
        snake = camel_to_snake(prop["name"])
        self.fallback_names.add(f"{prop['name']}->{snake}")
        return snake

    def struct(self, fqn: str, stack: tuple[str, ...] = ()) -> dict[str, Any]:
        out: dict[str, Any] = {"arguments": {}, "blocks": {}}
        if fqn in stack:  # defensive: cdktf truncates recursive schemas, never seen
            out["any"] = True
            return out
        t = self.types[fqn]
        for prop in t.get("properties", []):
            name = self._tf_name(prop)
            required = not prop.get("optional", False)
            summary = (prop.get("docs") or {}).get("summary", "")
            # the generator documents a block as exactly "<name> block."; a description that
            # merely ends in "block." (e.g. "The name of the reservation block.") is an argument
            is_block = summary.strip() == f"{name} block."
            ref, coll = self._struct_ref(prop["type"])
            if is_block:
                if ref:
                    nested = self.struct(ref, (*stack, fqn))
                else:  # too deep for the generator: typed `any`, contents unchecked
                    nested = {"arguments": {}, "blocks": {}, "any": True}
                    coll = "collection" in json.dumps(prop["type"])
                nested["required"] = required
                nested["list"] = coll
                out["blocks"][name] = nested
            else:
                arg: dict[str, Any] = {"required": required}
                if ref:
                    arg["object"] = True
                out["arguments"][name] = arg
        return out

    def extract(self) -> dict[str, Any]:
        result: dict[str, Any] = {
            "provider_config": None,
            "resources": {},
            "data_sources": {},
            "ephemeral_resources": {},
        }
        for t in self.types.values():
            if t.get("kind") != "class":
                continue
            base = (t.get("base") or "").rsplit(".", 1)[-1]
            if base not in (*_KINDS, "TerraformProvider"):
                continue
            m = _TYPE_LINK.search((t.get("docs") or {}).get("summary", ""))
            if not m:
                raise SystemExit(f"{t['fqn']}: cannot find the Terraform type in its docs")
            tf_type = m.group(5)
            params = (t.get("initializer") or {}).get("parameters", [])
            config_fqn = params[-1]["type"]["fqn"] if params else None
            schema = self.struct(config_fqn) if config_fqn else {"arguments": {}, "blocks": {}}
            if base == "TerraformProvider":
                # `alias` is in the struct; `version` is Terraform's deprecated meta-argument.
                schema["arguments"].setdefault("version", {"required": False})
                result["provider_config"] = schema
                result["provider_local_name"] = tf_type
            else:
                result[_KINDS[base]][tf_type] = schema
        return result


def extract_one(provider: str, major: int, wheel_dir: Path, out_dir: Path) -> Path:
    package, version = PINS[(provider, major)]
    wheel = download_wheel(package, version, wheel_dir)
    assembly = read_assembly(wheel)
    readme = (assembly.get("readme") or {}).get("markdown", "")
    m = _README.search(readme)
    if not m:
        raise SystemExit(f"{wheel.name}: README does not say which provider version it wraps")
    source, provider_version = m.group(1), m.group(2)
    if source != f"hashicorp/{provider}" or int(provider_version.split(".")[0]) != major:
        raise SystemExit(
            f"{package}=={version} wraps {source} {provider_version}, not hashicorp/{provider} {major}.x"
        )
    ex = Extractor(assembly)
    schema = ex.extract()
    for block, is_list in PROVIDER_REQUIRED_BLOCKS.get(provider, {}).items():
        schema["provider_config"]["blocks"][block].update(required=True, list=is_list)
    schema.update(
        {
            "format": 1,
            "source": source,
            "provider_version": provider_version,
            "package": package,
            "package_version": version,
            "jsii_assembly": f"{assembly['name']}@{assembly['version']}",
            "fallback_names": sorted(ex.fallback_names),
        }
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"{provider}-{major}.json.gz"
    payload = json.dumps(schema, sort_keys=True, separators=(",", ":")).encode()
    with out.open("wb") as fh, gzip.GzipFile(filename="", mode="wb", fileobj=fh, mtime=0, compresslevel=9) as gz:
        gz.write(payload)
    print(
        f"{out.relative_to(REPO) if out.is_relative_to(REPO) else out}: {source} {provider_version} "
        f"from {package}=={version}: {len(schema['resources'])} resources, "
        f"{len(schema['data_sources'])} data sources, {out.stat().st_size // 1024} KiB, "
        f"{len(ex.fallback_names)} names without a docs link"
    )
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("only", nargs="*", help="provider:major to refresh (default: every pin)")
    ap.add_argument("--wheel-dir", type=Path, help="download/reuse wheels here (default: a temp dir)")
    ap.add_argument("--out-dir", type=Path, default=SCHEMA_DIR)
    args = ap.parse_args(argv)
    wanted = [(p, int(m)) for p, m in (s.split(":") for s in args.only)] if args.only else list(PINS)
    for key in wanted:
        if key not in PINS:
            raise SystemExit(f"no pin for {key[0]}:{key[1]}; add it to PINS")
    with tempfile.TemporaryDirectory() as tmp:
        wheel_dir = args.wheel_dir or Path(tmp)
        wheel_dir.mkdir(parents=True, exist_ok=True)
        for provider, major in wanted:
            extract_one(provider, major, wheel_dir, args.out_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
