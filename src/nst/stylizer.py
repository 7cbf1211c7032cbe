"""The seam every front end shares: a Stylizer maps a batch of frames to stylised frames.

Image, examine, video and camera all build a Stylizer once (style images encoded once, weights
loaded once) and then call it per frame or batch: `stylizer(x)` with x N x 3 x H x W RGB [0, 1]
returns N x 3 x H x W RGB [0, 1] at the same size.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, Sequence

import torch

from . import losses as L
from .adain import AdaINModel, blend_stats, get_adain
from .device import autocast, bf16_supported, pick_device
from .errors import OptionError
from .image_io import resize_long_side
from .optimize import OptimizeOptions, blend_weights, optimize


class Stylizer(Protocol):
    """Tensor in, tensor out (N x 3 x H x W, RGB [0, 1]); same size out as in."""

    name: str
    device: torch.device

    def __call__(self, frames: torch.Tensor) -> torch.Tensor: ...


@dataclass
class AdaINOptions:
    """Settings for the AdaIN method; the CLI derives its flags and defaults from these fields."""

    size: int | None = 512              # long side of the output (None: keep the input size)
    style_size: int = 512               # long side each style image is encoded at
    strength: float = 1.0               # alpha: 0 = decoder reconstruction of the content, 1 = full style
    preserve_color: str | None = None   # None | luminance | histogram
    precision: str = "auto"             # auto | fp32 | bf16 (auto: bf16 where the CPU/GPU has it natively)
    device: str | None = None

    def validate(self) -> None:
        if not 0.0 <= self.strength <= 1.0:
            raise OptionError(f"--strength must be between 0 and 1, not {self.strength}")
        if self.preserve_color not in (None, "luminance", "histogram"):
            raise OptionError(f"--preserve-color must be luminance or histogram, not '{self.preserve_color}'")
        if self.precision not in ("auto", "fp32", "bf16"):
            raise OptionError(f"--precision must be auto, fp32 or bf16, not '{self.precision}'")
        if self.style_size < 64 or (self.size is not None and self.size < 16):
            raise OptionError("sizes are too small")


class AdaINStylizer:
    """AdaIN with fixed, pre-encoded styles. Style statistics are computed once, here."""

    def __init__(self, styles: Sequence[torch.Tensor], weights: Sequence[float] | None = None,
                 opts: AdaINOptions | None = None, model: AdaINModel | None = None, name: str = "adain") -> None:
        self.opts = opts or AdaINOptions()
        self.opts.validate()
        self.name = name
        self.device = pick_device(self.opts.device)
        self.weights = blend_weights(len(styles), weights)
        self.model = model if model is not None else get_adain(self.device)
        self.use_bf16 = self.opts.precision == "bf16" or (self.opts.precision == "auto" and bf16_supported(self.device))
        self.styles = [resize_long_side(s.to(self.device), self.opts.style_size) for s in styles]
        self._stats: dict[tuple[int, ...], tuple[torch.Tensor, torch.Tensor]] = {}
        if self.opts.preserve_color != "histogram":
            self._set_stats(self.styles)

    @property
    def strength(self) -> float:
        return self.opts.strength

    @strength.setter
    def strength(self, value: float) -> None:
        self.opts.strength = min(1.0, max(0.0, value))

    def _set_stats(self, styles: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.inference_mode(), autocast(self.device, self.use_bf16):
            stats = [self.model.style_stats(s.contiguous(memory_format=torch.channels_last)) for s in styles]
        self.mean, self.std = blend_stats(stats, self.weights)
        return self.mean, self.std

    def __call__(self, frames: torch.Tensor) -> torch.Tensor:
        x = frames.to(self.device)
        if self.opts.preserve_color == "histogram":
            # The style's palette depends on the content, so its statistics are per frame.
            mean, std = self._set_stats([L.match_histogram(s, x[:1]) for s in self.styles])
        else:
            mean, std = self.mean, self.std
        with torch.inference_mode(), autocast(self.device, self.use_bf16):
            out = self.model(x.contiguous(memory_format=torch.channels_last), mean, std, self.opts.strength)
        if self.opts.preserve_color == "luminance":
            out = L.luminance_transfer(out, x)
        return out.contiguous()


class OptimizeStylizer:
    """Gatys optimisation per frame. With `warm_start`, each frame starts from the previous result
    (Ruder et al. 2016's simple variant, without optical flow) and needs fewer iterations.

    Warm-started frames run `warm_iterations` (default a quarter of `iterations`) at full size
    only: the previous result already has the coarse structure that the coarse scales would
    build. The first frame (no previous result) runs the full schedule. `previous` holds the last
    result rounded to 8 bits (1x3xHxW), so a video resumed from saved PNG frames continues
    exactly as an uninterrupted run would.
    """

    def __init__(self, styles: Sequence[torch.Tensor], weights: Sequence[float] | None = None,
                 opts: OptimizeOptions | None = None, name: str = "optimize", warm_start: bool = False,
                 warm_iterations: int | None = None) -> None:
        self.opts = opts or OptimizeOptions()
        self.opts.validate()
        self.name = name
        self.device = pick_device(self.opts.device)
        self.styles = list(styles)
        self.weights = weights
        self.progress = None
        self.warm_start = warm_start
        self.warm_iterations = warm_iterations
        self.previous: torch.Tensor | None = None

    def __call__(self, frames: torch.Tensor) -> torch.Tensor:
        outs = []
        for f in frames:
            init = self.previous if self.warm_start else None
            if init is not None and init.shape[-2:] == f.shape[-2:]:
                n = self.warm_iterations or max(1, self.opts.iterations // 4)
                opts = dataclasses.replace(self.opts, iterations=n, multiscale=False)
            else:
                init, opts = None, self.opts
            out = optimize(f[None], self.styles, opts, self.weights, progress=self.progress, init=init)
            if self.warm_start:
                out = (out.clamp(0, 1) * 255.0 + 0.5).floor() / 255.0  # what a saved frame keeps
                self.previous = out
            outs.append(out)
        return torch.cat(outs)


@dataclass
class NetOptions:
    """Settings for the trained-network method (Johnson et al. 2016); see nst.zoo for the engines."""

    size: int | None = None             # unused by the network itself (callers resize); kept for the API
    preserve_color: str | None = None   # None | luminance
    precision: str = "auto"             # auto | fp32 | bf16 (torch engine only)
    device: str | None = None

    def validate(self) -> None:
        if self.preserve_color not in (None, "luminance"):
            raise OptionError("trained networks support --preserve-color luminance only")
        if self.precision not in ("auto", "fp32", "bf16"):
            raise OptionError(f"--precision must be auto, fp32 or bf16, not '{self.precision}'")


class NetStylizer:
    """A trained feed-forward network on one of the engines of `nst.zoo` (torch, onnxruntime, opencv).

    `model`: a checkpoint (.pt), an exported .onnx file, or a bundled style name with a shipped
    network. N x 3 x H x W RGB [0, 1] in, same size out (any H, W: the engines pad to a multiple of 4).
    """

    def __init__(self, model: str, engine: str = "torch", opts: NetOptions | None = None) -> None:
        from .zoo import make_runner

        self.opts = opts or NetOptions()
        self.opts.validate()
        self.engine = engine
        self.device = pick_device(self.opts.device) if engine == "torch" else torch.device("cpu")
        self.run, self.name = make_runner(model, engine, self.opts.device, self.opts.precision)

    def __call__(self, frames: torch.Tensor) -> torch.Tensor:
        out = self.run(frames)
        if self.opts.preserve_color == "luminance":
            out = L.luminance_transfer(out, frames.to(out.device))
        return out


def get_model_path(style: str) -> "Path | None":
    """The shipped network file of a bundled style name, or None (paths and unknown names: None)."""
    from .registry import is_path_like, styles

    if is_path_like(style) or style not in styles():
        return None
    return styles()[style].model_path


def net_model_for(styles: Sequence[object], model: "str | Path | None" = None) -> str:
    """The network file for method "net": `model` when given, else the shipped network of the single
    bundled style in `styles`; a clear OptionError when there is none."""
    if model is not None:
        return str(model)
    names = [str(s) for s in styles if not isinstance(s, torch.Tensor)]
    path = get_model_path(names[0]) if len(styles) == 1 and len(names) == 1 else None
    if path is None:
        from .zoo import shipped_models

        raise OptionError(f"no trained network for {'+'.join(names) or 'this style'} "
                          f"(styles with one: {', '.join(shipped_models()) or 'none'}); use --method "
                          "adain, --model PATH, or train one with `nst train`")
    return str(path)


def make_stylizer(method: str, styles: Sequence[object], weights: Sequence[float] | None = None, *,
                  model: str | None = None, engine: str = "torch", **options: object) -> Stylizer:
    """Build the Stylizer for `method` ("adain", "optimize" or "net") from style names, paths or tensors.

    `options` are fields of that method's options dataclass. `model`/`engine` select a trained
    network and its inference engine for "net". The stylizer keeps the input size; resize frames
    before calling it.
    """
    from .api import _options, load_style

    name = "+".join(str(s) for s in styles if not isinstance(s, torch.Tensor)) or method
    if method == "net":  # the network carries its style: no style image is read
        return NetStylizer(net_model_for(styles, model), engine, _options(NetOptions, options))
    tensors = [s if isinstance(s, torch.Tensor) else load_style(s) for s in styles]  # type: ignore[arg-type]
    if method == "adain":
        return AdaINStylizer(tensors, weights, _options(AdaINOptions, options), name=name)
    if method == "optimize":
        return OptimizeStylizer(tensors, weights, _options(OptimizeOptions, options), name=name)
    raise OptionError(f"unknown method '{method}'")
