"""Temporal consistency for video: any stylizer made SEQUENTIAL with optical flow (no flicker).

`TemporalStylizer(inner, opts)` wraps a stylizer. For each frame after the first it estimates DIS
optical flow between the previous and the current source frame (both directions), finds the
reliable pixels (forward-backward check, `nst.flow`), warps its previous result to the current
frame and makes the new result agree with it there:

- a stylizer that declares GUIDED (optimize) is given the warped result and the confidence, and
  follows it itself (Ruder et al. 2016: warm start plus a temporal loss);
- any other (net, adain, ...) is run on the frame alone and its output blended with the warped
  previous result: out = s + strength * c * (warp(prev) - s). The confidence c is 0 where the flow
  fails the check and falls off with the photometric error of the warped *source* frame
  (exp(-(e / PHOTO_SIGMA)^2)), so a wrong flow never drags old paint over new content (no ghosts).

A scene cut (mean photometric error of the warped source frame above `scene_cut`) restarts the
sequence: that frame is stylised on its own. The state is the previous result and source frame,
both 8-bit (what a saved frame keeps), so `reset(state)` continues a resumed video exactly.
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

#: Long side (px) at which the flow and its checks are computed (larger frames are downscaled for them):
#: measured on a 640x480 pan and a real clip, 480 with preset fast halves the overhead of 640 for the same
#: warping error (bench/temporal.py; the numbers are in docs/DESIGN-NOTES.md).
FLOW_MAX_SIDE = 480
#: Photometric error of the warped source frame (RGB mean, [0, 1]) at which the blend weight falls to 1/e.
PHOTO_SIGMA = 0.05


@dataclass
class TemporalOptions:
    """Temporal consistency settings (`nst video`, `nst camera`); the CLI's flags come from these fields."""

    temporal: bool = option(True, help="temporal consistency: optical flow keeps each frame's paint where the "
                            "previous frame's was, so textures do not flicker")
    temporal_strength: float = option(0.85, help="how closely each frame follows the previous one warped by the "
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
    source frame (uint8 H x W x 3) and result (float32, 8-bit values), the flow estimator, and counters."""

    def __init__(self, preset: str) -> None:
        self.estimator = F.FlowEstimator(preset)
        self.src: np.ndarray | None = None
        self.out: np.ndarray | None = None
        self.frames = self.cuts = 0
        self.inner_seconds = self.total_seconds = 0.0
        self.lock = threading.Lock()

    def clear(self) -> None:
        self.src = self.out = None


class TemporalStylizer(BaseStylizer):
    """`inner` made temporally consistent (see the module). Call it on the frames of one sequence in
    order; `reset()` starts another. `overhead` is the measured cost of the flow and blend relative to
    the inner stylizer's time (the camera turns temporal mode off when it costs too much)."""

    thread_safe = False

    def __init__(self, inner: Stylizer, opts: TemporalOptions | None = None, memory: _Memory | None = None) -> None:
        super().__init__(inner.name, inner.device)
        self.inner = inner
        self.opts = opts or TemporalOptions()
        self.opts.validate()
        caps: frozenset[str] = getattr(inner, "capabilities", frozenset())
        self.capabilities = frozenset({SEQUENTIAL}) | (caps & {STRENGTH})
        self.guided = GUIDED in caps
        self.memory = memory or _Memory(self.opts.flow_preset)
        self._lock = self.memory.lock  # strength copies share one sequence: one caller at a time

    # ---- Sequential

    def reset(self, state: torch.Tensor | None = None) -> None:
        """Start a sequence; `state` (1 x 6 x H x W: previous result, previous source frame) continues one."""
        m = self.memory
        m.clear()
        if SEQUENTIAL in getattr(self.inner, "capabilities", frozenset()):
            cast(Sequential, self.inner).reset(None)
        if state is not None:
            a = tensor_to_arrays(state[:, :3])[0]
            m.out = a.astype(np.float32) / np.float32(255.0)
            m.src = tensor_to_arrays(state[:, 3:6])[0]

    def state(self) -> torch.Tensor | None:
        m = self.memory
        if m.src is None or m.out is None:
            return None
        src = m.src.astype(np.float32) / np.float32(255.0)
        return torch.from_numpy(np.concatenate([m.out, src], axis=2)).permute(2, 0, 1)[None].contiguous()

    # ---- Adjustable (when the inner stylizer is)

    @property
    def strength(self) -> float:
        return cast(Adjustable, self.inner).strength

    def with_strength(self, strength: float) -> "TemporalStylizer":
        return TemporalStylizer(cast(Adjustable, self.inner).with_strength(strength), self.opts, self.memory)

    def config(self) -> dict[str, Any]:
        return dict(self.inner.config(), temporal=dataclasses.asdict(self.opts))

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

    def _stylize(self, frames: torch.Tensor) -> torch.Tensor:
        return torch.cat([self._one(f[None]) for f in frames])

    def _guide(self, src: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """(previous result warped to this frame, confidence H x W in [0, 1]), or None at a scene cut.

        Flow, occlusion check and photometric error are computed at most FLOW_MAX_SIDE px long side
        (the cost stays a small share of the stylizer's), then the flow and confidence are upsampled."""
        m = self.memory
        assert m.src is not None and m.out is not None
        h, w = src.shape[:2]
        k = min(1.0, FLOW_MAX_SIDE / max(h, w))
        size = (max(8, round(w * k)), max(8, round(h * k)))
        prev_s, cur_s = (cv2.resize(a, size, interpolation=cv2.INTER_AREA) if k < 1 else a for a in (m.src, src))
        flow_bw, flow_fw = m.estimator.pair(F.gray(prev_s), F.gray(cur_s))
        warped_src = F.warp(prev_s, flow_bw)
        err = cv2.absdiff(warped_src, cur_s).astype(np.float32).mean(-1) / np.float32(255.0)
        if float(err.mean()) > self.opts.scene_cut:
            m.cuts += 1
            return None
        conf = F.reliable(flow_bw, flow_fw).astype(np.float32) * np.exp(-(err / PHOTO_SIGMA) ** 2)
        conf = cv2.blur(conf, (3, 3))  # no hard seams at the edge of a disocclusion
        if k < 1:
            flow_bw = cv2.resize(flow_bw, (w, h), interpolation=cv2.INTER_LINEAR)
            flow_bw *= np.array([w / size[0], h / size[1]], np.float32)
            conf = cv2.resize(conf, (w, h), interpolation=cv2.INTER_LINEAR)
        return F.warp(m.out, flow_bw), conf

    def _one(self, x: torch.Tensor) -> torch.Tensor:
        t0 = time.perf_counter()
        m = self.memory
        src = tensor_to_arrays(x)[0]
        guide = None
        if m.src is not None and m.out is not None and m.src.shape == src.shape:
            guide = self._guide(src)
        if guide is None:
            if SEQUENTIAL in getattr(self.inner, "capabilities", frozenset()):
                cast(Sequential, self.inner).reset(None)  # a new sequence for the inner stylizer too
            out = tensor_to_arrays(self._inner(x))[0]
        elif self.guided:
            g, c = _to_tensor(guide[0], x)[:, :3].float(), _to_tensor(guide[1], x).float()
            t1 = time.perf_counter()
            y = cast(Guided, self.inner).stylize_guided(x, g, c, self.opts.temporal_strength)
            m.inner_seconds += time.perf_counter() - t1
            out = tensor_to_arrays(y)[0]
        else:
            s = tensor_to_arrays(self._inner(x))[0].astype(np.float32) / np.float32(255.0)
            alpha = (self.opts.temporal_strength * guide[1])[..., None]
            blended = s + alpha * (guide[0] - s)
            out = (np.clip(blended, 0.0, 1.0) * np.float32(255.0) + np.float32(0.5)).astype(np.uint8)
        m.src, m.out = src, out.astype(np.float32) / np.float32(255.0)
        m.frames += 1
        m.total_seconds += time.perf_counter() - t0
        return _to_tensor(m.out, x)


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
