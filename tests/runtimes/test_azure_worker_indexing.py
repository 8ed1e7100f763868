"""The Azure app zip indexed by the Functions Python worker's own code, wired from the plan.

``make package-azure``'s zip (dependencies for the Python version the plan names) is unpacked
and indexed in a separate interpreter of that version whose path holds only the worker's code
(``azure-functions-runtime``: ``loader.index_function_app`` and ``process_indexed_function``,
what the worker runs when the host asks for function metadata), the zip's
``.python_packages/lib/site-packages`` and the app root. The metadata it builds must list
every function the catalog and the planned ``azurerm_function_app_flex_consumption`` expect
(:mod:`tests.runtimes.wiring`), with the queue names of ``azurerm_storage_queue``, connection
settings the app settings provide, the catalog's timer periods, routes and methods.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from shared.catalog import default_catalog
from shared.inject import MissingDependency
from tests.runtimes import packages, wiring

pytestmark = pytest.mark.integration

IN_CI = os.environ.get("CI", "").lower() == "true"
DRIVER = Path(__file__).with_name("azure_index.py")
ROOT_VARIABLES = {
    "subscription_id": "00000000-0000-0000-0000-000000000000",
    "mail_from": "o@x.test",
    # A deployment sets its relay: without one the mail functions refuse to start (tested).
    "smtp": {"host": "smtp.example.test", "port": 587, "username": "u", "starttls": True},
    "orders_api_auth": {"mode": "entra", "client_id": "00000000-0000-0000-0000-000000000000"},
}
# Settings that make an identity-based connection (the host's ``<name>__*`` convention).
IDENTITY_SUFFIXES = ("__accountName", "__queueServiceUri", "__serviceUri")


def _missing(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: a missing component fails)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def wirings() -> dict[str, wiring.Wiring]:
    return wiring.load("azure", ROOT_VARIABLES)


@pytest.fixture(scope="module")
def python(wirings: dict[str, wiring.Wiring]) -> tuple[str, str]:
    (version,) = {w.python_version for w in wirings.values()}
    found = packages.find_python(version)
    if found is None:
        _missing(f"no Python {version} interpreter (the runtime Terraform names)")
    assert found is not None
    return version, found


@pytest.fixture(scope="module")
def app_dir(python: tuple[str, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    try:
        return packages.azure_app(python[0], tmp_path_factory.mktemp("azure") / "app")
    except Exception as exc:  # pip could not reach PyPI
        _missing(f"cannot build the Azure app zip for Python {python[0]}: {exc}")
        raise


@pytest.fixture(scope="module")
def worker_dir(python: tuple[str, str]) -> Path:
    try:
        return packages.azure_worker_dir(python[0])
    except Exception as exc:
        _missing(f"cannot install the Functions Python worker code: {exc}")
        raise


def index(python: str, worker: Path, app: Path) -> subprocess.CompletedProcess[str]:
    """Run the worker's indexing over ``app`` with nothing else on the path."""
    site = app / ".python_packages" / "lib" / "site-packages"
    return subprocess.run(
        [python, "-s", "-S", "-c", DRIVER.read_text(encoding="utf-8"), str(app), str(worker)],
        cwd=app,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{worker}{os.pathsep}{site}"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def indexed(python: tuple[str, str], worker_dir: Path, app_dir: Path) -> dict[str, Any]:
    result = index(python[1], worker_dir, app_dir)
    assert result.returncode == 0, result.stderr[-4000:]
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def connection_problems(function: wiring.Wiring, connection: str) -> list[str]:
    """Why the app settings Terraform gives ``function`` cannot make ``connection`` work."""
    names = function.variable_names
    if connection in names or any(f"{connection}{s}" in names for s in IDENTITY_SUFFIXES):
        return []
    if connection == "AzureWebJobsStorage" and function.storage_identity is False:
        return []  # the provider writes the key-based AzureWebJobsStorage setting itself
    return [
        f"{function.name}: connection {connection!r} has no app setting {connection}__accountName"
    ]


def binding_problems(
    functions: list[dict[str, Any]], wirings: dict[str, wiring.Wiring]
) -> list[str]:
    """Every difference between the worker's metadata, the catalog and Terraform."""
    catalog = default_catalog()
    problems: list[str] = []
    found = {f["name"]: f for f in functions}
    expected = {*catalog.consumers, *catalog.endpoints, *catalog.schedules}
    problems += [f"{name}: not indexed by the worker" for name in sorted(expected - set(found))]
    problems += [
        f"{name}: indexed but not in the catalog" for name in sorted(set(found) - expected)
    ]
    problems += [f"{name}: no app runs it (Terraform)" for name in sorted(expected - set(wirings))]
    for name in sorted(expected & set(found) & set(wirings)):
        function, bindings = wirings[name], found[name]["raw_bindings"]
        triggers = [b for b in bindings if b["type"].endswith("Trigger")]
        if len(triggers) != 1:
            problems.append(f"{name}: {len(triggers)} triggers")
            continue
        (trigger,) = triggers
        if name in catalog.consumers:
            if trigger["type"] != "queueTrigger" or trigger.get("queueName") != function.queue:
                problems.append(f"{name}: trigger {trigger} is not the queue {function.queue!r}")
            problems += connection_problems(
                function, trigger.get("connection") or "AzureWebJobsStorage"
            )
        elif name in catalog.endpoints:
            spec = catalog.endpoints[name]
            if trigger["type"] != "httpTrigger" or trigger.get("route") != spec.path.lstrip("/"):
                problems.append(f"{name}: route {trigger.get('route')!r} is not {spec.path!r}")
            if [m.upper() for m in trigger.get("methods", [])] != [spec.method.upper()]:
                problems.append(f"{name}: methods {trigger.get('methods')} are not {spec.method}")
        else:
            every = catalog.schedules[name].every_minutes
            if (
                trigger["type"] != "timerTrigger"
                or trigger.get("schedule") != f"0 */{every} * * * *"
            ):
                problems.append(
                    f"{name}: timer {trigger.get('schedule')!r} is not every {every} min"
                )
    return problems


def test_the_worker_indexes_every_function_with_the_terraform_bindings(
    indexed: dict[str, Any], wirings: dict[str, wiring.Wiring], python: tuple[str, str]
) -> None:
    assert indexed["python"].startswith(python[0] + ".")
    assert indexed["strays"] == [], "modules loaded from outside the zip and the worker"
    assert binding_problems(indexed["functions"], wirings) == []
    assert all(f["worker_indexed"] == {"worker_indexed": "True"} for f in indexed["functions"])


def test_the_http_route_prefix_is_empty_so_routes_are_the_catalog_paths(app_dir: Path) -> None:
    host = json.loads((app_dir / "host.json").read_text(encoding="utf-8"))
    assert host["extensions"]["http"]["routePrefix"] == ""


def test_a_missing_connection_setting_is_named(
    indexed: dict[str, Any], wirings: dict[str, wiring.Wiring]
) -> None:
    import dataclasses

    payments = wirings["payments"]
    environment = {
        k: v for k, v in payments.environment.items() if not k.startswith("AzureWebJobsStorage")
    }
    unknown = {k: v for k, v in payments.unknown.items() if not k.startswith("AzureWebJobsStorage")}
    broken = {
        **wirings,
        "payments": dataclasses.replace(payments, environment=environment, unknown=unknown),
    }
    (problem,) = binding_problems(indexed["functions"], broken)
    assert problem.startswith("payments: connection 'AzureWebJobsStorage' has no app setting")


def test_a_function_missing_from_terraform_or_a_renamed_queue_is_named(
    indexed: dict[str, Any], wirings: dict[str, wiring.Wiring]
) -> None:
    import dataclasses

    broken = {k: v for k, v in wirings.items() if k != "order_reconciler"}
    broken["notifier"] = dataclasses.replace(wirings["notifier"], queue="notifier-queue")
    problems = binding_problems(indexed["functions"], broken)
    assert "order_reconciler: no app runs it (Terraform)" in problems
    assert any(p.startswith("notifier: trigger") and "notifier-queue" in p for p in problems)


def test_a_module_missing_from_the_zip_fails_indexing_naming_it(
    python: tuple[str, str], worker_dir: Path, app_dir: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "app"
    shutil.copytree(app_dir, broken, symlinks=True)
    (broken / "functions" / "azure" / "names.py").unlink()
    result = index(python[1], worker_dir, broken)
    assert result.returncode != 0
    assert "functions.azure.names" in result.stderr, result.stderr[-2000:]


def app_settings(function: wiring.Wiring, drop: tuple[str, ...] = ()) -> dict[str, str]:
    """The app settings Terraform gives ``function``'s app; values only apply knows (endpoints,
    names) are stand-ins: composing builds no client and opens no connection."""
    settings = dict(function.environment)
    for name in function.unknown:
        settings[name] = (
            "https://known-after-apply.invalid/"
            if name.endswith(("_URL", "_ENDPOINT"))
            else "known-after-apply"
        )
    return {k: v for k, v in settings.items() if k not in drop}


def compose(function: wiring.Wiring, drop: tuple[str, ...] = ()) -> None:
    """Build the function the way its first invocation does (refusals name what is missing)."""
    from functions.azure.bootstrap import build_container
    from functions.common.runtime import Runtime

    runtime = Runtime(build_container(app_settings(function, drop)))
    role = {"consumer": runtime.consumer, "http": runtime.endpoint}.get(function.kind)
    (role or runtime.schedule)(function.name)


def test_every_function_starts_with_the_app_settings_terraform_gives_it(
    wirings: dict[str, wiring.Wiring],
) -> None:
    for function in wirings.values():
        compose(function)


def test_a_missing_app_setting_is_named(wirings: dict[str, wiring.Wiring]) -> None:
    with pytest.raises(MissingDependency, match=r"orders_api.*EVENTSUITE_EVENTGRID_ENDPOINT"):
        compose(wirings["orders_api"], drop=("EVENTSUITE_EVENTGRID_ENDPOINT",))
    with pytest.raises(MissingDependency, match=r"notifier.*EVENTSUITE_SMTP_HOST"):
        compose(wirings["notifier"], drop=("EVENTSUITE_SMTP_HOST",))


def test_the_app_ships_libvips_and_decodes_a_jpeg_with_it(
    app_dir: Path, python: tuple[str, str]
) -> None:
    """The zip's ``.python_packages`` hold pyvips (pure), pyvips-binary's ``_libvips`` and
    libvips, cffi; with only them and the app root on the path, pyvips decodes a JPEG."""
    site = app_dir / ".python_packages" / "lib" / "site-packages"
    names = [path.relative_to(app_dir).as_posix() for path in app_dir.rglob("*")]
    packages.check_vips_entries(names, prefix=".python_packages/lib/site-packages/")
    loaded = packages.run_vips_probe(python[1], [site, app_dir], cwd=app_dir)
    packages.check_vips_probe(loaded, site)
