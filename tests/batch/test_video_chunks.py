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
                            "--chunk-frames", "8", "--frames-dir", str(tmp_path / "frames"), "--ray")
    assert code == 0, err
    assert f"{N} frames in 5 chunks" in stdout and "overlap 16" in err and "frames saved in" in stdout
    assert sorted(p.name for p in (tmp_path / "frames").iterdir()) == [f"frame_{i:06d}.png" for i in range(1, N + 1)]
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


# ---------------------------------------------------------------- trimming and frames_dir, as stylize_video does

def audio_seconds(path: Path) -> float:
    with av.open(str(path)) as c:
        return sum(f.samples for f in c.decode(audio=0)) / c.streams.audio[0].rate


@pytest.mark.parametrize("window", [dict(start=0.3, duration=0.75), dict(start=0.3, max_frames=13),
                                    dict(duration=1.0, max_frames=30)])
def test_the_chosen_frames_are_those_read_frames_reads(clip: Path, window: dict) -> None:
    from nst.video import read_frames
    from nst.video.source import select_frames

    info = probe(clip)
    pts, _ = frame_times(info)
    assert [pts[i] for i in select_frames(info, pts, **window)] == [f.pts for f in read_frames(info, **window)]


def test_trimmed_chunks_start_at_the_first_chosen_frame_and_warm_up_inside_the_range(clip: Path) -> None:
    pts, keys = frame_times(probe(clip))
    chunks = plan_chunks(pts, keys, chunk_frames=6, overlap=4, frames=range(5, 30))
    assert [(c.start, c.end) for c in chunks] == [(5, 16), (16, 24), (24, 30)]  # then keyframes 16, 24
    assert chunks[0].warm == () and chunks[1].warm == tuple(pts[12:16])
    assert [p for c in chunks for p in c.pts] == pts[5:30]
    assert plan_chunks(pts, keys, 8, 16, frames=range(9, 12))[0].warm == ()
    assert plan_chunks(pts, keys, 8, 3, frames=range(3, 3)) == []


@pytest.mark.parametrize("window", [dict(start=0.3, duration=0.75), dict(max_frames=13), dict(start=0.5, max_frames=9)])
def test_trimmed_chunked_run_equals_the_trimmed_unchunked_run(clip: Path, tmp_path: Path, window: dict) -> None:
    """--start / --duration / --max-frames: the same frames, order, timing, duration and sound as stylize_video."""
    stylizer = StylizerSpec("net", ("starry_night",), size=64).build()
    opts = VideoOptions(size=64, **window)
    whole = stylize_video(clip, tmp_path / "whole.mp4", stylizer, opts)
    seen: list[int] = []

    def here(chunks: list[Any]) -> Any:
        seen.extend(p for c in chunks for p in c.warm + c.pts)
        return run_here(stylizer, clip, 64)(chunks)

    r, chunks = stylize_video_chunked(clip, tmp_path / "chunked.mp4", here, opts, chunk_frames=4, overlap=3)
    assert r.frames == whole.frames == chunks[-1].end - chunks[0].start and len(chunks) > 1
    assert abs(r.duration - whole.duration) < 1e-3
    same_timing(tmp_path / "whole.mp4", tmp_path / "chunked.mp4")
    assert abs(audio_seconds(tmp_path / "chunked.mp4") - audio_seconds(tmp_path / "whole.mp4")) < 0.01
    assert audio_seconds(tmp_path / "chunked.mp4") < 0.9 * N / 24  # the sound is cut to the range too
    pts, _ = frame_times(probe(clip))
    assert min(seen) == pts[chunks[0].start]  # no warm-up frame from before the chosen range
    in_order(decoded(tmp_path / "chunked.mp4")[1], decoded(tmp_path / "whole.mp4")[1], 0.5)


