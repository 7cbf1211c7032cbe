"""`nst video` (stylise a video file, resumable) and `nst frames2video` (folder of frames -> video)."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import sys
import warnings
from typing import Any, Iterator

from .common import (
    add_method_options,
    add_style_options,
    add_temporal_options,
    method_options,
    style_args,
    temporal_args,
)
from .progress import ProgressLine


def _time(text: str) -> float:
    """Seconds as 12.5, 1:30 or 1:02:03.5."""
    try:
        parts = [float(p) for p in text.split(":")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds or [hh:]mm:ss, got '{text}'") from None
    if not 1 <= len(parts) <= 3 or any(p < 0 for p in parts) or any(p != p or p == float("inf") for p in parts):
        raise argparse.ArgumentTypeError(f"expected seconds or [hh:]mm:ss, got '{text}'")
    v = 0.0
    for p in parts:
        v = v * 60 + p
    return v


def _count(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got '{text}'") from None


def _rate(text: str) -> str:
    """A frame rate: 24, 29.97 or 30000/1001 (kept as text; nst.video parses it exactly)."""
    from fractions import Fraction

    try:
        ok = Fraction(text) > 0
    except (ValueError, ZeroDivisionError):
        ok = False
    if not ok:
        raise argparse.ArgumentTypeError(f"expected a positive frame rate like 24, 29.97 or 30000/1001, got '{text}'")
    return text


def add_parsers(sub: Any) -> None:
    from ..video import VideoOptions
    from .options import add_options

    formats = "mp4 (H.264), mkv (H.264), webm (VP9) or gif, by extension"
    pv = sub.add_parser(
        "video", help="stylise a video file (keeps its length, frame rate and sound; resumable)",
        description="Stylise every frame of a video file. The result has the source's frame timing and sound. "
        "An interrupted run continues where it stopped when the same command is run again "
        "(work files in OUT.nst-work/ next to the output, removed on success).")
    pv.add_argument("input", help="video file (anything FFmpeg reads: mp4, mov, mkv, webm, avi, ...)")
    pv.add_argument("-o", "--output", required=True, help=f"output file: {formats}")
    add_style_options(pv)
    pv.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    pv.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    add_method_options(pv, size_default=None)
    add_options(pv.add_argument_group("video"), VideoOptions, types={"start": _time, "duration": _time})
    add_temporal_options(pv)
    pr = pv.add_argument_group("on a Ray cluster (the nst[cluster] extra)")
    pr.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                    help="cut the video into chunks at keyframes and stylise them on Ray: ADDRESS host:port, "
                    "ray://host:port or auto; without one, RAY_ADDRESS, else a local Ray started for the run "
                    "(every node must read INPUT at the same path)")
    pr.add_argument("--workers", type=_count, default=2, metavar="N", help="Ray workers, each loading the "
                    "stylizer once (default 2)")
    pr.add_argument("--chunk-frames", type=_count, default=None, metavar="N",
                    help="frames a chunk has at least; it ends at the next keyframe (default 96)")
    pr.add_argument("--chunk-overlap", type=_count, default=None, metavar="N",
                    help="frames stylised before each chunk to warm up temporal consistency, then dropped "
                    "(default 16; 0 without temporal consistency)")
    pr.add_argument("--gpus-per-worker", type=float, default=0.0, metavar="G", help="GPUs each worker reserves")
    pr.add_argument("--cpus-per-worker", type=float, default=1.0, metavar="C",
                    help="CPUs each worker reserves, and its torch threads (default 1)")
    pv.set_defaults(func=cmd_video)

    pf = sub.add_parser(
        "frames2video", help="join a folder of frames into a video (natural order: frame2 before frame10)",
        description="Assemble the images in a folder into a video, ordered by the numbers in their names "
        "(frame2 before frame10), optionally with the sound of another file.")
    pf.add_argument("folder", help="folder of images (png, jpg, bmp, tif, webp)")
    pf.add_argument("-o", "--output", required=True, help=f"output file: {formats}")
    pf.add_argument("--fps", type=_rate, required=True, help="frame rate, e.g. 24, 29.97 or 30000/1001")
    pf.add_argument("--audio-from", default=None, help="take the sound from this file (e.g. the original video)")
    pf.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    pf.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    pf.set_defaults(func=cmd_frames2video)


@contextlib.contextmanager
def _warnings_to(bar: ProgressLine) -> Iterator[None]:
    """Show the library's VideoWarnings as one-line `nst: warning: ...` messages."""
    from ..video import VideoWarning

    with warnings.catch_warnings():
        warnings.simplefilter("always", VideoWarning)

        def show(message: Any, category: Any, *args: Any, **kwargs: Any) -> None:
            if issubclass(category, VideoWarning):
                bar.write(f"nst: warning: {message}")
            else:
                print(warnings.formatwarning(message, category, *args, **kwargs), file=sys.stderr, end="")

        warnings.showwarning = show
        yield


