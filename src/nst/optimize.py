"""Stylisation by optimisation (Gatys, Ecker & Bethge 2015, "A Neural Algorithm of Artistic Style").

The image's pixels are optimised so that its VGG19 features match the content image's (content
loss) and its Gram matrices match the style images' (style loss), plus a total-variation term.

Where we deviate from the paper, and why:
- Coarse to fine (on by default): we optimise at a small size first and upsample the result as the
  start of the next scale. Low scales are cheap and settle the large structures, so the full-size
  scale needs far fewer iterations (bench/gatys.py measures this).
- Gram matrices are normalised by C*H*W and losses are means, so weights do not depend on the size;
  layers are summed, each with the full weight (the normalisation of nst.losses, shared with training).
- The output has the content tensor's size: the front ends resize (`OptimizeOptions` has no size).
- Style image sizes: each style image is resized so its long side is `style_scale` times the
  current content long side, and its Gram targets are computed once per scale (never per step).
- Several styles are blended by mixing their Gram targets with the blend weights.
- Colour preservation as in Gatys et al. 2017: "histogram" recolours the style images to the
  content's colour statistics before transfer; "luminance" keeps the content's chroma afterwards.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F

from . import losses as L
from .device import pick_device
from .device import use_bf16 as device_use_bf16
from .errors import DivergedError, OptionError
from .features import LAYER_NAMES, VGG19, get_vgg
from .io.image import MAX_PIXELS, resize_long_side
from .memory import ADAIN_BYTES_PER_PIXEL, OPTIMIZE_BYTES_PER_PIXEL, check_memory
from .options import MAX_SEED, MAX_SIDE, MAX_WEIGHT, check, option
from .progress import Progress, ProgressCallback


@dataclass
class OptimizeOptions:
    """Settings for `optimize`; each field's metadata (nst.options) gives its help and bounds.

    The output size is the content tensor's size: front ends resize before calling `optimize`.
    """

    iterations: int = option(80, help="iterations at full size", min=1, max=1_000_000)
    content_weight: float = option(1.0, help="weight of each content layer's loss", min=0.0, max=MAX_WEIGHT)
    style_weight: float = option(6e5, help="weight of each style layer's Gram loss", min=0.0, max=MAX_WEIGHT)
    tv_weight: float = option(10.0, help="weight of the total-variation (smoothness) loss", min=0.0,
                             max=MAX_WEIGHT)
    content_layers: tuple[str, ...] = option(("relu4_2",), help="comma-separated, e.g. relu4_2", items=LAYER_NAMES)
    style_layers: tuple[str, ...] = option(("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"),
                                           help="comma-separated, e.g. relu1_1,relu2_1,relu3_1,relu4_1,relu5_1",
                                           items=LAYER_NAMES)
    optimizer: str = option("lbfgs", help="lbfgs (default) or adam", choices=("lbfgs", "adam"))
    lr: float = option(0.02, help="Adam step size (pixels in [0, 1]); L-BFGS uses 1", min=0.0, exclusive_min=True,
                       max=10.0)
    init: str = option("content", help="starting image", choices=("content", "noise", "style"))
    seed: int = option(0, help="random seed (noise init)", min=0, max=MAX_SEED)
    style_scale: float = option(1.0, help="style image size relative to the output (larger: bigger brush strokes)",
                                min=0.0, exclusive_min=True, max=8.0)
    multiscale: bool = option(True, help="coarse-to-fine schedule (off: single scale, slower)", flag="--no-multiscale")
    min_size: int = option(128, help="long side of the first scale", min=16, max=MAX_SIDE)
    coarse_iterations: int = option(100, help="iterations at each coarser scale", min=0, max=1_000_000)
    preserve_color: str | None = option(None, help="keep the photo's colours: luminance-only transfer or colour "
                                        "histogram matching", choices=(None, "luminance", "histogram"))
    precision: str = option("auto", help="bf16 autocast; auto uses it only where the hardware supports it natively "
                            "(fp32 here: L-BFGS needs fp32 gradients)", choices=("auto", "fp32", "bf16"))
    channels_last: bool = option(True, help="run the VGG in channels_last memory format", cli=False)
    device: str | None = option(None, help="cpu, cuda, cuda:N (default: CUDA when present, else CPU)")
    warm_start: bool = option(False, help="each frame starts from the previous result (video)", cli=False)
    warm_iterations: int | None = option(None, help="iterations for each frame after the first (default: "
                                         "iterations / 4)", min=1, max=1_000_000)
    tile: Any = option("auto", help="scales that do not fit: loss gradients tile by tile (auto, off or a tile "
                       "size in pixels)", cli=False)
    memory_limit: float | None = option(None, help="memory the run may use, in GB (default: what is available)",
                                        min=0.0, exclusive_min=True, max=65536.0, cli=False)

    def validate(self) -> None:
        """Check every field against its metadata (OptionError naming the field)."""
        from .tiling import parse_tile

        check(self)
        self.tile = parse_tile(self.tile)


def scale_sizes(size: int, min_size: int, multiscale: bool) -> list[int]:
    """Long sides of the coarse-to-fine schedule: halving from `size` down to >= min_size."""
    sizes = [size]
    while multiscale and sizes[-1] // 2 >= min_size:
        sizes.append(sizes[-1] // 2)
    return sizes[::-1]


def _check_style_pixels(styles: Sequence[torch.Tensor], long_side: int) -> None:
    """Refuse a style_scale that would make a style image larger than the pixel limit (MAX_PIXELS)."""
    for s in styles:
        h, w = int(s.shape[-2]), int(s.shape[-1])
        k = long_side / max(h, w)
        if h * w * k * k > MAX_PIXELS:
            raise OptionError(f"is too large for this output: a {w}x{h} style would be scaled to {round(w * k)}x"
                              f"{round(h * k)}, more than {MAX_PIXELS // 1_000_000} megapixels; use a smaller "
                              "--style-scale or --size", field="style_scale")


def blend_weights(n: int, weights: Sequence[float] | None) -> list[float]:
    """Validate blend weights for n styles and normalise them to sum to 1."""
    if weights is None:
        return [1.0 / n] * n
    try:
        w = [float(v) for v in weights]
    except (TypeError, ValueError, OverflowError):
        raise OptionError(f"must be a list of numbers, not {weights!r}", field="style_weights") from None
    if len(w) != n:
        raise OptionError(f"{len(w)} style weight(s) given for {n} style(s)")
    if any(not math.isfinite(v) or v < 0 for v in w) or sum(w) <= 0:
        raise OptionError("style weights must be non-negative and not all zero")
    return [v / sum(w) for v in w]


def gatys_loss(vgg: VGG19, content: torch.Tensor, styles: Sequence[torch.Tensor], style_blend: Sequence[float],
               opts: OptimizeOptions) -> L.PerceptualLoss:
    """The loss for one scale: content, style (blended Gram targets) and TV terms, targets computed once.

    `loss(x, use_bf16=...)` takes a 1x3xHxW image and returns the weighted terms "content", "style",
    "tv" and their sum "total" (see nst.losses for the normalisation). Also used by bench/gatys.py.
    """
    with torch.no_grad():
        cf = vgg(content, opts.content_layers)
        grams: dict[str, torch.Tensor] = {}
        for s, w in zip(styles, style_blend):
            sf = vgg(s, opts.style_layers)
            for name in opts.style_layers:
                g = L.gram(sf[name]) * w
                grams[name] = grams[name] + g if name in grams else g
    terms: dict[str, list[torch.nn.Module]] = {
        "content": [L.ContentLoss(n, cf[n], opts.content_weight) for n in opts.content_layers],
        "style": [L.StyleLoss(n, grams[n], opts.style_weight) for n in opts.style_layers],
        "tv": [L.TVLoss(opts.tv_weight)]}
    # x itself stays contiguous (L-BFGS flattens its gradient); the VGG runs channels_last.
    return L.PerceptualLoss(vgg, terms, torch.channels_last if opts.channels_last else torch.contiguous_format)


#: The cost of one iteration, in pixels, is about h * w + STEP_OVERHEAD_PIXELS: measured on this
#: project's 2-core CPUs (L-BFGS, VGG19, fp32) as 282 / 678 / 2575 ms per iteration at 128x85 /
#: 256x170 / 512x341, i.e. ~14 us per pixel plus a fixed ~50-130 ms. Progress counts work in these
#: units, so the ETA measured on a coarse scale holds for the finer ones.
STEP_OVERHEAD_PIXELS = 8192

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


#: L-BFGS history (pairs of vectors) used when memory allows; a scale that does not fit gets fewer.
LBFGS_HISTORY, MIN_HISTORY = 50, 3


def _run_scale(x: torch.Tensor, loss_fn: "L.PerceptualLoss | TiledLoss", n_iter: int, opts: OptimizeOptions,
               use_bf16: bool, on_step: "Callable[[dict[str, torch.Tensor], torch.Tensor], None]",
               history: int = LBFGS_HISTORY) -> None:
    """Optimise the pixels of `x` (a leaf tensor) in place for exactly `n_iter` iterations. A TiledLoss
    fills x.grad itself; `history` is L-BFGS's history size."""
    tiled = isinstance(loss_fn, TiledLoss)
    if opts.optimizer == "adam":
        adam = torch.optim.Adam([x], lr=opts.lr)
        for _ in range(n_iter):
            adam.zero_grad(set_to_none=True)
            losses = loss_fn(x, use_bf16=use_bf16)
            if not tiled:
                losses["total"].backward()
            adam.step()
            on_step(losses, x)
        return
    # No line search and no early stop: exactly n_iter iterations of one evaluation each.
    lbfgs = torch.optim.LBFGS([x], lr=1.0, max_iter=n_iter, max_eval=n_iter + 1, history_size=history,
                              tolerance_grad=-1, tolerance_change=-1)
    evals = 0

    def closure() -> torch.Tensor:
        nonlocal evals
        lbfgs.zero_grad(set_to_none=True)
        losses = loss_fn(x, use_bf16=use_bf16)
        if not tiled:
            losses["total"].backward()
        evals += 1
        if evals <= n_iter:
            on_step(losses, x)
        return losses["total"]

    lbfgs.step(closure)


