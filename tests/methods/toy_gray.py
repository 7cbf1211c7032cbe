"""A toy method in one module: registering it is all it takes (tests/methods/test_registry.py).

It turns frames gray, with a strength: proof that a new method needs no edit anywhere else.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from typing import Any, Sequence

import torch

from nst.methods import STRENGTH, BaseStylizer, Method, StyleInput, register
from nst.options import option
from nst.progress import ProgressCallback


@dataclass
class GrayOptions:
    strength: float = option(1.0, help="0 = the photo, 1 = gray", min=0.0, max=1.0)


class GrayStylizer(BaseStylizer):
    capabilities = frozenset({STRENGTH})

    def __init__(self, opts: GrayOptions) -> None:
        super().__init__("gray", torch.device("cpu"))
        self.opts = opts

    @property
    def strength(self) -> float:
        return self.opts.strength

    def with_strength(self, strength: float) -> "GrayStylizer":
        other = copy.copy(self)
        other.opts = dataclasses.replace(self.opts, strength=strength)
        return other

    def config(self) -> dict[str, Any]:
        return {"method": "gray", "options": dataclasses.asdict(self.opts)}

    def _stylize(self, frames: torch.Tensor) -> torch.Tensor:
        gray = (0.299 * frames[:, :1] + 0.587 * frames[:, 1:2] + 0.114 * frames[:, 2:]).expand_as(frames)
        return torch.lerp(frames, gray, self.opts.strength)


def build(styles: Sequence[StyleInput], weights: Sequence[float] | None, opts: GrayOptions,
          progress: ProgressCallback | None) -> GrayStylizer:
    return GrayStylizer(opts)


METHOD = register(Method("gray", GrayOptions, build, frozenset({STRENGTH}), uses_style_images=False,
                         summary="a toy: gray frames"))
