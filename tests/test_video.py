"""Video files: round trip (frame count, rate, duration, sound), order, resume after a kill, natural
order for folders of frames, bad input. Clips are generated here (conftest.make_clip).

Unit tests use small deterministic tensor functions as stylizers; one end-to-end CLI test runs the
real AdaIN at 64 px, and the slow ones (-m slow) kill a real `nst video` process.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from PIL import Image

from nst.cli import main
from nst.errors import InputError, OutputError
from nst.video import (
    OrderedSink,
    VideoOptions,
    VideoWarning,
    VideoWriter,
    fingerprint,
    list_frames,
    natural_key,
    probe,
    read_frames,
    stylize_video,
    work_dir_for,
)

from .conftest import CLIP_FPS, CLIP_FRAMES, CLIP_H, CLIP_W, bar_x, clip_frame, find_bar, kill_after_frames, make_clip
from .toys import Blend

FRAME = 1.0 / CLIP_FPS


def mirror(x: torch.Tensor) -> torch.Tensor:
    """A deterministic 'stylizer' that keeps the colour marker: left-right mirror, slightly darker."""
    return x.flip(-1) * 0.9


def decode(path: Path) -> dict:
    """Frames (HxWx3 uint8), their times (s), the video's rate/duration and the sound's duration."""
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        rate = v.average_rate
        frames, times = [], []
        for f in c.decode(v):
            frames.append(f.to_ndarray(format="rgb24"))
            times.append(float(f.pts * f.time_base))
    info: dict = {"frames": frames, "times": times, "fps": rate, "audio": None}
    with av.open(str(path)) as c:
        info["video_duration"] = float(c.streams.video[0].duration * c.streams.video[0].time_base) \
            if c.streams.video[0].duration else times[-1] + FRAME
        if c.streams.audio:
            a = c.streams.audio[0]
            info["audio_codec"] = a.codec_context.name
            info["audio"] = float(a.duration * a.time_base) if a.duration else None
            samples = sum(f.samples for f in c.decode(a))
            info["audio_samples_s"] = samples / a.codec_context.sample_rate
    return info


def chroma(frame: np.ndarray) -> float:
    """Mean I (orange-blue axis of YIQ) of a frame: the clip's per-frame marker."""
    f = frame.astype(np.float64) / 255.0
    return float((0.596 * f[..., 0] - 0.274 * f[..., 1] - 0.322 * f[..., 2]).mean())


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---------------------------------------------------------------- writer


@pytest.mark.parametrize("ext", [".mp4", ".mkv", ".webm", ".gif"])
def test_writer_formats_and_sizes(tmp_path: Path, video_clip: Path, ext: str) -> None:
    out = tmp_path / f"w{ext}"
    w_, h_ = 61, 45  # odd: H.264 drops the last column/row, the others keep them
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with VideoWriter(out, 12, w_, h_, audio_from=video_clip) as w:
            for i in range(12):
                if i % 2:
                    w.write(np.full((h_, w_, 3), i * 20, np.uint8))
                else:
                    w.write(torch.full((1, 3, h_, w_), i * 20 / 255.0))
    assert out.exists() and not list(tmp_path.glob(".*part*"))
    d = decode(out)
    assert len(d["frames"]) == 12
    even = ext in (".mp4", ".mkv")
    assert d["frames"][0].shape == ((44, 60, 3) if even else (45, 61, 3))
    assert [round(float(f.mean()) / 20) for f in d["frames"]] == list(range(12))  # in order
    # Matroska cannot store the AAC priming packet's negative time, so it may start every stream a
    # few ms later (in sync); the frame spacing is exact.
    assert 0 <= d["times"][0] < 0.03
    assert [t - d["times"][0] for t in d["times"]] == pytest.approx([i / 12 for i in range(12)], abs=0.011)
    if ext == ".gif":
        assert d["audio"] is None and any(issubclass(c.category, VideoWarning) for c in caught)
    else:
        assert d["audio_samples_s"] == pytest.approx(2.0, abs=0.05)  # the whole source track


