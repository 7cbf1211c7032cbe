"""Stylisation by optimisation (Gatys, Ecker & Bethge 2015, "A Neural Algorithm of Artistic Style").

The image's pixels are optimised so that its VGG19 features match the content image's (content
loss) and its Gram matrices match the style images' (style loss), plus a total-variation term.

Where we deviate from the paper, and why:
- Coarse to fine (on by default): we optimise at a small size first and upsample the result as the
  start of the next scale. Low scales are cheap and settle the large structures, so the full-size
  scale needs far fewer iterations (bench/gatys.py measures this).
- Gram matrices are normalised by C*H*W and losses are means, so weights do not depend on the size.
- Style image sizes: each style image is resized so its long side is `style_scale` times the
  current content long side, and its Gram targets are computed once per scale (never per step).
- Several styles are blended by mixing their Gram targets with the blend weights.
- Colour preservation as in Gatys et al. 2017: "histogram" recolours the style images to the
  content's colour statistics before transfer; "luminance" keeps the content's chroma afterwards.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import torch
import torch.nn.functional as F

from . import losses as L
from .device import autocast, bf16_supported, pick_device
from .errors import OptionError
from .features import VGG19, get_vgg
from .image_io import resize_long_side
from .progress import Progress, ProgressCallback


@dataclass
class OptimizeOptions:
    """Settings for `optimize`; the CLI derives its flags and defaults from these fields."""

    iterations: int = 80                # iterations at the full-size scale
    content_weight: float = 1.0
    style_weight: float = 3e6
    tv_weight: float = 10.0
    content_layers: tuple[str, ...] = ("relu4_2",)
    style_layers: tuple[str, ...] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
    optimizer: str = "lbfgs"            # lbfgs | adam
    lr: float = 0.02                    # Adam step size (pixels in [0, 1]); L-BFGS uses 1
    init: str = "content"               # content | noise | style
    seed: int = 0
    style_scale: float = 1.0
    multiscale: bool = True             # coarse-to-fine schedule
    min_size: int = 128                 # long side of the first scale
    coarse_iterations: int = 100        # iterations at each scale below full size
    preserve_color: str | None = None   # None | luminance | histogram
    precision: str = "auto"             # auto | fp32 | bf16 (auto: bf16 only where the hardware has it)
    channels_last: bool = True
    device: str | None = None
    warm_start: bool = False            # video: each frame starts from the previous result
    warm_iterations: int | None = None  # iterations for each frame after the first (default iterations / 4)

    def validate(self) -> None:
        choices = {"optimizer": ("lbfgs", "adam"), "init": ("content", "noise", "style"),
                   "precision": ("auto", "fp32", "bf16")}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise OptionError(f"--{name.replace('_', '-')} must be one of {', '.join(allowed)}, "
                                  f"not '{getattr(self, name)}'")
        if self.preserve_color not in (None, "luminance", "histogram"):
            raise OptionError(f"--preserve-color must be luminance or histogram, not '{self.preserve_color}'")
        for name in ("iterations", "min_size"):
            if getattr(self, name) < (16 if "size" in name else 1):
                raise OptionError(f"--{name.replace('_', '-')} is too small: {getattr(self, name)}")
        for name in ("content_weight", "style_weight", "tv_weight", "lr", "style_scale"):
            v = getattr(self, name)
            if not math.isfinite(v) or v < 0 or (name in ("lr", "style_scale") and v == 0):
                raise OptionError(f"--{name.replace('_', '-')} must be a positive number, not {v}")
        if self.coarse_iterations < 0:
            raise OptionError("--coarse-iterations must be >= 0")
        if not self.style_layers:
            raise OptionError("at least one style layer is needed")


def scale_sizes(size: int, min_size: int, multiscale: bool) -> list[int]:
    """Long sides of the coarse-to-fine schedule: halving from `size` down to >= min_size."""
    sizes = [size]
    while multiscale and sizes[-1] // 2 >= min_size:
        sizes.append(sizes[-1] // 2)
    return sizes[::-1]


def blend_weights(n: int, weights: Sequence[float] | None) -> list[float]:
    """Validate blend weights for n styles and normalise them to sum to 1."""
    if weights is None:
        return [1.0 / n] * n
    w = [float(v) for v in weights]
    if len(w) != n:
        raise OptionError(f"{len(w)} style weight(s) given for {n} style(s)")
    if any(not math.isfinite(v) or v < 0 for v in w) or sum(w) <= 0:
        raise OptionError("style weights must be non-negative and not all zero")
    return [v / sum(w) for v in w]


class GatysLoss(torch.nn.Module):
    """Weighted content + style + TV loss for one scale; targets are buffers computed once.

    `forward(x)` takes a 1x3xHxW image and returns (total, parts), parts being unweighted floats
    as tensors: content, style, tv. Also used by bench/gatys.py as the shared loss definition.
    """

    def __init__(self, vgg: VGG19, content: torch.Tensor, styles: Sequence[torch.Tensor],
                 style_blend: Sequence[float], opts: OptimizeOptions) -> None:
        super().__init__()
        self.vgg = vgg
        self.opts = opts
        self.memory_format = torch.channels_last if opts.channels_last else torch.contiguous_format
        self.layers = list(dict.fromkeys(list(opts.content_layers) + list(opts.style_layers)))
        with torch.no_grad():
            cf = vgg(content, opts.content_layers)
            for name in opts.content_layers:
                self.register_buffer("content_" + name, cf[name].detach().float())
            grams: dict[str, torch.Tensor] = {}
            for s, w in zip(styles, style_blend):
                sf = vgg(s, opts.style_layers)
                for name in opts.style_layers:
                    g = L.gram(sf[name]) * w
                    grams[name] = grams[name] + g if name in grams else g
            for name, g in grams.items():
                self.register_buffer("gram_" + name, g)

    def parts(self, x: torch.Tensor, use_bf16: bool = False) -> dict[str, torch.Tensor]:
        with autocast(x.device, use_bf16):
            # x itself stays contiguous (L-BFGS flattens its gradient); the VGG runs channels_last.
            f = self.vgg(x.contiguous(memory_format=self.memory_format), self.layers)
        o = self.opts
        c = sum(L.content_loss(f[n], getattr(self, "content_" + n)) for n in o.content_layers) / len(o.content_layers)
        s = sum(L.style_loss(f[n], getattr(self, "gram_" + n)) for n in o.style_layers) / len(o.style_layers)
        return {"content": c, "style": s, "tv": L.tv_loss(x.float())}  # type: ignore[dict-item]

    def forward(self, x: torch.Tensor, use_bf16: bool = False) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        p = self.parts(x, use_bf16)
        o = self.opts
        total = o.content_weight * p["content"] + o.style_weight * p["style"] + o.tv_weight * p["tv"]
        return total, p


#: Shortest image side VGG19 accepts here: four 2x poolings must leave at least 2 px for reflection padding.
MIN_SIDE = 32


def _vgg_sized(x: torch.Tensor) -> torch.Tensor:
    """Upscale an image whose short side is below MIN_SIDE (a tiny or very wide style image)."""
    h, w = x.shape[-2:]
    if min(h, w) >= MIN_SIDE:
        return x
    k = MIN_SIDE / min(h, w)
    return F.interpolate(x, size=(max(MIN_SIDE, round(h * k)), max(MIN_SIDE, round(w * k))), mode="bicubic",
                         align_corners=False).clamp(0, 1)


def _resize_to(x: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
    if tuple(x.shape[-2:]) == hw:
        return x
    return F.interpolate(x, size=hw, mode="bicubic", align_corners=False, antialias=True).clamp(0, 1)


def _run_scale(x: torch.Tensor, loss_fn: GatysLoss, n_iter: int, opts: OptimizeOptions, use_bf16: bool,
               on_step: "Callable[[dict[str, torch.Tensor], torch.Tensor, torch.Tensor], None]") -> None:
    """Optimise the pixels of `x` (a leaf tensor) in place for exactly `n_iter` iterations."""
    if opts.optimizer == "adam":
        adam = torch.optim.Adam([x], lr=opts.lr)
        for _ in range(n_iter):
            adam.zero_grad(set_to_none=True)
            total, parts = loss_fn(x, use_bf16)
            total.backward()
            adam.step()
            on_step(parts, total.detach(), x)
        return
    # No line search and no early stop: exactly n_iter iterations of one evaluation each.
    lbfgs = torch.optim.LBFGS([x], lr=1.0, max_iter=n_iter, max_eval=n_iter + 1, history_size=50,
                              tolerance_grad=-1, tolerance_change=-1)
    evals = 0

    def closure() -> torch.Tensor:
        nonlocal evals
        lbfgs.zero_grad(set_to_none=True)
        total, parts = loss_fn(x, use_bf16)
        total.backward()
        evals += 1
        if evals <= n_iter:
            on_step(parts, total.detach(), x)
        return total

    lbfgs.step(closure)


def optimize(content: torch.Tensor, styles: Sequence[torch.Tensor], opts: OptimizeOptions | None = None,
             style_blend: Sequence[float] | None = None, progress: ProgressCallback | None = None,
             vgg: VGG19 | None = None, init: torch.Tensor | None = None) -> torch.Tensor:
    """Stylise `content` (1x3xHxW, RGB [0,1], any size) with one or more style images.

    Returns a 1x3xHxW tensor (the content's size; front ends resize first). Deterministic for a given seed,
    settings and machine. `progress` receives a Progress event after every iteration.
    `init`, if given (1x3xh'xw', RGB [0,1], resized as needed), is the starting image instead of
    `opts.init`: video warm start from the previous stylised frame (Ruder et al. 2016).
    """
    opts = opts or OptimizeOptions()
    opts.validate()
    if not styles:
        raise OptionError("at least one style image is needed")
    blend = blend_weights(len(styles), style_blend)
    device = pick_device(opts.device)
    # "auto" is fp32 here: bf16 gradients are too coarse for L-BFGS's curvature estimates.
    use_bf16 = opts.precision == "bf16" and bf16_supported(device)
    vgg = vgg if vgg is not None else get_vgg(device)
    fmt = torch.channels_last if opts.channels_last else torch.contiguous_format
    vgg = vgg.to(device=device, memory_format=fmt)  # type: ignore[call-overload]

    gen = torch.Generator().manual_seed(opts.seed)
    torch.manual_seed(opts.seed)
    content = content.to(device)
    styles = [s.to(device) for s in styles]
    if opts.preserve_color == "histogram":
        styles = [L.match_histogram(s, content) for s in styles]

    size = int(max(content.shape[-2:]))
    sizes = scale_sizes(size, opts.min_size, opts.multiscale)
    final = resize_long_side(content, size)
    final_hw = (int(final.shape[-2]), int(final.shape[-1]))
    iters = [opts.coarse_iterations] * (len(sizes) - 1) + [opts.iterations]
    hws = []
    for s in sizes[:-1]:
        k = s / size
        hws.append((max(1, round(final_hw[0] * k)), max(1, round(final_hw[1] * k))))
    hws.append(final_hw)
    if min(final_hw) < MIN_SIDE:
        raise OptionError(f"output {final_hw[1]}x{final_hw[0]} is too small: the short side must be at least "
                          f"{MIN_SIDE} px (raise --size)")
    keep = [i for i, hw in enumerate(hws) if min(hw) >= MIN_SIDE]  # coarse scales too small for VGG19 go
    hws, iters = [hws[i] for i in keep], [iters[i] for i in keep]
    work = [n * h * w for n, (h, w) in zip(iters, hws)]
    total_work, done_work = float(sum(work)), 0.0
    steps_total, step = sum(iters), 0

    x: torch.Tensor | None = None
    for si, ((h, w), n_iter) in enumerate(zip(hws, iters)):
        c = _resize_to(content, (h, w))
        long_side = max(h, w)
        st = [_vgg_sized(resize_long_side(s, max(MIN_SIDE, round(long_side * opts.style_scale)))) for s in styles]
        loss_fn = GatysLoss(vgg, c.contiguous(memory_format=fmt), [s.contiguous(memory_format=fmt) for s in st],
                            blend, opts)
        if x is None:
            if init is not None:
                x = _resize_to(init.to(device).float(), (h, w))
            elif opts.init == "content":
                x = c.clone()
            elif opts.init == "noise":
                x = torch.rand(c.shape, generator=gen).to(device)
            else:
                x = _resize_to(styles[0], (h, w))
        else:
            x = F.interpolate(x, size=(h, w), mode="bicubic", align_corners=False).clamp(0, 1)
        x = x.detach().contiguous().requires_grad_(True)
        if n_iter == 0:
            continue
        per_iter = work[si] / n_iter
        info = f"scale {si + 1}/{len(hws)} {w}x{h}"

        def on_step(parts: dict[str, torch.Tensor], total: torch.Tensor, x: torch.Tensor, info: str = info,
                    per_iter: float = per_iter) -> None:
            nonlocal step, done_work
            step += 1
            done_work += per_iter
            if progress is not None:
                losses = {"total": total.item(), **{k: v.item() for k, v in parts.items()}}
                progress(Progress("optimize", step, steps_total, done_work, total_work, losses, x, info))

        _run_scale(x, loss_fn, n_iter, opts, use_bf16, on_step)
        if not torch.isfinite(x).all():
            raise FloatingPointError("optimisation diverged (NaN); try lower weights or --optimizer lbfgs")
        with torch.no_grad():
            x.clamp_(0, 1)

    assert x is not None
    out = x.detach().contiguous().clamp(0, 1)
    if opts.preserve_color == "luminance":
        out = L.luminance_transfer(out, final)
    return out
