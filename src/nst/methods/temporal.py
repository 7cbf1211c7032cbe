"""Temporal consistency for video: any stylizer made SEQUENTIAL with optical flow (no flicker).

`TemporalStylizer(inner, opts)` wraps a stylizer. For each frame after the first it estimates DIS
optical flow between the previous and the current source frame (both directions), finds the
reliable pixels (forward-backward check, `nst.flow`), warps its previous result to the current
frame and makes the new result agree with it there:

- a stylizer that declares GUIDED (optimize) is given the warped result and the confidence, and
  follows it itself (Ruder et al. 2016: warm start plus a temporal loss);
- any other (net, adain, ...) is run on the frame alone and its output blended with the warped
  previous result, clamped to the new result's local colour range (HISTORY_CLAMP):
  out = s + strength * c * (clamp(warp(prev)) - s). The confidence c is 0 where the flow fails the check
  and falls off with the photometric error of the warped *source* frame (exp(-(e / PHOTO_SIGMA)^2)), so a
  wrong flow never drags old paint over new content, and the clamp keeps paint the new frame has nowhere
  near from persisting (no ghosts). The blend of successive textures that do not line up loses contrast;
  `restore_detail` gives each DETAIL_BLOCK block back the detail contrast of the new result.

A stylizer that works on a coarser grid (`tile_multiple`: the networks and AdaIN work at 1/8 resolution)
paints a different texture when the scene moves by a fraction of that grid: its texture is not
shift-equivariant (a 3 px shift changes the_scream's output by 0.066, an 8 px one by 0.020). So the input
is padded by the scene's accumulated motion (the median flow, rounded), modulo the grid, and the result
cropped back (`phase_pad`): the grid moves with the scene, and a pan keeps its texture in place.

A scene cut (mean photometric error of the warped source frame above `scene_cut`) restarts the
sequence: that frame is stylised on its own. The state is the previous result and source frame,
both 8-bit (what a saved frame keeps), and the grid phase (two more channels), so `reset(state)`
continues a resumed video exactly.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from dataclasses import dataclass
from typing import Any, cast

import cv2
import numpy as np
import torch

from .. import flow as F
from ..io.frames import tensor_to_arrays
from ..options import check, option
from .base import GUIDED, SEQUENTIAL, STRENGTH, Adjustable, BaseStylizer, Guided, Sequential, Stylizer

#: Long side (px) up to which the flow and its checks are computed: larger frames are shrunk by the smallest
#: whole factor that fits (a whole factor is what OpenCV's area resize does fastest), the flow and confidence
#: upsampled. Measured with bench/temporal.py (docs/DESIGN-NOTES.md has the sweep).
FLOW_MAX_SIDE = 320
#: The warped previous result is clamped, per channel, to the range of the new frame's result in a square of
#: this many pixels around each pixel before the blend (what temporal anti-aliasing in games calls neighbourhood
#: clamping): paint the new frame has nowhere near (a dark wing's halo left over a uniform sky, where any flow
#: passes the photometric check) cannot persist. 7 removed the ghosts seen on the fast clip at 3-5% more
#: warping error than none (docs/DESIGN-NOTES.md).
HISTORY_CLAMP = 7
#: Photometric error of the warped source frame (luma, [0, 1]) at which the blend weight falls to 1/e.
PHOTO_SIGMA = 0.1
#: `restore_detail`: blocks (px) over which the blend's detail contrast is matched to the new result's, and
#: the largest gain it may apply (docs/DESIGN-NOTES.md has the sweep).
DETAIL_BLOCK = 32
DETAIL_MAX_GAIN = 3.0


@dataclass
class TemporalOptions:
    """Temporal consistency settings (`nst video`, `nst camera`); the CLI's flags come from these fields."""

    temporal: bool = option(True, help="temporal consistency: optical flow keeps each frame's paint where the "
                            "previous frame's was, so textures do not flicker")
    temporal_strength: float = option(0.95, help="how closely each frame follows the previous one warped by the "
                                      "flow (0 = every frame on its own)", min=0.0, max=1.0)
    flow_preset: str = option("fast", help="DIS optical flow preset: ultrafast, fast or medium (slower, finer)",
                              choices=tuple(F.PRESETS))
    scene_cut: float = option(0.1, help="mean colour change (0..1) left after motion compensation that counts "
                              "as a scene cut: the sequence restarts there", min=0.0, exclusive_min=True, max=1.0)

    def validate(self) -> None:
        check(self)


