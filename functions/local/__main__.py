"""Command line of the embedded backend:
``python -m functions.local {demo,run,status,serve,reconcile}``."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from functions.local.backend import DEFAULT_HOME


def _log_to_file(home: Path, *, fresh: bool = False) -> None:
    """Keep the console for the summary; structured logs go to ``<home>.log`` (started anew
    with ``fresh``: each demo run has a log of its own)."""
    from shared.observability import JsonFormatter

    log_path = home.with_name(home.name + ".log")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(log_path, mode="w" if fresh else "a", encoding="utf-8")
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("eventsuite")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(prog="python -m functions.local")
    parser.add_argument(
        "--home", type=Path, default=DEFAULT_HOME, help="state folder (default: .eventsuite)"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="run the demo scenario and print a summary")
    demo.add_argument("--keep", action="store_true", help="do not wipe --home first")
    commands.add_parser("run", help="deliver everything pending, then exit")
    commands.add_parser("status", help="pending deliveries and dead letters")
    commands.add_parser(
        "reconcile", help="run the catalog's scheduled jobs once (order reconciler)"
    )
    serve_command = commands.add_parser(
        "serve", help="consumers under functions-framework + broker"
    )
    serve_command.add_argument("--base-port", type=int, default=8081)
    serve_command.add_argument("--once", action="store_true", help="exit when the broker is idle")
    serve_command.add_argument(
        "--console-port",
        type=int,
        help="the console's port (default 8080; 0 picks a free one, as does --base-port 0)",
    )
    serve_command.add_argument(
        "--console-host",
        default="127.0.0.1",
        help="the console's address (default 127.0.0.1: this machine only)",
    )
    serve_command.add_argument("--no-console", action="store_true", help="no console")
    args = parser.parse_args(argv)
    if args.command in ("run", "status", "reconcile") and not (args.home / "broker.db").is_file():
        # Never create an empty state folder just to report that it is empty.
        others = [
            h for h in (args.home / "demo", args.home / "serve") if (h / "broker.db").is_file()
        ]
        hint = (
            f"; found state in {', '.join(f'{h}/' for h in others)}: pass --home"
            if others
            else (": run `make demo` or `make serve` first, or pass --home")
        )
        print(f"no local state in {args.home}/{hint}", file=sys.stderr)
        return 1
    _log_to_file(args.home, fresh=args.command == "demo" and not args.keep)

    if args.command == "demo":
        from functions.local.demo import run_demo

        counts = run_demo(args.home, fresh=not args.keep)
        return 0 if counts["pending"] == 0 else 1
    if args.command == "serve":
        from functions.local.serve import serve

        return serve(
            args.home,
            base_port=args.base_port,
            once=args.once,
            console_host=args.console_host,
            console_port=args.console_port,
            console=not args.no_console,
        )
    from functions.local.backend import LocalBackend

    backend = LocalBackend.open(args.home)
    try:
        if args.command == "reconcile":
            for name, report in backend.run_schedules().items():
                print(f"{name}: {report}")
        if args.command == "run":
            stats = backend.run()
            print(
                f"delivered {stats.delivered}, acknowledged {stats.acknowledged}, "
                f"retried {stats.retried}, dead-lettered {stats.dead_lettered}"
            )
        print(f"pending: {backend.broker.pending()}")
        for letter in backend.broker.dead_letters():
            print(f"dead letter [{letter.consumer}] {letter.event_id}: {letter.reason}")
    finally:
        backend.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
