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
from ..engines import ENGINES, is_onnx, make_runner, resolve_engine
from ..errors import OptionError
from ..optimize import blend_weights
from ..options import option
from ..progress import ProgressCallback
from ..registry import model_file, shipped_model, shipped_models
from .base import STRENGTH, TILING, BaseStylizer, Method, StyleInput, register
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
    the network's output with the photo.

    TILING: `for_image(whole, tile=N)` returns a stylizer whose instance norms use `whole`'s statistics,
    accumulated over tiles (a torch copy of the network: tiling needs a .pt model)."""

    capabilities = frozenset({STRENGTH, TILING})
    #: Tiles: origins on multiples of 8 (three stride-2 layers), 96 px of context (the receptive field's
    #: radius: ~7 px in the encoder, 80 in the ten 3x3 convolutions at 1/8, ~8 in the decoder).
    tile_multiple = 8
    tile_context = 96

    def __init__(self, model: Path, opts: NetOptions | None = None,
                 style_weights: dict[str, float] | None = None) -> None:
        self.opts = opts or NetOptions()
        device = pick_device(self.opts.device) if self.opts.engine == "torch" else torch.device("cpu")
        self.run, label = make_runner(model, self.opts.engine, self.opts.device, self.opts.precision,
                                      style_weights=style_weights)
        super().__init__(label, device)
        self.engine = resolve_engine(model, self.opts.engine)  # what "auto" chose: torch, onnxruntime or opencv
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

    def _tile_net(self) -> tuple[torch.nn.Module, torch.dtype]:
        from ..device import use_bf16
        from ..engines import load_model

        if is_onnx(self.model):
            raise OptionError(f"{self.model.name}: tiling needs the network as a .pt checkpoint (not ONNX); use "
                              "--tile off or a .pt model")
        net, _ = load_model(self.model, self.style_weights)
        precision = "auto" if self.opts.precision == "int8" else self.opts.precision
        dtype = torch.bfloat16 if use_bf16(precision, self.device) else torch.float32
        return net.to(self.device, dtype).eval(), dtype

    def stat_passes(self, stat_tiles: int) -> int:
        """Tile passes `for_image` makes (one per instance norm)."""
        from ..tiling import with_global_norms

        if getattr(self, "_norm_count", None) is None:
            self._norm_count = len(with_global_norms(self._tile_net()[0])[1])
        return int(self._norm_count) * stat_tiles

    def for_image(self, whole: torch.Tensor, tile: int | None = None, tick: Any = None) -> "NetStylizer":
        """A stylizer for tiles of `whole` (1 x 3 x H x W, H and W multiples of 8): every instance norm uses
        the statistics `whole` gives it, accumulated over tiles of `tile` px (None: one tile)."""
        from ..nets import pad_to_multiple, stylize_padded
        from ..tiling import accumulate_norm_stats, plan, with_global_norms

        net, dtype = self._tile_net()
        gnet, norms = with_global_norms(net)
        x, _ = pad_to_multiple(whole, self.tile_multiple)  # as the untiled pass pads
        h, w = x.shape[-2:]
        stat_tiles = plan(h, w, tile or max(h, w), 0, self.tile_context, self.tile_multiple)
        accumulate_norm_stats(gnet, norms, x, stat_tiles, lambda t: t.to(self.device, dtype).contiguous(), tick)

        def run(frames: torch.Tensor) -> torch.Tensor:
            with torch.inference_mode():
                return stylize_padded(gnet, frames.to(self.device, dtype)).float().contiguous()

        clone = object.__new__(NetStylizer)
        clone.__dict__.update(self.__dict__)
        clone.run = run
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


METHOD = register(Method("net", NetOptions, build, frozenset({STRENGTH, TILING}), uses_style_images=False,
                         summary="a feed-forward network trained for the style: a fraction of a second"))
