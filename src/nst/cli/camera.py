"""`nst camera`: live stylisation of a webcam, a video file or a stream, in a window or recorded."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Any

from .progress import ProgressLine


def add_parsers(sub: Any) -> None:
    from ..camera import KEY_HELP, CameraOptions
    from ..methods import method_names, registered
    from .common import METHOD_GROUPS, add_temporal_options
    from .options import add_options

    p = sub.add_parser(
        "camera", help="live style transfer from a webcam, video file or stream",
        description="Stylise a live source frame by frame and show it in a window (keys: " + KEY_HELP + "), "
        "or record it with --no-window -o OUT.mp4. Always works on the newest camera frame, skipping stale ones.")
    p.add_argument("--source", default="0",
                   help="camera number (default 0), video file or stream URL (rtsp://, http://...)")
    p.add_argument("--styles", default="all",
                   help="comma-separated style names or image paths to cycle through, or 'all' (default)")
    p.add_argument("--method", default="auto", choices=[m for m in method_names() if m != "optimize"],
                   help="auto: a trained network for a style if one ships, else adain")
    seen: set[str] = set()
    add_options(p, CameraOptions, seen=seen, skip=("realtime", "max_frames", "duration", "overlay", "compare",
                                                   "snapshot_dir"))  # --size here, the rest below
    for name in ("adain", "net"):
        add_options(p.add_argument_group(METHOD_GROUPS[name]), registered()[name].options, seen=seen)
    add_temporal_options(p)
    g = p.add_argument_group("window and recording")
    g.add_argument("--no-window", dest="window", action="store_false",
                   help="headless: no window (works with opencv-python-headless); use with -o to record")
    g.add_argument("-o", "--output", default=None, help="record the stylised stream to this video file (.mp4)")
    g.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    add_options(g, CameraOptions, seen=seen)
    # Testing aid: press keys at given source frames, e.g. "30:n,60:n,90:s" (also works with a window).
    g.add_argument("--keys", default=None, help=argparse.SUPPRESS)
    g.add_argument("-q", "--quiet", action="store_true", help="no status line")
    p.set_defaults(func=cmd_camera)


def cmd_camera(args: argparse.Namespace) -> int:
    from ..bank import StylizerBank
    from ..camera import KEY_HELP, CameraEvent, CameraOptions, OpenCVWindow, open_source, parse_key_schedule
    from ..examine import parse_styles
    from ..io.image import check_output_path
    from ..methods import registered
    from ..options import build
    from ..video import VIDEO_FORMATS
    from .common import temporal_args
    from .options import given

    values = given(args, [f.name for f in dataclasses.fields(CameraOptions)])
    temporal = temporal_args(args)
    opts = build(CameraOptions, values)
    keys = parse_key_schedule(args.keys) if args.keys else None
    out = Path(args.output) if args.output else None
    source_path = Path(args.source)
    if out is not None:
        inputs = [source_path] if source_path.exists() else []
        check_output_path(out, inputs, args.overwrite, formats=VIDEO_FORMATS)
    model = getattr(args, "model", None)
    # with a network, --styles names its styles (a multi-style network); "all": every one of them
    specs = parse_styles(args.styles) if model is None else [n for n in args.styles.split(",") if n and n != "all"]
    window = OpenCVWindow() if args.window else None  # fails fast, before anything slow
    try:
        names = [f.name for m in registered().values() for f in dataclasses.fields(m.options) if f.name != "model"]
        bank = StylizerBank.from_specs(specs, args.method, model=model, temporal=temporal, **given(args, names))
        source = open_source(args.source)
    except BaseException:
        if window is not None:
            window.close()
        raise
    line = ProgressLine("camera", enabled=not args.quiet and sys.stderr.isatty())
    print(f"camera: {source.name} {source.width}x{source.height} @ {source.fps:g} fps; {len(bank)} style(s); "
          + (f"keys: {KEY_HELP}" if args.window else "headless" + (f", recording to {out}" if out else "")))
    if not args.window and out is None and opts.max_frames is None and opts.duration is None:
        print("camera: no -o: nothing is recorded; stop with Ctrl-C")

    def report(ev: CameraEvent) -> None:
        if ev.kind == "frame":
            line.status(f"frame {ev.frame}  {ev.style}  {ev.fps:.1f} fps  dropped {ev.dropped}")
            return
        line.clear()
        if ev.kind == "style":
            print(f"frame {ev.frame}: style {ev.detail}")
        elif ev.kind == "snapshot":
            print(f"frame {ev.frame}: snapshot {ev.detail}")
        elif ev.kind in ("compare", "strength", "temporal"):
            print(f"frame {ev.frame}: {ev.kind} {ev.detail}")

    from ..camera import run_camera

    stats = run_camera(source, bank, opts, window=window, record=out, keys=keys, on_event=report)
    line.close()
    share = stats.loop_fps / stats.stylize_fps if stats.stylize_fps else 0.0
    print(f"{stats.frames_processed} frames stylised at {stats.width}x{stats.height}, {stats.frames_dropped} stale "
          f"skipped, in {stats.seconds:.1f} s: {stats.loop_fps:.2f} fps ({100 * share:.0f}% of the time in the "
          f"stylizer); stopped by {stats.stopped_by}")
    if stats.temporal_cost is not None:
        print(f"temporal consistency: {stats.temporal_frames} frames, cost {100 * stats.temporal_cost:.0f}% of the "
              "stylizer's fps")
    if out is not None:
        print(f"wrote {out} ({stats.frames_written} frames)" if stats.frames_written else "nothing recorded")
    return 0  # Ctrl-C is a normal way to stop a live view or recording (the recording is kept)
