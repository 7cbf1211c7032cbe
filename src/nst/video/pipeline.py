"""`stylize_video`: decode -> stylise in batches -> save for resume and encode, in presentation order.

    source (PyAV decode; rotation; timestamps)  ->  stylizer (N x 3 x H x W batches)
      ->  ordered sink (work frames on disk + encode, on one background thread)  ->  OUT, renamed in at the end

Frames are written strictly by their decode index, whatever order batches finish in. Batches are
aligned to absolute frame numbers (batch k is always frames kB..kB+B-1), so a resumed run calls the
stylizer on exactly the same batches as an uninterrupted one and the output is the same frame for
frame. A SEQUENTIAL stylizer (output depends on the previous frames) gets one frame per call; its
`state()` after each frame is saved in the work folder with the frame (`WorkDir.save_state`), and a
resumed run restarts its sequence from the state saved with the last completed frame (or, for a
stylizer whose state is None, from that frame as saved), exactly as the uninterrupted run had it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import shutil
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, cast

import numpy as np
import torch

from ..errors import InputError, OptionError, OutputError
from ..io.frames import arrays_to_tensor, tensor_to_arrays
from ..io.image import check_output_path
from ..methods.base import SEQUENTIAL, Sequential
from ..options import MAX_SIDE, MIN_SIDE, check, option
from ..progress import Progress, ProgressCallback
from .resume import WorkDir, check_work_dir, fingerprint, state_array
from .source import SourceFrame, VideoInfo, probe, read_frames
from .writer import VIDEO_FORMATS, VideoWriter, Worker, check_crf

TensorFn = Callable[[torch.Tensor], torch.Tensor]


#: A day: longer than any video nst is asked to cut (start, duration in seconds).
MAX_SECONDS = 86400.0


@dataclass
class VideoOptions:
    """Settings for `stylize_video`; the CLI derives its flags and defaults from these fields."""

    size: int | None = option(512, help="long side of the stylised frames in pixels (None: the source's size)",
                              min=MIN_SIDE, max=MAX_SIDE)
    start: float = option(0.0, help="start at this time (seconds or [hh:]mm:ss)", min=0.0, max=MAX_SECONDS)
    duration: float | None = option(None, help="process this many seconds (seconds or [hh:]mm:ss)", min=0.0,
                                    exclusive_min=True, max=MAX_SECONDS)
    max_frames: int | None = option(None, help="stop after N frames", min=1, max=10**9, metavar="N")
    batch: int = option(1, help="frames per stylizer call (1 for a sequential stylizer)", min=1, max=64)
    frames_dir: str | None = option(None, help="also save every stylised frame here as frame_000001.png, "
                                    "frame_000002.png, ...", metavar="DIR")
    crf: int | None = option(None, help="encoder quality, lower is better (default 18 for H.264, 32 for VP9; "
                             "H.264 takes 0..51, VP9 0..63)", min=0, max=63)

    def validate(self, info: VideoInfo | None = None) -> None:
        """Check the values (OptionError naming the field); with `info`, also that start falls inside that video."""
        check(self)
        if info is not None and info.duration is not None and self.start >= info.duration:
            raise InputError(f"{info.path}: --start {self.start:g} s is past the end of the video "
                             f"({info.duration:.2f} s)")

    @property
    def trimmed(self) -> bool:
        return self.start > 0 or self.duration is not None or self.max_frames is not None


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


def prepare_frames_dir(d: Path) -> Path:
    """The folder for `frames_dir`, checked before anything runs: a folder (or a new one in an existing
    folder) that holds no frame_*.png yet."""
    if d.exists() and not d.is_dir():
        raise OutputError(f"{d}: exists and is not a directory")
    if d.is_dir() and any(p.name.startswith("frame_") and p.suffix == ".png" for p in d.iterdir()):
        raise OutputError(f"{d}: already holds frame_*.png files; choose an empty folder")
    parent = d.parent if str(d.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError(f"{d}: directory {parent} does not exist")
    return d


def export_frames(frames_dir: Path, files: list[Path], kept_in: Path) -> None:
    """Move `files` (the stylised frames, PNG, in order) to `frames_dir` as frame_000001.png, ... (a rename
    on the same disk); `kept_in` is where they stay if that fails."""
    width = max(6, len(str(len(files))))
    try:
        frames_dir.mkdir(exist_ok=True)
        for i, f in enumerate(files):
            shutil.move(f, frames_dir / f"frame_{i + 1:0{width}d}.png")
    except OSError as e:
        raise OutputError(f"{frames_dir}: cannot save the frames ({e.strerror or e}); the video is "
                          f"written, the frames are still in {kept_in}") from None


def open_writer(out: Path, info: VideoInfo, opts: VideoOptions, first_pts: int, width: int, height: int,
                temp_path: Path | None = None) -> VideoWriter:
    """The writer for a run whose first frame has timestamp `first_pts`: the source's rate and time base,
    and its sound from that frame on (cut at the video's end when the run is trimmed)."""
    return VideoWriter(out, info.fps, width, height, info.path if info.audio else None, time_base=info.time_base,
                       audio_start=float(first_pts * info.time_base), trim_audio=opts.trimmed, crf=opts.crf,
                       temp_path=temp_path)


def no_frames(info: VideoInfo, opts: VideoOptions) -> InputError:
    """The error for a run that found no frame to stylise."""
    return InputError(f"{info.path}: no video frames" + (" in the chosen time range" if opts.trimmed else ""))


def _is_sequential(stylizer: Any) -> bool:
    # getattr: plain functions, and stylizers written before the capability contract, declare nothing.
    return SEQUENTIAL in getattr(stylizer, "capabilities", frozenset())


class _Run:
    """One stylize_video call after its checks: the loop, the writer thread's side, the counters."""

    def __init__(self, info: VideoInfo, out: Path, stylizer: TensorFn, opts: VideoOptions, work: WorkDir,
                 progress: ProgressCallback | None) -> None:
        self.info, self.out, self.stylizer, self.opts, self.work = info, out, stylizer, opts, work
        self.progress = progress
        self.total = _estimate_frames(info, opts)
        self.resume_at = work.completed() // opts.batch * opts.batch  # whole batches: same batches as a fresh run
        self.writer: VideoWriter | None = None
        self.first_pts: int | None = None
        self.queued = self.stylized = 0
        self.stylize_seconds = 0.0
        self.sink = OrderedSink(self._encode)
        # PNG compression and encoding run on one background thread, overlapping the stylizer.
        self.worker = Worker(self._finish_frame, depth=2 * opts.batch + 2)

    def _emit(self, n: int, text: str = "") -> None:
        if self.progress is not None:
            tot = max(self.total or 0, n)
            self.progress(Progress("video", n, tot, float(n), float(tot), info=text))

    # ---- on the writer thread, in index order

    def _finish_frame(self, i: int, pts: int, arr: np.ndarray | None, state: np.ndarray | None = None) -> None:
        """Save a new frame (and the sequence state after it) for resume, or load one stylised by an
        earlier run; then encode it. The state is written before its frame, so a completed frame has one."""
        if arr is None:
            arr = self.work.load(i)
        else:
            if state is not None:
                self.work.save_state(i, state)
            self.work.save(i, arr)
            self.work.drop_state(i - 1)
        self.sink.put(i, pts, arr)

    def _encode(self, i: int, pts: int, arr: np.ndarray) -> None:
        info = self.info
        if self.writer is None:  # the first frame decides the size
            h, w = arr.shape[:2]
            self.writer = open_writer(self.out, info, self.opts, pts, w, h,
                                      self.work.root / ("partial" + self.out.suffix))
        assert self.first_pts is not None  # set before the first frame is queued
        self.writer.write(arr, pts - self.first_pts)

    # ---- on the caller's thread

    def _start_sequence(self, first: int) -> None:
        """A SEQUENTIAL stylizer continues from frame `first - 1` as saved (8-bit), or starts afresh."""
        if not _is_sequential(self.stylizer):
            return
        state = None
        if first > 0:
            state = self.work.load_state(first - 1)
            if state is None:  # a stylizer whose state() was None: the saved frame, as before
                state = arrays_to_tensor([self.work.load(first - 1)])
        cast(Sequential, self.stylizer).reset(state)

    def _reuse(self, batch: list[SourceFrame]) -> None:
        for f in batch:
            self.worker.put(f.index, f.pts, None)
        self.queued += len(batch)

    def _stylize(self, batch: list[SourceFrame]) -> None:
        x = arrays_to_tensor([f.rgb(self.opts.size) for f in batch])
        t0 = time.perf_counter()
        y = self.stylizer(x)
        self.stylize_seconds += time.perf_counter() - t0
        if y.shape != x.shape:
            raise OptionError(f"the stylizer returned {tuple(y.shape)} for input {tuple(x.shape)}")
        state = None
        if _is_sequential(self.stylizer):  # batch 1: the state after this frame, taken before the next call
            st = cast(Sequential, self.stylizer).state()
            state = None if st is None else state_array(st)
        for f, arr in zip(batch, tensor_to_arrays(y)):
            self.worker.put(f.index, f.pts, arr, state)
        self.stylized += len(batch)
        self.queued += len(batch)

    def run(self) -> VideoWriter:
        """Every frame stylised (or reused) and encoded; returns the closed writer."""
        opts = self.opts
        if self.resume_at:
            self._emit(0, f"resuming after frame {self.resume_at}")
        started = False
        for batch in _batches(read_frames(self.info, opts.start, opts.duration, opts.max_frames), opts.batch):
            if self.first_pts is None:
                self.first_pts = batch[0].pts
            if batch[-1].index < self.resume_at:
                self._reuse(batch)
            else:
                if not started:
                    self._start_sequence(batch[0].index)
                    started = True
                self._stylize(batch)
            self._emit(self.queued)
        self.worker.finish()
        self.sink.close()
        if self.writer is None:
            raise no_frames(self.info, opts)
        self.writer.close()
        return self.writer

    def export_frames(self, frames_dir: Path) -> None:
        """Move the work frames to `frames_dir` as frame_000001.png, ..."""
        export_frames(frames_dir, [self.work.frame_path(i) for i in range(self.sink.next)], self.work.root)

    def abort(self) -> None:
        """After an error or Ctrl-C: keep what is worth resuming from, drop the rest."""
        self.worker.finish(raise_error=False)  # frames already stylised still get saved for the resume
        if self.writer is not None:
            with contextlib.suppress(Exception):
                self.writer.abort()
        if self.writer is None and self.work.completed() == 0:
            self.work.remove()  # nothing worth keeping (bad input, nothing done yet)
        else:
            self.work.release()  # keep the frames: the same command resumes from here


def stylize_video(src: str | os.PathLike, out: str | os.PathLike, stylizer: TensorFn,
                  opts: VideoOptions | None = None, *, settings: Mapping[str, Any] | None = None,
                  overwrite: bool = False, progress: ProgressCallback | None = None) -> VideoResult:
    """Stylise a video file: same frame rate, time base, timestamps and sound as `src`.

    `stylizer` maps N x 3 x H x W RGB [0, 1] to the same shape (an `nst.Stylizer`, or any function);
    frames are resized to `opts.size` first. A stylizer declaring SEQUENTIAL gets one frame per call
    and `reset(state)` at the start of its sequence. The resume manifest identifies the stylizer by
    its `config()` (and `settings`, JSON-able, if given): a rerun resumes only if they are unchanged.
    Progress events: stage "video", one per batch, `step`/`done` = frames written.
    """
    t_start = time.perf_counter()
    opts = opts or VideoOptions()
    opts.validate()
    if _is_sequential(stylizer) and opts.batch != 1:
        opts = dataclasses.replace(opts, batch=1)  # each frame needs the one before it stylised
    src_p = Path(src)
    info = probe(src_p)
    opts.validate(info)
    out_p = check_output_path(out, [src_p], overwrite, VIDEO_FORMATS)
    check_crf(opts.crf, out_p)
    check_work_dir(out_p)
    if src_p.resolve() == out_p.resolve():  # also refused by check_output_path; keep it explicit
        raise OutputError(f"{out_p}: output path is the same as the input")
    frames_dir = prepare_frames_dir(Path(opts.frames_dir)) if opts.frames_dir else None

    work = WorkDir(out_p, fingerprint(info, opts, stylizer, settings))
    run: _Run | None = None
    try:
        run = _Run(info, out_p, stylizer, opts, work, progress)
        writer = run.run()
        if frames_dir is not None:
            run.export_frames(frames_dir)
    except BaseException:
        if run is not None:
            run.abort()
        else:
            work.release()
        raise
    work.remove()
    return VideoResult(out_p, run.sink.next, writer.duration, writer.enc_w, writer.enc_h, info.fps,
                       writer.audio_description, run.resume_at, run.stylized, run.stylize_seconds,
                       time.perf_counter() - t_start, frames_dir)
