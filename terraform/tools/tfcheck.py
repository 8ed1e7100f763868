#!/usr/bin/env python3
"""Offline Terraform checks: parse, provider-schema validation, module calls, fmt, catalog parity.

`terraform init` cannot download providers offline, so `terraform validate` is not available
here. This module does the part of it that matters most, against the provider schemas committed
under tests/terraform/schemas/ (see extract_provider_schemas.py):

* every resource / data / provider block: unknown arguments and blocks (with a did-you-mean),
  an argument written as a block and the reverse, missing required arguments and blocks, at most
  one of a single-nested block, unknown resource and data source types;
* every call of a local module (`source = "./..."` or `"../..."`): unknown inputs, missing
  required inputs (variables without a default);
* `terraform fmt` style (terraform when installed, else the hclwrite formatter compiled to wasm in
  the npm package @cdktn/hcl-tools);
* catalog parity: each cloud's module creates its per-consumer resources with `for_each` over
  the consumers, and each root feeds the module from shared/catalog/catalog.json.

CLI (used by pre-commit and by hand):
    python terraform/tools/tfcheck.py validate [DIR]   # parse + schemas + module calls
    python terraform/tools/tfcheck.py fmt [DIR]        # terraform fmt -check style
    python terraform/tools/tfcheck.py parity           # catalog parity for every cloud
    python terraform/tools/tfcheck.py checkov [DIR]    # checkov --skip-download, zero failures
    python terraform/tools/tfcheck.py all
"""

from __future__ import annotations

import argparse
import difflib
import functools
import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hcl2
from hcl2.rules.base import AttributeRule, BlockRule
from hcl2.utils import SerializationOptions

REPO = Path(__file__).resolve().parents[2]
TERRAFORM_DIR = REPO / "terraform"
SCHEMA_DIR = REPO / "tests" / "terraform" / "schemas"
CATALOG = REPO / "shared" / "catalog" / "catalog.json"
TOOLS_DIR = Path(__file__).resolve().parent

_SER = SerializationOptions(with_comments=False, strip_string_quotes=True)
_SKIP_DIRS = {".terraform", "node_modules", ".git"}


# --------------------------------------------------------------------------------------------
# Parsed model
# --------------------------------------------------------------------------------------------


@dataclass
class Finding:
    file: Path
    line: int
    check: str
    message: str

    def __str__(self) -> str:
        try:
            shown: Path | str = self.file.resolve().relative_to(REPO)
        except ValueError:
            shown = self.file
        return f"{shown}:{self.line}: [{self.check}] {self.message}"


@dataclass
class Attr:
    name: str
    line: int
    text: str  # the expression's source text
    value: Any  # python-hcl2 serialization (strings keep ${...} for expressions)
    end_line: int = 0


@dataclass
class Block:
    type: str
    labels: list[str]
    line: int
    file: Path
    attrs: dict[str, Attr] = field(default_factory=dict)
    blocks: list[Block] = field(default_factory=list)
    end_line: int = 0

    def children(self, type_: str) -> list[Block]:
        return [b for b in self.blocks if b.type == type_]

    def has_block(self, name: str) -> bool:
        """Static `name { }` or `dynamic "name" { }`."""
        return any(
            b.type == name or (b.type == "dynamic" and b.labels[:1] == [name]) for b in self.blocks
        )

    @property
    def address(self) -> str:
        return ".".join([self.type, *self.labels])


class HclParseError(Exception):
    pass


def _convert(body: Any, src: str, path: Path, into: Block) -> None:
    for child in body.children:
        if isinstance(child, AttributeRule):
            name = str(child.identifier.serialize(_SER))
            meta, emeta = child._meta, child.expression._meta
            text = src[emeta.start_pos : meta.end_pos] if hasattr(emeta, "start_pos") else ""
            into.attrs[name] = Attr(name, meta.line, text, child.expression.serialize(_SER),
                                    getattr(meta, "end_line", meta.line))
        elif isinstance(child, BlockRule):
            labels = [str(lbl.serialize(_SER)) for lbl in child.labels]
            blk = Block(labels[0], labels[1:], child._meta.line, path,
                        end_line=getattr(child._meta, "end_line", child._meta.line))
            _convert(child.body, src, path, blk)
            into.blocks.append(blk)


@functools.lru_cache(maxsize=1024)
def _parse_source(src: str) -> Any:
    """python-hcl2 is slow (~0.1 s a file): parse each distinct text once per process."""
    return hcl2.parses(src, discard_comments=True)


@functools.lru_cache(maxsize=1024)
def _parse_cached(path: Path, mtime_ns: int, size: int) -> Block:
    src = path.read_text(encoding="utf-8")
    try:
        tree = _parse_source(src)
    except Exception as exc:  # lark raises several exception types
        raise HclParseError(f"{path}: {exc}") from exc
    root = Block("", [], 1, path)
    _convert(tree.body, src, path, root)
    return root


def parse_file(path: Path) -> Block:
    """Parse one .tf file with python-hcl2 into the Block model (cached on path, mtime and size)."""
    st = path.stat()
    return _parse_cached(path.resolve(), st.st_mtime_ns, st.st_size)


def tf_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.glob("*.tf") if p.is_file())


def module_dirs(tree: Path) -> list[Path]:
    """Every directory under `tree` holding .tf files (skipping .terraform etc.)."""
    out = set()
    for p in tree.rglob("*.tf"):
        if not _SKIP_DIRS.intersection(p.relative_to(tree).parts):
            out.add(p.parent)
    return sorted(out)


@dataclass
class Module:
    dir: Path
    files: list[Path]
    blocks: list[Block]

    def top(self, type_: str) -> list[Block]:
        return [b for b in self.blocks if b.type == type_]

    def resources(self, kind: str = "resource") -> list[Block]:
        return self.top(kind)

    def variables(self) -> dict[str, Block]:
        return {b.labels[0]: b for b in self.top("variable") if b.labels}

    def locals(self) -> dict[str, Attr]:
        out: dict[str, Attr] = {}
        for b in self.top("locals"):
            out.update(b.attrs)
        return out

    def required_providers(self) -> dict[str, tuple[str, str | None]]:
        """local name -> (source, version constraint)."""
        out: dict[str, tuple[str, str | None]] = {}
        for tb in self.top("terraform"):
            for rp in tb.children("required_providers"):
                for name, attr in rp.attrs.items():
                    val = attr.value
                    if isinstance(val, dict):
                        source = str(val.get("source") or f"hashicorp/{name}")
                        version = val.get("version")
                        out[name] = (_canon_source(source), str(version) if version else None)
                    else:  # legacy `aws = "~> 6.0"`
                        out[name] = (f"hashicorp/{name}", str(val))
        return out


