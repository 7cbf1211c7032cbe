"""The Python API: `nst.stylize(content, style, method=..., **options) -> PIL.Image`."""

from __future__ import annotations

from typing import Any, Sequence, Union

import torch
from PIL import Image

from .errors import OptionError
from .io.image import ImageLike, check_image, load_image, resize_long_side, tensor_to_pil
from .methods import make_stylizer
from .methods.common import style_input
from .options import check_size
from .progress import ProgressCallback
from .registry import styles as _styles

StyleLike = Union[ImageLike, Sequence[ImageLike]]
DEFAULT_SIZE = 512


def load_style(spec: ImageLike) -> torch.Tensor:
    """A style given as a bundled style name, a path, a PIL image, an array or a tensor -> 1 x 3 x H x W."""
    image = style_input(spec).image
    assert image is not None  # style_input loads by default
    return image


def _style_list(style: StyleLike) -> list[ImageLike]:
    items: list[ImageLike] = list(style) if isinstance(style, (list, tuple)) else [style]  # type: ignore[list-item]
    if not items:
        raise OptionError("at least one style is needed")
    return items


def stylize_tensor(content: torch.Tensor, style: StyleLike, method: str = "auto", *, size: int | None = DEFAULT_SIZE,
                   style_weights: Sequence[float] | None = None, progress: ProgressCallback | None = None,
                   **options: Any) -> torch.Tensor:
    """Tensor version of `stylize`: 1 x 3 x H x W in, 1 x 3 x h x w out with long side `size` (None: as is)."""
    size = check_size(size)
    if not isinstance(content, torch.Tensor):
        raise OptionError(f"must be a tensor, not {type(content).__name__}", field="content")
    check_image(content, "content")
    stylizer = make_stylizer(method, _style_list(style), style_weights, progress=progress, **options)
    return stylizer(resize_long_side(content, size))


def stylize(content: ImageLike, style: StyleLike, method: str = "auto", *, size: int | None = DEFAULT_SIZE,
            style_weights: Sequence[float] | None = None, progress: ProgressCallback | None = None,
            **options: Any) -> Image.Image:
    """Stylise `content` with one or more styles and return a PIL image.

    content: a path, PIL image, H x W x C numpy array (uint8/uint16/float in [0, 1]) or tensor.
    style: the same, or a bundled style's name (see `nst.list_styles()`), or a list of them;
        `style_weights` blends several styles (non-negative, normalised to sum 1).
    method: "auto" (the fastest good method: a shipped network for a single bundled style, else
        adain), or a registered method: "net", "adain", "optimize" (`nst.methods.method_names()`).
    size: long side of the output in pixels (None keeps the photo's size).
    options: fields of the method's options (e.g. iterations=300 for optimize, strength=0.8,
        model="my.pt" and engine="onnxruntime" for net); unknown or out-of-range values raise
        `nst.OptionError` naming the field.
    progress: called with `nst.Progress` events (the library never prints).
    """
    styles = _style_list(style)
    return tensor_to_pil(stylize_tensor(load_image(content), styles, method, size=size, style_weights=style_weights,
                                        progress=progress, **options))


def list_styles() -> list[str]:
    """Names of the bundled styles."""
    return list(_styles())


__all__ = ["stylize", "stylize_tensor", "load_style", "list_styles"]
