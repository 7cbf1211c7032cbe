"""Video files: decode -> stylise in batches -> encode in presentation order, sound carried over.

    source (PyAV decode; rotation; timestamps)  ->  stylizer (N x 3 x H x W batches)
      ->  ordered sink (work frames on disk + H.264 / VP9 / GIF encode)  ->  temp file, renamed at the end

This module is the only place that converts decoded video frames to and from the project's pixel
convention (RGB float32 [0, 1] NCHW tensors). Like the rest of the library it never prints: it
raises InputError / OutputError / OptionError with one-line messages, reports progress as
`nst.progress.Progress` events, and reports recoverable problems (a corrupt packet skipped, sound
that cannot go into a GIF) as `VideoWarning`s through the `warnings` module.

Design notes (why it is built this way):
- Frames are numbered by decode order, which the decoder guarantees is presentation order, and
  written strictly by that number. Their timestamps are the source's own (time base kept), so
  variable frame rate phone clips keep their timing and a skipped corrupt packet leaves a gap
  instead of shifting everything after it. File names never decide order; `natural_key` exists
  for folders of frames made elsewhere (frame2 before frame10).
- Resume: each stylised frame is saved losslessly (PNG, atomically) in `OUT.nst-work/` with a
  manifest of the settings. A rerun with the same settings reloads those frames and stylises only
  the rest. Batches are aligned to absolute frame numbers (batch k is always frames kB..kB+B-1),
  so a resumed run calls the stylizer on exactly the same batches as an uninterrupted one and the
  output is the same frame for frame. The encoder writes to a temp file inside the work folder
  that is renamed over OUT only when complete; the work folder is removed on success.
- Sound: packets are copied when the output container accepts the codec and the whole clip is
  kept; otherwise (a trimmed clip, or e.g. AAC into WebM) the audio is decoded, cut to the
  sample and re-encoded (AAC, or Opus for WebM). Audio is interleaved with the video as it is
  written, so memory stays flat for long clips.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import queue
import re
import shutil
import tempfile
import threading
import time
import warnings
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence, Union

import av
import numpy as np
import torch
from av.video.reformatter import ColorRange, Colorspace, VideoReformatter
from PIL import Image

from .errors import InputError, OptionError, OutputError
from .image_io import check_output_path, default_file_mode, load_image
from .methods.base import SEQUENTIAL
from .progress import Progress, ProgressCallback

#: Output extension -> FFmpeg container format.
VIDEO_FORMATS = {".mp4": "mp4", ".mkv": "matroska", ".webm": "webm", ".gif": "gif"}
#: Output extension -> video encoder.
VIDEO_CODECS = {".mp4": "libx264", ".mkv": "libx264", ".webm": "libvpx-vp9", ".gif": "gif"}
#: Audio codecs copied without re-encoding, per output extension (None: whatever the muxer takes).
_AUDIO_COPY: dict[str, set[str] | None] = {".mp4": {"aac", "mp3", "alac", "ac3", "eac3", "opus", "flac"},
                                           ".mkv": None, ".webm": {"opus", "vorbis"}, ".gif": set()}
#: Audio encoder used when the source's codec cannot be copied.
_AUDIO_ENCODER = {".mp4": "aac", ".mkv": "aac", ".webm": "libopus"}
#: Image files `frames_to_video` picks up from a folder.
FRAME_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")

WORK_SUFFIX = ".nst-work"
_MANIFEST_VERSION = 1
_MAX_DEMUX_ERRORS = 50  # consecutive unreadable packets before we give up on a file

Frame = Union[np.ndarray, torch.Tensor]
TensorFn = Callable[[torch.Tensor], torch.Tensor]


class VideoWarning(UserWarning):
    """A recoverable problem with a video (skipped corrupt packet, sound dropped for GIF, ...)."""


def _warn(message: str) -> None:
    warnings.warn(message, VideoWarning, stacklevel=3)


# --------------------------------------------------------------------------------------------
# Pixel conversion: the only place video frames become tensors and back.

def arrays_to_tensor(frames: Sequence[np.ndarray]) -> torch.Tensor:
    """N frames, each H x W x 3 uint8 RGB -> N x 3 x H x W float32 in [0, 1] (contiguous)."""
    x = torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).contiguous()  # reorder as bytes: cheaper
    return x.to(torch.float32).div_(255.0)


def tensor_to_arrays(x: torch.Tensor) -> list[np.ndarray]:
    """N x 3 x H x W (or 3 x H x W) float in [0, 1] -> N frames H x W x 3 uint8 RGB.

    Rounds like `nst.image_io.tensor_to_pil`, so a frame saved as PNG equals the encoded one.
    """
    if x.dim() == 3:
        x = x[None]
    if x.dim() != 4 or x.shape[1] != 3:
        raise ValueError(f"expected N x 3 x H x W frames, got shape {tuple(x.shape)}")
    # Same values as clamp(0, 1) * 255 + 0.5 -> uint8, with one temporary instead of three.
    u8 = x.detach().float().mul(255.0).add_(0.5).clamp_(0.0, 255.0).to(torch.uint8)
    return list(u8.permute(0, 2, 3, 1).contiguous().cpu().numpy())


def _as_array(frame: Frame) -> np.ndarray:
    if isinstance(frame, torch.Tensor):
        if frame.dim() == 4 and frame.shape[0] != 1:
            raise ValueError(f"write() takes one frame, got a batch of {frame.shape[0]}")
        return tensor_to_arrays(frame)[0]
    arr = np.asarray(frame)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"expected an H x W x 3 uint8 RGB array, got {arr.dtype} {arr.shape}")
    return arr


def quantize(x: torch.Tensor) -> torch.Tensor:
    """Round a float image to 8 bits (what a PNG or an encoded frame keeps), as float again."""
    return (x.detach().float().clamp(0, 1) * 255.0 + 0.5).floor().div_(255.0)


# --------------------------------------------------------------------------------------------
# Writer

def _fraction(v: float | Fraction | str) -> Fraction:
    """A frame rate as an exact fraction: 24, 29.97, "30000/1001"."""
    try:
        f = Fraction(v).limit_denominator(1_000_000) if isinstance(v, float) else Fraction(v)
    except (ValueError, ZeroDivisionError, TypeError):
        raise OptionError(f"frame rate must be a positive number, not '{v}'") from None
    if not f > 0:
        raise OptionError(f"frame rate must be positive, not {v}")
    return f


def _unlink(p: Path | None) -> None:
    if p is not None:
        with contextlib.suppress(OSError):
            p.unlink()


def _gif_frame(arr: np.ndarray) -> av.VideoFrame:
    """RGB uint8 -> a pal8 frame with its own 256-colour palette (median cut, Floyd-Steinberg)."""
    img = Image.fromarray(arr).quantize(256)
    entries = img.getpalette() or []
    pal = np.asarray(entries + [0] * (768 - len(entries)), np.uint8).reshape(256, 3)
    argb = np.concatenate([np.full((256, 1), 255, np.uint8), pal], axis=1)
    # PyAV takes pal8 as (indices, ARGB palette); its type stubs only know plain arrays.
    return av.VideoFrame.from_ndarray((np.asarray(img), argb), format="pal8")  # type: ignore[arg-type]


class _AudioTrack:
    """Carries the first audio stream of `src` into `out`: packet copy or decode-cut-re-encode.

    Times are seconds on the output's timeline; `start` is the source time that maps to 0.
    """

    def __init__(self, src: Path, out: Any, ext: str, start: float, trim: bool) -> None:
        try:
            self.inp = av.open(str(src))
        except (av.FFmpegError, OSError) as e:
            raise InputError(f"{src}: cannot read audio ({_av_message(e)})") from None
        self.stream = self.inp.streams.audio[0] if self.inp.streams.audio else None
        self.start = start               # source time (s) of output time 0
        self.end: float | None = None    # output time (s) to cut at; set by VideoWriter.close() when trimming
        self.limit = 0.0                 # output time (s) the video has reached
        self.trim = trim
        self.done = False
        self.pending: Any = None
        if self.stream is None:
            self.inp.close()
            return
        ist = self.stream
        name = ist.codec_context.name
        allowed = _AUDIO_COPY[ext]
        self.copy = not trim and (name in out.supported_codecs if allowed is None else name in allowed)
        if self.copy:
            self.ostream = out.add_stream_from_template(ist)
            self.shift = round(start / ist.time_base) if ist.time_base else 0
            self.description = f"{name} (copied)"
        else:
            enc = _AUDIO_ENCODER[ext]
            codec = av.Codec(enc, "w")
            rate = ist.codec_context.sample_rate or 48000
            if codec.audio_rates and rate not in codec.audio_rates:
                rate = 48000 if 48000 in codec.audio_rates else max(codec.audio_rates)
            layout = ist.codec_context.layout.name if ist.codec_context.layout else "stereo"
            if enc == "libopus" and ist.codec_context.channels > 2:
                layout = "stereo"
            self.ostream = out.add_stream(enc, rate=rate)
            self.ostream.codec_context.layout = layout
            self.ostream.codec_context.format = codec.audio_formats[0].name if codec.audio_formats else "fltp"
            self.ostream.time_base = Fraction(1, rate)
            self.rate, self.layout = rate, layout
            self.description = f"{name} -> {self.ostream.codec_context.name} (re-encoded)"
        self.packets: Iterator[tuple[float, Any] | None] = self._copied() if self.copy else self._encoded()

    def _demux(self) -> Iterator[Any]:
        errors = 0
        demux = self.inp.demux(self.stream)
        while True:
            try:
                packet = next(demux)
                errors = 0
            except StopIteration:
                return
            except av.FFmpegError as e:
                errors += 1
                if errors > _MAX_DEMUX_ERRORS:
                    _warn(f"audio: giving up after repeated read errors ({_av_message(e)})")
                    return
                demux = self.inp.demux(self.stream)
                continue
            yield packet

    def _copied(self) -> Iterator[tuple[float, Any]]:
        for packet in self._demux():
            if packet.size == 0 or packet.dts is None:
                continue
            if packet.pts is not None:
                packet.pts -= self.shift
            packet.dts -= self.shift
            packet.stream = self.ostream
            t = float((packet.pts if packet.pts is not None else packet.dts) * packet.time_base)
            yield t, packet

    def _encoded(self) -> Iterator[tuple[float, Any] | None]:
        """Decode, cut to [start, start + end) and re-encode. Yields None to pause while the source
        is ahead of `self.limit`: the end is only known at close(), and samples already inside the
        encoder could not be taken back."""
        resampler = av.AudioResampler(format=self.ostream.codec_context.format, layout=self.layout, rate=self.rate,
                                      frame_size=self.ostream.codec_context.frame_size or None)
        written = 0  # samples at the output rate
        src_next: float | None = None
        finished = False
        for packet in self._demux():
            try:
                frames = packet.decode()
            except av.FFmpegError as e:
                _warn(f"audio: skipped a corrupt packet ({_av_message(e)})")
                continue
            for fr in frames:
                sr = fr.sample_rate
                t0 = float(fr.pts * fr.time_base) if fr.pts is not None else (src_next or 0.0)
                src_next = t0 + fr.samples / sr
                while self.end is None and src_next - self.start > self.limit:
                    yield None
                end = None if self.end is None else self.start + self.end  # source time
                if end is not None and t0 >= end:
                    finished = True
                    break
                a = math.ceil(round((self.start - t0) * sr, 6)) if t0 < self.start else 0
                b = fr.samples if end is None else min(fr.samples, max(0, math.ceil(round((end - t0) * sr, 6))))
                if a >= b:
                    continue
                if a > 0 or b < fr.samples:
                    fr = _slice_audio(fr, a, b)
                fr.pts = None
                for r in resampler.resample(fr):
                    r.pts, written = written, written + r.samples
                    for p in self.ostream.encode(r):
                        yield float(p.pts * p.time_base) if p.pts is not None else written / self.rate, p
            if finished:
                break
        for r in resampler.resample(None):
            r.pts, written = written, written + r.samples
            for p in self.ostream.encode(r):
                yield written / self.rate, p
        for p in self.ostream.encode(None):
            yield written / self.rate, p

    def mux_until(self, out: Any, t: float | None) -> None:
        """Mux audio up to output time `t` (seconds); None: everything left (up to `end` if set)."""
        if self.stream is None or self.done:
            return
        self.limit = math.inf if t is None else t
        while True:
            if self.pending is None:
                try:
                    self.pending = next(self.packets)
                except StopIteration:
                    self.done = True
                    return
                if self.pending is None:  # the encoder waits for more video
                    return
            pt, packet = self.pending
            if t is not None and pt > t:
                return
            out.mux(packet)
            self.pending = None

    def close(self) -> None:
        if self.stream is not None:
            self.inp.close()


def _slice_audio(fr: Any, a: int, b: int) -> Any:
    """Samples [a, b) of an audio frame, as a new frame with the same format and layout."""
    arr = fr.to_ndarray()
    arr = arr[:, a:b] if fr.format.is_planar else arr[:, a * len(fr.layout.channels):b * len(fr.layout.channels)]
    new = av.AudioFrame.from_ndarray(np.ascontiguousarray(arr), format=fr.format.name, layout=fr.layout.name)
    new.sample_rate = fr.sample_rate
    return new


def _av_message(e: BaseException) -> str:
    msg = getattr(e, "strerror", None) or str(e)
    return str(msg).strip().rstrip(".")


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
        self.fps = _fraction(fps)
        if width < 1 or height < 1:
            raise OptionError(f"frame size must be positive, got {width}x{height}")
        self.width, self.height = int(width), int(height)
        codec = VIDEO_CODECS[self.ext]
        self.enc_w, self.enc_h = (self.width - self.width % 2, self.height - self.height % 2) \
            if codec == "libx264" else (self.width, self.height)
        if self.enc_w < 2 or self.enc_h < 2:
            raise OptionError(f"frames of {width}x{height} are too small to encode")
        self.time_base = Fraction(time_base) if time_base is not None else 1 / self.fps
        self.frame_ticks = max(1, round(1 / (self.fps * self.time_base)))  # one frame, in time_base units
        self.frames = 0
        self.last_pts: int | None = None
        self.last_out_pts = -1
        self._yuv = VideoReformatter()
        self.audio_description: str | None = None
        self._closed = False

        parent = self.path.parent if str(self.path.parent) else Path(".")
        self._own_temp = temp_path is None
        try:
            if temp_path is None:
                fd, tmp = tempfile.mkstemp(prefix="." + self.path.name + ".", suffix=".part" + self.ext, dir=parent)
                os.close(fd)
                self.temp = Path(tmp)
            else:
                self.temp = Path(temp_path)
            self.container = av.open(str(self.temp), mode="w", format=VIDEO_FORMATS[self.ext],
                                     container_options={"movflags": "+faststart"} if self.ext == ".mp4" else {})
        except (OSError, av.FFmpegError) as e:
            if self._own_temp:
                _unlink(getattr(self, "temp", None))
            raise OutputError(f"{self.path}: cannot write ({_av_message(e)})") from None
        self.audio: _AudioTrack | None = None
        try:
            self._add_video_stream(codec, crf, preset)
            if audio_from is not None:
                if self.ext == ".gif":
                    if _has_audio(Path(audio_from)):
                        _warn(f"{self.path}: GIF has no sound; the audio track is dropped")
                else:
                    self.audio = _AudioTrack(Path(audio_from), self.container, self.ext, audio_start, trim_audio)
                    if self.audio.stream is None:
                        self.audio = None
                    else:
                        self.audio_description = self.audio.description
        except BaseException:
            self.abort()
            raise

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

    def write(self, frame: Frame, pts: int | None = None) -> None:
        """Append one frame: H x W x 3 uint8 RGB, or 1 x 3 x H x W / 3 x H x W float in [0, 1].

        `pts`: presentation time in `time_base` units; default: the previous one plus one frame.
        """
        if self._closed:
            raise ValueError("write() on a closed VideoWriter")
        arr = _as_array(frame)
        if arr.shape[:2] != (self.height, self.width):
            raise ValueError(f"frame is {arr.shape[1]}x{arr.shape[0]}, this writer takes {self.width}x{self.height}")
        if pts is None:
            pts = 0 if self.last_pts is None else self.last_pts + self.frame_ticks
        if self.last_pts is not None and pts <= self.last_pts:
            raise ValueError(f"timestamps must increase ({pts} after {self.last_pts})")
        self.last_pts = pts
        if (self.enc_w, self.enc_h) != (self.width, self.height):
            arr = arr[: self.enc_h, : self.enc_w]
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
        try:
            for packet in self.stream.encode(vf):
                self.container.mux(packet)
            if self.audio is not None:
                self.audio.mux_until(self.container, float(pts * self.time_base))
        except (OSError, av.FFmpegError) as e:
            raise OutputError(f"{self.path}: cannot write ({_av_message(e)})") from None
        self.frames += 1

    @property
    def duration(self) -> float:
        """Seconds of video written so far (end of the last frame)."""
        return 0.0 if self.last_pts is None else float((self.last_pts + self.frame_ticks) * self.time_base)

    def close(self) -> Path:
        """Flush, finish the file and move it to `path`. Returns `path`."""
        if self._closed:
            return self.path
        if self.frames == 0:
            self.abort()
            raise OutputError(f"{self.path}: no frames to write")
        try:
            for packet in self.stream.encode(None):
                self.container.mux(packet)
            if self.audio is not None:
                if self.audio.trim:
                    self.audio.end = self.duration
                self.audio.mux_until(self.container, None)
                self.audio.close()
            self.container.close()
            self._closed = True
            if self._own_temp:
                os.chmod(self.temp, default_file_mode())
            os.replace(self.temp, self.path)
        except (OSError, av.FFmpegError) as e:
            self.abort()
            raise OutputError(f"{self.path}: cannot write ({_av_message(e)})") from None
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
        _unlink(self.temp)

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


# --------------------------------------------------------------------------------------------
# Source

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


def _check_input_file(path: Path) -> None:
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, not a video")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: empty file (0 bytes)")


def _open_video(path: Path) -> Any:
    _check_input_file(path)
    try:
        c = av.open(str(path))
    except av.EOFError:
        raise InputError(f"{path}: no video frames (the file ends before the first one)") from None
    except (av.FFmpegError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: not a video file (or an unsupported format): {_av_message(e)}") from None
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror or e})") from None
    if not c.streams.video:
        empty = not c.streams
        c.close()
        raise InputError(f"{path}: " + ("no video frames (an empty or unfinished video file)" if empty
                                         else "not a video (no video stream)"))
    return c


def _has_audio(path: Path) -> bool:
    try:
        with av.open(str(path)) as c:
            return bool(c.streams.audio)
    except (av.FFmpegError, OSError):
        return False


def probe(path: str | os.PathLike) -> VideoInfo:
    """Read a video's size, frame rate, time base, rotation and sound without decoding it all."""
    p = Path(path)
    c = _open_video(p)
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
        cfr = bool(v.average_rate and v.base_rate and abs(float(v.average_rate) / float(v.base_rate) - 1) < 0.01)
        return VideoInfo(p, w, h, Fraction(fps), Fraction(tb), rotation, duration, v.frames or None,
                         v.start_time or 0, c.streams.audio[0].codec_context.name if c.streams.audio else None, cfr)
    finally:
        c.close()


