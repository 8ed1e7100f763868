"""``make smoke-*`` proven here: the production smoke against the local backend under ``make
serve`` and the emulator-backed stacks of each cloud; one scenario, every backend, outcomes
compared field by field; and a broken stack makes it fail naming what broke.

What the comparison normalises (ids and times that must differ between runs or backends) is
listed in :mod:`functions.ops.smoke`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from functions.ops.smoke import (
    PASS,
    SKIP,
    NoAuth,
    SmokeReport,
    compare_outcomes,
    run_smoke,
)
from functions.ops.smoke import main as smoke_main
from tests.emulators import fake_aws_env
from tests.smoke.stacks import Bench, aws_bench, azure_bench, gcp_bench, local_bench

pytestmark = [pytest.mark.integration, pytest.mark.e2e]
TIMEOUT = 60.0


BACKENDS = ["local", "aws", "gcp", "azure"]


@pytest.fixture(scope="module")
def benches(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Bench | str]]:
    """Every backend's stack, or why it is unavailable here (its emulator is missing: that
    skips locally and fails under CI=true, as tests/support.unavailable does)."""
    from functions.aws.clients import AwsClients
    from tests.emulators import AWS_REGION

    def start(stack: contextlib.ExitStack, name: str) -> Bench:
        if name == "local":
            return stack.enter_context(local_bench(tmp_path_factory.mktemp("smoke") / "serve"))
        if name == "aws":
            stack.enter_context(fake_aws_env())
            moto_url = request.getfixturevalue("moto_url")
            clients = AwsClients(region=AWS_REGION, endpoint_url=moto_url)
            return stack.enter_context(aws_bench(clients, moto_url))
        if name == "gcp":
            request.getfixturevalue("pubsub_host")
            request.getfixturevalue("firestore_host")
            return stack.enter_context(gcp_bench(request.getfixturevalue("storage_client")))
        azurite = request.getfixturevalue("azurite")
        return stack.enter_context(azure_bench(azurite, request.getfixturevalue("azure_storage")))

    found: dict[str, Bench | str] = {}
    with contextlib.ExitStack() as stack:
        for name in BACKENDS:
            try:
                found[name] = start(stack, name)
            except pytest.skip.Exception as missing:
                found[name] = str(missing)
        yield found


@pytest.fixture(scope="module")
def reports(benches: dict[str, Bench | str]) -> dict[str, tuple[SmokeReport, SmokeReport] | str]:
    """Per backend: the clean run, then a run after a hostile upload (dead letters present)."""
    found: dict[str, tuple[SmokeReport, SmokeReport] | str] = {}
    for name, bench in benches.items():
        if isinstance(bench, str):
            found[name] = bench
            continue
        clean = run_smoke(bench.stack, timeout=TIMEOUT, interval=0.2)
        bench.upload_hostile()
        dirty = run_smoke(bench.stack, timeout=TIMEOUT, interval=0.2)
        found[name] = (clean, dirty)
    return found


def report_of(reports: dict[str, Any], backend: str) -> tuple[SmokeReport, SmokeReport]:
    """The backend's reports, or skip with why it is unavailable."""
    pair = reports[backend]
    if isinstance(pair, str):
        pytest.skip(pair)
    return pair


def available(reports: dict[str, Any]) -> dict[str, tuple[SmokeReport, SmokeReport]]:
    """The reports of every backend that ran (at least two, to compare)."""
    ran = {name: pair for name, pair in reports.items() if not isinstance(pair, str)}
    if len(ran) < 2:
        pytest.skip(f"fewer than two backends available: {reports}")
    return ran


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_smoke_passes_on_a_healthy_stack(reports: dict[str, Any], backend: str) -> None:
    clean, _ = report_of(reports, backend)
    print(clean.table())
    assert clean.passed, clean.table()
    assert [c.name for c in clean.checks if c.status == PASS] == [
        "upload image",
        "place order",
        "thumbnails",
        "index entry",
        "order paid",
        "payment webhook",
        "order refunded",
        "emails",
        "dead letters empty",
    ]


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_dead_letter_fails_the_smoke_naming_it(reports: dict[str, Any], backend: str) -> None:
    _, dirty = report_of(reports, backend)
    failed = dirty.failures()
    assert [c.name for c in failed] == ["dead letters empty"], dirty.table()
    assert "thumbnailer: uploads/smoke-notes.jpg" in failed[0].detail
    assert "indexer: uploads/smoke-notes.jpg" in failed[0].detail
    assert "not a supported image" in failed[0].detail


def test_every_backend_has_the_same_outcome_field_by_field(
    reports: dict[str, Any],
) -> None:
    ran = available(reports)
    clean = {name: pair[0].outcome for name, pair in ran.items()}
    dirty = {name: {"dead_letters": pair[1].outcome["dead_letters"]} for name, pair in ran.items()}
    assert compare_outcomes(clean) == [], "\n".join(compare_outcomes(clean))
    assert compare_outcomes(dirty) == []
    first = next(iter(clean.values()))
    assert set(first) >= {"thumbnails", "index", "order", "emails", "dead_letters"}
    assert first["order"]["transitions"] == ["PLACED", "PAID", "REFUNDED"]


