#!/usr/bin/env python3
"""Rebuild Terraform provider schemas from the prebuilt CDK provider wheels on PyPI.

`terraform providers schema -json` needs the provider binaries, which cannot be downloaded here.
Every `cdktn-provider-*` wheel (CDK Terrain, the maintained fork of cdktf's prebuilt providers)
wraps one exact provider version (its README: "bindings for hashicorp/aws provider version
6.69.1") and embeds a jsii tarball (`<pkg>/_jsii/*.jsii.tgz`) whose `package/lib/<name>/index.js`
was generated from that provider's real schema. The JavaScript keeps what we need:

* per attribute, a comment with its real flags: `// name - computed: true, optional: true, required: false`,
  followed by a typed getter (`getStringAttribute`, `Fn.tolist(getListAttribute(..))` for a set,
  `getStringMapAttribute`, `new XList(this, "x", <wrapsSet>)` for a list/set of objects ...);
* in `synthesizeHclAttributes()` (the class) and `<struct>ToHclTerraform()` (each nested struct),
  every configurable attribute and block by its Terraform name: `isBlock`, the collection kind
  (`type: "list" | "set" | "map" | "struct" | "simple"`) and a value mapper that spells the element
  types (`listMapperHcl(hashMapperHcl(stringToHclTerraform))`); a block mapped without
  `listMapperHcl` is a single-item block (max_items 1); `required` blocks need one item.

Write-only attributes (`markWriteOnlyAttribute`) are marked `write_only`. Lost in the generated
code, so absent here: `sensitive`, `deprecated`, descriptions, item limits
other than 0/1, schema versions (all 0), and everything the provider checks in code (enums,
conflicts, API calls).

Output: `tests/terraform/schemas/<provider>-<major>.json.gz`, in exactly the shape of
`terraform providers schema -json` (one provider), plus an `eventsuite` member naming its origin.
Deterministic (sorted keys, gzip mtime 0). A real `terraform providers schema -json` file can be
converted instead (`--from-terraform FILE --version hashicorp/aws=6.69.1`), when one is at hand.

Usage:
    python terraform/tools/extract_provider_schemas.py                 # every pin below
    python terraform/tools/extract_provider_schemas.py aws:6            # one provider major
    python terraform/tools/extract_provider_schemas.py --wheel-dir /tmp/w   # reuse downloads
    python terraform/tools/extract_provider_schemas.py --from-terraform schema.json \
        --version hashicorp/aws=6.69.1
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
FORMAT = 2

# (provider, major) -> (PyPI package, version). The provider version each wheel wraps is verified
# at extraction time against the wheel's README; the comment is what it said when pinned.
PINS: dict[tuple[str, int], tuple[str, str]] = {
    ("aws", 6): ("cdktn-provider-aws", "25.8.1"),  # hashicorp/aws 6.69.1
    ("google", 7): ("cdktn-provider-google", "20.3.1"),  # hashicorp/google 7.46.1
    ("azurerm", 4): ("cdktn-provider-azurerm", "17.0.0"),  # hashicorp/azurerm 4.81.0
    ("archive", 2): ("cdktn-provider-archive", "14.0.1"),
    ("random", 3): ("cdktn-provider-random", "15.0.1"),
    ("null", 3): ("cdktn-provider-null", "15.0.2"),
    ("time", 0): ("cdktn-provider-time", "14.0.2"),
    ("local", 2): ("cdktn-provider-local", "14.0.1"),
}

# cdktf makes every provider-level argument optional (they may come from the environment), but
# the provider requires some: azurerm's `features` block is Required with MaxItems 1.
PROVIDER_REQUIRED_BLOCKS: dict[str, set[str]] = {"azurerm": {"features"}}
# Terraform meta-arguments that cdktf carries in the provider class; never schema attributes.
PROVIDER_META = {"alias"}

_README = re.compile(r"bindings for ([\w-]+/[\w-]+) provider version (\d+\.\d+\.\d+\S*)")
_TOP = re.compile(r"^(?=function |class )", re.M)
_CLASS = re.compile(r"class (\w+) extends cdktn\.(\w+) \{")
_TF_TYPE = re.compile(r'static tfResourceType = "([\w-]+)";')
_TO_HCL = re.compile(r"function (\w+)ToHclTerraform\(struct\)")
_SYNTH = re.compile(
    r"\n\s+(\w+): \{\n\s+value: (.*?),\n\s+isBlock: (true|false),\n\s+type: \"(\w+)\",\n"
    r"\s+storageClassType: \"(\w+)\","
)
_GETTER = re.compile(
    r"// (\w+) - computed: (true|false), optional: (true|false), required: (true|false)\n"
    r"(?:\s+_\w+(?: = new [^\n]*)?;\n)?\s+get \w+\(\) \{\n\s+return (.*?);\n"
)
_FIELD_NEW = re.compile(r"\n\s+(_\w+) = new ([\w.]+)\(this, \"(\w+)\"(?:, (true|false))?\);")
# a mapper or class imported from a sibling module: `(0, index_1.fooToHclTerraform)`, `index_1.FooList`
_XMOD_REF = re.compile(r"\(0, (?:index|[a-z_]+)_\d+\.(\w+)\)")
_XMOD_PREFIX = re.compile(r"^(?!cdktn\.)\w+_\d+\.")
_KINDS = {
    "TerraformResource": "resource_schemas",
    "TerraformDataSource": "data_source_schemas",
    "TerraformEphemeralResource": "ephemeral_resource_schemas",
}
_PRIMITIVE_MAPPERS = {
    "stringToHclTerraform": "string",
    "numberToHclTerraform": "number",
    "booleanToHclTerraform": "bool",
    "anyToHclTerraform": "dynamic",
}
_GETTER_TYPES = {
    "getStringAttribute": "string",
    "getNumberAttribute": "number",
    "getBooleanAttribute": "bool",
    "getListAttribute": ["list", "string"],
    "getNumberListAttribute": ["list", "number"],
    "getStringMapAttribute": ["map", "string"],
    "getNumberMapAttribute": ["map", "number"],
    "getBooleanMapAttribute": ["map", "bool"],
    "interpolationForAttribute": "dynamic",
}
_CDKTN_COLLECTIONS = {
    "cdktn.StringMap": ["map", "string"],
    "cdktn.NumberMap": ["map", "number"],
    "cdktn.BooleanMap": ["map", "bool"],
    "cdktn.AnyMap": ["map", "dynamic"],
    "cdktn.StringMapList": ["list", ["map", "string"]],
    "cdktn.NumberMapList": ["list", ["map", "number"]],
    "cdktn.BooleanMapList": ["list", ["map", "bool"]],
    "cdktn.AnyMapList": ["list", ["map", "dynamic"]],
}


class JsModule:
    """One generated index.js: its classes (getters, synthesized attributes) and struct mappers."""

    def __init__(self, source: str) -> None:
        self.classes: dict[str, dict[str, Any]] = {}
        self.struct_synth: dict[str, dict[str, tuple[str, bool, str, str]]] = {}
        for chunk in _TOP.split(source):
            if chunk.startswith("function "):
                m = _TO_HCL.match(chunk)
                if m:
                    name = m.group(1)[0].upper() + m.group(1)[1:]
                    self.struct_synth[name] = _synth(chunk)
            elif chunk.startswith("class "):
                m = _CLASS.match(chunk)
                if not m:
                    continue
                getters = {
                    g.group(1): {
                        "computed": g.group(2) == "true",
                        "optional": g.group(3) == "true",
                        "required": g.group(4) == "true",
                        "expr": g.group(5),
                    }
                    for g in _GETTER.finditer(chunk)
                }
                fields = {
                    f.group(1): (_XMOD_PREFIX.sub("", f.group(2)), f.group(4) == "true")
                    for f in _FIELD_NEW.finditer(chunk)
                }
                synth_at = chunk.find("synthesizeHclAttributes() {")
                tf_type = _TF_TYPE.search(chunk)
                self.classes[m.group(1)] = {
                    "base": m.group(2),
                    "tf_type": tf_type.group(1) if tf_type else None,
                    "getters": getters,
                    "fields": fields,
                    "synth": _synth(chunk[synth_at:]) if synth_at >= 0 else {},
                }


def _synth(text: str) -> dict[str, tuple[str, bool, str, str]]:
    return {m.group(1): (m.group(2), m.group(3) == "true", m.group(4), m.group(5)) for m in _SYNTH.finditer(text)}


def _split_call(expr: str) -> tuple[str, list[str]]:
    """`a.b(x, y(z))` -> ("a.b", ["x", "y(z)"]) (top-level arguments only)."""
    head, _, rest = expr.partition("(")
    args, depth, cur = [], 0, ""
    for ch in rest[:-1] if rest.endswith(")") else rest:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            args.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if cur.strip():
        args.append(cur.strip())
    return head.strip(), args


class Compiler:
    """Turns the parsed JavaScript of one provider into `providers schema -json` shapes."""

    def __init__(self, modules: list[JsModule]) -> None:
        self.classes: dict[str, dict[str, Any]] = {}
        self.struct_synth: dict[str, dict[str, tuple[str, bool, str, str]]] = {}
        for mod in modules:
            self.classes.update(mod.classes)
            self.struct_synth.update(mod.struct_synth)
        self.unresolved: set[str] = set()
        self.sets_made_lists = 0

    # -- types ---------------------------------------------------------------------------
    def _mapper_type(self, expr: str, kind: str) -> tuple[Any, str | None]:
        """Type of a synthesized value expression; also the struct name if objects are involved."""
        expr = expr.strip()
        head, args = _split_call(expr)
        if head.startswith("cdktn.listMapperHcl"):
            inner, struct = self._mapper_type(args[0], "list")
            return [kind if kind in ("list", "set") else "list", inner], struct
        if head.startswith("cdktn.hashMapperHcl"):
            inner, struct = self._mapper_type(args[0], "map")
            return ["map", inner], struct
        base = head.split(".")[-1]
        if base in _PRIMITIVE_MAPPERS:
            return _PRIMITIVE_MAPPERS[base], None
        if base.endswith("ToHclTerraform"):
            # `cdktn.listMapperHcl(cdktn.hashMapperHcl(...))(x)` has the mapper as `head`;
            # `fooToHclTerraform(x)` and `cdktn.listMapperHcl(fooToHclTerraform, true)` end here
            name = base[: -len("ToHclTerraform")]
            struct = name[0].upper() + name[1:]
            return ["object", self.object_attrs(struct)], struct
        self.unresolved.add(expr[:80])
        return "dynamic", None

    def _synth_type(self, expr: str, kind: str) -> tuple[Any, str | None]:
        expr = _XMOD_REF.sub(r"\1", expr)
        expr = re.sub(r"^this\.markWriteOnlyAttribute\((.*)\)$", r"\1", expr)
        # `struct.x === undefined ? null : mapper(...)(struct.x)`
        expr = re.sub(r"^[\w.]+ === undefined \? null : ", "", expr)
        # `mapper(args)(value)`: strip the trailing application to the value
        depth = 0
        for i, ch in enumerate(expr):
            if ch == "(":
                depth += 1
            elif ch == ")":
                depth -= 1
                if depth == 0 and i + 1 < len(expr) and expr[i + 1] == "(":
                    return self._mapper_type(expr[: i + 1], kind)
        head, _ = _split_call(expr)
        return self._mapper_type(head, kind)

    def _getter_type(self, cls: dict[str, Any], expr: str) -> Any:
        is_set = "cdktn.Fn.tolist(" in expr
        for fn, t in _GETTER_TYPES.items():
            if f"this.{fn}(" in expr:
                if is_set and isinstance(t, list) and t[0] == "list":
                    return ["set", t[1]]
                if is_set and t == "dynamic":
                    return ["set", "dynamic"]
                return t
        m = re.fullmatch(r"this\.(_\w+)", expr)
        if m and m.group(1) in cls["fields"]:
            ctor, wraps_set = cls["fields"][m.group(1)]
            if ctor in _CDKTN_COLLECTIONS:
                return _CDKTN_COLLECTIONS[ctor]
            for suffix, wrap in (("OutputReference", None), ("List", "list"), ("Map", "map")):
                if ctor.endswith(suffix):
                    obj = ["object", self.object_attrs(ctor[: -len(suffix)])]
                    if wrap == "list":
                        return ["set" if wraps_set else "list", obj]
                    return ["map", obj] if wrap == "map" else obj
        self.unresolved.add(expr[:80])
        return "dynamic"

    def object_attrs(self, struct: str) -> dict[str, Any]:
        """Attribute types of a nested struct, as a cty object type's attributes."""
        block = self.block(struct + "OutputReference", struct)
        out = {name: a.get("type") or _nested_to_type(a["nested_type"]) for name, a in block["attributes"].items()}
        for name, b in block["block_types"].items():
            obj = ["object", {n: t for n, t in _block_to_object(b["block"]).items()}]
            out[name] = obj if b["nesting_mode"] == "single" else [b["nesting_mode"], obj]
        return out

    # -- blocks --------------------------------------------------------------------------
    def block(self, class_name: str, struct: str | None = None) -> dict[str, Any]:
        cls = self.classes.get(class_name, {"getters": {}, "fields": {}, "synth": {}})
        synth = cls["synth"] if struct is None else self.struct_synth.get(struct, {})
        attributes: dict[str, Any] = {}
        block_types: dict[str, Any] = {}
        for name in sorted(set(cls["getters"]) | set(synth)):
            g = cls["getters"].get(name)
            flags = (
                {k: True for k in ("computed", "optional", "required") if g[k]}
                if g
                else {"optional": True}
            )
            if name in synth:
                expr, is_block, kind, _storage = synth[name]
                typ, nested_struct = self._synth_type(expr, kind)
                # `listMapperHcl(fooToHclTerraform, false)` on a "block": an SDKv2 attribute of
                # object type that also accepts block syntax (ConfigModeAttr), a plain attribute
                as_attr = is_block and re.search(r"listMapperHcl\(\w+, false\)", expr) is not None
                if is_block and not as_attr:
                    nb = self.block(nested_struct + "OutputReference", nested_struct) if nested_struct else _empty()
                    mode = {"struct": "single", "set": "set"}.get(kind, "list")
                    entry: dict[str, Any] = {"nesting_mode": mode, "block": nb}
                    single_list = mode == "list" and "listMapperHcl" not in expr
                    if flags.get("required"):
                        entry["min_items"] = 1
                    if single_list:
                        entry["max_items"] = 1
                    block_types[name] = entry
                    continue
                if nested_struct and kind in ("struct", "list", "set", "map") and not as_attr:
                    nested = self.block(nested_struct + "OutputReference", nested_struct)
                    mode = {"struct": "single"}.get(kind, kind)
                    attributes[name] = {"nested_type": {"attributes": nested["attributes"], "nesting_mode": mode}, **flags}
                    continue
                if kind == "set" and isinstance(typ, list) and typ[0] == "list":
                    typ = ["set", typ[1]]
                attributes[name] = {"type": typ, **flags}
                if "markWriteOnlyAttribute(" in expr:  # accepts ephemeral values, never stored
                    attributes[name]["write_only"] = True
            else:
                attributes[name] = {"type": self._getter_type(cls, g["expr"]), **flags}
        return {"attributes": attributes, "block_types": block_types}

    def compile(self) -> tuple[dict[str, Any], dict[str, str]]:
        schema: dict[str, Any] = {
            "provider": {"version": 0, "block": _empty()},
            "resource_schemas": {},
            "data_source_schemas": {},
            "ephemeral_resource_schemas": {},
        }
        names: dict[str, str] = {}
        for class_name, cls in sorted(self.classes.items()):
            if cls["base"] == "TerraformProvider":
                block = self.block(class_name)
                for meta in PROVIDER_META:
                    block["attributes"].pop(meta, None)
                schema["provider"]["block"] = block
            elif cls["base"] in _KINDS and cls["tf_type"]:
                block = self.block(class_name)
                self.sets_made_lists += fix_dynamic_in_sets(block)
                schema[_KINDS[cls["base"]]][cls["tf_type"]] = {"version": 0, "block": block}
                names[cls["tf_type"]] = class_name
        return schema, names


