"""Tiny stylizers that declare the Stylizer contract's capabilities (no weights, deterministic)."""

from __future__ import annotations

import time
from typing import Any

import torch

from nst.io.frames import quantize
from nst.methods.base import SEQUENTIAL, STRENGTH, BaseStylizer

COLOURS = {"red": (1.0, 0.0, 0.0), "green": (0.0, 1.0, 0.0), "blue": (0.0, 0.0, 1.0)}


class Blend(BaseStylizer):
    """SEQUENTIAL: each output is the mirrored frame blended with the previous output (`k` of the frame).

    Its state is the last output rounded to 8 bits, which is what a saved frame keeps, so a run
    resumed from saved frames continues exactly. `batches` records the batch size of every call;
    `delay` (s per frame) makes it slow enough to be killed mid-run; `fail_at` raises KeyboardInterrupt
    on that call (a Ctrl-C)."""

    capabilities = frozenset({SEQUENTIAL})
    thread_safe = False

    def __init__(self, k: float = 0.5, delay: float = 0.0, fail_at: int | None = None) -> None:
        super().__init__("blend", torch.device("cpu"))
        self.k, self.delay, self.fail_at = k, delay, fail_at
        self.previous: torch.Tensor | None = None
        self.batches: list[int] = []

    def reset(self, state: torch.Tensor | None = None) -> None:
        self.previous = state

    def state(self) -> torch.Tensor | None:
        return self.previous

    def config(self) -> dict[str, Any]:
        return {"method": "blend", "styles": [], "options": {"k": self.k}}

    def _stylize(self, frames: torch.Tensor) -> torch.Tensor:
        self.batches.append(frames.shape[0])
        if self.fail_at is not None and len(self.batches) == self.fail_at:
            raise KeyboardInterrupt
        outs = []
        for f in frames:
            time.sleep(self.delay)
            f = f[None].flip(-1)
            out = f if self.previous is None else self.k * f + (1 - self.k) * self.previous
            self.previous = quantize(out)
            outs.append(self.previous)
        return torch.cat(outs)


class Tint(BaseStylizer):
    """STRENGTH: blends the frame towards one colour by 0.8 x strength. `with_strength` copies share
    `log`, the strength of every call; `delay` makes it artificially slow."""

    capabilities = frozenset({STRENGTH})

    def __init__(self, name: str, delay: float = 0.0, strength: float = 1.0, log: list[float] | None = None) -> None:
        super().__init__(name, torch.device("cpu"))
        self.colour = torch.tensor(COLOURS[name]).view(1, 3, 1, 1)
        self.delay = delay
        self._strength = strength
        self.log: list[float] = [] if log is None else log

    @property
    def strength(self) -> float:
        return self._strength

    def with_strength(self, strength: float) -> "Tint":
        return type(self)(self.name, self.delay, strength, self.log)

    def config(self) -> dict[str, Any]:
        return {"method": "tint", "styles": [self.name], "options": {"strength": self._strength}}

    @property
    def calls(self) -> int:
        return len(self.log)

    def _stylize(self, frames: torch.Tensor) -> torch.Tensor:
        self.log.append(self._strength)
        if self.delay:
            time.sleep(self.delay)
        a = 0.8 * self._strength
        return (1 - a) * frames + a * self.colour


class GridTexture(BaseStylizer):
    """Paints a texture tied to its own 8 px grid, as a network working at 1/8 resolution does: the frame
    plus a pattern that depends on each pixel's position modulo 8 in the image it is given (so a scene that
    moves by a fraction of the grid gets a different texture)."""

    tile_multiple = 8

    def __init__(self) -> None:
        super().__init__("grid", torch.device("cpu"))

    def config(self) -> dict[str, Any]:
        return {"method": "grid", "styles": [], "options": {}}

    def _stylize(self, frames: torch.Tensor) -> torch.Tensor:
        h, w = frames.shape[-2:]
        ys = torch.arange(h).view(h, 1) % 8
        xs = torch.arange(w).view(1, w) % 8
        pattern = ((xs * 3 + ys * 5) % 8).float() / 7.0 - 0.5  # -0.5 .. 0.5, period 8
        return quantize((frames * 0.6 + 0.2 + 0.3 * pattern).clamp(0, 1))
