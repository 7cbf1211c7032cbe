"""Decoding: probe a video (size, rate, time base, rotation, sound) and read its frames in order.

Frames are numbered by decode order, which the decoder guarantees is presentation order. Their
timestamps are the source's own (time base kept), so variable frame rate phone clips keep their
timing and a skipped corrupt packet leaves a gap instead of shifting everything after it.
"""

from __future__ import annotations

import contextlib
import math
import os
from bisect import bisect_left
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Iterator, Sequence

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from ..errors import InputError
from ..io.frames import scaled_size
from ..io.image import check_size
from .common import av_message, check_input_file, demux_resilient, warn


@dataclass
class VideoInfo:
    """What we need to know about an input video. Sizes are as displayed (rotation applied)."""

    path: Path
    width: int
    height: int
    fps: Fraction
    time_base: Fraction
    rotation: int            # degrees counter-clockwise applied to the decoded frames (0, 90, 180, 270)
    duration: float | None   # seconds, video stream
    frames: int | None       # frame count if the container knows it
    start_time: int          # first timestamp of the video stream, in time_base units
    audio: str | None        # audio codec name, None without sound
    constant_rate: bool = True  # average and nominal frame rates agree (not a variable-rate phone clip)


def open_video(path: Path) -> Any:
    """An open PyAV container with at least one video stream, or a one-line InputError."""
    check_input_file(path)
    try:
        c = av.open(str(path))
    except av.EOFError:
        raise InputError(f"{path}: no video frames (the file ends before the first one)") from None
    except (av.FFmpegError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: not a video file (or an unsupported format): {av_message(e)}") from None
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror or e})") from None
    if not c.streams.video:
        empty = not c.streams
        c.close()
        raise InputError(f"{path}: " + ("no video frames (an empty or unfinished video file)" if empty
                                         else "not a video (no video stream)"))
    return c


def has_audio(path: Path) -> bool:
    try:
        with av.open(str(path)) as c:
            return bool(c.streams.audio)
    except (av.FFmpegError, OSError):
        return False


def probe(path: str | os.PathLike) -> VideoInfo:
    """Read a video's size, frame rate, time base, rotation and sound without decoding it all."""
    p = Path(path)
    c = open_video(p)
    try:
        v = c.streams.video[0]
        cc = v.codec_context
        fps = v.average_rate or v.guessed_rate or v.base_rate or Fraction(30)
        tb = v.time_base or Fraction(1, 90000)
        duration = float(v.duration * tb) if v.duration else (c.duration / 1e6 if c.duration else None)
        rotation = 0
        w, h = cc.width, cc.height
        # Rotation lives in the stream's display matrix; decoded frames carry it too.
        try:
            first = next(c.decode(v))
            rotation = int(round(first.rotation / 90.0)) % 4 * 90
            w, h = first.width, first.height
        except StopIteration:
            raise InputError(f"{p}: the video has no frames") from None
        except av.FFmpegError:
            pass  # a corrupt start; read_frames() skips it with a warning
        if rotation in (90, 270):
            w, h = h, w
        if w <= 0 or h <= 0:
            raise InputError(f"{p}: video has no picture size")
        check_size(w, h, str(p), "video frames")
        cfr = bool(v.average_rate and v.base_rate and abs(float(v.average_rate) / float(v.base_rate) - 1) < 0.01)
        return VideoInfo(p, w, h, Fraction(fps), Fraction(tb), rotation, duration, v.frames or None,
                         v.start_time or 0, c.streams.audio[0].codec_context.name if c.streams.audio else None, cfr)
    finally:
        c.close()


