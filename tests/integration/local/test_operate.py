"""The operator CLI on the embedded backend: park, list, fix, redrive, processed once; orders,
index search and uploads; the one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from functions.local import samples
from functions.local.backend import LocalBackend
from shared.ports import DeadLetterAdmin
from tests.integration.operate_support import ORDER_ID, SwitchableMailer, cli, payment_received


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "state"


def test_park_list_fix_redrive_processed_once(home: Path) -> None:
    mailer = SwitchableMailer()
    backend = LocalBackend.open(home, mailer=mailer, base_backoff=0.01)
    assert isinstance(backend.broker, DeadLetterAdmin)
    try:
        event = payment_received()
        backend.broker.publish([event])
        backend.run(max_seconds=10)
        base = ["--home", str(home)]

        listed = cli([*base, "dlq", "list", "--consumer", "notifier"])
        assert listed.code == 0, listed.err
        assert event["id"] in listed.out and ORDER_ID in listed.out
        assert "mail template bug" in listed.out
        parked = json.loads(cli([*base, "--json", "dlq", "list"]).out)
        assert [(p["consumer"], p["event_id"]) for p in parked] == [("notifier", event["id"])]
        shown = cli([*base, "dlq", "show", event["id"]])
        assert shown.code == 0 and '"payment_id": "pay_operate1"' in shown.out

        # Redriven before the fix: parked again, now with a redrive count of 1.
        assert cli([*base, "dlq", "redrive", "--all"]).code == 0
        backend.run(max_seconds=10)
        again = json.loads(cli([*base, "--json", "dlq", "list"]).out)
        assert [(p["event_id"], p["redrive_count"]) for p in again] == [(event["id"], 1)]
        assert "+1r" in cli([*base, "dlq", "list"]).out

        mailer.broken = False  # the fix
        dry = cli([*base, "dlq", "redrive", "--id", again[0]["id"], "--dry-run"])
        assert dry.code == 0 and "would redrive" in dry.out
        assert len(json.loads(cli([*base, "--json", "dlq", "list"]).out)) == 1  # still parked
        redriven = cli([*base, "dlq", "redrive", "--id", again[0]["id"]])
        assert redriven.code == 0, redriven.err
        assert f"redriven {again[0]['id']} (event {event['id']}) to notifier" in redriven.out
        backend.run(max_seconds=10)
        assert len(mailer.sent) == 1
        assert cli([*base, "dlq", "list"]).out.strip() == "no dead letters"

        # A stale copy of the same event, redriven: the consumer deduplicates on the event id.
        backend.broker.dead_letter(
            consumer="notifier", event=again[0]["event"], raw=None, reason="stale", attempts=1
        )
        assert cli([*base, "dlq", "redrive", "--consumer", "notifier", "--all"]).code == 0
        backend.run(max_seconds=10)
        assert len(mailer.sent) == 1
        assert backend.broker.pending() == 0 and backend.broker.parked() == []

        gone = cli([*base, "dlq", "redrive", "--id", again[0]["id"]])
        assert gone.code == 2 and gone.out == ""
        assert (
            gone.err.strip()
            == f"eventsuite: error: {again[0]['id']} not dead-lettered: nothing redriven"
        )
    finally:
        backend.close()


def test_bad_input_is_one_line_and_loses_nothing(home: Path) -> None:
    backend = LocalBackend.open(home, mailer=SwitchableMailer(), base_backoff=0.01)
    try:
        backend.broker.publish([payment_received()])
        backend.run(max_seconds=10)
    finally:
        backend.close()
    base = ["--home", str(home)]
    for args, message in (
        (["dlq", "purge", "--consumer", "notifier"], "add --yes"),
        (["dlq", "list", "--consumer", "nobody"], "unknown consumer 'nobody'"),
        (["dlq", "show", "nope"], "nope is not dead-lettered"),
        (["dlq", "redrive", "--id", "1", "--consumer", "indexer"], "not dead-lettered for indexer"),
        (["orders", "show", "ord_missing"], "no order ord_missing"),
    ):
        run = cli([*base, *args])
        assert run.code == 2, args
        assert run.err.count("\n") == 1 and message in run.err, run.err
    assert len(json.loads(cli([*base, "--json", "dlq", "list"]).out)) == 1
    purged = cli([*base, "dlq", "purge", "--consumer", "notifier", "--yes"])
    assert purged.code == 0 and purged.out.strip() == "purged 1 dead letters of notifier"
    assert json.loads(cli([*base, "--json", "dlq", "list"]).out) == []


def test_no_state_folder_is_an_error_and_is_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "nothing-here"
    run = cli(["--home", str(missing), "dlq", "list"])
    assert run.code == 2 and "no local state" in run.err
    assert not missing.exists()


def test_upload_index_search_and_orders(home: Path, tmp_path: Path) -> None:
    backend = LocalBackend.open(home, base_backoff=0.01)
    try:
        photo = tmp_path / "harbour.jpg"
        photo.write_bytes(samples.jpeg_with_exif())
        logo = tmp_path / "logo.png"
        logo.write_bytes(samples.png_with_alpha())
        base = ["--home", str(home)]
        uploaded = cli([*base, "upload", str(photo), str(logo)])
        assert uploaded.code == 0, uploaded.err
        assert "-> uploads/uploads/harbour.jpg" in uploaded.out
        assert cli([*base, "upload", str(tmp_path / "missing.jpg")]).code == 2
        backend.run(max_seconds=30)

        def keys(*filters: str) -> list[str]:
            run = cli([*base, "--json", "index", "search", *filters])
            assert run.code == 0, run.err
            return sorted(d["key"] for d in json.loads(run.out))

        assert keys() == ["uploads/harbour.jpg", "uploads/logo.png"]
        assert keys("--format", "jpeg") == ["uploads/harbour.jpg"]
        assert keys("--camera", "FUJI", "--from", "2026-08-01", "--to", "2026-08-31") == [
            "uploads/harbour.jpg"
        ]
        assert keys("--gps-box", "38,-10,39,-9") == ["uploads/harbour.jpg"]
        assert keys("--gps-box", "50,0,51,1") == []
        assert keys("--max-width", "1500") == ["uploads/logo.png"]
        assert keys("--min-height", "2500") == ["uploads/harbour.jpg"]
        assert keys("--min-bytes", "1", "--max-bytes", "10000") == ["uploads/logo.png"]
        assert cli([*base, "index", "search", "--gps-box", "1,2,3"]).code == 2

        response = backend.http(
            "orders_api",
            json.dumps(
                {
                    "customer": {"email": "ann@example.com", "name": "Ann"},
                    "currency": "EUR",
                    "items": [{"sku": "mug", "quantity": 2, "unit_price_minor": 1250}],
                }
            ).encode(),
            {"Idempotency-Key": "operate-1", "Content-Type": "application/json"},
        )
        order_id = response.body["order_id"]
        placed = cli([*base, "orders", "list", "--status", "placed"])
        assert placed.code == 0 and order_id in placed.out and "25.00 EUR" in placed.out
        assert cli([*base, "orders", "list", "--status", "paid"]).out.strip() == "no PAID orders"
        backend.run(max_seconds=30)
        paid = json.loads(cli([*base, "--json", "orders", "list", "--status", "PAID"]).out)
        assert [o["order_id"] for o in paid] == [order_id]
        shown = cli([*base, "orders", "show", order_id])
        assert "status:          PAID" in shown.out and "2 x mug @ 1250" in shown.out
    finally:
        backend.close()


def test_the_demo_hints_are_commands_that_work(tmp_path: Path) -> None:
    from functions.local.demo import run_demo

    lines: list[str] = []
    home = tmp_path / "demo"
    run_demo(home, out=lines.append)
    commands = [
        line.strip().split(" ", 1)[1].split()
        for line in lines
        if line.strip().startswith(f"eventsuite --home {home} dlq") and "purge" not in line
    ]
    assert len(commands) == 3
    for command in commands:
        run = cli(command)
        assert run.code == 0, (command, run.err)
        assert run.out.strip()


def test_status_without_state_says_so_and_creates_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from functions.local.__main__ import main as local_main

    monkeypatch.chdir(tmp_path)
    assert local_main(["status"]) == 1
    assert "no local state in .eventsuite/" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
    LocalBackend.open(tmp_path / ".eventsuite" / "demo").close()
    assert local_main(["status"]) == 1
    assert "found state in .eventsuite/demo/: pass --home" in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / ".eventsuite").iterdir()) == ["demo"]
