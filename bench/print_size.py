"""Print sizes: peak memory (measured from outside, /usr/bin/time -v) and wall time of `nst image` at 2K to 8K,
the estimate printed by `--estimate` beside each, a seam check and tiled against untiled at 2K.

    nice .venv/bin/python bench/print_size.py --content photo.png              # everything (~1 h here)
    nice .venv/bin/python bench/print_size.py --content photo.png --only ff    # net and adain only
    nice .venv/bin/python bench/print_size.py --content photo.png --only optimize --opt-iterations 2

The photo is centre-cropped to 16:9 so that --size 7680 gives 7680x4320. Outputs go to bench/out/.
Seam check: the mean gradient magnitude of the output in the bands where tiles were blended (the
overlaps, +-4 px) against everywhere else, on the 8K result; and on the 2K result tiled at 512 px.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path
from typing import Callable

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))

from results import stamp, table, write_section  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
NST = str(ROOT / ".venv" / "bin" / "nst")
OUT = Path(__file__).with_name("out")
SIZES = {"2K": 2048, "4K": 4096, "8K": 7680}


def crop_16_9(src: Path, dst: Path) -> Path:
    """The largest exactly 16:9 centre crop (width a multiple of 16), so --size 7680 gives 7680x4320."""
    from PIL import Image

    img = Image.open(src).convert("RGB")
    w, h = img.size
    cw = min(w, h * 16 // 9) // 16 * 16
    ch = cw * 9 // 16
    left, top = (w - cw) // 2, (h - ch) // 2
    img.crop((left, top, left + cw, top + ch)).save(dst)
    return dst


def measure(argv: list[str]) -> tuple[float, float, str]:
    """(peak RSS in GB, wall seconds, stdout) of one command, from /usr/bin/time -v."""
    p = subprocess.run(["/usr/bin/time", "-v"] + argv, capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"failed: {' '.join(argv)}\n{p.stderr[-2000:]}")
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr).group(1)) * 1024 / 2**30
    t = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", p.stderr).group(1)
    parts = [float(v) for v in t.split(":")]
    secs = sum(v * 60 ** i for i, v in enumerate(reversed(parts)))
    return rss, secs, p.stdout


def estimate(argv: list[str]) -> str:
    p = subprocess.run(argv + ["--estimate"], capture_output=True, text=True)
    line = p.stdout.strip().splitlines()[-1] if p.stdout.strip() else p.stderr.strip()
    return line.replace("estimate: ", "")


def seam_ratio(img: np.ndarray, tile: int) -> float:
    """Mean gradient magnitude in the tiles' blending bands (the overlaps, +-4 px) / in the strips 16-64 px
    on either side of each band (the same content, away from it): 1.0 = no seam."""
    from nst.tiling import OVERLAP, spans

    h, w = img.shape[:2]
    g = np.zeros((h, w))
    g[:, 1:] += np.abs(np.diff(img, axis=1)).mean(axis=2)
    g[1:, :] += np.abs(np.diff(img, axis=0)).mean(axis=2)
    band = np.zeros((h, w), bool)
    near = np.zeros((h, w), bool)
    for axis, length in ((0, h), (1, w)):
        sp = spans(-(-length // 8) * 8, tile, OVERLAP, 8)
        for (_, b), (c, _) in zip(sp[:-1], sp[1:]):
            lo, hi = max(0, c - 4), min(length, b + 4)
            sides = [(max(0, lo - 64), max(0, lo - 16)), (min(length, hi + 16), min(length, hi + 64))]
            for s0, s1 in [(lo, hi)] + sides:
                target = band if s0 == lo else near
                if axis == 0:
                    target[s0:s1, :] = True
                else:
                    target[:, s0:s1] = True
    near &= ~band
    if not band.any() or not near.any():
        return float("nan")
    return float(g[band].mean() / g[near].mean())


def read(path: Path) -> np.ndarray:
    import cv2

    a = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    return a[..., ::-1].astype(np.float64) / (65535.0 if a.dtype == np.uint16 else 255.0)


def feed_forward(content: Path, style: str, rows: list[list[object]], seams: list[list[object]]) -> None:
    for method in ("net", "adain"):
        for label, size in SIZES.items():
            out = OUT / f"print_{method}_{label}.png"
            argv = [NST, "image", str(content), "--style", style, "--method", method, "--size", str(size), "-o",
                    str(out), "--overwrite", "-q"]
            est = estimate(argv)
            rss, secs, stdout = measure(["nice"] + argv)
            m = re.search(r"(\d+) tiles of (\d+) px", stdout)
            how = f"{m.group(1)} tiles of {m.group(2)} px" if m else "one pass"
            rows.append([method, label, stdout.split("(")[1].split(",")[0], how, f"{rss:.2f}", f"{secs:.0f}", est])
            print(rows[-1], flush=True)
            if m:
                seams.append([method, label, m.group(2), f"{seam_ratio(read(out), int(m.group(2))):.3f}"])
                print(seams[-1], flush=True)


def tiled_vs_untiled(content: Path, style: str, rows: list[list[object]], seams: list[list[object]]) -> None:
    from nst.io.image import load_image, resize_long_side
    from nst.methods import make_stylizer
    from nst.tiling import stylize_tiled

    x = resize_long_side(load_image(content), 2048)
    for method, styles in (("net", [style]), ("adain", [style])):
        for precision in ("fp32", "auto"):
            s = make_stylizer(method, styles, precision=precision)
            with torch.inference_mode():
                whole = s(x)
                tiled = stylize_tiled(s, x, 512)
            d = (whole - tiled).abs()
            rows.append([method, precision, "512", f"{d.mean().item():.5f}", f"{d.max().item():.4f}"])
            img = tiled[0].permute(1, 2, 0).numpy().astype(np.float64)
            ref = whole[0].permute(1, 2, 0).numpy().astype(np.float64)
            seams.append([method, f"2K ({precision}), untiled", "512", f"{seam_ratio(ref, 512):.3f}"])
            seams.append([method, f"2K ({precision}), tiled", "512", f"{seam_ratio(img, 512):.3f}"])
            print(rows[-1], seams[-2:], flush=True)
    # the alternative to accumulating over tiles: instance-norm statistics from one pass at a lower resolution
    from nst.nets import pad_to_multiple, stylize_padded
    from nst.tiling import OVERLAP, blend, lowres_norm_stats, plan, with_global_norms

    s = make_stylizer("net", [style], precision="fp32")
    whole = s(x)
    net, _ = s._tile_net()
    xp, _ = pad_to_multiple(x, 8)
    for side in (1024, 512, 256):
        gnet, norms = with_global_norms(net)
        lowres_norm_stats(gnet, norms, xp, side, lambda t: t)
        tiles = plan(int(xp.shape[-2]), int(xp.shape[-1]), 512, OVERLAP, 96, 8)
        with torch.inference_mode():
            out = blend(lambda t, g=gnet: stylize_padded(g, t), xp, tiles)[..., :x.shape[-2], :x.shape[-1]]
        d = (out - whole).abs()
        rows.append(["net, statistics at long side " + str(side), "fp32", "512", f"{d.mean().item():.5f}",
                     f"{d.max().item():.4f}"])
        print(rows[-1], flush=True)


def optimize_runs(content: Path, style: str, rows: list[list[object]], iters: int, coarse: int,
                  sizes: list[int], limit: float, done: "Callable[[], None]") -> None:
    for size in sizes:
        out = OUT / f"print_optimize_{size}.png"
        argv = [NST, "image", str(content), "--style", style, "--method", "optimize", "--size", str(size), "-o",
                str(out), "--overwrite", "-q", "--iterations", str(iters), "--coarse-iterations", str(coarse),
                "--memory-limit", str(limit)]
        est = estimate(argv)
        rss, secs, stdout = measure(["nice"] + argv)
        rows.append([f"{size}", f"{iters} at the top scale, {coarse} at each coarser", f"{rss:.2f}", f"{secs:.0f}",
                     est])
        print(rows[-1], flush=True)
        done()  # the table so far, after every run


def gallery(src: Path, dst: Path, tile: int, crop: int = 540) -> tuple[int, int]:
    """docs/gallery image: the 8K result scaled down beside a 100% crop centred where tile seams cross (a
    box marks the crop on the small image); returns the crop's centre (x, y) in the 8K image."""
    from PIL import Image, ImageDraw

    from nst.tiling import OVERLAP, spans

    img = Image.open(src).convert("RGB")
    w, h = img.size
    xs, ys = spans(-(-w // 8) * 8, tile, OVERLAP, 8), spans(-(-h // 8) * 8, tile, OVERLAP, 8)
    cx = (xs[0][1] + xs[1][0]) // 2 if len(xs) > 1 else w // 2
    cy = (ys[0][1] + ys[1][0]) // 2 if len(ys) > 1 else h // 2
    box = (cx - crop // 2, cy - crop // 2, cx + crop // 2, cy + crop // 2)
    part = img.crop(box)
    small = img.resize((round(w * crop / h), crop), Image.LANCZOS)
    k = crop / h
    ImageDraw.Draw(small).rectangle([round(v * k) for v in box], outline=(255, 255, 255), width=2)
    sheet = Image.new("RGB", (small.width + 8 + crop, crop), (255, 255, 255))
    sheet.paste(small, (0, 0))
    sheet.paste(part, (small.width + 8, 0))
    sheet.save(dst, quality=88)
    return cx, cy


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--content", required=True)
    ap.add_argument("--style", default="starry_night")
    ap.add_argument("--only", choices=("ff", "diff", "optimize"), default=None)
    ap.add_argument("--opt-iterations", type=int, default=2)
    ap.add_argument("--opt-coarse", type=int, default=5)
    ap.add_argument("--opt-sizes", default="1024,2048,4096")
    ap.add_argument("--opt-memory-limit", type=float, default=10.0, help="GB (--memory-limit of the runs)")
    ap.add_argument("--opt-section", default="optimize", help="RESULTS.md section name suffix")
    ap.add_argument("--gallery", default=None, metavar="TILE",
                    help="only write docs/gallery/print_8k_crop.jpg from bench/out/print_net_8K.png (tiled at TILE px)")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    OUT.mkdir(exist_ok=True)
    if args.gallery:
        dst = ROOT / "docs" / "gallery" / "print_8k_crop.jpg"
        print("crop centred at", gallery(OUT / "print_net_8K.png", dst, int(args.gallery)), "->", dst)
        return
    content = OUT / f"print_content_{Path(args.content).stem}_16x9.png"
    if not content.exists():  # (another run of this script may be reading it)
        crop_16_9(Path(args.content), content)
    if args.only in (None, "ff"):
        rows: list[list[object]] = []
        seams: list[list[object]] = []
        feed_forward(content, args.style, rows, seams)
        body = (f"{stamp()} `nst image PHOTO --style {args.style} --method M --size S` (--tile auto), photo "
                f"{Path(args.content).name} cropped to 16:9; peak RSS and wall time from `/usr/bin/time -v`; "
                "the estimate is what `--estimate` printed before the run.\n\n"
                + table(["method", "size", "pixels", "tiling (auto)", "peak RSS GB", "wall s", "--estimate"], rows)
                + "\n\nSeams (mean gradient magnitude within 4 px of the blending bands / in the strips 16-64 px "
                "either side of them; 1.000 = no seam):\n\n" + table(["method", "size", "tile", "ratio"], seams))
        if not args.no_write:
            write_section("Print size: net and adain to 8K (bench/print_size.py)", body)
    if args.only in (None, "diff"):
        rows, seams = [], []
        tiled_vs_untiled(content, args.style, rows, seams)
        body = (f"{stamp()} 2048x1152, tiles of 512 px forced (`nst.tiling.stylize_tiled`) against one pass; "
                "RGB in [0, 1]. auto precision is bf16 on this CPU.\n\n"
                + table(["method", "precision", "tile", "mean abs diff", "max abs diff"], rows)
                + "\n\nSeam ratio of the same images (blending bands / the strips 16-64 px either side; the "
                "untiled row measures the same bands on the one-pass image):\n\n"
                + table(["method", "image", "tile", "ratio"], seams))
        if not args.no_write:
            write_section("Print size: tiled against untiled at 2K (bench/print_size.py)", body)
    if args.only in (None, "optimize"):
        rows = []

        def write() -> None:
            body = (f"{stamp()} `nst image PHOTO --style {args.style} --method optimize --size S --iterations N "
                    f"--coarse-iterations K --memory-limit {args.opt_memory_limit:g}` (coarse-to-fine from 128 px; "
                    "K = 0 skips the coarser scales; scales that do not fit the limit are tiled, with the L-BFGS "
                    "history sized to it): the iterations are cut to fit this session, so the times are for those "
                    "iterations only.\n\n"
                    + table(["long side", "iterations", "peak RSS GB", "wall s", "--estimate"], rows))
            if not args.no_write:
                write_section(f"Print size: {args.opt_section} (bench/print_size.py)", body)

        optimize_runs(content, args.style, rows, args.opt_iterations, args.opt_coarse,
                      [int(v) for v in args.opt_sizes.split(",")], args.opt_memory_limit, write)


if __name__ == "__main__":
    main()
