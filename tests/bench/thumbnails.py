"""Thumbnail benchmark: the suite's path vs naive Pillow vs pyvips, time, memory and PSNR.

* naive Pillow: ``open`` -> ``ImageOps.exif_transpose`` -> (mode conversion a correct
  program needs: CMYK -> RGB, 16-bit -> 8-bit by scaling) -> ``resize(LANCZOS)`` to the same
  fitted size -> ``save`` JPEG q85 (WebP q85 when the source has alpha, like the suite);
* suite: ``shared.images.thumbnails.render_thumbnails(data, [box])``;
* pyvips: ``Image.thumbnail_buffer(data, box, height=box, size="down")`` -> ``jpegsave_buffer``
  (Q=85), operation cache off, default threading; also run with one thread for reference.

Times: one child process per sample runs every method on the same bytes, interleaved in a
rotating order, ``rounds`` times after a warm-up call; medians are reported. Suite vs naive
is judged on CPU time (both single-threaded in the same process: the work each does, not
inflated by other load; the wall-clock ratio is in the note); suite vs pyvips on wall time
(pyvips runs threads; its CPU time over all threads is in the note). Memory: one fresh
child per (sample, box, method); the peak RSS growth of the first call over the RSS after
imports (VmHWM reset through ``/proc/self/clear_refs``), because Pillow and libvips allocate
outside Python's allocator where ``tracemalloc`` cannot see. PSNR: both outputs decoded,
``ImageChops.difference`` + ``ImageStat`` (no numpy).
"""

from __future__ import annotations

import gc
import io
import json
import math
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from tests.bench.common import (
    Row,
    child_env,
    mb,
    median,
    ms,
    not_available,
    peak_rss_bytes,
    reset_peak_rss,
    rss_bytes,
    run_child,
    verdict,
)

QUALITY = 85
BOXES = (256, 1024)
PSNR_TARGET = 35.0
Method = Callable[[bytes, int], bytes]


# -- the three ways of making a thumbnail ---------------------------------------------------


def naive_thumbnail(data: bytes, box: int) -> bytes:
    """What most code does: decode everything, transpose, one LANCZOS resize, save."""
    from PIL import Image, ImageOps

    from shared.images.thumbnails import fit

    with Image.open(io.BytesIO(data)) as opened:
        image = ImageOps.exif_transpose(opened)
        alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
        if image.mode.startswith("I;16") or image.mode == "I":
            image = image.convert("I").point(lambda v: v / 257).convert("L")
        elif alpha and image.mode != "RGBA":
            image = image.convert("RGBA")
        elif not alpha and image.mode not in ("RGB", "L"):
            image = image.convert("RGB")
        image = image.resize(fit(image.size, box), Image.Resampling.LANCZOS)
        out = io.BytesIO()
        if alpha:
            image.save(out, "WEBP", quality=QUALITY)
        else:
            image.save(out, "JPEG", quality=QUALITY)
        return out.getvalue()


def suite_thumbnail(data: bytes, box: int) -> bytes:
    """The suite's fast path."""
    from shared.images.thumbnails import render_thumbnails

    return render_thumbnails(data, [box], quality=QUALITY)[0].data


def _vips(data: bytes, box: int, threads: int | None) -> bytes:
    import pyvips

    pyvips.cache_set_max(0)  # each call really decodes: no cached operation results
    if threads is not None:
        pyvips.concurrency_set(threads)
    thumb = pyvips.Image.thumbnail_buffer(data, box, height=box, size="down")
    if thumb.hasalpha():
        result: bytes = thumb.webpsave_buffer(Q=QUALITY)
    else:
        result = thumb.jpegsave_buffer(Q=QUALITY)
    return result


_VIPS_DEFAULT_THREADS: list[int] = []


def vips_thumbnail(data: bytes, box: int) -> bytes:
    """pyvips with its default concurrency (one thread per core)."""
    import pyvips

    if not _VIPS_DEFAULT_THREADS:
        _VIPS_DEFAULT_THREADS.append(pyvips.concurrency_get())
    return _vips(data, box, _VIPS_DEFAULT_THREADS[0])