def scaled_size(width: int, height: int, size: int | None) -> tuple[int, int]:
    """(width, height) scaled so that the long side is `size` (None: unchanged)."""
    if size is None:
        return width, height
    k = size / max(width, height)
    return max(1, round(width * k)), max(1, round(height * k))


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

        `size`: scale so the long side has this many pixels (aspect kept, rounded as
        `nst.image_io.resize_long_side` does); done by FFmpeg's scaler while converting to RGB,
        which costs a fraction of resizing a float tensor.
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


def read_frames(info: VideoInfo, start: float = 0.0, duration: float | None = None,
                max_frames: int | None = None) -> Iterator[SourceFrame]:
    """Decode frames in presentation order from `start` (s) for `duration` (s) / `max_frames`.

    Corrupt packets are skipped with a VideoWarning; the frames after them keep their own
    timestamps. Timestamps that do not increase (broken files) are repaired to +1 frame.
    """
    c = _open_video(info.path)
    try:
        v = c.streams.video[0]
        v.thread_type = "AUTO"
        tb = info.time_base
        start_ts = info.start_time + (math.ceil(start / tb - 1e-6) if start > 0 else 0)
        end_ts = info.start_time + start / tb + duration / tb if duration is not None else None
        if start > 0:
            with contextlib.suppress(av.FFmpegError):
                c.seek(int(start_ts), stream=v, backward=True, any_frame=False)
        nominal = max(1, round(1 / (info.fps * tb)))
        index, last_pts, errors = 0, None, 0
        packets = decoded = failed = 0  # to notice frames a decoder drops without raising an error
        unexplained = 0  # packets reported as corrupt whose missing frames no gap has shown yet
        gap_frames = 0   # frames reported missing from timestamp gaps
        size: tuple[int, int] | None = None
        scaler = VideoReformatter()
        demux = c.demux(v)
        while True:
            try:
                packet = next(demux)
                errors = 0
            except StopIteration:
                break
            except av.FFmpegError as e:
                errors += 1
                if errors > _MAX_DEMUX_ERRORS:
                    _warn(f"{info.path}: stopped at an unreadable part of the file ({_av_message(e)})")
                    break
                _warn(f"{info.path}: skipped unreadable data ({_av_message(e)})")
                demux = c.demux(v)
                continue
            packets += packet.size > 0
            try:
                frames = packet.decode()
            except av.FFmpegError as e:
                failed += 1
                unexplained += 1
                at = f" at {float((packet.pts - info.start_time) * tb):.2f} s" if packet.pts is not None else ""
                _warn(f"{info.path}: skipped a corrupt packet{at} ({_av_message(e)})")
                continue
            decoded += len(frames)
            for f in frames:
                pts = f.pts if f.pts is not None else getattr(f, "best_effort_timestamp", None)
                if pts is None or (last_pts is not None and pts <= last_pts):
                    pts = (last_pts + nominal) if last_pts is not None else info.start_time
                if pts < start_ts:
                    continue
                if end_ts is not None and pts >= end_ts - 1e-6:
                    return
                if size is None:
                    size = (f.width, f.height)
                elif info.constant_rate and pts - last_pts > 1.5 * nominal:  # type: ignore[operator]
                    gap = round((pts - last_pts) / nominal) - 1  # type: ignore[operator]
                    known = min(gap, unexplained)  # already reported as corrupt packets
                    unexplained -= known
                    if gap > known:
                        gap_frames += gap - known
                        _warn(f"{info.path}: {gap - known} frame(s) missing before "
                              f"{float((pts - info.start_time) * tb):.2f} s (damaged file?); timing kept")
                last_pts = pts
                yield SourceFrame(index, int(pts), f, size, info.rotation, scaler)
                index += 1
                if max_frames is not None and index >= max_frames:
                    return
        lost = packets - decoded - failed - gap_frames
        if lost > 0:
            _warn(f"{info.path}: {lost} corrupt frame(s) could not be decoded and were skipped (timing kept)")
    finally:
        c.close()


