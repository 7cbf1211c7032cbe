"""TrainOptions (every field with its help and bounds, see nst.options) and TrainResult."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import OptionError
from ..features import LAYER_NAMES
from ..nets import ARCHS
from ..options import MAX_STYLE_SIDE, MAX_WEIGHT, check, option


@dataclass
class TrainOptions:
    """Settings for `train`; the CLI derives its flags and defaults from these fields."""

    style: str = option("", help="bundled style name (see `nst styles`) or style image path")
    data: str = option("", help="folder of training photos (searched recursively)")
    output: str = option("", help="checkpoint to write (.pt)", flag="-o")
    arch: str = option("full", help="full: Johnson et al. 2016 (32/64/128 channels, 5 residual blocks); medium: "
                       "16/32/64, 3 blocks; slim: 8/16/32, 3 blocks, for real time on a CPU", choices=tuple(ARCHS))
    size: int = option(256, help="training crop size (pixels)", min=32, max=4096)
    iterations: int = option(2000, help="training iterations (batches)", min=1, max=10_000_000)
    batch: int = option(4, help="photos per batch", min=1, max=256)
    lr: float = option(1e-3, help="Adam learning rate", min=0.0, exclusive_min=True, max=1.0)
    content_weight: float = option(1.0, help="weight of each content layer's loss", min=0.0, max=MAX_WEIGHT)
    style_weight: float = option(3e4, help="weight of each style layer's Gram loss", min=0.0, max=MAX_WEIGHT)
    tv_weight: float = option(1.0, help="weight of the total-variation (smoothness) loss", min=0.0,
                             max=MAX_WEIGHT)
    content_layers: tuple[str, ...] = option(("relu2_2",), help="comma-separated VGG19 layers, e.g. relu2_2",
                                             items=LAYER_NAMES)
    style_layers: tuple[str, ...] = option(("relu1_1", "relu2_1", "relu3_1"),
                                           help="comma-separated VGG19 layers, e.g. relu1_1,relu2_1,relu3_1",
                                           items=LAYER_NAMES)
    style_size: int = option(512, help="long side the style image is encoded at (larger: bigger strokes)", min=32,
                             max=MAX_STYLE_SIDE)
    seed: int = option(0, help="random seed (weights, batches, crops)", min=0, max=2**32 - 1)
    checkpoint_every: int = option(100, help="write the checkpoint every N iterations (and at the end)", min=1,
                                   max=10_000_000,
                                   metavar="N")
    preview_every: int = option(100, help="save a preview of a fixed photo every N iterations (0: never)", min=0,
                                max=10_000_000,
                                metavar="N")
    preview_image: str | None = option(None, help="photo for the previews (default: the bundled demo photo)")
    precision: str = option("fp32", help="bf16 autocast (auto: only where the hardware has native bf16)",
                            choices=("auto", "fp32", "bf16"))
    teacher: str = option("", help="distil AdaIN instead of the perceptual loss: L1 to AdaIN's output for the style "
                          "(half size), plus --content-weight x the feature loss on --content-layers and "
                          "--style-weight x the Gram loss on --style-layers, both against that output, plus "
                          "--tv-weight x TV", choices=("", "adain"))
    init: str = option("", help="start from this checkpoint's weights (same --arch) instead of random ones: "
                       "fine-tuning", metavar="CKPT")
    grad_clip: float = option(10.0, help="clip the gradient's global norm to this (0: no clipping)", min=0.0, max=1e6)
    divergence_factor: float = option(5.0, help="a loss above this times the median of the last 50 steps counts as "
                                      "divergence: roll back to the last good checkpoint", min=1.0, exclusive_min=True,
                                      max=1e6)
    device: str | None = option(None, help="cpu, cuda, cuda:N (default: CUDA when present, else CPU)")

    def validate(self) -> None:
        """Check every field against its metadata, then what metadata cannot say (required fields)."""
        check(self)
        for name, what in (("style", "a bundled style name or a style image path"),
                           ("data", "a folder of training photos"), ("output", "the checkpoint path to write")):
            if not getattr(self, name):
                raise OptionError(f"is needed: {what}", field=name)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["content_layers"], d["style_layers"] = list(self.content_layers), list(self.style_layers)
        return d


@dataclass
class TrainResult:
    """What `train` returns: the checkpoint written, the loss history and what was skipped.

    `seconds` is the sum of the step times (the wall time of the whole run, across resumes, is in the
    checkpoint as well); `rollbacks` lists the iterations whose loss diverged and was rolled back.
    """

    path: Path
    iterations: int
    losses: list[dict[str, float]]
    skipped: list[str] = field(default_factory=list)
    seconds: float = 0.0
    images_per_second: float = 0.0
    rollbacks: list[int] = field(default_factory=list)
