"""Temporal consistency (issue 14): flow checks, the warping error, scene cuts, resume, --no-temporal, camera."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from nst import flow as F
from nst.bank import StylizerBank
from nst.camera import ArraySource, CameraOptions, run_camera
from nst.cli import main
from nst.errors import OptionError
from nst.io.frames import arrays_to_tensor, tensor_to_arrays
from nst.io.image import load_image
from nst.methods import SEQUENTIAL, make_stylizer
from nst.methods.temporal import TemporalOptions, TemporalStylizer
from nst.registry import demo_content
from nst.video import VideoOptions, list_frames, probe, read_frames, stylize_video, work_dir_for

from .conftest import CLIP_FRAMES, kill_after_frames
from .toys import GridTexture, Tint


def photo(h: int, w: int) -> np.ndarray:
    # a crop of the photo at a larger size: detail at every scale
    x = load_image(demo_content(), size=max(h, w) + 320)[0].permute(1, 2, 0).numpy()
    return (x * 255 + 0.5).astype(np.uint8)


def pan(n: int, h: int = 96, w: int = 128, step: int = 2) -> tuple[list[np.ndarray], list[tuple]]:
    """A window moving `step` px right per frame over the bundled photo, and its exact flow."""
    big = photo(h, w + step * n)
    frames = [np.ascontiguousarray(big[:h, step * t:step * t + w]) for t in range(n)]
    flow = np.zeros((h, w, 2), np.float32)
    flow[..., 0] = step
    mask = np.ones((h, w), bool)
    mask[:, -step:] = False
    return frames, [(flow, mask)] * (n - 1)


def run(stylizer, frames: list[np.ndarray]) -> list[np.ndarray]:  # type: ignore[no-untyped-def]
    return [tensor_to_arrays(stylizer(arrays_to_tensor([f])))[0].astype(np.float32) / 255 for f in frames]


def test_warping_error_of_a_pan_halves_with_temporal_mode_real_network() -> None:
    frames, flows = pan(10)
    per = run(make_stylizer("net", ["the_scream"], engine="torch", precision="fp32"), frames)
    tem = run(make_stylizer("net", ["the_scream"], engine="torch", precision="fp32", temporal=True), frames)
    floor = F.clip_warping_error([f.astype(np.float32) / 255 for f in frames], flows)
    a, b = F.clip_warping_error(per, flows), F.clip_warping_error(tem, flows)
    assert floor == 0.0 and a > 0.01  # the input is steady; per-frame stylisation flickers
    assert b <= 0.5 * a, (a, b)


def test_occlusion_check_on_a_moving_square() -> None:
    """A square moving 4 px right: the background it uncovers has no reliable flow, the rest has."""
    h = w = 64
    bw, fw = np.zeros((h, w, 2), np.float32), np.zeros((h, w, 2), np.float32)
    fw[20:40, 20:40, 0] = 4  # t-1 -> t: the square at x 20..39 moves to 24..43
    bw[20:40, 24:44, 0] = -4  # t -> t-1
    ok = F.reliable(bw, fw)
    uncovered = np.zeros((h, w), bool)
    uncovered[20:40, 20:24] = True
    assert not ok[uncovered].any()
    assert ok[22:38, 26:42].all()  # the square itself (away from its motion boundary)
    assert ok[:16].all() and ok[46:].all()  # the still background
    # and with DIS on real pixels: the uncovered strip is mostly unreliable, the far background reliable
    rng = np.random.default_rng(0)
    bg = (rng.random((h, w)) * 255).astype(np.uint8)
    bg = np.asarray(Image.fromarray(bg).resize((w, h), Image.BILINEAR))
    sq = (rng.random((20, 20)) * 255).astype(np.uint8)
    a, b = bg.copy(), bg.copy()
    a[20:40, 20:40], b[20:40, 24:44] = sq, sq
    est = F.FlowEstimator("medium")
    dbw, dfw = est.pair(a, b)
    dok = F.reliable(dbw, dfw)
    assert dok[uncovered].mean() < 0.5 and dok[:10].mean() > 0.9


def test_old_paint_the_new_frame_has_nowhere_near_does_not_persist(monkeypatch: pytest.MonkeyPatch) -> None:
    """The ghost seen on the fast real clip: a dark wing's halo warped over a plain sky, where any flow passes
    every check. With full confidence, the warped result is still clamped to the new result's local range:
    paint from far outside it is dropped, while a small difference (flicker) is blended as before."""
    h, w = 48, 64
    frame = np.full((h, w, 3), 200, np.uint8)
    frame[:, 32:] = (np.random.default_rng(0).random((h, 32, 1)) * 60 + 170).astype(np.uint8)  # textured right
    frames = [frame, frame]
    inner = Tint("red", strength=0.25)
    new = tensor_to_arrays(inner(arrays_to_tensor([frames[1]])))[0]
    history = new.copy()
    history[10:30, 6:26] = 20  # the ghost: dark paint where the new frame is plain
    history[10:30, 40:60] = new[11:31, 41:61]  # the texture one pixel off (flicker-sized): kept
    t = TemporalStylizer(inner, TemporalOptions(temporal_strength=1.0))
    t(arrays_to_tensor([frames[0]]))
    monkeypatch.setattr(t, "_guide", lambda *a: (history, np.ones((h, w), np.float32)))
    out = tensor_to_arrays(t(arrays_to_tensor([frames[1]])))[0].astype(int)
    assert np.abs(out[10:30, 6:26] - new[10:30, 6:26]).max() <= 1  # no ghost
    assert np.abs(out[10:30, 40:60] - history[10:30, 40:60]).max() <= 1  # follows the history


def test_a_scene_cut_resets_the_sequence() -> None:
    inner = Tint("red")
    t = TemporalStylizer(inner, TemporalOptions())
    frames, _ = pan(3)
    other = np.ascontiguousarray(255 - frames[0][::-1])  # a different picture
    outs = [t(arrays_to_tensor([f])) for f in frames + [other]]
    alone = [inner(arrays_to_tensor([f])) for f in frames + [other]]
    assert t.memory.cuts == 1
    assert not torch.equal(outs[2], alone[2])  # blended before the cut
    assert (outs[3] - alone[3]).abs().max() <= 0.5 / 255 + 1e-6  # the cut frame: on its own (8-bit)


def test_state_round_trip_continues_exactly() -> None:
    frames, _ = pan(6)
    a = TemporalStylizer(Tint("blue"), TemporalOptions())
    ref = [a(arrays_to_tensor([f])) for f in frames]
    b = TemporalStylizer(Tint("blue"), TemporalOptions())
    for f in frames[:3]:
        b(arrays_to_tensor([f]))
    state = b.state()
    assert state is not None and state.shape == (1, 8, 96, 128)
    c = TemporalStylizer(Tint("blue"), TemporalOptions())
    c.reset(state)
    assert all(torch.equal(c(arrays_to_tensor([f])), r) for f, r in zip(frames[3:], ref[3:]))


def test_the_grid_follows_a_pan_so_a_grid_bound_texture_stays_in_place() -> None:
    # a stylizer whose texture is tied to its 8 px grid flickers on a 3 px pan; temporal mode moves the grid
    # with the scene (strength 0: no blending, only the grid), so the texture moves with it
    frames, flows = pan(8, step=3)
    per = run(GridTexture(), frames)
    locked = run(TemporalStylizer(GridTexture(), TemporalOptions(temporal_strength=0.0)), frames)
    a, b = F.clip_warping_error(per, flows), F.clip_warping_error(locked, flows)
    assert a > 0.05 and b < 0.1 * a, (a, b)
    assert all(x.shape == f.shape[:2] + (3,) for x, f in zip(locked, frames))  # cropped back to the frame


def test_state_keeps_the_grid_phase_and_continues_exactly() -> None:
    frames, _ = pan(7, step=3)
    a = TemporalStylizer(GridTexture(), TemporalOptions())
    ref = [a(arrays_to_tensor([f])) for f in frames]
    assert a.memory.phase != (0, 0)
    b = TemporalStylizer(GridTexture(), TemporalOptions())
    for f in frames[:4]:
        b(arrays_to_tensor([f]))
    c = TemporalStylizer(GridTexture(), TemporalOptions())
    c.reset(b.state())
    assert c.memory.phase == b.memory.phase
    assert all(torch.equal(c(arrays_to_tensor([f])), r) for f, r in zip(frames[4:], ref[4:]))


def test_restore_detail_gives_back_lost_contrast_and_leaves_a_steady_blend_alone() -> None:
    from nst.methods.temporal import restore_detail

    rng = np.random.default_rng(0)
    s = rng.integers(0, 256, (64, 96, 3), dtype=np.uint8)
    assert np.array_equal(restore_detail(s.copy(), s), s)  # nothing lost: unchanged
    flat = ((s.astype(np.float32) - 128) * 0.4 + 128).round().astype(np.uint8)  # a blend that lost contrast
    out = restore_detail(flat, s)
    assert out.dtype == np.uint8 and out.shape == s.shape
    assert out.astype(np.float32).std() > 1.8 * flat.astype(np.float32).std()
    assert abs(float(out.mean()) - float(flat.mean())) < 3  # the colour stays


def test_options_and_capabilities() -> None:
    s = make_stylizer("net", ["the_scream"], temporal={"temporal_strength": 0.5})
    assert isinstance(s, TemporalStylizer) and SEQUENTIAL in s.capabilities and s.config()["temporal"][
        "temporal_strength"] == 0.5
    assert not isinstance(make_stylizer("net", ["the_scream"], temporal=False), TemporalStylizer)
    assert not isinstance(make_stylizer("net", ["the_scream"], temporal={"temporal": False}), TemporalStylizer)
    for bad, field in [("yes", "temporal"), ({"temporal_strength": 2}, "temporal_strength"),
                       ({"temporal_strength": "x"}, "temporal_strength"), ({"flow_preset": "best"}, "flow_preset"),
                       ({"scene_cut": 0}, "scene_cut"), ({"bogus": 1}, None)]:
        with pytest.raises(OptionError) as e:
            make_stylizer("net", ["the_scream"], temporal=bad)
        assert e.value.field == field


def test_no_temporal_gives_exactly_the_per_frame_output(tmp_path: Path, video_clip: Path) -> None:
    fd = tmp_path / "f"
    argv = ["video", str(video_clip), "--style", "the_scream", "--size", "64", "--max-frames", "5", "-q",
            "--engine", "torch"]
    assert main(argv + ["-o", str(tmp_path / "a.mp4"), "--no-temporal", "--frames-dir", str(fd)]) == 0
    s = make_stylizer("net", ["the_scream"], engine="torch")
    want = [tensor_to_arrays(s(arrays_to_tensor([f.rgb(64)])))[0] for f in read_frames(probe(video_clip),
                                                                                        max_frames=5)]
    got = [np.asarray(Image.open(p)) for p in list_frames(fd)]
    assert len(got) == 5 and all(np.array_equal(a, b) for a, b in zip(got, want))
    fd2 = tmp_path / "g"  # temporal (the default) differs, and is steadier
    assert main(argv + ["-o", str(tmp_path / "b.mp4"), "--frames-dir", str(fd2)]) == 0
    assert not all(np.array_equal(np.asarray(Image.open(p)), b) for p, b in zip(list_frames(fd2)[1:], want[1:]))


def test_interrupted_temporal_run_resumes_bit_identically(tmp_path: Path, video_clip: Path) -> None:
    def make() -> TemporalStylizer:
        return TemporalStylizer(make_stylizer("net", ["the_scream"], engine="torch"), TemporalOptions())

    ref = tmp_path / "ref.mkv"
    stylize_video(video_clip, ref, make(), VideoOptions(size=64, max_frames=16, frames_dir=str(tmp_path / "rf")))

    class Stop(TemporalStylizer):
        def _stylize(self, frames: torch.Tensor) -> torch.Tensor:
            if self.memory.frames == 9:
                raise KeyboardInterrupt
            return super()._stylize(frames)

    out = tmp_path / "out.mkv"
    opts = VideoOptions(size=64, max_frames=16, frames_dir=str(tmp_path / "of"))
    with pytest.raises(KeyboardInterrupt):
        stylize_video(video_clip, out, Stop(make_stylizer("net", ["the_scream"], engine="torch")), opts)
    assert len(list((work_dir_for(out) / "frames").glob("*.png"))) == 9
    r = stylize_video(video_clip, out, make(), opts)
    assert r.resumed_from == 9
    a = [np.asarray(Image.open(p)) for p in list_frames(tmp_path / "rf")]
    b = [np.asarray(Image.open(p)) for p in list_frames(tmp_path / "of")]
    assert len(a) == len(b) == 16 and all(np.array_equal(x, y) for x, y in zip(a, b))


_KILL_SCRIPT = textwrap.dedent("""
    import sys
    sys.path.insert(0, sys.argv[3])  # the repository root, for tests.toys
    from nst.methods.temporal import TemporalOptions, TemporalStylizer
    from nst.video import VideoOptions, stylize_video
    from tests.toys import Tint

    s = TemporalStylizer(Tint("green", delay=0.05), TemporalOptions())
    r = stylize_video(sys.argv[1], sys.argv[2], s, VideoOptions(size=None, frames_dir=sys.argv[4]))
    print("resumed_from", r.resumed_from)
