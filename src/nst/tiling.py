"""Print-size stylisation: global statistics first, then overlapping tiles with feathered blending.

A feed-forward method that declares TILING (`Tileable.for_image(whole, tile=N)`) returns a stylizer
whose tiles use the whole image's statistics (instance norm in a network, AdaIN's content
statistics), accumulated over tiles, so no tile has a colour or contrast of its own. Then each tile
is stylised with a margin of context around it (at least the network's receptive field, so the tile's
inside is computed as in one pass) and the tiles are blended where they overlap with linear
(feathered) weights that sum to one, as diffusers' `tiled_decode` does.

Tile origins are multiples of the method's `tile_multiple` (8: three 2x downsamplings), so every
tile sees the pooling grid of the whole image; the image is reflect-padded to that multiple first,
as the untiled networks do, and cropped at the end.

`tile`: "auto" (tiles when one pass would need more than the tile budget), "off", or a tile size N
(the side of each tile's kept square, in output pixels).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import torch
import torch.nn.functional as F
from torch import nn

from .errors import OptionError
from .progress import Progress, ProgressCallback

#: Bounds of --tile N (a tile's kept side in pixels).
MIN_TILE, MAX_TILE = 64, 16384
#: Default feather width (pixels over which neighbouring tiles cross-fade).
OVERLAP = 32
#: Context defaults when a stylizer does not say (`tile_context`, `tile_multiple`).
CONTEXT, MULTIPLE = 64, 8

TileSpec = "str | int"


def parse_tile(value: Any) -> "str | int":
    """"auto", "off" or a tile size from MIN_TILE to MAX_TILE (text or int); OptionError naming --tile."""
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("auto", "off"):
            return text
        try:
            number = int(text)
        except ValueError:
            raise OptionError(f"must be auto, off or a tile size in pixels ({MIN_TILE} to {MAX_TILE}), "
                              f"not {value!r}", field="tile") from None
    elif isinstance(value, bool) or not isinstance(value, int):
        raise OptionError(f"must be auto, off or a tile size in pixels, not {value!r}", field="tile")
    else:
        number = value
    if not MIN_TILE <= number <= MAX_TILE:
        raise OptionError(f"must be auto, off or a tile size between {MIN_TILE} and {MAX_TILE}, not {number}",
                          field="tile")
    return number


def _down(v: int, m: int) -> int:
    return v // m * m


def _up(v: int, m: int) -> int:
    return -(-v // m) * m


def spans(length: int, keep: int, overlap: int, multiple: int) -> list[tuple[int, int]]:
    """[start, end) of each tile's kept span along an axis of `length` (a multiple of `multiple`).

    The axis is cut into n cores starting on multiples of `multiple` (a partition); each kept span is
    its core widened by overlap/2 on each inner side, so consecutive spans overlap by `overlap` and none
    is longer than `keep`. overlap 0: the spans are the partition. One span when the axis fits."""
    keep = max(multiple, _down(keep, multiple))
    if length <= keep:
        return [(0, length)]
    overlap = min(overlap, keep // 2)
    n = math.ceil(length / max(multiple, keep - overlap))
    cuts = sorted({_down(round(i * length / n), multiple) for i in range(n)} | {length})
    lo, hi = overlap // 2, overlap - overlap // 2
    return [(max(0, a - (lo if i else 0)), min(length, b + (hi if b < length else 0)))
            for i, (a, b) in enumerate(zip(cuts[:-1], cuts[1:]))]


def _weights(sp: list[tuple[int, int]], i: int) -> torch.Tensor:
    """Feather weights of span i: linear ramps where it overlaps its neighbours (complementary, so
    overlapping weights sum to one), 1 elsewhere."""
    s, e = sp[i]
    w = torch.ones(e - s)
    if i > 0 and sp[i - 1][1] > s:
        ov = sp[i - 1][1] - s
        w[:ov] = (torch.arange(ov) + 0.5) / ov
    if i + 1 < len(sp) and sp[i + 1][0] < e:
        ov = e - sp[i + 1][0]
        w[-ov:] = torch.minimum(w[-ov:], 1 - (torch.arange(ov) + 0.5) / ov)
    return w


@dataclass(frozen=True)
class Tile:
    """One tile: the window stylised (context included) and the kept part, as (y0, y1, x0, x1) in image
    pixels; wy, wx: the kept part's feather weights."""

    window: tuple[int, int, int, int]
    keep: tuple[int, int, int, int]
    wy: torch.Tensor
    wx: torch.Tensor


