"""The catalog: loads, validates itself, and every entry is backed by code."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from shared.catalog import CATALOG_PATH, default_catalog, load_catalog
from shared.dispatch import resolve_handler
from shared.errors import CatalogError
from shared.upcasters import UPCASTERS


def _copy_catalog(tmp_path: Path) -> tuple[Path, dict]:
    shutil.copytree(CATALOG_PATH.parent, tmp_path / "catalog")
    path = tmp_path / "catalog" / "catalog.json"
    return path, json.loads(path.read_text())


def _write(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data))


def test_every_consumer_in_the_catalog_has_a_callable_handler() -> None:
    catalog = default_catalog()
    assert set(catalog.consumers) >= {"thumbnailer", "indexer", "payments", "notifier"}
    for consumer in catalog.consumers.values():
        assert callable(resolve_handler(consumer.handler)), consumer.name
    for endpoint in catalog.endpoints.values():
        assert callable(resolve_handler(endpoint.handler)), endpoint.name
    assert "order_reconciler" in catalog.schedules
    for schedule in catalog.schedules.values():
        assert callable(resolve_handler(schedule.handler)), schedule.name


def test_every_old_version_has_an_upcaster() -> None:
    for spec in default_catalog().events.values():
        for version in spec.versions.values():
            if version.upcast_to is not None:
                assert (spec.name, version.version) in UPCASTERS


def test_required_events_and_versions_are_present() -> None:
    catalog = default_catalog()
    assert sorted(catalog.event("OrderPlaced").versions) == [1, 2, 3]
    assert catalog.event("OrderPlaced").current_version == 3
    assert catalog.event("ImageUploaded").current_version == 1
    for name in ("PaymentReceived", "PaymentFailed", "PaymentRefunded"):
        assert catalog.event(name).current_version == 2


def test_subscription_to_unknown_event_is_named(tmp_path: Path) -> None:
    path, data = _copy_catalog(tmp_path)
    data["consumers"]["notifier"]["subscribes"].append("OrderShipped")
    _write(path, data)
    with pytest.raises(
        CatalogError, match="consumer 'notifier': subscribes to unknown event 'OrderShipped'"
    ):
        load_catalog(path)


def test_missing_schema_file_is_named(tmp_path: Path) -> None:
    path, _ = _copy_catalog(tmp_path)
    (path.parent / "schemas" / "PaymentFailed.v1.json").unlink()
    with pytest.raises(
        CatalogError, match=r"event 'PaymentFailed' version 1: schema file .* does not exist"
    ):
        load_catalog(path)


def test_duplicate_consumer_is_named(tmp_path: Path) -> None:
    path, _ = _copy_catalog(tmp_path)
    text = path.read_text()
    text = text.replace('"consumers": {', '"consumers": {\n "indexer": {"handler": "x:y"},', 1)
    path.write_text(text)
    with pytest.raises(CatalogError, match="duplicate entry 'indexer'"):
        load_catalog(path)


def test_out_of_range_setting_is_named(tmp_path: Path) -> None:
    path, data = _copy_catalog(tmp_path)
    data["consumers"]["payments"]["max_delivery_attempts"] = 0
    _write(path, data)
    with pytest.raises(
        CatalogError, match="consumer 'payments': max_delivery_attempts must be between"
    ):
        load_catalog(path)


def test_old_version_without_upcast_target_is_rejected(tmp_path: Path) -> None:
    path, data = _copy_catalog(tmp_path)
    del data["events"]["OrderPlaced"]["versions"]["1"]["upcast_to"]
    _write(path, data)
    with pytest.raises(CatalogError, match="an old version needs 'upcast_to'"):
        load_catalog(path)


def test_invalid_schema_is_rejected(tmp_path: Path) -> None:
    path, _ = _copy_catalog(tmp_path)
    (path.parent / "schemas" / "PaymentReceived.v1.json").write_text('{"type": 12}')
    with pytest.raises(CatalogError, match=r"schema .* is invalid"):
        load_catalog(path)


def test_consumer_lookup_lists_known_names() -> None:
    with pytest.raises(CatalogError, match="known: indexer, notifier, payments, thumbnailer"):
        default_catalog().consumer("shipping")


def test_packaged_catalog_passes_the_meta_schema_check() -> None:
    catalog = load_catalog(check_schemas=True)
    for spec in catalog.events.values():
        for version in spec.versions.values():
            version.check_schema()


def test_loading_the_catalog_compiles_nothing_and_imports_no_jsonschema() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from shared.catalog import default_catalog; default_catalog(); "
        "sys.exit(1 if 'jsonschema' in sys.modules or 'fastjsonschema' in sys.modules else 0)"
    )
    root = CATALOG_PATH.parents[2]
    assert subprocess.run([sys.executable, "-c", code], cwd=root, check=False).returncode == 0


def test_schedule_settings_are_range_checked(tmp_path: Path) -> None:
    path, data = _copy_catalog(tmp_path)
    data["schedules"]["order_reconciler"]["timeout_seconds"] = 5000
    _write(path, data)
    with pytest.raises(CatalogError, match="schedule 'order_reconciler': timeout_seconds must be"):
        load_catalog(path)