def _canon_source(source: str) -> str:
    parts = source.lower().split("/")
    if len(parts) == 3 and parts[0] == "registry.terraform.io":
        parts = parts[1:]
    if len(parts) == 1:
        parts = ["hashicorp", parts[0]]
    return "/".join(parts)


def load_module(directory: Path) -> Module:
    files = tf_files(directory)
    blocks: list[Block] = []
    for f in files:
        blocks.extend(parse_file(f).blocks)
    return Module(directory, files, blocks)


# --------------------------------------------------------------------------------------------
# Provider schemas and version constraints
# --------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=32)
def load_schema(path: Path) -> dict[str, Any]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        data: dict[str, Any] = json.load(fh)
    return data


def available_schemas(schema_dir: Path = SCHEMA_DIR) -> dict[str, dict[int, Path]]:
    """provider source (hashicorp/aws) -> major -> file."""
    out: dict[str, dict[int, Path]] = {}
    for p in sorted(schema_dir.glob("*.json.gz")):
        m = re.fullmatch(r"(.+)-(\d+)\.json\.gz", p.name)
        if m:
            out.setdefault(f"hashicorp/{m.group(1)}", {})[int(m.group(2))] = p
    return out


def _vtuple(v: str) -> tuple[int, int, int]:
    nums = [int(x) for x in re.findall(r"\d+", v.split("-")[0])[:3]]
    return (nums + [0, 0, 0])[0], (nums + [0, 0, 0])[1], (nums + [0, 0, 0])[2]


def _satisfies(version: tuple[int, int, int], constraint: str) -> bool:
    for part in constraint.split(","):
        part = part.strip()
        if not part:
            continue
        m = re.fullmatch(r"(~>|>=|<=|!=|=|>|<)?\s*v?([\d.]+)(-\S+)?", part)
        if not m:
            return True  # unknown syntax: do not reject
        op, raw = m.group(1) or "=", m.group(2)
        want = _vtuple(raw)
        ok = {
            "=": version == want,
            "!=": version != want,
            ">": version > want,
            ">=": version >= want,
            "<": version < want,
            "<=": version <= want,
        }.get(op)
        if op == "~>":
            segs = raw.split(".")
            if len(segs) == 1:
                upper = (want[0] + 1, 0, 0)
            elif len(segs) == 2:
                upper = (want[0] + 1, 0, 0)
            else:
                upper = (want[0], want[1] + 1, 0)
            ok = want <= version < upper
        if not ok:
            return False
    return True


def pick_major(constraints: Iterable[str], majors: Iterable[int]) -> int | None:
    """Highest available major that some version satisfying every constraint belongs to."""
    cons = [c for c in constraints if c]
    mentioned = {_vtuple(v) for c in cons for v in re.findall(r"\d+(?:\.\d+){0,2}", c)}
    for major in sorted(majors, reverse=True):
        probes = {(major, 0, 0), (major, 999, 999)}
        for v in mentioned:
            if v[0] == major:
                probes |= {v, (v[0], v[1], v[2] + 1), (v[0], v[1] + 1, 0)}
        if any(all(_satisfies(p, c) for c in cons) for p in probes):
            return major
    return None


# --------------------------------------------------------------------------------------------
# Schema validation
# --------------------------------------------------------------------------------------------

RESOURCE_META_ARGS = {"count", "for_each", "depends_on", "provider"}
RESOURCE_META_BLOCKS = {"lifecycle", "connection", "provisioner"}
LIFECYCLE_ARGS = {"create_before_destroy", "prevent_destroy", "ignore_changes", "replace_triggered_by"}
LIFECYCLE_BLOCKS = {"precondition", "postcondition"}
MODULE_META_ARGS = {"source", "version", "count", "for_each", "depends_on", "providers"}
DYNAMIC_ARGS = {"for_each", "iterator", "labels"}


def _suggest(name: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean `{close[0]}`?)" if close else ""


def check_body(
    blk: Block, schema: dict[str, Any], where: str, out: list[Finding], *, meta: str | None = None
) -> None:
    """Validate one block body against a schema node; `meta` is "resource"/"data"/None."""
    if schema.get("any"):
        return
    args: dict[str, Any] = schema.get("arguments", {})
    blocks: dict[str, Any] = schema.get("blocks", {})
    known = set(args) | set(blocks)
    present_args: set[str] = set()
    seen: Counter[str] = Counter()
    dynamic_seen: set[str] = set()

    def add(line: int, check: str, msg: str) -> None:
        out.append(Finding(blk.file, line, check, f"{where}: {msg}"))

    for name, attr in blk.attrs.items():
        if meta and name in RESOURCE_META_ARGS:
            continue
        if name in args:
            present_args.add(name)
        elif name in blocks:
            add(attr.line, "block-as-argument",
                f"`{name}` is a block: write `{name} {{ ... }}` (or `dynamic \"{name}\"`), not `{name} = ...`")
            seen[name] += 1
        else:
            add(attr.line, "unknown-argument",
                f"unsupported argument `{name}`{_suggest(name, known)}")

    for child in blk.blocks:
        name = child.type
        if meta and name in RESOURCE_META_BLOCKS:
            if name == "lifecycle":
                _check_lifecycle(child, where, out)
            continue
        body = child
        if name == "dynamic":
            if not child.labels:
                add(child.line, "dynamic", "dynamic block without a label")
                continue
            name = child.labels[0]
            contents = child.children("content")
            for a in child.attrs:
                if a not in DYNAMIC_ARGS:
                    add(child.attrs[a].line, "unknown-argument",
                        f"dynamic \"{name}\": unsupported argument `{a}`{_suggest(a, DYNAMIC_ARGS)}")
            if "for_each" not in child.attrs:
                add(child.line, "missing-argument", f"dynamic \"{name}\": missing `for_each`")
            if len(contents) != 1:
                add(child.line, "missing-block", f"dynamic \"{name}\": needs exactly one `content` block")
                continue
            body = contents[0]
            dynamic_seen.add(name)
        if name in blocks:
            seen[name] += 1
            check_body(body, blocks[name], f"{where}.{name}", out)
        elif name in args:
            if args[name].get("object"):
                present_args.add(name)  # SDKv2 attributes-as-blocks (e.g. security group ingress)
            else:
                add(child.line, "argument-as-block",
                    f"`{name}` is an argument: write `{name} = ...`, not a `{name} {{ }}` block")
        else:
            add(child.line, "unknown-block", f"unsupported block type `{name}`{_suggest(name, known)}")

    for name, spec in sorted(args.items()):
        if spec.get("required") and name not in present_args:
            add(blk.line, "missing-argument", f"missing required argument `{name}`")
    for name, spec in sorted(blocks.items()):
        if spec.get("required") and not seen[name] and name not in dynamic_seen:
            add(blk.line, "missing-block", f"missing required block `{name} {{ ... }}`")
        if not spec.get("list", True) and seen[name] > 1 and name not in dynamic_seen:
            add(blk.line, "too-many-blocks", f"at most one `{name}` block is allowed")


