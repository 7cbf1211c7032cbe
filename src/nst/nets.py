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

import copy
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
            ch = tuple(int(c) for c in list(d["channels"])[:4])  # type: ignore[call-overload]
            if len(ch) != 3:
                raise ValueError("three channel widths expected")
            cfg = cls(channels=ch, blocks=int(d["blocks"]), outer_kernel=int(d["outer_kernel"]))  # type: ignore
        except (KeyError, TypeError, ValueError, OverflowError) as e:
            raise OptionError(f"invalid architecture ({_short(e)})") from None
        cfg.validate()
        return cfg

    def validate(self) -> None:
        if len(self.channels) != 3 or min(self.channels) < 1 or self.blocks < 0 or self.outer_kernel % 2 != 1:
            raise OptionError(f"invalid architecture {self}")
        check_bounds(self.channels, self.blocks, kernel=self.outer_kernel)


#: Bounds of the architecture fields a checkpoint may declare (files are untrusted: 20 million residual
#: blocks would hang, 20 million channels would exhaust memory). The presets are far inside them.
MAX_CHANNELS, MAX_BLOCKS, MAX_KERNEL, MAX_STYLES = 1024, 64, 15, 256


def check_bounds(channels: tuple[int, ...], blocks: int, kernel: int | None = None, styles: int | None = None) -> None:
    """OptionError unless the architecture fields are within MAX_CHANNELS, MAX_BLOCKS, MAX_KERNEL, MAX_STYLES."""
    if max(channels) > MAX_CHANNELS:
        raise OptionError(f"invalid architecture: {max(channels)} channels (at most {MAX_CHANNELS})")
    if blocks > MAX_BLOCKS:
        raise OptionError(f"invalid architecture: {blocks} residual blocks (at most {MAX_BLOCKS})")
    if kernel is not None and not 1 <= kernel <= MAX_KERNEL:
        raise OptionError(f"invalid architecture: kernel size {kernel} (1 to {MAX_KERNEL})")
    if styles is not None and styles > MAX_STYLES:
        raise OptionError(f"invalid architecture: {styles} styles (at most {MAX_STYLES})")


def _short(e: BaseException) -> str:
    """An exception as a short clause (a KeyError names the missing field)."""
    text = f"missing field {e}" if isinstance(e, KeyError) else str(e)
    return text if len(text) <= 80 else text[:77] + "..."


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

    multiple = 4

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


def pad_to_multiple(x: torch.Tensor, multiple: int = 4,
                    minimum: int | None = None) -> tuple[torch.Tensor, tuple[int, int]]:
    """Reflect-pad N x C x H x W on the bottom/right to multiples of `multiple` (and at least `minimum`,
    default 2 x `multiple`, so the lowest-resolution reflection pads have 2 pixels: a 1 x 5000 image
    works); returns the padded tensor and the original (H, W)."""
    if minimum is None:
        minimum = 2 * multiple
    h, w = x.shape[-2:]
    ph, pw = max((-h) % multiple, minimum - h), max((-w) % multiple, minimum - w)
    if ph or pw:
        mode = "reflect" if h > ph and w > pw else "replicate"
        x = F.pad(x, (0, pw, 0, ph), mode=mode)
    return x, (h, w)


