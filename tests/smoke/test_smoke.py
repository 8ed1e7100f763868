"""``make smoke-*`` proven here: the production smoke against the local backend under ``make
serve`` and the emulator-backed stacks of each cloud; one scenario, every backend, outcomes
compared field by field; and a broken stack makes it fail naming what broke.

What the comparison normalises (ids and times that must differ between runs or backends) is
listed in :mod:`functions.ops.smoke`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from functions.ops.smoke import FAIL, PASS, SmokeReport, compare_outcomes, run_smoke
from tests.emulators import fake_aws_env
from tests.smoke.stacks import Bench, aws_bench, azure_bench, gcp_bench, local_bench

pytestmark = [pytest.mark.integration, pytest.mark.e2e]
TIMEOUT = 60.0


@pytest.fixture(scope="module")
def aws_env() -> Iterator[None]:
    with fake_aws_env():
        yield


@pytest.fixture(scope="module")
def aws_clients(aws_env: None, moto_url: str) -> Any:
    from functions.aws.clients import AwsClients
    from tests.emulators import AWS_REGION

    return AwsClients(region=AWS_REGION, endpoint_url=moto_url)


@pytest.fixture(scope="module")
def benches(
    tmp_path_factory: pytest.TempPathFactory,
    aws_clients: Any,
    moto_url: str,
    azurite: Any,
    azure_storage: Any,
    pubsub_host: str,
    firestore_host: str,
    storage_client: Any,
) -> Iterator[dict[str, Bench]]:
    with (
        local_bench(tmp_path_factory.mktemp("smoke") / "serve") as local,
        aws_bench(aws_clients, moto_url) as aws,
        azure_bench(azurite, azure_storage) as azure,
        gcp_bench(storage_client) as gcp,
    ):
        yield {"local": local, "aws": aws, "gcp": gcp, "azure": azure}


@pytest.fixture(scope="module")
def reports(benches: dict[str, Bench]) -> dict[str, tuple[SmokeReport, SmokeReport]]:
    """Per backend: the clean run, then a run after a hostile upload (dead letters present)."""
    found = {}
    for name, bench in benches.items():
        clean = run_smoke(bench.stack, timeout=TIMEOUT, interval=0.2)
        bench.upload_hostile()
        dirty = run_smoke(bench.stack, timeout=TIMEOUT, interval=0.2)
        found[name] = (clean, dirty)
    return found


BACKENDS = ["local", "aws", "gcp", "azure"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_smoke_passes_on_a_healthy_stack(
    reports: dict[str, tuple[SmokeReport, SmokeReport]], backend: str
) -> None:
    clean, _ = reports[backend]
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
def test_a_dead_letter_fails_the_smoke_naming_it(
    reports: dict[str, tuple[SmokeReport, SmokeReport]], backend: str
) -> None:
    _, dirty = reports[backend]
    failed = dirty.failures()
    assert [c.name for c in failed] == ["dead letters empty"], dirty.table()
    assert "thumbnailer: uploads/smoke-notes.jpg" in failed[0].detail
    assert "indexer: uploads/smoke-notes.jpg" in failed[0].detail
    assert "not a supported image" in failed[0].detail


def test_every_backend_has_the_same_outcome_field_by_field(
    reports: dict[str, tuple[SmokeReport, SmokeReport]],
) -> None:
    clean = {name: pair[0].outcome for name, pair in reports.items()}
    dirty = {
        name: {"dead_letters": pair[1].outcome["dead_letters"]} for name, pair in reports.items()
    }
    assert compare_outcomes(clean) == [], "\n".join(compare_outcomes(clean))
    assert compare_outcomes(dirty) == []
    first = next(iter(clean.values()))
    assert set(first) >= {"thumbnails", "index", "order", "emails", "dead_letters"}
    assert first["order"]["transitions"] == ["PLACED", "PAID", "REFUNDED"]


def test_a_consumer_not_running_fails_the_smoke_naming_what_is_missing(
    benches: dict[str, Bench], reports: Any
) -> None:
    bench = benches["aws"]
    assert bench.pump is not None
    bench.pump.paused.add("notifier")
    try:
        report = run_smoke(bench.stack, timeout=3, interval=0.2)
    finally:
        bench.pump.paused.discard("notifier")
    failed = {c.name: c.detail for c in report.failures()}
    assert "emails" in failed, report.table()
    assert "timed out after 3s waiting for 3 emails" in failed["emails"]
    assert not report.passed
    assert any(c.status == FAIL for c in report.checks)
