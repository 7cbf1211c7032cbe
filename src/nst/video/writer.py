"""Encoding: `VideoWriter` (H.264 / VP9 / GIF, sound carried over, published atomically) and `Worker`,
the one background thread that video and camera use to encode while the stylizer works."""

from __future__ import annotations

import contextlib
import os
import queue
import threading
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable, Union

import av
import numpy as np
import torch
from av.video.reformatter import ColorRange, Colorspace, VideoReformatter
from PIL import Image

from ..errors import OptionError, OutputError
from ..io.atomic import atomic_path
from ..io.frames import even_size, tensor_to_arrays
from .audio import AudioTrack
from .common import av_message, fraction, warn
from .source import has_audio

#: Output extension -> FFmpeg container format.
VIDEO_FORMATS = {".mp4": "mp4", ".mkv": "matroska", ".webm": "webm", ".gif": "gif"}
#: Output extension -> video encoder.
VIDEO_CODECS = {".mp4": "libx264", ".mkv": "libx264", ".webm": "libvpx-vp9", ".gif": "gif"}

#: Encoder -> the range of its constant-quality setting (crf); GIF has none.
CRF_RANGES = {"libx264": (0, 51), "libvpx-vp9": (0, 63)}


def check_crf(crf: int | None, out: str | os.PathLike) -> None:
    """`crf` within the range of the encoder that `out`'s extension picks (OptionError naming "crf")."""
    rng = CRF_RANGES.get(VIDEO_CODECS.get(Path(out).suffix.lower(), ""))
    if crf is not None and rng is not None and not rng[0] <= crf <= rng[1]:
        raise OptionError(f"must be between {rng[0]} and {rng[1]} for {Path(out).suffix.lower()} "
                          f"({VIDEO_CODECS[Path(out).suffix.lower()]}), not {crf}", field="crf")


#: What `VideoWriter.write` takes: H x W x 3 uint8 RGB, or a 1 x 3 x H x W / 3 x H x W float tensor.
FrameLike = Union[np.ndarray, torch.Tensor]


def _as_array(frame: FrameLike) -> np.ndarray:
    if isinstance(frame, torch.Tensor):
        if frame.dim() == 4 and frame.shape[0] != 1:
            raise ValueError(f"write() takes one frame, got a batch of {frame.shape[0]}")
        return tensor_to_arrays(frame)[0]
    arr = np.asarray(frame)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"expected an H x W x 3 uint8 RGB array, got {arr.dtype} {arr.shape}")
    return arr


def _gif_frame(arr: np.ndarray) -> av.VideoFrame:
    """RGB uint8 -> a pal8 frame with its own 256-colour palette (median cut, Floyd-Steinberg)."""
    img = Image.fromarray(arr).quantize(256)
    entries = img.getpalette() or []
    pal = np.asarray(entries + [0] * (768 - len(entries)), np.uint8).reshape(256, 3)
    argb = np.concatenate([np.full((256, 1), 255, np.uint8), pal], axis=1)
    # PyAV takes pal8 as (indices, ARGB palette); its type stubs only know plain arrays.
    return av.VideoFrame.from_ndarray((np.asarray(img), argb), format="pal8")  # type: ignore[arg-type]


class _Publish:
    """`nst.io.atomic.atomic_path` held open for a writer's lifetime, which is not one `with` block.

    The encoder writes `temp`; `commit()` renames it over the target, `discard()` deletes it. With
    `scratch` (a file in a resumable run's work folder, so a killed run leaves nothing next to the
    output) the encoder writes there and `commit()` moves it in through `atomic_path`.
    """

    def __init__(self, path: Path, scratch: Path | None) -> None:
        self.path, self.scratch = path, scratch
        self._atomic: Any = None
        if scratch is None:
            self._atomic = atomic_path(path)
            self.temp = self._atomic.__enter__()
        else:
            self.temp = scratch

    def commit(self) -> None:
        if self._atomic is not None:
            atomic, self._atomic = self._atomic, None
            atomic.__exit__(None, None, None)
        else:
            with atomic_path(self.path) as tmp:
                os.replace(self.temp, tmp)

    def discard(self) -> None:
        if self._atomic is not None:
            atomic, self._atomic = self._atomic, None
            stop = OutputError(f"{self.path}: discarded")
            with contextlib.suppress(OutputError):
                atomic.__exit__(OutputError, stop, None)  # atomic_path removes its temp file
        with contextlib.suppress(OSError):
            self.temp.unlink()


