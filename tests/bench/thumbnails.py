"""Thumbnail benchmark: the suite vs two naive Pillow programs vs pyvips; time, memory, PSNR.

Ways of making a thumbnail of one box, each saved as JPEG q85 (WebP q85 with alpha):

* **suite**: ``render_thumbnails(data, [box])`` (libvips renders RGB and greyscale JPEG, Pillow
  everything else: each row's note names the engine);
* **thumbnail()**: what a typical handler writes: ``open`` -> ``ImageOps.exif_transpose`` ->
  ``Image.thumbnail((box, box))`` (Pillow's defaults: JPEG draft, ``reducing_gap=2``,
  BICUBIC) -> ``convert("RGB")`` where the mode needs it (CMYK without its profile) -> save;
  16-bit input is scaled to 8 bits first (``thumbnail()`` refuses 16-bit images);
* **full LANCZOS**: decode everything, ``exif_transpose``, the mode conversion a correct program
  needs (CMYK through its embedded ICC profile, 16-bit scaled to 8), one LANCZOS resize;
* **pyvips**: ``thumbnail_buffer(data, box, height=box, size="down")`` -> ``jpegsave_buffer
  (Q=85)``, operation cache off, default threads (one per core); one thread for the 24 MP
  sample too;
* for samples the suite renders with Pillow only: **libvips doing the suite's work** (what
  libvips as their engine would cost and write) and **the suite's decode alone**.

Quality: the *handler's call* (both boxes in one ``render_thumbnails(data, [256, 1024])``, as
in production) against the **reference**, the full LANCZOS pass encoded the same way (JPEG
q85), PSNR over RGB; thumbnail() and pyvips against the same reference beside it.

Times: one child process per sample runs every method on the same bytes, interleaved in a
rotating order, after a warm-up call. Suite vs pyvips is the median of *paired* ratios (the two
calls of one round, back to back, so load drifting over the run hits both); wall time,
because pyvips runs threads (their CPU time is in the note). Suite vs the naive programs:
CPU time (all single-threaded Pillow). Memory: one fresh child per (sample, box, method),
the peak RSS growth of the call over the RSS after imports and one warm-up call on a small
image of the same format (``VmHWM`` reset through ``/proc/self/clear_refs``): Pillow and
libvips allocate outside Python's allocator, and what a library sets up once per process is
not memory per image.
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
PSNR_FLOOR = 37.0
PSNR_SLACK = 0.5
VIPS_LIMIT = 1.1
Method = Callable[[bytes, int], bytes]


# -- the ways of making a thumbnail ----------------------------------------------------------


def _save(image: Any, alpha: bool) -> bytes:
    out = io.BytesIO()
    if alpha:
        image.save(out, "WEBP", quality=QUALITY)
    else:
        image.save(out, "JPEG", quality=QUALITY)
    return out.getvalue()


def _alpha(image: Any) -> bool:
    return image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info


def thumbnail_naive(data: bytes, box: int) -> bytes:
    """What a typical handler writes: exif_transpose + thumbnail() + save."""
    from PIL import Image, ImageOps

    with Image.open(io.BytesIO(data)) as opened:
        image = ImageOps.exif_transpose(opened)
        alpha = _alpha(image)
        if image.mode.startswith("I"):  # thumbnail() refuses 16-bit ("image has wrong mode")
            image = image.convert("I").point(lambda v: v / 257).convert("L")
        image.thumbnail((box, box))
        if alpha and image.mode != "RGBA":
            image = image.convert("RGBA")
        elif not alpha and image.mode not in ("RGB", "L"):
            image = image.convert("RGB")
        return _save(image, alpha)


def full_decode(data: bytes) -> Any:
    """The whole image, upright, in sRGB (CMYK through its ICC profile), 8 bits."""
    from PIL import Image, ImageCms, ImageOps

    opened = Image.open(io.BytesIO(data))
    icc = opened.info.get("icc_profile")
    image = ImageOps.exif_transpose(opened)
    if image.mode.startswith("I"):
        image = image.convert("I").point(lambda v: v / 257).convert("L")
    if image.mode == "CMYK" and icc:
        converted = ImageCms.profileToProfile(
            image,
            ImageCms.ImageCmsProfile(io.BytesIO(icc)),
            ImageCms.createProfile("sRGB"),
            renderingIntent=ImageCms.Intent.PERCEPTUAL,
            outputMode="RGB",
        )
        assert converted is not None
        image = converted
    alpha = _alpha(image)
    if alpha and image.mode != "RGBA":
        image = image.convert("RGBA")
    elif not alpha and image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    return image


def full_lanczos(data: bytes, box: int) -> bytes:
    """One full-decode LANCZOS pass (also the quality reference)."""
    from PIL import Image

    from shared.images.thumbnails import fit

    image = full_decode(data)
    alpha = image.mode == "RGBA"
    return _save(image.resize(fit(image.size, box), Image.Resampling.LANCZOS), alpha)


def suite_thumbnail(data: bytes, box: int) -> bytes:
    """The suite, one box, with libvips' default threads (the one-thread programs change
    that process-wide setting)."""
    from shared.images.thumbnails import render_thumbnails

    _restore_default_threads()
    return render_thumbnails(data, [box], quality=QUALITY)[0].data


def _restore_default_threads() -> None:
    if "pyvips" in sys.modules:
        import pyvips

        pyvips.concurrency_set(_default_threads())


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


def _default_threads() -> int:
    import pyvips

    if not _VIPS_DEFAULT_THREADS:
        _VIPS_DEFAULT_THREADS.append(pyvips.concurrency_get())
    return _VIPS_DEFAULT_THREADS[0]


def vips_thumbnail(data: bytes, box: int) -> bytes:
    """pyvips with its default concurrency (one thread per core)."""
    return _vips(data, box, _default_threads())


def vips1_thumbnail(data: bytes, box: int) -> bytes:
    """pyvips limited to one worker thread (like a one-vCPU function)."""
    _default_threads()
    return _vips(data, box, 1)


def jpeg_shrink(size: tuple[int, int], box: int) -> int:
    """The DCT shrink-on-load factor the suite's decode gets for a JPEG of ``size`` (1, 2, 4
    or 8) at ``box``: the engine's own rule (shared/images/vips.py)."""
    from shared.images import vips
    from shared.images.thumbnails import MIN_FINAL_FACTOR, fit

    target = fit(size, box)
    return vips.jpeg_shrink(size, (target[0] * MIN_FINAL_FACTOR, target[1] * MIN_FINAL_FACTOR))