def cmd_video(args: argparse.Namespace) -> int:
    from ..io.image import check_output_path
    from ..methods import make_stylizer, resolve_method
    from ..options import build
    from ..video import VIDEO_FORMATS, VideoOptions, probe, stylize_video, work_dir_for
    from ..video.resume import check_work_dir
    from ..video.writer import check_crf
    from .options import given

    method = resolve_method(args.method, args.style or [], getattr(args, "model", None))
    styles = style_args(args, method)
    opts = build(VideoOptions, given(args, [f.name for f in dataclasses.fields(VideoOptions)]))
    check_crf(opts.crf, args.output)
    info = probe(args.input)  # bad input and a bad output path fail here, before weights load
    check_output_path(args.output, [info.path], args.overwrite, VIDEO_FORMATS)
    check_work_dir(args.output)
    options = method_options(args, method)
    temporal = temporal_args(args)
    if method == "optimize" and temporal is None:
        options["warm_start"] = True  # each frame starts from the previous result (without flow)
    opts.validate(info)  # before the weights load
    if args.ray is not None:
        return _video_on_ray(args, method, styles, options, temporal, opts, info)
    stylizer = make_stylizer(method, styles, args.style_weights, temporal=temporal, **options)

    rotation = f", rotated {info.rotation} deg" if info.rotation else ""
    print(f"{info.path.name}: {info.width}x{info.height}{rotation}, {float(info.fps):.3g} fps, "
          f"{info.duration or 0:.2f} s, {'sound ' + info.audio if info.audio else 'no sound'}; method {method}"
          f"{', temporal' if temporal is not None else ', per frame'}",
          file=sys.stderr)
    bar = ProgressLine(method, enabled=not args.quiet, unit=' frames')
    try:
        with _warnings_to(bar):
            r = stylize_video(info.path, args.output, stylizer, opts, settings=stylizer.config(),
                              overwrite=args.overwrite, progress=bar)
    except KeyboardInterrupt:
        bar.close()
        if work_dir_for(args.output).exists():
            print(f"nst: stopped; run the same command again to continue (work files in "
                  f"{work_dir_for(args.output)})", file=sys.stderr)
        raise
    finally:
        bar.close()
    fps = r.stylized / r.seconds if r.seconds > 0 else 0.0
    resumed = f", {r.resumed_from} reused from an interrupted run" if r.resumed_from else ""
    print(f"wrote {r.output}: {r.frames} frames, {r.duration:.2f} s, {r.width}x{r.height} at {float(r.fps):.3g} fps, "
          f"{'sound ' + r.audio if r.audio else 'no sound'}")
    print(f"{r.stylized} frames stylised{resumed} in {r.seconds:.1f} s ({fps:.2f} fps average, "
          f"stylizer {r.stylize_seconds:.1f} s)")
    if r.frames_dir is not None:
        print(f"frames saved in {r.frames_dir}{os.sep}")
    return 0


