"""Findings and the README summary, written from one run's rows: every number comes from the
table beside it, so nothing here can drift from what was measured."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

from tests.bench.common import Row


def _rows(rows: Iterable[Row], area: str, metric_start: str) -> list[Row]:
    return [r for r in rows if r.area == area and r.metric.startswith(metric_start) and r.data]


def _span(values: list[float], fmt: Callable[[float], str]) -> str:
    finite = [v for v in values if math.isfinite(v)]
    identical = len(values) - len(finite)
    suffix = f" ({identical} identical to the reference)" if identical else ""
    if not finite:
        return "identical to the reference"
    low, high = min(finite), max(finite)
    return (fmt(low) if fmt(low) == fmt(high) else f"{fmt(low)} to {fmt(high)}") + suffix


def _db(value: float) -> str:
    return f"{value:.1f} dB" if math.isfinite(value) else "identical to the reference"


def _x(value: float) -> str:
    return f"{value:.2f}x"


def _met(rows: list[Row]) -> str:
    met = sum(r.verdict == "met" for r in rows)
    return f"{met} of {len(rows)}"


def _jpeg(case: str) -> bool:
    return "-jpg" in case


def quality(rows: list[Row]) -> list[str]:
    """Sentences on PSNR against the full-decode LANCZOS reference."""
    psnr = _rows(rows, "thumbnail", "PSNR")
    if not psnr:
        return []
    ours = [r.data["psnr"] for r in psnr]
    naive = [r.data["naive_psnr"] for r in psnr]
    vips = [r.data["vips_psnr"] for r in psnr if r.data.get("vips_psnr") is not None]
    single = {
        box: [r.data["single_psnr"] for r in psnr if r.case.endswith(f"-> {box} px")]
        for box in (256, 1024)
    }
    text = (
        f"- Quality: what the handler writes (both boxes in one call) reached "
        f"{_span(ours, _db)} against one full-decode LANCZOS pass (encoded alike); naive "
        f"`thumbnail()` reached {_span(naive, _db)}"
        + (f" and pyvips {_span(vips, _db)}" if vips else "")
        + f". The rule (>= 37 dB and >= thumbnail() - 0.5 dB) was met on {_met(psnr)} "
        "image/box pairs. Single-box calls (no cascade from the larger rendition) reached "
        + "; ".join(f"{_span(values, _db)} at {box} px" for box, values in single.items() if values)
        + "."
    )
    lines = [text]
    for row in psnr:
        if row.verdict == "missed":
            vips_text = (
                f", pyvips {row.data['vips_psnr']:.1f} dB"
                if row.data.get("vips_psnr") is not None
                else ""
            )
            lines.append(
                f"  - missed: {row.case}: {_db(row.data['psnr'])} (thumbnail() "
                f"{_db(row.data['naive_psnr'])}{vips_text}){_quality_reason(row, rows)}."
            )
    return lines


def _same_case(rows: list[Row], case: str, metric_start: str) -> dict[str, Any]:
    found = [r for r in _rows(rows, "thumbnail", metric_start) if r.case == case]
    return found[0].data if found else {}


def _quality_reason(row: Row, rows: list[Row]) -> str:
    """Why a PSNR target was missed: what a pre-shrink costs, and what the only remedy costs."""
    cpu = _same_case(rows, row.case, "CPU time vs naive")
    vips = _same_case(rows, row.case, "CPU time vs pyvips")
    if not cpu:
        return ""
    engine_db, vips_db = row.data.get("vips_suite_psnr"), row.data.get("vips_psnr")
    if engine_db is not None:
        text = (
            f"; libvips doing the same work (same shrink-on-load, one lanczos3 pass) writes "
            f"{_db(engine_db)}, so the loss is the 2x pre-shrink itself, not Pillow"
        )
    elif vips.get("engine") == "libvips" and vips_db is not None:
        text = (
            f"; the suite renders it with libvips (a 2x shrink-on-load, one lanczos3 pass) "
            f"and pyvips' `thumbnail_buffer`, which also shrinks on load, writes "
            f"{_db(vips_db)}: the loss is the pre-shrink itself"
        )
    else:
        return ""
    full, suite = cpu["full_cpu_s"], cpu["suite_cpu_s"]
    text += (
        f"; only a full-resolution pass reaches the reference, and the full LANCZOS program "
        f"takes {full * 1000:.0f} ms CPU, {full / suite:.1f}x the suite's"
    )
    if vips:
        text += f" and {full / vips['pyvips_cpu_s']:.1f}x pyvips' (speed target 1.1x)"
    return text


def speed(rows: list[Row]) -> list[str]:
    """Sentences on time against pyvips and the naive programs."""
    lines = []
    vips = _rows(rows, "thumbnail", "wall time vs pyvips")
    vips_cpu = _rows(rows, "thumbnail", "CPU time vs pyvips")
    psnr = {r.case: r.data for r in _rows(rows, "thumbnail", "PSNR")}
    jpeg = [r for r in vips if _jpeg(r.case)]
    jpeg_cpu = [r for r in vips_cpu if _jpeg(r.case)]
    if jpeg:
        lines.append(
            f"- JPEG vs pyvips `thumbnail_buffer` (medians of paired ratios, target <= 1.1x): "
            f"wall time {_span([r.data['paired'] for r in jpeg], _x)} of pyvips' (met on "
            f"{_met(jpeg)} cases), CPU time {_span([r.data['paired_cpu'] for r in jpeg], _x)} "
            f"of pyvips' over all its threads (met on {_met(jpeg_cpu)})."
        )
        missed_cpu = {r.case for r in jpeg_cpu if r.verdict == "missed"}
        for row in jpeg:
            if row.verdict != "missed" and row.case not in missed_cpu:
                continue
            quality_note = ""
            if row.case in psnr and psnr[row.case].get("vips_psnr") is not None:
                quality_note = (
                    f"; there pyvips writes {_db(psnr[row.case]['vips_psnr'])} and the "
                    f"suite's single-box call {_db(psnr[row.case]['single_psnr'])}"
                )
            lines.append(
                f"  - missed: {row.case}: wall {row.data['paired']:.2f}x "
                f"({row.data['suite_s'] * 1000:.0f} vs {row.data['pyvips_s'] * 1000:.0f} ms), "
                f"CPU {row.data['paired_cpu']:.2f}x ({row.data['suite_cpu_s'] * 1000:.0f} vs "
                f"{row.data['pyvips_cpu_s'] * 1000:.0f} ms){quality_note}"
                f"{_time_reason(row.data, psnr.get(row.case, {}))}."
            )
    others = [r for r in vips if not _jpeg(r.case)]
    for row in others:
        decode = row.data.get("decode_s")
        reason = (
            f"; the suite's decode alone takes {decode * 1000:.0f} ms "
            f"({decode / row.data['suite_s']:.0%} of its time, "
            f"{decode / row.data['pyvips_s']:.2f}x pyvips' whole thumbnail)"
            if decode
            else ""
        )
        lines.append(
            f"- {row.case} vs pyvips: {row.data['paired']:.2f}x its wall time "
            f"({row.data['suite_s'] * 1000:.0f} vs {row.data['pyvips_s'] * 1000:.0f} ms), "
            f"{row.data['paired_cpu']:.2f}x its CPU time{reason}."
        )
    cpu = _rows(rows, "thumbnail", "CPU time vs naive")
    if cpu:
        vs_naive = [r.data["naive_cpu_s"] / r.data["suite_cpu_s"] for r in cpu]
        vs_full = [r.data["full_cpu_s"] / r.data["suite_cpu_s"] for r in cpu]
        lines.append(
            f"- CPU time against the naive programs: `exif_transpose` + `thumbnail()` took "
            f"{_span(vs_naive, _x)} the suite's, a full-decode LANCZOS resize "
            f"{_span(vs_full, _x)}."
        )
    return lines


def _time_reason(data: dict[str, Any], quality: dict[str, Any]) -> str:
    """Where the suite's CPU goes (decode vs resize and encode), beside libvips doing the
    same work, for a missed speed target."""
    decode, suite = data.get("decode_cpu_s"), data["suite_cpu_s"]
    if decode is None:
        return ""
    text = (
        f"; of the suite's {suite * 1000:.0f} ms CPU, Pillow's decode takes "
        f"{decode * 1000:.0f} ms and the LANCZOS resize and encode the other "
        f"{max(0.0, suite - decode) * 1000:.0f} ms"
    )
    engine = data.get("vips_suite_cpu_s")
    if engine is not None:
        text += (
            f"; libvips doing the same work (same shrink-on-load, one lanczos3 pass, one "
            f"thread) takes {engine * 1000:.0f} ms, {engine / data['pyvips_cpu_s']:.2f}x "
            "pyvips' `thumbnail_buffer`"
        )
        if quality.get("vips_suite_psnr") is not None:
            text += f", and writes {_db(quality['vips_suite_psnr'])}"
    return text


def engine(rows: list[Row]) -> list[str]:
    """The case for libvips as the engine, from the same run: its cost and quality doing
    exactly the suite's work, per format."""
    cpu = _rows(rows, "thumbnail", "CPU time vs pyvips")
    psnr = {r.case: r.data for r in _rows(rows, "thumbnail", "PSNR")}
    mem = {r.case: r.data for r in _rows(rows, "thumbnail", "peak RSS")}
    lines = []
    through = sorted({r.case.split(" -> ")[0] for r in cpu if r.data.get("engine") == "libvips"})
    if through:
        lines.append(
            f"- Engine: the suite rendered {', '.join(through)} through libvips (RGB and "
            "greyscale JPEG: shrink-on-load, sRGB, one lanczos3 pass) and every other sample "
            "through Pillow."
        )
    for kind, test in (
        ("JPEG", _jpeg),
        ("PNG", lambda c: "-png" in c),
        ("WebP", lambda c: "-webp" in c),
    ):
        group = [r for r in cpu if test(r.case) and r.data.get("vips_suite_cpu_s")]
        if not group:
            continue
        ratios = [r.data["vips_suite_cpu_s"] / r.data["suite_cpu_s"] for r in group]
        vs_thumb = [r.data["vips_suite_cpu_s"] / r.data["pyvips_cpu_s"] for r in group]
        gains = [
            psnr[r.case]["vips_suite_psnr"] - psnr[r.case]["single_psnr"]
            for r in group
            if psnr.get(r.case, {}).get("vips_suite_psnr") is not None
            and math.isfinite(psnr[r.case]["vips_suite_psnr"])
            and math.isfinite(psnr[r.case]["single_psnr"])
        ]
        shares = [
            mem[r.case]["vips_suite_bytes"] / mem[r.case]["full_bytes"]
            for r in group
            if mem.get(r.case, {}).get("vips_suite_bytes") is not None and mem[r.case]["full_bytes"]
        ]
        samples = ", ".join(sorted({r.case.split(" -> ")[0] for r in group}))
        lines.append(
            f"- libvips as the engine for {kind} the suite renders with Pillow ({samples}; the "
            f"suite's own strategy run by libvips, one thread): {_span(ratios, _x)} the "
            f"suite's CPU, {_span(vs_thumb, _x)} pyvips' "
            f"`thumbnail_buffer`"
            + (
                f"; PSNR {_span(gains, lambda v: f'{v:+.1f} dB')} against the suite's "
                "single-box call"
                if gains
                else ""
            )
            + (
                f"; peak memory {_span(shares, lambda v: f'{v:.2f}')} of the full-decode program's"
                if shares
                else ""
            )
            + "."
        )
    return lines


