"""``eventsuite``: dead letters, orders, the image index and uploads on any backend.

Each command is a printing wrapper around an operation that returns data (``find_dead_letters``,
``redrive_dead_letters``, ``purge_dead_letters``, ``find_order``, ``search_index``,
``upload_file``...): the local console calls the same operations.

Every failure is one line on stderr and a non-zero exit: 2 for a usage error (a purge without
``--yes``, an unknown consumer, an id that is not dead-lettered), 1 when the backend fails
(unreachable, denied, misconfigured).
"""

from __future__ import annotations

import argparse
import json
import mimetypes
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from functions.ops.targets import BACKENDS, Target, TargetError, resolve
from shared.catalog import default_catalog
from shared.money import UnknownCurrency, format_money
from shared.ports import IndexQuery, OrderRecord, OrderStatus, ParkedMessage, RedriveResult

PROG = "eventsuite"
USAGE_ERROR, BACKEND_ERROR = 2, 1
EVERY = 1_000_000  # "all of them" for the ports' limits


class UsageError(Exception):
    """The command cannot run as asked (exit 2)."""


# -- formatting -----------------------------------------------------------------------------


def _amount(order: OrderRecord) -> str:
    """The order's amount by its currency's ISO 4217 decimals (raw minor units if unknown)."""
    try:
        return format_money(order.amount_minor, order.currency)
    except UnknownCurrency:
        return f"{order.amount_minor} {order.currency} (minor units)"


def _age(then: float | None, now: float) -> str:
    if then is None:
        return "?"
    seconds = max(0, int(now - then))
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _short(text: str | None, width: int) -> str:
    text = (text or "-").replace("\n", " ")
    return text if len(text) <= width else text[: width - 1] + "\u2026"


def _table(rows: Sequence[Sequence[str]], out: TextIO) -> None:
    if not rows:
        return
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print(
            "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip(), file=out
        )


def _parked_json(message: ParkedMessage) -> dict[str, Any]:
    document = asdict(message)
    body = document.pop("body")
    document["attributes"] = dict(message.attributes)
    if message.event is None and body is not None:
        document["body"] = body.decode("utf-8", errors="replace")
    return document


def _order_json(order: OrderRecord) -> dict[str, Any]:
    document = asdict(order)
    document["status"] = order.status.value
    document["items"] = list(order.items)
    return document


# -- parsing --------------------------------------------------------------------------------


def parse_since(text: str) -> float:
    """``30m``, ``2h``, ``7d`` ago, or an ISO-8601 time, as epoch seconds."""
    units = {"s": 1, "m": 60, "h": 3_600, "d": 86_400}
    if text[-1:] in units and text[:-1].isdigit():
        return time.time() - int(text[:-1]) * units[text[-1]]
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither a duration (30m, 2h, 7d) nor an ISO-8601 time"
        ) from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def parse_gps_box(text: str) -> tuple[float, float, float, float]:
    try:
        south, west, north, east = (float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not SOUTH,WEST,NORTH,EAST in decimal degrees"
        ) from None
    if not (-90 <= south <= north <= 90 and -180 <= west <= 180 and -180 <= east <= 180):
        raise argparse.ArgumentTypeError(f"{text!r} is not a box on the globe")
    return south, west, north, east


def parse_status(text: str) -> OrderStatus:
    try:
        return OrderStatus(text.upper())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an order status ({', '.join(s.value for s in OrderStatus)})"
        ) from None