# --------------------------------------------------------------------------------------------
# Pipeline

@dataclass
class VideoOptions:
    """Settings for `stylize_video`; the CLI derives its flags and defaults from these fields."""

    size: int | None = 512            # long side of the stylised frames (None: the source's size)
    start: float = 0.0                # seconds from the start of the video
    duration: float | None = None     # seconds to process (None: to the end)
    max_frames: int | None = None     # stop after this many frames
    batch: int = 1                    # frames per stylizer call
    frames_dir: str | None = None     # also keep every stylised frame here as frame_000001.png, ...
    crf: int | None = None            # encoder quality (default: 18 for H.264, 32 for VP9)

    def validate(self, info: VideoInfo | None = None) -> None:
        """Check the values; with `info`, also that --start falls inside that video."""
        if self.size is not None and self.size < 16:
            raise OptionError(f"--size must be at least 16, not {self.size}")
        if not (math.isfinite(self.start) and self.start >= 0):
            raise OptionError(f"--start must be a time >= 0, not {self.start}")
        if self.duration is not None and not (math.isfinite(self.duration) and self.duration > 0):
            raise OptionError(f"--duration must be positive, not {self.duration}")
        if self.max_frames is not None and self.max_frames < 1:
            raise OptionError(f"--max-frames must be positive, not {self.max_frames}")
        if self.batch < 1:
            raise OptionError(f"--batch must be positive, not {self.batch}")
        if info is not None and info.duration is not None and self.start >= info.duration:
            raise InputError(f"{info.path}: --start {self.start:g} s is past the end of the video "
                             f"({info.duration:.2f} s)")


