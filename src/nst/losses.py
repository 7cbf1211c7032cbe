"""Losses and colour helpers (Gatys et al. 2015, 2017; Johnson et al. 2016; Ruder et al. 2016).

One loss vocabulary for optimisation (`nst.optimize`) and training (`nst.train`): pure functions on
NCHW tensors, thin modules that hold a weight and their targets as buffers and nothing else
(`ContentLoss`, `StyleLoss`, `TVLoss`, `TemporalLoss`, `PooledL1Loss`), and `PerceptualLoss`, a
container that runs the VGG once for every layer its terms need and returns the named weighted terms.

Normalisation (the same everywhere):
- each per-layer loss is a mean (MSE over the feature map, or over the C x C Gram matrix), and Gram
  matrices are normalised by C*H*W, so a weight does not depend on the image size;
- layers are SUMMED: every layer is its own term with the full weight of its kind, as in Johnson et
  al. and as training always did (so `style_weight` applies to each style layer: adding a layer adds
  style). The optimiser used to average over layers; its default style weight was divided by its
  number of default style layers (3e6 / 5 = 6e5), so its default look is unchanged.

Shapes: features are N x C x H x W; Gram matrices are N x C x C; images are RGB in [0, 1].
"""

from __future__ import annotations

from typing import Iterable, Mapping, Protocol, Sequence, cast

import torch
import torch.nn.functional as F
from torch import nn

from .device import autocast

# ITU-R BT.601 YIQ, as in Gatys et al. 2017 ("Controlling Perceptual Factors"), section 5.
_RGB2YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])


def gram(f: torch.Tensor, precise: bool = True) -> torch.Tensor:
    """Gram matrix normalised by the number of elements: N x C x C = F F^T / (C H W), in fp32.

    Normalising by C*H*W (not only H*W) keeps style losses of different layers and image
    sizes on one scale, so one style weight works across sizes and the multi-scale schedule.
    `precise`: the product in fp32 even for bf16 features (L-BFGS needs it). Training passes False:
    the product runs in the features' dtype (bf16 matrix units accumulate in fp32; only the result is
    rounded, about 3 significant digits, plenty for a loss).
    """
    n, c, h, w = f.shape
    x = f.reshape(n, c, h * w)
    if precise:
        x = x.float()
    return torch.bmm(x, x.transpose(1, 2)).float() / (c * h * w)