def vips_suite(data: bytes, box: int) -> bytes:
    """libvips doing the suite's work: the same shrink-on-load (JPEG), sRGB, then, like the
    suite, an integer block shrink while a gap of 2 remains and one lanczos3 pass
    (``resize(gap=2)``), orientation applied to the result; one thread, like the suite. What
    the suite would cost and write with libvips as its engine."""
    import pyvips
    from PIL import Image

    from shared.images.thumbnails import fit

    _default_threads()  # remember the default before changing it
    pyvips.cache_set_max(0)
    pyvips.concurrency_set(1)
    with Image.open(io.BytesIO(data)) as header:
        size, kind = header.size, header.format
    options: dict[str, Any] = {"access": "sequential", "fail_on": "error"}
    if kind == "JPEG":
        options["shrink"] = jpeg_shrink(size, box)
    image = pyvips.Image.new_from_buffer(data, "", **options)
    if image.interpretation == "cmyk":
        image = image.icc_transform("srgb", embedded=True, intent="perceptual")
    elif image.format == "ushort":
        image = image.colourspace("b-w" if image.bands < 3 else "srgb")
    target = fit(size, box)
    if (image.width, image.height) != target:
        image = image.resize(
            target[0] / image.width, vscale=target[1] / image.height, kernel="lanczos3", gap=2.0
        )
    # Rendered first: a rotation reads out of order, which a sequential load refuses.
    image = image.copy_memory().autorot()
    if image.hasalpha():
        result: bytes = image.webpsave_buffer(Q=QUALITY)
    else:
        result = image.jpegsave_buffer(Q=QUALITY)
    return result


