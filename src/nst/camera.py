"""Live camera: stylise a webcam, a video file or a stream frame by frame, show it and/or record it.

The classic OpenCV demo opened the webcam, ran one feed-forward model per frame and cycled to the
next model on a key press. We do the same behind the Stylizer seam, and add:

- a latest-frame policy: a capture thread keeps only the newest frame, so when stylisation is
  slower than the camera the loop skips stale frames instead of falling ever further behind
  (latency stays one stylisation, not a growing queue). Skipped frames are counted;
- one pure key handler (`handle_key`) that the window loop and headless runs share; headless runs
  (and tests) drive it with a key schedule {source frame index: key};
- an overlay (style name, measured loop fps, strength), a side-by-side view with the original,
  PNG snapshots and recording to a video file through `nst.video.VideoWriter`;
- a headless mode that needs no GUI at all (works with opencv-python-headless).

Frame sources:
- cameras (an index such as 0) and URL streams are *live*: latest-frame policy, no pacing;
- video files are read frame by frame without dropping anything by default (the recording then
  holds every frame of the file, stylised, at the file's frame rate). With `realtime=True` a file is
  paced at its own fps and treated like a camera (latest-frame policy), which simulates a webcam.

The recording is in source time: each stylised frame carries its source frame's timestamp, so a
frame skipped by the latest-frame policy leaves a gap in which the previous frame stays on screen
and the file plays at the real speed (a variable-frame-rate file then; no encoder time is spent on
repeats). It has one frame per stylised frame (every frame of a file read without `realtime`),
plus the last one again at the stop time when frames were skipped just before a stop.
Snapshots (key s) are PNGs of the view without the overlay.

Pixel convention: OpenCV delivers BGR uint8 H x W x 3; `CaptureSource` converts it to RGB at the
edge. Views (what is shown or recorded) are RGB uint8 H x W x 3 numpy arrays; the stylizer sees
1 x 3 x H x W float32 RGB tensors in [0, 1]. Only the window converts back to BGR for imshow.

The library never prints or exits: it reports through `on_event` callbacks and returns
`CameraStats`; errors are `nst.errors` exceptions with one-line messages.
"""

from __future__ import annotations

import math
import os
import sys
import threading
import time
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Callable, Iterable, Mapping, Protocol, Sequence, Union

import cv2
import numpy as np
import torch
from PIL import Image

from .bank import StylizerBank
from .errors import DisplayError, InputError, OptionError, OutputError
from .image_io import save_image
from .methods import STRENGTH

#: Frame rate assumed when a source reports none (many webcams and streams report 0).
DEFAULT_FPS = 30.0
ESC = 27

# --------------------------------------------------------------------------------------------
# Options and results
# --------------------------------------------------------------------------------------------


@dataclass
class CameraOptions:
    """Settings of the live loop; the CLI derives its flags and defaults from these fields."""

    size: int | None = 512            # long side of the stylised frames in pixels (None: the source's size)
    realtime: bool | None = None      # latest-frame policy + pacing for files; None: on for cameras/streams only
    max_frames: int | None = None     # stop after this many source frames
    duration: float | None = None     # stop after this many seconds (wall clock when live, source time otherwise)
    overlay: bool = True              # draw the style name and fps on the view (shown and recorded)
    compare: bool = False             # start side by side with the original
    strength: float = 1.0             # initial strength for methods that have one (AdaIN alpha)
    strength_step: float = 0.1        # change per +/- key
    snapshot_dir: str | os.PathLike = "."
    read_timeout: float = 10.0        # seconds without a frame before a live source counts as stalled

    def validate(self) -> None:
        if self.size is not None and self.size < 16:
            raise OptionError(f"--size must be at least 16 pixels, got {self.size}")
        if self.max_frames is not None and self.max_frames <= 0:
            raise OptionError(f"--max-frames must be positive, got {self.max_frames}")
        if self.duration is not None and not self.duration > 0:
            raise OptionError(f"--duration must be positive, got {self.duration}")
        if not 0.0 <= self.strength <= 1.0:
            raise OptionError(f"--strength must be between 0 and 1, not {self.strength}")
        if not 0.0 < self.strength_step <= 1.0:
            raise OptionError(f"strength step must be in (0, 1], not {self.strength_step}")
        if self.read_timeout <= 0:
            raise OptionError("read timeout must be positive")