@pytest.mark.parametrize(
    ("backend", "stopped", "check", "named"),
    [
        ("aws", "notifier", "emails", "missing: 'We received your order', 'Payment received'"),
        ("gcp", "payments", "order paid", "to be PAID; it is PLACED"),
        ("azure", "thumbnailer", "thumbnails", "2 thumbnails under thumbnails/smoke-"),
        ("azure", "indexer", "index entry", "index entry"),
    ],
)
def test_a_consumer_not_running_fails_the_smoke_naming_what_is_missing(
    benches: dict[str, Any], reports: Any, backend: str, stopped: str, check: str, named: str
) -> None:
    bench = benches[backend]
    if isinstance(bench, str):
        pytest.skip(bench)
    assert bench.pump is not None
    bench.pump.pause(stopped)
    try:
        # Only the stopped consumer's wait must time out, so the waits are short; a request
        # gets the usual timeout, so that a slow answer on a loaded machine is not a failure.
        report = run_smoke(bench.stack, timeout=3, interval=0.2, request_timeout=TIMEOUT)
    finally:
        bench.pump.paused.discard(stopped)
    failed = {c.name: c.detail for c in report.failures()}
    assert check in failed, report.table()
    assert failed[check].startswith("timed out after 3s waiting for"), failed[check]
    assert named in failed[check], failed[check]
    assert not report.passed


@pytest.mark.parametrize(
    ("backend", "reason"),
    [("aws", "missing SigV4"), ("gcp", "bad token"), ("azure", "bad function key")],
)
def test_an_unauthenticated_order_is_refused_and_named(
    benches: dict[str, Any], reports: Any, backend: str, reason: str
) -> None:
    bench = benches[backend]
    if isinstance(bench, str):
        pytest.skip(bench)
    stack = dataclasses.replace(bench.stack, auth=NoAuth())
    # No wait here is meant to time out: each ends when what it waits for is there.
    report = run_smoke(stack, timeout=TIMEOUT, interval=0.2)
    failed = {c.name: c.detail for c in report.failures()}
    # The hostile upload of the reports stays parked: that check may fail as well (SQS and
    # Pub/Sub hide what a listing just read for a while, so it may also pass).
    assert "place order" in failed, report.table()
    assert set(failed) <= {"place order", "dead letters empty"}, report.table()
    assert "answered 401" in failed["place order"] and reason in failed["place order"]
    skipped = [c.name for c in report.checks if c.status == SKIP]
    assert skipped == ["order paid", "payment webhook", "order refunded", "emails"]


def test_the_command_line_prints_the_table_and_exits_by_the_verdict(
    benches: dict[str, Any], reports: Any, tmp_path: Path
) -> None:
    bench = benches["local"]
    if isinstance(bench, str):
        pytest.skip(bench)
    home = bench.stack.target.name.split("(", 1)[1].rstrip(")")
    out = io.StringIO()
    # The hostile upload of the reports is parked: the smoke fails on it, naming it.
    assert smoke_main(["--backend", "local", "--home", home, "--timeout", str(TIMEOUT)], out) == 1
    table = out.getvalue()
    assert "emails              PASS" in table, table
    assert "dead letters empty  FAIL" in table and "smoke-notes.jpg" in table
    assert table.rstrip().endswith("FAIL (1 failed)")
    (tmp_path / "broker.db").touch()  # state, but no running `make serve`
    assert smoke_main(["--backend", "local", "--home", str(tmp_path)], io.StringIO()) == 2


def test_make_smoke_reads_its_targets_from_terraform_output(
    benches: dict[str, Any], reports: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole command line on the moto stack: a `terraform` on PATH answers `output -json`
    for the root (as after an apply) and the smoke finds everything from that."""
    bench = benches["aws"]
    if isinstance(bench, str):
        pytest.skip(bench)
    assert bench.outputs is not None and bench.env is not None
    root = tmp_path / "terraform-aws"
    root.mkdir()
    printed = {name: {"sensitive": False, "value": value} for name, value in bench.outputs.items()}
    (tmp_path / "outputs.json").write_text(json.dumps(printed))
    fake = tmp_path / "bin" / "terraform"
    fake.parent.mkdir()
    fake.write_text(
        f"#!{sys.executable}\n"
        "import sys\n"
        f"assert sys.argv[1:] == ['-chdir={root}', 'output', '-json'], sys.argv\n"
        f"print(open({str(tmp_path / 'outputs.json')!r}).read())\n"
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    for name, value in bench.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("EVENTSUITE_WEBHOOK_SECRET", raising=False)  # read from Secrets Manager
    out = io.StringIO()
    args = ["--backend", "aws", "--terraform-root", str(root), "--mail", "none"]
    code = smoke_main([*args, "--timeout", str(TIMEOUT)], out)
    table = out.getvalue()
    assert "place order         PASS" in table and "order refunded      PASS" in table, table
    assert "emails              SKIP" in table, table
    # The reports' hostile upload is parked (unless a listing just hid it): 0 or 1.
    assert code in (0, 1), table
    assert code == 0 or "dead letters empty  FAIL" in table, table