def test_writer_is_bit_exact_from_run_to_run(tmp_path: Path) -> None:
    """Same frames, same file content (what makes a resumed run equal an uninterrupted one). libx264's
    mbtree broke this on this build; VideoWriter turns it off."""
    frames = [clip_frame(i, 24, 64, 48) for i in range(24)]
    streams = set()
    for k in range(6):
        with VideoWriter(tmp_path / f"{k}.mkv", 24, 64, 48) as w:
            for f in frames:
                w.write(f)
        with av.open(str(tmp_path / f"{k}.mkv")) as c:
            streams.add(hashlib.sha256(b"".join(bytes(p) for p in c.demux(video=0))).hexdigest())
    assert len(streams) == 1


def test_writer_discards_everything_on_error(tmp_path: Path) -> None:
    out = tmp_path / "x.mp4"
    with pytest.raises(RuntimeError):
        with VideoWriter(out, 24, 32, 32) as w:
            w.write(np.zeros((32, 32, 3), np.uint8))
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError):
        VideoWriter(tmp_path / "y.mp4", 24, 32, 32).write(np.zeros((16, 16, 3), np.uint8))
    with pytest.raises(OutputError):
        VideoWriter(tmp_path / "y.avi", 24, 32, 32)


# ---------------------------------------------------------------- pipeline


def test_round_trip_keeps_count_rate_duration_sound_and_order(tmp_path: Path, video_clip: Path) -> None:
    out = tmp_path / "out.mp4"
    events: list = []
    r = stylize_video(video_clip, out, mirror, VideoOptions(size=None, batch=5), progress=events.append)
    src, d = decode(video_clip), decode(out)
    assert r.frames == len(d["frames"]) == CLIP_FRAMES
    assert d["fps"] == src["fps"] == CLIP_FPS
    assert d["times"] == pytest.approx(src["times"], abs=1e-3)  # same timestamps, frame for frame
    assert d["video_duration"] == pytest.approx(src["video_duration"], abs=FRAME)
    assert d["audio"] == pytest.approx(src["audio"], abs=FRAME)
    assert d["audio_samples_s"] == pytest.approx(src["audio_samples_s"], abs=FRAME)
    assert r.audio == "aac (copied)"
    # every frame in its place: the bar of frame i, mirrored by the stylizer
    assert [find_bar(f) for f in d["frames"]] == [CLIP_W - 1 - bar_x(i) for i in range(CLIP_FRAMES)]
    # the stylizer's output, not the input: mirrored, so the red corner is now top-right
    assert d["frames"][0][:8, -8:, 0].mean() > 180 and d["frames"][0][:8, :8, 0].mean() < 180
    assert events[-1].done == CLIP_FRAMES and [e.done for e in events] == sorted(e.done for e in events)
    assert not work_dir_for(out).exists()


def test_batching_never_changes_the_result(tmp_path: Path, video_clip: Path) -> None:
    outs = []
    for b in (1, 7, 48):
        out = tmp_path / f"b{b}"
        stylize_video(video_clip, tmp_path / f"b{b}.mkv", mirror,
                      VideoOptions(size=64, max_frames=20, batch=b, frames_dir=str(out)))
        outs.append(frames_of(out))
    assert len(outs[0]) == 20
    for other in outs[1:]:
        assert all(np.array_equal(a, b) for a, b in zip(outs[0], other))


def test_ordered_sink_writes_by_index() -> None:
    got: list[int] = []
    sink = OrderedSink(lambda i, pts, f: got.append(i))
    for i in (2, 0, 3, 1, 5, 4):
        sink.put(i, i, np.zeros(1))
    sink.close()
    assert got == [0, 1, 2, 3, 4, 5]
    with pytest.raises(ValueError):
        sink.put(3, 3, np.zeros(1))


def test_trim_start_duration_and_max_frames(tmp_path: Path, video_clip: Path) -> None:
    out = tmp_path / "trim.mp4"
    r = stylize_video(video_clip, out, mirror, VideoOptions(size=None, start=0.5, duration=1.0))
    d = decode(out)
    assert r.frames == len(d["frames"]) == 24
    assert d["times"][0] == 0.0 and d["video_duration"] == pytest.approx(1.0, abs=FRAME)
    assert d["audio_samples_s"] == pytest.approx(1.0, abs=FRAME)  # sound cut to the same range
    # first kept frame is source frame 12 (0.5 s)
    assert [find_bar(f) for f in d["frames"]] == [CLIP_W - 1 - bar_x(i) for i in range(12, 36)]
    r = stylize_video(video_clip, tmp_path / "max.mp4", mirror, VideoOptions(size=None, max_frames=10))
    d = decode(tmp_path / "max.mp4")
    assert len(d["frames"]) == 10 and d["audio_samples_s"] == pytest.approx(10 * FRAME, abs=FRAME)