def stylize_padded(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Run `net` on any size: N x 3 x H x W RGB [0, 1] -> N x 3 x H x W RGB clamped to [0, 1].

    Pads to the network's `multiple` (4 for TransformerNet's two stride-2 layers, 8 for MultiStyleNet)."""
    xp, (h, w) = pad_to_multiple(x, getattr(net, "multiple", 4))
    return net(xp)[..., :h, :w].clamp(0, 1)


# ----------------------------------------------------------------------------------------------
# Multi-style fast network: conditional instance norm (Dumoulin, Shlens & Kudlur 2017)


@dataclass(frozen=True)
class MultiStyleConfig:
    """Architecture arguments of `MultiStyleNet`; stored in every checkpoint."""

    styles: tuple[str, ...]                          # one set of norm parameters per style, in this order
    channels: tuple[int, int, int] = (16, 32, 64)    # 1/2-, 1/4- and 1/8-resolution widths
    blocks: int = 5                                  # residual blocks at 1/8 resolution
    skips: bool = False                              # 1x1 skip convolutions from the 1/2 and 1/4 encoders

    def to_dict(self) -> dict[str, object]:
        d: dict[str, object] = {"styles": list(self.styles), "channels": list(self.channels), "blocks": self.blocks}
        if self.skips:  # older files have no such field, and read as False
            d["skips"] = True
        return d

    @classmethod
    def from_dict(cls, d: dict[str, object]) -> "MultiStyleConfig":
        try:
            names = d["styles"]
            if not isinstance(names, (list, tuple)):
                raise TypeError("styles must be a list of names")
            if len(names) > MAX_STYLES:
                raise ValueError(f"{len(names)} styles (at most {MAX_STYLES})")
            styles = tuple(str(s) for s in names)
            ch = tuple(int(c) for c in list(d["channels"])[:4])  # type: ignore[call-overload]
            skips = d.get("skips", False)
            if not isinstance(skips, bool):
                raise TypeError("skips must be true or false")
            cfg = cls(styles, ch, int(d["blocks"]), skips)  # type: ignore[arg-type, call-overload]
        except (KeyError, TypeError, ValueError, OverflowError) as e:
            raise OptionError(f"invalid architecture ({_short(e)})") from None
        if len(cfg.channels) != 3 or min(cfg.channels) < 1 or cfg.blocks < 0 or not cfg.styles:
            raise OptionError(f"invalid architecture: channels {cfg.channels}, {cfg.blocks} blocks, "
                              f"{len(cfg.styles)} styles")
        if len(set(cfg.styles)) != len(cfg.styles):
            raise OptionError("invalid architecture: style names repeat")
        check_bounds(cfg.channels, cfg.blocks, styles=len(cfg.styles))
        return cfg


class CondInstanceNorm(nn.Module):
    """Instance norm whose scale and shift are a mix of per-style parameters (S x C each).

    forward(x, mix): x N x C x H x W; mix N x S (or None: the stored `mix` buffer, S) of style weights.
    Interpolating the parameters blends styles (Dumoulin et al. 2017, section 4).
    """

    def __init__(self, channels: int, n_styles: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(n_styles, channels))
        self.bias = nn.Parameter(torch.zeros(n_styles, channels))
        self.mix: torch.Tensor
        self.register_buffer("mix", torch.full((n_styles,), 1.0 / n_styles))

    def forward(self, x: torch.Tensor, mix: torch.Tensor | None = None) -> torch.Tensor:
        m = (self.mix[None] if mix is None else mix).to(x.dtype)
        g, b = m @ self.weight.to(x.dtype), m @ self.bias.to(x.dtype)
        return F.instance_norm(x) * g[:, :, None, None] + b[:, :, None, None]


class _FixedNorm(nn.Module):
    """Affine instance norm with fixed parameters: a `CondInstanceNorm` with its mix applied."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor) -> None:
        super().__init__()
        self.weight: torch.Tensor
        self.bias: torch.Tensor
        self.register_buffer("weight", weight.clone())
        self.register_buffer("bias", bias.clone())

    def forward(self, x: torch.Tensor, mix: torch.Tensor | None = None) -> torch.Tensor:
        return F.instance_norm(x, weight=self.weight.to(x.dtype), bias=self.bias.to(x.dtype))