def _has_dynamic(block: dict[str, Any]) -> bool:
    text = json.dumps(block)
    return '"dynamic"' in text


def fix_dynamic_in_sets(block: dict[str, Any]) -> int:
    """Terraform refuses a set-nested block holding a dynamic attribute; cdktf types a block too
    deep for its generator as one `any` attribute (e.g. aws_wafv2_rule_group rule.statement), so
    such a set becomes a list. Returns how many were changed."""
    changed = 0
    for nb in block.get("block_types", {}).values():
        changed += fix_dynamic_in_sets(nb["block"])
        if nb["nesting_mode"] == "set" and _has_dynamic(nb["block"]):
            nb["nesting_mode"] = "list"
            changed += 1
    for a in block.get("attributes", {}).values():
        if "nested_type" in a:
            changed += fix_dynamic_in_sets(a["nested_type"])
            if a["nested_type"]["nesting_mode"] == "set" and _has_dynamic(a["nested_type"]):
                a["nested_type"]["nesting_mode"] = "list"
                changed += 1
    return changed


def _empty() -> dict[str, Any]:
    return {"attributes": {}, "block_types": {}}


def _nested_to_type(nested: dict[str, Any]) -> Any:
    obj = ["object", {n: a.get("type") or _nested_to_type(a["nested_type"]) for n, a in nested["attributes"].items()}]
    mode = nested["nesting_mode"]
    return obj if mode == "single" else [mode, obj]