def test_rotation_metadata_is_applied(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "phone.mp4", n=6, audio=False, rotation=-90)  # portrait phone clip
    info = probe(src)
    assert (info.width, info.height, info.rotation) == (CLIP_H, CLIP_W, 270)
    out = tmp_path / "out.mp4"
    stylize_video(src, out, lambda x: x, VideoOptions(size=None))
    f = decode(out)["frames"][0]
    assert f.shape == (CLIP_W, CLIP_H, 3)  # upright: 120 wide, 160 high
    assert f[:8, -8:, 0].mean() > 200 and f[-8:, -8:, 0].mean() < 200  # top-left corner went top-right


def test_no_audio_webm_and_gif(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "silent.mp4", n=12, audio=False)
    for ext in (".webm", ".gif", ".mkv"):
        out = tmp_path / f"o{ext}"
        r = stylize_video(src, out, mirror, VideoOptions(size=80, batch=4))
        d = decode(out)
        assert len(d["frames"]) == 12 and d["audio"] is None and r.audio is None
        assert d["frames"][0].shape == (60, 80, 3)
        assert d["times"][-1] == pytest.approx(11 * FRAME, abs=0.011)


def test_sound_is_reencoded_where_it_cannot_be_copied(tmp_path: Path, video_clip: Path) -> None:
    out = tmp_path / "o.webm"  # AAC is not allowed in WebM: Opus
    r = stylize_video(video_clip, out, mirror, VideoOptions(size=64))
    d = decode(out)
    assert r.audio is not None and "opus" in r.audio and d["audio_codec"] == "opus"
    assert d["audio_samples_s"] == pytest.approx(2.0, abs=FRAME)


def test_frames_dir_is_zero_padded(tmp_path: Path, video_clip: Path) -> None:
    fd = tmp_path / "frames"
    stylize_video(video_clip, tmp_path / "o.mp4", mirror, VideoOptions(size=32, max_frames=12, frames_dir=str(fd)))
    names = sorted(p.name for p in fd.iterdir())
    assert names == [f"frame_{i:06d}.png" for i in range(1, 13)]


# ---------------------------------------------------------------- resume


class Interrupt:
    """Stylizer that raises KeyboardInterrupt on its n-th call (a Ctrl-C mid-run)."""

    def __init__(self, fn, n: int) -> None:  # type: ignore[no-untyped-def]
        self.fn, self.n, self.calls = fn, n, 0
        self.name = getattr(fn, "name", type(fn).__name__)  # the same stylizer, as far as resume can tell

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.calls == self.n:
            raise KeyboardInterrupt
        return self.fn(x)


def frames_of(folder: Path) -> list[np.ndarray]:
    return [np.asarray(Image.open(p)) for p in list_frames(folder)]


def _mirror(fail_at: int | None = None):  # type: ignore[no-untyped-def]
    return mirror if fail_at is None else Interrupt(mirror, fail_at)


def _blend(fail_at: int | None = None) -> Blend:
    return Blend(fail_at=fail_at)


