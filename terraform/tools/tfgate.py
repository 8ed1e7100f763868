#!/usr/bin/env python3
"""The Terraform gate: the real `terraform` binary runs init, validate and plan offline.

Providers cannot be downloaded here, so each pinned provider is replaced by a stand-in plugin
(standin_provider.py) that serves the real provider's schema (tests/terraform/schemas/) and plans
the way a provider does without state. Terraform finds the plugins in a filesystem mirror named by
a private CLI configuration (TF_CLI_CONFIG_FILE); the user's ~/.terraformrc is never read.

Everything lives under a gitignored cache (`.terraform-gate/`, or EVENTSUITE_TFGATE_CACHE):

    mirror-<hash>/        plugins + compiled schemas + a TLS certificate, keyed by schemas and code
    tree-<hash>/          a copy of terraform/ + the catalog + gate-built zips, initialized per root
    plans/<hash>.json     `terraform show -json` of a plan, keyed by every input (see plan_key)

The zips: the AWS and GCP roots hash the packages at plan time (filebase64sha256/filemd5), so the
gate builds them with the project's own packagers: the GCP zips exactly as `make package-gcp`
does (source + requirements.txt), the AWS zips code-only (the Lambda dependencies are manylinux
wheels from PyPI; the plan only reads the hash). Azure deploys its zip outside Terraform.

Command line (uses the repository's terraform/ and the variants in tests/terraform/variants/):
    python terraform/tools/tfgate.py plan aws [VARIANT ...]     # plan JSON paths, errors shown
    python terraform/tools/tfgate.py validate aws
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
TOOLS = REPO / "terraform" / "tools"
SCHEMA_DIR = REPO / "tests" / "terraform" / "schemas"
VARIANT_DIR = REPO / "tests" / "terraform" / "variants"
CATALOG = REPO / "shared" / "catalog" / "catalog.json"
ROOTS = ("aws", "gcp", "azure")
# A harness is a root plus the override files in tests/terraform/harness/<root>/ (Terraform merges
# `*_override.tf` into the root's module block), exposing module-only inputs to the variants.
HARNESS_DIR = REPO / "tests" / "terraform" / "harness"
HARNESSES = tuple(f"{r}-harness" for r in ROOTS)
ALL_ROOTS = (*ROOTS, *HARNESSES)
# Files outside terraform/ that the roots read with file(): copied into the gate's tree.
READ_BY_ROOTS = ("shared/catalog/catalog.json", "shared/catalog/needs.json", "functions/azure/host.json")
_TREE_DIRS = ("aws", "gcp", "azure", "modules")
RESOLVE_ENV = "EVENTSUITE_STANDIN_RESOLVE_COMPUTED"  # standin_provider.RESOLVE_ENV


class GateError(RuntimeError):
    """Terraform (or the gate) failed; the message holds Terraform's diagnostics."""


def cache_dir() -> Path:
    return Path(os.environ.get("EVENTSUITE_TFGATE_CACHE") or REPO / ".terraform-gate")


def terraform_binary() -> str | None:
    explicit = os.environ.get("EVENTSUITE_TERRAFORM")
    if explicit:
        return explicit if Path(explicit).is_file() else None
    return shutil.which("terraform")


def plugin_python() -> str | None:
    """The interpreter of the stand-in plugins: EVENTSUITE_TFGATE_PYTHON, else .venv-tfgate
    (`make setup-iac`; the PyPI `tf` package pins protobuf < 6, so it has its own venv)."""
    explicit = os.environ.get("EVENTSUITE_TFGATE_PYTHON")
    candidate = Path(explicit) if explicit else REPO / ".venv-tfgate" / "bin" / "python"
    return str(candidate) if candidate.is_file() else None


def _digest(parts: Iterable[bytes | str]) -> str:
    h = hashlib.sha256()
    for p in parts:
        b = p.encode() if isinstance(p, str) else p
        h.update(len(b).to_bytes(8, "big"))
        h.update(b)
    return h.hexdigest()[:20]


def _files_digest(base: Path, paths: Iterable[Path]) -> list[str]:
    return [f"{p.relative_to(base)}\0{hashlib.sha256(p.read_bytes()).hexdigest()}" for p in sorted(paths)]