def _video_on_ray(args: argparse.Namespace, method: str, styles: list[str], options: dict[str, Any], temporal: Any,
                  opts: Any, info: Any) -> int:
    """`nst video --ray`: chunks at keyframes on Ray actors, joined in order (nst.video.chunks)."""
    from ..batch import StylizerSpec, check_workers
    from ..batch.ray_backend import check_address, ray_available, run_video_chunks
    from ..errors import OptionError
    from ..video.chunks import CHUNK_FRAMES, OVERLAP, stylize_video_chunked

    if not ray_available():
        raise OptionError("--ray needs Ray: pip install 'nst[cluster]' (or: pip install ray)")
    address = check_address(args.ray or os.environ.get("RAY_ADDRESS") or None)
    workers = check_workers(args.workers, True)
    chunk_frames = CHUNK_FRAMES if args.chunk_frames is None else args.chunk_frames
    overlap = (OVERLAP if temporal is not None else 0) if args.chunk_overlap is None else args.chunk_overlap
    if chunk_frames < 1:
        raise OptionError(f"--chunk-frames must be at least 1, not {chunk_frames}")
    if not 0 <= overlap <= 1000:
        raise OptionError(f"--chunk-overlap must be between 0 and 1000, not {overlap}")
    if not 0 <= args.gpus_per_worker <= 64 or not 0 < args.cpus_per_worker <= 1024:
        raise OptionError("--gpus-per-worker must be in 0..64 and --cpus-per-worker in (0, 1024]")
    spec = StylizerSpec(method, tuple(styles), tuple(args.style_weights) if args.style_weights else None, options,
                        opts.size, dataclasses.asdict(temporal) if temporal is not None else None, {},
                        max(1, int(args.cpus_per_worker)))
    spec.build()  # bad options fail here, once, before Ray starts
    print(f"{info.path.name}: {info.width}x{info.height}, {float(info.fps):.3g} fps, {info.duration or 0:.2f} s; "
          f"method {method}{', temporal' if temporal is not None else ', per frame'}; on Ray "
          f"({address or 'local'}), {workers} workers, chunks of {chunk_frames}+ frames, overlap {overlap}",
          file=sys.stderr)
    bar = ProgressLine(method, enabled=not args.quiet, unit=" frames")
    from ..progress import Progress

    def runner(chunks: Any) -> Any:
        return run_video_chunks(str(info.path.resolve()), chunks, spec, workers, address=address,
                                cpus_per_worker=args.cpus_per_worker, gpus_per_worker=args.gpus_per_worker)

    try:
        with _warnings_to(bar):
            r, chunks = stylize_video_chunked(info.path, args.output, runner, opts, overwrite=args.overwrite,
                                              chunk_frames=chunk_frames, overlap=overlap,
                                              progress=lambda n, t: bar(Progress("video", n, t, n, t)))
    finally:
        bar.close()
    print(f"wrote {r.output}: {r.frames} frames in {len(chunks)} chunks, {r.duration:.2f} s, {r.width}x{r.height} at "
          f"{float(r.fps):.3g} fps, {'sound ' + r.audio if r.audio else 'no sound'}")
    print(f"{r.stylized} frames stylised in {r.seconds:.1f} s ({r.stylized / max(r.seconds, 1e-9):.2f} fps; "
          f"workers' time {r.stylize_seconds:.1f} s)")
    if r.frames_dir is not None:
        print(f"frames saved in {r.frames_dir}{os.sep}")
    return 0


def cmd_frames2video(args: argparse.Namespace) -> int:
    from ..video import frames_to_video

    bar = ProgressLine("frames2video", enabled=not args.quiet, unit=" frames")
    try:
        with _warnings_to(bar):
            r = frames_to_video(args.folder, args.output, args.fps, args.audio_from, overwrite=args.overwrite,
                                progress=bar)
    finally:
        bar.close()
    print(f"wrote {r.output}: {r.frames} frames, {r.duration:.2f} s, {r.width}x{r.height} at {float(r.fps):.4g} fps, "
          f"{'sound ' + r.audio if r.audio else 'no sound'} in {r.seconds:.1f} s")
    return 0