class _CondConv(nn.Module):
    """Reflection pad -> conv (-> conditional instance norm -> ReLU)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, n_styles: int, norm: bool = True,
                 relu: bool = True) -> None:
        super().__init__()
        self.pad = nn.ReflectionPad2d(kernel // 2)
        self.conv = nn.Conv2d(cin, cout, kernel, stride)
        self.norm: nn.Module | None = CondInstanceNorm(cout, n_styles) if norm else None
        self.relu = relu

    def forward(self, x: torch.Tensor, mix: torch.Tensor | None = None) -> torch.Tensor:
        x = self.conv(self.pad(x))
        if self.norm is not None:
            x = self.norm(x, mix)
        return F.relu(x) if self.relu else x


class _CondResidual(nn.Module):
    def __init__(self, channels: int, n_styles: int) -> None:
        super().__init__()
        self.a = _CondConv(channels, channels, 3, 1, n_styles)
        self.b = _CondConv(channels, channels, 3, 1, n_styles, relu=False)

    def forward(self, x: torch.Tensor, mix: torch.Tensor | None = None) -> torch.Tensor:
        return x + self.b(self.a(x, mix), mix)


class MultiStyleNet(nn.Module):
    """A fast feed-forward network for several styles at once (one trunk, norm parameters per style).

    Built for real time on a CPU by measurement (bench/fast.py): three stride-2 convolutions take the
    image to 1/8 resolution, where the residual blocks do most of the work on few positions; two
    nearest-neighbour resize-convolutions go back to 1/2 resolution, and a pixel shuffle (Shi et al.
    2016) makes the full-resolution output, so no layer runs at full resolution. The 1/8 trunk also
    gives a large receptive field (brush strokes of tens of pixels) for few FLOPs. With `skips`, a 1x1
    convolution of each encoder's output (1/4 and 1/2 resolution) is added to the decoder's output at the
    same resolution (a U-Net's skip, Ronneberger et al. 2015), so detail need not squeeze through the 1/8
    trunk; the skip convolutions start at zero, so a network trained without them loads unchanged.

    forward(x, mix): x N x 3 x H x W RGB [0, 1] with H, W multiples of 8 (`multiple`); mix N x S
    style weights (None: the `mix` buffers, set by `select`). Output N x 3 x H x W RGB, unclamped.
    """

    multiple = 8
    default_style: str | None = None  # the style an engine runs when none is asked for (style add-ons)

    def __init__(self, config: MultiStyleConfig) -> None:
        super().__init__()
        self.config = config
        n = len(config.styles)
        c1, c2, c3 = config.channels
        self.d1, self.d2, self.d3 = _CondConv(3, c1, 3, 2, n), _CondConv(c1, c2, 3, 2, n), _CondConv(c2, c3, 3, 2, n)
        self.res = nn.ModuleList([_CondResidual(c3, n) for _ in range(config.blocks)])
        self.u1, self.u2 = _CondConv(c3, c2, 3, 1, n), _CondConv(c2, c1, 3, 1, n)
        self.out = _CondConv(c1, 12, 3, 1, n, norm=False, relu=False)
        self.skip1: nn.Conv2d | None = None
        self.skip2: nn.Conv2d | None = None
        if config.skips:
            self.skip1, self.skip2 = nn.Conv2d(c1, c1, 1), nn.Conv2d(c2, c2, 1)
            for conv in (self.skip1, self.skip2):
                nn.init.zeros_(conv.weight)
                if conv.bias is not None:
                    nn.init.zeros_(conv.bias)

    def forward(self, x: torch.Tensor, mix: torch.Tensor | None = None) -> torch.Tensor:
        e1 = self.d1(x, mix)
        e2 = self.d2(e1, mix)
        y = self.d3(e2, mix)
        for block in self.res:
            y = block(y, mix)
        y = self.u1(F.interpolate(y, scale_factor=2.0, mode="nearest"), mix)
        if self.skip2 is not None:
            y = y + self.skip2(e2)
        y = self.u2(F.interpolate(y, scale_factor=2.0, mode="nearest"), mix)
        if self.skip1 is not None:
            y = y + self.skip1(e1)
        return F.pixel_shuffle(self.out(y), 2)

    def style_weights(self, weights: dict[str, float]) -> torch.Tensor:
        """{style name: weight} -> the S weights (normalised to sum 1); unknown names raise OptionError."""
        unknown = sorted(set(weights) - set(self.config.styles))
        if unknown:
            raise OptionError(f"this network has no style {', '.join(unknown)} "
                              f"(it has {', '.join(self.config.styles)})")
        w = torch.tensor([float(weights.get(s, 0.0)) for s in self.config.styles])
        if not torch.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
            raise OptionError("style weights must be non-negative and not all zero")
        return w / w.sum()

    def select(self, weights: dict[str, float]) -> "MultiStyleNet":
        """A copy for one style or blend: each conditional norm becomes a plain affine instance norm
        with the mixed parameters (what the engines run and ONNX exports: InstanceNormalization)."""
        net = copy.deepcopy(self)
        mix = self.style_weights(weights)
        for m in net.modules():
            if isinstance(m, _CondConv) and isinstance(m.norm, CondInstanceNorm):
                m.norm = _FixedNorm(mix @ m.norm.weight.detach(), mix @ m.norm.bias.detach())
        return net.eval()

    def flops_per_pixel(self) -> float:
        """Multiply-adds x 2 of the convolutions per input pixel (counted on a 64 x 64 forward pass)."""
        total = 0.0

        def count(m: nn.Module, inputs: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
            nonlocal total
            assert isinstance(m, nn.Conv2d)
            k = m.kernel_size[0] * m.kernel_size[1]
            total += 2 * m.in_channels * k * out.numel()

        hooks = [m.register_forward_hook(count) for m in self.modules() if isinstance(m, nn.Conv2d)]
        try:
            with torch.no_grad():
                self(torch.zeros(1, 3, 64, 64), torch.full((1, len(self.config.styles)), 1.0 / len(self.config.styles)))
        finally:
            for h in hooks:
                h.remove()
        return total / (64 * 64)


def add_style(net: MultiStyleNet, name: str, norms: dict[str, tuple[torch.Tensor, torch.Tensor]] | None = None
              ) -> MultiStyleNet:
    """A copy of `net` with one more style. `norms` ({norm module name: (weight, bias)}) gives its
    parameters; without it they start as the mean of the existing styles' (a neutral start)."""
    if name in net.config.styles:
        raise OptionError(f"the network already has a style named {name!r}")
    cfg = MultiStyleConfig(net.config.styles + (name,), net.config.channels, net.config.blocks, net.config.skips)
    bigger = MultiStyleNet(cfg)
    state = net.state_dict()
    with torch.no_grad():
        for mod_name, m in bigger.named_modules():
            if not isinstance(m, CondInstanceNorm):
                continue
            for part, i in (("weight", 0), ("bias", 1)):
                old = state.pop(f"{mod_name}.{part}")
                new = norms[mod_name][i] if norms is not None else old.mean(dim=0)
                getattr(m, part).copy_(torch.cat([old, new.reshape(1, -1).to(old)]))
            state.pop(f"{mod_name}.mix")
        missing = bigger.load_state_dict(state, strict=False)
    if missing.unexpected_keys:
        raise OptionError(f"unexpected weights {missing.unexpected_keys[:3]}")
    return bigger


def style_norms(net: MultiStyleNet, name: str) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """One style's norm parameters: {norm module name: (weight, bias)} (what an add-on file holds)."""
    i = net.config.styles.index(name)
    return {n: (m.weight[i].detach().clone(), m.bias[i].detach().clone())
            for n, m in net.named_modules() if isinstance(m, CondInstanceNorm)}