def _check_lifecycle(blk: Block, where: str, out: list[Finding]) -> None:
    for name, attr in blk.attrs.items():
        if name not in LIFECYCLE_ARGS:
            out.append(Finding(blk.file, attr.line, "unknown-argument",
                               f"{where}.lifecycle: unsupported argument `{name}`{_suggest(name, LIFECYCLE_ARGS)}"))
    for child in blk.blocks:
        if child.type not in LIFECYCLE_BLOCKS:
            out.append(Finding(blk.file, child.line, "unknown-block",
                               f"{where}.lifecycle: unsupported block `{child.type}`"))


@dataclass
class Tree:
    """All module directories of a Terraform tree, with the local-module call graph."""

    root: Path
    modules: dict[Path, Module]
    callers: dict[Path, list[tuple[Module, Block]]]

    @classmethod
    def load(cls, root: Path, extra_dirs: Iterable[Path] = ()) -> Tree:
        mods = {d.resolve(): load_module(d) for d in [*module_dirs(root), *extra_dirs]}
        callers: dict[Path, list[tuple[Module, Block]]] = {}
        for mod in list(mods.values()):
            for call in mod.top("module"):
                target = local_module_target(mod, call)
                if target is not None:
                    callers.setdefault(target, []).append((mod, call))
                    if target not in mods and target.is_dir():
                        mods[target] = load_module(target)
        return cls(root, mods, callers)

    def provider_constraints(self, mod: Module, seen: frozenset[Path] = frozenset()) -> dict[str, tuple[str, list[str]]]:
        """local name -> (source, constraints from this module and every module calling it)."""
        out: dict[str, tuple[str, list[str]]] = {}
        for name, (source, version) in mod.required_providers().items():
            out[name] = (source, [version] if version else [])
        for caller, _call in self.callers.get(mod.dir.resolve(), []):
            if caller.dir.resolve() in seen:
                continue
            up = self.provider_constraints(caller, seen | {mod.dir.resolve()})
            for name, (source, cons) in up.items():
                if name in out and out[name][0] == source:
                    out[name][1].extend(cons)
                elif name not in out:
                    out[name] = (source, list(cons))
        return out


def local_module_target(mod: Module, call: Block) -> Path | None:
    src = call.attrs.get("source")
    if src is None or not isinstance(src.value, str):
        return None
    if not (src.value.startswith("./") or src.value.startswith("../")):
        return None
    return (mod.dir / src.value).resolve()


# The built-in provider (terraform.io/builtin/terraform) ships with Terraform itself.
BUILTIN_SCHEMA: dict[str, Any] = {
    "source": "terraform.io/builtin/terraform",
    "provider_version": "builtin",
    "provider_config": None,
    "resources": {
        "terraform_data": {"arguments": {"input": {"required": False}, "triggers_replace": {"required": False}},
                           "blocks": {}},
    },
    "data_sources": {
        "terraform_remote_state": {"arguments": {"backend": {"required": True}, "config": {"required": False},
                                                 "defaults": {"required": False}, "workspace": {"required": False}},
                                   "blocks": {}},
    },
    "ephemeral_resources": {},
}


def check_module_schemas(tree: Tree, mod: Module, schema_dir: Path = SCHEMA_DIR) -> list[Finding]:
    out: list[Finding] = []
    avail = available_schemas(schema_dir)
    constraints = tree.provider_constraints(mod)
    resolved: dict[str, dict[str, Any] | None] = {}

    def schema_for(local: str, line_blk: Block) -> dict[str, Any] | None:
        if local in resolved:
            return resolved[local]
        source, cons = constraints.get(local, (f"hashicorp/{local}", []))
        result = None
        if local == "terraform" and local not in constraints:
            result = BUILTIN_SCHEMA
        elif source in avail:
            major = pick_major(cons, avail[source])
            if major is None:
                out.append(Finding(line_blk.file, line_blk.line, "provider-version",
                                   f"no offline schema of {source} matches {cons}; available majors "
                                   f"{sorted(avail[source])} (refresh: terraform/tools/README.md)"))
            else:
                result = load_schema(avail[source][major])
                if not cons and mod.required_providers() == {} and not tree.callers.get(mod.dir.resolve()):
                    out.append(Finding(line_blk.file, line_blk.line, "provider-version",
                                       f"{source} has no version constraint; pin the major in required_providers"))
        resolved[local] = result
        return result

    for kind, meta in (("resource", "resource"), ("data", "data"), ("ephemeral", "resource")):
        table = {"resource": "resources", "data": "data_sources", "ephemeral": "ephemeral_resources"}[kind]
        for blk in mod.top(kind):
            if len(blk.labels) != 2:
                out.append(Finding(blk.file, blk.line, "syntax", f"{kind} block needs two labels"))
                continue
            rtype = blk.labels[0]
            prov = blk.attrs.get("provider")
            local = (prov.text.split(".")[0].strip() if prov else rtype.split("_")[0])
            schema = schema_for(local, blk)
            if schema is None:
                continue
            types = schema[table]
            where = f"{'data.' if kind == 'data' else ''}{rtype}.{blk.labels[1]}"
            if rtype not in types:
                out.append(Finding(blk.file, blk.line, "unknown-type",
                                   f"{kind} type `{rtype}` does not exist in {schema['source']} "
                                   f"{schema['provider_version']}{_suggest(rtype, types)}"))
                continue
            check_body(blk, types[rtype], where, out, meta=meta)
    for blk in mod.top("provider"):
        if not blk.labels:
            continue
        schema = schema_for(blk.labels[0], blk)
        if schema is None or schema.get("provider_config") is None:
            continue
        check_body(blk, schema["provider_config"], f"provider.{blk.labels[0]}", out)
    return out


