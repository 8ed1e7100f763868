"""Build the Azure deployment zip: ``python -m functions.azure.package``.

Layout of ``build/azure/functionapp.zip`` (what a Flex Consumption app runs as is):

    function_app.py       the v2-model app (from functions/azure/function_app.py)
    host.json             generated from the catalog (functions/azure/host.json)
    requirements.txt      the runtime dependencies, from pyproject.toml
    shared/               the cloud-agnostic core
    functions/            the package marker and functions/azure (adapters, entry points)
    .python_packages/lib/site-packages/   the dependencies, prebuilt

Dependencies are built here, not remotely: Flex Consumption deploys the package as is unless a
remote build is explicitly requested, and a remote build would resolve again in Azure (other
versions than the ones tested, a 60-second build limit, and one more moving part). ``pip``
installs binary wheels for Linux x86_64, CPython 3.12 (the Terraform default
``python_version``), whatever machine builds the zip. Entries are sorted with fixed timestamps,
so the same inputs give a byte-identical archive. Deploy it with
``az functionapp deployment source config-zip --src build/azure/functionapp.zip`` (no
``--build-remote``); the provider's ``zip_deploy_file`` is not used for Flex Consumption
(terraform-provider-azurerm#29630).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import re
import shutil
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

from functions.packaging import (
    ROOT,
    core_files,
    human,
    pip_install_target,
    tree,
    unzipped_size,
    write_zip,
)

AZURE_DIR = ROOT / "functions" / "azure"
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
_SKIP_SITE_DIRS = {"bin"}  # console scripts: their shebangs name the building interpreter


def requirements(pyproject: Path = ROOT / "pyproject.toml") -> list[str]:
    """Runtime requirements of the Azure app: core + ``azure`` + ``images`` extras."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    extras = project["optional-dependencies"]
    wanted = [*project["dependencies"], *extras["azure"], *extras["images"]]
    return sorted(dict.fromkeys(wanted), key=str.lower)


def pinned_requirements() -> list[str]:
    """``requirements()`` pinned to the tested versions (what the zip's site-packages holds).

    requirements.txt is not used at run time (the dependencies are prebuilt); pinned, it also
    makes an accidental remote build install what was tested.
    """
    versions = tested_versions()
    pinned = []
    for requirement in requirements():
        name = re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0]
        version = versions.get(_canonical(name))
        pinned.append(f"{name}=={version}" if version else requirement)
    return pinned


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
            if path.relative_to(site_packages).parts[0] in _SKIP_SITE_DIRS:
                continue
            yield path, name


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def tested_versions() -> dict[str, str]:
    """Distribution -> version installed in the environment that ran the tests."""
    versions: dict[str, str] = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            versions.setdefault(_canonical(name), dist.version)
    return versions


def constraints() -> list[str]:
    """Pins for pip: every distribution at the version this environment tested.

    The ranges in pyproject.toml would otherwise let the zip pick up releases nobody tested
    (a new major of a transitive dependency); packages not installed here stay unpinned.
    """
    return [f"{name}=={version}" for name, version in sorted(tested_versions().items())]


def install_dependencies(target: Path, *, python_version: str = PYTHON_VERSION) -> Path:
    """A fresh site-packages tree with Linux x86_64 wheels for ``python_version``."""
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    constraints_file = target.parent / "constraints.txt"
    constraints_file.write_text("\n".join(constraints()) + "\n", encoding="utf-8")
    pip_install_target(
        requirements(),
        target,
        platforms=PLATFORMS,
        python_version=python_version,
        options=["--no-warn-conflicts", "--constraint", str(constraints_file)],
    )
    return target


def build(
    output: Path = DEFAULT_OUTPUT,
    *,
    site_packages: Path | None = None,
    work_dir: Path = BUILD_DIR,
) -> str:
    """Write the zip (with ``site_packages`` as its dependencies); return its sha256."""
    work_dir.mkdir(parents=True, exist_ok=True)
    requirements_file = work_dir / "requirements.txt"
    requirements_file.write_text("\n".join(pinned_requirements()) + "\n", encoding="utf-8")
    return write_zip(output, app_files(requirements_file, site_packages))


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