def decode_only(data: bytes, box: int) -> bytes:
    """The suite's decode alone (the floor of its time and memory), to say where they go."""
    from shared.images import decoding
    from shared.images.thumbnails import MIN_FINAL_FACTOR, fit

    with decoding.open_untrusted(data) as image, decoding.decoding_errors():
        target = fit(image.size, box)
        decoding.decode(
            image, data, at_least=(target[0] * MIN_FINAL_FACTOR, target[1] * MIN_FINAL_FACTOR)
        )
    return b""


METHODS: dict[str, Method] = {
    "suite": suite_thumbnail,
    "thumbnail": thumbnail_naive,
    "full": full_lanczos,
    "pyvips": vips_thumbnail,
    "pyvips1": vips1_thumbnail,
    "vips-suite": vips_suite,
    "decode": decode_only,
}


def psnr(candidate: bytes, reference: bytes) -> tuple[float, str]:
    """PSNR in dB of two encoded images over RGB; a note when sizes had to be matched."""
    from PIL import Image, ImageChops, ImageStat

    with Image.open(io.BytesIO(candidate)) as a, Image.open(io.BytesIO(reference)) as b:
        mode = "RGBA" if "A" in a.mode + b.mode else "RGB"
        first, second = a.convert(mode), b.convert(mode)
    note = ""
    if first.size != second.size:
        note = f"size {first.size[0]}x{first.size[1]} resized to {second.size[0]}x{second.size[1]}"
        first = first.resize(second.size, Image.Resampling.LANCZOS)
    rms = ImageStat.Stat(ImageChops.difference(first, second)).rms
    mse = sum(value * value for value in rms) / len(rms)
    return (math.inf if mse == 0 else 10 * math.log10(255 * 255 / mse)), note


# -- child processes ----------------------------------------------------------------------


def _quality(data: bytes, outputs: dict[str, dict[int, bytes]]) -> dict[str, Any]:
    from shared.images.thumbnails import render_thumbnails

    _restore_default_threads()
    start = time.process_time()
    handler = {r.box: r.data for r in render_thumbnails(data, list(BOXES), quality=QUALITY)}
    handler_cpu = time.process_time() - start
    result: dict[str, Any] = {"handler_cpu": handler_cpu, "handler": {}, "others": {}}
    for box in BOXES:
        reference = outputs["full"][box]
        result["handler"][str(box)] = psnr(handler[box], reference)
        result["others"][str(box)] = {
            m: psnr(outputs[m][box], reference)
            for m in ("suite", "thumbnail", "pyvips", "vips-suite")
            if m in outputs
        }
    return result


def _time_child(
    path: str, boxes: list[int], methods: list[str], rounds: int, budget: float
) -> dict[str, Any]:
    data = Path(path).read_bytes()
    outputs: dict[str, dict[int, bytes]] = {m: {} for m in methods}
    start = time.perf_counter()
    for method in methods:
        for box in boxes:
            outputs[method][box] = METHODS[method](data, box)  # warm-up, kept for PSNR
    # Fewer rounds (never under 3) for slow samples, so the whole run stays within budget.
    per_round = time.perf_counter() - start
    rounds = max(min(3, rounds), min(rounds, int(budget / per_round))) if per_round else rounds
    wall: dict[str, dict[int, list[float]]] = {m: {b: [] for b in boxes} for m in methods}
    cpu: dict[str, dict[int, list[float]]] = {m: {b: [] for b in boxes} for m in methods}
    for index in range(rounds):
        order = methods[index % len(methods) :] + methods[: index % len(methods)]
        if "suite" in order and "pyvips" in order:  # keep the paired calls back to back
            order.remove("pyvips")
            order.insert(order.index("suite") + (index % 2), "pyvips")
        for box in boxes:
            for method in order:
                gc.collect()
                start, start_cpu = time.perf_counter(), time.process_time()
                METHODS[method](data, box)
                wall[method][box].append(time.perf_counter() - start)
                cpu[method][box].append(time.process_time() - start_cpu)
    result: dict[str, Any] = {"wall": {}, "cpu": {}, "paired": {}, "rounds": rounds}
    for method in methods:
        result["wall"][method] = {str(b): median(wall[method][b]) for b in boxes}
        result["cpu"][method] = {str(b): median(cpu[method][b]) for b in boxes}
    if "pyvips" in methods:
        for name, series in (("paired", wall), ("paired_cpu", cpu)):
            result[name] = {
                str(b): median(
                    [s / v for s, v in zip(series["suite"][b], series["pyvips"][b], strict=True)]
                )
                for b in boxes
            }
    result["quality"] = _quality(data, outputs)
    return result


