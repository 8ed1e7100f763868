#!/usr/bin/env python3
"""The offline Terraform checks that Terraform itself does not make: fmt, checkov, and parsing.

Validation and planning are done by the real `terraform` against stand-in providers
(tfgate.py, tests/terraform/test_plan_gate.py); catalog parity is asserted on the plan JSON
(tests/terraform/test_catalog_parity.py). What is left here:

* `terraform fmt` style (terraform when installed, else the hclwrite formatter compiled to wasm in
  the npm package @cdktn/hcl-tools);
* checkov (`--skip-download`), zero failed checks;
* the HCL parser model (python-hcl2) that gen_module_docs.py and a few structural tests read.

CLI (used by pre-commit and by hand):
    python terraform/tools/tfcheck.py fmt [DIR]        # terraform fmt -check style
    python terraform/tools/tfcheck.py checkov [DIR]    # checkov --skip-download, zero failures
    python terraform/tools/tfcheck.py parse [DIR]      # every .tf file parses
"""

from __future__ import annotations

import argparse
import difflib
import functools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
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


def parse_all(root: Path) -> list[Finding]:
    out = []
    for d in module_dirs(root):
        for f in tf_files(d):
            try:
                parse_file(f)
            except HclParseError as exc:
                line = re.search(r"line (\d+)", str(exc))
                out.append(Finding(f, int(line.group(1)) if line else 1, "parse", str(exc).splitlines()[0][-300:]))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=["fmt", "checkov", "parse", "all"])
    ap.add_argument("dir", nargs="?", type=Path, default=TERRAFORM_DIR)
    args = ap.parse_args(argv)
    rc = 0
    if args.command in ("parse", "all"):
        rc |= _print(parse_all(args.dir))
    if args.command in ("fmt", "all"):
        res = fmt_check(args.dir)
        if res.engine is None:
            print(f"fmt: skipped: {res.reason}", file=sys.stderr)
            rc |= 1 if os.environ.get("CI") == "true" else 0
        for f, diff in res.unformatted.items():
            print(f"{f}: not formatted ({res.engine}); run `terraform fmt -recursive terraform`\n{diff}")
            rc |= 1
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