@dataclass
class VideoResult:
    """What `stylize_video` / `frames_to_video` produced."""

    output: Path
    frames: int               # frames written
    duration: float           # seconds of video written
    width: int
    height: int
    fps: Fraction
    audio: str | None         # e.g. "aac (copied)"; None without sound
    resumed_from: int = 0     # frames reused from an interrupted run
    stylized: int = 0         # frames stylised by this run
    stylize_seconds: float = 0.0
    seconds: float = 0.0      # wall time of the whole call
    frames_dir: Path | None = None


def work_dir_for(out: str | os.PathLike) -> Path:
    """The folder next to `out` where an unfinished run keeps its frames: OUT.nst-work/."""
    p = Path(out)
    return p.with_name(p.name + WORK_SUFFIX)


def _file_identity(p: Path) -> dict[str, Any]:
    st = p.stat()
    return {"path": str(p.resolve()), "bytes": st.st_size, "mtime_ns": st.st_mtime_ns}


def _fingerprint(info: VideoInfo, opts: VideoOptions, stylizer: Any, settings: Mapping[str, Any] | None) -> dict:
    """Everything that decides the stylised frames. A rerun resumes only if this is unchanged."""
    video = {k: v for k, v in dataclasses.asdict(opts).items() if k not in ("frames_dir", "crf")}
    return json.loads(json.dumps({
        "version": _MANIFEST_VERSION, "input": _file_identity(info.path), "video": video,
        "stylizer": getattr(stylizer, "name", type(stylizer).__name__), "settings": dict(settings or {}),
        "torch": torch.__version__, "threads": torch.get_num_threads(),
    }, default=str, sort_keys=True))