@dataclass
class SourceFrame:
    """One decoded frame. `index` counts kept frames from 0; `pts` is in the source's time base."""

    index: int
    pts: int
    _frame: Any
    _size: tuple[int, int]   # (width, height) as decoded, before rotation
    _rotation: int
    _scaler: Any             # one VideoReformatter per source: keeps FFmpeg's scaler context

    def rgb(self, size: int | None = None) -> np.ndarray:
        """H x W x 3 uint8 RGB, upright (rotation metadata applied), at the first frame's size.

        `size`: scale so the long side has this many pixels (`nst.io.frames.scaled_size`); done by
        FFmpeg's scaler while converting to RGB, which costs a fraction of resizing a float tensor.
        """
        f = self._frame
        w, h = scaled_size(*self._size, size)
        rng = f.color_range if f.color_range in (1, 2) else None
        down = w * h < f.width * f.height
        arr = self._scaler.reformat(f, width=w, height=h, format="rgb24", src_color_range=rng,
                                    interpolation="AREA" if down else "BICUBIC").to_ndarray()
        if self._rotation:
            arr = np.ascontiguousarray(np.rot90(arr, k=self._rotation // 90))
        return arr


class _GapCounter:
    """Tells frames lost without a decode error (a timestamp gap) from those already reported as
    corrupt packets, so each loss is reported once; and counts packets that never became frames."""

    def __init__(self, info: VideoInfo, nominal: int) -> None:
        self.info, self.nominal = info, nominal
        self.packets = self.decoded = self.failed = 0
        self.unexplained = 0  # packets reported as corrupt whose missing frames no gap has shown yet
        self.gap_frames = 0   # frames reported missing from timestamp gaps

    def corrupt_packet(self) -> None:
        self.failed += 1
        self.unexplained += 1

    def frame_at(self, pts: int, last_pts: int) -> None:
        if not (self.info.constant_rate and pts - last_pts > 1.5 * self.nominal):
            return
        gap = round((pts - last_pts) / self.nominal) - 1
        known = min(gap, self.unexplained)
        self.unexplained -= known
        if gap > known:
            self.gap_frames += gap - known
            t = float((pts - self.info.start_time) * self.info.time_base)
            warn(f"{self.info.path}: {gap - known} frame(s) missing before {t:.2f} s (damaged file?); timing kept")

    def finish(self) -> None:
        lost = self.packets - self.decoded - self.failed - self.gap_frames
        if lost > 0:
            warn(f"{self.info.path}: {lost} corrupt frame(s) could not be decoded and were skipped (timing kept)")


def _packets(c: Any, v: Any, info: VideoInfo) -> Iterator[Any]:
    """Demuxed packets; unreadable stretches are skipped with a warning (given up after too many)."""
    return demux_resilient(c, v, f"{info.path}: stopped at an unreadable part of the file",
                           f"{info.path}: skipped unreadable data")


def frame_window(info: VideoInfo, start: float = 0.0, duration: float | None = None) -> tuple[int, float | None]:
    """The timestamps `read_frames` keeps for `start` and `duration` (s): pts >= first and, unless end is
    None, pts < end (both in the video's time base)."""
    tb = info.time_base
    first = info.start_time + (math.ceil(start / tb - 1e-6) if start > 0 else 0)
    end = info.start_time + start / tb + duration / tb - 1e-6 if duration is not None else None
    return first, end


def select_frames(info: VideoInfo, pts: Sequence[int], start: float = 0.0, duration: float | None = None,
                  max_frames: int | None = None) -> range:
    """The positions in `pts` (every frame's timestamp, in presentation order) of the frames
    `read_frames(info, start, duration, max_frames)` yields: the same rule, without decoding."""
    first, end = frame_window(info, start, duration)
    lo = bisect_left(pts, first)
    hi = len(pts) if end is None else max(lo, bisect_left(pts, end))
    if max_frames is not None:
        hi = min(hi, lo + max_frames)
    return range(lo, hi)


def read_frames(info: VideoInfo, start: float = 0.0, duration: float | None = None,
                max_frames: int | None = None) -> Iterator[SourceFrame]:
    """Decode frames in presentation order from `start` (s) for `duration` (s) / `max_frames`.

    Corrupt packets are skipped with a VideoWarning; the frames after them keep their own
    timestamps. Timestamps that do not increase (broken files) are repaired to +1 frame.
    """
    c = open_video(info.path)
    try:
        v = c.streams.video[0]
        v.thread_type = "AUTO"
        tb = info.time_base
        start_ts, end_ts = frame_window(info, start, duration)
        if start > 0:
            with contextlib.suppress(av.FFmpegError):
                c.seek(int(start_ts), stream=v, backward=True, any_frame=False)
        nominal = max(1, round(1 / (info.fps * tb)))
        gaps = _GapCounter(info, nominal)
        index, last_pts = 0, None
        size: tuple[int, int] | None = None
        scaler = VideoReformatter()
        for packet in _packets(c, v, info):
            gaps.packets += packet.size > 0
            try:
                frames = packet.decode()
            except av.FFmpegError as e:
                gaps.corrupt_packet()
                at = f" at {float((packet.pts - info.start_time) * tb):.2f} s" if packet.pts is not None else ""
                warn(f"{info.path}: skipped a corrupt packet{at} ({av_message(e)})")
                continue
            gaps.decoded += len(frames)
            for f in frames:
                pts = f.pts if f.pts is not None else getattr(f, "best_effort_timestamp", None)
                if pts is None or (last_pts is not None and pts <= last_pts):
                    pts = (last_pts + nominal) if last_pts is not None else info.start_time
                if pts < start_ts:
                    continue
                if end_ts is not None and pts >= end_ts:
                    return
                if size is None:
                    size = (f.width, f.height)
                elif last_pts is not None:
                    gaps.frame_at(pts, last_pts)
                last_pts = pts
                yield SourceFrame(index, int(pts), f, size, info.rotation, scaler)
                index += 1
                if max_frames is not None and index >= max_frames:
                    return
        gaps.finish()
    finally:
        c.close()
