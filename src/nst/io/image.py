"""Image files, bytes, PIL images and arrays <-> tensors, with the guards untrusted input needs.

Inside nst every image is RGB, float32, values in [0, 1], NCHW (N=1 for a single image).
Here we handle what real files bring: EXIF orientation, alpha (composited on white),
grayscale, palette, CMYK, 16-bit and float modes, truncated files and decompression bombs.
The pixel-count guard (`MAX_PIXELS`) applies to every input, in memory or not: an upload handed
over as bytes, a PIL image or an array is as untrusted as a file.
"""

from __future__ import annotations

import io
import os
import tempfile
import warnings
from pathlib import Path
from typing import BinaryIO, Union

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import InputError, OutputError
from .atomic import atomic_write, default_file_mode  # noqa: F401 (re-exported)
from .files import check_input_file
from .frames import array_to_tensor, resize_long_side, tensor_to_arrays

ImageLike = Union[str, os.PathLike, bytes, Image.Image, np.ndarray, torch.Tensor]

#: Largest image we decode (pixels). PIL warns at 89 MP and fails at 179 MP; we refuse at
#: 100 MP to protect memory (an RGB float32 tensor of that size is already 1.2 GB).
MAX_PIXELS = 100_000_000

WRITE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".tif": "TIFF", ".tiff": "TIFF", ".webp": "WEBP"}


def check_size(width: int, height: int, label: str = "image", what: str = "image") -> None:
    """The size half of the image guard, for a size known before decoding (a file's header, a video's
    frames): at least 1 pixel each way and at most MAX_PIXELS in all."""
    if width < 1 or height < 1:
        raise InputError(f"{label}: zero-size {what} ({width}x{height})")
    if width * height > MAX_PIXELS:
        raise InputError(f"{label}: {what} too large ({width}x{height}, more than {MAX_PIXELS // 1_000_000} "
                         "megapixels)")


def all_finite(x: torch.Tensor) -> bool:
    """No NaN or infinity in a float tensor: its min and max are finite (NaN propagates through both). One
    reduction pass and no N x C x H x W mask, so a camera frame pays ~3.6x less than isfinite().all()."""
    if x.numel() == 0:
        return True
    low, high = torch.aminmax(x.detach())
    return bool(torch.isfinite(low)) and bool(torch.isfinite(high))


def check_image(x: torch.Tensor, label: str = "image") -> torch.Tensor:
    """The one image guard, for every image that enters nst (files, arrays, PIL images, tensors, styles,
    training photos, video frames): N x 3 x H x W, a size `check_size` accepts, and finite values
    (NaN or infinity is refused, never turned into black). Returns `x`."""
    if x.dim() != 4 or x.shape[1] != 3:
        raise InputError(f"{label}: expected N x 3 x H x W pixels, got shape {tuple(x.shape)}")
    check_size(int(x.shape[-1]), int(x.shape[-2]), label)
    if x.is_floating_point() and not all_finite(x):
        raise InputError(f"{label}: has NaN or infinite pixel values (pixels must be finite, in [0, 1])")
    return x


def _too_large(label: str) -> InputError:
    return InputError(f"{label}: image too large (more than {MAX_PIXELS // 1_000_000} megapixels)")


def _decode(fp: str | BinaryIO, label: str) -> Image.Image:
    """Open and fully decode an image file or stream, refusing decompression bombs."""
    old_limit = Image.MAX_IMAGE_PIXELS
    try:
        Image.MAX_IMAGE_PIXELS = MAX_PIXELS
        with warnings.catch_warnings():
            # PIL only warns between MAX_IMAGE_PIXELS and twice that; treat the warning as fatal.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(fp)
            img.load()  # decode now, so truncated data fails here and not later
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _too_large(label) from None
    except UnidentifiedImageError:
        raise InputError(f"{label}: not an image file (or an unsupported format)") from None
    except (OSError, SyntaxError, ValueError) as e:
        # PIL reports truncated/corrupt data as OSError ("image file is truncated", "broken data stream")
        raise InputError(f"{label}: cannot decode image ({e})") from None
    finally:
        Image.MAX_IMAGE_PIXELS = old_limit
    check_size(img.width, img.height, label)
    return img


def _open_pil(path: Path) -> Image.Image:
    check_input_file(path, "image")  # by stat: a FIFO or a device is never opened
    return _decode(str(path), str(path))


def _open_bytes(data: bytes) -> Image.Image:
    if not data:
        raise InputError("image data: empty (0 bytes)")
    return _decode(io.BytesIO(data), "image data")


def to_srgb(img: Image.Image) -> Image.Image:
    """An RGB, RGBA or CMYK image with an embedded ICC profile converted to sRGB (LittleCMS, perceptual
    intent); anything else, an sRGB profile, or a profile LittleCMS cannot read is returned as it is
    (browsers also show an image whose profile is broken as if it were sRGB)."""
    icc = img.info.get("icc_profile")
    if not icc or img.mode not in ("RGB", "RGBA", "CMYK"):
        return img
    from PIL import ImageCms

    try:
        src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        desc = ImageCms.getProfileDescription(src).strip().lower()
        if img.mode != "CMYK" and (desc in ("srgb", "srgb built-in") or desc.startswith("srgb iec61966-2")):
            return img  # sRGB already (by its standard names; a look-alike is converted, which is harmless)
        out = ImageCms.profileToProfile(img, src, ImageCms.createProfile("sRGB"),
                                        outputMode="RGBA" if img.mode == "RGBA" else "RGB")
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return img
    return out if out is not None else img