def known_resource_types(tree: Tree, mod: Module, schema_dir: Path = SCHEMA_DIR) -> set[str]:
    """Resource types of every provider this module can use (for the reference check)."""
    avail = available_schemas(schema_dir)
    types: set[str] = set(BUILTIN_SCHEMA["resources"])
    for _local, (source, cons) in tree.provider_constraints(mod).items():
        if source in avail:
            major = pick_major(cons, avail[source])
            if major is not None:
                types |= set(load_schema(avail[source][major])["resources"])
    for blk in mod.top("resource"):  # providers without constraints: hashicorp/<prefix>
        source = f"hashicorp/{blk.labels[0].split('_')[0]}" if blk.labels else ""
        if source in avail:
            types |= set(load_schema(avail[source][max(avail[source])])["resources"])
    return types


def variables_of(directory: Path) -> dict[str, Block]:
    return load_module(directory).variables()


def check_module_calls(mod: Module) -> list[Finding]:
    out: list[Finding] = []
    for call in mod.top("module"):
        target = local_module_target(mod, call)
        if target is None:
            continue
        name = f"module.{call.labels[0] if call.labels else '?'}"
        if not target.is_dir() or not tf_files(target):
            out.append(Finding(call.file, call.attrs["source"].line, "module-source",
                               f"{name}: local module {call.attrs['source'].value!r} has no .tf files"))
            continue
        variables = variables_of(target)
        for arg, attr in call.attrs.items():
            if arg in MODULE_META_ARGS:
                continue
            if arg not in variables:
                out.append(Finding(call.file, attr.line, "unknown-input",
                                   f"{name}: module has no variable `{arg}`{_suggest(arg, variables)}"))
        for child in call.blocks:
            if child.type != "lifecycle":
                out.append(Finding(call.file, child.line, "unknown-block",
                                   f"{name}: blocks are not allowed in a module call (`{child.type}`)"))
        for var, vblk in sorted(variables.items()):
            if "default" not in vblk.attrs and var not in call.attrs:
                out.append(Finding(call.file, call.line, "missing-input",
                                   f"{name}: missing required input `{var}` "
                                   f"(declared at {vblk.file.name}:{vblk.line})"))
    return out


_SKIP_REF_BLOCKS = {"moved", "removed", "import"}
_NOT_RESOURCES = {"each", "count", "self", "path", "terraform", "var", "local", "data", "module"}


def code_only(text: str) -> str:
    """The expression text without string literals and comments, keeping `${...}` contents."""
    out: list[str] = []
    i, n = 0, len(text)

    def interpolation(j: int) -> tuple[str, int]:
        depth = 0
        k = j + 1  # at "{"
        while k < n:
            if text[k] == "{":
                depth += 1
            elif text[k] == "}":
                depth -= 1
                if depth == 0:
                    return code_only(text[j + 2 : k]), k + 1
            elif text[k] == '"':  # skip a nested string inside the interpolation
                k += 1
                while k < n and text[k] != '"':
                    k += 2 if text[k] == "\\" else 1
            k += 1
        return code_only(text[j + 2 :]), n

    while i < n:
        c = text[i]
        heredoc = re.match(r"<<-?([A-Za-z_][\w-]*)\r?\n", text[i:]) if c == "<" else None
        if c == '"' or heredoc:
            if heredoc:
                end = re.search(rf"\n[ \t]*{re.escape(heredoc.group(1))}[ \t]*(\r?\n|$)", text[i:])
                body_end = i + (end.start() if end else n - i)
                j, stop = i + heredoc.end(), body_end
                after = i + (end.end() if end else n - i)
            else:
                j, stop, after = i + 1, n, -1
            while j < stop:
                if not heredoc and text[j] == '"':
                    break
                if text[j] == "\\" and not heredoc:
                    j += 2
                    continue
                if text.startswith("${", j) or text.startswith("%{", j):
                    inner, j = interpolation(j)
                    out.append(f" {inner} ")
                    continue
                j += 1
            i = after if heredoc else j + 1
            out.append(" ")
        elif c == "#" or text.startswith("//", i):
            while i < n and text[i] != "\n":
                i += 1
        elif text.startswith("/*", i):
            end_c = text.find("*/", i + 2)
            i = n if end_c < 0 else end_c + 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _all_attrs(blk: Block) -> Iterator[Attr]:
    yield from blk.attrs.values()
    for child in blk.blocks:
        yield from _all_attrs(child)


def check_references(mod: Module, resource_types: set[str]) -> list[Finding]:
    """References to undeclared variables, locals, modules, data sources and resources."""
    out: list[Finding] = []
    variables = set(mod.variables())
    locals_ = set(mod.locals())
    modules = {b.labels[0] for b in mod.top("module") if b.labels}
    module_outputs: dict[str, set[str]] = {}
    for call in mod.top("module"):
        target = local_module_target(mod, call)
        if call.labels and target is not None and target.is_dir() and tf_files(target):
            module_outputs[call.labels[0]] = {b.labels[0] for b in load_module(target).top("output") if b.labels}
    resources = {(b.labels[0], b.labels[1]) for b in mod.top("resource") if len(b.labels) == 2}
    datas = {(b.labels[0], b.labels[1]) for b in mod.top("data") if len(b.labels) == 2}
    declared_types = {t for t, _ in resources}
    known_types = resource_types | declared_types
    for top in mod.blocks:
        if top.type in _SKIP_REF_BLOCKS:
            continue
        for attr in _all_attrs(top):
            code = code_only(attr.text)
            seen: set[str] = set()

            def flag(kind: str, ref: str, candidates: Iterable[str], attr: Attr = attr, seen: set[str] = seen) -> None:
                if ref not in seen:
                    seen.add(ref)
                    out.append(Finding(top.file, attr.line, "undeclared-reference",
                                       f"{top.address}: reference to undeclared {kind} `{ref}`"
                                       f"{_suggest(ref, candidates)}"))

            for name in re.findall(r"(?<![\w.])var\.([A-Za-z_][\w-]*)", code):
                if name not in variables:
                    flag("input variable", f"var.{name}", [f"var.{v}" for v in variables])
            for name in re.findall(r"(?<![\w.])local\.([A-Za-z_][\w-]*)", code):
                if name not in locals_:
                    flag("local value", f"local.{name}", [f"local.{v}" for v in locals_])
            for name, output in re.findall(r"(?<![\w.])module\.([A-Za-z_][\w-]*)(?:\[[^\]]*\])?(?:\.([A-Za-z_][\w-]*))?", code):
                if name not in modules:
                    flag("module", f"module.{name}", [f"module.{v}" for v in modules])
                elif output and name in module_outputs and output not in module_outputs[name]:
                    flag(f"output of module.{name}", f"module.{name}.{output}",
                         [f"module.{name}.{o}" for o in module_outputs[name]])
            for t, n in re.findall(r"(?<![\w.])data\.([a-z][\w]*)\.([A-Za-z_][\w-]*)", code):
                if (t, n) not in datas:
                    flag("data source", f"data.{t}.{n}", [f"data.{a}.{b}" for a, b in datas])
            for t, n in re.findall(r"(?<![\w.])([a-z][a-z0-9]*_[a-z0-9_]+)\.([A-Za-z_][\w-]*)", code):
                if t in _NOT_RESOURCES or t not in known_types or (t, n) in resources:
                    continue
                flag("resource", f"{t}.{n}", [f"{a}.{b}" for a, b in resources])
    return out


