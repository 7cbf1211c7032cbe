"""`nst batch` throughput: 1 and 2 local workers, a local Ray with 2 workers, and a simulated 2-node Ray.

    nice python bench/batch.py [--images 100] [--size 512] [--repeat 2] [--no-write]

100 photos at 512 px (long side) are made in a temporary folder from /work/shared/data/content (random
crops and flips of its photos; the bundled photos when that folder is missing), never kept. Method
`net`, the shipped paintings.pt with starry_night. Measured side by side in one run:

  stylizer alone  - the stylizer's calls on the photos already decoded and resized (the pure compute);
  plain loop      - what a script would do: load_image, resize, stylise, save_image, one after another;
  batch 1 x T     - `run_batch` in this process (1 worker, T torch threads): plan, manifest, read, decode,
                    stylise, encode (PNG: OpenCV, zlib RLE), atomic write, report; decoding and encoding
                    overlap the stylizer on two more threads (`Worker.stream`); 1 x 1 is the default here;
  batch 2 x 1     - 2 local worker processes with 1 thread each;
  Ray 2 x 1       - a local Ray (2 CPUs), 2 actors with 1 CPU each;
  Ray Data 2 x 1  - the same on Ray Data instead of actors: `from_items` over the tasks, `map_batches` with
                    2 actor instances (1 CPU each, batch size 1), results iterated on the driver; needs
                    `pip install 'ray[data]'` (pandas, pyarrow: a benchmark-only extra), skipped without it;
  Ray 2 nodes     - a SIMULATION of a multi-node cluster: `ray.cluster_utils.Cluster` starts a head and a
                    second Ray node on this same machine, 1 CPU each, one actor on each.

The overhead target is checked in --pairs extra pairs (the stylizer alone at 1 thread, then the default
batch, order alternating), each pair's ratio kept: this CPU's speed drifts by 5-10% between runs a few
seconds apart, so a median of paired ratios says more than one best-of.

"wall" includes starting the workers (processes, Ray, model loading); "steady" is files/s from the first
result to the last. The overhead target is the batch's wall time against the plain loop, and against the
stylizer alone. Writes the "## Batch" section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import torch

sys.path.insert(0, str(Path(__file__).parent))
from results import stamp, table, write_section  # noqa: E402

from nst.batch import StylizerSpec, local_backend, plan, run_batch, settings_of  # noqa: E402
from nst.cli.batch import default_threads  # noqa: E402
from nst.io.image import load_image, resize_long_side, save_image  # noqa: E402

DATA = Path("/work/shared/data/content")


def make_photos(folder: Path, n: int, size: int) -> list[Path]:
    from PIL import Image, ImageOps

    srcs = sorted(p for p in DATA.glob("*") if p.suffix.lower() in (".png", ".jpg", ".jpeg")) if DATA.is_dir() else []
    if not srcs:
        srcs = sorted((Path(__file__).parents[1] / "src/nst/assets").glob("*.[pj][np]g"))
    rng = random.Random(0)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        im = ImageOps.exif_transpose(Image.open(srcs[i % len(srcs)])).convert("RGB")
        w, h = im.size
        k = rng.uniform(0.6, 1.0)
        cw, ch = int(w * k), int(h * k)
        x, y = rng.randint(0, w - cw), rng.randint(0, h - ch)
        im = im.crop((x, y, x + cw, y + ch))
        if rng.random() < 0.5:
            im = ImageOps.mirror(im)
        s = size / max(im.size)
        im = im.resize((max(1, round(im.width * s)), max(1, round(im.height * s))), Image.LANCZOS)
        p = folder / f"{'ab'[i % 2]}/photo_{i:03d}.jpg"  # two sub-folders: the layout is mirrored
        p.parent.mkdir(exist_ok=True)
        im.save(p, quality=92)
        out.append(p)
    return out


class Timer:
    """on_record hook: times of each result, for the steady rate."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def __call__(self, rec: Any) -> None:
        if rec.status == "done":
            self.times.append(time.perf_counter())

    def steady(self) -> float:
        t = self.times
        return (len(t) - 1) / (t[-1] - t[0]) if len(t) > 1 and t[-1] > t[0] else float("nan")


def run(inp: Path, tmp: Path, spec: StylizerSpec, settings: dict, backend: Callable) -> tuple[float, float, int]:
    out = tmp / "out"
    shutil.rmtree(out, ignore_errors=True)
    timer = Timer()
    t0 = time.perf_counter()
    r = run_batch(plan(inp, out), settings, backend, on_record=timer)
    wall = time.perf_counter() - t0
    assert r.failed == 0 and r.done == len(timer.times), (r.failed, r.done)
    return wall, timer.steady(), r.done


def tuple_add(r: tuple[float, float, int], start: float) -> tuple[float, float, int]:
    return r[0] + start, r[1], r[2]


def ray_data_available() -> bool:
    try:
        import ray.data  # noqa: F401  (needs pandas and pyarrow)
    except ImportError:
        return False
    return True


