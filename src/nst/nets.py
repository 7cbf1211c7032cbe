"""Feed-forward style transfer networks ("transformer networks"): one trained network per style.

Architecture of Johnson, Alahi & Fei-Fei 2016 ("Perceptual Losses for Real-Time Style Transfer and
Super-Resolution", supplementary material, table 1), with the changes that later work showed matter:

- Instance normalisation instead of batch normalisation (Ulyanov, Vedaldi & Lempitsky 2016,
  "Instance Normalization: The Missing Ingredient for Fast Stylization"), with learned affine terms.
- Reflection padding in every convolution instead of zero padding (fewer border artefacts), and no
  valid-convolution cropping in the residual blocks (Johnson pads the input by 40 px and crops;
  reflection padding makes that unnecessary and keeps input size == output size).
- Upsampling by nearest-neighbour resize followed by a convolution instead of transposed
  convolutions (Odena, Dumoulin & Olah 2016, "Deconvolution and Checkerboard Artifacts").
- The output is a plain linear RGB image in [0, 1] (Johnson: scaled tanh). It is clamped at
  inference (`stylize_padded`), not in the network, so training gradients never vanish at the edges.

Pixel convention: input N x 3 x H x W RGB in [0, 1], output N x 3 x H x W RGB (unclamped).
The two stride-2 convolutions need H and W to be multiples of 4; `stylize_padded` reflect-pads any
size and crops the result, and every inference engine (torch, ONNX Runtime, OpenCV DNN) goes
through the same padding so they agree.

Presets (`ARCHS`): "medium" (16/32/64 channels, 3 residual blocks, 5x5 outer convolutions, ~55 kFLOP
per pixel) is what the shipped networks use, a middle ground in capacity. "full" is Johnson's
network (32/64/128 channels, 5 residual blocks, 9x9 outer convolutions, ~0.31 MFLOP per output
pixel). "slim" is our CPU real-time variant, chosen by measuring at 640x480 (bench/fast.py): 8/16/32
channels, 3 residual blocks, 5x5 outer convolutions (~15 kFLOP per pixel, 20x less than full; at
640x480 the full-resolution layers are memory-bound, so the full-resolution width matters most).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .errors import OptionError


@dataclass(frozen=True)
class ArchConfig:
    """Architecture arguments of `TransformerNet`; stored in every checkpoint."""

    channels: tuple[int, int, int] = (32, 64, 128)  # full-res, 1/2-res, 1/4-res (residual) widths
    blocks: int = 5                                  # residual blocks at 1/4 resolution
    outer_kernel: int = 9                            # kernel of the first and last convolutions

    def to_dict(self) -> dict[str, object]:
        d = asdict(self)
        d["channels"] = list(self.channels)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, object]) -> "ArchConfig":
        try:
            ch = tuple(int(c) for c in d["channels"])  # type: ignore[attr-defined]
            if len(ch) != 3:
                raise ValueError("three channel widths expected")
            cfg = cls(channels=ch, blocks=int(d["blocks"]), outer_kernel=int(d["outer_kernel"]))  # type: ignore
        except (KeyError, TypeError, ValueError) as e:
            raise OptionError(f"invalid architecture arguments {d!r} ({e})") from None
        cfg.validate()
        return cfg

    def validate(self) -> None:
        if len(self.channels) != 3 or min(self.channels) < 1 or self.blocks < 0 or self.outer_kernel % 2 != 1:
            raise OptionError(f"invalid architecture {self}")


ARCHS: dict[str, ArchConfig] = {
    "full": ArchConfig((32, 64, 128), 5, 9),
    "medium": ArchConfig((16, 32, 64), 3, 5),
    "slim": ArchConfig((8, 16, 32), 3, 5),
}


def arch_config(name: str) -> ArchConfig:
    """The preset architecture `name` ("full" or "slim")."""
    if name not in ARCHS:
        raise OptionError(f"unknown architecture '{name}' (use {', '.join(ARCHS)})")
    return ARCHS[name]


class ConvLayer(nn.Sequential):
    """Reflection pad -> conv (-> instance norm -> ReLU). N x cin x H x W -> N x cout x H/s x W/s."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, norm: bool = True,
                 relu: bool = True) -> None:
        layers: list[nn.Module] = [nn.ReflectionPad2d(kernel // 2), nn.Conv2d(cin, cout, kernel, stride)]
        if norm:
            layers.append(nn.InstanceNorm2d(cout, affine=True))
        if relu:
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class ResidualBlock(nn.Module):
    """Two 3x3 conv + instance norm layers with an identity shortcut (He et al. 2016), as Johnson:
    ReLU after the first only. N x C x H x W -> N x C x H x W."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(ConvLayer(channels, channels, 3), ConvLayer(channels, channels, 3, relu=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class UpsampleConv(nn.Sequential):
    """Nearest-neighbour 2x resize then conv + instance norm + ReLU (no checkerboard artefacts).
    N x cin x H x W -> N x cout x 2H x 2W."""

    def __init__(self, cin: int, cout: int, kernel: int = 3) -> None:
        super().__init__(nn.Upsample(scale_factor=2, mode="nearest"), ConvLayer(cin, cout, kernel))


class TransformerNet(nn.Module):
    """Johnson et al. 2016's image transformation network (see the module docstring for deviations).

    forward: N x 3 x H x W RGB [0, 1] (H, W multiples of 4) -> N x 3 x H x W RGB, unclamped.
    """

    def __init__(self, config: ArchConfig | None = None) -> None:
        super().__init__()
        self.config = config or ARCHS["full"]
        self.config.validate()
        c1, c2, c3 = self.config.channels
        k = self.config.outer_kernel
        self.down = nn.Sequential(ConvLayer(3, c1, k), ConvLayer(c1, c2, 3, 2), ConvLayer(c2, c3, 3, 2))
        self.res = nn.Sequential(*[ResidualBlock(c3) for _ in range(self.config.blocks)])
        self.up = nn.Sequential(UpsampleConv(c3, c2), UpsampleConv(c2, c1),
                                ConvLayer(c1, 3, k, norm=False, relu=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.up(self.res(self.down(x)))

    def flops_per_pixel(self) -> float:
        """Multiply-adds x 2 per output pixel of the convolutions (norms, pads and ReLUs excluded)."""
        total = 0.0
        scale = 1.0  # spatial size relative to the input, squared
        for m in self.modules():
            if isinstance(m, nn.Upsample):
                scale *= 4
            elif isinstance(m, nn.Conv2d):
                scale /= m.stride[0] ** 2
                total += 2 * m.in_channels * m.out_channels * m.kernel_size[0] * m.kernel_size[1] * scale
        return total


def pad_to_multiple(x: torch.Tensor, multiple: int = 4, minimum: int = 8) -> tuple[torch.Tensor, tuple[int, int]]:
    """Reflect-pad N x C x H x W on the bottom/right to multiples of `multiple` (and at least `minimum`,
    so the 1/4-resolution reflection pads have 2 pixels); returns the padded tensor and the original (H, W)."""
    h, w = x.shape[-2:]
    ph, pw = max((-h) % multiple, minimum - h), max((-w) % multiple, minimum - w)
    if ph or pw:
        mode = "reflect" if h > ph and w > pw else "replicate"
        x = F.pad(x, (0, pw, 0, ph), mode=mode)
    return x, (h, w)


def stylize_padded(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Run `net` on any size: N x 3 x H x W RGB [0, 1] -> N x 3 x H x W RGB clamped to [0, 1]."""
    xp, (h, w) = pad_to_multiple(x)
    return net(xp)[..., :h, :w].clamp(0, 1)