def vips1_thumbnail(data: bytes, box: int) -> bytes:
    """pyvips limited to one worker thread (like a one-vCPU function)."""
    if not _VIPS_DEFAULT_THREADS:
        import pyvips

        _VIPS_DEFAULT_THREADS.append(pyvips.concurrency_get())
    return _vips(data, box, 1)


METHODS: dict[str, Method] = {
    "suite": suite_thumbnail,
    "naive": naive_thumbnail,
    "pyvips": vips_thumbnail,
    "pyvips1": vips1_thumbnail,
}


def psnr(candidate: bytes, reference: bytes) -> tuple[float, str]:
    """PSNR in dB of two encoded images, decoded; a note when sizes had to be matched."""
    from PIL import Image, ImageChops, ImageStat

    with Image.open(io.BytesIO(candidate)) as a, Image.open(io.BytesIO(reference)) as b:
        mode = "L" if a.mode == b.mode == "L" else ("RGBA" if "A" in a.mode + b.mode else "RGB")
        first, second = a.convert(mode), b.convert(mode)
    note = ""
    if first.size != second.size:
        note = f"sizes differ {first.size} vs {second.size}; compared after resizing"
        first = first.resize(second.size, Image.Resampling.LANCZOS)
    rms = ImageStat.Stat(ImageChops.difference(first, second)).rms
    mse = sum(value * value for value in rms) / len(rms)
    return (math.inf if mse == 0 else 10 * math.log10(255 * 255 / mse)), note


# -- child processes ----------------------------------------------------------------------


def _time_child(
    path: str, boxes: list[int], methods: list[str], rounds: int, budget: float
) -> dict[str, Any]:
    data = Path(path).read_bytes()
    outputs: dict[str, dict[int, bytes]] = {m: {} for m in methods}
    start = time.perf_counter()
    for method in methods:
        for box in boxes:
            outputs[method][box] = METHODS[method](data, box)  # warm-up, kept for PSNR
    # Fewer rounds (never under 5) for slow samples, so the whole run stays within budget.
    per_round = time.perf_counter() - start
    rounds = max(min(5, rounds), min(rounds, int(budget / per_round))) if per_round else rounds
    times: dict[str, dict[int, list[float]]] = {m: {b: [] for b in boxes} for m in methods}
    cpu: dict[str, dict[int, list[float]]] = {m: {b: [] for b in boxes} for m in methods}
    for index in range(rounds):
        order = methods[index % len(methods) :] + methods[: index % len(methods)]
        for box in boxes:
            for method in order:
                gc.collect()
                start, start_cpu = time.perf_counter(), time.process_time()
                METHODS[method](data, box)
                times[method][box].append(time.perf_counter() - start)
                cpu[method][box].append(time.process_time() - start_cpu)
    result: dict[str, Any] = {"median": {}, "cpu": {}, "psnr": {}, "size": {}, "rounds": rounds}
    from PIL import Image

    for method in methods:
        result["median"][method] = {str(b): median(times[method][b]) for b in boxes}
        result["cpu"][method] = {str(b): median(cpu[method][b]) for b in boxes}
        result["size"][method] = {}
        for box in boxes:
            with Image.open(io.BytesIO(outputs[method][box])) as decoded:
                result["size"][method][str(box)] = list(decoded.size)
        if method != "naive" and "naive" in methods:
            result["psnr"][method] = {
                str(b): psnr(outputs[method][b], outputs["naive"][b]) for b in boxes
            }
    return result


def _memory_child(path: str, box: int, method: str) -> dict[str, Any]:
    # Import everything the method needs first, so only the work itself is measured.
    import PIL.Image
    import PIL.ImageOps

    import shared.images.thumbnails  # noqa: F401

    if method.startswith("pyvips"):
        import pyvips  # noqa: F401
    PIL.Image.init()
    data = Path(path).read_bytes()
    gc.collect()
    exact = reset_peak_rss()
    before = rss_bytes()
    METHODS[method](data, box)
    peak = peak_rss_bytes()
    return {"growth": max(0, peak - before), "exact": exact, "before": before, "peak": peak}


