"""The only place that converts image files and arrays to and from tensors.

Inside nst every image is RGB, float32, values in [0, 1], NCHW (N=1 for a single image).
Here we handle what real files bring: EXIF orientation, alpha (composited on white),
grayscale, palette, CMYK, 16-bit and float modes, truncated files and decompression bombs.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path
from typing import Union

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import InputError, OptionError, OutputError
from .io.atomic import atomic_write, default_file_mode  # noqa: F401 (re-exported)

ImageLike = Union[str, os.PathLike, Image.Image, np.ndarray, torch.Tensor]

#: Largest image we decode (pixels). PIL warns at 89 MP and fails at 179 MP; we refuse at
#: 100 MP to protect memory (an RGB float32 tensor of that size is already 1.2 GB).
MAX_PIXELS = 100_000_000

WRITE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".tif": "TIFF", ".tiff": "TIFF", ".webp": "WEBP"}


def _open_pil(path: Path) -> Image.Image:
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, not an image")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: empty file (0 bytes)")
    old_limit = Image.MAX_IMAGE_PIXELS
    try:
        Image.MAX_IMAGE_PIXELS = MAX_PIXELS
        with warnings.catch_warnings():
            # PIL only warns between MAX_IMAGE_PIXELS and twice that; treat the warning as fatal.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(path)
            img.load()  # decode now, so truncated data fails here and not later
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InputError(f"{path}: image too large (more than {MAX_PIXELS // 1_000_000} megapixels)") from None
    except UnidentifiedImageError:
        raise InputError(f"{path}: not an image file (or an unsupported format)") from None
    except (OSError, SyntaxError, ValueError) as e:
        # PIL reports truncated/corrupt data as OSError ("image file is truncated", "broken data stream")
        raise InputError(f"{path}: cannot decode image ({e})") from None
    finally:
        Image.MAX_IMAGE_PIXELS = old_limit
    if img.width == 0 or img.height == 0:
        raise InputError(f"{path}: zero-size image")
    return img


def to_rgb(img: Image.Image) -> Image.Image:
    """Any PIL mode to 8-bit RGB: EXIF rotation applied, alpha composited on white, 16-bit scaled."""
    img = ImageOps.exif_transpose(img)
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        hi = 65535.0 if img.mode.startswith("I;16") or arr.max() > 255 else 255.0
        if img.mode == "F" and arr.max() <= 1.0:
            hi = 1.0
        arr = np.clip(arr / hi * 255.0 + 0.5, 0, 255).astype(np.uint8)
        img = Image.fromarray(arr, "L")
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode in ("LA", "PA"):
        img = img.convert("RGBA")
    if img.mode == "RGBA" or img.mode == "RGBa":
        background = Image.new("RGB", img.size, (255, 255, 255))
        background.paste(img, mask=img.getchannel("A"))
        return background
    return img.convert("RGB")


def _from_array(arr: np.ndarray) -> torch.Tensor:
    """HxW, HxWx1, HxWx3 or HxWx4 array (uint8, uint16 or float in [0,1]) -> 1x3xHxW."""
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4):
        raise InputError(f"array of shape {arr.shape} is not an HxW or HxWxC (C=1,3,4) image")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise InputError("zero-size image array")
    if arr.dtype == np.uint8:
        x = arr.astype(np.float32) / 255.0
    elif arr.dtype == np.uint16:
        x = arr.astype(np.float32) / 65535.0
    elif np.issubdtype(arr.dtype, np.floating):
        x = np.clip(arr.astype(np.float32), 0.0, 1.0)
    else:
        raise InputError(f"unsupported array dtype {arr.dtype}")
    if x.shape[2] == 4:  # composite on white, as for files
        a = x[:, :, 3:4]
        x = x[:, :, :3] * a + (1.0 - a)
    if x.shape[2] == 1:
        x = np.repeat(x, 3, axis=2)
    return torch.from_numpy(np.ascontiguousarray(x)).permute(2, 0, 1).unsqueeze(0).contiguous()


def pil_to_tensor(img: Image.Image) -> torch.Tensor:
    """PIL image (any mode) -> 1x3xHxW float32 in [0, 1]."""
    return _from_array(np.asarray(to_rgb(img)))


def tensor_to_pil(x: torch.Tensor) -> Image.Image:
    """1x3xHxW or 3xHxW tensor in [0, 1] -> 8-bit RGB PIL image (rounded, clamped)."""
    if x.dim() == 4:
        if x.shape[0] != 1:
            raise ValueError(f"expected a single image, got batch of {x.shape[0]}")
        x = x[0]
    arr = (x.detach().float().clamp(0, 1) * 255.0 + 0.5).to(torch.uint8).permute(1, 2, 0).cpu().numpy()
    return Image.fromarray(arr, "RGB")


def resize_long_side(x: torch.Tensor, size: int | None) -> torch.Tensor:
    """Resize NCHW so that max(H, W) == size, keeping the aspect ratio (antialiased area-style)."""
    if size is None:
        return x
    if size < 16:
        raise OptionError(f"size must be at least 16 pixels, got {size}")
    h, w = x.shape[-2:]
    scale = size / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    if (nh, nw) == (h, w):
        return x
    return F.interpolate(x, size=(nh, nw), mode="bicubic", antialias=True, align_corners=False).clamp(0, 1)


def load_image(src: ImageLike, size: int | None = None) -> torch.Tensor:
    """Load a path, PIL image, numpy array or tensor as a 1x3xHxW RGB float32 tensor in [0, 1].

    `size`, if given, sets the long side in pixels (aspect ratio kept).
    Raises InputError with a one-line message for anything unreadable.
    """
    if isinstance(src, torch.Tensor):
        x = src.detach().float()
        if x.dim() == 3:
            x = x.unsqueeze(0)
        if x.dim() != 4 or x.shape[1] != 3:
            raise InputError(f"tensor of shape {tuple(src.shape)} is not 3xHxW or 1x3xHxW")
        x = x.clamp(0, 1)
    elif isinstance(src, np.ndarray):
        x = _from_array(src)
    elif isinstance(src, Image.Image):
        x = pil_to_tensor(src)
    elif isinstance(src, (str, os.PathLike)):
        x = pil_to_tensor(_open_pil(Path(src)))
    else:
        raise InputError(f"cannot read an image from {type(src).__name__}")
    return resize_long_side(x, size)


def check_output_path(out: str | os.PathLike, inputs: list[Path] | tuple[Path, ...] = (), overwrite: bool = False,
                      formats: dict[str, str] | None = None) -> Path:
    """Validate an output path before any work is done.

    Refuses: an unknown extension, a path equal to an input (always, even with overwrite),
    an existing file without `overwrite`, and a directory that does not exist or is not writable.
    """
    formats = WRITE_FORMATS if formats is None else formats
    p = Path(out)
    ext = p.suffix.lower()
    if ext not in formats:
        raise OutputError(f"{p}: unsupported output format '{ext or '(none)'}' (use {', '.join(sorted(set(formats)))})")
    for i in inputs:
        try:
            same = p.exists() and i.exists() and os.path.samefile(p, i)
        except OSError:
            same = False
        if same or p.resolve() == Path(i).resolve():
            raise OutputError(f"{p}: output path is the same as an input; refusing to overwrite it")
    if p.is_dir():
        raise OutputError(f"{p}: is a directory")
    if p.exists() and not overwrite:
        raise OutputError(f"{p}: already exists (use --overwrite to replace it)")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError(f"{p}: directory {parent} does not exist")
    try:  # really try: os.access says yes to root even on read-only file systems
        with tempfile.TemporaryFile(dir=parent):
            pass
    except OSError:
        raise OutputError(f"{p}: directory {parent} is not writable") from None
    return p


def save_image(x: torch.Tensor | Image.Image, path: str | os.PathLike, quality: int = 95) -> Path:
    """Write an image atomically (temp file + rename); the format follows the extension.

    PNG, JPEG, TIFF and WebP. A crash mid-write never leaves a half-written file at `path`.
    """
    p = Path(path)
    fmt = WRITE_FORMATS.get(p.suffix.lower())
    if fmt is None:
        raise OutputError(f"{p}: unsupported output format '{p.suffix}'")
    img = x if isinstance(x, Image.Image) else tensor_to_pil(x)
    kwargs: dict = {"quality": quality} if fmt in ("JPEG", "WEBP") else {}
    with atomic_write(p) as f:
        img.save(f, format=fmt, **kwargs)
    return p