def _block_to_object(block: dict[str, Any]) -> dict[str, Any]:
    out = {n: a.get("type") or _nested_to_type(a["nested_type"]) for n, a in block["attributes"].items()}
    for n, b in block["block_types"].items():
        obj = ["object", _block_to_object(b["block"])]
        out[n] = obj if b["nesting_mode"] == "single" else [b["nesting_mode"], obj]
    return out


def download_wheel(package: str, version: str, dest: Path) -> Path:
    pattern = f"{package.replace('-', '_')}-{version}-*.whl"
    existing = sorted(dest.glob(pattern))
    if existing:
        return existing[0]
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
         "-d", str(dest), f"{package}=={version}"],
        check=True,
    )
    found = sorted(dest.glob(pattern))
    if not found:
        raise SystemExit(f"pip did not produce a wheel for {package}=={version} in {dest}")
    return found[0]


def read_wheel(wheel: Path) -> tuple[str, list[JsModule]]:
    """The README text and every generated index.js module of the wheel's jsii tarball."""
    with zipfile.ZipFile(wheel) as zf:
        names = [n for n in zf.namelist() if "/_jsii/" in n and n.endswith(".tgz")]
        if not names:
            raise SystemExit(f"{wheel.name}: no jsii tarball under <pkg>/_jsii/")
        data = zf.read(names[0])
    readme, modules = "", []
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for member in tar:
            if member.name == "package/README.md":
                readme = tar.extractfile(member).read().decode()  # type: ignore[union-attr]
            elif member.name.startswith("package/lib/") and member.name.endswith("/index.js"):
                text = tar.extractfile(member).read().decode()  # type: ignore[union-attr]
                if "extends cdktn.Terraform" in text:
                    modules.append(JsModule(text))
    return readme, modules


