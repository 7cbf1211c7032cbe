"""Print output: 16-bit RGB PNG and TIFF with an embedded sRGB ICC profile and the resolution (DPI),
and print sizes ("30x20cm") as pixel sizes.

Pillow writes 16-bit images in single-channel modes only, so the two 16-bit RGB encoders are here:
PNG (IHDR bit depth 16, iCCP, pHYs, the "Up" filter, zlib) and baseline TIFF (16 bits per sample,
Adobe Deflate with horizontal differencing, the ICC profile as tag 34675, X/YResolution in inches).
Both are read back by libpng/libtiff readers (OpenCV, GIMP, Photoshop) and by `read_16bit` here.
The 16 bits come from the float result (`round(x * 65535)`), never from an 8-bit image.
"""

from __future__ import annotations

import math
import re
import struct
import zlib
from functools import lru_cache
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch

from ..errors import OptionError, OutputError

#: Bounds of --dpi and of a print's sides.
MIN_DPI, MAX_DPI = 1, 9600
MAX_PRINT_CM = 1000.0
UNITS_CM = {"cm": 1.0, "mm": 0.1, "in": 2.54}
BIT_DEPTHS = (8, 16)
FORMATS_16 = (".png", ".tif", ".tiff")


@lru_cache(maxsize=1)
def srgb_profile() -> bytes:
    """An sRGB ICC profile (LittleCMS's built-in sRGB, via Pillow's ImageCms)."""
    from PIL import ImageCms

    return bytes(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())


def check_dpi(value: object, name: str = "dpi") -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (isinstance(value, float) and (
            not math.isfinite(value) or not value.is_integer())):
        raise OptionError(f"must be a whole number from {MIN_DPI} to {MAX_DPI}, not {value!r}", field=name)
    if not MIN_DPI <= int(value) <= MAX_DPI:
        raise OptionError(f"must be between {MIN_DPI} and {MAX_DPI}, not {int(value)}", field=name)
    return int(value)


_PRINT = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*[x×]\s*([0-9]*\.?[0-9]+)\s*(cm|mm|in)\s*$", re.IGNORECASE)


def parse_print(text: str) -> tuple[float, float]:
    """"30x20cm", "12x8in", "300x200mm" -> (width, height) in inches; OptionError naming --print."""
    m = _PRINT.match(str(text))
    if not m:
        raise OptionError(f"must be WIDTHxHEIGHT with a unit, e.g. 30x20cm, 12x8in or 300x200mm, not {text!r}",
                          field="print_size")
    w, h, unit = float(m.group(1)), float(m.group(2)), m.group(3).lower()
    cw, ch = w * UNITS_CM[unit], h * UNITS_CM[unit]
    if not (cw > 0 and ch > 0) or max(cw, ch) > MAX_PRINT_CM:
        raise OptionError(f"sides must be greater than 0 and at most {MAX_PRINT_CM:g} cm, not {text!r}",
                          field="print_size")
    return cw / 2.54, ch / 2.54


def print_pixels(print_in: tuple[float, float], dpi: int, image_wh: tuple[int, int]) -> tuple[int, int]:
    """The output size (w, h) for a print of print_in inches at `dpi`: the image, aspect kept, fitted
    inside the print (the long side of whichever side limits it)."""
    pw, ph = print_in[0] * dpi, print_in[1] * dpi
    w, h = image_wh
    k = min(pw / w, ph / h)
    return max(1, round(w * k)), max(1, round(h * k))


def to_uint16(x: torch.Tensor) -> np.ndarray:
    """1 x 3 x H x W float [0, 1] -> H x W x 3 uint16 (rounded from the float values)."""
    if x.dim() == 4:
        if x.shape[0] != 1:
            raise ValueError(f"expected a single image, got a batch of {x.shape[0]}")
        x = x[0]
    a = x.detach().float().clamp(0, 1).mul(65535.0).add_(0.5).permute(1, 2, 0).cpu().numpy()
    return a.astype(np.uint16)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def write_png16(f: BinaryIO, a: np.ndarray, dpi: int | None, icc: bytes | None, level: int = 6) -> None:
    """H x W x 3 uint16 -> 16-bit RGB PNG (filter Up on every row), with iCCP and pHYs when given."""
    h, w, _ = a.shape
    f.write(b"\x89PNG\r\n\x1a\n")
    f.write(_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)))
    if icc is not None:
        f.write(_chunk(b"iCCP", b"sRGB\x00\x00" + zlib.compress(icc)))
    if dpi is not None:
        ppm = round(dpi / 0.0254)
        f.write(_chunk(b"pHYs", struct.pack(">IIB", ppm, ppm, 1)))
    comp = zlib.compressobj(level)
    rows = 256
    prev = np.zeros((1, w * 6), np.uint8)
    for y0 in range(0, h, rows):
        block = np.ascontiguousarray(a[y0:y0 + rows], dtype=">u2").view(np.uint8).reshape(-1, w * 6)
        up = block - np.concatenate([prev, block[:-1]])  # filter Up: the byte above, mod 256
        prev = block[-1:]
        data = np.concatenate([np.full((block.shape[0], 1), 2, np.uint8), up], axis=1)
        out = comp.compress(data.tobytes())
        if out:
            f.write(_chunk(b"IDAT", out))
    f.write(_chunk(b"IDAT", comp.flush()))
    f.write(_chunk(b"IEND", b""))


