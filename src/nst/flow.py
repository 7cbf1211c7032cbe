"""Optical flow for video: OpenCV's DIS flow, backward warping, occlusion masks and the warping error.

Conventions (all NumPy, H x W images): a flow `f` from frame a to frame b is H x W x 2 float32
(dx, dy) with a(p) ~ b(p + f(p)) (OpenCV's `calc(a, b)`). To bring frame t-1 to frame t, warp it
with the flow from t back to t-1 ("backward" flow): warped(p) = prev(p + f_bw(p)).

A pixel's flow is reliable when the forward-backward check passes (Sundaram et al. 2010, as Ruder
et al. 2016 use it): following f_bw and then f_fw returns to the start,
|f_bw(p) + f_fw(p + f_bw(p))|^2 <= 0.01 (|f_bw(p)|^2 + |f_fw(p + f_bw(p))|^2) + 0.5, the point
lands inside the previous frame, and it is not on a motion boundary
(|grad f_bw|^2 <= 0.01 |f_bw|^2 + 0.002). Disoccluded pixels fail the check.

The warping error (Lai et al. 2018) of consecutive frames: the mean absolute RGB difference between
warp(O(t-1)) and O(t) over the reliable pixels, a border margin excluded.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np

#: DIS presets, fastest first: (OpenCV's preset, parameters set on top of it). "ultrafast" and "medium" are
#: OpenCV's own. "fast" is tuned for temporal mode's frames (<= 320 px long side, nst.methods.temporal): patch
#: matching one scale finer than OpenCV's fast, with fewer descent and refinement iterations; on the shared
#: real clips it halves the warping error left by OpenCV's fast for about the cost of two of its flows
#: (the sweep is in docs/DESIGN-NOTES.md).
PRESETS: dict[str, tuple[int, dict[str, int]]] = {
    "ultrafast": (cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST, {}),
    "fast": (cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
             {"FinestScale": 1, "GradientDescentIterations": 6, "VariationalRefinementIterations": 2}),
    "medium": (cv2.DISOPTICAL_FLOW_PRESET_MEDIUM, {}),
}
#: Pixels at each border left out of the warping error (flow is least reliable there).
MARGIN = 8


def gray(rgb: np.ndarray) -> np.ndarray:
    """An H x W x 3 RGB image (uint8, or float in [0, 1]) as H x W uint8 luma, what DIS takes."""
    if rgb.dtype != np.uint8:
        rgb = (np.clip(rgb, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    return cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)


class FlowEstimator:
    """DIS optical flow at one preset (one OpenCV object, reused: not thread-safe; use one per thread)."""

    def __init__(self, preset: str = "fast") -> None:
        if preset not in PRESETS:
            raise ValueError(f"unknown DIS preset {preset!r} (known: {', '.join(PRESETS)})")
        self.preset = preset
        base, params = PRESETS[preset]
        self._dis = cv2.DISOpticalFlow_create(base)  # type: ignore[attr-defined]
        for name, value in params.items():
            getattr(self._dis, "set" + name)(value)

    def __call__(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Flow from gray frame `a` to gray frame `b` (H x W x 2 float32, a(p) ~ b(p + f(p)))."""
        return self._dis.calc(a, b, None)

    def pair(self, prev: np.ndarray, cur: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(backward flow cur -> prev, forward flow prev -> cur) of two gray frames."""
        return self(cur, prev), self(prev, cur)


@functools.lru_cache(maxsize=8)
def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """The pixel coordinates (x, y) of an h x w image, cached (read-only): made once per frame size."""
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    xs.flags.writeable = ys.flags.writeable = False
    return xs, ys


def warp(image: np.ndarray, flow: np.ndarray, interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    """`image` (H x W or H x W x C, float32 or uint8) sampled at p + flow(p): the previous frame
    brought to the current one with the backward flow. Points outside repeat the border."""
    fx, fy = cv2.split(flow)
    return warp_xy(image, fx, fy, interpolation)


def warp_xy(image: np.ndarray, fx: np.ndarray, fy: np.ndarray, interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    """`warp` with the flow as two contiguous H x W float32 planes (dx, dy)."""
    xs, ys = _grid(*fx.shape[:2])
    return cv2.remap(image, xs + fx, ys + fy, interpolation, borderMode=cv2.BORDER_REPLICATE)


def reliable(flow_bw: np.ndarray, flow_fw: np.ndarray, motion_boundaries: bool = True) -> np.ndarray:
    """H x W bool: where the backward flow passes the forward-backward check (not occluded), lands
    inside the previous frame and (with `motion_boundaries`) is not on a motion boundary.

    Works on contiguous x and y planes (a strided `flow[..., 0]` made this 10x slower)."""
    h, w = flow_bw.shape[:2]
    xs, ys = _grid(h, w)
    bx, by = cv2.split(flow_bw)
    mx, my = xs + bx, ys + by
    fx, fy = cv2.split(cv2.remap(flow_fw, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE))
    b2 = bx * bx + by * by
    sx, sy = bx + fx, by + fy
    ok = sx * sx + sy * sy <= 0.01 * (b2 + fx * fx + fy * fy) + 0.5
    ok &= (mx >= 0) & (mx <= w - 1) & (my >= 0) & (my <= h - 1)
    if motion_boundaries:
        grad = np.zeros((h, w), np.float32)
        for c in (bx, by):
            for dx, dy in ((1, 0), (0, 1)):
                g = cv2.Sobel(c, cv2.CV_32F, dx, dy, ksize=1)  # central differences, x2 of the gradient
                grad += g * g
        ok &= grad / 4.0 <= 0.01 * b2 + 0.002
    return ok


def warping_error(prev: np.ndarray, cur: np.ndarray, flow_bw: np.ndarray, mask: np.ndarray,
                  margin: int = MARGIN) -> float:
    """Mean |warp(prev) - cur| over the pixels of `mask` (H x W bool) inside a `margin`-pixel border;
    RGB float images in [0, 1]. NaN when no pixel counts."""
    warped = warp(prev.astype(np.float32), flow_bw)
    m = mask.copy()
    if margin:
        m[:margin], m[-margin:], m[:, :margin], m[:, -margin:] = False, False, False, False
    if not m.any():
        return float("nan")
    return float(np.abs(warped - cur.astype(np.float32)).mean(-1)[m].mean())


def clip_warping_error(frames: list[np.ndarray], flows: list[tuple[np.ndarray, np.ndarray]],
                       margin: int = MARGIN) -> float:
    """The warping error of a clip: the mean over consecutive pairs (frames t-1, t) with `flows[t-1]` =
    (backward flow t -> t-1, reliability mask); pairs with no reliable pixel (a scene cut) are skipped."""
    errors = [warping_error(frames[t - 1], frames[t], f, m, margin) for t, (f, m) in enumerate(flows, start=1)]
    errors = [e for e in errors if e == e]
    return float(np.mean(errors)) if errors else float("nan")