class VideoWriter:
    """Write frames to a video file; the format follows the extension (.mp4, .mkv, .webm, .gif).

    H.264 (yuv420p, BT.709, CRF 18) for mp4/mkv, VP9 for webm, a per-frame palette for GIF.
    H.264's 4:2:0 needs even sizes: an odd last column or row is dropped. The file is written
    under a temp name and renamed on `close()`, so `path` only ever holds a complete video;
    leaving a `with` block by an exception discards it.

    `audio_from`: a media file whose first audio track is carried over (copied when the
    container accepts its codec, else re-encoded; dropped with a warning for GIF).
    `audio_start`: the time (s) in `audio_from` that lines up with the first frame;
    `trim_audio`: cut the sound at the end of the video (else it is kept to its own end).
    `time_base`: unit of the `pts` passed to `write` (default 1/fps: pts = frame number).
    `temp_path`: encode there instead of next to `path` (a work folder), moved in on `close()`.

        with VideoWriter("out.mp4", 30, 640, 480) as w:
            w.write(rgb_uint8_hxwx3)          # or a 1x3xHxW float tensor in [0, 1]
    """

    def __init__(self, path: str | os.PathLike, fps: float | Fraction, width: int, height: int,
                 audio_from: str | os.PathLike | None = None, *, time_base: Fraction | None = None,
                 audio_start: float = 0.0, trim_audio: bool = False, crf: int | None = None,
                 preset: str = "veryfast", temp_path: str | os.PathLike | None = None) -> None:
        self.path = Path(path)
        self.ext = self.path.suffix.lower()
        if self.ext not in VIDEO_FORMATS:
            raise OutputError(f"{self.path}: unsupported video format '{self.ext or '(none)'}' "
                              f"(use {', '.join(sorted(VIDEO_FORMATS))})")
        self.fps = fraction(fps)
        check_crf(crf, self.path)
        if width < 1 or height < 1:
            raise OptionError(f"frame size must be positive, got {width}x{height}")
        self.width, self.height = int(width), int(height)
        codec = VIDEO_CODECS[self.ext]
        self.enc_w, self.enc_h = even_size(self.width, self.height) if codec == "libx264" else (self.width, self.height)
        if self.enc_w < 2 or self.enc_h < 2:
            raise OptionError(f"frames of {width}x{height} are too small to encode")
        self.time_base = Fraction(time_base) if time_base is not None else 1 / self.fps
        self.frame_ticks = max(1, round(1 / (self.fps * self.time_base)))  # one frame, in time_base units
        self.frames = 0
        self.last_pts: int | None = None
        self.last_out_pts = -1
        self._yuv = VideoReformatter()
        self.audio: AudioTrack | None = None
        self.audio_description: str | None = None
        self._closed = False
        self._open(Path(temp_path) if temp_path is not None else None)
        try:
            self._add_video_stream(codec, crf, preset)
            if audio_from is not None:
                self._add_audio(Path(audio_from), audio_start, trim_audio)
        except BaseException:
            self.abort()
            raise

    @property
    def temp(self) -> Path:
        """The file being encoded; it becomes `path` on `close()`."""
        return self._out.temp

    def _open(self, scratch: Path | None) -> None:
        self._out = _Publish(self.path, scratch)
        try:
            self.container = av.open(str(self._out.temp), mode="w", format=VIDEO_FORMATS[self.ext],
                                     container_options={"movflags": "+faststart"} if self.ext == ".mp4" else {})
        except (OSError, av.FFmpegError) as e:
            self._out.discard()
            raise OutputError(f"{self.path}: cannot write ({av_message(e)})") from None

    def _add_video_stream(self, codec: str, crf: int | None, preset: str) -> None:
        s: Any
        if self.ext == ".gif":
            s = self.container.add_stream("gif", rate=self.fps)
            s.pix_fmt = "pal8"
            self.stream_tb = Fraction(1, 100)  # GIF delays are in centiseconds
        else:
            if codec == "libx264":
                # mbtree off: with it, the libx264 in PyAV's wheel is not bit-exact from run to run (seen
                # with identical input frames, single-threaded too; mbtree=0 or asm=0 make it exact). Off,
                # a resumed run encodes exactly like an uninterrupted one, at a few percent of bitrate.
                opts = {"crf": str(18 if crf is None else crf), "preset": preset, "x264-params": "mbtree=0"}
            else:  # libvpx-vp9: constant quality, reasonably fast
                opts = {"crf": str(32 if crf is None else crf), "b": "0", "deadline": "good", "cpu-used": "4",
                        "row-mt": "1"}
            s = self.container.add_stream(codec, rate=self.fps, options=opts)
            s.pix_fmt = "yuv420p"
            cc = s.codec_context
            cc.colorspace, cc.color_primaries, cc.color_trc, cc.color_range = 1, 1, 1, 1  # BT.709, limited range
            self.stream_tb = self.time_base
        s.width, s.height = self.enc_w, self.enc_h
        s.codec_context.time_base = self.stream_tb
        s.time_base = self.stream_tb
        self.stream = s

    def _add_audio(self, src: Path, start: float, trim: bool) -> None:
        if self.ext == ".gif":
            if has_audio(src):
                warn(f"{self.path}: GIF has no sound; the audio track is dropped")
            return
        track = AudioTrack(src, self.container, self.ext, start, trim)
        if track.stream is not None:
            self.audio, self.audio_description = track, track.description

    def _next_pts(self, pts: int | None) -> int:
        if pts is None:
            pts = 0 if self.last_pts is None else self.last_pts + self.frame_ticks
        if self.last_pts is not None and pts <= self.last_pts:
            raise ValueError(f"timestamps must increase ({pts} after {self.last_pts})")
        self.last_pts = pts
        return pts

    def _video_frame(self, arr: np.ndarray, pts: int) -> av.VideoFrame:
        """The encoder's frame for `arr` at `pts` (time_base units), timed in the stream's time base."""
        if self.ext == ".gif":
            vf = _gif_frame(arr)
            out_pts = max(round(pts * self.time_base * 100), self.last_out_pts + 1)
            vf.duration = max(1, round(self.frame_ticks * self.time_base * 100))
        else:
            vf = self._yuv.reformat(av.VideoFrame.from_ndarray(np.ascontiguousarray(arr), format="rgb24"),
                                    format="yuv420p", dst_colorspace=Colorspace.ITU709,
                                    dst_color_range=ColorRange.MPEG)
            out_pts = pts
            vf.duration = self.frame_ticks
        vf.pts = self.last_out_pts = out_pts
        vf.time_base = self.stream_tb
        return vf

    def write(self, frame: FrameLike, pts: int | None = None) -> None:
        """Append one frame: H x W x 3 uint8 RGB, or 1 x 3 x H x W / 3 x H x W float in [0, 1].

        `pts`: presentation time in `time_base` units; default: the previous one plus one frame.
        """
        if self._closed:
            raise ValueError("write() on a closed VideoWriter")
        arr = _as_array(frame)
        if arr.shape[:2] != (self.height, self.width):
            raise ValueError(f"frame is {arr.shape[1]}x{arr.shape[0]}, this writer takes {self.width}x{self.height}")
        pts = self._next_pts(pts)
        vf = self._video_frame(arr[: self.enc_h, : self.enc_w], pts)
        try:
            for packet in self.stream.encode(vf):
                self.container.mux(packet)
            if self.audio is not None:
                self.audio.mux_until(self.container, float(pts * self.time_base))
        except (OSError, av.FFmpegError) as e:
            raise OutputError(f"{self.path}: cannot write ({av_message(e)})") from None
        self.frames += 1

    @property
    def duration(self) -> float:
        """Seconds of video written so far (end of the last frame)."""
        return 0.0 if self.last_pts is None else float((self.last_pts + self.frame_ticks) * self.time_base)

    def _flush(self) -> None:
        for packet in self.stream.encode(None):
            self.container.mux(packet)
        if self.audio is not None:
            if self.audio.trim:
                self.audio.end = self.duration
            self.audio.mux_until(self.container, None)
            self.audio.close()
        self.container.close()

    def close(self) -> Path:
        """Flush, finish the file and move it to `path`. Returns `path`."""
        if self._closed:
            return self.path
        if self.frames == 0:
            self.abort()
            raise OutputError(f"{self.path}: no frames to write")
        try:
            self._flush()
            self._closed = True
            self._out.commit()
        except (OSError, av.FFmpegError) as e:
            self.abort()
            raise OutputError(f"{self.path}: cannot write ({av_message(e)})") from None
        except BaseException:
            self.abort()
            raise
        return self.path

    def abort(self) -> None:
        """Stop and delete the temp file; `path` is left as it was."""
        self._closed = True
        with contextlib.suppress(Exception):
            if self.audio is not None:
                self.audio.close()
        with contextlib.suppress(Exception):
            self.container.close()
        self._out.discard()

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


class Worker:
    """Calls `fn(*item)` for each `put(*item)`, in order, on one background thread.

    The first exception stops the work; it is raised in the caller's thread at the next `put` or
    at `finish`. The queue is bounded, so a slow encoder holds the producer (stylizer) back instead
    of piling up frames in memory.
    """

    def __init__(self, fn: Callable[..., None], depth: int, name: str = "nst-video-writer") -> None:
        self.fn = fn
        self.q: queue.Queue = queue.Queue(maxsize=depth)
        self.error: BaseException | None = None
        self.finished = False
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            item = self.q.get()
            if item is None:
                return
            if self.error is None:  # after an error, drain without working so put() never blocks
                try:
                    self.fn(*item)
                except BaseException as e:  # noqa: B036 - handed to the caller's thread
                    self.error = e

    def _check(self) -> None:
        if self.error is not None:
            raise self.error

    def put(self, *item: Any) -> None:
        self._check()
        self.q.put(item)

    def finish(self, raise_error: bool = True) -> None:
        """Wait until every queued item is done."""
        if not self.finished:
            self.finished = True
            self.q.put(None)
            self.thread.join()
        if raise_error:
            self._check()
