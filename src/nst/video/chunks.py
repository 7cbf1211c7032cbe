"""Long videos in parallel: cut at keyframes into chunks, stylise the chunks anywhere, join them exactly.

    plan_chunks     the video's frames by presentation time (from the packets; nothing decoded) and the
                    keyframes: chunks of about `chunk_frames` frames, each starting at a keyframe (the
                    first at the first frame chosen), so a worker seeks straight to its chunk. Only the
                    frames `stylize_video` would read are chunked (start, duration, max frames: the same
                    rule, `source.select_frames`)
    stylize_chunk   (on a worker) decode one chunk, plus `overlap` frames before it (from the chosen range
                    only), and stylise them in order; the overlap frames only warm up a SEQUENTIAL
                    stylizer (temporal consistency: the flow memory at the chunk's first frame is close
                    to what an unchunked run has there, so the join shows no jump) and are dropped
    join            (on the driver, stylize_video_chunked) write the chunks' frames in presentation order
                    with their own timestamps and the source's sound (cut to the chosen range), and the
                    frames to frames_dir, as `stylize_video` does: the same frame count, order, timing,
                    duration and frame files as the unchunked run

Which machines run `stylize_chunk` is the caller's business (`nst.batch.ray_backend.run_video_chunks`
sends them to Ray actors); this module imports nothing of Ray.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
from bisect import bisect_left
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, cast

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from ..errors import InputError, OutputError
from ..io.frames import arrays_to_tensor, tensor_to_arrays
from ..io.image import check_output_path, png_bytes
from ..methods.base import SEQUENTIAL, Sequential
from .common import av_message
from .pipeline import VideoOptions, VideoResult, export_frames, no_frames, open_writer, prepare_frames_dir
from .source import SourceFrame, VideoInfo, open_video, probe, select_frames
from .writer import VIDEO_FORMATS, VideoWriter, check_crf

#: Frames a chunk has at least (it ends at the first keyframe after that many).
CHUNK_FRAMES = 96
#: Frames decoded and stylised before a chunk, to warm up a temporal stylizer (then dropped). Measured
#: (bench/video_chunks.py): the warping error at the joins is 3.4x that within chunks with no overlap,
#: 1.8x with 4, 1.14x with 8 and 0.95x with 16, where the unchunked run has 0.90x at the same frames.
OVERLAP = 16


@dataclass(frozen=True)
class Chunk:
    """Frames [start, end) of the video, in presentation order; `pts` are their timestamps; `warm` the
    timestamps of the overlap frames before `start`, stylised and dropped."""

    index: int
    start: int
    end: int
    pts: tuple[int, ...]
    warm: tuple[int, ...] = ()


def frame_times(info: VideoInfo) -> tuple[list[int], list[int]]:
    """(every frame's pts in presentation order, the indices of the keyframes among them), from the packets."""
    c = open_video(info.path)
    try:
        v = c.streams.video[0]
        pts, keys = [], set()
        for packet in c.demux(v):
            if packet.pts is None or packet.size == 0:
                continue
            pts.append(int(packet.pts))
            if packet.is_keyframe:
                keys.add(int(packet.pts))
    except av.FFmpegError as e:
        raise InputError(f"{info.path}: cannot read its packets ({av_message(e)})") from None
    finally:
        c.close()
    pts.sort()
    if len(set(pts)) != len(pts):
        raise InputError(f"{info.path}: repeated timestamps; it cannot be cut into chunks (run it without --ray)")
    return pts, [i for i, p in enumerate(pts) if p in keys]


def plan_chunks(pts: list[int], keyframes: list[int], chunk_frames: int = CHUNK_FRAMES,
                overlap: int = OVERLAP, frames: range | None = None) -> list[Chunk]:
    """Chunks of at least `chunk_frames` frames (the last may be shorter) covering `frames` (positions in
    `pts`; default all), each starting at a keyframe or the first of `frames`; the warm-up frames are
    taken from `frames` too."""
    frames = range(len(pts)) if frames is None else frames
    if not frames:
        return []
    first, stop = frames.start, frames.stop
    keys = sorted({k for k in keyframes if first < k < stop} | {first})
    chunks: list[Chunk] = []
    start = first
    while start < stop:
        k = bisect_left(keys, start + max(1, chunk_frames))
        end = keys[k] if k < len(keys) else stop
        warm = tuple(pts[max(first, start - overlap):start])
        chunks.append(Chunk(len(chunks), start, end, tuple(pts[start:end]), warm))
        start = end
    return chunks


def stylize_chunk(path: str | Path, chunk: Chunk, stylizer: Any, size: int | None) -> list[np.ndarray]:
    """The chunk's frames stylised (H x W x 3 uint8, presentation order); a SEQUENTIAL stylizer is reset and
    run through the warm-up frames first. Decoding seeks to the keyframe at or before the first frame."""
    info = probe(path)
    wanted = chunk.warm + chunk.pts
    first, last = wanted[0], wanted[-1]
    sequential = SEQUENTIAL in getattr(stylizer, "capabilities", frozenset())
    if sequential:
        cast(Sequential, stylizer).reset(None)
    out: list[np.ndarray] = []
    seen = 0
    c = open_video(info.path)
    try:
        v = c.streams.video[0]
        v.thread_type = "AUTO"
        with contextlib.suppress(av.FFmpegError):
            c.seek(int(first), stream=v, backward=True, any_frame=False)
        scaler = VideoReformatter()
        frame_size: tuple[int, int] | None = None
        done = False
        for packet in c.demux(v):
            for f in packet.decode():
                pts = f.pts if f.pts is not None else getattr(f, "best_effort_timestamp", None)
                if pts is None or pts < first:
                    continue
                if pts > last:
                    done = True
                    break
                if pts != wanted[seen]:
                    raise InputError(f"{info.path}: frame at {pts} where {wanted[seen]} was expected; this file "
                                     "cannot be cut into chunks (run it without --ray)")
                frame_size = frame_size or (f.width, f.height)
                rgb = SourceFrame(seen, int(pts), f, frame_size, info.rotation, scaler).rgb(size)
                y = stylizer(arrays_to_tensor([rgb]))
                if seen >= len(chunk.warm):
                    out.append(tensor_to_arrays(y)[0])
                seen += 1
            if done or seen == len(wanted):
                break
    except av.FFmpegError as e:
        raise InputError(f"{info.path}: cannot decode ({av_message(e)})") from None
    finally:
        c.close()
    if len(out) != len(chunk.pts):
        raise InputError(f"{info.path}: chunk {chunk.index} gave {len(out)} frames, not {len(chunk.pts)}")
    return out


ChunkRunner = Callable[[list[Chunk]], Iterable[tuple[int, list[np.ndarray], float]]]


def stylize_video_chunked(src: str | Path, out: str | Path, run_chunks: ChunkRunner, opts: VideoOptions | None = None,
                          *, overwrite: bool = False, chunk_frames: int = CHUNK_FRAMES, overlap: int = OVERLAP,
                          progress: Callable[[int, int], None] | None = None) -> tuple[VideoResult, list[Chunk]]:
    """`stylize_video`'s result from chunks: `run_chunks(chunks)` yields (chunk index, frames, seconds) in any
    order (each chunk once); they are written in order as soon as the next one is there. Start, duration
    and max frames choose the same frames as `stylize_video` (only those are chunked), and frames_dir gets
    the same frame files. Returns the result and the chunks."""
    t0 = time.perf_counter()
    opts = opts or VideoOptions()
    opts.validate()
    src_p = Path(src)
    info = probe(src_p)
    opts.validate(info)
    out_p = check_output_path(out, [src_p], overwrite, VIDEO_FORMATS)
    check_crf(opts.crf, out_p)
    frames_dir = prepare_frames_dir(Path(opts.frames_dir)) if opts.frames_dir else None
    pts, keys = frame_times(info)
    chosen = select_frames(info, pts, opts.start, opts.duration, opts.max_frames)
    if not chosen:
        raise no_frames(info, opts)
    chunks = plan_chunks(pts, keys, chunk_frames, overlap, chosen)
    first_pts = pts[chosen.start]
    writer: VideoWriter | None = None
    saved: list[Path] = []  # with frames_dir: the frames as PNG, moved there once the video is written
    scratch = _scratch(frames_dir) if frames_dir is not None else None
    waiting: dict[int, list[np.ndarray]] = {}
    next_chunk = written = 0
    seconds = 0.0
    try:
        for index, frames, secs in run_chunks(chunks):
            if index in waiting or index < next_chunk:
                continue  # a retried chunk's second answer
            waiting[index] = frames
            seconds += secs
            while next_chunk in waiting:
                ch = chunks[next_chunk]
                for p, arr in zip(ch.pts, waiting.pop(next_chunk)):
                    if writer is None:
                        writer = open_writer(out_p, info, opts, first_pts, arr.shape[1], arr.shape[0])
                    writer.write(arr, p - first_pts)
                    if scratch is not None:
                        saved.append(_save_frame(scratch, written, arr))
                    written += 1
                next_chunk += 1
                if progress is not None:
                    progress(written, len(chosen))
        if next_chunk != len(chunks) or writer is None:
            raise InputError(f"{info.path}: chunks {sorted(set(range(len(chunks))) - set(range(next_chunk)))[:5]} "
                             "got no result")
        writer.close()
    except BaseException:
        if writer is not None:
            writer.abort()
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
        raise
    if frames_dir is not None and scratch is not None:
        export_frames(frames_dir, saved, scratch)  # if that fails, the frames stay in scratch (it says so)
        scratch.rmdir()
    return VideoResult(out_p, written, writer.duration, writer.enc_w, writer.enc_h, info.fps,
                       writer.audio_description, 0, written, seconds, time.perf_counter() - t0, frames_dir), chunks


def _scratch(frames_dir: Path) -> Path:
    """A new folder next to `frames_dir` for the frames until the video is written (the same disk, so
    moving them in at the end is a rename)."""
    try:
        return Path(tempfile.mkdtemp(prefix=".nst-frames-", dir=frames_dir.parent))
    except OSError as e:
        raise OutputError(f"{frames_dir}: cannot save the frames ({e.strerror or e})") from None


def _save_frame(folder: Path, i: int, arr: np.ndarray) -> Path:
    p = folder / f"{i:08d}.png"
    try:
        p.write_bytes(png_bytes(arr))
    except OSError as e:
        raise OutputError(f"{folder}: cannot save the frames ({e.strerror or e})") from None
    return p


def run_here(stylizer: Any, path: str | Path, size: int | None) -> ChunkRunner:
    """A ChunkRunner that stylises the chunks one after another in this process (for tests and checks)."""
    def run(chunks: list[Chunk]) -> Iterable[tuple[int, list[np.ndarray], float]]:
        for ch in chunks:
            t0 = time.perf_counter()
            frames = stylize_chunk(path, ch, stylizer, size)
            yield ch.index, frames, time.perf_counter() - t0
    return run


__all__ = ["Chunk", "frame_times", "plan_chunks", "stylize_chunk", "stylize_video_chunked", "run_here", "CHUNK_FRAMES",
           "OVERLAP"]
