"""`nst batch`: a folder (or a list file) of photos and videos, on this machine or on a Ray cluster."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from .common import add_method_options, add_style_options, add_temporal_options, method_options, style_args
from .progress import ProgressLine

#: Exit code of a batch that finished but could not do some files (each one is in the report).
EXIT_SOME_FAILED = 3



def default_workers() -> int:
    """Local workers when --workers is not given: 1, this process, whose stylizer gets the cores
    (`default_threads`) while decoding and encoding run beside it on two more threads (`Worker.stream`).
    Measured on a 2-core machine shared with other work (bench/batch.py, bench/RESULTS.md "Batch"): 100
    photos at 512 px took 7.6 s this way, 8.0 s with 2 torch threads and 11.7 s in 2 processes of 1 thread
    (each starts torch and loads the network)."""
    return 1


def default_threads(workers: int, engine: str | None = None) -> int:
    """Threads per local worker. One worker on torch: every core but one, the last left to the file I/O (a
    2-thread torch call stalls at every layer for a thread descheduled by the I/O: on the Xeon 100 photos
    at 512 px took 3.5 s with 1 thread against 4.3 s with 2). On ONNX Runtime (`engine`), whose threads do
    not spin, every core: on the AVX2 AMD 2 threads won each of 4 interleaved pairs, 5.3-6.6 s against
    6.2-7.0 s (docs/DESIGN-NOTES.md)."""
    cores = os.cpu_count() or 1
    if workers == 1:
        return cores if engine == "onnxruntime" else max(1, cores - 1)
    return max(1, cores // workers)


def _count(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got '{text}'") from None


def _gpus(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got '{text}'") from None
    if not 0 <= v <= 64 or v != v:
        raise argparse.ArgumentTypeError(f"must be between 0 and 64, got {text}")
    return v


def check_report(path: str | None, overwrite: bool) -> None:
    """--report PATH: a .jsonl file that is new, or an earlier report of nst batch (or --overwrite)."""
    import json
    from pathlib import Path

    from ..errors import OutputError

    if path is None:
        return
    p = Path(path)
    if p.suffix.lower() != ".jsonl":
        raise OutputError(f"{p}: the report is JSON lines; give it a .jsonl name")
    if p.is_dir():
        raise OutputError(f"{p}: is a folder")
    if p.exists() and not overwrite:
        try:
            with open(p, encoding="utf-8") as f:
                first = f.readline()
            ours = first == "" or {"input", "output", "status"} <= set(json.loads(first))
        except (OSError, ValueError, TypeError):
            ours = False
        if not ours:
            raise OutputError(f"{p}: already exists and is not a report of nst batch (use --overwrite to replace it)")
    if not (p.parent if str(p.parent) else Path(".")).is_dir():
        raise OutputError(f"{p}: folder {p.parent} does not exist")


def add_parsers(sub: Any) -> None:
    from ..batch import IMAGE_FORMATS
    from ..batch.plan import VIDEO_OUT_FORMATS

    pb = sub.add_parser(
        "batch", help="stylise every photo and video in a folder (resumable; local processes or a Ray cluster)",
        description="Stylise every image and video in IN (a folder, walked recursively, or a text file listing "
        "one path a line) into the folder OUT, mirroring the layout. Bad files are reported and skipped. "
        "Running the same command again skips the outputs that are complete; changed settings redo everything. "
        "A JSON-lines report (input, output, seconds, status, error) is written to OUT/nst-batch-report.jsonl. "
        f"Exit codes: 0 every file done (or complete before), {EXIT_SOME_FAILED} the batch finished but some "
        "files failed (see the report), 1 nothing could be done (bad IN or OUT, ...), 2 a usage error, "
        "130 interrupted (rerun to continue).")
    pb.add_argument("input", metavar="IN", help="folder of photos and videos, or a list file (one path a line)")
    pb.add_argument("-o", "--output", required=True, metavar="OUT", help="output folder (created if missing)")
    add_style_options(pb)
    pb.add_argument("--format", default="png", choices=IMAGE_FORMATS + ("same",),
                    help="image output format (default png; same: each input's own)")
    pb.add_argument("--video-format", default="mp4", choices=VIDEO_OUT_FORMATS, help="video output format "
                    "(default mp4)")
    pb.add_argument("--workers", type=_count, default=None, metavar="N",
                    help="worker processes (Ray: actors), each loading the stylizer once (default 1: this process, "
                    "every core but one for the stylizer, the last for reading and writing files; on Ray 2)")
    pb.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                    help="run on Ray (the nst[cluster] extra): ADDRESS host:port, ray://host:port or auto; "
                    "without one, RAY_ADDRESS, else a local Ray started for the run")
    pb.add_argument("--gpus-per-worker", type=_gpus, default=0.0, metavar="G",
                    help="Ray: GPUs each worker reserves (default 0; use with --device cuda)")
    pb.add_argument("--cpus-per-worker", type=_gpus, default=1.0, metavar="C",
                    help="Ray: CPUs each worker reserves, and its torch threads (default 1)")
    pb.add_argument("--overwrite", action="store_true", help="replace existing files in OUT that this batch did "
                    "not write")
    pb.add_argument("--report", default=None, metavar="PATH", help="where the JSON-lines report goes "
                    "(default OUT/nst-batch-report.jsonl)")
    pb.add_argument("-q", "--quiet", action="store_true", help="no progress line")
    add_method_options(pb)
    add_temporal_options(pb)
    pb.set_defaults(func=cmd_batch)


def cmd_batch(args: argparse.Namespace) -> int:
    import dataclasses
    from pathlib import Path

    from ..batch import StylizerSpec, check_workers, local_backend, plan, run_batch, settings_of
    from ..errors import OptionError, OutputError
    from ..methods import resolve_method
    from ..options import check_size

    check_size(args.size)
    method = resolve_method(args.method, args.style or [], getattr(args, "model", None))
    styles = style_args(args, method)
    options = method_options(args, method)
    temporal = temporal_args_or_none(args)
    use_ray = args.ray is not None
    address = None
    if use_ray:
        from ..batch.ray_backend import check_address, ray_available

        if not ray_available():
            raise OptionError("--ray needs Ray: pip install 'nst[cluster]' (or: pip install ray)")
        address = check_address(args.ray or os.environ.get("RAY_ADDRESS") or None)
    elif args.gpus_per_worker:
        raise OptionError("--gpus-per-worker applies only with --ray")
    workers = check_workers(args.workers if args.workers is not None else (2 if use_ray else default_workers()),
                            use_ray)
    p = plan(args.input, args.output, args.format, args.video_format)  # every check before the weights load
    check_report(args.report, args.overwrite)
    if args.report is not None and any(str(i.src) == str(Path(args.report).resolve()) for i in p.items):
        raise OutputError(f"{args.report}: is one of the inputs")
    if not use_ray:
        workers = min(workers, len(p.items))  # no process started for nothing
    spec = StylizerSpec(method, tuple(styles), tuple(args.style_weights) if args.style_weights else None,
                        options, args.size, dataclasses.asdict(temporal) if temporal is not None else None, {})
    stylizer = spec.build()  # here too: bad options fail once, before any worker starts; it gives the fingerprint
    threads = (max(1, int(args.cpus_per_worker)) if use_ray
               else default_threads(workers, getattr(stylizer, "engine", None)))
    spec = dataclasses.replace(spec, threads=threads)
    settings = settings_of(spec, stylizer)
    videos = sum(i.kind == "video" for i in p.items)
    where = (f"Ray ({address or 'local'}), {workers} workers" if use_ray
             else f"{workers} worker process{'es' if workers > 1 else ''}" if workers > 1 else "this process")
    print(f"batch: {len(p.items)} files ({len(p.items) - videos} images, {videos} videos) from {args.input} -> "
          f"{args.output}; method {method}; {where}", file=sys.stderr)
    for note in p.notes:
        print(f"nst: warning: {note}", file=sys.stderr)
    backend: Any
    if use_ray:
        from ..batch.ray_backend import run_ray

        def backend(tasks: Any, on_result: Any) -> None:
            run_ray(tasks, spec, workers, on_result, address=address, cpus_per_worker=args.cpus_per_worker,
                    gpus_per_worker=args.gpus_per_worker)
    else:
        backend = local_backend(spec, workers, stylizer if workers == 1 else None)
    if workers > 1 or use_ray:
        del stylizer  # the workers hold their own

    bar = ProgressLine("batch", enabled=not args.quiet, unit=" files", log_every=10.0)

    def on_record(rec: Any) -> None:
        if rec.status == "failed":
            bar.write(f"nst: failed: {rec.error}")

    try:
        r = run_batch(p, settings, backend, overwrite=args.overwrite, progress=bar, on_record=on_record,
                      report=args.report)
    finally:
        bar.close()
    for w in r.warnings[len(p.notes):][:20]:
        print(f"nst: warning: {w}", file=sys.stderr)
    rate = r.done / r.seconds if r.seconds > 0 else 0.0
    print(f"batch: {r.done} done, {r.failed} failed, {r.skipped} complete before (skipped) in {r.seconds:.1f} s "
          f"({rate:.2f} files/s); report {r.report}")
    return EXIT_SOME_FAILED if r.failed else 0


def temporal_args_or_none(args: argparse.Namespace) -> Any:
    from .common import temporal_args

    return temporal_args(args)