@dataclass
class CameraStats:
    """What a run did. Frame counts are source frames; `dropped` were skipped as stale."""

    frames_read: int = 0          # frames the capture thread took from the source
    frames_processed: int = 0     # frames stylised
    frames_dropped: int = 0       # frames replaced by a newer one before the loop took them
    frames_written: int = 0       # frames in the recording: the stylised ones (skipped ones leave gaps),
    #                               plus the last one repeated at the stop time if frames were skipped there
    seconds: float = 0.0          # wall time of the loop, first frame to stop
    stylize_seconds: float = 0.0  # time spent inside the stylizers
    stopped_by: str = "end"       # end | max-frames | duration | quit | window | interrupt
    snapshots: list[Path] = field(default_factory=list)
    styles_shown: list[str] = field(default_factory=list)  # labels in the order they were first used
    width: int = 0                # size of the stylised frames
    height: int = 0

    @property
    def loop_fps(self) -> float:
        """Frames stylised and shown/recorded per wall-clock second (what the overlay measures)."""
        return self.frames_processed / self.seconds if self.seconds > 0 else 0.0

    @property
    def stylize_fps(self) -> float:
        """Frames per second of stylizer time alone; loop_fps / stylize_fps is the loop's efficiency."""
        return self.frames_processed / self.stylize_seconds if self.stylize_seconds > 0 else 0.0


@dataclass(frozen=True)
class CameraEvent:
    """Something the user may want reported: kind is style | compare | strength | snapshot | frame | quit.

    "frame" events come once per stylised frame (for status lines); the others on key actions.
    """

    kind: str
    frame: int            # source frame index
    style: str            # current style label
    fps: float            # loop fps (moving average)
    dropped: int          # stale frames skipped so far
    detail: str = ""      # e.g. the snapshot path, "on"/"off", the new strength


# --------------------------------------------------------------------------------------------
# Keys: one pure handler for the window and for injected keys
# --------------------------------------------------------------------------------------------


class Action(Enum):
    NONE = "none"
    STYLE = "style"
    COMPARE = "compare"
    STRENGTH = "strength"
    SNAPSHOT = "snapshot"
    QUIT = "quit"


@dataclass(frozen=True)
class LoopState:
    """What the keys control. `style` indexes the style list; strength is clamped to [0, 1]."""

    style: int = 0
    n_styles: int = 1
    compare: bool = False
    strength: float = 1.0
    strength_step: float = 0.1


KEY_HELP = "n/p next/previous style, s snapshot, c side by side, +/- strength, q or Esc quit"

Key = Union[int, str]


def key_code(key: Key) -> int:
    """A key as cv2.waitKey reports it (low byte; -1 for none); 'esc' and single characters accepted."""
    if isinstance(key, str):
        if key.lower() in ("esc", "escape"):
            return ESC
        if len(key) != 1:
            raise OptionError(f"unknown key '{key}' (use one character or 'esc')")
        return ord(key)
    return -1 if key < 0 else key & 0xFF


def handle_key(state: LoopState, key: Key) -> tuple[LoopState, Action]:
    """Apply one key press: returns the new state and what the loop must do about it.

    n / p: next / previous style (wrapping); c: toggle side by side; + (or =) / -: strength up /
    down by one step; s: snapshot; q or Esc: quit. Other keys (and -1, no key) change nothing.
    """
    k = key_code(key)
    if k in (ord("q"), ord("Q"), ESC):
        return state, Action.QUIT
    if k in (ord("n"), ord("N"), ord(" ")):
        return replace(state, style=(state.style + 1) % state.n_styles), Action.STYLE
    if k in (ord("p"), ord("P")):
        return replace(state, style=(state.style - 1) % state.n_styles), Action.STYLE
    if k in (ord("c"), ord("C")):
        return replace(state, compare=not state.compare), Action.COMPARE
    if k in (ord("+"), ord("=")):
        return replace(state, strength=round(min(1.0, state.strength + state.strength_step), 4)), Action.STRENGTH
    if k in (ord("-"), ord("_")):
        return replace(state, strength=round(max(0.0, state.strength - state.strength_step), 4)), Action.STRENGTH
    if k in (ord("s"), ord("S")):
        return state, Action.SNAPSHOT
    return state, Action.NONE


KeySchedule = Union[Mapping[int, Key], Iterable[tuple[int, Key]]]