@pytest.mark.parametrize("make", [_mirror, _blend], ids=["stateless", "sequential"])
def test_interrupted_run_resumes_with_identical_output(tmp_path: Path, video_clip: Path, make) -> None:  # type: ignore[no-untyped-def]
    ref, out = tmp_path / "ref.mkv", tmp_path / "out.mkv"
    stylize_video(video_clip, ref, make(), VideoOptions(size=None, batch=4, frames_dir=str(tmp_path / "rf")),
                  settings={"s": 1})
    opts = VideoOptions(size=None, batch=4, frames_dir=str(tmp_path / "of"))
    # the 13th frame: call 4 of 4-frame batches, or call 13 of a sequential stylizer's single frames
    with pytest.raises(KeyboardInterrupt):
        stylize_video(video_clip, out, make(fail_at=4 if make is _mirror else 13), opts, settings={"s": 1})
    assert not out.exists()  # nothing half-written at OUT
    assert len(list((work_dir_for(out) / "frames").glob("*.png"))) == 12
    r = stylize_video(video_clip, out, make(), opts, settings={"s": 1})
    assert r.resumed_from == 12 and r.stylized == CLIP_FRAMES - 12
    a, b = frames_of(tmp_path / "rf"), frames_of(tmp_path / "of")  # the stylised frames themselves
    assert len(a) == len(b) == CLIP_FRAMES
    assert [i for i, (x, y) in enumerate(zip(a, b)) if not np.array_equal(x, y)] == []
    a, b = decode(ref)["frames"], decode(out)["frames"]  # and the videos
    assert len(a) == len(b) == CLIP_FRAMES
    assert [i for i, (x, y) in enumerate(zip(a, b)) if not np.array_equal(x, y)] == []
    assert not work_dir_for(out).exists()


def test_sequential_stylizer_gets_single_frames_and_a_fresh_start(tmp_path: Path, video_clip: Path) -> None:
    s = Blend()
    s.reset(torch.ones(1, 3, 8, 8))  # left over from some earlier use: a new video must not see it
    fd = tmp_path / "f"
    stylize_video(video_clip, tmp_path / "o.mkv", s, VideoOptions(size=64, max_frames=6, batch=4, frames_dir=str(fd)))
    assert s.batches == [1] * 6
    first = np.asarray(Image.open(list_frames(fd)[0])).astype(int)
    src = next(read_frames(probe(video_clip), max_frames=1)).rgb(64)[:, ::-1].astype(int)
    assert np.abs(first - src).max() <= 1  # frame 0 is the mirrored frame alone, not blended with the leftover


def test_fingerprint_follows_the_stylizer_config(tmp_path: Path, video_clip: Path) -> None:
    info, opts = probe(video_clip), VideoOptions(size=32)
    assert fingerprint(info, opts, Blend(k=0.5)) == fingerprint(info, opts, Blend(k=0.5))
    assert fingerprint(info, opts, Blend(k=0.5)) != fingerprint(info, opts, Blend(k=0.25))
    assert fingerprint(info, opts, Blend())["config"] == Blend().config()
    assert fingerprint(info, opts, mirror)["config"] is None  # a plain function: its name only
    out = tmp_path / "out.mp4"
    with pytest.raises(KeyboardInterrupt):
        stylize_video(video_clip, out, Blend(k=0.5, fail_at=5), VideoOptions(size=32))
    with pytest.warns(VideoWarning, match="starting over"):
        with pytest.raises(KeyboardInterrupt):
            stylize_video(video_clip, out, Blend(k=0.25, fail_at=5), VideoOptions(size=32))
    r = stylize_video(video_clip, out, Blend(k=0.25), VideoOptions(size=32))
    assert r.resumed_from == 4 and r.stylized == CLIP_FRAMES - 4


def test_changed_settings_start_over(tmp_path: Path, video_clip: Path) -> None:
    out = tmp_path / "out.mp4"
    with pytest.raises(KeyboardInterrupt):
        stylize_video(video_clip, out, Interrupt(mirror, 3), VideoOptions(size=32), settings={"style": "a"})
    with pytest.warns(VideoWarning, match="starting over"):
        r = stylize_video(video_clip, out, mirror, VideoOptions(size=32), settings={"style": "b"})
    assert r.resumed_from == 0 and r.stylized == CLIP_FRAMES


_KILL_SCRIPT = textwrap.dedent("""
    import sys
    sys.path.insert(0, sys.argv[3])  # the repository root, for tests.toys
    from nst.video import VideoOptions, stylize_video
    from tests.toys import Blend

    r = stylize_video(sys.argv[1], sys.argv[2], Blend(delay=0.05), VideoOptions(size=None, batch=3))
    print("resumed_from", r.resumed_from)
""")


