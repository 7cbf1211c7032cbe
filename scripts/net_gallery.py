"""Gallery for the README: each shipped network next to AdaIN for the same style, on bundled photos.

    /work/venv/bin/python scripts/net_gallery.py [--size 512] [--out docs/gallery/net_vs_adain.jpg]

One row per style: the style image, the trained network's result and AdaIN's result, each with its
ms per image (after a warm-up; the same run, so the ratio holds on a loaded machine). Uses only
files inside the package, so it runs from a fresh clone.
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


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--content", default=str(demo_content()))
    p.add_argument("--out", default="docs/gallery/net_vs_adain.jpg")
    p.add_argument("--singles", default=None, help="also save each network result here (a folder)")
    args = p.parse_args(argv)
    x = load_image(args.content, size=args.size)
    tiles = []
    for name in shipped_models():
        net = make_stylizer("net", [name], precision="fp32")
        with torch.inference_mode():
            net(x)  # warm-up: the first call allocates
        t = time.perf_counter()
        with torch.inference_mode():
            y = net(x)
        ms = (time.perf_counter() - t) * 1000
        ada = make_stylizer("adain", [name])
        with torch.inference_mode():
            ada(x)  # warm-up, and the style is encoded once
            t = time.perf_counter()
            a = ada(x)
        ms_adain = (time.perf_counter() - t) * 1000
        style = resize_long_side(load_image(get_style(name).path), args.size)
        tiles += [(f"{name}", tensor_to_pil(style)), (f"net ({ms:.0f} ms)", tensor_to_pil(y)),
                  (f"adain ({ms_adain:.0f} ms)", tensor_to_pil(a))]
        print(f"{name}: net {ms:.0f} ms, adain {ms_adain:.0f} ms at {x.shape[-1]}x{x.shape[-2]}")
        if args.singles:
            Path(args.singles).mkdir(parents=True, exist_ok=True)
            save_image(y, Path(args.singles) / f"net_{name}.jpg")
    if not tiles:
        print("no shipped networks", file=sys.stderr)
        return 1
    sheet = contact_sheet(tiles, tile=320, columns=3)
    save_image(sheet, args.out, quality=88)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