def memory(rows: list[Row]) -> list[str]:
    """Sentences on peak RSS growth."""
    mem = _rows(rows, "thumbnail", "peak RSS")
    if not mem:
        return []
    lines = []
    for kind, test in (
        ("JPEG", _jpeg),
        ("PNG", lambda c: "-png" in c),
        ("WebP", lambda c: "-webp" in c),
    ):
        group = [r for r in mem if test(r.case)]
        if not group:
            continue
        shares = [r.data["suite_bytes"] / r.data["full_bytes"] for r in group]
        lines.append(
            f"- Peak memory, {kind}: {_span(shares, lambda v: f'{v:.2f}')} of the full-decode "
            f"program's growth (target {group[0].target.removeprefix('<= ')}), met on "
            f"{_met(group)}."
        )
        for row in group:
            if row.verdict == "missed":
                decode = row.data.get("decode_bytes")
                reason = (
                    f"; the decode alone grows RSS by {decode / 1048576:.1f} MB, "
                    f"{decode / row.data['full_bytes']:.2f} of the full-decode program's peak"
                    if decode
                    else ""
                )
                width, height = row.data.get("source") or (0, 0)
                pyvips_bytes = row.data.get("vips_bytes")
                if row.data.get("engine") == "libvips":
                    reason = (
                        f"; the suite streams this {width}x{height} JPEG through libvips "
                        "(never the whole image in memory)"
                    )
                    if pyvips_bytes is not None:
                        reason += (
                            f"; pyvips' own `thumbnail_buffer` needs "
                            f"{pyvips_bytes / 1048576:.1f} MB "
                            f"({pyvips_bytes / row.data['full_bytes']:.2f} of the full-decode "
                            "program's)"
                        )
                elif kind == "JPEG" and max(width, height) < 4 * row.data.get("box", 0):
                    reason = (
                        f"; the {width}x{height} source is under twice the box at half "
                        "size, so no DCT-scaled decode applies and it is decoded whole, as "
                        "the naive programs do" + reason
                    )
                if decode and decode > row.data["full_bytes"] * _limit(row):
                    reason += (
                        ": a whole-image decode (Pillow keeps RGB at 4 bytes a pixel: "
                        f"{width * height * 4 / 1048576:.1f} MB for {width}x{height}) is "
                        "over the target before any resizing"
                    )
                streamed = row.data.get("vips_suite_bytes")
                if streamed is not None:
                    reason += (
                        f"; libvips, which decodes in strips, needs {streamed / 1048576:.1f} MB "
                        f"for the same work ({streamed / row.data['full_bytes']:.2f})"
                    )
                lines.append(
                    f"  - missed: {row.case}: {row.value} vs {row.baseline} ({row.ratio}){reason}."
                )
    return lines


