"""Method "net": a feed-forward network trained for one style (Johnson et al. 2016 with instance
norm), on one of the engines of `nst.engines` (torch, ONNX Runtime, OpenCV DNN).

The network carries its style, so no style image is read: the model is `model` (a checkpoint or an
ONNX file) or, without it, the network that ships for the bundled style asked for. A multi-style
network (`nets.MultiStyleNet`) paints any of its styles, and blends of them: `style_weights` mix the
styles' norm parameters (Dumoulin et al. 2017). `strength` below 1 blends the output with the photo.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import torch

from .. import losses as L
from ..checkpoints import ADDON_FORMAT, MULTI_FORMAT, read_checkpoint
from ..device import PRECISIONS, pick_device
from ..engines import ENGINES, is_onnx, make_runner
from ..errors import OptionError
from ..optimize import blend_weights
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
    engine: str = option("auto", help="inference engine for trained networks (auto: the fastest by measurement: "
                         "torch in bf16 on CPUs with AMX, else ONNX Runtime where installed, else torch)",
                         choices=ENGINES)
    strength: float = option(1.0, help="0 = the photo, 1 = full style", min=0.0, max=1.0)
    preserve_color: str | None = option(None, help="keep the photo's colours: luminance-only transfer or "
                                        "colour histogram matching (Gatys et al. 2017)", choices=(None, "luminance"))
    precision: str = option("auto", help="torch: bf16 autocast (auto: only where the hardware has native bf16); "
                            "onnxruntime: int8 runs the convolutions quantised (auto: int8 where the CPU has VNNI)",
                            choices=PRECISIONS + ("int8",))
    device: str | None = option(None, help="cpu, cuda, cuda:N (default: CUDA when present, else the CPU)")


def resolve_model(styles: Sequence[StyleInput], model: str | None) -> Path:
    """`model` when given, else the network that ships for the bundled styles asked for (several
    styles need one multi-style network that paints them all)."""
    if model is not None:
        return model_file(model)
    paths = {shipped_model(s.spec) if s.spec is not None else None for s in styles}
    if len(paths) == 1 and None not in paths:
        return paths.pop()  # type: ignore[return-value]
    names = "+".join(s.name for s in styles) or "this style"
    one = "one trained network for" if len(styles) > 1 else "trained network for"
    raise OptionError(f"no {one} {names} (styles with one: {', '.join(shipped_models()) or 'none'}); use --method "
                      "adain, --model PATH, or train one with `nst train`")


class NetStylizer(BaseStylizer):
    """N x 3 x H x W RGB [0, 1] in, same size out (any H, W: the engines pad). `strength` below 1 blends
    the network's output with the photo."""

    capabilities = frozenset({STRENGTH})

    def __init__(self, model: Path, opts: NetOptions | None = None,
                 style_weights: dict[str, float] | None = None) -> None:
        self.opts = opts or NetOptions()
        device = pick_device(self.opts.device) if self.opts.engine == "torch" else torch.device("cpu")
        self.run, label = make_runner(model, self.opts.engine, self.opts.device, self.opts.precision,
                                      style_weights=style_weights)
        super().__init__(label, device)
        self.model = model
        self.style_weights = style_weights
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
        return {"method": "net", "model": self._identity, "styles": self.style_weights, "options": opts}

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
    path = resolve_model(styles, opts.model)
    ckpt = None if is_onnx(path) else read_checkpoint(path)
    multi = ckpt is not None and ckpt["format"] in (MULTI_FORMAT, ADDON_FORMAT)
    if not multi:  # the network carries its one style; names only pick a shipped file
        if len(styles) > 1:
            raise OptionError(f"{path.name} paints one style; blend styles with a multi-style network or "
                              "--method adain")
        return NetStylizer(path, opts)
    names = [s.spec or s.name for s in styles]
    if not names:  # the network's own default: its style add-on, or its only style
        return NetStylizer(path, opts)
    w = blend_weights(len(names), weights)
    mix: dict[str, float] = {}
    for name, v in zip(names, w):
        mix[name] = mix.get(name, 0.0) + v
    return NetStylizer(path, opts, mix)


METHOD = register(Method("net", NetOptions, build, frozenset({STRENGTH}), uses_style_images=False,
                         summary="a feed-forward network trained for the style: a fraction of a second"))