def test_resume_after_sigkill(tmp_path: Path, video_clip: Path) -> None:
    """A SEQUENTIAL stylizer (each frame depends on the one before), killed mid-run and rerun: the
    resumed run restarts its sequence from the saved frame and the video is the same, frame for frame."""
    script = tmp_path / "run.py"
    script.write_text(_KILL_SCRIPT)
    out = tmp_path / "out.mp4"
    cmd = [sys.executable, str(script), str(video_clip), str(out), str(Path(__file__).resolve().parents[1])]
    frames = work_dir_for(out) / "frames"
    kill_after_frames(cmd, frames)
    assert not out.exists()
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    resumed = int(res.stdout.split()[-1])
    assert 9 <= resumed < CLIP_FRAMES
    ref = tmp_path / "ref.mp4"
    stylize_video(video_clip, ref, Blend(), VideoOptions(size=None, batch=3))
    a, b = decode(ref), decode(out)
    assert len(b["frames"]) == CLIP_FRAMES and all(np.array_equal(x, y) for x, y in zip(a["frames"], b["frames"]))
    assert b["audio_samples_s"] == pytest.approx(a["audio_samples_s"], abs=FRAME)
    assert not work_dir_for(out).exists()


# ---------------------------------------------------------------- frames2video


def test_natural_key() -> None:
    names = ["frame10.png", "frame2.png", "frame1.png", "Frame3.png", "frame100.png", "frame20.png"]
    assert sorted(names, key=natural_key) == ["frame1.png", "frame2.png", "Frame3.png", "frame10.png",
                                              "frame20.png", "frame100.png"]


# ---------------------------------------------------------------- CLI, end to end, real AdaIN


# ---------------------------------------------------------------- bad input


def run_cli(args: list[str], capsys) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    code = main(args)
    err = capsys.readouterr().err
    return code, err


