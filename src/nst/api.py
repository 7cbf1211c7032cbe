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
                   tile: "str | int" = "auto", **options: Any) -> torch.Tensor:
    """Tensor version of `stylize`: 1 x 3 x H x W in, 1 x 3 x h x w out with long side `size` (None: as is)."""
    from .memory import available_memory
    from .methods import TILING, resolve_method
    from .printsize import plan_tiles
    from .tiling import parse_tile, stylize_tiled

    size = check_size(size)
    tile = parse_tile(tile)
    if not isinstance(content, torch.Tensor):
        raise OptionError(f"must be a tensor, not {type(content).__name__}", field="content")
    check_image(content, "content")
    styles = _style_list(style)
    name = resolve_method(method, styles, options.get("model"))
    if name == "optimize":
        options["tile"] = tile
    stylizer = make_stylizer(name, styles, style_weights, progress=progress, **options)
    x = resize_long_side(content, size)
    if name in ("net", "adain") and TILING in stylizer.capabilities and x.shape[0] == 1:
        est = plan_tiles(name, int(x.shape[-1]), int(x.shape[-2]), tile, available_memory())
        if est.tile is not None:
            return stylize_tiled(stylizer, x, est.tile, progress)
    return stylizer(x)


def stylize(content: ImageLike, style: StyleLike, method: str = "auto", *, size: int | None = DEFAULT_SIZE,
            style_weights: Sequence[float] | None = None, progress: ProgressCallback | None = None,
            tile: "str | int" = "auto", **options: Any) -> Image.Image:
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
    tile: "auto" (tiles, with the whole image's statistics, when one pass would not fit the memory budget;
        optimize: the scales that do not fit), "off", or a tile size in pixels (`nst.tiling`).
    """
    styles = _style_list(style)
    return tensor_to_pil(stylize_tensor(load_image(content), styles, method, size=size, style_weights=style_weights,
                                        progress=progress, tile=tile, **options))


def list_styles() -> list[str]:
    """Names of the bundled styles."""
    return list(_styles())


__all__ = ["stylize", "stylize_tensor", "load_style", "list_styles"]