class _WorkDir:
    """OUT.nst-work/: manifest.json, frames/NNNNNNNN.png (stylised, lossless), the partial output."""

    def __init__(self, out: Path, fingerprint: dict) -> None:
        self.root = work_dir_for(out)
        self.frames = self.root / "frames"
        self.lock_file: Any = None
        try:
            self.frames.mkdir(parents=True, exist_ok=True)
            self._lock()
            manifest = self.root / "manifest.json"
            old = None
            with contextlib.suppress(OSError, ValueError):
                old = json.loads(manifest.read_text())
            if old != fingerprint:
                # Different settings (or no manifest): frames from before cannot be reused.
                if old is not None and any(self.frames.iterdir()):
                    _warn(f"{self.root}: settings differ from the interrupted run's; starting over")
                shutil.rmtree(self.frames, ignore_errors=True)
                self.frames.mkdir(parents=True, exist_ok=True)
                tmp = self.root / "manifest.json.tmp"
                with open(tmp, "w") as f:
                    json.dump(fingerprint, f, indent=1, sort_keys=True)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, manifest)
        except OSError as e:
            raise OutputError(f"{out}: cannot create work folder {self.root} ({e.strerror or e})") from None

    def _lock(self) -> None:
        try:
            import fcntl
        except ImportError:  # not POSIX: no lock, as before
            return
        self.lock_file = open(self.root / "lock", "w")
        try:
            fcntl.flock(self.lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self.lock_file.close()
            raise OutputError(f"{self.root}: another nst process is writing this output") from None

    def frame_path(self, i: int) -> Path:
        return self.frames / f"{i:08d}.png"

    def completed(self) -> int:
        """Number of leading frames saved intact (a file cut short by a crash ends the count)."""
        n = 0
        while True:
            p = self.frame_path(n)
            try:
                with Image.open(p) as im:
                    im.verify()
            except (OSError, SyntaxError, ValueError):
                return n
            n += 1

    def save(self, i: int, arr: np.ndarray) -> None:
        p = self.frame_path(i)
        tmp = p.with_suffix(".tmp")
        try:
            Image.fromarray(arr).save(tmp, format="PNG", compress_level=1)
            os.replace(tmp, p)
        except OSError as e:
            raise OutputError(f"cannot save work frame {p} ({e.strerror or e})") from None

    def load(self, i: int) -> np.ndarray:
        p = self.frame_path(i)
        try:
            with Image.open(p) as im:
                return np.asarray(im.convert("RGB"))
        except (OSError, SyntaxError, ValueError):
            raise OutputError(f"work frame {p} is damaged; delete {self.root} and run again") from None

    def release(self) -> None:
        if self.lock_file is not None:
            self.lock_file.close()
            self.lock_file = None

    def remove(self) -> None:
        self.release()
        shutil.rmtree(self.root, ignore_errors=True)


class OrderedSink:
    """Writes frames strictly by index, whatever order they arrive in.

    `put(index, pts, frame)` buffers out-of-order frames; each frame goes to `write` only after
    every lower index has. The pipeline produces batches in order, so the buffer stays empty,
    but order no longer depends on how batches are scheduled.
    """

    def __init__(self, write: Callable[[int, int, np.ndarray], None], first: int = 0) -> None:
        self._write = write
        self.next = first
        self._pending: dict[int, tuple[int, np.ndarray]] = {}

    def put(self, index: int, pts: int, frame: np.ndarray) -> None:
        if index < self.next or index in self._pending:
            raise ValueError(f"frame {index} was already written")
        self._pending[index] = (pts, frame)
        while self.next in self._pending:
            p, f = self._pending.pop(self.next)
            self._write(self.next, p, f)
            self.next += 1

    def close(self) -> None:
        if self._pending:
            raise ValueError(f"frames missing before {min(self._pending)}")


class _Worker:
    """Calls `fn(*item)` for each `put(*item)`, in order, on one background thread.

    The first exception stops the work; it is raised in the caller's thread at the next `put` or
    at `finish`. The queue is bounded, so a slow encoder holds the stylizer back instead of
    piling up frames in memory.
    """

    def __init__(self, fn: Callable[..., None], depth: int) -> None:
        self.fn = fn
        self.q: queue.Queue = queue.Queue(maxsize=depth)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="nst-video-writer", daemon=True)
        self.thread.start()
        self.finished = False

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


