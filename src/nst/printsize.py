"""Know before you wait: the memory and time a stylisation will take, and the tiling that makes it fit.

`estimate(method, width, height, tile)` predicts the peak resident memory of a whole `nst image` run
(the process, the model, the image buffers and one pass's working memory) and its time, from
constants measured on this project's 2-core CPUs (bench/print_size.py measures them again, from
outside the process). `plan_tiles` picks the tile size for `--tile auto`: tiles whenever one pass over
the whole image would need more than TILE_BUDGET (or more than the memory limit allows).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .errors import OptionError, ResourceError

GB = 2**30

#: Resident memory of the process with torch and the method's model loaded (peak RSS of `nst image`
#: from /usr/bin/time -v, bench/print_size.py: net 0.52 GB at 2048x1152 and 1.09 GB at 4096x2304, one pass,
#: give 0.33 GB plus 86 B/px; adain 2.10 GB at 2048x1152; optimize 2.52 GB at 1024x576).
BASE_BYTES = {"net": 0.33 * GB, "adain": 0.62 * GB, "optimize": 0.65 * GB}
#: net where auto runs it on ONNX Runtime (CPUs without native bf16): the exported and int8-quantised model
#: and ONNX Runtime beside torch (0.56 GB peak at 256 px measured with NST_NO_BF16=1, 2026-12-03).
NET_ORT_BASE_BYTES = 0.56 * GB


def _base(method: str) -> float:
    if method == "net":
        from .engines import fastest_engine

        if fastest_engine() == "onnxruntime":
            return NET_ORT_BASE_BYTES
    return BASE_BYTES[method]
#: Working memory of one pass, per pixel of the window it runs on (torch inference, bf16 where native).
WORK_BYTES_PER_PX = {"net": 40.0, "adain": 640.0}
#: Front-end buffers per output pixel: the photo and its resized copy, the result, the 8- or 16-bit
#: array written (one pass), and with tiles the blended sum and its weights instead of the pass's copies
#: (net at 7680x4320 in 6 tiles: 1.81 GB measured).
IMAGE_BYTES_PER_PX = {False: 48.0, True: 40.0}
#: Seconds per output pixel on an idle 2-core CPU: net 0.1 us (bf16, 34 fps at 640x480, bench/realtime.py),
#: adain 5 us (about 1 s at 512x384); tiled, measured against one pass at 2048x1152 in one process:
#: net 13x (one partial pass per instance norm for the statistics), adain 2.1x (one more encoder pass).
SECONDS_PER_PX = {("net", False): 0.1e-6, ("net", True): 1.3e-6, ("adain", False): 5e-6,
                  ("adain", True): 10.5e-6}
#: Starting the process and loading the model.
STARTUP_SECONDS = 4.0
#: --tile auto tiles when one pass over the whole image would need more than this.
TILE_BUDGET = 1.5 * GB
#: Receptive-field context and alignment of each method's tiles (the stylizers' tile_context).
CONTEXT = {"net": 96, "adain": 64}
MULTIPLE = 8
#: Optimize: bytes per pixel of a VGG19 forward and backward to relu5_1 (whole image, fp32), and
#: seconds per pixel per L-BFGS iteration on an idle 2-core Xeon (2026-12-03, `nst image tubingen.jpg
#: --method optimize --coarse-iterations 0`, 1 against 5 iterations: 7.8 s per iteration at 1024x768 in one
#: pass; 1 against 4 at 2048x1536 in 12 tiles: 53 s, 1.7x per pixel). A scale that runs also pays about one
#: more iteration for its targets and first evaluation (9 s at 1024x768, 41 s tiled at 2048x1536).
OPTIMIZE_BYTES_PER_PX = 3000.0
OPTIMIZE_SECONDS_PER_PX = 10e-6
OPTIMIZE_TILED_FACTOR = 1.7


@dataclass(frozen=True)
class Estimate:
    """What a run will need: peak resident bytes, seconds, and the tiling it uses (tile None: one pass)."""

    method: str
    width: int
    height: int
    tile: int | None
    tiles: int
    peak_bytes: float
    seconds: float
    detail: str = ""

    def text(self) -> str:
        how = (f"in {self.tiles} tiles of {self.tile} px" if self.tile else "in one pass")
        extra = f", {self.detail}" if self.detail else ""
        load = load_factor()
        busy = f" (the CPU is shared: {load:.1f}x idle)" if load > 1.2 else ""
        return (f"{self.method} at {self.width}x{self.height} {how}{extra}: about {self.peak_bytes / GB:.2f} GB peak "
                f"memory and {_duration(self.seconds)}{busy}")


def load_factor() -> float:
    """How much slower than idle the CPU is now: the 1-minute load average per core, at least 1 (a CPU
    shared with other jobs gives each its share)."""
    import os

    try:
        return max(1.0, os.getloadavg()[0] / (os.cpu_count() or 1))
    except (OSError, AttributeError):
        return 1.0


def _duration(s: float) -> str:
    if s < 60:
        return f"{s:.0f} s" if s >= 10 else f"{s:.1f} s"
    if s < 3600:
        return f"{s / 60:.0f} min"
    return f"{s / 3600:.1f} h"


def _tiles(h: int, w: int, tile: int, context: int) -> tuple[int, int]:
    """(number of tiles, pixels of the largest window) for `nst.tiling.plan` with this tile size."""
    from .tiling import OVERLAP, plan

    hp, wp = -(-h // MULTIPLE) * MULTIPLE, -(-w // MULTIPLE) * MULTIPLE
    tiles = plan(hp, wp, tile, OVERLAP, context, MULTIPLE)
    biggest = max((t.window[1] - t.window[0]) * (t.window[3] - t.window[2]) for t in tiles)
    return len(tiles), biggest


def tile_for_budget(method: str, budget: float) -> int:
    """The largest tile (a multiple of 64) whose window's working memory fits in `budget` bytes."""
    from .tiling import MAX_TILE, MIN_TILE

    side = math.sqrt(max(0.0, budget) / WORK_BYTES_PER_PX[method]) - 2 * CONTEXT[method]
    return int(min(MAX_TILE, max(MIN_TILE, side // 64 * 64)))


def feed_forward(method: str, width: int, height: int, tile: int | None) -> Estimate:
    """The estimate for net or adain at width x height, in tiles of `tile` px (None: one pass)."""
    px = width * height
    if tile is None or tile >= max(width, height):
        peak = _base(method) + IMAGE_BYTES_PER_PX[False] * px + WORK_BYTES_PER_PX[method] * px
        return Estimate(method, width, height, None, 1, peak, _seconds(SECONDS_PER_PX[(method, False)] * px))
    n, window = _tiles(height, width, tile, CONTEXT[method])
    peak = _base(method) + IMAGE_BYTES_PER_PX[True] * px + WORK_BYTES_PER_PX[method] * window
    return Estimate(method, width, height, tile, n, peak, _seconds(SECONDS_PER_PX[(method, True)] * px))


def _seconds(work: float) -> float:
    return STARTUP_SECONDS + work * load_factor()


def plan_tiles(method: str, width: int, height: int, tile: "str | int", limit: float | None) -> Estimate:
    """The estimate for `--tile` (auto, off or N) under a memory limit (bytes; None: no limit). auto tiles
    when one pass would need more than TILE_BUDGET or than the limit leaves for it."""
    if tile == "off":
        return feed_forward(method, width, height, None)
    if isinstance(tile, int):
        return feed_forward(method, width, height, tile)
    whole = feed_forward(method, width, height, None)
    work = WORK_BYTES_PER_PX[method] * width * height
    room = TILE_BUDGET if limit is None else min(TILE_BUDGET, 0.5 * max(0.0, limit - _base(method)
                                                                        - IMAGE_BYTES_PER_PX[True] * width * height))
    if work <= room and (limit is None or whole.peak_bytes <= limit):
        return whole
    return feed_forward(method, width, height, tile_for_budget(method, room))


def optimize_estimate(width: int, height: int, sizes: list[tuple[int, int]], iterations: list[int],
                      tiled: list[bool], history: list[int], peak_work: float, tile: int | None = None,
                      tiles: int = 1) -> Estimate:
    """The estimate of an optimize run from its schedule (nst.optimize.schedule)."""
    px = width * height
    seconds = _seconds(sum((n + 1) * h * w * OPTIMIZE_SECONDS_PER_PX * (OPTIMIZE_TILED_FACTOR if t else 1.0)
                           for (h, w), n, t in zip(sizes, iterations, tiled) if n > 0))
    peak = BASE_BYTES["optimize"] + IMAGE_BYTES_PER_PX[False] * px + peak_work
    top = f"L-BFGS history {history[-1]} at the top scale" if history else ""
    detail = f"{len(sizes)} scales, {sum(tiled)} of them tiled" + (f", {top}" if top else "")
    return Estimate("optimize", width, height, tile, tiles, peak, seconds, detail)


def check_fits(est: Estimate, limit: float | None, suggestion: str) -> None:
    """ResourceError (one line: the estimate and a way out) when the estimate exceeds the limit."""
    if limit is not None and est.peak_bytes > limit:
        raise ResourceError(f"{est.text()}; that is more than the {limit / GB:.1f} GB available; {suggestion}")


def parse_memory_limit(value: object) -> float:
    """--memory-limit in GB (a number greater than 0, at most 65536) -> bytes."""
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise OptionError(f"must be a number of gigabytes, not {value!r}", field="memory_limit") from None
    if not math.isfinite(v) or v <= 0 or v > 65536:
        raise OptionError(f"must be greater than 0 and at most 65536 (gigabytes), not {value}", field="memory_limit")
    return v * GB


__all__ = ["Estimate", "feed_forward", "plan_tiles", "optimize_estimate", "check_fits", "tile_for_budget",
           "parse_memory_limit", "TILE_BUDGET", "GB"]
