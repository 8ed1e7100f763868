"""Build the Lambda zips, one per catalog function group: ``python -m functions.aws.package``.

* ``build/aws/<group>.zip`` holds ``shared/`` (the core), the AWS entry points and adapters
  (not this packager) and the group's locked dependencies, installed
  for Lambda ``python3.12`` on ``arm64`` from binary wheels only
  (``pip install --platform manylinux2014_aarch64 --only-binary=:all: --python-version 3.12``);
* dependencies come from the hashed lock ``functions/locks/aws-<group>.txt`` (``make lock``,
  :mod:`functions.locking`), installed with ``--no-deps --require-hashes``. boto3 and
  botocore are NOT packaged: the Lambda Python runtime provides them (the code uses only
  long-standing APIs, so the runtime's version is enough);
* pyvips (an sdist only) is the exception to binary wheels: the lock keeps its sdist's hash,
  and the pure ``py3-none-any`` wheel assembled here from that sdist
  (:func:`functions.packaging.pure_wheel`) is installed with ``--no-deps``; it runs on
  pyvips-binary's compiled ``_libvips`` and ``pyvips_binary.libs/libvips-*.so.42`` (arm64);
* the install is cached under ``build/aws/.deps/<group>-<hash of lock + platform + recipe>``;
* archives are reproducible (``functions.packaging.write_zip``): the same inputs give the
  same bytes, so Terraform's ``source_code_hash`` moves only when code or locks move. Files
  that would bake in paths or install state (``bin/`` scripts with a shebang, ``RECORD``,
  ``INSTALLER``, ``REQUESTED``, ``direct_url.json``, caches) are left out.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from functions import locking
from functions.locking import lock_path
from functions.packaging import (
    PURE_WHEEL_RECIPE,
    ROOT,
    core_files,
    human,
    install_lock,
    is_install_state,
    tree,
    unzipped_size,
    write_zip,
)

PLATFORM = "manylinux2014_aarch64"
# Pillow 13 publishes aarch64 wheels for manylinux_2_28 only; Lambda's python3.12 runtime runs
# on Amazon Linux 2023 (glibc 2.34), which satisfies both tags.
EXTRA_PLATFORMS = ("manylinux_2_28_aarch64",)
PLATFORMS = (PLATFORM, *EXTRA_PLATFORMS)
PYTHON_VERSION = "3.12"
DEFAULT_OUTPUT = ROOT / "build" / "aws"
GROUPS = ("images", "orders")
MAX_ZIPPED_BYTES = 50 * 1024 * 1024
MAX_UNZIPPED_BYTES = 250 * 1024 * 1024
# Runtime code of the AWS flavour; the packager stays out.
_EXCLUDED = {"package.py"}
_EXCLUDED_DEPENDENCY_PARTS = {"bin", "__pycache__"}

COMPLETE_MARKER = ".complete"

Installer = Callable[[Path, Path], None]


@dataclass(frozen=True)
class Package:
    """One built zip."""

    group: str
    path: Path
    sha256: str
    zipped: int
    unzipped: int

    def line(self) -> str:
        """One human line for the build log."""
        return (
            f"{self.path.relative_to(ROOT) if self.path.is_relative_to(ROOT) else self.path}: "
            f"{human(self.zipped)} zipped, {human(self.unzipped)} unzipped, sha256 {self.sha256}"
        )


def aws_files() -> Iterator[tuple[Path, str]]:
    """The AWS entry points and adapters as archive entries."""
    for path, name in tree(ROOT / "functions" / "aws", "functions/aws"):
        relative = path.relative_to(ROOT / "functions" / "aws")
        if len(relative.parts) == 1 and relative.name in _EXCLUDED:
            continue
        yield path, name


def dependency_files(site: Path) -> Iterator[tuple[Path, str]]:
    """Installed dependencies minus scripts and install-state files."""
    for path, name in tree(site, ""):
        parts = path.relative_to(site).parts
        if _EXCLUDED_DEPENDENCY_PARTS.intersection(parts) or parts == (COMPLETE_MARKER,):
            continue
        if is_install_state(parts):
            continue
        yield path, name


def requirements_file(group: str) -> Path:
    """The lock file of a group."""
    return lock_path(f"aws-{group}")


def pip_installer(lock: Path, target: Path) -> None:
    """Install a hashed lock (``aws-<group>.txt``) for the Lambda platform into ``target``:
    binary wheels, and the pure wheels made from the sdists its spec allows."""
    spec = locking.spec(lock.stem)
    install_lock(
        lock,
        target,
        platforms=PLATFORMS,
        python_version=PYTHON_VERSION,
        source_allowed=spec.source_allowed,
        environment=spec.marker_environment(),
    )


def install_dependencies(group: str, cache: Path, installer: Installer = pip_installer) -> Path:
    """The group's installed dependencies, cached by the hash of its lock, platform and the
    pure wheels' build recipe (the lock holds their sdists' hashes)."""
    lock = requirements_file(group)
    digest = hashlib.sha256(
        lock.read_bytes() + f"\n{PLATFORM}\n{PYTHON_VERSION}\n{PURE_WHEEL_RECIPE}\n".encode()
    ).hexdigest()[:16]
    target = cache / f"{group}-{digest}"
    if (target / COMPLETE_MARKER).exists():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f"{group}-", dir=cache))
    try:
        installer(lock, staging)
        (staging / COMPLETE_MARKER).write_text(digest)
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return target


def build_group(
    group: str,
    output: Path = DEFAULT_OUTPUT,
    *,
    installer: Installer | None = pip_installer,
    cache: Path | None = None,
) -> Package:
    """Build ``<output>/<group>.zip``; ``installer=None`` packages code only (tests, offline)."""
    if group not in GROUPS:
        raise SystemExit(f"unknown group {group!r} (known: {', '.join(GROUPS)})")
    files = [*core_files(), *aws_files()]
    if installer is not None:
        site = install_dependencies(group, cache or output / ".deps", installer)
        files.extend(dependency_files(site))
    target = output / f"{group}.zip"
    sha256 = write_zip(target, files)
    package = Package(group, target, sha256, target.stat().st_size, unzipped_size(target))
    if package.zipped > MAX_ZIPPED_BYTES or package.unzipped > MAX_UNZIPPED_BYTES:
        raise SystemExit(
            f"{target}: over Lambda's limits (50 MB zipped / 250 MB unzipped): "
            f"{human(package.zipped)} / {human(package.unzipped)}"
        )
    return package


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: build every group (or the chosen ones) and print sizes and hashes."""
    parser = argparse.ArgumentParser(
        prog="python -m functions.aws.package", description=__doc__.split("\n")[0]
    )
    parser.add_argument("groups", nargs="*", default=list(GROUPS), help="function groups to build")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="output directory")
    parser.add_argument(
        "--code-only", action="store_true", help="skip dependencies (offline smoke build)"
    )
    args = parser.parse_args(argv)
    for group in args.groups:
        package = build_group(
            group, args.output, installer=None if args.code_only else pip_installer
        )
        print(package.line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
