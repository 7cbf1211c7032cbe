"""Long videos in chunks (nst.video.chunks): cut at keyframes, joined with the unchunked run's frame count,
order, timing and sound; on Ray (`nst video --ray`), also with a worker killed mid-run."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from nst.batch import StylizerSpec
from nst.video import VideoOptions, probe, stylize_video
from nst.video.chunks import frame_times, plan_chunks, run_here, stylize_video_chunked

from ..conftest import make_clip
from .test_batch import run

N, GOP = 40, 8


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("chunks") / "clip.mp4", n=N, w=96, h=64, gop=GOP)


def decoded(path: Path) -> tuple[list[int], list[np.ndarray]]:
    with av.open(str(path)) as c:
        frames = list(c.decode(video=0))
        return [int(f.pts) for f in frames], [f.to_ndarray(format="rgb24").astype(np.int16) for f in frames]


def same_timing(a: Path, b: Path) -> None:
    ia, ib = probe(a), probe(b)
    assert ia.frames == ib.frames and ia.fps == ib.fps and ia.audio == ib.audio
    assert abs((ia.duration or 0) - (ib.duration or 0)) < 1e-3
    pa, fa = decoded(a)
    pb, fb = decoded(b)
    assert pa == pb and len(fa) == len(fb)


def in_order(chunked: list[np.ndarray], whole: list[np.ndarray], tol: float) -> None:
    """Every chunked frame is close to the same frame of the whole run, and closer to it than to its neighbours."""
    for i, f in enumerate(chunked):
        d = [float(np.abs(f - g).mean()) for g in whole]
        assert d[i] < tol, (i, d[i])
        assert d[i] == min(d[max(0, i - 2):i + 3]), (i, d[max(0, i - 2):i + 3])


def test_chunks_start_at_keyframes_and_cover_every_frame(clip: Path) -> None:
    pts, keys = frame_times(probe(clip))
    assert len(pts) == N and keys == list(range(0, N, GOP))
    chunks = plan_chunks(pts, keys, chunk_frames=10, overlap=3)
    assert [(c.start, c.end) for c in chunks] == [(0, 16), (16, 32), (32, 40)]
    assert [p for c in chunks for p in c.pts] == pts
    assert chunks[0].warm == () and chunks[1].warm == tuple(pts[13:16])
    assert [(c.start, c.end) for c in plan_chunks(pts, keys, chunk_frames=1000)] == [(0, N)]
    assert plan_chunks(pts, [], 8)[0].end == N  # no keyframe but the first: one chunk


def test_chunked_per_frame_equals_the_unchunked_run(clip: Path, tmp_path: Path) -> None:
    stylizer = StylizerSpec("net", ("starry_night",), size=64).build()
    opts = VideoOptions(size=64)
    whole = stylize_video(clip, tmp_path / "whole.mp4", stylizer, opts)
    r, chunks = stylize_video_chunked(clip, tmp_path / "chunked.mp4", run_here(stylizer, clip, 64), opts,
                                      chunk_frames=8, overlap=0)
    assert len(chunks) == N // GOP and r.frames == whole.frames == N
    same_timing(tmp_path / "whole.mp4", tmp_path / "chunked.mp4")
    _, a = decoded(tmp_path / "whole.mp4")
    _, b = decoded(tmp_path / "chunked.mp4")
    assert max(float(np.abs(x - y).mean()) for x, y in zip(a, b)) < 0.5  # the same frames into the same encoder


def test_chunks_arriving_out_of_order_are_joined_in_order(clip: Path, tmp_path: Path) -> None:
    stylizer = StylizerSpec("net", ("starry_night",), size=64).build()
    here = run_here(stylizer, clip, 64)

    def shuffled(chunks: list[Any]) -> Any:
        results = list(here(chunks))
        return [results[2], results[0], results[0], results[4], results[3], results[1]]  # and one twice

    stylize_video(clip, tmp_path / "whole.mp4", stylizer, VideoOptions(size=64))
    r, _ = stylize_video_chunked(clip, tmp_path / "chunked.mp4", shuffled, VideoOptions(size=64), chunk_frames=8,
                                 overlap=0)
    assert r.frames == N
    same_timing(tmp_path / "whole.mp4", tmp_path / "chunked.mp4")
    in_order(decoded(tmp_path / "chunked.mp4")[1], decoded(tmp_path / "whole.mp4")[1], 0.5)


def test_a_chunk_without_a_result_fails_and_leaves_no_output(clip: Path, tmp_path: Path) -> None:
    from nst.errors import InputError

    stylizer = StylizerSpec("net", ("starry_night",), size=64).build()
    here = run_here(stylizer, clip, 64)
    with pytest.raises(InputError, match="got no result"):
        stylize_video_chunked(clip, tmp_path / "x.mp4", lambda chunks: list(here(chunks))[:-1], VideoOptions(size=64),
                              chunk_frames=8)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.usefixtures("time_limit")
def test_on_ray_with_temporal_consistency_and_a_killed_worker(local_ray: Any, clip: Path, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    """`nst video --ray`: temporal consistency on (chunks overlap by 16 frames); one actor is SIGKILLed after it
    delivers its first chunk, while it holds the next: that chunk is redone and the video is whole."""
    from nst.batch.ray_backend import run_video_chunks
    from nst.methods import make_stylizer

    size = ["--style", "starry_night", "--method", "net", "--size", "64"]
    code, stdout, err = run(capsys, "video", str(clip), "-o", str(tmp_path / "ray.mp4"), *size, "-q",
                            "--chunk-frames", "8", "--ray")
    assert code == 0, err
    assert f"{N} frames in 5 chunks" in stdout and "overlap 16" in err
    whole = tmp_path / "whole.mp4"
    stylize_video(clip, whole, make_stylizer("net", ["starry_night"], temporal=True), VideoOptions(size=64))
    same_timing(whole, tmp_path / "ray.mp4")
    in_order(decoded(tmp_path / "ray.mp4")[1], decoded(whole)[1], 12.0)

    spec = StylizerSpec("net", ("starry_night",), size=64, temporal={}, threads=1)
    killed: list[int] = []

    def on_chunk(index: int, where: str) -> None:
        if not killed:
            pid = int(where.rsplit(":", 1)[1])
            assert pid != os.getpid()
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    def runner(chunks: Any) -> Any:
        return run_video_chunks(str(clip), chunks, spec, 2, on_chunk=on_chunk, in_flight=2)

    r, chunks = stylize_video_chunked(clip, tmp_path / "killed.mp4", runner, VideoOptions(size=64), chunk_frames=8)
    assert killed and r.frames == N and len(chunks) == 5
    same_timing(whole, tmp_path / "killed.mp4")
    in_order(decoded(tmp_path / "killed.mp4")[1], decoded(tmp_path / "ray.mp4")[1], 3.0)
