"""Losses and colour helpers: pure functions on NCHW tensors (Gatys et al. 2015, 2017).

Shapes: features are N x C x H x W; Gram matrices are N x C x C; images are RGB in [0, 1].
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

# ITU-R BT.601 YIQ, as in Gatys et al. 2017 ("Controlling Perceptual Factors"), section 5.
_RGB2YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])


def gram(f: torch.Tensor) -> torch.Tensor:
    """Gram matrix normalised by the number of elements: N x C x C = F F^T / (C H W).

    Normalising by C*H*W (not only H*W) keeps style losses of different layers and image
    sizes on one scale, so one style weight works across sizes and the multi-scale schedule.
    Computed in fp32 even under autocast: Gram sums of many products lose too much in bf16.
    """
    n, c, h, w = f.shape
    x = f.reshape(n, c, h * w).float()
    return torch.bmm(x, x.transpose(1, 2)) / (c * h * w)


def content_loss(f: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error between feature maps (Gatys et al. use the sum / 2; we use the mean)."""
    return F.mse_loss(f.float(), target.float())


def style_loss(f: torch.Tensor, target_gram: torch.Tensor) -> torch.Tensor:
    """Mean squared error between the Gram matrix of `f` and a target Gram matrix (C x C or N x C x C)."""
    g = gram(f)
    return F.mse_loss(g, target_gram.expand_as(g))


def tv_loss(x: torch.Tensor) -> torch.Tensor:
    """Total variation: mean squared difference of neighbouring pixels. A constant image gives 0."""
    dh = x[..., 1:, :] - x[..., :-1, :]
    dw = x[..., :, 1:] - x[..., :, :-1]
    return dh.pow(2).mean() + dw.pow(2).mean()


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