def _providers_used(tree: Tree, mod: Module, seen: set[Path]) -> set[str]:
    """Provider local names used by a module and every local module it calls."""
    if mod.dir.resolve() in seen:
        return set()
    seen.add(mod.dir.resolve())
    used = {b.labels[0].split("_")[0] for b in [*mod.top("resource"), *mod.top("data")] if b.labels}
    for call in mod.top("module"):
        target = local_module_target(mod, call)
        if target is not None and target in tree.modules:
            used |= _providers_used(tree, tree.modules[target], seen)
    return used


def check_root_provider_configs(tree: Tree, schema_dir: Path = SCHEMA_DIR) -> list[Finding]:
    """A root using a provider whose configuration has required parts must configure it
    (e.g. azurerm's `features {}`): an absent provider block is an empty configuration."""
    out: list[Finding] = []
    avail = available_schemas(schema_dir)
    for mod in tree.modules.values():
        if tree.callers.get(mod.dir.resolve()) or not mod.files:
            continue
        configured = {b.labels[0] for b in mod.top("provider") if b.labels}
        constraints = tree.provider_constraints(mod)
        for local in sorted(_providers_used(tree, mod, set()) - configured):
            source, cons = constraints.get(local, (f"hashicorp/{local}", []))
            if source not in avail:
                continue
            major = pick_major(cons, avail[source])
            config = load_schema(avail[source][major]).get("provider_config") if major is not None else None
            if not config:
                continue
            required = [f"`{n}`" for n, a in config["arguments"].items() if a.get("required")]
            required += [f"`{n} {{}}`" for n, b in config["blocks"].items() if b.get("required")]
            if required:
                out.append(Finding(mod.files[0], 1, "missing-provider-config",
                                   f"provider \"{local}\" is used but not configured in this root; "
                                   f"it requires {', '.join(required)}"))
    return out


def validate(root: Path = TERRAFORM_DIR, extra_dirs: Iterable[Path] = (),
             schema_dir: Path = SCHEMA_DIR) -> list[Finding]:
    """Parse every .tf under root, then check schemas and local module calls."""
    out: list[Finding] = []
    parse_errors = parse_all(root)
    out.extend(parse_errors)
    if parse_errors:
        return out
    tree = Tree.load(root, extra_dirs)
    for mod in tree.modules.values():
        out.extend(check_module_schemas(tree, mod, schema_dir))
        out.extend(check_module_calls(mod))
        out.extend(check_references(mod, known_resource_types(tree, mod, schema_dir)))
    out.extend(check_root_provider_configs(tree, schema_dir))
    return sorted(out, key=lambda f: (str(f.file), f.line, f.check, f.message))


def parse_all(root: Path) -> list[Finding]:
    out = []
    for d in module_dirs(root):
        for f in tf_files(d):
            try:
                parse_file(f)
            except HclParseError as exc:
                out.append(Finding(f, _error_line(str(exc)), "parse", str(exc).splitlines()[0][-300:]))
    return out


def _error_line(msg: str) -> int:
    m = re.search(r"line (\d+)", msg)
    return int(m.group(1)) if m else 1


# --------------------------------------------------------------------------------------------
# Formatting
# --------------------------------------------------------------------------------------------


@dataclass
class FmtResult:
    engine: str | None  # "terraform", "hcl-tools" or None (no formatter available)
    reason: str
    unformatted: dict[Path, str]  # file -> unified diff


def find_terraform() -> str | None:
    return os.environ.get("EVENTSUITE_TERRAFORM") or shutil.which("terraform")


def find_hcl_tools() -> Path | None:
    env = os.environ.get("EVENTSUITE_HCL_TOOLS")
    candidates = [Path(env)] if env else []
    candidates += [TOOLS_DIR / "node_modules" / "@cdktn" / "hcl-tools", TOOLS_DIR / "node_modules" / "@cdktf" / "hcl-tools"]
    for c in candidates:
        if (c / "package.json").is_file():
            return c
    return None


def fmt_check(root: Path = TERRAFORM_DIR, engine: str | None = None) -> FmtResult:
    files = [f for d in module_dirs(root) for f in tf_files(d)]
    tfbin = find_terraform()
    tools = find_hcl_tools()
    node = shutil.which("node")
    if engine is None:
        engine = "terraform" if tfbin else ("hcl-tools" if tools and node else None)
    if engine == "terraform" and tfbin:
        return _fmt_terraform(tfbin, root)
    if engine == "hcl-tools" and tools and node:
        return _fmt_hcl_tools(node, tools, files)
    return FmtResult(None, "neither terraform nor node + @cdktn/hcl-tools (npm ci --prefix terraform/tools) found", {})


