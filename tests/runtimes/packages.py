"""The packages the runtime tests run, built once and cached under ``build/runtimes/``.

* the Lambda zips for THIS machine's architecture, from the same lock files as
  ``make package-aws`` (same names and versions; the hashes in the locks are those of the
  arm64 wheels, so this variant installs ``name==version`` without them), pyvips as the same
  pure wheel as the release zips (:func:`functions.packaging.pure_wheel`, hash-checked sdist);
* the Lambda runtime's own packages (``awslambdaric``, ``boto3``: what ``/var/runtime``
  holds) for the Python version the plan names;
* an interpreter of that version (``python3.X`` on PATH or under pyenv).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

from functions.aws import package as aws_package
from functions.locking import PURE_FROM_SOURCE, canonical, read_pins
from functions.packaging import PURE_WHEEL_RECIPE, pip_install_target, pure_wheel

REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / "build" / "runtimes"
COMPLETE = ".complete"
ARCH = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}[
    platform.machine().lower()
]
LOCAL_PLATFORMS = (f"manylinux2014_{ARCH}", f"manylinux_2_28_{ARCH}")


def find_python(python_version: str) -> str | None:
    """An interpreter of ``python_version`` (``3.12``): this one, PATH, or pyenv."""
    if f"{sys.version_info.major}.{sys.version_info.minor}" == python_version:
        return sys.executable
    found = shutil.which(f"python{python_version}")
    if found and "/shims/" not in found:  # a pyenv shim may refuse a version not selected
        return found
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    for candidate in sorted(pyenv.glob(f"{python_version}.*"), reverse=True):
        binary = candidate / "bin" / f"python{python_version}"
        if binary.exists():
            return str(binary)
    return None


@contextlib.contextmanager
def _locked(target: Path) -> Iterator[None]:
    """One builder of ``target`` at a time (pytest-xdist workers, parallel sessions)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with (target.parent / f".{target.name}.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _cached(target: Path, build: Callable[[Path], None]) -> Path:
    """Run ``build(staging)`` once per ``target``; a half-built folder is never used."""
    if (target / COMPLETE).exists():
        return target
    with _locked(target):
        if (target / COMPLETE).exists():
            return target
        staging = target.with_name(target.name + ".tmp")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        build(staging)
        (staging / COMPLETE).write_text("ok")
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    return target


def unpinned_lock(group: str) -> list[str]:
    """The group's lock as ``name==version`` lines (hashes dropped: they are arm64 wheels')."""
    lines = aws_package.requirements_file(group).read_text(encoding="utf-8").splitlines()
    # Requirement lines start the line; hash and comment lines do not.
    return [line.split()[0] for line in lines if line[:1].isalnum() and "==" in line.split()[0]]


def aws_local_zip(group: str, python_version: str) -> Path:
    """``<group>.zip`` with the group's locked dependencies for this machine's architecture."""
    requirements = unpinned_lock(group)
    key = [*requirements, ARCH, python_version, PURE_WHEEL_RECIPE]
    digest = hashlib.sha256("\n".join(key).encode()).hexdigest()[:12]
    output = CACHE / "aws" / f"{ARCH}-py{python_version}"
    binary = [r for r in requirements if canonical(r.split("==")[0]) not in PURE_FROM_SOURCE]
    pins = read_pins(aws_package.requirements_file(group))
    pure = [pin for pin in pins if pin.name in PURE_FROM_SOURCE]

    def installer(lock: Path, target: Path) -> None:
        pip_install_target(
            binary,
            target,
            platforms=LOCAL_PLATFORMS,
            python_version=python_version,
            options=["--no-deps"],
        )
        wheels = [str(pure_wheel(pin.name, pin.version, pin.hashes)) for pin in pure]
        pip_install_target(wheels, target, python_version=python_version, options=["--no-deps"])

    deps = output / ".deps"
    site = _cached(deps / f"{group}-{digest}", lambda staging: installer(Path(), staging))
    files = [
        *aws_package.core_files(),
        *aws_package.aws_files(),
        *aws_package.dependency_files(site),
    ]
    target = output / f"{group}.zip"
    aws_package.write_zip(target, files)
    return target


def unzip(archive: Path, target: Path, *, precompile_with: str | None = None) -> Path:
    """Extract a zip into a fresh folder, read-only like Lambda's ``/var/task`` (so nothing
    can write ``__pycache__`` at run time); ``precompile_with`` an interpreter first writes
    the bytecode a zip could ship (to measure what that saves at cold start)."""
    shutil.rmtree(target, ignore_errors=True)
    with zipfile.ZipFile(archive) as handle:
        handle.extractall(target)
    if precompile_with:
        subprocess.run(
            [precompile_with, "-m", "compileall", "-q", "-j", "0", str(target)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    for path in sorted(target.rglob("*"), reverse=True):
        path.chmod(0o555 if path.is_dir() else 0o444)
    target.chmod(0o555)
    return target


def make_writable(folder: Path) -> None:
    """Undo :func:`unzip`'s read-only modes so the folder can be removed."""
    if folder.exists():
        for path in [folder, *folder.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)


def aws_runtime_dir(python_version: str) -> Path:
    """What the Lambda runtime provides (``/var/runtime``): awslambdaric and boto3, at the
    versions installed in this virtualenv, for ``python_version`` on this architecture."""
    pins = [f"awslambdaric=={version('awslambdaric')}", f"boto3=={version('boto3')}"]
    digest = hashlib.sha256("\n".join([*pins, ARCH, python_version, "pyc"]).encode()).hexdigest()[
        :12
    ]
    target = CACHE / f"aws-runtime-{ARCH}-py{python_version}-{digest}"

    def install(staging: Path) -> None:
        pip_install_target(pins, staging, platforms=LOCAL_PLATFORMS, python_version=python_version)
        python = find_python(python_version)
        if python:  # Lambda's /var/runtime ships compiled; so the cold starts compare like
            subprocess.run(
                [python, "-m", "compileall", "-q", "-j", "0", str(staging)],
                check=True,
                stdout=subprocess.DEVNULL,
            )

    return _cached(target, install)


def wheel_tags(archive: Path) -> dict[str, list[str]]:
    """Every ``*.dist-info/WHEEL``'s ``Tag:`` lines in a zip, by distribution folder."""
    tags: dict[str, list[str]] = {}
    with zipfile.ZipFile(archive) as handle:
        for name in handle.namelist():
            if name.endswith(".dist-info/WHEEL"):
                text = handle.read(name).decode()
                tags[name.split("/")[0]] = [
                    line.split(":", 1)[1].strip()
                    for line in text.splitlines()
                    if line.startswith("Tag:")
                ]
    return tags


def run_checked(command: list[str]) -> str:
    """Run a command, returning its output (for diagnostics in failures)."""
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout


def gcp_source(group: str, target: Path) -> Path:
    """``make package-gcp``'s zip of ``group``, built and unpacked into ``target`` (the
    source Cloud Build receives)."""
    from functions.gcp import package as gcp_package

    archive, _ = gcp_package.build(group, CACHE / "gcp" / "src")
    shutil.rmtree(target, ignore_errors=True)
    with zipfile.ZipFile(archive) as handle:
        handle.extractall(target)
    return target


def gcp_venv(python: str, requirements: Path) -> Path:
    """A fresh virtualenv with the zip's ``requirements.txt`` installed (what the buildpack
    does), cached by the requirements' hash and the interpreter."""
    text = requirements.read_bytes()
    digest = hashlib.sha256(text + python.encode()).hexdigest()[:12]
    target = CACHE / f"gcp-venv-{ARCH}-{digest}"
    if (target / COMPLETE).exists():
        return target
    with _locked(target):  # a venv cannot be moved: built in place, under the lock
        if not (target / COMPLETE).exists():
            shutil.rmtree(target, ignore_errors=True)
            subprocess.run([python, "-m", "venv", str(target)], check=True)
            pip = [str(target / "bin" / "python"), "-m", "pip", "install", "--quiet"]
            pip += ["--disable-pip-version-check", "-r", str(requirements)]
            subprocess.run(pip, check=True)
            (target / COMPLETE).write_text("ok")
    return target


AZURE_WORKER = ("azure-functions-runtime==1.3.0", "azurefunctions-extensions-base==1.2.0")


def azure_app(python_version: str, target: Path) -> Path:
    """``make package-azure``'s app zip (dependencies for ``python_version``), unpacked into
    ``target``; the site-packages install is cached by the pins and the version."""
    from functions.azure import package as azure_package

    pins = azure_package.LOCK.read_text(encoding="utf-8")
    digest = hashlib.sha256(f"{pins}\n{python_version}\n{PURE_WHEEL_RECIPE}".encode()).hexdigest()
    digest = digest[:12]
    cached = _cached(  # the marker sits beside site-packages, never inside the zip
        CACHE / "azure" / f"deps-py{python_version}-{digest}",
        lambda staging: azure_package.install_dependencies(
            staging / "site-packages", python_version=python_version
        ),
    )
    site = cached / "site-packages"
    archive = CACHE / "azure" / "functionapp.zip"
    azure_package.build(archive, site_packages=site)
    shutil.rmtree(target, ignore_errors=True)
    with zipfile.ZipFile(archive) as handle:
        handle.extractall(target)
    return target


def azure_worker_dir(python_version: str) -> Path:
    """The Functions Python worker's own code (``azure-functions-runtime``: its loader indexes
    v2-model apps), installed apart from the app like the platform's worker directory.
    Its wheel declares Python >= 3.13 (the version whose worker it is); the indexing code is
    installed for ``python_version`` regardless, see tests/runtimes/README.md."""
    digest = hashlib.sha256("\n".join([*AZURE_WORKER, python_version]).encode()).hexdigest()[:12]
    return _cached(
        CACHE / f"azure-worker-py{python_version}-{digest}",
        lambda staging: pip_install_target(
            list(AZURE_WORKER),
            staging,
            python_version=python_version,
            options=["--no-deps", "--ignore-requires-python", "--only-binary=:all:"],
        ),
    )


def aws_release_zip(group: str) -> Path:
    """The zip ``make package-aws`` ships (arm64 wheels from the hashed locks), built into the
    runtime tests' cache (its dependency install is cached by lock hash)."""
    output = CACHE / "aws" / "release"
    return aws_package.build_group(group, output, cache=output / ".deps").path


# Decodes a JPEG (made with the package's Pillow) with the package's pyvips at half size, as the
# thumbnailer's engine does; prints where each module came from.
VIPS_PROBE = """
import io, json
from PIL import Image
import _libvips, pyvips
buffer = io.BytesIO()
Image.new("RGB", (64, 48), (200, 30, 30)).save(buffer, "JPEG", quality=95)
image = pyvips.Image.new_from_buffer(buffer.getvalue(), "", shrink=2)
print(json.dumps({
    "api_mode": pyvips.API_mode,
    "pyvips": pyvips.__file__,
    "libvips_module": _libvips.__file__,
    "size": [image.width, image.height],
    "pixel": image.getpoint(16, 12),
    "libvips": [pyvips.version(0), pyvips.version(1)],
}))
"""


def run_vips_probe(
    python: str, path: list[Path], *, cwd: Path, isolated: bool = True
) -> dict[str, Any]:
    """Run :data:`VIPS_PROBE` with ``path`` as ``PYTHONPATH`` (``-s -S``: nothing else, like
    Lambda's ``/var/task``, unless ``isolated`` is False: a virtualenv's own packages too)."""
    flags = ["-s", "-S"] if isolated else ["-s"]
    result = subprocess.run(
        [python, *flags, "-c", VIPS_PROBE],
        cwd=cwd,
        env={
            "PATH": os.environ.get("PATH", ""),
            "PYTHONPATH": os.pathsep.join(str(entry) for entry in path),
            "PYTHONDONTWRITEBYTECODE": "1",
        },
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    loaded: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return loaded


def check_vips_probe(loaded: dict[str, Any], root: Path) -> None:
    """pyvips and its compiled ``_libvips`` came from ``root`` (the package), in API mode, and
    decoded the 64x48 red JPEG at half size."""
    assert loaded["api_mode"] is True, loaded  # pyvips-binary's _libvips, not an ABI fallback
    assert Path(loaded["pyvips"]).is_relative_to(root), loaded
    assert Path(loaded["libvips_module"]).is_relative_to(root), loaded
    assert Path(loaded["libvips_module"]).name.startswith("_libvips.abi3"), loaded
    assert loaded["size"] == [32, 24], loaded
    red, green, blue = loaded["pixel"]
    assert abs(red - 200) < 12 and green < 45 and blue < 45, loaded


def vips_entries(names: list[str], prefix: str = "") -> dict[str, list[str]]:
    """A package's libvips-related entries (names under ``prefix``), by role."""
    relative = [n.removeprefix(prefix) for n in names if n.startswith(prefix)]
    return {
        "pyvips": [n for n in relative if n.startswith("pyvips/")],
        "pyvips_compiled": [
            n for n in relative if n.startswith("pyvips/") and n.endswith((".so", ".pyd"))
        ],
        "libvips_module": [
            n for n in relative if n.startswith("_libvips") and n.endswith(".so") and "/" not in n
        ],
        "libvips_library": [
            n for n in relative if n.startswith("pyvips_binary.libs/libvips") and ".so" in n
        ],
        "cffi": [n for n in relative if n == "cffi/__init__.py" or n.startswith("_cffi_backend")],
    }


def check_vips_entries(names: list[str], prefix: str = "") -> None:
    """The package ships pyvips (pure), pyvips-binary's ``_libvips`` module and libvips, cffi."""
    found = vips_entries(names, prefix)
    assert "pyvips/__init__.py" in found["pyvips"], found
    assert found["pyvips_compiled"] == [], found
    assert len(found["libvips_module"]) == 1, found
    assert found["libvips_library"], found
    assert "cffi/__init__.py" in found["cffi"] and len(found["cffi"]) == 2, found
