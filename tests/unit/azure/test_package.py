"""The deployment zip: layout, requirements from pyproject, byte-identical rebuilds."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from functions.azure import package
from functions.packaging import ROOT
from tests.support import import_from_extracted_zip


@pytest.fixture
def site_packages(tmp_path: Path) -> Path:
    """A stand-in for the pip-installed dependencies (the real install needs PyPI)."""
    return _fake_site_packages(tmp_path)


def _fake_site_packages(tmp_path: Path) -> Path:
    root = tmp_path / "site-packages"
    (root / "somepkg").mkdir(parents=True)
    (root / "somepkg" / "__init__.py").write_text("VALUE = 1\n")
    (root / "somepkg" / "_native.cpython-312-x86_64-linux-gnu.so").write_bytes(b"\x7fELF")
    info = root / "somepkg-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: somepkg\nVersion: 1.0\n")
    # What pip writes when it installs a local wheel: install state naming the build folder.
    wheel_url = (tmp_path / "wheels" / "somepkg-1.0-py3-none-any.whl").as_uri()
    (info / "direct_url.json").write_text(f'{{"archive_info": {{}}, "url": "{wheel_url}"}}')
    (info / "RECORD").write_text(f"somepkg/__init__.py,,\n{info.name}/direct_url.json,,\n")
    (info / "INSTALLER").write_text("pip\n")
    (info / "REQUESTED").write_text("")
    (root / "bin").mkdir()
    (root / "bin" / "somepkg").write_text("#!/home/someone/.venv/bin/python\n")
    (root / "somepkg" / "__pycache__").mkdir()
    (root / "somepkg" / "__pycache__" / "__init__.cpython-312.pyc").write_bytes(b"junk")
    return root


def _build(tmp_path: Path, name: str, site_packages: Path | None) -> tuple[Path, str]:
    output = tmp_path / name
    digest = package.build(output, site_packages=site_packages)
    return output, digest


def test_rebuilds_are_byte_identical(tmp_path: Path, site_packages: Path) -> None:
    first, first_digest = _build(tmp_path, "a.zip", site_packages)
    for path in site_packages.rglob("*"):  # mtimes must not matter
        path.touch()
    second, second_digest = _build(tmp_path, "b.zip", site_packages)
    assert first_digest == second_digest
    assert first.read_bytes() == second.read_bytes()


def test_installs_in_different_folders_give_byte_identical_zips(tmp_path: Path) -> None:
    """pip's install state names the folder it installed from; none of it may reach the zip."""
    builds = []
    for folder in ("one", "another"):
        root = tmp_path / folder
        root.mkdir()
        builds.append(_build(root, "app.zip", _fake_site_packages(root)))
    (first, first_digest), (second, second_digest) = builds
    assert first_digest == second_digest and first.read_bytes() == second.read_bytes()
    with zipfile.ZipFile(first) as archive:
        leaked = [
            info.filename
            for info in archive.infolist()
            if str(tmp_path).encode() in archive.read(info)
        ]
    assert leaked == []


def test_layout(tmp_path: Path, site_packages: Path) -> None:
    output, _ = _build(tmp_path, "app.zip", site_packages)
    with zipfile.ZipFile(output) as archive:
        names = set(archive.namelist())
        app_module = (package.AZURE_DIR / "function_app.py").read_bytes()
        assert archive.read("function_app.py") == app_module
        assert archive.read("host.json") == (package.AZURE_DIR / "host.json").read_bytes()
        requirements = archive.read("requirements.txt")
        infos = archive.infolist()
    assert {
        "function_app.py",
        "host.json",
        "requirements.txt",
        "functions/__init__.py",
        "functions/common/cache.py",
        "functions/azure/__init__.py",
        "functions/azure/entrypoint.py",
        "functions/azure/adapters/tables.py",
        "shared/catalog/catalog.json",
        "shared/dispatch.py",
    } <= names
    site = package.SITE_PACKAGES
    assert {
        f"{site}/somepkg/__init__.py",
        f"{site}/somepkg-1.0.dist-info/METADATA",
        f"{site}/somepkg/_native.cpython-312-x86_64-linux-gnu.so",
    } <= names
    # Not shipped: install state (RECORD hashes direct_url.json, which names the build folder).
    assert (
        not {
            f"{site}/somepkg-1.0.dist-info/{state}"
            for state in ("RECORD", "INSTALLER", "REQUESTED", "direct_url.json")
        }
        & names
    )
    # Not shipped: console scripts (absolute shebangs), caches, build tools, a second app module.
    assert not [
        n for n in names if n.startswith(f"{site}/bin/") or "__pycache__" in n or n.endswith(".pyc")
    ]
    assert "functions/azure/function_app.py" not in names
    assert "functions/azure/package.py" not in names
    assert not [n for n in names if n.startswith(("tests/", "terraform/", "functions/aws/"))]
    assert all(info.date_time == (1980, 1, 1, 0, 0, 0) for info in infos)
    assert requirements == package.LOCK.read_bytes()  # the hashed lock, as tested


def test_requirements_come_from_pyproject() -> None:
    names = {r.split(">")[0].split("<")[0].split("=")[0].lower() for r in package.requirements()}
    assert {
        "azure-functions",
        "azure-storage-blob",
        "azure-storage-queue",
        "azure-data-tables",
        "azure-eventgrid",
        "azure-identity",
        "cloudevents",
        "jsonschema",
        "pillow",
    } <= names
    assert not names & {"boto3", "google-cloud-pubsub", "functions-framework", "pytest"}


def test_the_lock_holds_every_requirement() -> None:
    from functions.locking import canonical, read_pins

    locked = {pin.name for pin in read_pins(package.LOCK)}
    wanted = {
        canonical(r.split(">")[0].split("<")[0].split("=")[0]) for r in package.requirements()
    }
    assert wanted <= locked


def test_the_python_version_matches_the_terraform_default() -> None:
    variables = ROOT / "terraform" / "modules" / "azure-suite" / "variables.tf"
    if not variables.exists():
        pytest.skip("the Azure Terraform module is not in this checkout")
    hcl2 = pytest.importorskip("hcl2")
    with variables.open() as handle:
        parsed = hcl2.load(handle)
    # python-hcl2 keeps the quotes of names and string values.
    defaults = {
        name.strip('"'): str(spec.get("default")).strip('"')
        for block in parsed["variable"]
        for name, spec in block.items()
    }
    assert defaults["python_version"] == package.PYTHON_VERSION
    assert defaults["package_path"].endswith("build/azure/functionapp.zip")


def test_an_extracted_code_zip_imports_the_app_and_adapters_from_itself(tmp_path: Path) -> None:
    """Every module the app imports at run time is in the zip (``functions/common`` too)."""
    output, _ = _build(tmp_path, "code.zip", None)
    source = tmp_path / "extracted"
    modules = ("function_app", "functions.azure.adapters.tables", "functions.common")
    loaded = import_from_extracted_zip(output, source, *modules)
    assert len(loaded) == len(modules)
    assert all(path.is_relative_to(source) for path in loaded), loaded