def write_schema(out: Path, source: str, provider_version: str, provider_schema: dict[str, Any], origin: dict[str, Any]) -> None:
    doc = {
        "format_version": "1.0",
        "provider_schemas": {f"registry.terraform.io/{source}": provider_schema},
        "eventsuite": {"format": FORMAT, "source": source, "provider_version": provider_version, **origin},
    }
    payload = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("wb") as fh, gzip.GzipFile(filename="", mode="wb", fileobj=fh, mtime=0, compresslevel=9) as gz:
        gz.write(payload)


def extract_one(provider: str, major: int, wheel_dir: Path, out_dir: Path) -> Path:
    package, version = PINS[(provider, major)]
    wheel = download_wheel(package, version, wheel_dir)
    readme, modules = read_wheel(wheel)
    m = _README.search(readme)
    if not m:
        raise SystemExit(f"{wheel.name}: README does not say which provider version it wraps")
    source, provider_version = m.group(1), m.group(2)
    if source != f"hashicorp/{provider}" or int(provider_version.split(".")[0]) != major:
        raise SystemExit(f"{package}=={version} wraps {source} {provider_version}, not hashicorp/{provider} {major}.x")
    compiler = Compiler(modules)
    schema, _ = compiler.compile()
    for block in PROVIDER_REQUIRED_BLOCKS.get(provider, set()):
        schema["provider"]["block"]["block_types"][block].update(min_items=1, max_items=1)
    if compiler.unresolved:
        print(f"warning: {len(compiler.unresolved)} expressions typed dynamic: {sorted(compiler.unresolved)[:5]}", file=sys.stderr)
    out = out_dir / f"{provider}-{major}.json.gz"
    write_schema(
        out, source, provider_version, schema,
        {"from": f"{package}=={version}", "dynamic_fallbacks": len(compiler.unresolved),
         "sets_made_lists": compiler.sets_made_lists},
    )
    print(
        f"{out.relative_to(REPO) if out.is_relative_to(REPO) else out}: {source} {provider_version} "
        f"from {package}=={version}: {len(schema['resource_schemas'])} resources, "
        f"{len(schema['data_source_schemas'])} data sources, {out.stat().st_size // 1024} KiB"
    )
    return out