def parser() -> argparse.ArgumentParser:
    """The command line."""
    top = argparse.ArgumentParser(
        prog=PROG, description="Operate eventsuite: dead letters, orders, index, uploads."
    )
    top.add_argument(
        "--backend",
        choices=BACKENDS,
        default=os.environ.get("EVENTSUITE_BACKEND", "local"),
        help="where to act (default: $EVENTSUITE_BACKEND or local)",
    )
    top.add_argument(
        "--home",
        type=Path,
        help="local state folder (default: the newest of .eventsuite/serve and .eventsuite/demo)",
    )
    top.add_argument(
        "--terraform-dir",
        type=Path,
        help="root whose outputs name the resources (default: terraform/<backend>)",
    )
    top.add_argument("--json", action="store_true", help="machine-readable output")
    commands = top.add_subparsers(dest="command", required=True)

    dlq = commands.add_parser("dlq", help="dead letters").add_subparsers(
        dest="action", required=True
    )
    listing = dlq.add_parser("list", help="parked messages, oldest first")
    listing.add_argument("--consumer")
    listing.add_argument("--reason", help="substring of the reason (case-insensitive)")
    listing.add_argument("--type", help="event type or catalog event name")
    listing.add_argument("--since", type=parse_since, help="30m, 2h, 7d or an ISO-8601 time")
    listing.add_argument("--correlation-id", help="only the dead letters of this flow")
    listing.add_argument("--limit", type=int, default=100)
    show = dlq.add_parser("show", help="one parked message, whole")
    show.add_argument("id", help="dead-letter id or event id")
    redrive = dlq.add_parser("redrive", help="send parked messages back to their consumer")
    redrive.add_argument("--consumer")
    chosen = redrive.add_mutually_exclusive_group(required=True)
    chosen.add_argument("--id", nargs="+", dest="ids", metavar="ID")
    chosen.add_argument("--all", action="store_true")
    redrive.add_argument("--dry-run", action="store_true", help="say what would be redriven")
    purge = dlq.add_parser("purge", help="delete a consumer's dead letters")
    purge.add_argument("--consumer", required=True)
    purge.add_argument("--yes", action="store_true", help="confirm the deletion")

    orders = commands.add_parser("orders", help="orders").add_subparsers(
        dest="action", required=True
    )
    order_show = orders.add_parser("show", help="one order")
    order_show.add_argument("id")
    order_list = orders.add_parser("list", help="orders (in a status), oldest first")
    order_list.add_argument("--status", type=parse_status, help="only orders in this status")
    order_list.add_argument("--newest", action="store_true", help="newest first")
    order_list.add_argument("--limit", type=int, default=100)

    index = commands.add_parser("index", help="image index").add_subparsers(
        dest="action", required=True
    )
    search = index.add_parser("search", help="images matching every filter")
    search.add_argument("--camera", help="make or model, substring, case-insensitive")
    search.add_argument("--from", dest="captured_from", help="captured at or after (ISO-8601)")
    search.add_argument("--to", dest="captured_to", help="captured at or before (ISO-8601)")
    for name in ("width", "height", "bytes"):
        search.add_argument(f"--min-{name}", type=int)
        search.add_argument(f"--max-{name}", type=int)
    search.add_argument("--format", help="JPEG, PNG, GIF, ...")
    search.add_argument("--gps-box", type=parse_gps_box, metavar="S,W,N,E")
    search.add_argument("--limit", type=int, default=100)

    missing = index.add_parser("missing", help="uploads with no index document")
    missing.add_argument("--limit", type=int, default=100)

    upload = commands.add_parser("upload", help="upload image files (ImageUploaded follows)")
    upload.add_argument("files", nargs="+", type=Path)
    return top


# -- commands -------------------------------------------------------------------------------


def _consumer(target: Target, name: str | None) -> str | None:
    if name is not None and name not in target.dead_letters.consumers:
        raise UsageError(
            f"unknown consumer {name!r} (consumers: {', '.join(target.dead_letters.consumers)})"
        )
    return name


def _event_type(name: str) -> str:
    spec = default_catalog().events.get(name)
    return spec.type if spec is not None else name


def find_dead_letters(
    target: Target,
    *,
    consumer: str | None = None,
    reason: str | None = None,
    event_type: str | None = None,
    since: float | None = None,
    correlation_id: str | None = None,
    limit: int = 100,
) -> list[ParkedMessage]:
    """Dead letters matching every filter, oldest first (``event_type``: a CloudEvents type or a
    catalog event name; ``reason``: a case-insensitive substring; ``since``: epoch seconds;
    ``correlation_id``: the event's ``correlationid``)."""
    chosen = _consumer(target, consumer)
    filtered = any(value for value in (reason, event_type, since is not None, correlation_id))
    found = target.dead_letters.parked(chosen, limit=EVERY if filtered else max(limit, 0))
    if reason:
        found = [m for m in found if reason.lower() in m.reason.lower()]
    if event_type:
        wanted = _event_type(event_type)
        found = [m for m in found if m.event_type == wanted]
    if since is not None:
        found = [m for m in found if (m.dead_lettered_at or 0) >= since]
    if correlation_id:
        found = [
            m
            for m in found
            if isinstance(m.event, dict) and m.event.get("correlationid") == correlation_id
        ]
    return found[:limit]


def count_dead_letters(target: Target) -> dict[str, int]:
    """How many dead letters each consumer has now (every one counted)."""
    return {
        consumer: len(target.dead_letters.parked(consumer, limit=EVERY))
        for consumer in target.dead_letters.consumers
    }