def _limit(row: Row) -> float:
    try:
        return float(row.target.removeprefix("<= ").split()[0])
    except (ValueError, IndexError):
        return math.inf


def throughput(rows: list[Row]) -> list[str]:
    """Sentences on the broker and the image pipeline."""
    lines = []
    for row in _rows(rows, "throughput", "events/s"):
        share = (
            f"; mail rendering {row.data['share']:.0%} of a delivery "
            f"({row.data['render_s'] * 1e6:,.0f} us)"
            if "share" in row.data and "fake" not in row.case
            else ""
        )
        lines.append(f"- {row.case}: {row.value} per CPU-second{share}.")
    for row in _rows(rows, "throughput", "CPU vs the pure render"):
        lines.append(
            f"- {row.case}: {row.value} the CPU of the pure render "
            f"({row.baseline}; {row.ratio}), target <= 1.3x: {row.verdict}."
        )
    return lines


def generic(rows: list[Row], area: str, label: str) -> list[str]:
    """Counts of met and missed targets for an area, and every miss."""
    judged = [r for r in rows if r.area == area and r.verdict]
    if not judged:
        return []
    counts: dict[str, int] = {}
    for row in judged:
        counts[row.verdict] = counts.get(row.verdict, 0) + 1
    lines = [f"- {label}: " + ", ".join(f"{n} {v}" for v, n in sorted(counts.items())) + "."]
    lines += [
        f"  - {r.verdict}: {r.case}: {r.value} vs {r.baseline or '-'} ({r.ratio or '-'}; "
        f"target {r.target})."
        for r in judged
        if r.verdict in ("missed", "FAIL")
    ]
    return lines