""")


def test_resume_after_sigkill_with_temporal_mode(tmp_path: Path, video_clip: Path) -> None:
    """Killed with SIGKILL mid-run and rerun: the work folder's saved state continues the sequence,
    and every frame is bit-identical to an uninterrupted run's."""
    script = tmp_path / "run.py"
    script.write_text(_KILL_SCRIPT)
    root = str(Path(__file__).resolve().parents[1])
    out, frames = tmp_path / "out.mkv", work_dir_for(tmp_path / "out.mkv") / "frames"
    cmd = [sys.executable, str(script), str(video_clip), str(out), root, str(tmp_path / "of")]
    kill_after_frames(cmd, frames)
    assert list(frames.glob("*.state.npy"))  # the state the next frame needs is in the work folder
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert 9 <= int(res.stdout.split()[-1]) < CLIP_FRAMES
    ref = TemporalStylizer(Tint("green"), TemporalOptions())
    stylize_video(video_clip, tmp_path / "ref.mkv", ref, VideoOptions(size=None, frames_dir=str(tmp_path / "rf")))
    a = [np.asarray(Image.open(p)) for p in list_frames(tmp_path / "rf")]
    b = [np.asarray(Image.open(p)) for p in list_frames(tmp_path / "of")]
    assert len(a) == len(b) == CLIP_FRAMES and all(np.array_equal(x, y) for x, y in zip(a, b))


