"""Package sizes: every deployment zip under build/<cloud>/, zipped and unzipped, and what is in it.

The zips are built by ``make package-aws|package-gcp|package-azure`` (``python -m
functions.<cloud>.package``); this benchmark only reads what exists, it never builds.
"""

from __future__ import annotations

import zipfile
from collections import defaultdict
from pathlib import Path

from tests.bench.common import ROOT, Row, verdict

CLOUDS = ("aws", "gcp", "azure")
ORDERS_LIMIT = 1024 * 1024
BUILD_HINT = "make package-{cloud}  (python -m functions.{cloud}.package)"


def _kb(size: int) -> str:
    return f"{size / 1024:.0f} KB" if size < 1024 * 1024 else f"{size / 1048576:.2f} MB"


def _contents(path: Path) -> tuple[int, int, str]:
    """(zipped bytes, unzipped bytes, the biggest top-level entries by unzipped size)."""
    by_top: dict[str, int] = defaultdict(int)
    with zipfile.ZipFile(path) as archive:
        infos = archive.infolist()
    for info in infos:
        top = info.filename.split("/", 1)[0]
        if top.endswith(".dist-info"):
            top = "*.dist-info"
        by_top[top] += info.file_size
    unzipped = sum(by_top.values())
    biggest = sorted(by_top.items(), key=lambda item: -item[1])
    shown = ", ".join(f"{name} {_kb(size)}" for name, size in biggest[:6])
    if len(biggest) > 6:
        shown += f", +{len(biggest) - 6} more"
    return path.stat().st_size, unzipped, shown


def run() -> list[Row]:
    """One row per zip found, a "not built" row per cloud without any."""
    rows: list[Row] = []
    for cloud in CLOUDS:
        zips = sorted((ROOT / "build" / cloud).glob("*.zip"))
        if not zips:
            rows.append(
                Row(
                    "package",
                    f"{cloud}: -",
                    "zipped / unzipped",
                    "not built",
                    verdict="not available",
                    note=f"no build/{cloud}/*.zip; build with " + BUILD_HINT.format(cloud=cloud),
                )
            )
            continue
        for path in zips:
            zipped, unzipped, contents = _contents(path)
            is_orders = "orders" in path.stem
            shared_app = len(zips) == 1 and not is_orders and "images" not in path.stem
            rows.append(
                Row(
                    "package",
                    f"{cloud}: {path.relative_to(ROOT)}",
                    "zipped / unzipped",
                    f"{_kb(zipped)} / {_kb(unzipped)}",
                    target="< 1 MB zipped" if is_orders else "",
                    verdict=verdict(zipped < ORDERS_LIMIT) if is_orders else "",
                    note=(
                        "one app package for every function (orders included), so the "
                        "per-group 1 MB target does not apply; "
                        if shared_app
                        else ""
                    )
                    + "contains "
                    + contents,
                    data={"zipped": zipped, "unzipped": unzipped},
                )
            )
    return rows
