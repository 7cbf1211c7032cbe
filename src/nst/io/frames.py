"""Pixels between numpy and torch: the one place arrays become tensors and back, and frames are sized.

Arrays are H x W x 3 uint8 RGB (what decoders, OpenCV and PIL give); tensors are N x 3 x H x W
float32 RGB in [0, 1] (what stylizers take). 8-bit rounding is round-half-up, `floor(x*255 + 0.5)`
after clamping, everywhere: an image saved as PNG, a video frame and a camera view of the same
tensor are the same bytes.

The conversions run in numpy on the CPU: on a loaded 2-core machine torch's elementwise ops on a
640x480 frame took ~35-80 ms against ~3-4 ms in numpy. The results are bit-identical (IEEE float32
either way, no fused operations).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import InputError, OptionError

_255 = np.float32(255.0)


def arrays_to_tensor(frames: Sequence[np.ndarray], device: torch.device | None = None, *,
                     channels_last: bool = False) -> torch.Tensor:
    """N arrays H x W x 3 uint8 RGB -> N x 3 x H x W float32 in [0, 1].

    `channels_last`: return the NHWC memory layout (a permuted view, no copy), which the AdaIN and
    network stylizers convert to anyway; otherwise a contiguous NCHW tensor. On a GPU `device` the
    uint8 frames are moved first (4x fewer bytes than float) and converted there.
    """
    u8 = np.stack([np.asarray(f) for f in frames])
    if u8.dtype != np.uint8 or u8.ndim != 4 or u8.shape[3] != 3:
        raise ValueError(f"expected H x W x 3 uint8 RGB arrays, got {u8.dtype} {u8.shape[1:]}")
    if device is not None and device.type != "cpu":
        x = torch.from_numpy(u8).to(device).permute(0, 3, 1, 2)
        x = x.float() if channels_last else x.contiguous().float()
        return x.div_(255.0)
    if channels_last:
        f = u8.astype(np.float32)
        f /= _255
        return torch.from_numpy(f).permute(0, 3, 1, 2)
    f = np.ascontiguousarray(u8.transpose(0, 3, 1, 2)).astype(np.float32)  # reorder as bytes: cheaper
    f /= _255
    return torch.from_numpy(f)


def array_to_tensor(arr: np.ndarray) -> torch.Tensor:
    """Any image array -> 1 x 3 x H x W float32 in [0, 1]: H x W or H x W x C (C = 1, 3, 4), uint8, uint16
    or float in [0, 1]. Grey is repeated to RGB; alpha is composited on white, as for image files."""
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4):
        raise InputError(f"array of shape {arr.shape} is not an HxW or HxWxC (C=1,3,4) image")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise InputError("zero-size image array")
    if arr.dtype == np.uint8 and arr.shape[2] == 3:
        return arrays_to_tensor([arr])
    if arr.dtype == np.uint8:
        x = arr.astype(np.float32) / _255
    elif arr.dtype == np.uint16:
        x = arr.astype(np.float32) / np.float32(65535.0)
    elif np.issubdtype(arr.dtype, np.floating):
        x = np.clip(arr.astype(np.float32), 0.0, 1.0)
    else:
        raise InputError(f"unsupported array dtype {arr.dtype}")
    if x.shape[2] == 4:
        a = x[:, :, 3:4]
        x = x[:, :, :3] * a + (1.0 - a)
    if x.shape[2] == 1:
        x = np.repeat(x, 3, axis=2)
    return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None]


def tensor_to_arrays(x: torch.Tensor) -> list[np.ndarray]:
    """N x 3 x H x W (or 3 x H x W) float in [0, 1] -> N arrays H x W x 3 uint8 RGB (C-contiguous).

    Clamped and rounded half up. A tensor on a GPU is rounded there, so only bytes cross the bus.
    """
    if x.dim() == 3:
        x = x[None]
    if x.dim() != 4 or x.shape[1] != 3:
        raise ValueError(f"expected N x 3 x H x W frames, got shape {tuple(x.shape)}")
    # torch's element-wise ops run on all threads (twice numpy's speed at 640x480 on 2 cores); the same
    # float32 operations in the same order as floor(clip(x * 255 + 0.5)), so the bytes are the same
    u8 = x.detach().float().mul(255.0).add_(0.5).clamp_(0.0, 255.0).to(torch.uint8)
    return list(u8.permute(0, 2, 3, 1).contiguous().cpu().numpy())


def quantize(x: torch.Tensor) -> torch.Tensor:
    """Round a float image to 8 bits (what a PNG or an encoded frame keeps), as float again."""
    return (x.detach().float().clamp(0, 1) * 255.0 + 0.5).floor().div_(255.0)


def scaled_size(width: int, height: int, size: int | None) -> tuple[int, int]:
    """(width, height) scaled so that the long side is `size`, aspect kept (None: unchanged)."""
    if size is None:
        return width, height
    k = size / max(width, height)
    return max(1, round(width * k)), max(1, round(height * k))


def even_size(width: int, height: int) -> tuple[int, int]:
    """(width, height) rounded down to even numbers: H.264's yuv420p stores colour per 2x2 block."""
    return width - width % 2, height - height % 2


def resize(x: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """N x 3 x H x W -> N x 3 x height x width (bicubic, antialiased when shrinking, clamped to [0, 1])."""
    if tuple(x.shape[-2:]) == (height, width):
        return x
    return F.interpolate(x, size=(height, width), mode="bicubic", antialias=True, align_corners=False).clamp(0, 1)


def resize_long_side(x: torch.Tensor, size: int | None) -> torch.Tensor:
    """Resize N x 3 x H x W so that max(H, W) == size, keeping the aspect ratio (None: unchanged)."""
    if size is None:
        return x
    if size < 16:
        raise OptionError(f"size must be at least 16 pixels, got {size}")
    h, w = x.shape[-2:]
    return resize(x, *scaled_size(w, h, size))


__all__ = ["arrays_to_tensor", "array_to_tensor", "tensor_to_arrays", "quantize", "scaled_size", "even_size",
           "resize", "resize_long_side"]
