"""Build the Azure deployment zip: ``python -m functions.azure.package``.

Layout of ``build/azure/functionapp.zip`` (what a Flex Consumption app runs as is):

    function_app.py       the v2-model app (from functions/azure/function_app.py)
    host.json             generated from the catalog (functions/azure/host.json)
    requirements.txt      the hashed lock functions/locks/azure.txt, as is
    shared/               the cloud-agnostic core
    functions/            the package marker and functions/azure (adapters, entry points)
    .python_packages/lib/site-packages/   the dependencies, prebuilt

Dependencies are built here, not remotely: Flex Consumption deploys the package as is unless a
remote build is explicitly requested, and a remote build would resolve again in Azure (other
versions than the ones tested, a 60-second build limit, and one more moving part). ``pip``
installs the hashed lock ``functions/locks/azure.txt`` (``make lock``, :mod:`functions.locking`:
core + ``azure`` + ``images`` extras at the test venv's versions) as binary wheels for Linux
x86_64, CPython 3.12 (the Terraform default ``python_version``), whatever machine builds the
zip, with ``--no-deps --require-hashes``; pyvips (an sdist only, the lock keeps its hash) is
installed as the pure wheel made here from that sdist (:func:`functions.packaging.pure_wheel`,
``--no-deps``), on pyvips-binary's compiled ``_libvips``. Entries are sorted with fixed timestamps,
so the same inputs give a byte-identical archive. Deploy it with
``az functionapp deployment source config-zip --src build/azure/functionapp.zip`` (no
``--build-remote``); the provider's ``zip_deploy_file`` is not used for Flex Consumption
(terraform-provider-azurerm#29630).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

from functions import locking
from functions.packaging import (
    ROOT,
    core_files,
    human,
    install_lock,
    is_install_state,
    tree,
    unzipped_size,
    write_zip,
)

AZURE_DIR = ROOT / "functions" / "azure"
LOCK = locking.lock_path("azure")
BUILD_DIR = ROOT / "build" / "azure"
DEFAULT_OUTPUT = BUILD_DIR / "functionapp.zip"
PYTHON_VERSION = "3.12"
# pip does not widen a manylinux_2_N tag to older glibc levels by itself, so every level is
# listed: glibc 2.28 down to 2.17 (manylinux2014). Recent Pillow ships only 2_27/2_28 wheels,
# rpds-py only 2_17. The Functions Python images have a newer glibc than 2.28.
PLATFORMS = (
    *(f"manylinux_2_{minor}_x86_64" for minor in range(28, 16, -1)),
    "manylinux2014_x86_64",
)
SITE_PACKAGES = ".python_packages/lib/site-packages"
# Build-time only, or installed under the site-packages root but useless there.
_SKIP_APP_FILES = {"function_app.py", "host.json", "package.py", "hostjson.py", "README.md"}
# Console scripts (their shebangs name the building interpreter); install-state files
# (RECORD, direct_url.json, ...: functions.packaging.INSTALL_STATE_FILES) are left out too.
_SKIP_SITE_DIRS = {"bin"}


def requirements() -> list[str]:
    """Top-level runtime requirements of the Azure app (core + ``azure`` + ``images``)."""
    return locking.requirements(locking.spec("azure"))


def app_files(requirements_file: Path, site_packages: Path | None) -> Iterator[tuple[Path, str]]:
    """Every (path, archive name) of the deployment package."""
    yield AZURE_DIR / "function_app.py", "function_app.py"
    yield AZURE_DIR / "host.json", "host.json"
    yield requirements_file, "requirements.txt"
    yield from core_files()
    for path, name in tree(AZURE_DIR, "functions/azure"):
        if path.parent == AZURE_DIR and path.name in _SKIP_APP_FILES:
            continue
        yield path, name
    if site_packages is not None:
        for path, name in tree(site_packages, SITE_PACKAGES):
            parts = path.relative_to(site_packages).parts
            if parts[0] in _SKIP_SITE_DIRS or is_install_state(parts):
                continue
            yield path, name


def install_dependencies(target: Path, *, python_version: str = PYTHON_VERSION) -> Path:
    """A fresh site-packages tree: the lock's Linux x86_64 wheels for ``python_version`` and
    the pure wheels of the pins its spec takes from source."""
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    lock_spec = locking.spec(LOCK.stem)
    install_lock(
        LOCK,
        target,
        platforms=PLATFORMS,
        python_version=python_version,
        source_allowed=lock_spec.source_allowed,
        environment={
            **lock_spec.marker_environment(),
            "python_version": python_version,
            "python_full_version": f"{python_version}.0",
        },
    )
    return target


def build(output: Path = DEFAULT_OUTPUT, *, site_packages: Path | None = None) -> str:
    """Write the zip (with ``site_packages`` as its dependencies); return its sha256."""
    return write_zip(output, app_files(LOCK, site_packages))


def main(argv: list[str] | None = None) -> int:
    """Command line: install dependencies (unless ``--no-deps``) and write the zip."""
    parser = argparse.ArgumentParser(description="Build the Azure Functions deployment zip.")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--python-version", default=PYTHON_VERSION)
    parser.add_argument(
        "--no-deps", action="store_true", help="code only (for inspection; not deployable)"
    )
    args = parser.parse_args(argv)
    site_packages = None
    if not args.no_deps:
        site_packages = install_dependencies(
            BUILD_DIR / "site-packages", python_version=args.python_version
        )
    digest = build(args.output, site_packages=site_packages)
    size = args.output.stat().st_size
    print(
        f"{args.output.relative_to(ROOT) if args.output.is_relative_to(ROOT) else args.output}: "
        f"{human(size)} zipped, {human(unzipped_size(args.output))} unzipped, sha256 {digest}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
