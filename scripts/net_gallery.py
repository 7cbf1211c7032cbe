"""Gallery for the README: each shipped network next to AdaIN for the same style, on bundled photos.

    python scripts/net_gallery.py [--size 512] [--out docs/gallery/net_vs_adain.jpg]
    python scripts/net_gallery.py --model paintings.pt --content a.jpg --content b.jpg --out sheet.jpg

One row per style: the style image, then for each photo the trained network's result and AdaIN's
result, each with its ms per image (after a warm-up; the same run, so the ratio holds on a loaded
machine). The styles are the shipped networks', or with --model every style of that multi-style
network. By default it uses only files inside the package, so it runs from a fresh clone.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from nst.examine import contact_sheet
from nst.io.image import load_image, resize_long_side, save_image, tensor_to_pil
from nst.methods import make_stylizer
from nst.registry import demo_content, get_style, shipped_models


def timed(stylizer: object, x: torch.Tensor) -> tuple[float, torch.Tensor]:
    """(ms, result) of one call after a warm-up call (the first call allocates, AdaIN encodes its style)."""
    with torch.inference_mode():
        stylizer(x)  # type: ignore[operator]
        t = time.perf_counter()
        y = stylizer(x)  # type: ignore[operator]
    return (time.perf_counter() - t) * 1000, y


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--content", action="append", default=None, help="photo (repeat for several)")
    p.add_argument("--model", default=None, help="a multi-style network: show each of its styles")
    p.add_argument("--out", default="docs/gallery/net_vs_adain.jpg")
    p.add_argument("--singles", default=None, help="also save each network result here (a folder)")
    args = p.parse_args(argv)
    photos = [load_image(c, size=args.size) for c in (args.content or [str(demo_content())])]
    if args.model:
        from nst.checkpoints import read_checkpoint

        names = list(read_checkpoint(args.model)["arch"]["styles"])
    else:
        names = list(shipped_models())
    tiles = []
    for name in names:
        net = make_stylizer("net", [name], model=args.model)  # the default engine and precision: the real speed
        ada = make_stylizer("adain", [name])
        style = resize_long_side(load_image(get_style(name).path), args.size)
        tiles.append((f"{name}", tensor_to_pil(style)))
        for i, x in enumerate(photos):
            ms, y = timed(net, x)
            ms_adain, a = timed(ada, x)
            tiles += [(f"net ({ms:.0f} ms)", tensor_to_pil(y)), (f"adain ({ms_adain:.0f} ms)", tensor_to_pil(a))]
            print(f"{name}: net {ms:.0f} ms, adain {ms_adain:.0f} ms at {x.shape[-1]}x{x.shape[-2]}")
            if args.singles:
                Path(args.singles).mkdir(parents=True, exist_ok=True)
                save_image(y, Path(args.singles) / f"net_{name}_{i}.jpg")
    if not tiles:
        print("no shipped networks", file=sys.stderr)
        return 1
    sheet = contact_sheet(tiles, tile=320, columns=1 + 2 * len(photos))
    save_image(sheet, args.out, quality=88)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