def dlq_list(target: Target, args: argparse.Namespace, out: TextIO) -> int:
    """``dlq list``."""
    found = find_dead_letters(
        target,
        consumer=args.consumer,
        reason=args.reason,
        event_type=args.type,
        since=args.since,
        correlation_id=args.correlation_id,
        limit=args.limit,
    )
    if args.json:
        json.dump([_parked_json(m) for m in found], out, indent=2, default=str)
        print(file=out)
        return 0
    if not found:
        print("no dead letters", file=out)
        return 0
    now = time.time()
    rows = [["ID", "CONSUMER", "EVENT", "TYPE", "SUBJECT", "TRIES", "AGE", "REASON"]]
    rows += [
        [
            _short(m.id, 40),
            m.consumer,
            _short(m.event_id, 36),
            _short(m.event_type, 32),
            _short(m.subject, 28),
            str(m.attempts) + (f"+{m.redrive_count}r" if m.redrive_count else ""),
            _age(m.dead_lettered_at, now),
            _short(m.reason, 60),
        ]
        for m in found
    ]
    _table(rows, out)
    return 0


def show_dead_letter(target: Target, message_id: str) -> ParkedMessage:
    """One dead letter by its id or its event's id."""
    message = target.dead_letters.show(message_id)
    if message is None:
        raise UsageError(f"{message_id} is not dead-lettered")
    return message


def dlq_show(target: Target, args: argparse.Namespace, out: TextIO) -> int:
    """``dlq show ID``."""
    message = show_dead_letter(target, args.id)
    document = _parked_json(message)
    if args.json:
        json.dump(document, out, indent=2, default=str)
        print(file=out)
        return 0
    for name in (
        "id",
        "consumer",
        "event_id",
        "event_type",
        "subject",
        "attempts",
        "redrive_count",
        "reason",
    ):
        print(f"{name + ':':<15}{document[name]}", file=out)
    if message.dead_lettered_at is not None:
        moment = datetime.fromtimestamp(message.dead_lettered_at, UTC)
        print(f"{'parked at:':<15}{moment.isoformat(timespec='seconds')}", file=out)
    if message.attributes:
        print(
            f"{'attributes:':<15}{json.dumps(dict(message.attributes), sort_keys=True)}", file=out
        )
    if message.event is not None:
        print("event:", file=out)
        print(json.dumps(message.event, indent=2, sort_keys=True, default=str), file=out)
    else:
        print("body:", file=out)
        print(document.get("body", ""), file=out)
    return 0


def choose_dead_letters(
    target: Target, *, consumer: str | None = None, ids: Sequence[str] = (), every: bool = False
) -> list[ParkedMessage]:
    """The dead letters a redrive would send: ``every`` one (of ``consumer``), or those whose id
    or event id is in ``ids`` (each must be found)."""
    chosen_consumer = _consumer(target, consumer)
    parked = target.dead_letters.parked(chosen_consumer, limit=EVERY)
    if every:
        return parked
    chosen = [m for m in parked if m.id in ids or m.event_id in ids]
    known = {m.id for m in chosen} | {m.event_id for m in chosen}
    missing = [wanted for wanted in ids if wanted not in known]
    if missing or not ids:
        where = f" for {chosen_consumer}" if chosen_consumer else ""
        named = ", ".join(missing) or "no id given"
        raise UsageError(f"{named} not dead-lettered{where}: nothing redriven")
    return chosen


def redrive_dead_letters(target: Target, chosen: Sequence[ParkedMessage]) -> RedriveResult:
    """Send dead letters back to their consumer (first send, then delete; the event id stays)."""
    return target.dead_letters.redrive(chosen)


def dlq_redrive(target: Target, args: argparse.Namespace, out: TextIO) -> int:
    """``dlq redrive``: send first, then delete."""
    chosen = choose_dead_letters(target, consumer=args.consumer, ids=args.ids or (), every=args.all)
    if not chosen:
        print("nothing to redrive", file=out)
        return 0
    if args.dry_run:
        for message in chosen:
            print(
                f"would redrive {message.id} ({message.event_type}, event {message.event_id}) "
                f"to {message.consumer}",
                file=out,
            )
        return 0
    result = redrive_dead_letters(target, chosen)
    by_id = {m.id: m for m in chosen}
    for message_id in result.redriven:
        message = by_id[message_id]
        print(f"redriven {message_id} (event {message.event_id}) to {message.consumer}", file=out)
    for message_id, reason in result.failed:
        print(f"{PROG}: error: {message_id} not redriven, still parked: {reason}", file=sys.stderr)
    if result.redriven and target.after_redrive:
        print(target.after_redrive, file=out)
    return BACKEND_ERROR if result.failed else 0