def write_tiff16(f: BinaryIO, a: np.ndarray, dpi: int | None, icc: bytes | None, level: int = 6) -> None:
    """H x W x 3 uint16 -> little-endian baseline TIFF, 16 bits per sample, Adobe Deflate with horizontal
    differencing (predictor 2), strips of 64 rows, ICC profile (tag 34675) and resolution when given."""
    h, w, _ = a.shape
    rows = 64
    strips = []
    for y0 in range(0, h, rows):
        block = a[y0:y0 + rows].astype(np.int32)
        diff = block.copy()
        diff[:, 1:] -= block[:, :-1]
        strips.append(zlib.compress((diff & 0xFFFF).astype("<u2").tobytes(), level))
    entries: list[tuple[int, int, int, bytes]] = []  # tag, type, count, value bytes

    def add(tag: int, typ: int, values: list[int] | bytes) -> None:
        if typ == 7:
            assert isinstance(values, bytes)
            entries.append((tag, typ, len(values), values))
            return
        fmt = {3: "<H", 4: "<I", 5: "<II"}[typ]
        if typ == 5:
            data = b"".join(struct.pack(fmt, v, 1) for v in values)  # type: ignore[union-attr]
        else:
            data = b"".join(struct.pack(fmt, v) for v in values)  # type: ignore[union-attr]
        entries.append((tag, typ, len(values), data))

    add(256, 4, [w])
    add(257, 4, [h])
    add(258, 3, [16, 16, 16])
    add(259, 3, [8])  # Adobe Deflate
    add(262, 3, [2])  # RGB
    add(273, 4, [0] * len(strips))  # StripOffsets, filled in below
    add(277, 3, [3])
    add(278, 4, [rows])
    add(279, 4, [len(s) for s in strips])
    if dpi is not None:
        add(282, 5, [dpi])
        add(283, 5, [dpi])
    add(284, 3, [1])  # chunky
    if dpi is not None:
        add(296, 3, [2])  # inches
    add(317, 3, [2])  # horizontal differencing
    add(339, 3, [1, 1, 1])  # unsigned integers
    if icc is not None:
        add(34675, 7, icc)
    entries.sort(key=lambda e: e[0])
    ifd_at = 8
    ifd_size = 2 + 12 * len(entries) + 4
    extra_at = ifd_at + ifd_size
    extra = bytearray()
    layout: list[tuple[int, int, int, bytes | int]] = []
    offsets_field: int | None = None
    for tag, typ, count, data in entries:
        if len(data) <= 4:
            layout.append((tag, typ, count, data.ljust(4, b"\x00")))
        else:
            pos = extra_at + len(extra)
            if tag == 273:
                offsets_field = len(extra)
            extra += data
            if len(extra) % 2:
                extra += b"\x00"
            layout.append((tag, typ, count, pos))
    data_at = extra_at + len(extra)
    strip_offsets, pos = [], data_at
    for s in strips:
        strip_offsets.append(pos)
        pos += len(s)
    packed = b"".join(struct.pack("<I", o) for o in strip_offsets)
    if len(strips) == 1:
        layout = [(t, ty, c, packed if t == 273 else v) for t, ty, c, v in layout]
    else:
        assert offsets_field is not None
        extra[offsets_field:offsets_field + len(packed)] = packed
    f.write(b"II*\x00" + struct.pack("<I", ifd_at))
    f.write(struct.pack("<H", len(layout)))
    for tag, typ, count, v in layout:
        f.write(struct.pack("<HHI", tag, typ, count) + (v if isinstance(v, bytes) else struct.pack("<I", v)))
    f.write(struct.pack("<I", 0))
    f.write(bytes(extra))
    for s in strips:
        f.write(s)


def save_16bit(x: torch.Tensor, path: str | Path, dpi: int | None = None, icc: bytes | None = None) -> Path:
    """Write x (1 x 3 x H x W float [0, 1]) as a 16-bit PNG or TIFF, atomically, with the sRGB profile
    (`icc`, default the built-in sRGB) and `dpi`."""
    from .atomic import atomic_write

    p = Path(path)
    ext = p.suffix.lower()
    if ext not in FORMATS_16:
        raise OutputError(f"{p}: 16-bit output is PNG or TIFF (.png, .tif, .tiff), not '{ext or '(none)'}'")
    a = to_uint16(x)
    with atomic_write(p) as f:
        (write_png16 if ext == ".png" else write_tiff16)(f, a, dpi, icc if icc is not None else srgb_profile())
    return p


__all__ = ["srgb_profile", "parse_print", "print_pixels", "check_dpi", "to_uint16", "write_png16", "write_tiff16",
           "save_16bit", "BIT_DEPTHS", "FORMATS_16", "MIN_DPI", "MAX_DPI"]
