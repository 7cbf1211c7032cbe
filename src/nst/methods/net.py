"""Method "net": a feed-forward network trained for one style (Johnson et al. 2016 with instance
norm), on one of the engines of `nst.engines` (torch, ONNX Runtime, OpenCV DNN).

The network carries its style, so no style image is read: the model is `model` (a checkpoint or an
ONNX file) or, without it, the network that ships for the one bundled style asked for.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import torch

from .. import losses as L
from ..device import PRECISIONS, pick_device
from ..engines import ENGINES, make_runner
from ..errors import OptionError
from ..options import option
from ..progress import ProgressCallback
from ..registry import model_file, shipped_model, shipped_models
from .base import STRENGTH, BaseStylizer, Method, StyleInput, register
from .common import file_identity


@dataclass
class NetOptions:
    """Settings of the trained-network method; the CLI's flags are generated from these fields."""

    model: str | None = option(None, help="trained network: a checkpoint (.pt) from `nst train` or an exported "
                               ".onnx file (default: the network that ships for the style)", metavar="PATH")
    engine: str = option("torch", help="inference engine for trained networks", choices=ENGINES)
    strength: float = option(1.0, help="0 = the photo, 1 = full style", min=0.0, max=1.0)
    preserve_color: str | None = option(None, help="keep the photo's colours: luminance-only transfer or "
                                        "colour histogram matching (Gatys et al. 2017)", choices=(None, "luminance"))
    precision: str = option("auto", help="bf16 autocast; auto uses it only where the hardware has native bf16",
                            choices=PRECISIONS)
    device: str | None = option(None, help="cpu, cuda, cuda:N (default: CUDA when present, else the CPU)")


def resolve_model(styles: Sequence[StyleInput], model: str | None) -> Path:
    """`model` when given, else the shipped network of the single bundled style in `styles`."""
    if model is not None:
        return model_file(model)
    specs = [s.spec for s in styles]
    path = shipped_model(specs[0]) if len(specs) == 1 and specs[0] is not None else None
    if path is None:
        names = "+".join(s.name for s in styles) or "this style"
        raise OptionError(f"no trained network for {names} (styles with one: {', '.join(shipped_models()) or 'none'});"
                          " use --method adain, --model PATH, or train one with `nst train`")
    return path


class NetStylizer(BaseStylizer):
    """N x 3 x H x W RGB [0, 1] in, same size out (any H, W: the engines pad). `strength` below 1 blends
    the network's output with the photo."""

    capabilities = frozenset({STRENGTH})

    def __init__(self, model: Path, opts: NetOptions | None = None) -> None:
        self.opts = opts or NetOptions()
        device = pick_device(self.opts.device) if self.opts.engine == "torch" else torch.device("cpu")
        self.run, label = make_runner(model, self.opts.engine, self.opts.device, self.opts.precision)
        super().__init__(label, device)
        self.model = model
        self._identity = file_identity(model)

    @property
    def strength(self) -> float:
        return self.opts.strength

    def with_strength(self, strength: float) -> "NetStylizer":
        other = dataclasses.replace(self.opts, strength=min(1.0, max(0.0, float(strength))))
        clone = object.__new__(NetStylizer)
        clone.__dict__.update(self.__dict__)
        clone.opts = other
        return clone

    def config(self) -> dict[str, Any]:
        opts = {k: v for k, v in dataclasses.asdict(self.opts).items() if k not in ("device", "model")}
        return {"method": "net", "model": self._identity, "options": opts}

    def _stylize(self, frames: torch.Tensor) -> torch.Tensor:
        out = self.run(frames)
        x = frames.to(out.device)
        if self.opts.preserve_color == "luminance":
            out = L.luminance_transfer(out, x)
        if self.opts.strength < 1.0:
            out = torch.lerp(x, out, self.opts.strength)
        return out


def build(styles: Sequence[StyleInput], weights: Sequence[float] | None, opts: NetOptions,
          progress: ProgressCallback | None) -> NetStylizer:
    if weights is not None and len(styles) > 1:
        raise OptionError("a trained network paints one style; blend styles with --method adain or optimize")
    return NetStylizer(resolve_model(styles, opts.model), opts)


METHOD = register(Method("net", NetOptions, build, frozenset({STRENGTH}), uses_style_images=False,
                         summary="a feed-forward network trained for the style: a fraction of a second"))