@dataclass(frozen=True)
class Terraform:
    """The terraform binary with the gate's private CLI configuration."""

    binary: str
    cli_config: Path
    version: str
    mirror_key: str

    def env(self, data_dir: Path | None = None, resolved: bool = False) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TF_", "CHECKPOINT_"))}
        env.update(
            TF_CLI_CONFIG_FILE=str(self.cli_config),
            CHECKPOINT_DISABLE="1",
            TF_IN_AUTOMATION="1",
            TF_INPUT="0",
        )
        if data_dir is not None:
            env["TF_DATA_DIR"] = str(data_dir)
        env.pop(RESOLVE_ENV, None)
        if resolved:
            env[RESOLVE_ENV] = "1"
        return env

    def run(self, args: list[str], cwd: Path, data_dir: Path | None = None, check: bool = True,
            resolved: bool = False) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [self.binary, *args], cwd=cwd, env=self.env(data_dir, resolved), capture_output=True, text=True, timeout=600
        )
        if check and proc.returncode != 0:
            raise GateError(f"terraform {args[0]} failed in {cwd.name}:\n{proc.stderr.strip() or proc.stdout[-4000:]}")
        return proc


# -- the mirror of stand-in plugins --------------------------------------------------------------
def _schema_files() -> list[Path]:
    return sorted(SCHEMA_DIR.glob("*.json.gz"))