def purge_dead_letters(target: Target, consumer: str | None, *, confirmed: bool) -> int:
    """Delete every dead letter of ``consumer`` for good (only when ``confirmed``)."""
    if not consumer:
        raise UsageError("purge needs a consumer")
    chosen = _consumer(target, consumer)
    assert chosen is not None
    if not confirmed:
        raise UsageError(f"purge deletes every dead letter of {chosen} for good: add --yes")
    return target.dead_letters.purge(chosen)


def dlq_purge(target: Target, args: argparse.Namespace, out: TextIO) -> int:
    """``dlq purge --consumer C --yes``."""
    purged = purge_dead_letters(target, args.consumer, confirmed=args.yes)
    print(f"purged {purged} dead letters of {args.consumer}", file=out)
    return 0


def find_order(target: Target, order_id: str) -> OrderRecord:
    """One order by id."""
    order = target.orders.get(order_id)
    if order is None:
        raise UsageError(f"no order {order_id}")
    return order


def orders_show(target: Target, args: argparse.Namespace, out: TextIO) -> int:
    """``orders show ID``."""
    order = find_order(target, args.id)
    document = _order_json(order)
    if args.json:
        json.dump(document, out, indent=2)
        print(file=out)
        return 0
    for name, value in document.items():
        if name != "items" and value is not None:
            print(f"{name + ':':<17}{value}", file=out)
    for item in order.items:
        print(
            f"  {item.get('quantity', 1)} x {item.get('sku')} @ {item.get('unit_price_minor')}",
            file=out,
        )
    return 0


def list_orders(
    target: Target,
    *,
    status: OrderStatus | None = None,
    newest_first: bool = False,
    limit: int = 100,
) -> list[OrderRecord]:
    """At most ``limit`` orders (in ``status``, else in any), by ``placed_at`` oldest first or
    ``newest_first``: the first ``limit`` of each status, merged."""
    statuses = [status] if status is not None else list(OrderStatus)
    found = [
        order
        for wanted in statuses
        for order in target.orders.by_status(wanted, limit=limit, newest_first=newest_first)
    ]
    found.sort(key=lambda order: (order.placed_at, order.order_id), reverse=newest_first)
    return found[: max(0, limit)]


def orders_list(target: Target, args: argparse.Namespace, out: TextIO) -> int:
    """``orders list [--status S] [--newest]``."""
    found = list_orders(target, status=args.status, newest_first=args.newest, limit=args.limit)
    if args.json:
        json.dump([_order_json(o) for o in found], out, indent=2)
        print(file=out)
        return 0
    if not found:
        print(f"no {args.status.value} orders" if args.status else "no orders", file=out)
        return 0
    rows = [["ORDER", "STATUS", "AMOUNT", "CUSTOMER", "PLACED", "PAYMENT"]]
    rows += [
        [
            o.order_id,
            o.status.value,
            _amount(o),
            o.customer_email,
            o.placed_at,
            o.payment_id or o.decline_code or "-",
        ]
        for o in found
    ]
    _table(rows, out)
    return 0


def search_index(target: Target, query: IndexQuery) -> list[dict[str, Any]]:
    """Index documents matching every filter of ``query``."""
    return target.index.search(query)


def index_search(target: Target, args: argparse.Namespace, out: TextIO) -> int:
    """``index search``."""
    query = IndexQuery(
        camera=args.camera,
        captured_from=args.captured_from,
        captured_to=args.captured_to,
        min_width=args.min_width,
        max_width=args.max_width,
        min_height=args.min_height,
        max_height=args.max_height,
        min_bytes=args.min_bytes,
        max_bytes=args.max_bytes,
        format=args.format,
        gps_box=args.gps_box,
        limit=args.limit,
    )
    found = search_index(target, query)
    if args.json:
        json.dump(found, out, indent=2, default=str)
        print(file=out)
        return 0
    if not found:
        print("no images match", file=out)
        return 0
    rows = [["KEY", "FORMAT", "SIZE", "BYTES", "CAMERA", "CAPTURED", "GPS"]]
    for d in found:
        gps = d.get("gps")
        camera = f"{d.get('camera_make') or ''} {d.get('camera_model') or ''}".strip()
        rows.append(
            [
                str(d.get("key")),
                str(d.get("format")),
                f"{d.get('width')}x{d.get('height')}",
                str(d.get("bytes")),
                camera or "-",
                str(d.get("captured_at") or "-"),
                f"{gps['lat']:.4f},{gps['lon']:.4f}" if isinstance(gps, dict) else "-",
            ]
        )
    _table(rows, out)
    return 0


