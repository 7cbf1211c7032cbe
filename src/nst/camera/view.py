"""Views: what is shown or recorded (RGB uint8 H x W x 3): sizing, side by side, the overlay, the window.

Only the window converts to BGR, for imshow.
"""

from __future__ import annotations

import os
import sys
from typing import Protocol, Sequence

import cv2
import numpy as np

from ..errors import DisplayError
from ..io.frames import even_size, scaled_size


def frame_size(width: int, height: int, size: int | None) -> tuple[int, int]:
    """(w, h) with the long side `size` (aspect kept), rounded to even numbers for video encoders."""
    w, h = even_size(*scaled_size(width, height, size))
    return max(2, w), max(2, h)


def resize_frame(img: np.ndarray, w: int, h: int) -> np.ndarray:
    """RGB uint8 H x W x 3 -> h x w x 3 (area filter when shrinking)."""
    if img.shape[1] == w and img.shape[0] == h:
        return img
    shrink = w * h < img.shape[0] * img.shape[1]
    return cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)



def compose(stylised: np.ndarray, original: np.ndarray | None) -> np.ndarray:
    """The view: the stylised frame, or original | stylised side by side (same height)."""
    if original is None:
        return stylised
    return np.concatenate([original, stylised], axis=1)


def fit(img: np.ndarray, w: int, h: int) -> np.ndarray:
    """Scale into w x h keeping the aspect ratio, padding with black (the recording's size is fixed)."""
    ih, iw = img.shape[:2]
    if (iw, ih) == (w, h):
        return img
    s = min(w / iw, h / ih)
    nw, nh = max(1, round(iw * s)), max(1, round(ih * s))
    out = np.zeros((h, w, 3), np.uint8)
    y0, x0 = (h - nh) // 2, (w - nw) // 2
    out[y0:y0 + nh, x0:x0 + nw] = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_AREA)
    return out


def draw_overlay(view: np.ndarray, lines: Sequence[str], x: int = 0) -> np.ndarray:
    """Write `lines` in white on a darkened panel at the top left of view[:, x:] (readable on any
    picture, and at any size: the font scales with the height). Draws in place; returns `view`."""
    h, w = view.shape[:2]
    scale = min(1.5, max(0.4, h / 600.0))
    thick = 1 if scale < 0.8 else 2
    font = cv2.FONT_HERSHEY_SIMPLEX
    sizes = [cv2.getTextSize(t, font, scale, thick) for t in lines]
    pad = max(3, round(8 * scale))
    line_h = max(th + base for (_, th), base in sizes) + pad
    x0, y0 = x + pad // 2, pad // 2
    x1 = min(w, x0 + max(tw for (tw, _), _ in sizes) + 2 * pad)
    y1 = min(h, y0 + len(lines) * line_h + pad // 2)
    panel = view[y0:y1, x0:x1]
    panel[:] = (panel.astype(np.uint16) * 2 // 5).astype(np.uint8)  # 40 % brightness behind the text
    for i, (text, ((_, th), _)) in enumerate(zip(lines, sizes)):
        org = (x0 + pad, y0 + pad // 2 + i * line_h + th + pad // 2)
        cv2.putText(view, text, org, font, scale, (255, 255, 255), thick, cv2.LINE_AA)
    return view


# --------------------------------------------------------------------------------------------
# Window
# --------------------------------------------------------------------------------------------


class Window(Protocol):
    """Where views go in interactive mode. `show` returns the key pressed meanwhile (-1: none)."""

    def show(self, view: np.ndarray) -> int: ...

    def closed(self) -> bool: ...

    def close(self) -> None: ...


def gui_available() -> str | None:
    """None if an OpenCV window can be opened here, else the reason (one line)."""
    info = cv2.getBuildInformation()
    gui = next((ln.split(":", 1)[1].strip() for ln in info.splitlines() if ln.strip().startswith("GUI:")), "")
    if gui.upper() in ("NONE", ""):
        return "this OpenCV build has no GUI support (opencv-python-headless)"
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        # Checked up front: the Qt backend aborts the whole process when it finds no display.
        return "no display (DISPLAY is not set)"
    return None


class OpenCVWindow:
    """A cv2.namedWindow. Raises DisplayError (suggesting the headless mode) if none can be opened."""

    def __init__(self, title: str = "nst camera") -> None:
        reason = gui_available()
        if reason is None:
            try:
                cv2.namedWindow(title, cv2.WINDOW_AUTOSIZE)
            except cv2.error:
                reason = "OpenCV could not open a window"
        if reason is not None:
            fix = ("; for a window: pip uninstall -y opencv-python-headless && pip install opencv-python"
                   if "GUI" in reason else "")
            raise DisplayError(f"cannot open a window: {reason}; record instead with --no-window -o OUT.mp4{fix}")
        self.title = title

    def show(self, view: np.ndarray) -> int:
        cv2.imshow(self.title, cv2.cvtColor(view, cv2.COLOR_RGB2BGR))
        return int(cv2.waitKey(1))

    def closed(self) -> bool:
        try:
            return cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) < 1
        except cv2.error:
            return True

    def close(self) -> None:
        try:
            cv2.destroyWindow(self.title)
            cv2.waitKey(1)
        except cv2.error:
            pass

