"""`nst image`, `nst demo`, `nst styles`, `nst examine`."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from .common import add_method_options, add_style_options, method_options, positive_int, style_args, whole_number
from .options import _FLAGS
from .progress import ProgressLine


def add_parsers(sub: Any) -> None:
    pi = sub.add_parser("image", help="stylise one photo", description="Stylise one photo with one or more styles.")
    pi.add_argument("content", help="photo to stylise (JPEG, PNG, WebP, TIFF, BMP)")
    add_style_options(pi)
    pi.add_argument("-o", "--output", default=None,
                    help="output file (.png, .jpg, .tif, .webp); default <content>_<style>.png here")
    pi.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    pi.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    add_method_options(pi, size_default=None)
    from ..options import MAX_SIDE, MIN_SIDE

    pi.add_argument("--size", type=whole_number, default=None, help="long side of the output in pixels "
                    f"(default 512, or what --print gives) [{MIN_SIDE}..{MAX_SIDE}]")
    pr = pi.add_argument_group("print size (tiles, memory, 16-bit colour-managed files)")
    pr.add_argument("--tile", default="auto", metavar="auto|off|N",
                    help="stylise in tiles of N px with the whole image's statistics (net, adain) or compute the "
                    "loss gradients in tiles (optimize); auto (default) tiles when one pass would not fit the "
                    "memory budget")
    pr.add_argument("--estimate", action="store_true",
                    help="print the expected peak memory and time for this request, and stop")
    pr.add_argument("--memory-limit", default=None, metavar="GB",
                    help="memory the run may use (default: what the machine has available); a request that "
                    "needs more fails at once")
    pr.add_argument("--bit-depth", type=whole_number, default=8, metavar="8|16",
                    help="bits per channel of the output: 16 writes PNG or TIFF from the float result, with the "
                    "sRGB ICC profile")
    _FLAGS["print_size"] = "--print"
    pr.add_argument("--print", dest="print_size", default=None, metavar="WxH{cm,mm,in}",
                    help="print size, e.g. 30x20cm or 12x8in: the image is sized to fit it at --dpi")
    pr.add_argument("--dpi", type=whole_number, default=None,
                    help="resolution written into the file, and used by --print (default 300 with --print)")
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
    from ..errors import OptionError
    from ..io.frames import scaled_size
    from ..io.image import check_output_path, load_image, resize_long_side, save_image
    from ..io.print16 import BIT_DEPTHS, FORMATS_16, check_dpi, parse_print, print_pixels
    from ..memory import available_memory
    from ..methods import TILING, get_method, make_stylizer, resolve_method
    from ..options import check_size
    from ..printsize import GB, check_fits, parse_memory_limit, plan_tiles
    from ..registry import is_path_like, resolve_style
    from ..tiling import parse_tile, stylize_tiled

    t0 = time.perf_counter()
    tile = parse_tile(args.tile)
    if args.bit_depth not in BIT_DEPTHS:
        raise OptionError(f"must be 8 or 16, not {args.bit_depth}", field="bit_depth")
    dpi = check_dpi(args.dpi) if args.dpi is not None else None
    print_in = parse_print(args.print_size) if args.print_size is not None else None
    if print_in is not None and args.size is not None:
        raise OptionError("--size and --print both set the size; give one of them")
    limit = parse_memory_limit(args.memory_limit) if args.memory_limit is not None else available_memory()
    model = getattr(args, "model", None)
    method = resolve_method(args.method, args.style or [], model)
    styles = style_args(args, method)
    content = Path(args.content)
    out = Path(args.output) if args.output else default_output(args.content, styles or [Path(model or method).stem])
    if args.bit_depth == 16 and out.suffix.lower() not in FORMATS_16:
        raise OptionError(f"16 needs a PNG or TIFF output (.png, .tif), not '{out.suffix or '(none)'}'",
                          field="bit_depth")
    options = method_options(args, method)
    c = load_image(content)
    if print_in is not None:
        dpi = dpi or 300
        pw, ph = print_pixels(print_in, dpi, (int(c.shape[-1]), int(c.shape[-2])))
        size = max(pw, ph)
    else:
        size = 512 if args.size is None else args.size
    size = check_size(size)
    # a trained network carries its style: its style images are neither read nor protected
    inputs = [content] + ([resolve_style(s) for s in styles if is_path_like(s)]
                          if get_method(method).uses_style_images else [])
    # the size the image will have, without making it yet: an estimate (or a request that will not fit) must
    # not first allocate the full-size image (16000 px: 2 GB and seconds)
    w, h = scaled_size(int(c.shape[-1]), int(c.shape[-2]), size)
    tiling = TILING in get_method(method).capabilities
    if method == "optimize":
        from ..optimize import OptimizeOptions, estimate_optimize
        from ..options import build

        options["tile"] = tile
        options["memory_limit"] = limit / GB if limit is not None else None
        est = estimate_optimize(h, w, build(OptimizeOptions, dict(options)))
        way_out = "use a smaller --size, fewer --style-layers, or --optimizer adam"
    elif tiling and method in ("net", "adain"):  # the methods whose costs printsize has measured
        est = plan_tiles(method, w, h, tile, limit)
        way_out = (f"use --tile {max(64, (est.tile or 1024) // 2)} or a smaller --size" if est.tile
                   else "use --tile 1024 or a smaller --size")
    else:
        est = None
        way_out = "use a smaller --size"
    if args.estimate:
        if est is None:
            print(f"{method}: no estimate for this method at {w}x{h}")
        else:
            avail = f" (available: {limit / GB:.1f} GB)" if limit is not None else ""
            print(f"estimate: {est.text()}{avail}")
        return 0
    if est is not None:
        check_fits(est, limit, way_out)
    check_output_path(out, inputs, args.overwrite)  # before any slow work
    x = resize_long_side(c, size)
    del c
    saver = _intermediate_saver(out, args.save_every, inputs, args.overwrite) if method == "optimize" else None

    bar = ProgressLine(method, enabled=not args.quiet)

    def progress(ev: Any) -> None:
        bar(ev)
        if saver:
            saver(ev)

    try:
        stylizer = make_stylizer(method, styles, args.style_weights, progress=progress, **options)
        if est is not None and est.tile is not None and method != "optimize":
            result = stylize_tiled(stylizer, x, est.tile, progress)
        else:
            result = stylizer(x)
    finally:
        bar.close()
    save_image(result, out, bit_depth=args.bit_depth, dpi=dpi)
    rh, rw = result.shape[-2:]
    how = f", {est.tiles} tiles of {est.tile} px" if est is not None and est.tile else ""
    print(f"wrote {out} ({rw}x{rh}, {method}{how}{', 16-bit' if args.bit_depth == 16 else ''}) in "
          f"{time.perf_counter() - t0:.1f} s")
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