def indexed_document(target: Target, key: str) -> dict[str, Any] | None:
    """The index document of the upload ``key`` (in the uploads bucket), or None."""
    from shared.images.metadata import image_id  # Pillow: only for the commands that need it

    return target.index.get(image_id(target.uploads_bucket, key))


def unindexed_uploads(target: Target, *, limit: int = 100) -> list[str]:
    """Upload keys (in key order) that have no index document yet, at most ``limit``: still on
    their way, or refused by the indexer."""
    if not target.uploads_bucket:
        raise UsageError("no uploads bucket: set EVENTSUITE_UPLOADS_BUCKET")
    missing: list[str] = []
    for key in sorted(target.objects.list_keys(target.uploads_bucket, target.uploads_prefix)):
        if len(missing) >= limit:
            break
        if indexed_document(target, key) is None:
            missing.append(key)
    return missing


def index_missing(target: Target, args: argparse.Namespace, out: TextIO) -> int:
    """``index missing``."""
    found = unindexed_uploads(target, limit=args.limit)
    if args.json:
        json.dump(found, out, indent=2)
        print(file=out)
        return 0
    print("\n".join(found) or "every upload is in the index", file=out)
    return 0


def upload_file(target: Target, name: str, data: bytes, *, content_type: str | None = None) -> str:
    """Store one file under the uploads prefix of the uploads bucket; return its key."""
    if not target.uploads_bucket:
        raise UsageError("no uploads bucket: set EVENTSUITE_UPLOADS_BUCKET")
    if not name or "/" in name or "\\" in name or name in (".", ".."):
        raise UsageError(f"{name!r} is not a file name")
    key = f"{target.uploads_prefix}{name}"
    kind = content_type or mimetypes.guess_type(name)[0] or "application/octet-stream"
    target.objects.put(target.uploads_bucket, key, data, content_type=kind)
    return key


def upload(target: Target, args: argparse.Namespace, out: TextIO) -> int:
    """``upload FILE...``: each under the uploads prefix of the uploads bucket."""
    if not target.uploads_bucket:
        raise UsageError("no uploads bucket: set EVENTSUITE_UPLOADS_BUCKET")
    for path in args.files:
        if not path.is_file():
            raise UsageError(f"{path} is not a file")
    for path in args.files:
        key = upload_file(target, path.name, path.read_bytes())
        print(f"uploaded {path} -> {target.uploads_bucket}/{key}", file=out)
    return 0


COMMANDS: dict[tuple[str, str | None], Callable[[Target, argparse.Namespace, TextIO], int]] = {
    ("dlq", "list"): dlq_list,
    ("dlq", "show"): dlq_show,
    ("dlq", "redrive"): dlq_redrive,
    ("dlq", "purge"): dlq_purge,
    ("orders", "show"): orders_show,
    ("orders", "list"): orders_list,
    ("index", "search"): index_search,
    ("index", "missing"): index_missing,
    ("upload", None): upload,
}


def main(
    argv: Sequence[str] | None = None,
    *,
    out: TextIO | None = None,
    env: dict[str, str] | None = None,
) -> int:
    """Run one command; return the exit status."""
    out = out or sys.stdout
    try:
        args = parser().parse_args(argv)
    except SystemExit as exc:  # argparse printed the usage error (or --help)
        return exc.code if isinstance(exc.code, int) else USAGE_ERROR
    command = COMMANDS[(args.command, getattr(args, "action", None))]
    try:
        target = resolve(args.backend, home=args.home, terraform_root=args.terraform_dir, env=env)
    except TargetError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return USAGE_ERROR
    except Exception as exc:
        print(f"{PROG}: error: {args.backend}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return BACKEND_ERROR
    try:
        return command(target, args, out)
    except UsageError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return USAGE_ERROR
    except Exception as exc:
        detail = " ".join(str(exc).split()) or type(exc).__name__
        print(f"{PROG}: error: {target.name}: {detail}", file=sys.stderr)
        return BACKEND_ERROR
    finally:
        target.close()