def _small_like(data: bytes) -> bytes:
    """A 480x320 gradient in the format, mode and ICC profile of ``data``."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as header:
        kind, mode, icc = header.format, header.mode, header.info.get("icc_profile")
    small = Image.linear_gradient("L").resize((480, 320))
    if mode.startswith("I"):  # 16-bit greyscale
        small = small.convert("I").point(lambda v: v * 257).convert("I;16")
    else:
        small = small.convert(mode if mode in ("L", "RGB", "RGBA", "CMYK") else "RGB")
    out = io.BytesIO()
    small.save(out, kind, **({"icc_profile": icc} if icc else {}))
    return out.getvalue()


def _memory_child(path: str, box: int, method: str) -> dict[str, Any]:
    # Import everything the method needs first, so only the work itself is measured.
    import PIL.Image
    import PIL.ImageCms
    import PIL.ImageOps

    import shared.images.thumbnails  # noqa: F401
    from shared.images import webp

    webp.available()  # load libwebp before measuring
    if "vips" in method:
        import pyvips  # noqa: F401
    PIL.Image.init()
    data = Path(path).read_bytes()
    # One call on a small image of the same format and mode first: what a library sets up
    # once per process (libvips' worker thread, a codec's tables, a colour transform) is
    # not memory per image, and every program gets the same warm-up.
    METHODS[method](_small_like(data), box)
    gc.collect()
    exact = reset_peak_rss()
    before = rss_bytes()
    METHODS[method](data, box)
    peak = peak_rss_bytes()
    return {"growth": max(0, peak - before), "exact": exact}


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


def _kind(sample: Any) -> str:
    if "16bit" in sample.name or sample.name.endswith("-png"):
        return "PNG"
    if sample.name.endswith("-webp"):
        return "WebP"
    return "JPEG"


MEMORY_LIMITS = {"JPEG": 0.25, "PNG": 0.5, "WebP": 0.5}


def engine_of(path: Path) -> str:
    """What renders the suite's largest box for this file: libvips for RGB and greyscale
    JPEG (shared/images/vips.py), Pillow for everything else."""
    from PIL import Image

    with Image.open(path) as header:
        return "libvips" if header.format == "JPEG" and header.mode in ("RGB", "L") else "Pillow"


def _pillow_only(engine: str, vips_ok: bool) -> list[str]:
    """The programs that explain a Pillow-engine sample (libvips doing the same work, the
    decode alone); for a libvips-engine sample the suite is that work already."""
    if engine != "Pillow":
        return []
    return ["vips-suite", "decode"] if vips_ok else ["decode"]


def run(samples: list[Any], *, rounds: int, budget: float, log: Callable[[str], None]) -> list[Row]:
    """Measure every sample at every box; return the table rows."""
    vips_ok, vips_info = pyvips_status()
    env = child_env()
    timings: dict[str, dict[str, Any]] = {}
    engines = {sample.name: engine_of(sample.path) for sample in samples}
    for sample in samples:
        methods = ["suite", "thumbnail", "full"]
        if vips_ok:
            methods += ["pyvips", "pyvips1"] if sample.name == "photo-24mp-jpg" else ["pyvips"]
        methods += _pillow_only(engines[sample.name], vips_ok)
        log(f"thumbnails: timing {sample.name} ({sample.size_bytes / 1e6:.1f} MB)")
        timings[sample.name] = run_child(
            [
                "-m",
                "tests.bench.thumbnails",
                "time",
                str(sample.path),
                ",".join(map(str, BOXES)),
                ",".join(methods),
                str(rounds),
                str(budget),
            ],
            env=env,
            timeout=900,
        )
    # Peak memory is not disturbed by CPU contention: two fresh children at a time.
    jobs = [
        (sample, box, method)
        for sample in samples
        for box in BOXES
        for method in ["suite", "thumbnail", "full"]
        + (["pyvips"] if vips_ok else [])
        + _pillow_only(engines[sample.name], vips_ok)
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
    from PIL import Image

    sizes = {}
    for sample in samples:
        with Image.open(sample.path) as header:
            sizes[sample.name] = header.size
    rows: list[Row] = []
    for sample in samples:
        for box in BOXES:
            rows.extend(
                _rows_for(
                    sample,
                    box,
                    timings[sample.name],
                    {m: r for (n, b, m), r in memory.items() if n == sample.name and b == box},
                    vips_ok,
                    vips_info,
                    sizes[sample.name],
                    engines[sample.name],
                )
            )
    return rows


def _db(value: float) -> str:
    return f"{value:.1f} dB" if math.isfinite(value) else "identical (inf dB)"


def _quality_row(sample: Any, box: int, timing: dict[str, Any], case: str) -> Row:
    key = str(box)
    quality = timing["quality"]
    handler_db, size_note = quality["handler"][key]
    others = quality["others"][key]
    naive_db = others["thumbnail"][0]
    vips_db = others["pyvips"][0] if "pyvips" in others else None
    vips_suite_db = others["vips-suite"][0] if "vips-suite" in others else None
    single_db = others["suite"][0]
    ok = handler_db >= PSNR_FLOOR and handler_db >= naive_db - PSNR_SLACK
    baseline = f"thumbnail() {_db(naive_db)}" + (
        f"; pyvips {_db(vips_db)}" if vips_db is not None else ""
    )
    return Row(
        "thumbnail",
        case,
        "PSNR vs one full-decode LANCZOS pass (handler call, both boxes)",
        _db(handler_db),
        baseline,
        f"{handler_db - naive_db:+.1f} dB vs thumbnail()"
        if math.isfinite(handler_db)
        else "identical to the reference",
        f">= {PSNR_FLOOR:g} dB and >= thumbnail() - {PSNR_SLACK:g} dB",
        verdict(ok),
        note=(
            f"single-box call [{box}]: {_db(single_db)}; handler call (both boxes) CPU "
            f"{ms(quality['handler_cpu'])}" + (f"; {size_note}" if size_note else "")
        ),
        data={
            "psnr": handler_db,
            "naive_psnr": naive_db,
            "vips_psnr": vips_db,
            "vips_suite_psnr": vips_suite_db,
            "single_psnr": single_db,
            "handler_cpu_s": quality["handler_cpu"],
        },
    )


def _rows_for(
    sample: Any,
    box: int,
    timing: dict[str, Any],
    memory: dict[str, dict[str, Any]],
    vips_ok: bool,
    vips_info: str,
    source: tuple[int, int],
    engine: str,
) -> list[Row]:
    key, kind = str(box), _kind(sample)
    case = f"{sample.name} -> {box} px"
    wall, cpu = timing["wall"], timing["cpu"]
    rows = [_quality_row(sample, box, timing, case)]
    suite_c, naive_c, full_c = (cpu[m][key] for m in ("suite", "thumbnail", "full"))
    rows.append(
        Row(
            "thumbnail",
            case,
            "CPU time vs naive Pillow",
            ms(suite_c),
            f"thumbnail() {ms(naive_c)}; full LANCZOS {ms(full_c)}",
            f"{naive_c / suite_c:.2f}x / {full_c / suite_c:.2f}x faster",
            note=f"{sample.description}; the suite's engine: {engine}; {timing['rounds']} rounds",
            data={"suite_cpu_s": suite_c, "naive_cpu_s": naive_c, "full_cpu_s": full_c},
        )
    )
    if vips_ok:
        suite_t, vips_t = wall["suite"][key], wall["pyvips"][key]
        vips_c = cpu["pyvips"][key]
        paired, paired_cpu = timing["paired"][key], timing["paired_cpu"][key]
        limit = VIPS_LIMIT if kind == "JPEG" else None
        note = f"medians {ms(suite_t)} vs {ms(vips_t)}"
        if "pyvips1" in wall:
            note += f"; pyvips with 1 thread {ms(wall['pyvips1'][key])}"
        data: dict[str, Any] = {
            "paired": paired,
            "paired_cpu": paired_cpu,
            "suite_s": suite_t,
            "pyvips_s": vips_t,
            "suite_cpu_s": suite_c,
            "pyvips_cpu_s": vips_c,
            "engine": engine,
        }
        if "vips-suite" in cpu:
            data["vips_suite_cpu_s"] = cpu["vips-suite"][key]
        if "vips-suite" in wall:
            note += f"; libvips doing the suite's work, one thread: {ms(wall['vips-suite'][key])}"
        if "decode" in wall:
            decode_t = wall["decode"][key]
            data["decode_s"] = decode_t
            data["decode_cpu_s"] = cpu["decode"][key]
            note += (
                f"; the suite's decode alone {ms(decode_t)} "
                f"({decode_t / suite_t:.0%} of its time, {decode_t / vips_t:.2f}x pyvips' "
                "whole thumbnail)"
            )
        for metric, ratio, value, base in (
            ("wall time vs pyvips (median of paired ratios)", paired, suite_t, vips_t),
            (
                "CPU time vs pyvips, all its threads (median of paired ratios)",
                paired_cpu,
                suite_c,
                vips_c,
            ),
        ):
            rows.append(
                Row(
                    "thumbnail",
                    case,
                    metric,
                    ms(value),
                    f"pyvips {ms(base)}",
                    f"{ratio:.2f}x pyvips'",
                    f"<= {limit:g}x" if limit else "",
                    verdict(ratio <= limit) if limit else "",
                    note=(note if metric.startswith("wall") else vips_info),
                    data=data,
                )
            )
    else:
        rows.append(not_available("thumbnail", case, vips_info, "wall time vs pyvips"))
    suite_m, naive_m, full_m = (memory[m]["growth"] for m in ("suite", "thumbnail", "full"))
    share = suite_m / full_m if full_m else math.inf
    limit_m = MEMORY_LIMITS[kind]
    vips_m = f"; pyvips {mb(memory['pyvips']['growth'])}" if "pyvips" in memory else ""
    if "vips-suite" in memory:
        vips_m += f"; libvips doing the suite's work {mb(memory['vips-suite']['growth'])}"
    rows.append(
        Row(
            "thumbnail",
            case,
            "peak RSS growth vs naive full decode",
            mb(suite_m),
            f"full LANCZOS {mb(full_m)}; thumbnail() {mb(naive_m)}{vips_m}",
            f"{share:.2f} of full decode",
            f"<= {limit_m:g} of full decode",
            verdict(share <= limit_m),
            note=(f"{suite_m / naive_m:.2f} of thumbnail()'s" if naive_m else "")
            + (
                f"; the suite's decode alone {mb(memory['decode']['growth'])}"
                if "decode" in memory
                else ""
            )
            + ("" if memory["suite"]["exact"] else "; VmHWM could not be reset"),
            data={
                "suite_bytes": suite_m,
                "naive_bytes": naive_m,
                "full_bytes": full_m,
                "decode_bytes": memory["decode"]["growth"] if "decode" in memory else None,
                "vips_suite_bytes": (
                    memory["vips-suite"]["growth"] if "vips-suite" in memory else None
                ),
                "vips_bytes": memory["pyvips"]["growth"] if "pyvips" in memory else None,
                "engine": engine,
                "source": list(source),
                "box": box,
            },
        )
    )
    return rows


if __name__ == "__main__":
    main(sys.argv[1:])
