"""What the methods share: style inputs and their identity (for `config()` and resume fingerprints)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import torch

from ..checkpoints import file_sha256
from ..io.image import ImageLike, load_image
from ..registry import resolve_style, style_label
from .base import StyleInput


def style_input(spec: ImageLike, index: int = 0, load: bool = True) -> StyleInput:
    """A style as the user gave it (bundled name, path, PIL image, array or tensor) -> StyleInput.

    `load=False` (methods whose model carries its style) checks nothing and reads no image.
    """
    if isinstance(spec, (str, os.PathLike)):
        text = str(spec)
        return StyleInput(style_label(text), load_image(resolve_style(text)) if load else None, text)
    return StyleInput(f"style{index + 1}", load_image(spec) if load else None, None)


def tensor_sha256(x: torch.Tensor) -> str:
    """SHA-256 of an image tensor's 8-bit values and shape: the same picture gives the same hash."""
    u8 = (x.detach().float().clamp(0, 1).cpu() * 255 + 0.5).to(torch.uint8).contiguous()
    h = hashlib.sha256(str(tuple(u8.shape)).encode())
    h.update(u8.numpy().tobytes())
    return h.hexdigest()


def style_identity(style: StyleInput) -> dict[str, Any]:
    """A JSON-able identity of one style: its name and a hash of its pixels."""
    return {"name": style.name, "sha256": tensor_sha256(style.image) if style.image is not None else None}


def file_identity(path: Path) -> dict[str, Any]:
    return {"file": path.name, "sha256": file_sha256(path)}
