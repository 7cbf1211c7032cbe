"""What `nst.tune_allocator` (glibc's mmap and trim thresholds at 32 MB) does to the frame loops' speed.

    nice python bench/allocator.py [--images 100] [--size 512] [--rounds 3] [--no-write]

The allocator cannot be set back once set, so each measurement is a fresh process: NST_MALLOC_TUNE=0
(glibc's defaults) and =1 (nst's default in the CLI and batch workers), alternating, `--rounds` times.
Each process times, at 1 torch thread, the shipped network (paintings.pt, starry_night) alone on 100
decoded 512 px photos, and the default batch (`run_batch`, 1 worker x 1 thread) on the same photos, and
the network alone at 640x480 with 2 threads (the camera's frame). Writes the "## Allocator" section of
bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from results import stamp, table, write_section  # noqa: E402


def child(images: int, size: int) -> dict[str, float]:
    import torch
    from batch import make_photos

    from nst.batch import StylizerSpec, local_backend, plan, run_batch, settings_of
    from nst.device import tune_allocator
    from nst.io.image import load_image, resize_long_side

    tuned = tune_allocator()
    tmp = Path(tempfile.mkdtemp(prefix="nst-bench-alloc-"))
    try:
        photos = make_photos(tmp / "in", images, size)
        spec = StylizerSpec("net", ("starry_night",), size=size)
        st = spec.build()
        settings = settings_of(spec, st)
        xs = [resize_long_side(load_image(p), size) for p in photos]
        cam = torch.rand(1, 3, 480, 640)
        torch.set_num_threads(1)
        for x in xs[:3]:
            st(x)
        t0 = time.perf_counter()
        for x in xs:
            st(x)
        alone = time.perf_counter() - t0
        t0 = time.perf_counter()
        run_batch(plan(tmp / "in", tmp / "out"), settings, local_backend(spec, 1, st))
        batch = time.perf_counter() - t0
        torch.set_num_threads(2)
        for _ in range(3):
            st(cam)
        t0 = time.perf_counter()
        for _ in range(40):
            st(cam)
        camera = 40 / (time.perf_counter() - t0)
        return {"tuned": tuned, "alone": alone, "batch": batch, "camera_fps": camera}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=100)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(child(a.images, a.size)))
        return
    runs: dict[str, list[dict[str, float]]] = {"0": [], "1": []}
    for r in range(a.rounds):
        for tune in (("0", "1") if r % 2 == 0 else ("1", "0")):
            out = subprocess.run([sys.executable, __file__, "--child", "--images", str(a.images), "--size",
                                  str(a.size)], env={**os.environ, "NST_MALLOC_TUNE": tune}, check=True,
                                 capture_output=True, text=True).stdout
            runs[tune].append(json.loads(out.strip().splitlines()[-1]))
            print(f"[{r}] NST_MALLOC_TUNE={tune}: {runs[tune][-1]}", flush=True)
    med = {t: {k: statistics.median(float(x[k]) for x in rs) for k in ("alone", "batch", "camera_fps")}
           for t, rs in runs.items()}
    rows = []
    for t, label in (("0", "glibc defaults (NST_MALLOC_TUNE=0)"), ("1", "tune_allocator (nst's default)")):
        m = med[t]
        rows.append([label, f"{m['alone']:.2f}", f"{m['batch']:.2f}", f"{100 * (m['batch'] / m['alone'] - 1):+.1f}%",
                     f"{m['camera_fps']:.1f}"])
    g = {k: med["0"][k] / med["1"][k] for k in ("alone", "batch")}
    text = (f"{stamp()} `nice python bench/allocator.py --images {a.images} --size {a.size} --rounds {a.rounds}`: "
            f"one fresh process per measurement, alternating; medians of {a.rounds}. Network: paintings.pt "
            "(starry_night), auto precision.\n\n"
            + table(["allocator", f"network alone, {a.images} x {a.size} px, 1 thread (s)",
                     "default batch, same photos (s)", "batch vs alone", "640x480 network alone, 2 threads (fps)"],
                    rows)
            + f"\n\nWith tune_allocator: the network alone {g['alone']:.2f}x and the batch {g['batch']:.2f}x as fast; "
            f"640x480 {med['1']['camera_fps'] / med['0']['camera_fps']:.2f}x.")
    print(text)
    if not a.no_write:
        write_section("Allocator (bench/allocator.py)", text)


if __name__ == "__main__":
    main()