#: Bytes per image pixel a tiled scale keeps besides the tiles: x, its gradient, the TV temporaries, the
#: content targets (relu4_2: 512 channels at 1/64 of the pixels) and L-BFGS's own vectors (d, t, ...).
TILED_FIXED_BYTES_PER_PX = 160.0
#: Working memory of one tile's VGG forward and backward is capped at this (auto tile size).
OPT_TILE_BUDGET = 3 * 2**30


def receptive_field(layer: str) -> tuple[int, int]:
    """(receptive field in pixels, total stride) of a VGG19 layer ("relu5_1": 156 px, 16)."""
    from .features import _BLOCKS

    rf, stride = 1, 1
    for b, n, _ in _BLOCKS:
        for i in range(1, n + 1):
            rf += 2 * stride
            if layer in (f"relu{b}_{i}", f"conv{b}_{i}"):
                return rf, stride
        if layer == f"pool{b}":
            return rf + stride, stride * 2
        rf += stride
        stride *= 2
    return rf, stride


def tile_geometry(opts: OptimizeOptions) -> tuple[int, int]:
    """(context, multiple) of the tiles: context covers half the receptive field of the deepest layer used
    (rounded up to its stride), origins on multiples of that layer's stride (the pooling grid)."""
    layers = list(opts.content_layers) + list(opts.style_layers)
    deepest = max(layers, key=lambda name: LAYER_NAMES.index(name))
    rf, stride = receptive_field(deepest)
    multiple = max(8, stride)
    return -(-(rf // 2 + 1) // multiple) * multiple, multiple


@dataclass(frozen=True)
class Scale:
    """One scale of the schedule: size, iterations, tile (None: whole image) and L-BFGS history."""

    hw: tuple[int, int]
    iterations: int
    tile: int | None
    history: int
    work_bytes: float


def schedule(final_hw: tuple[int, int], opts: OptimizeOptions, limit: float | None = None) -> list[Scale]:
    """The coarse-to-fine scales and, for each, whether it is tiled and the optimiser memory it gets, so
    that the peak stays within `limit` bytes (default opts.memory_limit, else what is available)."""
    from .memory import available_memory
    from .printsize import BASE_BYTES, IMAGE_BYTES_PER_PX

    if limit is None:
        limit = opts.memory_limit * 2**30 if opts.memory_limit is not None else available_memory()
    size = max(final_hw)
    sizes = scale_sizes(size, opts.min_size, opts.multiscale)
    iters = [opts.coarse_iterations] * (len(sizes) - 1) + [opts.iterations]
    context, multiple = tile_geometry(opts)
    out = []
    for s, n in zip(sizes, iters):
        k = s / size
        hw = final_hw if s == size else (max(1, round(final_hw[0] * k)), max(1, round(final_hw[1] * k)))
        if min(hw) < MIN_SIDE:
            continue
        px = hw[0] * hw[1]
        vec = 12.0 * px  # one fp32 RGB image
        room = None if limit is None else limit - BASE_BYTES["optimize"] - IMAGE_BYTES_PER_PX[False] * (
            final_hw[0] * final_hw[1])
        whole = OPTIMIZE_BYTES_PER_PIXEL * px + 2 * LBFGS_HISTORY * vec
        if opts.tile == "off" or (opts.tile == "auto" and (room is None or whole <= room)):
            history = LBFGS_HISTORY
            if room is not None and opts.tile == "off" and whole > room:
                history = int(max(MIN_HISTORY, (room - OPTIMIZE_BYTES_PER_PIXEL * px) // (2 * vec)))
            out.append(Scale(hw, n, None, history, OPTIMIZE_BYTES_PER_PIXEL * px + 2 * history * vec))
            continue
        if isinstance(opts.tile, int):
            tile = opts.tile
        else:
            budget = OPT_TILE_BUDGET if room is None else min(OPT_TILE_BUDGET, max(0.0, room) / 3)
            side = math.sqrt(budget / OPTIMIZE_BYTES_PER_PIXEL) - 2 * context
            tile = int(max(128, side // 64 * 64))
        window = min(hw[0], tile + 2 * context) * min(hw[1], tile + 2 * context)
        fixed = OPTIMIZE_BYTES_PER_PIXEL * window + TILED_FIXED_BYTES_PER_PX * px
        history = LBFGS_HISTORY
        if room is not None:
            history = int(min(LBFGS_HISTORY, max(MIN_HISTORY, (room - fixed) // (2 * vec))))
        out.append(Scale(hw, n, tile, history, fixed + 2 * history * vec))
    return out


def estimate_optimize(h: int, w: int, opts: OptimizeOptions, limit: float | None = None) -> Any:
    """`nst.printsize.Estimate` of optimize at w x h with these options (the schedule's peak scale)."""
    from .printsize import optimize_estimate

    opts.validate()
    plan = schedule((h, w), opts, limit)
    if not plan:
        raise OptionError(f"a {w}x{h} image is too small for optimize: its short side must be at least {MIN_SIDE} px")
    top = plan[-1]
    tiles = 1
    if top.tile is not None:
        from .tiling import plan as tile_plan

        context, multiple = tile_geometry(opts)
        tiles = len(tile_plan(top.hw[0], top.hw[1], top.tile, 0, context, multiple))
    return optimize_estimate(w, h, [sc.hw for sc in plan], [sc.iterations for sc in plan],
                             [sc.tile is not None for sc in plan], [sc.history for sc in plan],
                             max(sc.work_bytes for sc in plan), top.tile, tiles)


class TiledLoss:
    """The Gatys loss of one scale, evaluated tile by tile with the gradient accumulated in x.grad.

    Tiles are windows of `tile` px plus `context` (half the receptive field of the deepest layer used, so
    the features of each tile's core are those of the whole image); the cores partition the image, so
    every feature is counted once. Pass 1 (no gradient) sums the cores' Gram contributions into the
    global Gram G of each style layer; pass 2 runs each window with gradient and back-propagates the
    surrogate sum((dL/dG) * G_tile) + content terms, with dL/dG = 2 (G - A) / C^2 held constant: the
    sum over tiles is exactly the gradient of the global loss. TV is computed on the whole image."""

    def __init__(self, vgg: VGG19, content: torch.Tensor, grams: dict[str, torch.Tensor], opts: OptimizeOptions,
                 tile: int, context: int, multiple: int, fmt: torch.memory_format) -> None:
        from .tiling import plan

        self.vgg, self.opts, self.fmt = vgg, opts, fmt
        self.grams = grams
        h, w = content.shape[-2:]
        self.hw = (int(h), int(w))
        self.tiles = plan(int(h), int(w), tile, 0, context, multiple)
        self.layers = list(dict.fromkeys(list(opts.content_layers) + list(opts.style_layers)))
        self.on_tile: Callable[[str], None] | None = None
        self.targets: list[dict[str, torch.Tensor]] = []
        self.numel: dict[str, int] = {}
        with torch.no_grad():
            for t in self.tiles:
                f = self._features(content, t, list(opts.content_layers))
                self.targets.append({k: v.clone() for k, v in f.items()})
                for k, v in f.items():
                    self.numel[k] = self.numel.get(k, 0) + v.numel()

    def _core(self, f: torch.Tensor, t: Any) -> torch.Tensor:
        """The part of window features `f` that belongs to the tile's core."""
        wy0, wy1, wx0, wx1 = t.window
        ky0, ky1, kx0, kx1 = t.keep
        sy = max(1, round((wy1 - wy0) / f.shape[-2]))
        sx = max(1, round((wx1 - wx0) / f.shape[-1]))
        y0, x0 = (ky0 - wy0) // sy, (kx0 - wx0) // sx
        y1 = f.shape[-2] if ky1 >= self.hw[0] and wy1 >= self.hw[0] else (ky1 - wy0) // sy
        x1 = f.shape[-1] if kx1 >= self.hw[1] and wx1 >= self.hw[1] else (kx1 - wx0) // sx
        return f[..., y0:y1, x0:x1]

    def _features(self, x: torch.Tensor, t: Any, layers: list[str]) -> dict[str, torch.Tensor]:
        wy0, wy1, wx0, wx1 = t.window
        f = self.vgg(x[..., wy0:wy1, wx0:wx1].contiguous(memory_format=self.fmt), layers)
        return {k: self._core(f[k], t).float() for k in layers}

    @staticmethod
    def _gram_sum(f: torch.Tensor) -> torch.Tensor:
        m = f.reshape(f.shape[0], f.shape[1], -1)
        return torch.bmm(m, m.transpose(1, 2))

    def __call__(self, x: torch.Tensor, use_bf16: bool = False) -> dict[str, torch.Tensor]:
        """Loss terms at x (1 x 3 x H x W leaf); x.grad receives the gradient of the total."""
        opts = self.opts
        style_layers = list(opts.style_layers)
        n = len(self.tiles)
        sums: dict[str, torch.Tensor] = {}
        counts: dict[str, int] = {}
        with torch.no_grad():
            for i, t in enumerate(self.tiles):
                f = self._features(x, t, style_layers)
                for k, v in f.items():
                    sums[k] = sums[k] + self._gram_sum(v) if k in sums else self._gram_sum(v)
                    counts[k] = counts.get(k, 0) + v.shape[2] * v.shape[3]
                if self.on_tile is not None:
                    self.on_tile(f"Gram pass, tile {i + 1}/{n}")
            g = {k: sums[k] / (sums[k].shape[-1] * counts[k]) for k in style_layers}
            style = sum(opts.style_weight * F.mse_loss(g[k], self.grams[k].expand_as(g[k])) for k in style_layers)
            # d style / d G, constant in pass 2
            dg = {k: (2.0 * opts.style_weight / g[k].shape[-1] ** 2) * (g[k] - self.grams[k].expand_as(g[k]))
                  for k in style_layers}
        content_total = torch.zeros(())
        for i, t in enumerate(self.tiles):
            f = self._features(x, t, self.layers)
            surrogate = torch.zeros(())
            for k in opts.content_layers:
                term = opts.content_weight * (f[k] - self.targets[i][k]).pow(2).sum() / self.numel[k]
                surrogate = surrogate + term
                content_total = content_total + term.detach()
            for k in style_layers:
                gt = self._gram_sum(f[k]) / (f[k].shape[1] * counts[k])
                surrogate = surrogate + (dg[k] * gt).sum()
            surrogate.backward()
            del f, surrogate
            if self.on_tile is not None:
                self.on_tile(f"gradient pass, tile {i + 1}/{n}")
        tv = opts.tv_weight * L.tv_loss(x.float())
        tv.backward()
        style_t = torch.as_tensor(style).detach()
        return {"content": content_total, "style": style_t, "tv": tv.detach(),
                "total": content_total + style_t + tv.detach()}


def tiled_grams(vgg: VGG19, img: torch.Tensor, layers: Sequence[str], tile: int, context: int, multiple: int,
                fmt: torch.memory_format) -> dict[str, torch.Tensor]:
    """Gram matrices of `img` (as nst.losses.gram) accumulated over tiles: for style images too large for
    one VGG pass."""
    from .tiling import plan

    h, w = img.shape[-2:]
    loss = TiledLoss.__new__(TiledLoss)
    loss.hw, loss.vgg, loss.fmt = (int(h), int(w)), vgg, fmt
    sums: dict[str, torch.Tensor] = {}
    counts: dict[str, int] = {}
    with torch.no_grad():
        for t in plan(int(h), int(w), tile, 0, context, multiple):
            f = loss._features(img, t, list(layers))
            for k, v in f.items():
                sums[k] = sums[k] + TiledLoss._gram_sum(v) if k in sums else TiledLoss._gram_sum(v)
                counts[k] = counts.get(k, 0) + v.shape[2] * v.shape[3]
    return {k: sums[k] / (sums[k].shape[-1] * counts[k]) for k in layers}


def optimize(content: torch.Tensor, styles: Sequence[torch.Tensor], opts: OptimizeOptions | None = None,
             style_blend: Sequence[float] | None = None, progress: ProgressCallback | None = None,
             vgg: VGG19 | None = None, init: torch.Tensor | None = None,
             temporal: tuple[torch.Tensor, torch.Tensor, float] | None = None) -> torch.Tensor:
    """Stylise `content` (1x3xHxW, RGB [0,1]) with one or more style images.

    Returns a 1x3xHxW tensor, the content's size (resize the content first for another size).
    Deterministic for a given seed, settings and machine. `progress` receives a Progress event after every iteration.
    `init`, if given (1x3xh'xw', RGB [0,1], resized as needed), is the starting image instead of
    `opts.init`: video warm start from the previous stylised frame (Ruder et al. 2016).
    `temporal` = (warped previous result 1x3xHxW, reliability mask 1x1xHxW in [0, 1], weight) adds
    Ruder et al.'s short-term temporal loss, weight x masked MSE to the warped result, at full size.
    """
    opts = opts or OptimizeOptions()
    opts.validate()
    if not styles:
        raise OptionError("at least one style image is needed")
    blend = blend_weights(len(styles), style_blend)
    device = pick_device(opts.device)
    # "auto" is fp32 here: bf16 gradients are too coarse for L-BFGS's curvature estimates.
    bf16 = device_use_bf16("fp32" if opts.precision == "auto" else opts.precision, device)
    vgg = vgg if vgg is not None else get_vgg(device)
    fmt = torch.channels_last if opts.channels_last else torch.contiguous_format
    vgg = vgg.to(device=device, memory_format=fmt)  # type: ignore[call-overload]

    gen = torch.Generator().manual_seed(opts.seed)
    torch.manual_seed(opts.seed)
    content = content.to(device)
    styles = [s.to(device) for s in styles]
    if opts.preserve_color == "histogram":
        styles = [L.match_histogram(s, content) for s in styles]

    final = content
    final_hw = (int(final.shape[-2]), int(final.shape[-1]))
    size = max(final_hw)
    _check_style_pixels(styles, round(size * opts.style_scale))
    if min(final_hw) < MIN_SIDE:
        raise OptionError(f"a {final_hw[1]}x{final_hw[0]} image is too small for optimize: its short side must be "
                          f"at least {MIN_SIDE} px (use --method adain, or a larger --size)")
    plan = schedule(final_hw, opts)
    if temporal is not None:  # the temporal loss works on the whole image: video sizes, never tiled
        plan = [dataclasses.replace(sc, tile=None) for sc in plan]
    top = plan[-1]
    style_px = max(MIN_SIDE, round(size * opts.style_scale)) ** 2  # at most: a square style at the last scale
    if top.tile is None:
        check_memory(OPTIMIZE_BYTES_PER_PIXEL * final_hw[0] * final_hw[1] + ADAIN_BYTES_PER_PIXEL * style_px
                     * len(styles), device, f"optimize at {final_hw[1]}x{final_hw[0]}",
                     "use a smaller --size (or --style-scale)")
    else:
        check_memory(top.work_bytes, device, f"optimize at {final_hw[1]}x{final_hw[0]} in tiles of {top.tile} px",
                     "use a smaller --size or --tile")
    context, multiple = tile_geometry(opts)
    hws, iters = [sc.hw for sc in plan], [sc.iterations for sc in plan]
    work = [n * (h * w + STEP_OVERHEAD_PIXELS) * (2 if sc.tile else 1) for sc, n, (h, w) in zip(plan, iters, hws)]
    total_work, done_work = float(sum(work)), 0.0
    steps_total, step = sum(iters), 0

    x: torch.Tensor | None = None
    for si, ((h, w), n_iter) in enumerate(zip(hws, iters)):
        c = _resize_to(content, (h, w))
        long_side = max(h, w)
        st = [_vgg_sized(resize_long_side(s, max(MIN_SIDE, round(long_side * opts.style_scale)))) for s in styles]
        sc = plan[si]
        if sc.tile is None:
            loss_fn: "L.PerceptualLoss | TiledLoss" = gatys_loss(
                vgg, c.contiguous(memory_format=fmt), [s.contiguous(memory_format=fmt) for s in st], blend, opts)
        else:
            grams: dict[str, torch.Tensor] = {}
            for s_img, wgt in zip(st, blend):
                for k, g in tiled_grams(vgg, s_img, opts.style_layers, sc.tile, context, multiple, fmt).items():
                    grams[k] = grams[k] + g * wgt if k in grams else g * wgt
            loss_fn = TiledLoss(vgg, c, grams, opts, sc.tile, context, multiple, fmt)
        if temporal is not None and si == len(hws) - 1:
            loss_fn.terms["temporal"] = torch.nn.ModuleList(
                [L.TemporalLoss(temporal[0].to(device), temporal[1].to(device), temporal[2])])
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
        info = f"scale {si + 1}/{len(hws)} {w}x{h}" + (f", {len(loss_fn.tiles)} tiles" if isinstance(
            loss_fn, TiledLoss) else "")

        def on_step(terms: dict[str, torch.Tensor], x: torch.Tensor, info: str = info,
                    per_iter: float = per_iter) -> None:
            nonlocal step, done_work
            step += 1
            done_work += per_iter
            if progress is not None:
                losses = {k: v.item() for k, v in terms.items()}
                progress(Progress("optimize", step, steps_total, done_work, total_work, losses, x, info))

        if isinstance(loss_fn, TiledLoss) and progress is not None:
            n_tiles = len(loss_fn.tiles)

            def on_tile(what: str, info: str = info, per_iter: float = per_iter, n_tiles: int = n_tiles) -> None:
                progress(Progress("optimize", step, steps_total, done_work + per_iter * 0.5 / n_tiles, total_work, {},
                                  None, f"{info}: {what}"))

            loss_fn.on_tile = on_tile
        _run_scale(x, loss_fn, n_iter, opts, bf16, on_step, plan[si].history)
        if not torch.isfinite(x).all():
            raise DivergedError("optimisation diverged (NaN); try lower weights or --optimizer lbfgs")
        with torch.no_grad():
            x.clamp_(0, 1)

    assert x is not None
    out = x.detach().contiguous().clamp(0, 1)
    if opts.preserve_color == "luminance":
        out = L.luminance_transfer(out, final)
    return out