def one_line_error(err: str) -> str:
    lines = [ln for ln in err.strip().splitlines() if ln.startswith("nst: error")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_bad_inputs_give_one_line_errors(tmp_path: Path, video_clip: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 50)
    c = av.open(str(tmp_path / "empty.mkv"), "w")
    s = c.add_stream("libx264", rate=24)
    s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
    c.start_encoding()
    c.close()
    base = ["--style", "starry_night", "--size", "32", "-q"]
    cases = {
        "not a video": [str(text), "-o", str(tmp_path / "a.mp4")],
        "no video frames": [str(tmp_path / "empty.mkv"), "-o", str(tmp_path / "b.mp4")],
        "no such file": [str(tmp_path / "missing.mp4"), "-o", str(tmp_path / "c.mp4")],
        "same as an input": [str(video_clip), "-o", str(video_clip)],
        "does not exist": [str(video_clip), "-o", str(tmp_path / "nodir" / "d.mp4")],
        "unsupported": [str(video_clip), "-o", str(tmp_path / "e.avi")],
    }
    before = sha(video_clip)
    for expect, args in cases.items():
        code, err = run_cli(["video", *args, *base], capsys)
        assert code == 1 and expect in one_line_error(err), (expect, err)
    assert sha(video_clip) == before
    existing = tmp_path / "exists.mp4"
    existing.write_bytes(b"keep me")
    code, err = run_cli(["video", str(video_clip), "-o", str(existing), *base], capsys)
    assert code == 1 and "already exists" in one_line_error(err) and existing.read_bytes() == b"keep me"
    assert not any(p.name.endswith(".nst-work") for p in tmp_path.iterdir())
    code, err = run_cli(["frames2video", str(tmp_path / "nodir"), "-o", str(tmp_path / "f.mp4"), "--fps", "24"],
                        capsys)
    assert code == 1 and "no such folder" in one_line_error(err)


def test_unwritable_output(tmp_path: Path, video_clip: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")  # a file where a directory should be
    code, err = run_cli(["video", str(video_clip), "-o", str(blocker / "o.mp4"), "--style", "udnie", "-q"], capsys)
    assert code == 1 and one_line_error(err)
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        target = ro
        if os.geteuid() == 0:  # root writes into read-only directories; /proc refuses even root
            if not Path("/proc/self").is_dir():
                pytest.skip("running as root without /proc: no unwritable directory to test with")
            target = Path("/proc")
        code, err = run_cli(["video", str(video_clip), "-o", str(target / "o.mp4"), "--style", "udnie", "-q"], capsys)
        assert code == 1 and "not writable" in one_line_error(err), err
    finally:
        ro.chmod(0o700)


def test_corrupt_packets_are_skipped_with_a_warning(tmp_path: Path, video_clip: Path) -> None:
    bad = tmp_path / "bad.mp4"
    data = bytearray(video_clip.read_bytes())
    with av.open(str(video_clip)) as c:
        packets = [(p.pos, p.size) for p in c.demux(c.streams.video[0]) if p.size]
    for pos, size in packets[20:22]:  # garble two frames mid-stream
        data[pos:pos + size] = b"\x5a" * size
    bad.write_bytes(bytes(data))
    out = tmp_path / "out.mp4"
    with pytest.warns(VideoWarning):
        r = stylize_video(bad, out, mirror, VideoOptions(size=None))
    d, src = decode(out), decode(video_clip)
    assert 40 <= r.frames < CLIP_FRAMES
    assert d["video_duration"] == pytest.approx(src["video_duration"], abs=FRAME)  # timing kept
    assert set(np.round(d["times"], 3)) <= set(np.round(src["times"], 3))  # every frame at its own time
    assert d["audio_samples_s"] == pytest.approx(src["audio_samples_s"], abs=FRAME)


def test_probe_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        probe(tmp_path / "nope.mp4")
    (tmp_path / "zero.mp4").write_bytes(b"")
    with pytest.raises(InputError, match="empty file"):
        probe(tmp_path / "zero.mp4")


# ---------------------------------------------------------------- optimize warm start


def test_optimize_warm_start_uses_previous_frame_and_fewer_iterations() -> None:
    from nst.methods.base import StyleInput
    from nst.methods.optimize import OptimizeStylizer
    from nst.optimize import OptimizeOptions

    style = [StyleInput("s", torch.rand(1, 3, 48, 48, generator=torch.Generator().manual_seed(0)))]
    frames = torch.stack([torch.from_numpy(clip_frame(i, 4, 48, 36)).permute(2, 0, 1).float() / 255
                          for i in range(2)])
    steps: list[int] = []
    s = OptimizeStylizer(style, opts=OptimizeOptions(iterations=8, coarse_iterations=0, multiscale=False,
                                                     warm_start=True), progress=lambda ev: steps.append(ev.steps))
    out = s(frames)
    assert out.shape == frames.shape
    assert sorted(set(steps)) == [2, 8]  # 8 iterations cold, then a quarter warm
    state = s.state()
    assert state is not None and torch.equal(state, out[1:])
    assert torch.equal(state * 255, (state * 255).round())  # 8-bit, as a saved frame


@pytest.mark.slow
def test_cli_resume_after_sigkill_real_adain(tmp_path: Path, video_clip: Path, style_path: Path) -> None:
    """`nst video` with the real AdaIN, killed (SIGKILL) mid-run, rerun: same frames as an uninterrupted run."""
    def cmd(out: Path) -> list[str]:
        return [sys.executable, "-c", "from nst.cli import entry; entry()", "video", str(video_clip), "-o", str(out),
                "--style", str(style_path), "--method", "adain", "--size", "160", "--batch", "2", "-q"]

    out = tmp_path / "killed.mp4"
    frames = work_dir_for(out) / "frames"
    proc = subprocess.Popen(cmd(out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if frames.is_dir() and len(list(frames.glob("*.png"))) >= 8:
            break
        time.sleep(0.02)
    assert proc.poll() is None, "finished before it could be killed"
    proc.kill()
    proc.wait()
    assert not out.exists() and work_dir_for(out).exists()
    res = subprocess.run(cmd(out), capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    assert "reused from an interrupted run" in res.stdout
    ref = tmp_path / "ref.mp4"
    assert subprocess.run(cmd(ref), capture_output=True, timeout=600).returncode == 0
    a, b = decode(ref), decode(out)
    assert len(a["frames"]) == len(b["frames"]) == CLIP_FRAMES
    assert all(np.array_equal(x, y) for x, y in zip(a["frames"], b["frames"]))
    assert not work_dir_for(out).exists()