def parse_key_schedule(text: str) -> list[tuple[int, str]]:
    """'30:n,60:n,90:s' -> [(30, 'n'), (60, 'n'), (90, 's')]: press the key when frame N is reached."""
    out: list[tuple[int, str]] = []
    for item in (t.strip() for t in text.split(",")):
        if not item:
            continue
        idx, sep, key = item.partition(":")
        try:
            n = int(idx)
        except ValueError:
            n = -1
        if not sep or n < 0 or not key:
            raise OptionError(f"bad key schedule item '{item}' (expected FRAME:KEY, e.g. 30:n)")
        key_code(key)  # validates
        out.append((n, key))
    return sorted(out, key=lambda t: t[0])


def _schedule(keys: KeySchedule | None) -> list[tuple[int, Key]]:
    if keys is None:
        return []
    items = list(keys.items()) if isinstance(keys, Mapping) else list(keys)
    for _, k in items:
        key_code(k)
    return sorted(items, key=lambda t: t[0])


# --------------------------------------------------------------------------------------------
# Sources: OpenCV capture, arrays; the capture thread with the latest-frame policy
# --------------------------------------------------------------------------------------------


class FrameSource(Protocol):
    """Frames as RGB uint8 H x W x 3 arrays; `read` returns None at the end (or on disconnection)."""

    name: str
    fps: float
    live: bool       # a camera or stream: frames arrive in real time whether we take them or not
    width: int
    height: int

    def read(self) -> np.ndarray | None: ...

    def close(self) -> None: ...


def _is_url(spec: str) -> bool:
    return "://" in spec


class CaptureSource:
    """A webcam (index), a video file or a stream URL opened with cv2.VideoCapture.

    The first frame is read on open, so a source that opens but yields nothing fails here with
    InputError rather than later. OpenCV's own log lines are silenced while probing.
    """

    def __init__(self, spec: str | int) -> None:
        self.spec = spec
        text = str(spec).strip()
        self.is_camera = isinstance(spec, int) or text.isdigit()
        self.live = self.is_camera or _is_url(text)
        if self.is_camera:
            self.name = f"camera {int(text)}"
            target: str | int = int(text)
        elif _is_url(text):
            self.name = text
            target = text
        else:
            p = Path(text)
            if not p.exists():
                raise InputError(f"{p}: no such file (for a camera give its number, e.g. --source 0)")
            if p.is_dir():
                raise InputError(f"{p}: is a directory, not a video")
            if p.stat().st_size == 0:
                raise InputError(f"{p}: empty file (0 bytes)")
            self.name = str(p)
            target = str(p)
        with _quiet_opencv():
            self.cap = cv2.VideoCapture(target)
            ok = self.cap.isOpened()
            first = self.cap.read()[1] if ok else None
        if not ok or first is None:
            self.cap.release()
            if self.is_camera:
                raise InputError(f"camera {target}: cannot open it (no camera found, or another program is "
                                 "using it); use --source PATH|URL for a video file or stream")
            what = "open" if not ok else "read a frame from"
            raise InputError(f"{self.name}: cannot {what} it as a video (unsupported, corrupt or unreachable)")
        fps = float(self.cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self.fps = fps if math.isfinite(fps) and 1.0 <= fps <= 240.0 else DEFAULT_FPS
        self.height, self.width = first.shape[:2]
        self._pending: np.ndarray | None = first

    def read(self) -> np.ndarray | None:
        """The next frame, RGB uint8 H x W x 3, or None when the source ends or disconnects."""
        if self._pending is not None:
            frame, self._pending = self._pending, None
        else:
            ok, frame = self.cap.read()
            if not ok or frame is None:
                return None
        if frame.ndim == 2:
            return cv2.cvtColor(frame, cv2.COLOR_GRAY2RGB)
        if frame.shape[2] == 4:
            return cv2.cvtColor(frame, cv2.COLOR_BGRA2RGB)
        return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)  # OpenCV is BGR: convert at the edge

    def close(self) -> None:
        self.cap.release()


class _quiet_opencv:
    """Silence OpenCV's warnings (e.g. 'can't open camera by index') while probing a source, and
    the log lines of the FFmpeg inside OpenCV ('moov atom not found'): we report failures ourselves.
    OPENCV_FFMPEG_LOGLEVEL is read when OpenCV first uses FFmpeg; a value set by the user is kept."""

    def __enter__(self) -> None:
        os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET
        self.level = cv2.utils.logging.getLogLevel()
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)

    def __exit__(self, *exc: object) -> None:
        cv2.utils.logging.setLogLevel(self.level)