def _platform() -> str:
    machine = {"x86_64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(platform.machine(), platform.machine())
    return f"{platform.system().lower()}_{machine}"


# What the cache keeps: the newest trees (a repository state makes ~25: roots, mutated copies),
# mirrors and zips; plan results for two weeks. Older entries are for inputs long gone.
KEEP_TREES, KEEP_BUILDS, KEEP_PLAN_SECONDS = 80, 3, 14 * 24 * 3600


def prune_cache() -> None:
    base = cache_dir()
    if not base.is_dir():
        return
    for prefix, keep in (("tree-", KEEP_TREES), ("mirror-", KEEP_BUILDS), ("zips-", KEEP_BUILDS)):
        entries = sorted(base.glob(prefix + "*"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in entries[keep:]:
            shutil.rmtree(old, ignore_errors=True)
    cutoff = time.time() - KEEP_PLAN_SECONDS
    for result in (base / "plans").glob("*"):
        if result.stat().st_mtime < cutoff:
            result.unlink(missing_ok=True)


def setup(binary: str | None = None) -> Terraform:
    """Build (once per inputs) the mirror of stand-in plugins and the CLI configuration."""
    binary = binary or terraform_binary()
    if binary is None:
        raise GateError("terraform not found (install it, or set EVENTSUITE_TERRAFORM)")
    version = json.loads(subprocess.run([binary, "version", "-json"], capture_output=True, text=True, check=True,
                                        env={**os.environ, "TF_CLI_CONFIG_FILE": os.devnull}).stdout)["terraform_version"]
    python = plugin_python()
    if python is None:
        raise GateError("the stand-in providers' venv is missing: run `make setup-iac` (or set EVENTSUITE_TFGATE_PYTHON)")
    key = _digest([python, *_files_digest(REPO, [*_schema_files(), TOOLS / "standin_provider.py"])])
    root = cache_dir() / f"mirror-{key}"
    cli_config = root / "terraformrc"
    if cli_config.is_file():
        os.utime(root)
    else:
        prune_cache()
        tmp = cache_dir() / f".mirror-{key}.{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        plugin_code = TOOLS / "standin_provider.py"
        for path in _schema_files():
            raw = json.loads(gzip.decompress(path.read_bytes()))
            meta = raw["eventsuite"]
            address = next(iter(raw["provider_schemas"]))
            host, namespace, name = address.split("/")
            version_dir = meta["provider_version"]
            pb_name = f"{name}-{version_dir}.pb"
            proc = subprocess.run(
                [python, str(plugin_code), "--prepare", "--schema-json", str(path),
                 "--schema-pb", str(tmp / "schemas" / pb_name), "--tls-dir", str(tmp / "tls")],
                capture_output=True, text=True,
            )
            if proc.returncode != 0:
                raise GateError(f"compiling {path.name} for the stand-in provider failed:\n{proc.stderr}")
            plugin_dir = tmp / "providers" / host / namespace / name / version_dir / _platform()
            plugin_dir.mkdir(parents=True)
            plugin = plugin_dir / f"terraform-provider-{name}_v{version_dir}"
            plugin.write_text(
                "#!/bin/sh\n"
                f"exec '{python}' '{plugin_code}' --schema-json '{path}' "
                f"--schema-pb '{root / 'schemas' / pb_name}' --tls-dir '{root / 'tls'}'\n"
            )
            plugin.chmod(0o755)
        (tmp / "terraformrc").write_text(
            "disable_checkpoint = true\n"
            "provider_installation {\n"
            f'  filesystem_mirror {{\n    path    = "{root / "providers"}"\n    include = ["*/*/*"]\n  }}\n'
            "}\n"
        )
        try:
            tmp.rename(root)
        except OSError:  # another process won the race
            shutil.rmtree(tmp, ignore_errors=True)
    return Terraform(binary, cli_config, version, key)


# -- the tree: terraform/, the catalog and the zips ------------------------------------------------
def source_files(repo: Path = REPO) -> list[Path]:
    dirs = [repo / "terraform" / d for d in _TREE_DIRS] + [repo / "tests" / "terraform" / "harness"]
    files = [p for d in dirs if d.is_dir() for p in d.rglob("*") if p.is_file()
             and p.suffix in (".tf", ".json", ".tpl", ".tftpl", ".yaml", ".hcl") and ".terraform" not in p.parts]
    return [*files, *(repo / f for f in READ_BY_ROOTS)]


def _build_zips(dest: Path) -> list[Path]:
    """The AWS (code-only) and GCP (as shipped) zips, with the project's own packagers."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from functions.aws import package as aws_package
    from functions.gcp import package as gcp_package

    out = []
    for group in aws_package.GROUPS:
        out.append(aws_package.build_group(group, dest / "build" / "aws", installer=None).path)
    for group in gcp_package.GROUPS:
        out.append(gcp_package.build(group, dest / "build" / "gcp")[0])
    return out


def _package_sources() -> list[Path]:
    return sorted(p for d in ("shared", "functions") for p in (REPO / d).rglob("*.py") if "__pycache__" not in p.parts)


def prepare_tree(tf: Terraform, repo: Path = REPO, roots: Iterable[str] = ALL_ROOTS) -> Path:
    """A copy of `repo`'s Terraform (+ files the roots read, + zips) with `roots` initialized; cached
    under a hash of its content (a mutated copy of the repository gets its own tree)."""
    roots = tuple(roots)
    key = _digest([tf.version, tf.mirror_key, *roots, *_files_digest(repo, source_files(repo)),
                   *_files_digest(REPO, _package_sources())])
    tree = cache_dir() / f"tree-{key}"
    if (tree / ".ready").is_file():
        os.utime(tree)
        return tree
    prune_cache()
    tmp = cache_dir() / f".tree-{key}.{os.getpid()}.{threading.get_ident()}"
    shutil.rmtree(tmp, ignore_errors=True)
    for d in _TREE_DIRS:
        shutil.copytree(repo / "terraform" / d, tmp / "terraform" / d,
                        ignore=shutil.ignore_patterns(".terraform", ".terraform.lock.hcl", "*.tfstate*", "*.tfvars", "tfplan"))
    for name in READ_BY_ROOTS:
        (tmp / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(repo / name, tmp / name)
    for root in roots:
        if root.endswith("-harness"):
            base = root.removesuffix("-harness")
            shutil.copytree(tmp / "terraform" / base, tmp / "terraform" / root, ignore=shutil.ignore_patterns(".terraform"))
            for extra in sorted((repo / "tests" / "terraform" / "harness" / base).glob("*.tf")):
                shutil.copy2(extra, tmp / "terraform" / root / extra.name)
    _zips(tmp)
    try:
        for root in roots:
            tf.run(["init", "-input=false", "-no-color"], tmp / "terraform" / root)
    except GateError:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    (tmp / ".ready").write_text("")
    try:
        tmp.rename(tree)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
    return tree


def _zips(dest: Path) -> None:
    """Build the zips once per packaged code, then copy them into each tree."""
    key = _digest(_files_digest(REPO, _package_sources()))
    built = cache_dir() / f"zips-{key}"
    if not built.is_dir():
        tmp = cache_dir() / f".zips-{key}.{os.getpid()}.{threading.get_ident()}"
        _build_zips(tmp)
        try:
            tmp.rename(built)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(built / "build", dest / "build")


def variants(root: str) -> dict[str, Path]:
    """The tfvars variants of a root: tests/terraform/variants/<root>/*.tfvars plus the example
    (a harness's example is its root's)."""
    out = {"example": REPO / "terraform" / root.removesuffix("-harness") / "terraform.tfvars.example"}
    out.update({p.stem: p for p in sorted((VARIANT_DIR / root).glob("*.tfvars"))})
    return out


def plan_key(tf: Terraform, tree: Path, root: str, tfvars_text: str, resolved: bool = False) -> str:
    return _digest([tree.name, root, tfvars_text, "plan-v1", "resolved" if resolved else "faithful"])


def _use_cache() -> bool:
    return os.environ.get("EVENTSUITE_TFGATE_REPLAN", "") not in ("1", "true", "yes")


def plan(tf: Terraform, tree: Path, root: str, tfvars_text: str, *, resolved: bool = False,
         use_cache: bool | None = None) -> dict[str, Any]:
    """`terraform plan` of one root with one tfvars text, then `terraform show -json` of it.
    Cached (successes and failures) unless EVENTSUITE_TFGATE_REPLAN=1. `resolved`: computed
    attributes hold per-resource placeholders instead of unknown (for reading the wiring; a
    resolved plan is no gate: for_each over apply-time values passes there)."""
    use_cache = _use_cache() if use_cache is None else use_cache
    key = plan_key(tf, tree, root, tfvars_text, resolved)
    cached = cache_dir() / "plans" / f"{key}.json"
    failed = cached.with_suffix(".err")
    if use_cache and cached.is_file():
        return json.loads(cached.read_text())
    if use_cache and failed.is_file():
        raise GateError(failed.read_text())
    (cache_dir() / "runs").mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"{key}.", dir=cache_dir() / "runs"))
    try:
        (work / "vars.tfvars").write_text(tfvars_text)
        root_dir = tree / "terraform" / root
        try:
            tf.run(["plan", "-input=false", "-lock=false", "-no-color", "-refresh=false",
                    f"-var-file={work / 'vars.tfvars'}", f"-out={work / 'tfplan'}"], root_dir, resolved=resolved)
        except GateError as exc:  # same inputs, same diagnostics: remembered like a success
            _write_atomic(failed, str(exc))
            raise
        shown = tf.run(["show", "-json", "-no-color", str(work / "tfplan")], root_dir, resolved=resolved)
        result: dict[str, Any] = json.loads(shown.stdout)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    _write_atomic(cached, json.dumps(result))
    return result


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(text)
    tmp.replace(path)


def validate(tf: Terraform, tree: Path, root: str) -> dict[str, Any]:
    """`terraform validate -json` of one root of a tree (cached with the tree's content hash)."""
    cached = cache_dir() / "plans" / f"{_digest([tree.name, root, 'validate-v1'])}.validate.json"
    if _use_cache() and cached.is_file():
        return json.loads(cached.read_text())
    proc = tf.run(["validate", "-json", "-no-color"], tree / "terraform" / root, check=False)
    result: dict[str, Any] = json.loads(proc.stdout)
    _write_atomic(cached, json.dumps(result))
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=("plan", "validate"))
    ap.add_argument("root", choices=ALL_ROOTS)
    ap.add_argument("variant", nargs="*", help="variant names (default: every one)")
    args = ap.parse_args(argv)
    tf = setup()
    tree = prepare_tree(tf)
    if args.command == "validate":
        print(json.dumps(validate(tf, tree, args.root), indent=2))
        return 0
    found = variants(args.root)
    failed = 0
    for name in args.variant or list(found):
        try:
            result = plan(tf, tree, args.root, found[name].read_text())
            print(f"{args.root}/{name}: {len(result.get('resource_changes', []))} resource changes")
        except GateError as exc:
            failed += 1
            print(f"{args.root}/{name}: FAILED\n{exc}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