def _batches(frames: Iterator[SourceFrame], size: int) -> Iterator[list[SourceFrame]]:
    """Group frames into batches aligned to absolute indices: [0, B), [B, 2B), ..."""
    batch: list[SourceFrame] = []
    for f in frames:
        batch.append(f)
        if (f.index + 1) % size == 0:
            yield batch
            batch = []
    if batch:
        yield batch


def _estimate_frames(info: VideoInfo, opts: VideoOptions) -> int | None:
    n: float | None = info.frames
    if n is None and info.duration:
        n = info.duration * float(info.fps)
    if n is not None:
        n = max(0.0, n - opts.start * float(info.fps))
        if opts.duration is not None:
            n = min(n, math.ceil(opts.duration * float(info.fps)))
    if opts.max_frames is not None:
        n = opts.max_frames if n is None else min(n, opts.max_frames)
    return None if n is None else int(round(n))


def _frames_dir_names(n: int) -> Callable[[int], str]:
    width = max(6, len(str(n)))
    return lambda i: f"frame_{i + 1:0{width}d}.png"


def _prepare_frames_dir(d: Path) -> Path:
    if d.exists() and not d.is_dir():
        raise OutputError(f"{d}: exists and is not a directory")
    if d.is_dir() and any(p.name.startswith("frame_") and p.suffix == ".png" for p in d.iterdir()):
        raise OutputError(f"{d}: already holds frame_*.png files; choose an empty folder")
    parent = d.parent if str(d.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError(f"{d}: directory {parent} does not exist")
    return d


def stylize_video(src: str | os.PathLike, out: str | os.PathLike, stylizer: TensorFn,
                  opts: VideoOptions | None = None, *, settings: Mapping[str, Any] | None = None,
                  overwrite: bool = False, progress: ProgressCallback | None = None) -> VideoResult:
    """Stylise a video file: same frame rate, time base, timestamps and sound as `src`.

    `stylizer` maps N x 3 x H x W RGB [0, 1] to the same shape (an `nst.Stylizer`); frames are
    resized to `opts.size` first. If it has `warm_start`/`previous` attributes (the optimize
    stylizer), each frame starts from the previous stylised frame. `settings` (JSON-able)
    describe the stylizer for the resume manifest: a rerun resumes only if they are unchanged.
    Progress events: stage "video", one per batch, `step`/`done` = frames written.
    """
    t_start = time.perf_counter()
    opts = opts or VideoOptions()
    opts.validate()
    src_p = Path(src)
    info = probe(src_p)
    opts.validate(info)
    out_p = check_output_path(out, [src_p], overwrite, VIDEO_FORMATS)
    if src_p.resolve() == out_p.resolve():  # also refused by check_output_path; keep it explicit
        raise OutputError(f"{out_p}: output path is the same as the input")
    frames_dir = _prepare_frames_dir(Path(opts.frames_dir)) if opts.frames_dir else None

    work = _WorkDir(out_p, _fingerprint(info, opts, stylizer, settings))
    writer: VideoWriter | None = None
    worker: _Worker | None = None
    try:
        done_before = work.completed()
        resume_at = done_before // opts.batch * opts.batch  # whole batches only: same batches as a fresh run
        total = _estimate_frames(info, opts)
        trim = opts.start > 0 or opts.duration is not None or opts.max_frames is not None
        first_pts: int | None = None
        stylized, t_stylize = 0, 0.0
        warm = SEQUENTIAL in getattr(stylizer, "capabilities", ())

        def emit(n: int, text: str = "") -> None:
            if progress is not None:
                tot = max(total or 0, n)
                progress(Progress("video", n, tot, float(n), float(tot), info=text))

        def write(i: int, pts: int, arr: np.ndarray) -> None:
            nonlocal writer
            if writer is None:
                h, w = arr.shape[:2]
                writer = VideoWriter(out_p, info.fps, w, h, info.path if info.audio else None,
                                     time_base=info.time_base, audio_start=float(pts * info.time_base),
                                     trim_audio=trim, crf=opts.crf, temp_path=work.root / ("partial" + out_p.suffix))
            assert first_pts is not None
            writer.write(arr, pts - first_pts)

        sink = OrderedSink(write)

        def finish_frame(i: int, pts: int, arr: np.ndarray | None) -> None:
            """On the writer thread: save a new frame for resume, then encode it (in index order)."""
            if arr is None:
                arr = work.load(i)  # stylised by an earlier run
            else:
                work.save(i, arr)
            sink.put(i, pts, arr)

        # PNG compression and encoding run on one background thread, overlapping the stylizer.
        worker = _Worker(finish_frame, depth=2 * opts.batch + 2)
        queued = 0
        if resume_at:
            emit(0, f"resuming after frame {resume_at}")
        for batch in _batches(read_frames(info, opts.start, opts.duration, opts.max_frames), opts.batch):
            if first_pts is None:
                first_pts = batch[0].pts
            if batch[-1].index < resume_at:
                for f in batch:
                    worker.put(f.index, f.pts, None)
                queued += len(batch)
                emit(queued)
                continue
            if warm and batch[0].index > 0 and stylizer.state() is None:  # type: ignore[attr-defined]
                prev = work.load(batch[0].index - 1)
                stylizer.reset(arrays_to_tensor([prev]))  # type: ignore[attr-defined]
            x = arrays_to_tensor([f.rgb(opts.size) for f in batch])
            t0 = time.perf_counter()
            y = stylizer(x)
            t_stylize += time.perf_counter() - t0
            if y.shape != x.shape:
                raise OptionError(f"the stylizer returned {tuple(y.shape)} for input {tuple(x.shape)}")
            for f, arr in zip(batch, tensor_to_arrays(y)):
                worker.put(f.index, f.pts, arr)
            stylized += len(batch)
            queued += len(batch)
            emit(queued)
        worker.finish()
        sink.close()
        if writer is None:
            raise InputError(f"{src_p}: no video frames" + (" in the chosen time range" if trim else ""))
        writer.close()
        n = sink.next
        if frames_dir is not None:
            name = _frames_dir_names(n)
            try:
                frames_dir.mkdir(exist_ok=True)
                for i in range(n):
                    shutil.move(work.frame_path(i), frames_dir / name(i))  # a rename on the same disk
            except OSError as e:
                raise OutputError(f"{frames_dir}: cannot save the frames ({e.strerror or e}); the video is "
                                  f"written, the frames are still in {work.root}") from None
        result = VideoResult(out_p, n, writer.duration, writer.enc_w, writer.enc_h, info.fps,
                             writer.audio_description, resume_at, stylized, t_stylize,
                             time.perf_counter() - t_start, frames_dir)
    except BaseException:
        if worker is not None:
            worker.finish(raise_error=False)  # frames already stylised still get saved for the resume
        if writer is not None:
            with contextlib.suppress(Exception):
                writer.container.close()
        if writer is None and work.completed() == 0:
            work.remove()  # nothing worth keeping (bad input, nothing done yet)
        else:
            work.release()  # keep the frames: the same command resumes from here
        raise
    work.remove()
    return result


# --------------------------------------------------------------------------------------------
# Folder of frames -> video

_DIGITS = re.compile(r"(\d+)")


def natural_key(name: str) -> tuple:
    """Sort key putting 'frame2' before 'frame10' (numbers compared as numbers, case ignored)."""
    parts = _DIGITS.split(name)
    return tuple((int(p) if i % 2 else p.lower()) for i, p in enumerate(parts)) + (name,)


def list_frames(folder: str | os.PathLike) -> list[Path]:
    """Image files in `folder`, in natural numeric order."""
    d = Path(folder)
    if not d.exists():
        raise InputError(f"{d}: no such folder")
    if not d.is_dir():
        raise InputError(f"{d}: not a folder")
    files = [p for p in d.iterdir() if p.suffix.lower() in FRAME_EXTS and p.is_file() and not p.name.startswith(".")]
    if not files:
        raise InputError(f"{d}: no image files ({', '.join(FRAME_EXTS)})")
    return sorted(files, key=lambda p: natural_key(p.name))


def frames_to_video(folder: str | os.PathLike, out: str | os.PathLike, fps: float | Fraction | str,
                    audio_from: str | os.PathLike | None = None, *, overwrite: bool = False,
                    progress: ProgressCallback | None = None) -> VideoResult:
    """Assemble a folder of frames (natural order) into a video at `fps`, with `audio_from`'s sound.

    Every frame is scaled to the first frame's size if it differs (with a warning).
    """
    t0 = time.perf_counter()
    rate = _fraction(fps)
    files = list_frames(folder)
    inputs = [Path(audio_from)] if audio_from is not None else []
    if audio_from is not None:
        _open_video_or_audio(Path(audio_from))
    out_p = check_output_path(out, inputs + files[:1], overwrite, VIDEO_FORMATS)
    first = load_image(files[0])
    h, w = first.shape[-2:]
    warned = False
    with VideoWriter(out_p, rate, w, h, audio_from) as writer:
        for i, f in enumerate(files):
            x = first if i == 0 else load_image(f)
            if x.shape[-2:] != (h, w):
                if not warned:
                    _warn(f"{f}: {x.shape[-1]}x{x.shape[-2]} differs from the first frame ({w}x{h}); scaling")
                    warned = True
                x = torch.nn.functional.interpolate(x, size=(h, w), mode="bicubic", antialias=True,
                                                    align_corners=False).clamp(0, 1)
            writer.write(x)
            if progress is not None:
                progress(Progress("frames2video", i + 1, len(files), float(i + 1), float(len(files))))
        if audio_from is not None and writer.audio is None and out_p.suffix.lower() != ".gif":
            _warn(f"{audio_from}: has no audio track; the video is silent")
    return VideoResult(out_p, writer.frames, writer.duration, writer.enc_w, writer.enc_h, rate,
                       writer.audio_description, seconds=time.perf_counter() - t0)


def _open_video_or_audio(p: Path) -> None:
    _check_input_file(p)
    try:
        with av.open(str(p)) as c:
            if not c.streams.audio and not c.streams.video:
                raise InputError(f"{p}: no audio or video streams")
    except (av.FFmpegError, UnicodeDecodeError) as e:
        raise InputError(f"{p}: not a media file: {_av_message(e)}") from None


__all__ = ["VideoWriter", "VideoInfo", "VideoOptions", "VideoResult", "VideoWarning", "OrderedSink", "probe",
           "read_frames", "stylize_video", "frames_to_video", "list_frames", "natural_key", "work_dir_for",
           "arrays_to_tensor", "tensor_to_arrays", "quantize", "VIDEO_FORMATS"]