class ArraySource:
    """Frames from a sequence of RGB uint8 H x W x 3 arrays (tests, the Python API)."""

    def __init__(self, frames: Sequence[np.ndarray], fps: float = DEFAULT_FPS, live: bool = False,
                 name: str = "arrays") -> None:
        if not len(frames):
            raise InputError("no frames given")
        self.frames, self.fps, self.live, self.name = frames, float(fps), live, name
        self.height, self.width = frames[0].shape[:2]
        self._i = 0

    def read(self) -> np.ndarray | None:
        if self._i >= len(self.frames):
            return None
        self._i += 1
        return self.frames[self._i - 1]

    def close(self) -> None:
        pass


def open_source(spec: str | int) -> CaptureSource:
    """`--source` value: a camera index ('0'), a video file path or a stream URL (rtsp://, http://...)."""
    return CaptureSource(spec)


@dataclass
class Frame:
    index: int            # position in the source, from 0
    image: np.ndarray     # RGB uint8 H x W x 3
    time: float           # time.perf_counter() when it was captured


class FrameGrabber:
    """Reads a source on a background thread and hands frames to the loop.

    latest=True (live policy): one slot holding the newest frame; a frame not taken before the
    next one arrives is dropped (counted). The loop then always works on the freshest frame.
    latest=False: the thread waits until the loop took the frame, so nothing is dropped (files).
    pace_fps: release frame i no earlier than i / pace_fps seconds after the start, as a camera
    would (used to play a file in real time).
    """

    def __init__(self, source: FrameSource, latest: bool, pace_fps: float | None = None) -> None:
        self.source = source
        self.latest = latest
        self.pace_fps = pace_fps
        self.frames_read = 0
        self.dropped = 0
        self._slot: Frame | None = None
        self._done = False
        self._error: BaseException | None = None
        self._stop = threading.Event()
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="nst-capture", daemon=True)

    def start(self) -> "FrameGrabber":
        self._thread.start()
        return self

    def _run(self) -> None:
        t0 = time.perf_counter()
        i = 0
        try:
            while not self._stop.is_set():
                img = self.source.read()
                if img is None:
                    break
                if self.pace_fps:
                    delay = t0 + i / self.pace_fps - time.perf_counter()
                    if delay > 0 and self._stop.wait(delay):
                        break
                frame = Frame(i, img, time.perf_counter())
                with self._cond:
                    if self.latest:
                        if self._slot is not None:
                            self.dropped += 1
                    else:
                        while self._slot is not None and not self._stop.is_set():
                            self._cond.wait(0.1)
                    self._slot = frame
                    self.frames_read = i + 1
                    self._cond.notify_all()
                i += 1
        except BaseException as e:  # reported to the loop by get()
            self._error = e
        finally:
            with self._cond:
                self._done = True
                self._cond.notify_all()

    def get(self, timeout: float | None = None) -> Frame | None:
        """The next (newest) frame; None when the source has ended. Raises InputError after
        `timeout` seconds without a frame, and re-raises an error from the source."""
        deadline = None if timeout is None else time.perf_counter() + timeout
        with self._cond:
            while self._slot is None and not self._done:
                left = None if deadline is None else deadline - time.perf_counter()
                if left is not None and left <= 0:
                    raise InputError(f"{self.source.name}: no frame for {timeout:.0f} s (camera stalled?)")
                self._cond.wait(left if left is not None else 0.5)
            frame, self._slot = self._slot, None
            self._cond.notify_all()
        if frame is None and self._error is not None:
            if isinstance(self._error, Exception) and not isinstance(self._error, (InputError, OutputError)):
                raise InputError(f"{self.source.name}: reading failed ({self._error})") from self._error
            raise self._error
        return frame

    def stop(self) -> bool:
        """Stop the thread; False if it is still stuck in the source's read after 5 s."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout=5.0)
        return not self._thread.is_alive()


# --------------------------------------------------------------------------------------------
# Styles: one stylizer per style, built on first use and kept
# --------------------------------------------------------------------------------------------


StyleBank = StylizerBank  # the bank lives in nst.bank (shared with the web page)


def frame_size(width: int, height: int, size: int | None) -> tuple[int, int]:
    """(w, h) with the long side `size` (aspect kept), rounded to even numbers for video encoders."""
    if size is None:
        w, h = width, height
    else:
        s = size / max(width, height)
        w, h = round(width * s), round(height * s)
    return max(2, w - w % 2), max(2, h - h % 2)


def resize_frame(img: np.ndarray, w: int, h: int) -> np.ndarray:
    """RGB uint8 H x W x 3 -> h x w x 3 (area filter when shrinking)."""
    if img.shape[1] == w and img.shape[0] == h:
        return img
    shrink = w * h < img.shape[0] * img.shape[1]
    return cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def to_tensor(img: np.ndarray, device: torch.device | None = None) -> torch.Tensor:
    """RGB uint8 H x W x 3 -> 1 x 3 x H x W float32 in [0, 1], in channels_last memory format.

    On the CPU the conversion runs in numpy (~3 ms at 640x480 here, against ~35 ms for the same
    elementwise ops in torch on a loaded 2-core machine) and the result is a permuted view, i.e.
    channels_last, which is the layout the AdaIN and network stylizers convert to anyway.
    """
    arr = np.ascontiguousarray(img)
    if device is None or device.type == "cpu":
        f = arr.astype(np.float32)
        f /= np.float32(255.0)
        return torch.from_numpy(f).permute(2, 0, 1).unsqueeze(0)
    x = torch.from_numpy(arr).to(device)  # move the uint8 frame: 4x fewer bytes than float
    return x.permute(2, 0, 1).unsqueeze(0).float().div_(255.0)


def to_image(x: torch.Tensor) -> np.ndarray:
    """1 x 3 x H x W (or 3 x H x W) float in [0, 1] -> RGB uint8 H x W x 3 (clamped, rounded to nearest).

    numpy/OpenCV instead of torch for speed (see `to_tensor`): ~4 ms at 640x480 against ~80 ms.
    """
    if x.dim() == 4:
        x = x[0]
    x = x.detach().float().cpu()
    hwc = x.permute(1, 2, 0).numpy()
    if hwc.flags.c_contiguous:  # a channels_last tensor: convert in one go
        return cv2.convertScaleAbs(np.clip(hwc, 0.0, 1.0), alpha=255.0)
    planes = [cv2.convertScaleAbs(np.clip(c, 0.0, 1.0), alpha=255.0) for c in x.numpy()]
    return cv2.merge(planes)  # H x W x 3, contiguous (cv2 drawing needs a plain layout)


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


# --------------------------------------------------------------------------------------------
# Recording and snapshots
# --------------------------------------------------------------------------------------------


class _Recorder:
    """Writes views in source time through nst.video.VideoWriter at the source's fps.

    Each view gets the timestamp of its source frame (pts = frame index - first index, in units of
    1/fps), so a frame skipped by the latest-frame policy leaves a gap in which the previous view
    stays on screen: the file plays at the real speed and no encoder time is spent on repeats
    (a variable-frame-rate file when frames were skipped). x264's "veryfast" preset: about 12 ms
    per 640x480 frame here against 25 ms for "medium", which matters next to a fast stylizer.
    Encoding runs on its own thread (a queue of a few frames), so it overlaps the next
    stylisation where there are cores to spare. The frame size is fixed at the start; views of
    another size (side by side toggled) are fitted by the caller with `fit`.
    """

    def __init__(self, path: Path, fps: float, width: int, height: int, queue_size: int = 4) -> None:
        import queue

        from .video import VideoWriter

        self.writer = VideoWriter(path, fps, width, height, preset="veryfast")
        self.size = (width, height)
        self.first: int | None = None
        self.written = 0
        self.last: np.ndarray | None = None
        self.last_index = -1
        self._queue: "queue.Queue[tuple[np.ndarray, int] | None]" = queue.Queue(maxsize=queue_size)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="nst-record", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            if self._error is None:
                try:
                    self.writer.write(*item)
                except BaseException as e:  # reported by the next put() or by close()
                    self._error = e

    def fit(self, view: np.ndarray) -> np.ndarray:
        """`view` itself if it has the recording's size, else a letterboxed copy that has."""
        return fit(view, *self.size)

    def put(self, view: np.ndarray, index: int) -> None:
        """Queue one view (not modified afterwards by the loop) with its source frame index."""
        if self._error is not None:
            raise self._error
        if self.first is None:
            self.first = index
        self._queue.put((view, index - self.first))  # blocks when the encoder is behind: memory stays bounded
        self.written += 1
        self.last, self.last_index = view, index

    def extend_to(self, index: int) -> None:
        """Show the last view until source frame `index` (frames skipped just before a stop), so the
        recording lasts as long as the source did."""
        if self.last is not None and index > self.last_index:
            self.put(self.last, index)

    def close(self, ok: bool) -> None:
        """Finish the file (ok) or discard it (an error, or nothing was recorded)."""
        self._queue.put(None)
        self._thread.join()
        if ok and self.written and self._error is None:
            self.writer.close()
        else:
            self.writer.abort()
            if ok and self._error is not None:
                raise self._error