def from_terraform(path: Path, versions: dict[str, str], out_dir: Path) -> list[Path]:
    """Split a real `terraform providers schema -json` file into our per-provider files."""
    doc = json.loads(path.read_text())
    written = []
    for address, provider_schema in sorted(doc["provider_schemas"].items()):
        source = address.removeprefix("registry.terraform.io/")
        if source not in versions:
            raise SystemExit(f"{address}: pass --version {source}=X.Y.Z (the version the schema came from)")
        version = versions[source]
        out = out_dir / f"{source.split('/')[-1]}-{version.split('.')[0]}.json.gz"
        write_schema(out, source, version, provider_schema, {"from": "terraform providers schema -json"})
        print(f"{out}: {source} {version} from {path.name}")
        written.append(out)
    return written


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("only", nargs="*", help="provider:major to refresh (default: every pin)")
    ap.add_argument("--wheel-dir", type=Path, help="download/reuse wheels here (default: a temp dir)")
    ap.add_argument("--out-dir", type=Path, default=SCHEMA_DIR)
    ap.add_argument("--from-terraform", type=Path, help="a `terraform providers schema -json` file")
    ap.add_argument("--version", action="append", default=[], help="source=version for --from-terraform")
    args = ap.parse_args(argv)
    if args.from_terraform:
        versions = dict(v.split("=", 1) for v in args.version)
        from_terraform(args.from_terraform, versions, args.out_dir)
        return 0
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