class _DataWorker:
    """A Ray Data actor: one nst Worker, built once, run on batches of one task."""

    def __init__(self, spec: StylizerSpec) -> None:
        from nst.batch.work import Worker

        self.worker = Worker(spec)

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        from nst.batch.work import Task

        out: dict[str, list[Any]] = {k: [] for k in ("rel", "status", "error", "seconds", "data", "worker")}
        for i in range(len(batch["rel"])):
            t = Task(str(batch["rel"][i]), "image", str(batch["label"][i]), str(batch["suffix"][i]),
                     data=bytes(batch["data"][i]))
            r = self.worker.run(t)
            for k in out:
                out[k].append(r[k])
        return out


def ray_data_backend(spec: StylizerSpec, workers: int) -> Callable[[Any, Any], None]:
    """Images only (what the benchmark has). Ray Data materialises `from_items`: every input is held."""
    def backend(tasks: Any, on_result: Callable[[dict[str, Any]], None]) -> None:
        import ray

        items = [{"rel": t.rel, "label": t.label, "suffix": t.suffix, "data": t.data} for t in tasks]
        ds = ray.data.from_items(items).map_batches(_DataWorker, fn_constructor_kwargs={"spec": spec},
                                                     batch_size=1, concurrency=workers, num_cpus=1)
        for row in ds.iter_rows():
            on_result({**row, "warnings": []})
    return backend


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=100)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--skip-ray", action="store_true")
    ap.add_argument("--pairs", type=int, default=9, help="paired runs for the overhead target (0: none)")
    a = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="nst-bench-batch-"))
    try:
        inp = tmp / "in"
        photos = make_photos(inp, a.images, a.size)
        spec = StylizerSpec("net", ("starry_night",), size=a.size)
        stylizer = spec.build()
        cores = torch.get_num_threads()
        settings = settings_of(spec, stylizer)
        xs = [resize_long_side(load_image(p), a.size) for p in photos]

        def threads(n: int, fn: Callable[[], Any]) -> Callable[[], Any]:
            def call() -> Any:
                torch.set_num_threads(n)
                try:
                    return fn()
                finally:
                    torch.set_num_threads(cores)
            return call

        for n in (cores, 1):  # warm up at both thread counts (ONNX Runtime makes a session for each)
            threads(n, lambda: [stylizer(x) for x in xs[:3]])()

        def alone() -> float:
            t0 = time.perf_counter()
            for x in xs:
                stylizer(x)
            return time.perf_counter() - t0

        def loop() -> float:
            d = tmp / "loop"
            shutil.rmtree(d, ignore_errors=True)
            d.mkdir()
            t0 = time.perf_counter()
            for i, p in enumerate(photos):
                save_image(stylizer(resize_long_side(load_image(p), a.size)), d / f"{i:03d}.png")
            return time.perf_counter() - t0

        spec1 = spec
        dflt = default_threads(1, getattr(stylizer, "engine", None))  # what `nst batch` uses here

        def dflt_note(n: int) -> str:
            return "; the default here" if n == dflt else ""
        spec2 = StylizerSpec("net", ("starry_night",), size=a.size, threads=1)
        configs: list[tuple[str, Callable[[], tuple[float, float, int]]]] = [
            (f"batch, 1 worker x {cores} threads + file I/O thread (this process{dflt_note(cores)})",
             threads(cores, lambda: run(inp, tmp, spec1, settings, local_backend(spec1, 1, stylizer)))),
            (f"batch, 1 worker x 1 thread + file I/O thread (this process{dflt_note(1)})",
             threads(1, lambda: run(inp, tmp, spec1, settings, local_backend(spec1, 1, stylizer)))),
            ("batch, 2 worker processes x 1 thread",
             lambda: run(inp, tmp, spec2, settings, local_backend(spec2, 2))),
        ]
        ray_rows: list[tuple[str, Callable[[], tuple[float, float, int]]]] = []
        if not a.skip_ray:
            import ray
            from ray.cluster_utils import Cluster

            from nst.batch.ray_backend import run_ray

            def on_ray(address: str | None, num_cpus: int) -> tuple[float, float, int]:
                return run(inp, tmp, spec2, settings,
                           lambda tasks, on_result: run_ray(tasks, spec2, 2, on_result, address=address,
                                                            cpus_per_worker=1))

            def local_ray() -> tuple[float, float, int]:
                t0 = time.perf_counter()
                ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
                start = time.perf_counter() - t0
                try:
                    wall, steady, n = on_ray(None, 2)
                finally:
                    ray.shutdown()
                return wall + start, steady, n

            def two_nodes() -> tuple[float, float, int]:
                t0 = time.perf_counter()
                c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
                c.add_node(num_cpus=1)
                ray.init(address=c.address, log_to_driver=False, configure_logging=False)
                c.wait_for_nodes()
                start = time.perf_counter() - t0
                try:
                    wall, steady, n = on_ray(c.address, 1)
                finally:
                    ray.shutdown()
                    c.shutdown()
                return wall + start, steady, n

            def ray_data() -> tuple[float, float, int]:
                t0 = time.perf_counter()
                ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
                start = time.perf_counter() - t0
                try:
                    return tuple_add(run(inp, tmp, spec2, settings, ray_data_backend(spec2, 2)), start)
                finally:
                    ray.shutdown()

            ray_rows = [("Ray (local, 2 CPUs), 2 actors x 1 CPU", local_ray),
                        ("Ray SIMULATED 2 nodes x 1 CPU on this machine, 2 actors", two_nodes)]
            if ray_data_available():
                ray_rows.insert(1, ("Ray Data (local, 2 CPUs), map_batches on 2 actors x 1 CPU", ray_data))

        refs = {k: [] for k in ("alone 2", "loop 2", "alone 1", "loop 1")}
        ref_fns = {"alone 2": threads(cores, alone), "loop 2": threads(cores, loop), "alone 1": threads(1, alone),
                   "loop 1": threads(1, loop)}
        results: dict[str, list[tuple[float, float, int]]] = {name: [] for name, _ in configs + ray_rows}
        for rep in range(a.repeat):  # interleaved, so a change in the machine's load hits every row alike
            for k, fn in ref_fns.items():
                refs[k].append(fn())
                print(f"[{rep}] {k}: {refs[k][-1]:.2f} s", flush=True)
            for name, fn in configs + ray_rows:
                results[name].append(fn())
                print(f"[{rep}] {name}: wall {results[name][-1][0]:.2f} s, steady {results[name][-1][1]:.2f} "
                      "files/s", flush=True)
        pairs: list[tuple[float, float]] = []
        default = configs[0 if dflt == cores else 1][1]
        alone_ref = ref_fns[f"alone {min(dflt, 2)}"]
        for k in range(a.pairs):
            order = (0, 1) if k % 2 == 0 else (1, 0)
            got: dict[int, float] = {}
            for which in order:
                got[which] = alone_ref() if which == 0 else default()[0]
            pairs.append((got[0], got[1]))
            print(f"[pair {k}] alone {dflt} thread(s) {got[0]:.2f} s, default batch {got[1]:.2f} s "
                  f"({100 * (got[1] / got[0] - 1):+.1f}%)", flush=True)
        n = len(photos)
        best = {k: min(v) for k, v in refs.items()}
        rows: list[list[object]] = []
        for t in (cores, 1):
            alone_s, loop_s = best[f"alone {min(t, 2)}"], best[f"loop {min(t, 2)}"]
            rows.append([f"stylizer alone, {t} thread{'s' * (t > 1)} (decoded photos in memory)", f"{alone_s:.2f}",
                         f"{n / alone_s:.2f}", "", "", ""])
            rows.append([f"plain loop, {t} thread{'s' * (t > 1)}: load, stylise, save_image", f"{loop_s:.2f}",
                         f"{n / loop_s:.2f}", "", f"{100 * (loop_s / alone_s - 1):+.1f}%", ""])
        for name, rs in results.items():
            wall = min(r[0] for r in rs)
            steady = max(r[1] for r in rs)
            t = 2 if f"x {cores} threads" in name and cores > 1 else 1
            alone_s, loop_s = best[f"alone {t}"], best[f"loop {t}"]
            rows.append([name, f"{wall:.2f}", f"{n / wall:.2f}", f"{steady:.2f}",
                         f"{100 * (wall / alone_s - 1):+.1f}%", f"{100 * (wall / loop_s - 1):+.1f}%"])
        body = table(["run", "wall s", "files/s (wall)", "files/s (steady)", "wall vs stylizer alone",
                      "wall vs plain loop"], rows)
        text = (f"{stamp()} `nice python bench/batch.py --images {a.images} --size {a.size} --repeat {a.repeat}`: "
                f"{n} photos at {a.size} px (long side), method net (shipped paintings.pt, starry_night), PNG out; "
                f"best of {a.repeat} interleaved runs; other processes shared the CPU.\n\n{body}\n\n"
                "wall: from `run_batch` called to the report written, starting the workers included (processes "
                "spawned and the network loaded in each; Ray started for the Ray rows). steady: files/s from the "
                "first result to the last. The vs columns compare wall times with the stylizer alone and the plain "
                "loop at the same threads per process (1 thread for the multi-worker rows: each of their workers is "
                "one such loop). The 2-node row is a simulation: two Ray nodes on one 2-core machine, "
                "not a cluster.")
        if pairs:
            ratios = sorted(100 * (b / al - 1) for al, b in pairs)
            med = ratios[len(ratios) // 2]
            text += (f"\n\nOverhead target (<= 10%, the default batch against the stylizer alone at {dflt} "
                     f"thread{'s' * (dflt > 1)}, "
                     f"{len(pairs)} back-to-back pairs, order alternating): median **{med:+.1f}%**, range "
                     f"{ratios[0]:+.1f}% to {ratios[-1]:+.1f}% (pairs: "
                     + ", ".join(f"{al:.2f}/{b:.2f} s" for al, b in pairs) + f"). Target "
                     f"{'met' if med <= 10 else 'NOT met'} by the median.")
        print(text)
        if not a.no_write:
            write_section("Batch (bench/batch.py)", text)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    torch.manual_seed(0)
    main()
