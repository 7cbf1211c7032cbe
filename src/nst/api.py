"""The Python API: `nst.stylize(content, style, method=..., **options) -> PIL.Image`."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, Sequence, Union

import torch
from PIL import Image

from .errors import OptionError
from .image_io import ImageLike, load_image, resize_long_side, tensor_to_pil
from .optimize import OptimizeOptions, optimize
from .progress import ProgressCallback
from .registry import get_style, resolve_style
from .stylizer import AdaINOptions, AdaINStylizer

METHODS = ("auto", "optimize", "adain", "net")
StyleLike = Union[ImageLike, Sequence[ImageLike]]


def load_style(spec: ImageLike) -> torch.Tensor:
    """A style given as a bundled style name, a path, a PIL image, an array or a tensor -> 1x3xHxW."""
    if isinstance(spec, (str, os.PathLike)):
        return load_image(resolve_style(str(spec)))
    return load_image(spec)


def resolve_method(method: str, styles: Sequence[ImageLike]) -> str:
    """'auto' picks the fastest good method: a trained network for a single named style that has one,
    else AdaIN. `optimize` is never chosen automatically: it is the slow, best-quality method."""
    if method not in METHODS:
        raise OptionError(f"unknown method '{method}' (use {', '.join(METHODS)})")
    if method != "auto":
        return method
    if len(styles) == 1 and isinstance(styles[0], str):
        from .stylizer import get_model_path

        if get_model_path(styles[0]) is not None:
            return "net"
    return "adain"


def _options(cls: type, options: dict[str, Any]) -> Any:
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(options) - names)
    if unknown:
        raise OptionError(f"unknown option(s) for this method: {', '.join(unknown)}")
    return cls(**options)


def stylize_tensor(content: torch.Tensor, styles: Sequence[torch.Tensor], method: str = "auto",
                   style_weights: Sequence[float] | None = None, progress: ProgressCallback | None = None,
                   style_names: Sequence[object] | None = None, **options: Any) -> torch.Tensor:
    """Tensor version of `stylize`: 1x3xHxW in, 1x3xhxw out (long side = options['size'], default 512).

    For method "net", `options` may hold `model` (checkpoint/ONNX path) and `engine`; without a model
    the shipped network of the single bundled style in `style_names` is used.
    """
    method = resolve_method(method, list(style_names) if style_names else styles)  # type: ignore[arg-type]
    if method == "optimize":
        size = options.pop("size", 512)  # optimize() keeps the size it is given
        opts = _options(OptimizeOptions, options)
        return optimize(resize_long_side(content, size), styles, opts, style_weights, progress=progress)
    if method == "net":
        from .stylizer import NetOptions, NetStylizer, net_model_for

        model = net_model_for(list(style_names or styles), options.pop("model", None))
        engine = options.pop("engine", "torch")
        size = options.pop("size", 512)
        nopts = _options(NetOptions, options)
        return NetStylizer(model, engine, nopts)(resize_long_side(content, size))
    aopts = _options(AdaINOptions, options)
    x = resize_long_side(content, aopts.size)
    return AdaINStylizer(styles, style_weights, aopts)(x)


def stylize(content: ImageLike, style: StyleLike, method: str = "auto", *,
            style_weights: Sequence[float] | None = None, progress: ProgressCallback | None = None,
            **options: Any) -> Image.Image:
    """Stylise `content` with one or more styles and return a PIL image.

    content: a path, PIL image, HxWxC numpy array (uint8/uint16/float in [0, 1]) or tensor.
    style: the same, or a bundled style's name (see `nst.list_styles()`), or a list of them;
        `style_weights` blends several styles (non-negative, normalised to sum 1).
    method: "auto" (fastest good method: a shipped network for a single bundled style, else adain),
        "net" (a trained network: model=PATH, engine="torch"|"onnxruntime"|"opencv"), "adain" or
        "optimize" (Gatys; slow, best quality).
    options: fields of OptimizeOptions or AdaINOptions (e.g. size=512, iterations=300, strength=0.8).
    progress: called with nst.Progress events (the library never prints).
    """
    styles_in: list[ImageLike] = list(style) if isinstance(style, (list, tuple)) else [style]  # type: ignore[list-item]
    if not styles_in:
        raise OptionError("at least one style is needed")
    c = load_image(content)
    s = [load_style(x) for x in styles_in]
    return tensor_to_pil(stylize_tensor(c, s, method, style_weights, progress, style_names=styles_in, **options))


def list_styles() -> list[str]:
    """Names of the bundled styles."""
    from .registry import styles

    return list(styles())


__all__ = ["stylize", "stylize_tensor", "load_style", "list_styles", "resolve_method", "get_style", "Path"]
