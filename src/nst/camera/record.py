"""Recording (through the video writer and its background worker) and snapshots."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import OutputError
from ..io.image import save_image
from ..video.writer import VideoWriter, Worker
from .view import fit


class Recorder:
    """Writes views in source time through nst.video.VideoWriter at the source's fps.

    Each view gets the timestamp of its source frame (pts = frame index - first index, in units of
    1/fps), so a frame skipped by the latest-frame policy leaves a gap in which the previous view
    stays on screen: the file plays at the real speed and no encoder time is spent on repeats
    (a variable-frame-rate file when frames were skipped). x264's "veryfast" preset: about 12 ms
    per 640x480 frame here against 25 ms for "medium", which matters next to a fast stylizer.
    Encoding runs on the video writer's background `Worker` (a queue of a few frames), so it
    overlaps the next stylisation where there are cores to spare. The frame size is fixed at the
    start; views of another size (side by side toggled) are fitted by the caller with `fit`.
    """

    def __init__(self, path: Path, fps: float, width: int, height: int, queue_size: int = 4) -> None:
        self.writer = VideoWriter(path, fps, width, height, preset="veryfast")
        self.size = (width, height)
        self.first: int | None = None
        self.written = 0
        self.last: np.ndarray | None = None
        self.last_index = -1
        self._worker = Worker(self.writer.write, depth=queue_size, name="nst-record")

    def fit(self, view: np.ndarray) -> np.ndarray:
        """`view` itself if it has the recording's size, else a letterboxed copy that has."""
        return fit(view, *self.size)

    def put(self, view: np.ndarray, index: int) -> None:
        """Queue one view (not modified afterwards by the loop) with its source frame index."""
        if self.first is None:
            self.first = index
        self._worker.put(view, index - self.first)  # blocks when the encoder is behind: memory stays bounded
        self.written += 1
        self.last, self.last_index = view, index

    def extend_to(self, index: int) -> None:
        """Show the last view until source frame `index` (frames skipped just before a stop), so the
        recording lasts as long as the source did."""
        if self.last is not None and index > self.last_index:
            self.put(self.last, index)

    def close(self, ok: bool) -> None:
        """Finish the file (ok) or discard it (an error, or nothing was recorded)."""
        self._worker.finish(raise_error=False)
        error = self._worker.error
        if ok and self.written and error is None:
            self.writer.close()
            return
        self.writer.abort()
        if ok and error is not None:
            raise error


def snapshot_path(directory: Path, label: str, now: datetime | None = None) -> Path:
    """<dir>/nst_<style>_<YYYYmmdd-HHMMSS-mmm>.png, never an existing file."""
    now = now or datetime.now()
    safe = "".join(c if c.isalnum() or c in "-_+" else "_" for c in label) or "style"
    base = f"nst_{safe}_{now:%Y%m%d-%H%M%S}-{now.microsecond // 1000:03d}"
    p, n = directory / f"{base}.png", 2
    while p.exists():
        p, n = directory / f"{base}_{n}.png", n + 1
    return p


def check_dir(d: Path) -> Path:
    """A snapshot directory that exists and is writable, checked before the first key press needs it."""
    if not d.is_dir():
        raise OutputError(f"{d}: snapshot directory does not exist")
    if not os.access(d, os.W_OK):
        raise OutputError(f"{d}: snapshot directory is not writable")
    return d


def save_snapshot(view: np.ndarray, directory: Path, label: str) -> Path:
    """Write `view` as a PNG (atomically, through nst.io) under a new name in `directory`."""
    return save_image(Image.fromarray(view), snapshot_path(directory, label))
