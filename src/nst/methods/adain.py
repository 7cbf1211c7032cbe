"""Method "adain": arbitrary style in one pass (Huang & Belongie 2017), with the pretrained VGG19
encoder and decoder of `nst.adain`.

Style statistics are computed once, when the stylizer is built. Strength and tiling never mutate
it: `with_strength` and `for_image` return new stylizers that share the model and the statistics.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from typing import Any, Sequence

import torch

from .. import losses as L
from ..adain import AdaINModel, Stats, blend_stats, get_adain
from ..device import PRECISIONS, autocast, pick_device, use_bf16
from ..io.image import resize_long_side
from ..memory import ADAIN_BYTES_PER_PIXEL, check_memory
from ..optimize import blend_weights
from ..options import option
from ..progress import ProgressCallback
from .base import STRENGTH, TILING, BaseStylizer, Method, StyleInput, register
from .common import style_identity


@dataclass
class AdaINOptions:
    """Settings of the AdaIN method; the CLI's flags are generated from these fields."""

    style_size: int = option(512, help="long side each style image is encoded at", min=64, max=4096)
    strength: float = option(1.0, help="0 = the photo (decoded), 1 = full style", min=0.0, max=1.0)
    preserve_color: str | None = option(None, help="keep the photo's colours: luminance-only transfer or "
                                        "colour histogram matching (Gatys et al. 2017)",
                                        choices=(None, "luminance", "histogram"))
    precision: str = option("auto", help="bf16 autocast; auto uses it only where the hardware has native bf16",
                            choices=PRECISIONS)
    device: str | None = option(None, help="cpu, cuda, cuda:N (default: CUDA when present, else the CPU)")


class AdaINStylizer(BaseStylizer):
    """AdaIN with fixed, pre-encoded styles; N x 3 x H x W RGB [0, 1] in, same size out (any H, W).

    `content_stats`, when set (by `for_image`), replaces each frame's own relu4_1 statistics: tiles
    of one image then share the whole image's statistics, so their colours and contrast match.
    """

    capabilities = frozenset({STRENGTH, TILING})
    #: Tiles: origins on multiples of 8 (three poolings), 64 px of context (receptive field radius of the
    #: encoder to relu4_1, 34 px, plus the decoder's, 30 px).
    tile_multiple = 8
    tile_context = 64

    def __init__(self, styles: Sequence[StyleInput], weights: Sequence[float] | None = None,
                 opts: AdaINOptions | None = None, model: AdaINModel | None = None) -> None:
        self.opts = opts or AdaINOptions()
        super().__init__("+".join(s.name for s in styles) or "adain", pick_device(self.opts.device))
        self.inputs = list(styles)
        self.weights = blend_weights(len(styles), weights)
        self.model = model if model is not None else get_adain(self.device)
        self.bf16 = use_bf16(self.opts.precision, self.device)
        self.styles = [resize_long_side(s.image.to(self.device), self.opts.style_size)  # type: ignore[union-attr]
                       for s in styles]
        self.content_stats: Stats | None = None
        self.style_stats: Stats | None = None
        if self.opts.preserve_color != "histogram":
            self.style_stats = self._stats(self.styles)

    @property
    def strength(self) -> float:
        return self.opts.strength

    def with_strength(self, strength: float) -> "AdaINStylizer":
        """A stylizer sharing the model and statistics, with another strength (clamped to [0, 1])."""
        other = copy.copy(self)
        other.opts = dataclasses.replace(self.opts, strength=min(1.0, max(0.0, float(strength))))
        return other

    def stat_passes(self, stat_tiles: int) -> int:
        return stat_tiles

    def for_image(self, whole: torch.Tensor, tile: int | None = None, tick: Any = None) -> "AdaINStylizer":
        """A stylizer for tiles of `whole` (1 x 3 x H x W): every tile uses `whole`'s content statistics
        (relu4_1 mean and std), accumulated over tiles of `tile` px with their context (None: one pass)."""
        from ..tiling import accumulate_mean_std, pad_to, plan

        other = copy.copy(self)
        if tile is None:
            with torch.inference_mode(), autocast(self.device, self.bf16):
                other.content_stats = L.mean_std(self.model.encode(self._layout(whole.to(self.device))).float())
        else:
            x = pad_to(whole, self.tile_multiple)
            stat_tiles = plan(int(x.shape[-2]), int(x.shape[-1]), tile, 0, self.tile_context, self.tile_multiple)

            def encode(t: torch.Tensor) -> torch.Tensor:
                with torch.inference_mode(), autocast(self.device, self.bf16):
                    return self.model.encode(self._layout(t.to(self.device))).float()

            other.content_stats = accumulate_mean_std(encode, x, stat_tiles, tick=tick)
        if self.opts.preserve_color == "histogram":
            other.style_stats = self._stats([L.match_histogram(s, whole.to(self.device)) for s in self.styles])
        return other

    def config(self) -> dict[str, Any]:
        return {"method": "adain", "styles": [style_identity(s) for s in self.inputs], "weights": self.weights,
                "options": {k: v for k, v in dataclasses.asdict(self.opts).items() if k != "device"}}

    @staticmethod
    def _layout(x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=torch.channels_last)

    def _stats(self, styles: Sequence[torch.Tensor]) -> Stats:
        for st in styles:
            check_memory(ADAIN_BYTES_PER_PIXEL * st.shape[-1] * st.shape[-2], self.device,
                         f"encoding a {st.shape[-1]}x{st.shape[-2]} style image", "use a smaller --style-size")
        with torch.inference_mode(), autocast(self.device, self.bf16):
            stats = [self.model.style_stats(self._layout(s)) for s in styles]
        return blend_stats(stats, self.weights)

    def _stylize(self, frames: torch.Tensor) -> torch.Tensor:
        n, _, h, w = frames.shape
        check_memory(ADAIN_BYTES_PER_PIXEL * n * h * w, self.device, f"AdaIN at {w}x{h}" + (f" x {n}" if n > 1 else ""))
        x = frames.to(self.device)
        stats = self.style_stats
        if stats is None:  # histogram matching: the style's palette depends on this frame's colours
            stats = self._stats([L.match_histogram(s, x[:1]) for s in self.styles])
        with torch.inference_mode(), autocast(self.device, self.bf16):
            out = self.model(self._layout(x), stats[0], stats[1], self.opts.strength, self.content_stats)
        if self.opts.preserve_color == "luminance":
            out = L.luminance_transfer(out, x)
        return out.contiguous()


def build(styles: Sequence[StyleInput], weights: Sequence[float] | None, opts: AdaINOptions,
          progress: ProgressCallback | None) -> AdaINStylizer:
    return AdaINStylizer(styles, weights, opts)


METHOD = register(Method("adain", AdaINOptions, build, frozenset({STRENGTH, TILING}),
                         summary="one pass of a VGG19 encoder, AdaIN and a pretrained decoder: any style, ~1 s"))