def _to_tensor(a: np.ndarray, like: torch.Tensor) -> torch.Tensor:
    t = torch.from_numpy(np.ascontiguousarray(a))
    t = t.permute(2, 0, 1)[None] if t.dim() == 3 else t[None, None]
    return t.to(like.device)


class _Memory:
    """What a sequence carries from frame to frame (shared by `with_strength` copies): the previous
    source frame (uint8 H x W x 3) and its shrunk luma for the flow, the previous result (uint8), the flow
    estimator, and counters."""

    def __init__(self, preset: str) -> None:
        self.estimator = F.FlowEstimator(preset)
        self.src: np.ndarray | None = None
        self.small: np.ndarray | None = None
        self.out: np.ndarray | None = None
        self.phase = (0, 0)  # (x, y) offset of the stylizer's grid: the scene's accumulated motion, modulo it
        self.frames = self.cuts = 0
        self.inner_seconds = self.total_seconds = 0.0
        self.lock = threading.Lock()

    def clear(self) -> None:
        self.src = self.small = self.out = None
        self.phase = (0, 0)


def _shrunk_gray(rgb: np.ndarray) -> np.ndarray:
    """Luma of an H x W x 3 uint8 frame, shrunk by the smallest whole factor that brings its long side to at
    most FLOW_MAX_SIDE (area averaging)."""
    g = F.gray(rgb)
    h, w = g.shape
    k = -(-max(h, w) // FLOW_MAX_SIDE)
    if k == 1:
        return g
    return cv2.resize(g, (max(8, w // k), max(8, h // k)), interpolation=cv2.INTER_AREA)


def _block_variance(gray: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    g = gray.astype(np.float32)
    m = cv2.resize(g, size, interpolation=cv2.INTER_AREA)
    return cv2.resize(g * g, size, interpolation=cv2.INTER_AREA) - m * m


def restore_detail(out: np.ndarray, s: np.ndarray, block: int = DETAIL_BLOCK,
                   max_gain: float = DETAIL_MAX_GAIN) -> np.ndarray:
    """`out` (the blend, H x W x 3 uint8) with its detail (what differs from its block-wise low-pass) scaled,
    per block of `block` px, so that its luma variance matches the new result `s`'s: gain
    sqrt((var_s + 1) / (var_out + 1)), between 1 and `max_gain`, interpolated between blocks. Where the
    blend kept the contrast (a steady scene), the gain is 1 and `out` is unchanged."""
    h, w = s.shape[:2]
    size = (max(1, w // block), max(1, h // block))
    vs = _block_variance(cv2.cvtColor(s, cv2.COLOR_RGB2GRAY), size)
    vo = _block_variance(cv2.cvtColor(out, cv2.COLOR_RGB2GRAY), size)
    gain = np.sqrt((vs + 1.0) / (vo + 1.0)).clip(1.0, max_gain)
    if float(gain.max()) <= 1.001:
        return out
    low = cv2.resize(cv2.resize(out, size, interpolation=cv2.INTER_AREA), (w, h), interpolation=cv2.INTER_LINEAR)
    gain = cv2.resize(gain, (w, h), interpolation=cv2.INTER_LINEAR)
    return cv2.blendLinear(out, low, gain, np.float32(1.0) - gain)  # low + gain (out - low), saturated


def phase_pad(x: torch.Tensor, phase: tuple[int, int], multiple: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """`x` (N x 3 x H x W) reflect-padded so that its pixel (0, 0) lands at `phase` (x, y) of a `multiple`-px
    grid, to a size that does not depend on the phase (a whole number of grid cells, one more than H and W
    need); and the (left, top) offset to crop the result at."""
    h, w = int(x.shape[-2]), int(x.shape[-1])
    left, top = phase
    wp, hp = -(-w // multiple) * multiple + multiple, -(-h // multiple) * multiple + multiple
    pad = (left, wp - w - left, top, hp - h - top)
    if max(pad) >= min(h, w):  # reflect needs a pad smaller than the image: replicate (tiny frames)
        return torch.nn.functional.pad(x, pad, mode="replicate"), (left, top)
    return torch.nn.functional.pad(x, pad, mode="reflect"), (left, top)


class TemporalStylizer(BaseStylizer):
    """`inner` made temporally consistent (see the module). Call it on the frames of one sequence in
    order; `reset()` starts another. `overhead` is the measured cost of the flow and blend relative to
    the inner stylizer's time (the camera turns temporal mode off when it costs too much)."""

    thread_safe = False
    finite_by_construction = True  # every result is an 8-bit image (the inner stylizer's is checked)

    def __init__(self, inner: Stylizer, opts: TemporalOptions | None = None, memory: _Memory | None = None) -> None:
        super().__init__(inner.name, inner.device)
        self.inner = inner
        self.opts = opts or TemporalOptions()
        self.opts.validate()
        caps: frozenset[str] = getattr(inner, "capabilities", frozenset())
        self.capabilities = frozenset({SEQUENTIAL}) | (caps & {STRENGTH})
        self.guided = GUIDED in caps
        #: the grid the inner stylizer's texture is tied to (1: none, or it follows the guide itself)
        self.multiple = 1 if self.guided else max(1, int(getattr(inner, "tile_multiple", 1)))
        self.memory = memory or _Memory(self.opts.flow_preset)
        self._lock = self.memory.lock  # strength copies share one sequence: one caller at a time

    # ---- Sequential

    def reset(self, state: torch.Tensor | None = None) -> None:
        """Start a sequence; `state` (1 x 8 x H x W: previous result, previous source frame, grid phase x and
        y as k / 255 in every pixel) continues one."""
        m = self.memory
        m.clear()
        if SEQUENTIAL in getattr(self.inner, "capabilities", frozenset()):
            cast(Sequential, self.inner).reset(None)
        if state is not None:
            m.out = tensor_to_arrays(state[:, :3])[0]
            m.src = tensor_to_arrays(state[:, 3:6])[0]
            m.small = _shrunk_gray(m.src)
            if state.shape[1] >= 8:
                px, py = (int(round(float(state[0, c, 0, 0]) * 255.0)) for c in (6, 7))
                m.phase = (px % self.multiple, py % self.multiple)

    def state(self) -> torch.Tensor | None:
        m = self.memory
        if m.src is None or m.out is None:
            return None
        h, w = m.src.shape[:2]
        phase = np.empty((h, w, 2), np.uint8)
        phase[..., 0], phase[..., 1] = m.phase
        both = np.concatenate([m.out, m.src, phase], axis=2).astype(np.float32) / np.float32(255.0)
        return torch.from_numpy(both).permute(2, 0, 1)[None].contiguous()

    # ---- Adjustable (when the inner stylizer is)

    @property
    def strength(self) -> float:
        return cast(Adjustable, self.inner).strength

    def with_strength(self, strength: float) -> "TemporalStylizer":
        return TemporalStylizer(cast(Adjustable, self.inner).with_strength(strength), self.opts, self.memory)

    def config(self) -> dict[str, Any]:
        # "version" 2: the grid follows the scene and the detail is restored (frames of version 1 differ)
        return dict(self.inner.config(), temporal=dict(dataclasses.asdict(self.opts), version=2))

    @property
    def overhead(self) -> float:
        """(flow + blend time) / inner stylizer time over the frames so far (0 before any)."""
        m = self.memory
        return (m.total_seconds - m.inner_seconds) / m.inner_seconds if m.inner_seconds > 0 else 0.0

    # ---- the frames

    def _inner(self, x: torch.Tensor) -> torch.Tensor:
        t0 = time.perf_counter()
        y = self.inner(x)
        self.memory.inner_seconds += time.perf_counter() - t0
        return y

    def _locked(self, x: torch.Tensor) -> torch.Tensor:
        """The inner stylizer on `x` with its grid at the sequence's phase (see the module)."""
        if self.multiple == 1:
            return self._inner(x)
        h, w = int(x.shape[-2]), int(x.shape[-1])
        padded, (left, top) = phase_pad(x, self.memory.phase, self.multiple)
        return self._inner(padded)[..., top:top + h, left:left + w]

    def _stylize(self, frames: torch.Tensor) -> torch.Tensor:
        return torch.cat([self._one(f[None]) for f in frames])

    def _guide(self, small: np.ndarray, h: int, w: int) -> tuple[np.ndarray, np.ndarray] | None:
        """(previous result warped to this frame (uint8), confidence H x W float32 in [0, 1]), or None at a
        scene cut. `small` is this frame's shrunk luma: flow, occlusion check and photometric error are
        computed at that size (their cost stays a small share of the stylizer's), then the flow and the
        confidence are upsampled. Moves the grid phase with the scene's median motion."""
        m = self.memory
        assert m.small is not None and m.out is not None
        flow_bw, flow_fw = m.estimator.pair(m.small, small)
        diff = cv2.absdiff(F.warp(m.small, flow_bw), small)
        if cv2.mean(diff)[0] / 255.0 > self.opts.scene_cut:
            m.cuts += 1
            return None
        if self.multiple > 1:  # the scene point now at p was at p + flow_bw(p): the grid moves with it
            dx, dy = np.median(flow_bw[::4, ::4].reshape(-1, 2), axis=0) * np.float32(w / small.shape[1])
            m.phase = (int(m.phase[0] + round(float(dx))) % self.multiple,
                       int(m.phase[1] + round(float(dy))) % self.multiple)
        err = diff.astype(np.float32) * np.float32(1.0 / (255.0 * PHOTO_SIGMA))
        conf = np.exp(-(err * err)) * F.reliable(flow_bw, flow_fw)
        conf = cv2.blur(conf, (3, 3))  # no hard seams at the edge of a disocclusion
        sh, sw = small.shape
        fx, fy = cv2.split(flow_bw)  # split at the small size: planes are cheaper to upsample and remap
        if (sh, sw) != (h, w):
            fx = cv2.resize(fx, (w, h), interpolation=cv2.INTER_LINEAR)
            fy = cv2.resize(fy, (w, h), interpolation=cv2.INTER_LINEAR)
            fx *= np.float32(w / sw)
            fy *= np.float32(h / sh)
            conf = cv2.resize(conf, (w, h), interpolation=cv2.INTER_LINEAR)
        return F.warp_xy(m.out, fx, fy), conf

    def _one(self, x: torch.Tensor) -> torch.Tensor:
        t0 = time.perf_counter()
        m = self.memory
        src = tensor_to_arrays(x)[0]
        small = _shrunk_gray(src)
        guide = None
        if m.small is not None and m.out is not None and m.src is not None and m.src.shape == src.shape:
            guide = self._guide(small, *src.shape[:2])
        if guide is None:
            m.phase = (0, 0)
            if SEQUENTIAL in getattr(self.inner, "capabilities", frozenset()):
                cast(Sequential, self.inner).reset(None)  # a new sequence for the inner stylizer too
            out = tensor_to_arrays(self._locked(x))[0]
        elif self.guided:
            g = _to_tensor(guide[0].astype(np.float32) / np.float32(255.0), x).float()
            c = _to_tensor(guide[1], x).float()
            t1 = time.perf_counter()
            y = cast(Guided, self.inner).stylize_guided(x, g, c, self.opts.temporal_strength)
            m.inner_seconds += time.perf_counter() - t1
            out = tensor_to_arrays(y)[0]
        else:
            s = tensor_to_arrays(self._locked(x))[0]
            alpha = guide[1] * np.float32(self.opts.temporal_strength)
            kernel = np.ones((HISTORY_CLAMP, HISTORY_CLAMP), np.uint8)
            history = cv2.min(cv2.max(guide[0], cv2.erode(s, kernel)), cv2.dilate(s, kernel))
            # out = s + alpha (history - s), in 8 bits with per-pixel weights (OpenCV rounds to nearest)
            out = restore_detail(cv2.blendLinear(history, s, alpha, np.float32(1.0) - alpha), s)
        m.src, m.small, m.out = src, small, out
        m.frames += 1
        m.total_seconds += time.perf_counter() - t0
        return _to_tensor(out.astype(np.float32) / np.float32(255.0), x)


def with_temporal(stylizer: Stylizer, opts: TemporalOptions | None) -> Stylizer:
    """`stylizer` made temporally consistent, unless `opts` turns it off (then `stylizer` itself, unchanged).

    A stylizer that is SEQUENTIAL on its own but not GUIDED already carries its own sequence: it is kept
    as it is."""
    if opts is None or not opts.temporal:
        return stylizer
    caps: frozenset[str] = getattr(stylizer, "capabilities", frozenset())
    if SEQUENTIAL in caps and GUIDED not in caps:
        return stylizer
    return TemporalStylizer(stylizer, opts)