def _fmt_terraform(tfbin: str, root: Path) -> FmtResult:
    env = {**os.environ, "CHECKPOINT_DISABLE": "1", "TF_CLI_CONFIG_FILE": os.devnull}
    proc = subprocess.run([tfbin, "fmt", "-check", "-recursive", "-diff", "-no-color", str(root)],
                          capture_output=True, text=True, env=env, check=False)
    if proc.returncode not in (0, 3):
        raise RuntimeError(f"terraform fmt failed ({proc.returncode}): {proc.stderr.strip()}")
    unformatted: dict[Path, str] = {}
    current: Path | None = None
    for line in proc.stdout.splitlines():
        if line.endswith(".tf") and not line.startswith(("+", "-", " ", "@")) and Path(line).exists():
            current = Path(line)
            unformatted[current] = ""
        elif current is not None:
            unformatted[current] += line + "\n"
    return FmtResult("terraform", proc.stderr.strip(), unformatted)


_HCL_TOOLS_JS = r"""
// node -e: process.argv = [node, tools_dir, out_json, ...files]
const tools = require(process.argv[1]);
const fs = require("fs");
(async () => {
  const out = {};
  for (const f of process.argv.slice(3)) out[f] = await tools.format(fs.readFileSync(f, "utf8"));
  fs.writeFileSync(process.argv[2], JSON.stringify(out));
  process.exit(0);
})().catch((e) => { console.error(String((e && e.stack) || e)); process.exit(2); });
"""


def format_with_hcl_tools(node: str, tools: Path, files: list[Path]) -> dict[Path, str]:
    """Format files with hclwrite (the formatter `terraform fmt` wraps), compiled to wasm."""
    if not files:
        return {}
    with tempfile.TemporaryDirectory() as tmp:
        out_json = Path(tmp) / "formatted.json"
        proc = subprocess.run([node, "-e", _HCL_TOOLS_JS, str(tools.resolve()), str(out_json), *map(str, files)],
                              capture_output=True, text=True, check=False, timeout=120)
        if proc.returncode != 0 or not out_json.exists():
            raise RuntimeError(f"@cdktn/hcl-tools format failed: {proc.stderr.strip()[-2000:]}")
        return {Path(k): v for k, v in json.loads(out_json.read_text(encoding="utf-8")).items()}


def _fmt_hcl_tools(node: str, tools: Path, files: list[Path]) -> FmtResult:
    formatted = format_with_hcl_tools(node, tools, files)
    unformatted = {}
    for f, new in formatted.items():
        old = f.read_text(encoding="utf-8")
        if old != new:
            diff = difflib.unified_diff(old.splitlines(True), new.splitlines(True), f"old/{f}", f"new/{f}")
            unformatted[f] = "".join(diff)
        # `terraform fmt` also rewrites two legacy forms that hclwrite leaves alone
        legacy = [f"{f}:{n}: {why}: {line.strip()}" for n, line in enumerate(new.splitlines(), 1)
                  for pattern, why in _LEGACY if pattern.search(line)]
        if legacy:
            unformatted[f] = unformatted.get(f, "") + "\n".join(legacy) + "\n"
    return FmtResult("hcl-tools", f"hclwrite formatter from {tools}", unformatted)


_LEGACY = [
    (re.compile(r'^\s*[\w-]+\s*=\s*"\$\{[^"{}]*\}"\s*(#.*)?$'), 'interpolation-only string "${x}" (write x)'),
    (re.compile(r'^\s*type\s*=\s*"(string|number|bool|list|map|any)"\s*$'), "quoted type keyword"),
]


# --------------------------------------------------------------------------------------------
# Catalog parity
# --------------------------------------------------------------------------------------------

_REF_VAR = re.compile(r"\bvar\.([A-Za-z_][\w-]*)")
_REF_LOCAL = re.compile(r"\blocal\.([A-Za-z_][\w-]*)")
_REF_RES = re.compile(r"(?<![\w.])([a-z][a-z0-9]*_[a-z0-9_]+)\.([A-Za-z_][\w-]*)")
_CATALOG_READ = re.compile(r"(?:jsondecode|yamldecode)\s*\(\s*file\s*\(\s*\"([^\"]*catalog[^\"]*)\"")


@dataclass(frozen=True)
class Role:
    """A resource each consumer must get, created with `for_each` over the consumers."""

    label: str
    types: tuple[str, ...]  # resource types; a trailing * matches a prefix
    blocks: tuple[str, ...] = ()  # required static or dynamic blocks
    attrs: tuple[str, ...] = ()  # required arguments
    contains: tuple[tuple[str, str], ...] = ()  # (argument, text it must contain)
    refs: tuple[tuple[str, str], ...] = ()  # (argument or block, per-consumer resource type it references)
    min_count: int = 1  # per-consumer resources of these types
    every: bool = False  # every per-consumer resource of the types must satisfy the role
    per_consumer: bool = True  # False: one shared resource is the design (see PARITY notes)

    def matches_type(self, rtype: str) -> bool:
        return any(rtype.startswith(t[:-1]) if t.endswith("*") else rtype == t for t in self.types)


PARITY: dict[str, dict[str, Any]] = {
    "aws": {
        "module": "modules/aws-suite",
        "root": "aws",
        "roles": [
            Role("SQS queue + dead-letter queue", ("aws_sqs_queue",), min_count=2),
            Role("SQS queue whose redrive policy targets its dead-letter queue",
                 ("aws_sqs_queue", "aws_sqs_queue_redrive_policy"), refs=(("redrive_policy", "aws_sqs_queue"),)),
            Role("Lambda function", ("aws_lambda_function",)),
            Role("SQS event source mapping reporting batch item failures", ("aws_lambda_event_source_mapping",),
                 contains=(("function_response_types", "ReportBatchItemFailures"),), every=True),
            Role("CloudWatch alarm", ("aws_cloudwatch_metric_alarm",)),
            Role("EventBridge rule", ("aws_cloudwatch_event_rule",)),
            Role("EventBridge target with a dead-letter queue", ("aws_cloudwatch_event_target",),
                 blocks=("dead_letter_config",), every=True),
        ],
    },
    "gcp": {
        "module": "modules/gcp-suite",
        "root": "gcp",
        "roles": [
            Role("Pub/Sub subscription with a dead_letter_policy to its dead-letter topic",
                 ("google_pubsub_subscription",), blocks=("dead_letter_policy",),
                 refs=(("dead_letter_policy", "google_pubsub_topic"),)),
            Role("dead-letter Pub/Sub topic", ("google_pubsub_topic",)),
            Role("subscription draining the dead-letter topic (else dead letters are lost)",
                 ("google_pubsub_subscription",), refs=(("topic", "google_pubsub_topic"),)),
            Role("Cloud Functions gen2 function", ("google_cloudfunctions2_function",)),
            Role("Cloud Monitoring alert policy", ("google_monitoring_alert_policy",)),
        ],
    },
    "azure": {
        "module": "modules/azure-suite",
        "root": "azure",
        "roles": [
            Role("Storage queue", ("azurerm_storage_queue",)),
            Role("Event Grid subscription with blob dead-lettering and a retry policy",
                 ("azurerm_eventgrid_event_subscription", "azurerm_eventgrid_system_topic_event_subscription"),
                 blocks=("storage_blob_dead_letter_destination", "retry_policy"), every=True),
            # One Flex Consumption app hosts a queue-triggered function per consumer, registered
            # by functions/azure from the same catalog: the app itself is shared by design.
            Role("Flex Consumption function app", ("azurerm_function_app_flex_consumption",), per_consumer=False),
            Role("Azure Monitor alert", ("azurerm_monitor_*",)),
        ],
    },
}