def test_frames_dir_gets_the_same_files_as_stylize_video(clip: Path, tmp_path: Path) -> None:
    from PIL import Image

    stylizer = StylizerSpec("net", ("starry_night",), size=64).build()
    a, b = tmp_path / "a", tmp_path / "b"
    stylize_video(clip, tmp_path / "whole.mp4", stylizer, VideoOptions(size=64, start=0.25, max_frames=11,
                                                                        frames_dir=str(a)))
    r, _ = stylize_video_chunked(clip, tmp_path / "chunked.mp4", run_here(stylizer, clip, 64),
                                 VideoOptions(size=64, start=0.25, max_frames=11, frames_dir=str(b)), chunk_frames=4)
    names = sorted(p.name for p in a.iterdir())
    assert names == [f"frame_{i:06d}.png" for i in range(1, 12)] == sorted(p.name for p in b.iterdir())
    assert r.frames_dir == b and sorted(p.name for p in tmp_path.iterdir()) == ["a", "b", "chunked.mp4", "whole.mp4"]
    for n in names:
        x, y = (np.asarray(Image.open(d / n), dtype=np.int16) for d in (a, b))
        assert float(np.abs(x - y).mean()) < 0.5


def _bad_cases(tmp_path: Path) -> list[tuple[dict, type]]:
    from nst.errors import InputError, OutputError

    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "frame_000001.png").write_bytes(b"x")
    (tmp_path / "file").write_bytes(b"x")
    return [(dict(start=5.0), InputError), (dict(start=1.65), InputError),  # past the end; after the last frame
            (dict(frames_dir=str(tmp_path / "full")), OutputError),  # holds frame_*.png already
            (dict(frames_dir=str(tmp_path / "file")), OutputError),
            (dict(frames_dir=str(tmp_path / "no" / "x")), OutputError)]


def test_bad_trims_and_frames_dirs_give_the_errors_of_stylize_video(clip: Path, tmp_path: Path) -> None:
    stylizer = StylizerSpec("net", ("starry_night",), size=64).build()
    for extra, error in _bad_cases(tmp_path):
        before = sorted(tmp_path.iterdir())
        opts = VideoOptions(size=64, **extra)
        with pytest.raises(error) as unchunked:
            stylize_video(clip, tmp_path / "o.mp4", stylizer, opts)
        with pytest.raises(error) as chunked:
            stylize_video_chunked(clip, tmp_path / "o.mp4", run_here(stylizer, clip, 64), opts, chunk_frames=8)
        assert str(chunked.value) == str(unchunked.value) and "\n" not in str(chunked.value), extra
        assert sorted(tmp_path.iterdir()) == before, extra  # nothing left behind
    assert "past the end" in str(_run_error(clip, tmp_path, start=5.0))
    assert "no video frames in the chosen time range" in str(_run_error(clip, tmp_path, start=1.65))


def _run_error(clip: Path, tmp_path: Path, **opts: Any) -> BaseException:
    with pytest.raises(Exception) as e:
        stylize_video_chunked(clip, tmp_path / "o.mp4", lambda chunks: [], VideoOptions(size=64, **opts))
    return e.value


def test_cli_ray_refuses_bad_trims_and_frames_dirs_in_one_line(clip: Path, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    """`nst video --ray` with a bad --start or --frames-dir: the same one-line error as without --ray, before any
    Ray starts; and no traceback."""
    pytest.importorskip("ray")
    flags = {"start": "--start", "frames_dir": "--frames-dir"}
    for extra, _ in _bad_cases(tmp_path):
        (key, value), = extra.items()
        argv = ["video", str(clip), "-o", str(tmp_path / "o.mp4"), "--style", "starry_night", "--method", "net",
                "--size", "64", "-q", flags[key], str(value)]
        code, _, plain = run(capsys, *argv)
        code_ray, _, err = run(capsys, *argv, "--ray")
        lines = [ln for ln in err.splitlines() if ln.startswith("nst: error")]
        assert code == code_ray != 0 and len(lines) == 1 and "Traceback" not in err, (extra, err)
        assert lines == [ln for ln in plain.splitlines() if ln.startswith("nst: error")], (extra, err, plain)
