"""``python -m tests.bench.run``: every benchmark, one table, and BENCHMARKS.md.

Areas: thumbnails (suite vs naive Pillow vs pyvips: time, peak RSS growth, PSNR), cold start
(per cloud entry point and role vs the libraries the role needs), package sizes (whatever
``make package-*`` left under build/), throughput (local broker + dispatch on one core).
Each figure sits beside its baseline measured in the same run; targets say met/missed.
Benchmarks, not tests: nothing here fails the build; the exit status is 0 unless the
harness itself breaks.

Options: ``--quick`` (fewer repetitions: a smoke run), ``--only thumbnails,coldstart,...``,
``--no-write`` (do not touch BENCHMARKS.md), ``--json PATH`` (raw rows).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.bench import coldstart, packages, throughput, thumbnails
from tests.bench.common import ROOT, Row, not_available
from tests.bench.findings import findings, readme_summary
from tests.bench.images import cmyk_profile_path, make_samples

AREAS = ("thumbnails", "coldstart", "packages", "throughput")
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"
SUMMARY_BEGIN, SUMMARY_END = "<!-- bench-summary:begin -->", "<!-- bench-summary:end -->"
COLUMNS = ("area", "case", "metric", "value", "baseline", "ratio", "target", "verdict", "note")


def log(message: str) -> None:
    """Progress on stderr (the table goes to stdout)."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1048576:.1f} GiB"
    except OSError:
        pass
    return "?"


def _git() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + (" + uncommitted changes" if dirty.strip() else "")


def _versions() -> dict[str, str]:
    from importlib import metadata

    from PIL import features

    versions = {"python": platform.python_version()}
    for dist in (
        "pillow",
        "pyvips",
        "pyvips-binary",
        "scikit-image",
        "aiosmtpd",
        "cloudevents",
        "fastjsonschema",
        "jsonschema",
        "boto3",
        "functions-framework",
        "azure-functions",
    ):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = "not installed"
    versions["libjpeg-turbo (Pillow)"] = str(features.version("libjpeg_turbo"))
    versions["zlib-ng (Pillow)"] = str(features.version("zlib_ng"))
    versions["libwebp (Pillow)"] = str(features.version("webp"))
    ok, info = thumbnails.pyvips_status()
    versions["libvips"] = info if ok else "unavailable"
    return versions


def environment() -> dict[str, str]:
    """Machine, versions and the moment of the run."""
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    env = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{_cpu_model()}, {os.cpu_count()} CPUs, {_memory_gib()} RAM, "
        f"{platform.system()} {platform.release()} ({platform.machine()})",
        "commit": _git(),
        "load average at start": f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}",
    }
    env.update({f"version {k}": v for k, v in _versions().items()})
    return env


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def table(rows: list[Row]) -> str:
    """The one table, as Markdown."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in rows:
        lines.append("| " + " | ".join(_cell(str(getattr(row, c))) for c in COLUMNS) + " |")
    return "\n".join(lines)


def summary(rows: list[Row]) -> str:
    """Targets met and missed, and checks passed and failed."""
    counts: dict[str, int] = {}
    for row in rows:
        if row.verdict:
            counts[row.verdict] = counts.get(row.verdict, 0) + 1
    lines = ["Summary: " + ", ".join(f"{n} {v}" for v, n in sorted(counts.items()))]
    for row in rows:
        if row.verdict in ("missed", "FAIL"):
            lines.append(
                f"- {row.verdict}: {row.area} / {row.case} / {row.metric}: "
                f"{row.value} vs {row.baseline or '-'} ({row.ratio or '-'}; "
                f"target {row.target})"
            )
    return "\n".join(lines)


def write_markdown(
    path: Path, env: dict[str, str], rows: list[Row], command: str, elapsed: float
) -> None:
    """Replace the generated section of BENCHMARKS.md, keeping hand-written text around it."""
    generated = "\n".join(
        [
            BEGIN,
            f"Produced by `{command}` in {elapsed:.0f} s.",
            "",
            *[f"- {key}: {value}" for key, value in env.items()],
            "",
            table(rows),
            "",
            summary(rows),
            "",
            *findings(rows),
            END,
        ]
    )
    path.write_text(_replace_between(path, BEGIN, END, generated, "# Benchmarks\n\n"))


def _replace_between(path: Path, begin: str, end: str, generated: str, fallback: str) -> str:
    if path.exists() and begin in (text := path.read_text()) and end in text:
        head, _, rest = text.partition(begin)
        _, _, tail = rest.partition(end)
        return head + generated + tail
    return fallback + generated + "\n"


def write_readme_summary(path: Path, rows: list[Row], env: dict[str, str]) -> bool:
    """Replace the README's generated benchmark summary, if it has the markers."""
    if not path.exists() or SUMMARY_BEGIN not in path.read_text():
        return False
    generated = "\n".join([SUMMARY_BEGIN, readme_summary(rows, env), SUMMARY_END])
    path.write_text(_replace_between(path, SUMMARY_BEGIN, SUMMARY_END, generated, ""))
    return True


