"""Frame sources (OpenCV capture, arrays) and `FrameGrabber`, the capture thread with the latest-frame policy.

Pixel convention: OpenCV delivers BGR uint8 H x W x 3; `CaptureSource` converts it to RGB at the
edge, so every source yields RGB uint8 H x W x 3 arrays.
"""

from __future__ import annotations

import math
import os
import threading
import time
from dataclasses import dataclass
from typing import Protocol, Sequence

import cv2
import numpy as np

from ..errors import InputError, OutputError
from ..io.files import check_input_file, is_still_image
from ..io.image import check_size

#: Frame rate assumed when a source reports none (many webcams and streams report 0).
DEFAULT_FPS = 30.0


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
            p = check_input_file(text, "video", "no such file (for a camera give its number, e.g. --source 0)")
            if is_still_image(p):
                raise InputError(f"{p}: is a still image, not a video; use nst image")
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
        try:
            check_size(self.width, self.height, self.name, "video frames")
        except InputError:
            self.cap.release()
            raise
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
class CapturedFrame:
    """A frame as the grabber hands it to the loop."""

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
        self._slot: CapturedFrame | None = None
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
                frame = CapturedFrame(i, img, time.perf_counter())
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

    def get(self, timeout: float | None = None) -> CapturedFrame | None:
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

