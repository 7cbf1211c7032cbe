"""`nst image`, `nst demo`, `nst styles`, `nst examine`."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from .common import add_method_options, add_style_options, method_options, positive_int, style_args, whole_number
from .progress import ProgressLine


def add_parsers(sub: Any) -> None:
    pi = sub.add_parser("image", help="stylise one photo", description="Stylise one photo with one or more styles.")
    pi.add_argument("content", help="photo to stylise (JPEG, PNG, WebP, TIFF, BMP)")
    add_style_options(pi)
    pi.add_argument("-o", "--output", default=None,
                    help="output file (.png, .jpg, .tif, .webp); default <content>_<style>.png here")
    pi.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    pi.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    add_method_options(pi)
    pi.add_argument("--save-every", type=positive_int, default=None, metavar="N",
                    help="optimize: also save the current result every N iterations, in a folder next to the "
                    "output named after it (OUT_steps/iter_00010.png, ...)")
    pi.set_defaults(func=cmd_image)

    pd = sub.add_parser("demo", help="stylise the bundled photo with Starry Night (Gatys optimisation)")
    pd.add_argument("-o", "--output", default="nst_demo.png")
    pd.add_argument("--overwrite", action="store_true")
    pd.add_argument("--method", default="optimize", choices=["optimize", "adain"])
    pd.set_defaults(func=cmd_demo)

    ps = sub.add_parser("styles", help="list the bundled styles")
    ps.set_defaults(func=cmd_styles)

    pe = sub.add_parser("examine", help="every style on one photo, with a labelled contact sheet")
    pe.add_argument("content")
    pe.add_argument("--styles", default="all", help="comma-separated style names or paths, or 'all'")
    pe.add_argument("-o", "--output", required=True, help="output directory (created if missing)")
    pe.add_argument("--size", type=whole_number, default=512, help="long side of each result in pixels (default 512)")
    pe.add_argument("--overwrite", action="store_true")
    pe.add_argument("--device", default=None)
    pe.set_defaults(func=cmd_examine)


def default_output(content: str, styles: Sequence[str], ext: str = ".png") -> Path:
    """<content-stem>_<style>[+<style2>...]<ext> in the current directory."""
    from ..registry import style_label

    return Path(f"{Path(content).stem}_{'+'.join(style_label(s) for s in styles)}{ext}")


def cmd_image(args: argparse.Namespace) -> int:
    from ..io.image import check_output_path, load_image, resize_long_side, save_image
    from ..methods import get_method, make_stylizer, resolve_method
    from ..options import check_size
    from ..registry import is_path_like, resolve_style

    t0 = time.perf_counter()
    check_size(args.size)
    model = getattr(args, "model", None)
    method = resolve_method(args.method, args.style or [], model)
    styles = style_args(args, method)
    content = Path(args.content)
    out = Path(args.output) if args.output else default_output(args.content, styles or [Path(model or method).stem])
    options = method_options(args, method)
    c = load_image(content)
    # a trained network carries its style: its style images are neither read nor protected
    inputs = [content] + ([resolve_style(s) for s in styles if is_path_like(s)]
                          if get_method(method).uses_style_images else [])
    check_output_path(out, inputs, args.overwrite)  # before any slow work
    saver = _intermediate_saver(out, args.save_every, inputs, args.overwrite) if method == "optimize" else None

    bar = ProgressLine(method, enabled=not args.quiet)

    def progress(ev: Any) -> None:
        bar(ev)
        if saver:
            saver(ev)

    try:
        stylizer = make_stylizer(method, styles, args.style_weights, progress=progress, **options)
        result = stylizer(resize_long_side(c, args.size))
    finally:
        bar.close()
    save_image(result, out)
    h, w = result.shape[-2:]
    print(f"wrote {out} ({w}x{h}, {method}) in {time.perf_counter() - t0:.1f} s")
    return 0


def steps_dir(out: Path) -> Path:
    """Where --save-every puts the intermediate results of `out`: a folder of its own, OUT_steps/."""
    return out.with_name(f"{out.stem}_steps")


def _intermediate_saver(out: Path, every: int | None, inputs: Sequence[Path],
                        overwrite: bool) -> Callable[[Any], None] | None:
    """Saves every `every`-th step in steps_dir(out) as iter_NNNNN<ext>, under the output's own checks:
    never an input, never an existing file without --overwrite (checked before the run and at each save)."""
    if not every:
        return None
    from ..errors import OutputError
    from ..io.image import check_output_path, save_image

    folder = steps_dir(out)
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"{folder}: exists and is not a folder; --save-every puts the intermediate results there")
    if folder.is_dir() and not overwrite and any(folder.glob(f"iter_*{out.suffix}")):
        raise OutputError(f"{folder}: already holds intermediate results (use --overwrite to replace them, or "
                          "another -o)")

    def save(ev: Any) -> None:
        if ev.step % every == 0 and ev.image is not None:
            folder.mkdir(exist_ok=True)
            path = check_output_path(folder / f"iter_{ev.step:05d}{out.suffix}", list(inputs), overwrite)
            save_image(ev.image.detach().clamp(0, 1), path)

    return save


def cmd_demo(args: argparse.Namespace) -> int:
    from ..registry import demo_content
    from . import build_parser

    out = str(Path(args.output).resolve())  # say exactly where the result goes
    ns = build_parser().parse_args(["image", str(demo_content()), "--style", "starry_night", "-o", out,
                                    "--method", args.method] + (["--overwrite"] if args.overwrite else []))
    print(f"nst demo: {demo_content().name} (bundled, public domain) in the style of The Starry Night "
          f"(bundled), method {args.method}")
    return cmd_image(ns)


def cmd_styles(args: argparse.Namespace) -> int:
    from ..registry import styles

    rows = [(s.name, s.title, f"{s.artist}, {s.year}", "adain" + (", net" if s.model_path else ""))
            for s in styles().values()]
    head = ("name", "title", "artist", "fast methods")
    widths = [max(len(r[i]) for r in rows + [head]) for i in range(4)]
    for r in [head] + rows:
        print("  ".join(v.ljust(wd) for v, wd in zip(r, widths)).rstrip())
    return 0


def cmd_examine(args: argparse.Namespace) -> int:
    from ..examine import examine

    def report(label: str, seconds: float, path: Path) -> None:
        print(f"{label:<24} {seconds * 1000:8.0f} ms  {path}")

    sheet = examine(args.content, args.styles, Path(args.output), size=args.size, overwrite=args.overwrite,
                    device=args.device, on_result=report)
    print(f"wrote contact sheet {sheet}")
    return 0