def main(argv: list[str]) -> None:
    """Child: ``time PATH BOXES METHODS ROUNDS BUDGET`` or ``memory PATH BOX METHOD``."""
    if argv[0] == "time":
        result = _time_child(
            argv[1],
            [int(b) for b in argv[2].split(",")],
            argv[3].split(","),
            int(argv[4]),
            float(argv[5]),
        )
    else:
        result = _memory_child(argv[1], int(argv[2]), argv[3])
    print(json.dumps(result))


# -- the orchestrating side -----------------------------------------------------------------


def pyvips_status() -> tuple[bool, str]:
    """Whether pyvips imports here, with its versions or the reason it does not."""
    try:
        info = run_child(
            [
                "-c",
                "import json, pyvips; print(json.dumps("
                "[pyvips.__version__, pyvips.version(0), pyvips.version(1), "
                "pyvips.version(2), pyvips.concurrency_get()]))",
            ]
        )
    except Exception as exc:
        return False, f"pyvips cannot be imported: {exc}"
    return True, f"pyvips {info[0]} / libvips {info[1]}.{info[2]}.{info[3]}, {info[4]} threads"


# Which rows carry which targets: (sample, box) -> targets.
SPEED_TARGETS: dict[tuple[str, int], float] = {
    ("jpeg-24mp", 256): 5.0,
    ("jpeg-24mp", 1024): 4.0,
    ("png-12mp", 256): 1.5,
    ("png-12mp", 1024): 1.5,
    ("png16-6mp", 256): 1.5,
    ("png16-6mp", 1024): 1.5,
    ("webp-12mp", 256): 1.5,
    ("webp-12mp", 1024): 1.5,
}
# Suite time may be at most this multiple of pyvips' time.
VIPS_TARGETS: dict[tuple[str, int], float] = {("jpeg-24mp", 256): 1.0, ("jpeg-24mp", 1024): 1.1}
MEMORY_TARGETS: dict[tuple[str, int], float] = {("jpeg-24mp", 256): 0.25, ("jpeg-24mp", 1024): 0.25}


def run(samples: list[Any], *, rounds: int, budget: float, log: Callable[[str], None]) -> list[Row]:
    """Measure every sample at every box; return the table rows."""
    rows: list[Row] = []
    vips_ok, vips_info = pyvips_status()
    env = child_env()
    timings: dict[str, dict[str, Any]] = {}
    for sample in samples:
        methods = ["suite", "naive"]
        if vips_ok:
            # One-thread pyvips only where it is the target's context (it costs run time).
            methods += ["pyvips", "pyvips1"] if sample.name == "jpeg-24mp" else ["pyvips"]
        # The targets' sample gets more rounds: its ratios decide met/missed.
        scale = 2.5 if sample.name == "jpeg-24mp" else 1.0
        log(f"thumbnails: timing {sample.name} ({sample.size_bytes / 1e6:.1f} MB)")
        timings[sample.name] = run_child(
            [
                "-m",
                "tests.bench.thumbnails",
                "time",
                str(sample.path),
                ",".join(map(str, BOXES)),
                ",".join(methods),
                str(int(rounds * scale) | 1),
                str(budget * scale),
            ],
            env=env,
        )
    # Peak memory is not disturbed by CPU contention: two fresh children at a time.
    jobs = [
        (sample, box, method)
        for sample in samples
        for box in BOXES
        for method in (["suite", "naive"] + (["pyvips"] if vips_ok else []))
    ]
    log(f"thumbnails: peak memory, {len(jobs)} fresh processes")
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(
            pool.map(
                lambda job: run_child(
                    [
                        "-m",
                        "tests.bench.thumbnails",
                        "memory",
                        str(job[0].path),
                        str(job[1]),
                        job[2],
                    ],
                    env=env,
                ),
                jobs,
            )
        )
    memory = {(s.name, b, m): r for (s, b, m), r in zip(jobs, results, strict=True)}
    for sample in samples:
        for box in BOXES:
            rows.extend(
                _rows_for(
                    sample,
                    box,
                    timings[sample.name],
                    {(m, b): r for (n, b, m), r in memory.items() if n == sample.name},
                    vips_ok,
                    vips_info,
                )
            )
    return rows