def _refs(text: str) -> tuple[set[str], set[str], set[tuple[str, str]]]:
    return (set(_REF_VAR.findall(text)), set(_REF_LOCAL.findall(text)),
            {(t, n) for t, n in _REF_RES.findall(text) if t not in {"var", "local", "each", "path", "data", "module", "count", "terraform", "self"}})


def _catalog_reads(text: str, base: Path, catalog: Path) -> bool:
    for raw in _CATALOG_READ.findall(text):
        rel = re.sub(r"\$\{path\.(module|root|cwd)\}", ".", raw)
        if (base / rel).resolve() == catalog.resolve():
            return True
    return False


def derived_symbols(mod: Module, cat_vars: set[str], con_vars: set[str],
                    catalog: Path) -> tuple[set[str], set[str]]:
    """Fixpoint over locals: (catalog-derived locals, consumer-derived locals).

    A symbol is catalog-derived when its expression reads the catalog file or references a
    catalog-derived symbol; consumer-derived when it references a consumer-derived symbol, or a
    catalog-derived one while naming `consumers`.
    """
    locals_ = mod.locals()
    cat_locals: set[str] = set()
    con_locals: set[str] = set()
    changed = True
    while changed:
        changed = False
        for name, attr in locals_.items():
            v, loc, _ = _refs(attr.text)
            is_cat = (_catalog_reads(attr.text, mod.dir, catalog) or bool(v & (cat_vars | con_vars))
                      or bool(loc & (cat_locals | con_locals)))
            is_con = bool(v & con_vars) or bool(loc & con_locals) or (is_cat and "consumers" in attr.text)
            if is_cat and name not in cat_locals:
                cat_locals.add(name)
                changed = True
            if is_con and name not in con_locals:
                con_locals.add(name)
                changed = True
    return cat_locals, con_locals


def consumer_resources(mod: Module, cat_vars: set[str], con_vars: set[str], cat_locals: set[str],
                       con_locals: set[str], catalog: Path) -> dict[tuple[str, str], Block]:
    """Resources whose for_each derives from the consumers (directly or via another such resource)."""
    res = {(b.labels[0], b.labels[1]): b for b in mod.top("resource") if len(b.labels) == 2}
    derived: dict[tuple[str, str], Block] = {}
    changed = True
    while changed:
        changed = False
        for key, blk in res.items():
            fe = blk.attrs.get("for_each")
            if key in derived or fe is None:
                continue
            v, loc, r = _refs(fe.text)
            via_catalog = (bool(v & cat_vars) or bool(loc & cat_locals)
                           or _catalog_reads(fe.text, mod.dir, catalog)) and "consumers" in fe.text
            if v & con_vars or loc & con_locals or r & set(derived) or via_catalog:
                derived[key] = blk
                changed = True
    return derived


def catalog_parity(cloud: str, terraform_dir: Path = TERRAFORM_DIR, catalog: Path = CATALOG) -> list[Finding]:
    """Each consumer gets its buffer, dead letters, function and alarm, for_each'd from the catalog."""
    spec = PARITY[cloud]
    out: list[Finding] = []
    module_dir = terraform_dir / spec["module"]
    root_dir = terraform_dir / spec["root"]
    for d in (module_dir, root_dir):
        if not tf_files(d):
            out.append(Finding(d, 0, "parity", f"{cloud}: no .tf files in {d}"))
    if out:
        return out
    root, mod = load_module(root_dir), load_module(module_dir)

    # Root: a call of the suite module with an input read from the catalog file.
    root_cat, root_con = derived_symbols(root, set(), set(), catalog)
    calls = [c for c in root.top("module") if local_module_target(root, c) == module_dir.resolve()]
    if not calls:
        out.append(Finding(root.files[0], 1, "parity",
                           f"{cloud}: root does not call the local module {spec['module']}"))
        return out
    cat_seeds: set[str] = set()
    con_seeds: set[str] = set()
    for call in calls:
        for arg, attr in call.attrs.items():
            if arg in MODULE_META_ARGS:
                continue
            _v, loc, _r = _refs(attr.text)
            is_cat = _catalog_reads(attr.text, root.dir, catalog) or bool(loc & (root_cat | root_con))
            if loc & root_con or (is_cat and "consumers" in attr.text):
                con_seeds.add(arg)
            elif is_cat:
                cat_seeds.add(arg)  # the whole catalog: the module must pick `.consumers` itself
    if not (cat_seeds | con_seeds):
        rel = catalog.relative_to(REPO) if catalog.is_relative_to(REPO) else catalog
        out.append(Finding(calls[0].file, calls[0].line, "parity",
                           f"{cloud}: module.{calls[0].labels[0]} gets no input read from the catalog "
                           f"(expected e.g. jsondecode(file(\"${{path.module}}/../../{rel}\")).consumers)"))
        return out

    # Module: the per-consumer resources use for_each over the consumers.
    cat_locals, con_locals = derived_symbols(mod, cat_seeds, con_seeds, catalog)
    derived = consumer_resources(mod, cat_seeds, con_seeds, cat_locals, con_locals, catalog)
    anchor = mod.files[0]
    for role in spec["roles"]:
        out.extend(_check_role(cloud, role, mod, derived, anchor))
    return out


def _subtree_text(blk: Block, name: str) -> str:
    parts = [blk.attrs[name].text] if name in blk.attrs else []

    def walk(b: Block) -> None:
        parts.extend(a.text for a in b.attrs.values())
        for c in b.blocks:
            walk(c)

    for child in blk.blocks:
        if child.type == name or (child.type == "dynamic" and child.labels[:1] == [name]):
            walk(child)
    return "\n".join(parts)


