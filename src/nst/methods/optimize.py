"""Method "optimize": Gatys et al. 2015, the pixels optimised per image (`nst.optimize`).

Sequential: with `warm_start` (video), each frame starts from the previous result (Ruder et al.
2016's simple variant, without optical flow) and runs `warm_iterations` (default a quarter of
`iterations`) at full size only: the previous result already has the coarse structure. The state is
the last result rounded to 8 bits, which is exactly what a saved frame keeps, so a video resumed from
its saved frames continues as an uninterrupted run would.

Guided (the temporal wrapper, `nst video`'s default): Ruder et al. 2016 proper. `stylize_guided`
starts from the previous result warped by optical flow (the frame itself where the flow is not
reliable), runs `warm_iterations` at full size, with a temporal loss that keeps the reliable
pixels close to the warped result.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import torch

from ..device import pick_device
from ..io.frames import quantize
from ..optimize import OptimizeOptions, blend_weights, optimize
from ..progress import ProgressCallback
from .base import GUIDED, SEQUENTIAL, BaseStylizer, Method, StyleInput, register
from .common import style_identity

#: The temporal loss's weight at strength 1 (a mean squared pixel difference to the warped previous result).
#: Chosen by bench/temporal.py at 160 px (2026-12-02; warping error temporal / per frame, style ratio of the
#: middle frame, per frame 0.130 on the pan and 0.230 on bbb 432 s): 1e3 gave 0.52 / 0.98 (style 0.162 / 0.239),
#: 1e4 0.39 / 0.85 (0.169 / 0.236), 1e5 0.23 / 0.56 (0.201 / 0.246): 1e4 is steadier at the same style as 1e3.
TEMPORAL_WEIGHT = 1e4


class OptimizeStylizer(BaseStylizer):
    """Gatys optimisation of each frame at its own size. Not thread-safe when warm-started (it
    carries the previous frame), so calls are serialised then."""

    capabilities = frozenset({SEQUENTIAL, GUIDED})

    def __init__(self, styles: Sequence[StyleInput], weights: Sequence[float] | None = None,
                 opts: OptimizeOptions | None = None, progress: ProgressCallback | None = None) -> None:
        self.opts = opts or OptimizeOptions()
        super().__init__("+".join(s.name for s in styles) or "optimize", pick_device(self.opts.device))
        self.inputs = list(styles)
        self.styles = [s.image for s in styles if s.image is not None]
        self.weights = blend_weights(len(self.styles), weights)
        self.progress = progress
        self.thread_safe = not self.opts.warm_start
        self._previous: torch.Tensor | None = None

    def reset(self, state: torch.Tensor | None = None) -> None:
        """Start a new sequence; `state` (1 x 3 x H x W, the last saved result) continues one."""
        self._previous = quantize(state) if state is not None else None

    def state(self) -> torch.Tensor | None:
        return self._previous

    def config(self) -> dict[str, Any]:
        return {"method": "optimize", "styles": [style_identity(s) for s in self.inputs], "weights": self.weights,
                "options": {k: v for k, v in dataclasses.asdict(self.opts).items() if k != "device"}}

    def _warm_options(self) -> OptimizeOptions:
        n = self.opts.warm_iterations or max(1, self.opts.iterations // 4)
        return dataclasses.replace(self.opts, iterations=n, multiscale=False)

    def stylize_guided(self, frames: torch.Tensor, guide: torch.Tensor, mask: torch.Tensor,
                       strength: float) -> torch.Tensor:
        """One frame (1 x 3 x H x W) started from `guide` where `mask` is high (the frame elsewhere), with
        the temporal loss weighted by `strength` x TEMPORAL_WEIGHT; the result rounded to 8 bits."""
        x, guide, mask = frames.to(self.device), guide.to(self.device), mask.to(self.device)
        init = torch.lerp(x, guide, mask)
        with self._lock:
            out = optimize(x, self.styles, self._warm_options(), self.weights, progress=self.progress, init=init,
                           temporal=(guide, mask, strength * TEMPORAL_WEIGHT))
        return quantize(out)

    def _stylize(self, frames: torch.Tensor) -> torch.Tensor:
        outs = []
        for f in frames:
            init = self._previous if self.opts.warm_start else None
            opts = self.opts
            if init is not None and init.shape[-2:] == f.shape[-2:]:
                opts = self._warm_options()
            else:
                init = None
            out = optimize(f[None], self.styles, opts, self.weights, progress=self.progress, init=init)
            if self.opts.warm_start:
                out = quantize(out)  # what a saved frame keeps: a resumed run continues identically
                self._previous = out
            outs.append(out)
        return torch.cat(outs)


def build(styles: Sequence[StyleInput], weights: Sequence[float] | None, opts: OptimizeOptions,
          progress: ProgressCallback | None) -> OptimizeStylizer:
    return OptimizeStylizer(styles, weights, opts, progress)


METHOD = register(Method("optimize", OptimizeOptions, build, frozenset({SEQUENTIAL, GUIDED}),
                         summary="Gatys et al. 2015: optimise the pixels; slow, best quality, every control"))
