"""Lambda zips: reproducible bytes, the right files, no Pillow or libvips for the orders group."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from functions.aws import package
from functions.locking import read_pins
from functions.packaging import ROOT
from tests.support import import_from_extracted_zip

MODULE_OF = {
    "pillow": "PIL",
    "rpds-py": "rpds",
    "jsonschema-specifications": "jsonschema_specifications",
}


def fake_installer(calls: list[str]) -> package.Installer:
    """Stands in for pip: one small package per lock line, plus the clutter pip leaves."""

    def install(lock: Path, target: Path) -> None:
        calls.append(lock.name)
        for pin in read_pins(lock):
            name, version = pin.name, pin.version
            module = target / MODULE_OF.get(name.lower(), name.lower().replace("-", "_"))
            module.mkdir(parents=True)
            (module / "__init__.py").write_text(f'"""fake {name}"""\n')
            info = target / f"{name}-{version}.dist-info"
            info.mkdir()
            (info / "METADATA").write_text(f"Name: {name}\nVersion: {version}\n")
            for clutter in ("RECORD", "INSTALLER", "REQUESTED"):
                (info / clutter).write_text(f"{target}\n")  # absolute paths: must not ship
        (target / "bin").mkdir(exist_ok=True)
        (target / "bin" / "tool").write_text(f"#!{target}/python\n")
        (target / "PIL" / "__pycache__").mkdir(parents=True, exist_ok=True)

    return install


def names(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as archive:
        return archive.namelist()


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[package.Package]]:
    calls: list[str] = []
    first, second = tmp_path_factory.mktemp("first"), tmp_path_factory.mktemp("second")
    result: dict[str, list[package.Package]] = {}
    for group in package.GROUPS:
        result[group] = [
            package.build_group(group, out, installer=fake_installer(calls), cache=out / ".deps")
            for out in (first, second)
        ]
    return result


def test_rebuilding_gives_byte_identical_zips(builds: dict[str, list[package.Package]]) -> None:
    for first, second in builds.values():
        assert first.path != second.path  # different directories, so no path leaks in
        assert first.sha256 == second.sha256
        assert first.path.read_bytes() == second.path.read_bytes()


def test_the_orders_zip_has_no_pillow_and_the_images_zip_has(
    builds: dict[str, list[package.Package]],
) -> None:
    orders = names(builds["orders"][0].path)
    images = names(builds["images"][0].path)
    assert not [n for n in orders if n.startswith(("PIL/", "pillow", "pyvips", "_libvips"))]
    assert {"PIL/__init__.py", "pyvips/__init__.py", "pyvips_binary/__init__.py"} <= set(images)


def test_zips_hold_the_runtime_and_nothing_else(builds: dict[str, list[package.Package]]) -> None:
    for group, (built, _) in builds.items():
        entries = names(built.path)
        assert entries == sorted(entries)
        for required in (
            "functions/__init__.py",
            "functions/common/cache.py",
            "functions/aws/entrypoint.py",
            "functions/aws/bootstrap.py",
            "functions/aws/adapters/dynamodb.py",
            "shared/catalog/catalog.json",
            "shared/catalog/schemas/OrderPlaced.v2.json",
            "shared/templates/OrderPlaced.txt",
            "cloudevents/__init__.py",
        ):
            assert required in entries, (group, required)
        forbidden = [
            n
            for n in entries
            if n.startswith(("bin/", "boto3/", "botocore/", "tests/"))
            or n in ("functions/aws/package.py", "functions/aws/topology.py", ".complete")
            or "/requirements/" in n
            or "__pycache__" in n
            or n.endswith(".pyc")
            or n.rsplit("/", 1)[-1] in ("RECORD", "INSTALLER", "REQUESTED")
        ]
        assert forbidden == [], group
        with zipfile.ZipFile(built.path) as archive:
            assert {i.date_time for i in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        assert built.unzipped >= built.zipped > 0


def test_the_dependency_install_is_cached_by_lock_hash(tmp_path: Path) -> None:
    calls: list[str] = []
    for _ in range(2):
        package.build_group(
            "orders", tmp_path, installer=fake_installer(calls), cache=tmp_path / "cache"
        )
    assert calls == ["aws-orders.txt"]


def test_a_real_orders_zip_if_built_has_no_pillow_or_libvips() -> None:
    built = ROOT / "build" / "aws" / "orders.zip"
    if not built.exists():
        pytest.skip("run `make package-aws` to check the real archive")
    entries = names(built)
    assert not [n for n in entries if n.startswith(("PIL/", "pillow", "pyvips", "_libvips"))]
    assert "rpds/__init__.py" in entries  # the real dependencies are there


def test_a_real_images_zip_if_built_ships_pure_pyvips_and_libvips() -> None:
    from tests.runtimes.packages import check_vips_entries

    built = ROOT / "build" / "aws" / "images.zip"
    if not built.exists():
        pytest.skip("run `make package-aws` to check the real archive")
    check_vips_entries(names(built))


def test_an_extracted_code_zip_imports_its_adapters_from_itself(tmp_path: Path) -> None:
    """Every module the functions import at run time is in the zip (``functions/common`` too)."""
    built = package.build_group("orders", tmp_path / "build", installer=None)
    source = tmp_path / "extracted"
    modules = ("functions.aws.bootstrap", "functions.aws.adapters.dynamodb", "functions.common")
    loaded = import_from_extracted_zip(built.path, source, *modules)
    assert len(loaded) == len(modules)
    assert all(path.is_relative_to(source) for path in loaded), loaded