def _role_gaps(role: Role, blk: Block, derived: dict[tuple[str, str], Block]) -> list[str]:
    gaps = [f"block `{x}`" for x in role.blocks if not blk.has_block(x)]
    gaps += [f"argument `{a}`" for a in role.attrs if a not in blk.attrs]
    gaps += [f"`{a}` containing {txt!r}" for a, txt in role.contains
             if a not in blk.attrs or txt not in blk.attrs[a].text]
    for where, rtype in role.refs:
        _v, _l, refs = _refs(_subtree_text(blk, where))
        if not any(t == rtype and (t, n) in derived for t, n in refs):
            gaps.append(f"`{where}` referencing a per-consumer {rtype}")
    return gaps


def _check_role(cloud: str, role: Role, mod: Module, derived: dict[tuple[str, str], Block],
                anchor: Path) -> list[Finding]:
    all_of_type = [b for b in mod.top("resource") if len(b.labels) == 2 and role.matches_type(b.labels[0])]
    if role.per_consumer:
        cands = [b for (t, _n), b in derived.items() if role.matches_type(t)]
    else:
        cands = all_of_type
    if len(cands) < role.min_count:
        loose = [b for b in all_of_type if b not in cands]
        hint = (f"; not for_each over the consumers: "
                f"{', '.join(b.address.removeprefix('resource.') for b in loose)}") if loose else ""
        where = loose[0] if loose else None
        what = "per-consumer " if role.per_consumer else ""
        count = f"{role.min_count} " if role.min_count > 1 else ""
        return [Finding(where.file if where else anchor, where.line if where else 1, "parity",
                        f"{cloud}: no {count}{what}{role.label} ({'/'.join(role.types)}"
                        f"{' with for_each over the consumers' if role.per_consumer else ''}){hint}")]
    gaps = {id(b): _role_gaps(role, b, derived) for b in cands}
    bad = [b for b in cands if gaps[id(b)]]
    if role.every:
        report = bad
    elif len(bad) == len(cands):
        report = bad[:1]
    else:
        report = []
    return [Finding(b.file, b.line, "parity",
                    f"{cloud}: {b.address.removeprefix('resource.')} should be the per-consumer "
                    f"{role.label} but lacks {', '.join(gaps[id(b)])}") for b in report]


# --------------------------------------------------------------------------------------------
# checkov
# --------------------------------------------------------------------------------------------


def find_tool(name: str, env_var: str) -> str | None:
    env = os.environ.get(env_var)
    if env:
        return env if Path(env).exists() or shutil.which(env) else None
    venv = REPO / ".venv-iac" / "bin" / name
    if venv.exists():
        return str(venv)
    return shutil.which(name)


@dataclass
class CheckovResult:
    failed: list[dict[str, Any]]
    passed: int
    skipped_checks: list[dict[str, Any]]
    parsing_errors: list[str]
    raw_returncode: int

    @property
    def skipped(self) -> int:
        return len(self.skipped_checks)


def run_checkov(directory: Path = TERRAFORM_DIR, binary: str | None = None) -> CheckovResult:
    binary = binary or find_tool("checkov", "EVENTSUITE_CHECKOV")
    if binary is None:
        raise FileNotFoundError("checkov not found (set EVENTSUITE_CHECKOV or create .venv-iac)")
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false",
           "ANSI_COLORS_DISABLED": "1", "LOG_LEVEL": "WARNING"}
    # no --quiet: it drops the passed and skipped checks from the JSON report
    cmd = [binary, "-d", str(directory), "--framework", "terraform", "--skip-download",
           "--compact", "--output", "json", "--download-external-modules", "false"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False, timeout=600)
    text = proc.stdout.strip()
    if not text:
        raise RuntimeError(f"checkov produced no output (rc={proc.returncode}): {proc.stderr[-2000:]}")
    data = json.loads(text)
    reports = data if isinstance(data, list) else [data]
    failed: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    passed = 0
    errors: list[str] = []
    for rep in reports:
        if "results" not in rep:  # "no resources found" summary
            continue
        res = rep["results"]
        failed.extend(res.get("failed_checks", []))
        passed += int(rep.get("summary", {}).get("passed", len(res.get("passed_checks", []))))
        skipped.extend(res.get("skipped_checks", []))
        errors.extend(rep.get("summary", {}).get("parsing_errors", []) or [])
    return CheckovResult(failed, passed, skipped, errors, proc.returncode)


def format_checkov_failure(fc: dict[str, Any], base: Path = TERRAFORM_DIR) -> str:
    path = (fc.get("file_abs_path") or fc.get("file_path") or "?")
    try:
        path = str(Path(path).resolve().relative_to(REPO))
    except ValueError:
        pass
    line = (fc.get("file_line_range") or [0])[0]
    return f"{path}:{line}: {fc.get('check_id')} {fc.get('resource')}: {fc.get('check_name')}"


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------


def _print(findings: list[Finding]) -> int:
    for f in findings:
        print(f)
    return 1 if findings else 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=["validate", "fmt", "parity", "checkov", "all"])
    ap.add_argument("dir", nargs="?", type=Path, default=TERRAFORM_DIR)
    args = ap.parse_args(argv)
    rc = 0
    if args.command in ("validate", "all"):
        rc |= _print(validate(args.dir))
    if args.command in ("fmt", "all"):
        res = fmt_check(args.dir)
        if res.engine is None:
            print(f"fmt: skipped: {res.reason}", file=sys.stderr)
            rc |= 1 if os.environ.get("CI") == "true" else 0
        for f, diff in res.unformatted.items():
            print(f"{f}: not formatted ({res.engine}); run `terraform fmt -recursive terraform`\n{diff}")
            rc |= 1
    if args.command in ("parity", "all"):
        for cloud in PARITY:
            rc |= _print(catalog_parity(cloud, args.dir))
    if args.command in ("checkov", "all"):
        result = run_checkov(args.dir)
        for fc in result.failed:
            print(format_checkov_failure(fc))
        for e in result.parsing_errors:
            print(f"checkov parsing error: {e}")
        print(f"checkov: {result.passed} passed, {len(result.failed)} failed, {result.skipped} skipped")
        rc |= 1 if result.failed or result.parsing_errors else 0
    return rc


if __name__ == "__main__":
    sys.path.insert(0, str(TOOLS_DIR))
    raise SystemExit(main())