def snapshot_path(directory: Path, label: str, now: datetime | None = None) -> Path:
    """<dir>/nst_<style>_<YYYYmmdd-HHMMSS-mmm>.png, never an existing file."""
    now = now or datetime.now()
    safe = "".join(c if c.isalnum() or c in "-_+" else "_" for c in label) or "style"
    base = f"nst_{safe}_{now:%Y%m%d-%H%M%S}-{now.microsecond // 1000:03d}"
    p, n = directory / f"{base}.png", 2
    while p.exists():
        p, n = directory / f"{base}_{n}.png", n + 1
    return p


def _check_dir(d: Path) -> Path:
    if not d.is_dir():
        raise OutputError(f"{d}: snapshot directory does not exist")
    if not os.access(d, os.W_OK):
        raise OutputError(f"{d}: snapshot directory is not writable")
    return d


# --------------------------------------------------------------------------------------------
# The loop
# --------------------------------------------------------------------------------------------


class _FpsMeter:
    """Frames per second over the last ~1 s of frames (first value after two frames)."""

    def __init__(self, window: float = 1.0) -> None:
        self.window = window
        self.times: list[float] = []

    def tick(self, t: float) -> float:
        self.times.append(t)
        while len(self.times) > 2 and self.times[-1] - self.times[1] >= self.window:
            self.times.pop(0)
        return self.value

    @property
    def value(self) -> float:
        if len(self.times) < 2:
            return 0.0
        return (len(self.times) - 1) / max(1e-9, self.times[-1] - self.times[0])