def plan(h: int, w: int, keep: int, overlap: int = OVERLAP, context: int = CONTEXT,
         multiple: int = MULTIPLE) -> list[Tile]:
    """The tiles of an h x w image (both multiples of `multiple`). overlap 0 makes the kept parts a
    partition of the image (what statistics are accumulated over)."""
    ys, xs = spans(h, keep, overlap, multiple), spans(w, keep, overlap, multiple)
    tiles = []
    for i, (y0, y1) in enumerate(ys):
        for j, (x0, x1) in enumerate(xs):
            win = (max(0, _down(y0 - context, multiple)), min(h, _up(y1 + context, multiple)),
                   max(0, _down(x0 - context, multiple)), min(w, _up(x1 + context, multiple)))
            tiles.append(Tile(win, (y0, y1, x0, x1), _weights(ys, i), _weights(xs, j)))
    return tiles


def pad_to(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Reflect-pad N x C x H x W on the bottom/right to multiples of `multiple` (replicate when too thin)."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if not (ph or pw):
        return x
    mode = "reflect" if h > ph and w > pw else "replicate"
    return F.pad(x, (0, pw, 0, ph), mode=mode)


def crop(t: torch.Tensor, box: tuple[int, int, int, int]) -> torch.Tensor:
    y0, y1, x0, x1 = box
    return t[..., y0:y1, x0:x1]


class TileProgress:
    """Counts tile passes (statistics and stylisation) for one progress bar over the whole job."""

    def __init__(self, progress: ProgressCallback | None, total: int, stage: str = "tiles") -> None:
        self.progress, self.total, self.stage, self.step = progress, max(1, total), stage, 0

    def __call__(self, info: str) -> None:
        self.step += 1
        if self.progress is not None:
            self.progress(Progress(self.stage, self.step, self.total, float(self.step), float(self.total), {}, None,
                                   info))


def blend(run: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, tiles: list[Tile],
          tick: Callable[[str], None] | None = None) -> torch.Tensor:
    """run() every tile's window of x (1 x 3 x H x W) and blend the kept parts with their feather weights."""
    out = torch.zeros_like(x, dtype=torch.float32)
    total = torch.zeros((1, 1) + tuple(x.shape[-2:]), dtype=torch.float32)
    for k, t in enumerate(tiles):
        y = run(crop(x, t.window).contiguous())
        wy0, wy1, wx0, wx1 = t.window
        ky0, ky1, kx0, kx1 = t.keep
        part = y[..., ky0 - wy0:ky1 - wy0, kx0 - wx0:kx1 - wx0].float().cpu()
        wt = (t.wy[:, None] * t.wx[None, :])[None, None]
        crop(out, t.keep).add_(part * wt)
        crop(total, t.keep).add_(wt)
        del y, part
        if tick is not None:
            tick(f"tile {k + 1}/{len(tiles)}")
    return out.div_(total.clamp_min_(1e-12))


def stylize_tiled(stylizer: Any, x: torch.Tensor, tile: int, progress: ProgressCallback | None = None,
                  overlap: int = OVERLAP) -> torch.Tensor:
    """Stylise 1 x 3 x H x W `x` in tiles of `tile` px with a TILING stylizer: statistics of the whole
    image first (`for_image(whole, tile=...)`), then the blended tiles. Same size out as in."""
    if x.shape[0] != 1:
        raise OptionError("tiled stylisation takes one image at a time")
    multiple = int(getattr(stylizer, "tile_multiple", MULTIPLE))
    context = int(getattr(stylizer, "tile_context", CONTEXT))
    h, w = x.shape[-2:]
    xp = pad_to(x, multiple)
    tiles = plan(int(xp.shape[-2]), int(xp.shape[-1]), tile, overlap, context, multiple)
    passes = int(stylizer.stat_passes(len(plan(int(xp.shape[-2]), int(xp.shape[-1]), tile, 0, context, multiple)))
                 ) if hasattr(stylizer, "stat_passes") else 0
    tick = TileProgress(progress, passes + len(tiles))
    tiled = stylizer.for_image(xp, tile=tile, tick=tick)
    out = blend(tiled, xp, tiles, tick)
    return out[..., :h, :w].contiguous()


# ---- instance norm with the whole image's statistics (networks) ---------------------------------------


class _Stop(Exception):
    """Ends a statistics pass once the layer being measured has seen its tile."""


class GlobalNorm(nn.Module):
    """Wraps an instance norm (nn.InstanceNorm2d, nets._FixedNorm or nets.CondInstanceNorm): in "fixed" mode
    it normalises with stored whole-image statistics, in "record" mode it accumulates the statistics of its
    input over `region` (the tile's kept part, as fractions of the window) and stops the pass."""

    def __init__(self, norm: nn.Module) -> None:
        super().__init__()
        self.inner = norm
        self.mode = "plain"
        self.eps = float(getattr(norm, "eps", 1e-5))
        self.mean: torch.Tensor | None = None
        self.rstd: torch.Tensor | None = None
        self.region: tuple[float, float, float, float] = (0.0, 1.0, 0.0, 1.0)
        self._sum: torch.Tensor | None = None
        self._sq: torch.Tensor | None = None
        self._n = 0
        self._folded: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None

    def _affine(self, dtype: torch.dtype, mix: torch.Tensor | None) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        m = self.inner
        if hasattr(m, "mix") and getattr(m, "weight", None) is not None and m.weight.dim() == 2:  # CondInstanceNorm
            k = (m.mix[None] if mix is None else mix).to(dtype)
            return (k @ m.weight.to(dtype))[:, :, None, None], (k @ m.bias.to(dtype))[:, :, None, None]
        weight, bias = getattr(m, "weight", None), getattr(m, "bias", None)
        if weight is None:
            return None, None
        return weight.to(dtype)[None, :, None, None], bias.to(dtype)[None, :, None, None]

    def forward(self, x: torch.Tensor, mix: torch.Tensor | None = None) -> torch.Tensor:
        if self.mode == "plain":
            return self.inner(x, mix) if hasattr(self.inner, "mix") else self.inner(x)
        if self.mode == "collect":  # one pass over a whole (smaller) image: record, then normalise as usual
            part = x.double()
            s, q = part.sum(dim=(0, 2, 3)), (part * part).sum(dim=(0, 2, 3))
            self._sum = s if self._sum is None else self._sum + s
            self._sq = q if self._sq is None else self._sq + q
            self._n += part.shape[0] * part.shape[2] * part.shape[3]
            return self.inner(x, mix) if hasattr(self.inner, "mix") else self.inner(x)
        if self.mode == "record":
            h, w = x.shape[-2:]
            fy0, fy1, fx0, fx1 = self.region
            part = x[..., round(fy0 * h):round(fy1 * h), round(fx0 * w):round(fx1 * w)].float()
            s, q = part.sum(dim=(0, 2, 3), dtype=torch.float64), part.square().sum(dim=(0, 2, 3), dtype=torch.float64)
            self._sum = s if self._sum is None else self._sum + s
            self._sq = q if self._sq is None else self._sq + q
            self._n += part.shape[0] * part.shape[2] * part.shape[3]
            raise _Stop
        assert self.mean is not None and self.rstd is not None
        if mix is None and self._folded is not None and self._folded[0].dtype == x.dtype:
            mean, scale, bias = self._folded
        else:  # (x - mean) * rstd * g + b as a subtraction and one multiply-add (x - mean keeps bf16 precise)
            g, b = self._affine(torch.float32, mix)
            scale = self.rstd if g is None else self.rstd * g
            mean, scale = self.mean.to(x.dtype), scale.to(x.dtype)
            bias = torch.zeros_like(scale) if b is None else b.to(x.dtype)
            if mix is None:
                self._folded = (mean, scale, bias)
        return torch.addcmul(bias, x - mean, scale)

    def finish(self) -> None:
        """The recorded statistics become the fixed ones."""
        assert self._sum is not None and self._sq is not None and self._n > 0
        mean = self._sum / self._n
        var = (self._sq / self._n - mean * mean).clamp_min(0)
        self.mean = mean.float()[None, :, None, None]
        self.rstd = (var + self.eps).rsqrt().float()[None, :, None, None]
        self._sum = self._sq = None
        self._n = 0
        self._folded = None
        self.mode = "fixed"


def _is_instance_norm(m: nn.Module) -> bool:
    from .nets import CondInstanceNorm, _FixedNorm

    return isinstance(m, (nn.InstanceNorm2d, _FixedNorm, CondInstanceNorm))


def with_global_norms(net: nn.Module) -> tuple[nn.Module, list[GlobalNorm]]:
    """A copy of `net` whose instance norms are GlobalNorms (in forward order of registration), and them."""
    import copy

    net = copy.deepcopy(net)
    norms: list[GlobalNorm] = []
    for parent in list(net.modules()):
        for name, child in list(parent.named_children()):
            if _is_instance_norm(child) and not isinstance(parent, GlobalNorm):
                g = GlobalNorm(child)
                setattr(parent, name, g)
    order: list[GlobalNorm] = []
    hooks = [m.register_forward_pre_hook(lambda m, a: order.append(m)) for m in net.modules()
             if isinstance(m, GlobalNorm)]
    try:  # the order in which the norms run (registration order need not be forward order)
        m = int(getattr(net, "multiple", 8))
        with torch.inference_mode():
            p = next(net.parameters(), None)
            net(torch.full((1, 3, 4 * m, 4 * m), 0.5, dtype=p.dtype if p is not None else torch.float32))
    finally:
        for h in hooks:
            h.remove()
    for g in order:
        if g not in norms:
            norms.append(g)
    return net, norms


def accumulate_norm_stats(net: nn.Module, norms: list[GlobalNorm], x: torch.Tensor, stat_tiles: list[Tile],
                          prepare: Callable[[torch.Tensor], torch.Tensor],
                          tick: Callable[[str], None] | None = None) -> None:
    """Fix every norm's statistics to those of the whole image x, layer by layer: pass k runs each tile's
    window through the network with norms 0..k-1 fixed and records norm k over the tile's kept part
    (`stat_tiles` partition the image), so every layer sees what it would see in one pass."""
    with torch.inference_mode():
        for k, g in enumerate(norms):
            for n, t in enumerate(stat_tiles):
                wy0, wy1, wx0, wx1 = t.window
                hh, ww = wy1 - wy0, wx1 - wx0
                ky0, ky1, kx0, kx1 = t.keep
                g.region = ((ky0 - wy0) / hh, (ky1 - wy0) / hh, (kx0 - wx0) / ww, (kx1 - wx0) / ww)
                g.mode = "record"
                try:
                    net(prepare(crop(x, t.window)))
                except _Stop:
                    pass
                if tick is not None:
                    tick(f"statistics {k + 1}/{len(norms)}, tile {n + 1}/{len(stat_tiles)}")
            g.finish()


def lowres_norm_stats(net: nn.Module, norms: list[GlobalNorm], x: torch.Tensor, side: int,
                      prepare: Callable[[torch.Tensor], torch.Tensor]) -> None:
    """Fix every norm's statistics to those of one pass over x downscaled to a long side of `side` (a
    multiple of 8): one cheap pass instead of one per norm, approximate (features depend on scale)."""
    h, w = x.shape[-2:]
    k = side / max(h, w)
    small = F.interpolate(x, size=(max(8, round(h * k / 8) * 8), max(8, round(w * k / 8) * 8)), mode="bicubic",
                          antialias=True, align_corners=False).clamp(0, 1)
    for g in norms:
        g.mode = "collect"
    with torch.inference_mode():
        net(prepare(small))
    for g in norms:
        g.finish()


def accumulate_mean_std(encode: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, stat_tiles: list[Tile],
                        eps: float = 1e-5, tick: Callable[[str], None] | None = None
                        ) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and std (1 x C x 1 x 1, as `losses.mean_std`) of encode(x), accumulated over the
    kept parts of `stat_tiles` (a partition of x) with each window's context."""
    s = q = None
    n = 0
    for i, t in enumerate(stat_tiles):
        wy0, wy1, wx0, wx1 = t.window
        f = encode(crop(x, t.window).contiguous())
        fh, fw = f.shape[-2:]
        ky0, ky1, kx0, kx1 = t.keep
        hh, ww = wy1 - wy0, wx1 - wx0
        part = f[..., round((ky0 - wy0) / hh * fh):round((ky1 - wy0) / hh * fh),
                 round((kx0 - wx0) / ww * fw):round((kx1 - wx0) / ww * fw)].double()
        ps, pq = part.sum(dim=(0, 2, 3)), (part * part).sum(dim=(0, 2, 3))
        s = ps if s is None else s + ps
        q = pq if q is None else q + pq
        n += part.shape[2] * part.shape[3]
        del f, part
        if tick is not None:
            tick(f"statistics, tile {i + 1}/{len(stat_tiles)}")
    assert s is not None and q is not None
    mean = s / n
    var = (q / n - mean * mean).clamp_min(0)
    return mean.float()[None, :, None, None], (var + eps).sqrt().float()[None, :, None, None]


def iter_boxes(tiles: list[Tile]) -> Iterator[tuple[int, int, int, int]]:
    for t in tiles:
        yield t.keep


__all__ = ["parse_tile", "plan", "spans", "blend", "stylize_tiled", "GlobalNorm", "with_global_norms",
           "accumulate_norm_stats", "accumulate_mean_std", "pad_to", "Tile", "MIN_TILE", "MAX_TILE", "OVERLAP"]