def _frames(n: int) -> list[np.ndarray]:
    return pan(n, 48, 64)[0]


def test_camera_keeps_temporal_mode_only_when_cheap() -> None:
    events: list[str] = []
    cheap = StylizerBank.from_stylizers([TemporalStylizer(Tint("red", delay=0.3), TemporalOptions())])
    stats = run_camera(ArraySource(_frames(12)), cheap, CameraOptions(size=None), on_event=lambda e: events.append(
        e.kind))
    assert stats.temporal_frames == 12 and stats.temporal_cost is not None and stats.temporal_cost <= 0.25
    assert "temporal" not in events
    costly = StylizerBank.from_stylizers([TemporalStylizer(Tint("red"), TemporalOptions())])  # a free stylizer
    details: list[str] = []
    stats = run_camera(ArraySource(_frames(14)), costly, CameraOptions(size=None),
                       on_event=lambda e: details.append(e.detail) if e.kind == "temporal" else None)
    assert stats.temporal_frames == 10 and details and details[0].startswith("off")


def test_camera_key_t_toggles_temporal_mode() -> None:
    details: list[str] = []
    bank = StylizerBank.from_stylizers([TemporalStylizer(Tint("red"), TemporalOptions())])
    stats = run_camera(ArraySource(_frames(8)), bank, CameraOptions(size=None), keys={2: "t", 5: "t"},
                       on_event=lambda e: details.append(e.detail) if e.kind == "temporal" else None)
    assert details == ["off", "on"] and stats.temporal_frames == 2 + 3


@pytest.mark.parametrize("flags,message", [
    (["--temporal-strength", "2"], "--temporal-strength must be between 0 and 1"),
    (["--temporal-strength", "nan"], "--temporal-strength must be a finite number"),
    (["--temporal-strength", "strong"], "--temporal-strength: expected a number"),
    (["--scene-cut", "0"], "--scene-cut must be greater than 0"),
    (["--scene-cut", "1.5"], "--scene-cut must be greater than 0 and at most 1"),
    (["--flow-preset", "best"], "--flow-preset: invalid choice"),
    (["--no-temporal", "--temporal-strength", "0.5"], "--temporal-strength does not apply with --no-temporal"),
])
@pytest.mark.parametrize("command", ["video", "camera"])
def test_bad_temporal_flags_are_usage_errors(command: str, flags: list[str], message: str, tmp_path: Path,
                                             video_clip: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out.mp4"
    argv = (["video", str(video_clip), "--style", "the_scream", "-o", str(out), "-q"] if command == "video" else
            ["camera", "--source", str(video_clip), "--styles", "the_scream", "--no-window", "-q"])
    assert main(argv + flags) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert not out.exists() and not work_dir_for(out).exists()