def run_camera(source: FrameSource, bank: StyleBank, opts: CameraOptions | None = None, *,
               window: Window | None = None, record: str | os.PathLike | None = None,
               keys: KeySchedule | None = None, on_event: Callable[[CameraEvent], None] | None = None,
               ) -> CameraStats:
    """Stylise `source` frame by frame until it ends, a limit is reached, or q/Esc is pressed.

    Each source frame (RGB uint8 H x W x 3) is resized to `opts.size` (long side), stylised with
    the current style as a 1 x 3 x h x w tensor, composed (side by side if toggled), overlaid,
    shown in `window` (if any) and recorded to `record` (if given; via nst.video.VideoWriter at
    the source's fps, in source time). `keys` ({source frame index: key} or pairs) are pressed
    when the loop reaches that frame, through the same `handle_key` as the window's keys.
    Ctrl-C stops the loop cleanly (the recording is kept). The source is closed on return.
    """
    opts = opts or CameraOptions()
    opts.validate()
    schedule = _schedule(keys)
    snap_dir = Path(opts.snapshot_dir)
    if any(k in ("s", "S") or k == ord("s") for _, k in schedule):
        _check_dir(snap_dir)
    live = source.live if opts.realtime is None else (source.live or opts.realtime)
    pace = source.fps if (live and not source.live) else None
    w, h = frame_size(source.width, source.height, opts.size)
    stats = CameraStats(width=w, height=h)
    state = LoopState(style=0, n_styles=len(bank), compare=opts.compare, strength=opts.strength,
                      strength_step=opts.strength_step)
    limit = opts.max_frames
    if opts.duration is not None and not live:
        limit = min(limit or math.inf, math.ceil(round(opts.duration * source.fps, 6)))  # type: ignore[assignment]

    grabber = FrameGrabber(source, latest=live, pace_fps=pace)
    recorder: _Recorder | None = None
    meter = _FpsMeter()
    pending_snapshot = False
    t_start: float | None = None
    last_index = -1
    failed = False

    def emit(kind: str, frame: int, detail: str = "") -> None:
        if on_event:
            on_event(CameraEvent(kind, frame, bank.labels[state.style], meter.value, grabber.dropped, detail))

    def apply(key: Key, index: int) -> bool:
        """Handle one key; True means quit."""
        nonlocal state, pending_snapshot
        state, action = handle_key(state, key)
        if action is Action.QUIT:
            return True
        if action is Action.SNAPSHOT:
            _check_dir(snap_dir)
            pending_snapshot = True
        elif action is Action.STYLE:
            emit("style", index, bank.labels[state.style])
        elif action is Action.COMPARE:
            emit("compare", index, "on" if state.compare else "off")
        elif action is Action.STRENGTH:
            emit("strength", index, f"{state.strength:.2f}")
        return False

    try:
        # Build the first stylizer before the capture starts, so its set-up time is not counted as lag.
        bank.get(state.style)
        if record is not None:
            recorder = _Recorder(Path(record), source.fps, w * (2 if opts.compare else 1), h)
        grabber.start()
        while True:
            frame = grabber.get(timeout=opts.read_timeout if source.live else None)
            if frame is None:
                stats.stopped_by = "end"
                break
            if t_start is None:
                t_start = time.perf_counter()
            if limit is not None and frame.index >= limit:
                stats.stopped_by = "max-frames" if limit == opts.max_frames else "duration"
                if recorder:
                    recorder.extend_to(int(limit) - 1)
                break
            if live and opts.duration is not None and time.perf_counter() - t_start >= opts.duration:
                stats.stopped_by = "duration"
                if recorder:
                    recorder.extend_to(frame.index - 1)
                break
            quit_now = False
            while schedule and schedule[0][0] <= frame.index:
                quit_now = apply(schedule.pop(0)[1], frame.index) or quit_now
            if quit_now:
                stats.stopped_by = "quit"
                break

            stylizer = bank.get(state.style)
            if STRENGTH in stylizer.capabilities:
                stylizer = stylizer.with_strength(state.strength)  # type: ignore[attr-defined]
            label = bank.labels[state.style]
            if label not in stats.styles_shown:
                stats.styles_shown.append(label)
            small = resize_frame(frame.image, w, h)
            x = to_tensor(small, stylizer.device)
            t0 = time.perf_counter()
            with torch.inference_mode():
                out = stylizer(x)
            stats.stylize_seconds += time.perf_counter() - t0  # the stylizer alone, not our conversions
            if out.shape[-2:] != (h, w):
                raise OptionError(f"stylizer '{label}' returned {out.shape[-1]}x{out.shape[-2]} for a {w}x{h} frame")
            styled = to_image(out)
            stats.frames_processed += 1
            last_index = frame.index
            fps = meter.tick(time.perf_counter())

            view = compose(styled, small if state.compare else None)
            if pending_snapshot:
                p = snapshot_path(snap_dir, label)
                save_image(Image.fromarray(view), p)  # the clean view, without the overlay
                stats.snapshots.append(p)
                pending_snapshot = False
                emit("snapshot", frame.index, str(p))
            lines = [label, (f"{fps:.1f} fps" if fps else "-- fps")
                     + (f"  strength {state.strength:.1f}" if hasattr(stylizer, "strength") else "")]
            text_x = w if state.compare else 0  # on the stylised half
            # The recording's size is fixed at the start: a view of another size (side by side
            # toggled) is letterboxed into it, a copy that gets its own, legible overlay.
            rec = recorder.fit(view) if recorder else None
            if opts.overlay:
                draw_overlay(view, lines, text_x)
                if rec is not None and rec is not view:
                    draw_overlay(rec, lines, text_x * rec.shape[1] // view.shape[1])
            if recorder and rec is not None:
                recorder.put(rec, frame.index)
            emit("frame", frame.index)
            if window is not None:
                k = window.show(view)
                if k >= 0 and apply(k, frame.index):
                    stats.stopped_by = "quit"
                    break
                if window.closed():
                    stats.stopped_by = "window"
                    break
    except KeyboardInterrupt:
        stats.stopped_by = "interrupt"
    except BaseException:
        failed = True
        raise
    finally:
        if grabber.stop():
            source.close()  # never while the capture thread may still be inside read()
        stats.seconds = time.perf_counter() - t_start if t_start is not None else 0.0
        stats.frames_read = grabber.frames_read
        stats.frames_dropped = grabber.dropped
        if window is not None:
            window.close()
        if recorder:
            stats.frames_written = recorder.written
            recorder.close(ok=not failed)
    if stats.stopped_by == "quit":
        emit("quit", last_index)
    return stats