def findings(rows: list[Row]) -> list[str]:
    """Every findings line, generated from the rows."""
    lines = ["### Findings (generated from this run's numbers)", ""]
    lines += quality(rows) + speed(rows) + memory(rows) + engine(rows) + throughput(rows)
    lines += generic(rows, "cold start", "Cold start")
    lines += generic(rows, "package", "Packages")
    skipped = [r for r in rows if r.verdict == "not available"]
    lines += [f"- Not measured: {r.case} ({r.note})." for r in skipped]
    return lines


def readme_summary(rows: list[Row], env: dict[str, Any]) -> str:
    """The README's short summary of the same run."""
    counts: dict[str, int] = {}
    for row in rows:
        if row.verdict in ("met", "missed", "PASS", "FAIL"):
            counts[row.verdict] = counts.get(row.verdict, 0) + 1
    parts = [
        f"Latest run ({env.get('date', '?')}, {env.get('machine', '?')}; generated from "
        "BENCHMARKS.md's table): " + ", ".join(f"{n} {v}" for v, n in sorted(counts.items())) + "."
    ]
    others = [r for r in _rows(rows, "thumbnail", "wall time vs pyvips") if not _jpeg(r.case)]
    summary = []
    if others:
        decode_shares = [
            r.data["decode_s"] / r.data["suite_s"] for r in others if "decode_s" in r.data
        ]
        summary.append(
            f"- PNG and WebP vs pyvips: {_span([r.data['paired'] for r in others], _x)} of its "
            f"wall time, {_span([r.data['paired_cpu'] for r in others], _x)} of its CPU time"
            + (
                f"; Pillow's full decode alone is "
                f"{_span(decode_shares, lambda v: f'{v:.0%}')} of the suite's time."
                if decode_shares
                else "."
            )
        )
    body = quality(rows)[:1] + [
        line for line in speed(rows) if "-png" not in line and "-webp" not in line
    ]
    body += summary + memory(rows) + engine(rows) + throughput(rows)
    parts += [line for line in body if not line.startswith("  ")]
    return "\n".join(parts)
