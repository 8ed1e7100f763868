"""The console in a real browser: Debian's chromium driven by Playwright (never a downloaded
browser) against a running ``make serve``. An order placed in the form reaches PAID with its
emails, an uploaded image shows its thumbnails and EXIF metadata, a dead letter is redriven
from the page, a correlation id is followed, the live view streams deliveries, bad input in every
form shows the reason; each page is saved as a screenshot under build/screenshots/."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from functions.local import samples
from tests.support import ROOT, start_serve, unavailable

pytestmark = pytest.mark.e2e

CHROMIUM = Path(os.environ.get("EVENTSUITE_CHROMIUM", "/usr/bin/chromium"))
# Without the networking flags Chromium floods the closed network with connections.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
SCREENSHOTS = ROOT / "build" / "screenshots"
WAIT_MS = 60_000


@pytest.fixture(scope="module")
def serving(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    if not CHROMIUM.is_file():
        unavailable(f"no browser at {CHROMIUM}: run `make setup-browser` (Debian's chromium)")
    home = tmp_path_factory.mktemp("console") / "serve"
    process, ports = start_serve(home)
    try:
        yield {**ports, "home": home, "url": f"http://127.0.0.1:{ports['console']}"}
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()


@pytest.fixture(scope="module")
def browser(
    serving: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Any, list[str]]]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("the playwright package is missing: run `make setup-dev`")
    outside: list[str] = []
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),  # a fresh --user-data-dir
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1400, "height": 1000},
        )

        def loopback_only(route: Any) -> None:
            if route.request.url.startswith(("http://127.0.0.1:", "data:", "about:")):
                route.continue_()
            else:
                outside.append(route.request.url)
                route.abort()

        context.route("**/*", loopback_only)
        context.set_default_timeout(WAIT_MS)
        try:
            yield context, outside
        finally:
            context.close()


@pytest.fixture
def page(browser: tuple[Any, list[str]]) -> Iterator[Any]:
    context, _ = browser
    opened = context.new_page()
    yield opened
    opened.close()


def _screenshot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def _problems(page: Any) -> str:
    return str(page.locator(".problems").inner_text())


def _post_order(serving: dict[str, Any], email: str) -> None:
    """An order posted straight to the running orders API (not through the console)."""
    order = {
        "customer": {"email": email},
        "currency": "GBP",
        "items": [{"sku": "tea", "quantity": 1, "unit_price_minor": 400}],
    }
    request = urllib.request.Request(
        f"http://127.0.0.1:{serving['endpoints']['orders_api']}/",
        data=json.dumps(order).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        assert answer.status == 202


def _place_order(page: Any, url: str, **fields: str) -> None:
    page.goto(f"{url}/orders")
    values = {
        "email": "ann@example.com",
        "name": "Ann",
        "currency": "EUR",
        "sku": "mug",
        "quantity": "2",
        "unit_price_minor": "1250",
        **fields,
    }
    for name, value in values.items():
        page.fill(f"#place-order input[name={name}]", value)
    page.click("#place-order button[type=submit]")


def test_an_order_placed_in_the_form_reaches_paid_with_its_emails(
    page: Any, serving: dict[str, Any]
) -> None:
    _place_order(page, serving["url"])
    page.wait_for_url("**/orders/ord_*")
    page.locator("#status", has_text="PAID").wait_for()  # the page refreshes until decided
    page.locator("#emails .email").nth(1).wait_for()
    subjects = page.locator("#emails .email h3").all_inner_texts()
    assert any(s.startswith("We received your order") for s in subjects), subjects
    assert any(s.startswith("Payment received for order") for s in subjects), subjects
    assert page.locator("#transitions li").all_inner_texts()[:2][1].startswith("PAID")
    _screenshot(page, "order")
    page.goto(f"{serving['url']}/orders")
    assert "PAID" in page.locator("#orders").inner_text()
    _screenshot(page, "orders")
    page.goto(f"{serving['url']}/emails")
    assert page.locator(".email").count() >= 2
    _screenshot(page, "emails")


def test_the_correlation_id_of_an_order_is_followed_on_a_timeline(
    page: Any, serving: dict[str, Any]
) -> None:
    _place_order(page, serving["url"], email="bob@decline.test", name="Bob")
    page.wait_for_url("**/orders/ord_*")
    page.locator("#status", has_text="PAYMENT_FAILED").wait_for()
    page.locator("#emails .email").nth(1).wait_for()
    page.click("dd a[href^='/trace?id=']")
    page.wait_for_url("**/trace?id=*")
    timeline = page.locator("#timeline").inner_text()
    for expected in (
        "io.eventsuite.OrderPlaced",
        "payments · attempt 1",
        "io.eventsuite.PaymentFailed",
        "notifier · attempt 1",
        "email to bob@decline.test",
    ):
        assert expected in timeline, timeline
    _screenshot(page, "trace")


def test_an_uploaded_image_shows_its_thumbnails_and_metadata(
    page: Any, serving: dict[str, Any]
) -> None:
    page.goto(f"{serving['url']}/images")
    page.set_input_files(
        "#upload input[type=file]",
        {"name": "harbour.jpg", "mimeType": "image/jpeg", "buffer": samples.jpeg_with_exif()},
    )
    page.click("#upload button[type=submit]")
    assert "uploaded uploads/harbour.jpg" in page.locator(".notice").inner_text()
    card = page.locator(".card.image", has_text="uploads/harbour.jpg")
    for _ in range(60):
        if card.locator("img").count() >= 2:
            break
        page.wait_for_timeout(500)
        page.goto(f"{serving['url']}/images")
    assert card.locator("img").count() == 2
    page.wait_for_function(
        "() => [...document.querySelectorAll('.thumbs img')].every(i => i.naturalWidth > 0)"
    )
    assert card.locator(".camera").inner_text() == "Fujifilm X-T5"
    assert card.locator(".captured").inner_text() == "2026-08-14T18:32:05"
    assert card.locator(".gps").inner_text() == "38.72230, -9.13930"
    page.fill("#search input[name=camera]", "fujifilm")
    page.click("#search button[type=submit]")
    assert page.locator(".card.image", has_text="uploads/harbour.jpg").count() == 1
    _screenshot(page, "images")


def test_a_dead_letter_is_redriven_from_the_page(page: Any, serving: dict[str, Any]) -> None:
    from playwright.sync_api import expect

    page.goto(f"{serving['url']}/images")
    page.set_input_files(
        "#upload input[type=file]",
        {"name": "notes.jpg", "mimeType": "image/jpeg", "buffer": samples.not_an_image()},
    )
    page.click("#upload button[type=submit]")
    parked = page.locator(".deadletter", has_text="thumbnailer · io.eventsuite.ImageUploaded")
    for _ in range(60):
        page.goto(f"{serving['url']}/deadletters")
        if parked.count():
            break
        page.wait_for_timeout(500)
    assert "not a supported image" in parked.locator(".reason").inner_text()
    parked.locator("summary", has_text="payload").click()
    assert "uploads/notes.jpg" in parked.locator("pre").inner_text()
    _screenshot(page, "deadletters")
    parked.locator("button.redrive").click()
    assert "to thumbnailer" in page.locator(".notice").inner_text()
    assert page.locator(".notice").inner_text().startswith("redriven ")
    again = page.locator(".deadletter", has_text="redriven 1 time(s)")
    for _ in range(60):  # still not an image: back in the dead letters, counted
        page.goto(f"{serving['url']}/deadletters")
        if again.count():
            break
        page.wait_for_timeout(500)
    assert again.count() == 1
    page.goto(f"{serving['url']}/deliveries")  # the consumer's own account, over HTTP
    parked_rows = page.locator("#deliveries tbody tr.dead-lettered", has_text="thumbnailer")
    # The consumer parks the dead letter itself; serve logs the delivery when it hears back,
    # a moment later: the live view shows the row when it is logged.
    expect(parked_rows).to_have_count(2, timeout=30_000)
    assert "not a supported image" in parked_rows.first.inner_text()


def test_the_live_view_streams_deliveries_as_they_happen(
    page: Any, serving: dict[str, Any]
) -> None:
    page.goto(f"{serving['url']}/deliveries")
    page.locator("#live", has_text="live").wait_for()
    before = page.locator("#deliveries tbody tr").count()
    _post_order(serving, "cy@example.com")
    page.wait_for_function(
        f"() => document.querySelectorAll('#deliveries tbody tr').length >= {before + 3}"
    )
    rows = page.locator("#deliveries tbody tr").all_inner_texts()[:3]
    assert any("payments" in row and "acknowledged" in row for row in rows), rows
    assert all(" ms" in row for row in rows)
    _screenshot(page, "deliveries")


def test_bad_input_in_every_form_shows_the_reason(page: Any, serving: dict[str, Any]) -> None:
    url = serving["url"]
    _place_order(page, url, email="not-an-email", quantity="lots", currency="euro")
    problems = _problems(page)
    assert "customer.email must be a valid email address" in problems
    assert "currency must be an ISO 4217 code such as EUR" in problems
    assert "items[0].quantity must be an integer" in problems
    assert page.locator("#place-order input[name=email]").input_value() == "not-an-email"
    _screenshot(page, "orders-bad-input")

    page.goto(f"{url}/images")
    page.click("#upload button[type=submit]")
    assert "choose an image file to upload" in _problems(page)
    page.fill("#search input[name=gps_box]", "north,south")
    page.click("#search button[type=submit]")
    assert "is not SOUTH,WEST,NORTH,EAST in decimal degrees" in _problems(page)

    page.goto(f"{url}/deadletters")
    page.select_option("#purge select[name=consumer]", "indexer")
    page.click("#purge button[type=submit]")
    assert "tick the confirmation box" in _problems(page)

    page.goto(f"{url}/trace")
    page.fill("input[name=id]", "no-such-flow")
    page.click("form button[type=submit]")
    assert "no event with correlation id 'no-such-flow' is recorded" in _problems(page)
    for text in (page.content(),):
        assert "Traceback" not in text


def test_the_flow_and_catalog_pages_draw_the_catalog(
    page: Any, serving: dict[str, Any], browser: tuple[Any, list[str]]
) -> None:
    page.goto(f"{serving['url']}/")
    page.wait_for_selector("body[data-flow=drawn]")
    drawn = page.locator("#flow svg").text_content() or ""
    for name in ("orders_api", "OrderPlaced", "payments", "notifier dead letters", "every 5 min"):
        assert name in drawn, drawn
    _post_order(serving, "dee@example.com")  # the drawing lights up as it is delivered
    page.wait_for_selector('#flow g.node.delivering[id*="-flowchart-consumer_payments-"]')
    arrow = "L_event_OrderPlaced_consumer_payments_0"
    page.wait_for_selector(f'#flow path.delivering[data-id="{arrow}"]')
    _screenshot(page, "flow")
    page.goto(f"{serving['url']}/catalog")
    assert "max attempts" in page.locator("#consumers").inner_text()
    _screenshot(page, "catalog")
    _, outside = browser
    assert outside == [], f"the console asked for something beyond this machine: {outside}"