def _rows_for(
    sample: Any,
    box: int,
    timing: dict[str, Any],
    memory: dict[tuple[str, int], dict[str, Any]],
    vips_ok: bool,
    vips_info: str,
) -> list[Row]:
    key = str(box)
    case = f"{sample.name} -> {box} px"
    medians, cpu = timing["median"], timing["cpu"]
    suite_t, naive_t = medians["suite"][key], medians["naive"][key]
    suite_c, naive_c = cpu["suite"][key], cpu["naive"][key]
    rows = []
    # Both run single-threaded in the same process, interleaved: CPU time is the work each
    # does, and unlike wall time it is not inflated by whatever else the machine runs.
    speedup = naive_c / suite_c
    target = SPEED_TARGETS.get((sample.name, box))
    rows.append(
        Row(
            "thumbnail",
            case,
            "CPU time vs naive Pillow",
            ms(suite_c),
            f"naive {ms(naive_c)}",
            f"{speedup:.2f}x faster",
            f">= {target:g}x" if target else "",
            verdict(speedup >= target) if target else "",
            note=(
                f"{sample.description}; wall clock {ms(suite_t)} vs {ms(naive_t)} "
                f"({naive_t / suite_t:.2f}x); {timing['rounds']} rounds"
            ),
            data={
                "suite_s": suite_t,
                "naive_s": naive_t,
                "speedup": speedup,
                "wall_speedup": naive_t / suite_t,
                "suite_cpu_s": suite_c,
                "naive_cpu_s": naive_c,
            },
        )
    )
    if vips_ok:
        vips_t = medians["pyvips"][key]
        vips1_t = medians.get("pyvips1", {}).get(key)
        relative = suite_t / vips_t
        limit = VIPS_TARGETS.get((sample.name, box))
        note = f"pyvips with 1 thread: {ms(vips1_t)}; " if vips1_t else ""
        note += f"CPU time, all threads: suite {ms(suite_c)}, pyvips {ms(cpu['pyvips'][key])}; "
        rows.append(
            Row(
                "thumbnail",
                case,
                "wall time vs pyvips",
                ms(suite_t),
                f"pyvips {ms(vips_t)}",
                f"{vips_t / suite_t:.2f}x faster" if relative <= 1 else f"{relative:.2f}x slower",
                (f"<= {limit:g}x pyvips time" if limit else ""),
                verdict(relative <= limit) if limit else "",
                note=note + vips_info,
                data={"suite_s": suite_t, "pyvips_s": vips_t, "pyvips1_s": vips1_t},
            )
        )
    else:
        rows.append(not_available("thumbnail", case, vips_info, "time vs pyvips"))
    suite_m, naive_m = memory[("suite", box)]["growth"], memory[("naive", box)]["growth"]
    share = suite_m / naive_m if naive_m else math.inf
    mem_limit = MEMORY_TARGETS.get((sample.name, box))
    exact = memory[("suite", box)]["exact"]
    vips_m = f"; pyvips {mb(memory[('pyvips', box)]['growth'])}" if vips_ok else ""
    rows.append(
        Row(
            "thumbnail",
            case,
            "peak RSS growth",
            mb(suite_m),
            f"naive {mb(naive_m)}{vips_m}",
            f"{share:.2f} of naive",
            f"<= {mem_limit:g} of naive" if mem_limit else "",
            verdict(share <= mem_limit) if mem_limit else "",
            note=""
            if exact
            else "VmHWM could not be reset: growth measured against the peak so far",
            data={"suite_bytes": suite_m, "naive_bytes": naive_m},
        )
    )
    suite_db, size_note = timing["psnr"]["suite"][key]
    vips_text = ""
    if vips_ok:
        vips_db, vips_note = timing["psnr"]["pyvips"][key]
        vips_text = f"pyvips vs naive {vips_db:.1f} dB" + (" (size differs)" if vips_note else "")
    rows.append(
        Row(
            "thumbnail",
            case,
            "PSNR vs naive",
            f"{suite_db:.1f} dB",
            vips_text,
            "",
            f">= {PSNR_TARGET:g} dB",
            verdict(suite_db >= PSNR_TARGET),
            note=size_note or "x".join(map(str, timing["size"]["suite"][key])) + " px",
            data={"psnr": suite_db},
        )
    )
    return rows


if __name__ == "__main__":
    main(sys.argv[1:])