def to_rgb(img: Image.Image) -> Image.Image:
    """Any PIL mode to 8-bit RGB: EXIF rotation applied, an ICC profile converted to sRGB (`to_srgb`), alpha
    composited on white, 16-bit scaled."""
    img = to_srgb(ImageOps.exif_transpose(img))
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        if not np.isfinite(arr).all():
            raise InputError("image: has NaN or infinite pixel values (pixels must be finite)")
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


def pil_to_tensor(img: Image.Image) -> torch.Tensor:
    """PIL image (any mode) -> 1x3xHxW float32 in [0, 1]."""
    return array_to_tensor(np.asarray(to_rgb(img)))


def png_bytes(arr: np.ndarray) -> bytes:
    """An H x W x 3 uint8 RGB array as a PNG file's bytes, fast: OpenCV's zlib with the RLE strategy, 2.2x
    faster than PIL's level 1 on stylised 512 px images (10 against 23 ms) and as small as PIL's level 6
    (stylised pixels are noisy: deflate's matching finds little, the Huffman and run coding does the work).
    For outputs written many at a time (batches, video frames); `save_image` keeps PIL (metadata, 16 bit)."""
    import cv2

    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3 or arr.size == 0:
        raise OutputError(f"cannot write a {arr.dtype} array of shape {arr.shape} as PNG (H x W x 3 uint8)")
    ok, buf = cv2.imencode(".png", cv2.cvtColor(np.ascontiguousarray(arr), cv2.COLOR_RGB2BGR),
                           [cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_RLE])
    if not ok:
        raise OutputError("could not encode the image as PNG")
    return buf.tobytes()


def tensor_to_pil(x: torch.Tensor) -> Image.Image:
    """1x3xHxW or 3xHxW tensor in [0, 1] -> 8-bit RGB PIL image (rounded, clamped)."""
    if x.dim() == 4 and x.shape[0] != 1:
        raise ValueError(f"expected a single image, got batch of {x.shape[0]}")
    return Image.fromarray(tensor_to_arrays(x)[0], "RGB")


def load_image(src: ImageLike, size: int | None = None) -> torch.Tensor:
    """Load a path, encoded bytes, PIL image, numpy array or tensor as a 1x3xHxW RGB float32 tensor in [0, 1].

    `size`, if given, sets the long side in pixels (aspect ratio kept).
    Raises InputError with a one-line message for anything unreadable or larger than MAX_PIXELS.
    """
    if isinstance(src, torch.Tensor):
        label = "image tensor"
        if src.dim() not in (3, 4) or src.shape[-3] != 3:
            raise InputError(f"tensor of shape {tuple(src.shape)} is not 3xHxW or 1x3xHxW")
        check_size(int(src.shape[-1]), int(src.shape[-2]), label)
        x = src.detach().float()
        if x.dim() == 3:
            x = x.unsqueeze(0)
        check_image(x, label)
        x = x.clamp(0, 1)
    elif isinstance(src, np.ndarray):
        label = "image array"
        if src.ndim >= 2:
            check_size(src.shape[1], src.shape[0], label)
        if np.issubdtype(src.dtype, np.floating) and not np.isfinite(src).all():  # before clipping hides inf
            raise InputError(f"{label}: has NaN or infinite pixel values (pixels must be finite, in [0, 1])")
        x = array_to_tensor(src)
    elif isinstance(src, Image.Image):
        label = "image"
        check_size(src.width, src.height, label)
        x = pil_to_tensor(src)
    elif isinstance(src, (bytes, bytearray, memoryview)):
        label = "image data"
        x = pil_to_tensor(_open_bytes(bytes(src)))
    elif isinstance(src, (str, os.PathLike)):
        label = str(src)
        x = pil_to_tensor(_open_pil(Path(src)))
    else:
        raise InputError(f"cannot read an image from {type(src).__name__}")
    check_image(x, label)
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


def save_image(x: torch.Tensor | Image.Image, path: str | os.PathLike, quality: int = 95, bit_depth: int = 8,
               dpi: int | None = None, icc: bool = False) -> Path:
    """Write an image atomically (temp file + rename); the format follows the extension.

    PNG, JPEG, TIFF and WebP. A crash mid-write never leaves a half-written file at `path`.
    bit_depth 16 (PNG or TIFF, from the float tensor) always embeds the sRGB ICC profile; `dpi` is
    written as the file's resolution, and with it (or `icc`) an 8-bit file gets the sRGB profile too.
    """
    from .print16 import save_16bit, srgb_profile

    p = Path(path)
    fmt = WRITE_FORMATS.get(p.suffix.lower())
    if fmt is None:
        raise OutputError(f"{p}: unsupported output format '{p.suffix}'")
    if bit_depth == 16:
        if isinstance(x, Image.Image):
            raise OutputError(f"{p}: 16-bit output needs the float result, not an 8-bit image")
        return save_16bit(x, p, dpi)
    img = x if isinstance(x, Image.Image) else tensor_to_pil(x)
    kwargs: dict = {"quality": quality} if fmt in ("JPEG", "WEBP") else {}
    if icc or dpi is not None:
        kwargs["icc_profile"] = srgb_profile()
    if dpi is not None and fmt != "WEBP":
        kwargs["dpi"] = (dpi, dpi)
    with atomic_write(p) as f:
        img.save(f, format=fmt, **kwargs)
    return p


__all__ = ["ImageLike", "MAX_PIXELS", "check_size", "check_image",
           "WRITE_FORMATS", "to_rgb", "pil_to_tensor", "tensor_to_pil", "resize_long_side",
           "load_image", "check_output_path", "save_image", "atomic_write", "default_file_mode"]
