"""`examine`: every chosen style on one photo by the fast path, plus a labelled contact sheet.

The classic OpenCV examine script ran each model on one image and printed each one's time; we do
the same and also lay the results out on one sheet (original first, each result named below it).
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Callable, Sequence

import torch
from PIL import Image, ImageDraw, ImageFont

from .errors import OutputError
from .io.image import check_output_path, load_image, resize_long_side, save_image, tensor_to_pil
from .methods import make_stylizer, resolve_method
from .options import check_size
from .registry import resolve_style, style_label, styles


def parse_styles(spec: str | Sequence[str]) -> list[str]:
    """'all' or 'a,b,c' (names or paths) -> list of style specs; names are checked."""
    items = [s.strip() for s in spec.split(",")] if isinstance(spec, str) else list(spec)
    items = [s for s in items if s]
    if items == ["all"] or not items:
        return list(styles())
    for s in items:
        resolve_style(s)  # raises for an unknown name, with suggestions
    return items


def contact_sheet(tiles: Sequence[tuple[str, Image.Image]], tile: int = 256, columns: int | None = None) -> Image.Image:
    """Lay out (label, image) pairs in a grid, each image fitted into tile x tile, label below."""
    n = len(tiles)
    cols = columns or min(n, max(1, math.ceil(math.sqrt(n * 1.5))))
    rows = math.ceil(n / cols)
    font_px = max(12, tile // 14)
    try:
        font: ImageFont.ImageFont | ImageFont.FreeTypeFont = ImageFont.load_default(size=font_px)
    except TypeError:  # Pillow < 10.1 has no sized default font
        font = ImageFont.load_default()
    thumbs = []
    for label, img in tiles:
        t = img.copy()
        t.thumbnail((tile, tile), Image.Resampling.LANCZOS)
        thumbs.append((label, t))
    cell_h = max(t.height for _, t in thumbs)  # rows as tall as the tallest thumbnail, not square
    pad, label_h = 8, font_px + 10
    sheet = Image.new("RGB", (cols * (tile + pad) + pad, rows * (cell_h + label_h + pad) + pad), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (label, thumb) in enumerate(thumbs):
        r, c = divmod(i, cols)
        x0 = pad + c * (tile + pad)
        y0 = pad + r * (cell_h + label_h + pad)
        sheet.paste(thumb, (x0 + (tile - thumb.width) // 2, y0 + (cell_h - thumb.height) // 2))
        text = label
        while draw.textlength(text, font=font) > tile and len(text) > 2:
            text = text[:-2] + "…"
        tw = draw.textlength(text, font=font)
        draw.text((x0 + (tile - tw) / 2, y0 + cell_h + 3), text, fill="black", font=font)
    return sheet


def examine(content: str | Path, style_spec: str | Sequence[str], outdir: Path, size: int = 512,
            overwrite: bool = False, device: str | None = None,
            on_result: Callable[[str, float, Path], None] | None = None) -> Path:
    """Stylise `content` with each style (fast path: its trained network if it ships one, else AdaIN),
    save each result and a contact sheet in `outdir`; each tile is labelled "style (method)".

    Returns the sheet's path. `on_result(label, seconds, path)` is called after each style.
    """
    check_size(size)
    names = parse_styles(style_spec)
    content = Path(content)
    if outdir.exists() and not outdir.is_dir():
        raise OutputError(f"{outdir}: exists and is not a directory")
    outdir.mkdir(parents=True, exist_ok=True)
    stem = content.stem
    outs = [outdir / f"{stem}_{style_label(s)}.png" for s in names]
    sheet_path = outdir / f"{stem}_sheet.png"
    for p in outs + [sheet_path]:
        check_output_path(p, [content] + [resolve_style(s) for s in names], overwrite)
    x = resize_long_side(load_image(content), size)
    tiles = [("original", tensor_to_pil(x))]
    for spec, out in zip(names, outs):
        method = resolve_method("auto", [spec])
        stylizer = make_stylizer(method, [spec], device=device)
        t = time.perf_counter()
        with torch.inference_mode():
            y = stylizer(x)
        dt = time.perf_counter() - t
        save_image(y, out)
        tiles.append((f"{style_label(spec)} ({method})", tensor_to_pil(y)))
        if on_result:
            on_result(style_label(spec), dt, out)
    save_image(contact_sheet(tiles), sheet_path)
    return sheet_path
