"""Chunked video (`nst video --ray`): does the join show a jump? Warping error at the joins against within chunks.

    nice python bench/video_chunks.py [--frames 96] [--size 320] [--chunk 12] [--no-write] [--no-ray]

A real clip (../shared/data/video/bbb_0_30s_720p.webm from 19.7 s, its fastest motion; a pan over the bundled
photo when that folder is missing) is re-encoded at `--size` px with a keyframe every `--chunk` frames, so it
cuts into chunks of that many frames. Method net (shipped starry_night), temporal consistency on. The frames
are taken as the stylizer returns them (before encoding) for:

  unchunked    - one sequence, as `nst video` runs it;
  chunks, overlap K - `nst.video.chunks` with each chunk warmed up on the K frames before it (K = 0, 2, 4, 8, 16);
  per frame    - no temporal consistency (the flicker a join would bring back).

Warping error (bench/temporal.py: DIS flow at its best preset on the input frames, forward-backward
check): at the joins (the pairs whose second frame starts a chunk) and within chunks (every other pair),
and the mean |difference| to the unchunked frames. With `--ray`, also the wall time of the unchunked run
against the chunks on a local Ray with 2 workers (1 CPU each). Writes the "## Chunked video
(bench/video_chunks.py)" section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results import stamp, table, write_section  # noqa: E402
from temporal import VIDEO, as_float, pan_clip, reference_flows  # noqa: E402

from nst import flow as F  # noqa: E402
from nst.methods import make_stylizer  # noqa: E402
from nst.video import VideoOptions, probe, read_frames, stylize_video  # noqa: E402
from nst.video.chunks import OVERLAP, Chunk, frame_times, plan_chunks, stylize_chunk, stylize_video_chunked  # noqa: E402


def source_frames(n: int, size: int) -> tuple[list[np.ndarray], str]:
    clip = VIDEO / "bbb_0_30s_720p.webm"
    if clip.exists():
        frames = []
        for f in read_frames(probe(clip), start=473 / 24):
            frames.append(f.rgb(size))
            if len(frames) == n:
                break
        return frames, "bbb 19.7 s (fast motion)"
    import cv2

    frames, _ = pan_clip(n)
    return [cv2.resize(f, (size, size * 3 // 4), interpolation=cv2.INTER_AREA) for f in frames], "pan (generated)"


def write_clip(path: Path, frames: list[np.ndarray], gop: int, fps: int = 24) -> Path:
    import av

    h, w = frames[0].shape[:2]
    with av.open(str(path), "w") as c:
        v = c.add_stream("libx264", rate=fps)
        v.width, v.height, v.pix_fmt = w - w % 2, h - h % 2, "yuv420p"
        v.codec_context.gop_size = gop
        v.codec_context.options = {"keyint_min": str(gop), "sc_threshold": "0", "crf": "12"}
        for i, f in enumerate(frames):
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(f[:v.height, :v.width]), format="rgb24")
            vf.pts = i
            for p in v.encode(vf):
                c.mux(p)
        for p in v.encode(None):
            c.mux(p)
    return path


def errors(frames: list[np.ndarray], flows: Any, joins: set[int]) -> tuple[float, float]:
    fl = as_float(frames)
    at, within = [], []
    for t, (f, m) in enumerate(flows, start=1):
        e = F.warping_error(fl[t - 1], fl[t], f, m)
        if e == e:
            (at if t in joins else within).append(e)
    return float(np.mean(at)), float(np.mean(within))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=96)
    ap.add_argument("--size", type=int, default=320)
    ap.add_argument("--chunk", type=int, default=12)
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--ray", action="store_true")
    a = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="nst-bench-chunks-"))
    src, name = source_frames(a.frames, a.size)
    clip = write_clip(tmp / "clip.mp4", src, a.chunk)
    pts, keys = frame_times(probe(clip))
    inputs = []
    for f in read_frames(probe(clip)):
        inputs.append(f.rgb(None))
    flows = reference_flows(inputs)
    base = make_stylizer("net", ["starry_night"])
    temporal = make_stylizer("net", ["starry_night"], temporal=True)

    whole = stylize_chunk(clip, Chunk(0, 0, len(pts), tuple(pts)), temporal, None)
    per_frame = stylize_chunk(clip, Chunk(0, 0, len(pts), tuple(pts)), base, None)
    rows: list[list[object]] = []
    chunks0 = plan_chunks(pts, keys, a.chunk, 0)
    joins = {c.start for c in chunks0[1:]}
    w_at, w_in = errors(whole, flows, joins)
    i_at, i_in = errors(inputs, flows, joins)
    rows.append(["input (the floor)", f"{i_at:.4f}", f"{i_in:.4f}", f"{i_at / i_in:.2f}", ""])
    rows.append(["unchunked, temporal", f"{w_at:.4f}", f"{w_in:.4f}", f"{w_at / w_in:.2f}", "0"])
    for k in (0, 2, 4, 8, 16):
        frames: list[np.ndarray] = []
        for ch in plan_chunks(pts, keys, a.chunk, k):
            frames += stylize_chunk(clip, ch, temporal, None)
        at, within = errors(frames, flows, joins)
        diff = float(np.mean([np.abs(x.astype(np.int16) - y).mean() for x, y in zip(frames, whole)])) / 255
        rows.append([f"{len(chunks0)} chunks, temporal, overlap {k}", f"{at:.4f}", f"{within:.4f}",
                     f"{at / within:.2f}", f"{diff:.4f}"])
    p_at, p_in = errors(per_frame, flows, joins)
    diff = float(np.mean([np.abs(x.astype(np.int16) - y).mean() for x, y in zip(per_frame, whole)])) / 255
    rows.append(["per frame (no temporal)", f"{p_at:.4f}", f"{p_in:.4f}", f"{p_at / p_in:.2f}", f"{diff:.4f}"])
    body = table(["frames", "warping error at joins", "within chunks", "joins / within", "mean abs diff to unchunked"],
                 rows)
    speed = ""
    if a.ray:
        import ray
        import torch

        from nst.batch import StylizerSpec
        from nst.batch.ray_backend import run_video_chunks

        opts = VideoOptions(size=None)
        t_whole = {}
        for threads in (1, torch.get_num_threads()):
            torch.set_num_threads(threads)
            t0 = time.perf_counter()
            stylize_video(clip, tmp / "whole.mp4", make_stylizer("net", ["starry_night"], temporal=True), opts,
                          overwrite=True)
            t_whole[threads] = time.perf_counter() - t0
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
        try:
            spec = StylizerSpec("net", ("starry_night",), size=None, temporal={}, threads=1)  # type: ignore[arg-type]
            t0 = time.perf_counter()
            stylize_video_chunked(clip, tmp / "ray.mp4", lambda cs: run_video_chunks(str(clip), cs, spec, 2),
                                  opts, chunk_frames=a.chunk * 4, overlap=OVERLAP)
            t_ray = time.perf_counter() - t0
        finally:
            ray.shutdown()
        speed = ("\n\nSpeed, the same clip to an mp4, temporal: unchunked `stylize_video` in this process "
                 + ", ".join(f"{t:.1f} s with {n} torch thread{'s' * (n > 1)}" for n, t in t_whole.items())
                 + f"; on a local Ray (started for it, not counted) with 2 workers x 1 CPU, chunks of {a.chunk * 4}+ "
                 f"frames and the default overlap ({OVERLAP}): {t_ray:.1f} s (actor start and model loading "
                 "included).")
    text = (f"{stamp()} `nice python bench/video_chunks.py --frames {a.frames} --size {a.size} --chunk {a.chunk}"
            f"{' --ray' if a.ray else ''}`: {name}, {len(pts)} frames at {src[0].shape[1]}x{src[0].shape[0]}, a "
            f"keyframe every {a.chunk} frames, so {len(chunks0)} chunks and {len(joins)} joins; net (starry_night), "
            f"frames as the stylizer returns them.\n\n{body}\n\nWarping error as in bench/temporal.py (mean |warped "
            "previous - current| over the reliable pixels, RGB in [0, 1]); joins / within near the unchunked run's "
            "ratio means the join shows no jump." + speed)
    print(text)
    if not a.no_write:
        write_section("Chunked video (bench/video_chunks.py)", text)


if __name__ == "__main__":
    main()