def ensure_cmyk_profile() -> str:
    """Install Debian's libgs-common (Ghostscript's ICC profiles) for the CMYK sample if it is
    missing and this is root on Debian; the benchmark runs without it either way."""
    if cmyk_profile_path() is not None:
        return "CMYK profile present"
    if not shutil.which("apt-get") or not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "no CMYK profile and no root apt-get to install libgs-common"
    completed = subprocess.run(
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", "libgs-common"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return (
        "installed libgs-common for its CMYK profile"
        if completed.returncode == 0 and cmyk_profile_path() is not None
        else f"apt-get install libgs-common failed ({completed.returncode})"
    )


def main(argv: list[str] | None = None) -> int:
    """Run the selected benchmarks; print the table; write BENCHMARKS.md."""
    parser = argparse.ArgumentParser(
        prog="python -m tests.bench.run",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (smoke run)")
    parser.add_argument(
        "--only", default=",".join(AREAS), help=f"comma-separated subset of {', '.join(AREAS)}"
    )
    parser.add_argument("--no-write", action="store_true", help="do not write BENCHMARKS.md")
    parser.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md")
    parser.add_argument("--json", type=Path, help="also write the raw rows as JSON")
    args = parser.parse_args(argv)
    areas = [a.strip() for a in args.only.split(",") if a.strip()]
    unknown = set(areas) - set(AREAS)
    if unknown:
        parser.error(f"unknown area(s): {', '.join(sorted(unknown))}")
    shown = list(argv if argv is not None else sys.argv[1:])
    for option in ("--json", "--output"):  # where results go does not change them
        while option in shown and shown.index(option) + 1 < len(shown):
            index = shown.index(option)
            del shown[index : index + 2]
    command = " ".join(["python -m tests.bench.run", *shown])
    started = time.monotonic()
    env = environment()
    log(
        "load average " + env["load average at start"] + " (other work on the machine "
        "inflates times; ratios are measured interleaved in the same processes)"
    )
    rows: list[Row] = []
    if "thumbnails" in areas:
        work = Path(tempfile.mkdtemp(prefix="eventsuite-bench-"))
        try:
            log("thumbnails: " + ensure_cmyk_profile())
            log("thumbnails: generating samples")
            samples, skipped = make_samples(work)
            rows += thumbnails.run(
                samples,
                rounds=3 if args.quick else 7,
                budget=4.0 if args.quick else 12.0,
                log=log,
            )
            rows += [not_available("thumbnail", "sample", reason) for reason in skipped]
        finally:
            shutil.rmtree(work, ignore_errors=True)
    if "coldstart" in areas:
        rows += coldstart.run(repeats=2 if args.quick else 3, log=log)
    if "packages" in areas:
        rows += packages.run()
    if "throughput" in areas:
        rows += throughput.run(
            repeats=1 if args.quick else 3, scale=0.3 if args.quick else 1.0, log=log
        )
    elapsed = time.monotonic() - started
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    env["load average at end"] = f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    print(table(rows))
    print()
    print(summary(rows))
    print(
        f"\n({elapsed:.0f} s; {env['machine']}; load average {env['load average at start']} "
        f"-> {env['load average at end']})"
    )
    if not args.no_write:
        write_markdown(args.output, env, rows, command, elapsed)
        log(f"wrote {args.output}")
        if args.output == ROOT / "BENCHMARKS.md" and write_readme_summary(
            ROOT / "README.md", rows, env
        ):
            log("wrote the README's benchmark summary")
    if args.json:
        args.json.write_text(json.dumps([dataclasses.asdict(r) for r in rows], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