def content_loss(f: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error between feature maps (Gatys et al. use the sum / 2; we use the mean)."""
    return F.mse_loss(f.float(), target.float())


def style_loss(f: torch.Tensor, target_gram: torch.Tensor) -> torch.Tensor:
    """Mean squared error between the Gram matrix of `f` and a target Gram matrix (C x C or N x C x C)."""
    g = gram(f)
    return F.mse_loss(g, target_gram.expand_as(g))


def relative_gram_distance(g: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """mean((G - T)^2) / mean(T^2) per item (N): the style distance of bench/quality.py, scale-free, so
    one weight works for every layer and every painting. g: N x C x C; target: C x C or N x C x C."""
    t = target.expand_as(g)
    return (g - t).pow(2).mean(dim=(1, 2)) / t.pow(2).mean(dim=(1, 2)).clamp_min(1e-12)


def relative_feature_distance(f: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """mean((F - T)^2) / mean(T^2) over the batch: the content distance of bench/quality.py."""
    t = target.float()
    return (f.float() - t).pow(2).mean() / t.pow(2).mean().clamp_min(1e-12)


def tv_loss(x: torch.Tensor) -> torch.Tensor:
    """Total variation: mean squared difference of neighbouring pixels. A constant image gives 0."""
    dh = x[..., 1:, :] - x[..., :-1, :]
    dw = x[..., :, 1:] - x[..., :, :-1]
    return dh.pow(2).mean() + dw.pow(2).mean()


def temporal_loss(x: torch.Tensor, warped_prev: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Short-term temporal consistency (Ruder, Dosovitskiy & Brox 2016, eq. 7): masked MSE.

    (1 / D) * sum_k mask_k * (x_k - warped_prev_k)^2 over the D = N*C*H*W values of x, where
    `warped_prev` is the previous output warped to this frame by optical flow and `mask` (N x 1 x H x W
    or N x C x H x W, in [0, 1]) is 0 where the flow is unreliable (disocclusions, motion boundaries).
    """
    d = (x.float() - warped_prev.float()).pow(2) * mask.float()
    return d.mean()


def mean_std(f: torch.Tensor, eps: float = 1e-5) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and std over space: two N x C x 1 x 1 tensors."""
    n, c = f.shape[:2]
    flat = f.reshape(n, c, -1)
    mean = flat.mean(dim=2).reshape(n, c, 1, 1)
    std = (flat.var(dim=2, unbiased=False) + eps).sqrt().reshape(n, c, 1, 1)
    return mean, std


def rgb_to_yiq(x: torch.Tensor) -> torch.Tensor:
    """N x 3 x H x W RGB -> YIQ (Y in [0, 1])."""
    return torch.einsum("ij,njhw->nihw", _RGB2YIQ.to(x), x)


def yiq_to_rgb(x: torch.Tensor) -> torch.Tensor:
    """N x 3 x H x W YIQ -> RGB (not clamped)."""
    return torch.einsum("ij,njhw->nihw", torch.linalg.inv(_RGB2YIQ).to(x), x)


def luminance_transfer(stylised: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """Keep the content's colours: stylised luminance (Y) with the content's chroma (I, Q).

    Gatys et al. 2017 also match the style's luminance statistics before transfer; this is the
    post-hoc variant (same result for colour, one less pass). Content is resized to the output.
    """
    if content.shape[-2:] != stylised.shape[-2:]:
        content = F.interpolate(content, size=stylised.shape[-2:], mode="bicubic", align_corners=False)
    y = rgb_to_yiq(stylised)[:, :1]
    iq = rgb_to_yiq(content)[:, 1:]
    return yiq_to_rgb(torch.cat([y, iq], dim=1)).clamp(0, 1)


def match_histogram(source: torch.Tensor, reference: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Recolour `source` so its pixel colours have the mean and covariance of `reference`'s.

    The linear "colour histogram matching" of Gatys et al. 2017 (section 5.2): x' = A (x - mu_s) + mu_r
    with A = Sigma_r^(1/2) Sigma_s^(-1/2) (symmetric square roots). Used to give the style image the
    content's palette before transfer. Shapes: 1 x 3 x H x W each (sizes may differ).
    """
    def stats(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        p = x.reshape(3, -1).double()
        mu = p.mean(dim=1, keepdim=True)
        d = p - mu
        cov = d @ d.T / d.shape[1] + eps * torch.eye(3, dtype=d.dtype, device=d.device)
        return mu, cov

    def sqrtm(m: torch.Tensor, inverse: bool = False) -> torch.Tensor:
        vals, vecs = torch.linalg.eigh(m)
        vals = vals.clamp_min(eps)
        vals = vals.rsqrt() if inverse else vals.sqrt()
        return vecs @ torch.diag(vals) @ vecs.T

    mu_s, cov_s = stats(source)
    mu_r, cov_r = stats(reference)
    a = sqrtm(cov_r) @ sqrtm(cov_s, inverse=True)
    p = source.reshape(3, -1).double()
    out = a @ (p - mu_s) + mu_r
    return out.reshape(source.shape).to(source.dtype).clamp(0, 1)


# ----------------------------------------------------------------------------------------- modules


class FeatureExtractor(Protocol):
    """What `PerceptualLoss` needs of a VGG: named activations of the layers asked for."""

    def __call__(self, x: torch.Tensor, layers: Iterable[str]) -> dict[str, torch.Tensor]: ...


class LayerLoss(nn.Module):
    """A weighted loss on one VGG layer's features. The target is a buffer (fixed, computed once) or,
    when None, comes from the features of the `target` image given to `PerceptualLoss.forward`."""

    target: torch.Tensor | None

    def __init__(self, layer: str, weight: float) -> None:
        super().__init__()
        self.layer, self.weight = layer, float(weight)

    @property
    def fixed(self) -> bool:
        """Whether the target is a buffer (else it comes from the target image's features)."""
        return self.target is not None

    def forward(self, features: torch.Tensor, target_features: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError


class ContentLoss(LayerLoss):
    """weight * content_loss(features, target_features) on one layer (Gatys et al.'s content term)."""

    def __init__(self, layer: str, target_features: torch.Tensor | None = None, weight: float = 1.0) -> None:
        super().__init__(layer, weight)
        self.register_buffer("target", None if target_features is None else target_features.detach().float())

    def forward(self, features: torch.Tensor, target_features: torch.Tensor | None = None) -> torch.Tensor:
        target = self.target if self.target is not None else target_features
        assert target is not None, f"ContentLoss({self.layer}) has no target"
        return self.weight * content_loss(features, target)


class StyleLoss(LayerLoss):
    """weight * style_loss(features, target_gram) on one layer (Gram matrices, normalised by C*H*W).

    `target_gram`: C x C or N x C x C (e.g. a blend of several styles' Grams); None: the Gram of the
    target image's own features, per image (distillation).
    """

    target: torch.Tensor | None

    def __init__(self, layer: str, target_gram: torch.Tensor | None = None, weight: float = 1.0) -> None:
        super().__init__(layer, weight)
        self.register_buffer("target", None if target_gram is None else target_gram.detach().float())

    def forward(self, features: torch.Tensor, target_features: torch.Tensor | None = None) -> torch.Tensor:
        if self.target is not None:
            return self.weight * style_loss(features, self.target)
        assert target_features is not None, f"StyleLoss({self.layer}) has no target"
        return self.weight * style_loss(features, gram(target_features))


class TVLoss(nn.Module):
    """weight * tv_loss(x): total variation of the image (a smoothness prior)."""

    def __init__(self, weight: float = 1.0) -> None:
        super().__init__()
        self.weight = float(weight)

    def forward(self, x: torch.Tensor, target: torch.Tensor | None = None) -> torch.Tensor:
        return self.weight * tv_loss(x.float())


class TemporalLoss(nn.Module):
    """weight * temporal_loss(x, warped_prev, mask), the previous output and its mask held as buffers."""

    warped_prev: torch.Tensor
    mask: torch.Tensor

    def __init__(self, warped_prev: torch.Tensor, mask: torch.Tensor, weight: float = 1.0) -> None:
        super().__init__()
        self.weight = float(weight)
        self.register_buffer("warped_prev", warped_prev.detach().float())
        self.register_buffer("mask", mask.detach().float())

    def forward(self, x: torch.Tensor, target: torch.Tensor | None = None) -> torch.Tensor:
        return self.weight * temporal_loss(x, self.warped_prev, self.mask)


class PooledL1Loss(nn.Module):
    """weight * mean |avgpool_k(x) - avgpool_k(target)|: a pixel loss on k x k averages (layout and
    colour without asking for exact brush-stroke positions; used to distil a teacher's output)."""

    def __init__(self, weight: float = 1.0, pool: int = 2) -> None:
        super().__init__()
        self.weight, self.pool = float(weight), pool

    def forward(self, x: torch.Tensor, target: torch.Tensor | None = None) -> torch.Tensor:
        assert target is not None, "PooledL1Loss needs a target image"
        return self.weight * F.l1_loss(F.avg_pool2d(x.float(), self.pool), F.avg_pool2d(target, self.pool))


class PerceptualLoss(nn.Module):
    """Named groups of weighted loss terms, summed: forward(x, target) -> {name: sum of the group's
    terms, ..., "total": sum of all}.

    `terms` maps a name ("content", "style", "tv", ...) to its modules: `LayerLoss`es read the VGG
    features of x (the VGG runs once for all their layers; `memory_format` is applied to that input
    only, and `use_bf16` autocasts that pass only); a `LayerLoss` without a fixed target compares with
    the features of `target` (computed once, without gradient). Other modules (TV, temporal, pixel)
    get x and `target` themselves. A group without modules is 0. Shapes: x, target N x 3 x H x W.
    """

    def __init__(self, vgg: FeatureExtractor | None, terms: Mapping[str, Sequence[nn.Module]],
                 memory_format: torch.memory_format | None = None) -> None:
        super().__init__()
        self.vgg = vgg
        self.memory_format = memory_format
        self.terms = nn.ModuleDict({name: nn.ModuleList(mods) for name, mods in terms.items()})
        layer_terms = [m for mods in terms.values() for m in mods if isinstance(m, LayerLoss)]
        self.layers = tuple(dict.fromkeys(m.layer for m in layer_terms))
        self.target_layers = tuple(dict.fromkeys(m.layer for m in layer_terms if not m.fixed))
        if self.layers and vgg is None:
            raise ValueError("feature loss terms need a VGG")

    def forward(self, x: torch.Tensor, target: torch.Tensor | None = None,
                use_bf16: bool = False) -> dict[str, torch.Tensor]:
        feats: dict[str, torch.Tensor] = {}
        target_feats: dict[str, torch.Tensor] = {}
        if self.layers:
            assert self.vgg is not None
            if self.target_layers:
                assert target is not None, "these loss terms compare with a target image"
                with torch.no_grad(), autocast(x.device, use_bf16):
                    target_feats = self.vgg(target, self.target_layers)
            vgg_in = x if self.memory_format is None else x.contiguous(memory_format=self.memory_format)
            with autocast(x.device, use_bf16):
                feats = self.vgg(vgg_in, self.layers)
        out: dict[str, torch.Tensor] = {}
        for name, group in self.terms.items():
            value = torch.zeros((), device=x.device)
            for m in cast(nn.ModuleList, group):
                if isinstance(m, LayerLoss):
                    value = value + m(feats[m.layer], target_feats.get(m.layer))
                else:
                    value = value + m(x, target)
            out[name] = value
        total = torch.zeros((), device=x.device)
        for i, value in enumerate(out.values()):
            total = value if i == 0 else total + value  # in order, as a hand-written sum would
        out["total"] = total
        return out
