"""Live camera loop: keys, latest-frame policy, snapshots, recording, errors, CLI.

The loop runs headless with a generated video file (or arrays) as the source; keys are injected
through the same handler the window uses. Fake stylizers tint each frame with one colour per
style, so the recording shows which style was applied to which frame.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import torch

from nst.camera import (
    ESC,
    Action,
    ArraySource,
    CameraEvent,
    CameraOptions,
    CaptureSource,
    FrameGrabber,
    LoopState,
    OpenCVWindow,
    StylizerBank,
    draw_overlay,
    fit,
    frame_size,
    handle_key,
    open_source,
    parse_key_schedule,
    run_camera,
)
from nst.errors import DisplayError, InputError, OptionError
from nst.io.frames import arrays_to_tensor, tensor_to_arrays

from .toys import Tint

W, H, FPS, N = 64, 48, 25, 24


def tint_bank(names: tuple[str, ...] = ("red", "green", "blue"), delay: float = 0.0) -> StylizerBank:
    return StylizerBank.from_stylizers([Tint(n, delay) for n in names])


def grey_frames(n: int = N, w: int = W, h: int = H) -> list[np.ndarray]:
    """Warm grey frames (R > G > B, to catch channel swaps) with a bar moving along the top half."""
    out = []
    for i in range(n):
        f = np.empty((h, w, 3), np.uint8)
        f[:] = (150, 128, 100)
        x = (i * 3) % (w - 4)
        f[: h // 2, x:x + 4] = 250
        out.append(f)
    return out


def write_clip(path: Path, frames: list[np.ndarray], fps: int = FPS) -> Path:
    """An H.264 mp4 of RGB frames, written with PyAV (the test makes its own media)."""
    import av

    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
        s.options = {"crf": "10", "preset": "ultrafast"}
        for f in frames:
            for pkt in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                c.mux(pkt)
        for pkt in s.encode():
            c.mux(pkt)
    return path


def read_clip(path: Path) -> tuple[list[np.ndarray], float]:
    """All frames (RGB uint8) and the nominal frame rate of a video file."""
    import av

    with av.open(str(path)) as c:
        s = c.streams.video[0]
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(s)]
        return frames, float(s.guessed_rate or s.base_rate or 0)


def frame_times(path: Path) -> list[float]:
    """Presentation times (s) of a video's frames."""
    import av

    with av.open(str(path)) as c:
        return [float(f.time) for f in c.decode(c.streams.video[0])]


def dominant(frame: np.ndarray) -> str:
    """Which tint a frame carries: the channel with the largest mean."""
    return ("red", "green", "blue")[int(frame.reshape(-1, 3).mean(0).argmax())]


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    return write_clip(tmp_path / "clip.mp4", grey_frames())


# ---------------------------------------------------------------------------------------- keys


def test_handle_key_cycles_wraps_and_toggles() -> None:
    s = LoopState(style=0, n_styles=3)
    s, a = handle_key(s, "n")
    assert (s.style, a) == (1, Action.STYLE)
    s, _ = handle_key(s, ord("n"))
    s, _ = handle_key(s, "n")
    assert s.style == 0  # wraps
    s, _ = handle_key(s, "p")
    assert s.style == 2
    s, a = handle_key(s, "c")
    assert s.compare and a is Action.COMPARE
    s, _ = handle_key(s, "c")
    assert not s.compare


def test_handle_key_strength_snapshot_quit() -> None:
    s = LoopState(strength=1.0, strength_step=0.25)
    s, a = handle_key(s, "+")
    assert s.strength == 1.0 and a is Action.STRENGTH  # clamped
    for _ in range(5):
        s, _ = handle_key(s, "-")
    assert s.strength == 0.0
    s, _ = handle_key(s, "=")  # '+' without shift
    assert s.strength == 0.25
    assert handle_key(s, "s") == (s, Action.SNAPSHOT)
    assert handle_key(s, "q")[1] is Action.QUIT
    assert handle_key(s, ESC)[1] is Action.QUIT
    assert handle_key(s, "esc")[1] is Action.QUIT
    assert handle_key(s, 0x10000 | ord("q"))[1] is Action.QUIT  # waitKey's high bits are ignored
    assert handle_key(s, -1) == (s, Action.NONE)
    assert handle_key(s, "x") == (s, Action.NONE)


def test_parse_key_schedule() -> None:
    assert parse_key_schedule("30:n, 10:s,60:esc") == [(10, "s"), (30, "n"), (60, "esc")]
    for bad in ("n", "x:n", "-1:n", "5:", "5:nn"):
        with pytest.raises(OptionError):
            parse_key_schedule(bad)


# -------------------------------------------------------------------------------------- pixels


def test_conversions_and_view_helpers() -> None:
    img = np.random.default_rng(0).integers(0, 256, (H, W, 3), dtype=np.uint8)
    x = arrays_to_tensor([img], channels_last=True)  # what the loop gives the stylizer
    assert x.shape == (1, 3, H, W) and x.dtype == torch.float32 and 0 <= x.min() and x.max() <= 1
    assert x.is_contiguous(memory_format=torch.channels_last)
    assert np.array_equal(tensor_to_arrays(x)[0], img)  # lossless round trip
    assert frame_size(640, 480, 320) == (320, 240)
    assert frame_size(641, 481, None) == (640, 480)  # even, for video encoders
    assert fit(np.ones((10, 40, 3), np.uint8), 20, 20).shape == (20, 20, 3)
    view = tensor_to_arrays(x.contiguous())[0]  # an NCHW-contiguous stylizer output must be drawable too
    draw_overlay(view, ["starry_night", "3.1 fps"])
    assert not np.array_equal(view, img)


# ---------------------------------------------------------------------------- the headless loop


def test_file_source_reads_rgb_and_fps(clip: Path) -> None:
    src = open_source(str(clip))
    assert (src.width, src.height, src.fps, src.live) == (W, H, FPS, False)
    first = src.read()
    assert first is not None and first.shape == (H, W, 3) and first.dtype == np.uint8
    r, g, b = (int(v) for v in first[-1, 0])
    assert abs(r - 150) < 8 and abs(g - 128) < 8 and abs(b - 100) < 8  # RGB, not BGR
    n = 1
    while src.read() is not None:
        n += 1
    src.close()
    assert n == N


def test_injected_keys_switch_styles_and_recording_has_every_frame(clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "live.mp4"
    events: list[CameraEvent] = []
    stats = run_camera(open_source(str(clip)), tint_bank(), CameraOptions(size=None, overlay=False),
                       record=out, keys={8: "n", 16: "n"}, on_event=events.append)
    assert stats.stopped_by == "end"
    assert stats.styles_shown == ["red", "green", "blue"]
    assert [(e.frame, e.detail) for e in events if e.kind == "style"] == [(8, "green"), (16, "blue")]
    assert (stats.frames_read, stats.frames_processed, stats.frames_dropped, stats.frames_written) == (N, N, 0, N)
    frames, fps = read_clip(out)
    assert len(frames) == N and fps == FPS
    assert frames[0].shape == (H, W, 3)
    assert [dominant(f) for f in frames] == ["red"] * 8 + ["green"] * 8 + ["blue"] * 8


def test_snapshot_written(clip: Path, tmp_path: Path) -> None:
    from PIL import Image

    snaps = tmp_path / "snaps"
    snaps.mkdir()
    stats = run_camera(open_source(str(clip)), tint_bank(), CameraOptions(size=32, snapshot_dir=snaps),
                       keys=[(5, "n"), (5, "s"), (9, "c"), (9, "s")])
    assert len(stats.snapshots) == 2 and sorted(snaps.iterdir()) == sorted(stats.snapshots)
    one, two = (Image.open(p) for p in stats.snapshots)
    assert one.size == (32, 24) and dominant(np.asarray(one)) == "green"
    assert two.size == (64, 24)  # side by side with the original
    assert all(p.name.startswith("nst_green_") and p.suffix == ".png" for p in stats.snapshots)


def test_max_frames_duration_and_quit(clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "a.mp4"
    stats = run_camera(open_source(str(clip)), tint_bank(), CameraOptions(size=None, max_frames=10), record=out)
    assert stats.stopped_by == "max-frames" and stats.frames_processed == 10 and len(read_clip(out)[0]) == 10
    stats = run_camera(open_source(str(clip)), tint_bank(), CameraOptions(size=None, duration=0.2))
    assert stats.stopped_by == "duration" and stats.frames_processed == 5  # 0.2 s of a 25 fps file
    stats = run_camera(open_source(str(clip)), tint_bank(), CameraOptions(size=None), keys={3: "q"})
    assert stats.stopped_by == "quit" and stats.frames_processed == 3


def test_nothing_recorded_leaves_no_file(clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "rec" / "none.mp4"
    out.parent.mkdir()
    stats = run_camera(open_source(str(clip)), tint_bank(), CameraOptions(size=None), record=out, keys={0: "q"})
    assert stats.stopped_by == "quit" and stats.frames_written == 0
    assert list(out.parent.iterdir()) == []  # no output, no temp file


class Broken(Tint):
    def _stylize(self, frames: torch.Tensor) -> torch.Tensor:
        if self.calls == 3:
            raise RuntimeError("boom")
        return super()._stylize(frames)


def test_a_failure_mid_recording_discards_the_partial_file(clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "rec" / "partial.mp4"
    out.parent.mkdir()
    with pytest.raises(RuntimeError, match="boom"):
        run_camera(open_source(str(clip)), StylizerBank.from_stylizers([Broken("red")]), CameraOptions(size=None),
                   record=out)
    assert list(out.parent.iterdir()) == []


class ViewWindow:
    """A window that keeps every view it is shown and never gets a key."""

    def __init__(self) -> None:
        self.views: list[np.ndarray] = []

    def show(self, view: np.ndarray) -> int:
        self.views.append(view.copy())
        return -1

    def closed(self) -> bool:
        return False

    def close(self) -> None:
        pass


def test_strength_keys_change_the_output_through_with_strength() -> None:
    bank = tint_bank(("red",))
    base = bank.get(0)
    win = ViewWindow()
    run_camera(ArraySource(grey_frames(6)), bank, CameraOptions(size=None, overlay=False), window=win,
               keys={2: "-", 3: "-"})
    assert base.log == pytest.approx([1.0, 1.0, 0.9, 0.8, 0.8, 0.8])  # type: ignore[attr-defined]
    assert base.strength == 1.0  # type: ignore[attr-defined]  # the bank's stylizer itself is never changed
    red = [int(v[-1, 0, 0]) for v in win.views]  # a corner the moving bar never reaches
    assert red[0] == red[1] > red[2] > red[3] == red[4] == red[5]


def test_a_stylizer_without_strength_is_used_as_is() -> None:
    calls: list[int] = []

    def plain(x: torch.Tensor) -> torch.Tensor:
        calls.append(1)
        return 1 - x

    plain.name = "plain"  # type: ignore[attr-defined]
    plain.device = torch.device("cpu")  # type: ignore[attr-defined]
    events: list[CameraEvent] = []
    stats = run_camera(ArraySource(grey_frames(4)), StylizerBank.from_stylizers([plain]), CameraOptions(size=None),
                       keys={1: "-"}, on_event=events.append)
    assert stats.frames_processed == len(calls) == 4
    assert [e.detail for e in events if e.kind == "strength"] == ["0.90"]  # the state moves, nothing breaks


def test_stale_frames_are_dropped_when_the_stylizer_is_slow(tmp_path: Path) -> None:
    """A 100 fps 'camera' (a paced file) and a 25 ms stylizer: the loop keeps up by skipping."""
    frames = grey_frames(40)
    out = tmp_path / "rt.mp4"
    bank = tint_bank(("red",), delay=0.025)
    stats = run_camera(ArraySource(frames, fps=100), bank, CameraOptions(size=None, realtime=True), record=out)
    assert stats.frames_read == 40
    assert stats.frames_dropped > 10
    assert stats.frames_processed + stats.frames_dropped == 40
    assert bank.get(0).calls == stats.frames_processed  # type: ignore[attr-defined]
    # the recording has the stylised frames at their source times: it still lasts 40 frames at 100 fps
    times = frame_times(out)
    assert stats.frames_written == stats.frames_processed == len(times)
    assert times[0] == 0 and 0.3 <= times[-1] <= 0.4 and max(np.diff(times)) > 0.015

    # stopped by --max-frames: the last view is held until the stop, so the recording lasts 30 frames
    out2 = tmp_path / "rt30.mp4"
    stats = run_camera(ArraySource(frames, fps=100), tint_bank(("red",), delay=0.025),
                       CameraOptions(size=None, realtime=True, max_frames=30), record=out2)
    times = frame_times(out2)
    assert stats.stopped_by == "max-frames" and stats.frames_dropped > 5
    assert len(times) == stats.frames_written and times[-1] == pytest.approx(0.29)

    # the same slow stylizer on a file read without pacing: nothing is dropped
    stats = run_camera(ArraySource(frames, fps=100), tint_bank(("red",), delay=0.005), CameraOptions(size=None))
    assert stats.frames_dropped == 0 and stats.frames_processed == 40


def test_grabber_keeps_only_the_newest_frame() -> None:
    frames = grey_frames(5)
    g = FrameGrabber(ArraySource(frames, live=True), latest=True).start()
    deadline = time.perf_counter() + 10
    while g.frames_read < 5 and time.perf_counter() < deadline:  # the source is exhausted before the loop asks
        time.sleep(0.01)
    f = g.get(timeout=2)
    assert f is not None and f.index == 4 and g.dropped == 4
    assert g.get(timeout=2) is None
    g.stop()


class FakeWindow:
    """Stands in for the OpenCV window: returns scripted keys, records what it was shown."""

    def __init__(self, keys: list[int]) -> None:
        self.keys, self.shown, self.was_closed = list(keys), [], False

    def show(self, view: np.ndarray) -> int:
        self.shown.append(view.shape)
        return self.keys.pop(0) if self.keys else -1

    def closed(self) -> bool:
        return False

    def close(self) -> None:
        self.was_closed = True


def test_window_keys_go_through_the_same_handler() -> None:
    win = FakeWindow([-1, ord("n"), ord("c"), -1, ord("q")])
    stats = run_camera(ArraySource(grey_frames(20)), tint_bank(), CameraOptions(size=None), window=win)
    assert stats.stopped_by == "quit" and stats.frames_processed == 5
    assert stats.styles_shown == ["red", "green"]
    assert win.shown == [(H, W, 3)] * 3 + [(H, 2 * W, 3)] * 2 and win.was_closed


# ------------------------------------------------------------------------------------- errors


def test_missing_or_bad_sources_give_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        open_source(str(tmp_path / "nope.mp4"))
    with pytest.raises(InputError, match="camera 57: cannot open"):
        open_source("57")
    (tmp_path / "junk.mp4").write_bytes(b"not a video at all" * 100)
    with pytest.raises(InputError, match="cannot"):
        CaptureSource(str(tmp_path / "junk.mp4"))
    with pytest.raises(InputError, match="directory"):
        open_source(str(tmp_path))


def test_no_gui_gives_a_message_suggesting_headless(monkeypatch: pytest.MonkeyPatch) -> None:
    import cv2

    monkeypatch.setattr(cv2, "getBuildInformation", lambda: "  GUI:                           NONE\n")
    with pytest.raises(DisplayError, match="--no-window"):
        OpenCVWindow()
    monkeypatch.setattr(cv2, "getBuildInformation", lambda: "  GUI:                           QT5\n")
    monkeypatch.setattr("sys.platform", "linux")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(DisplayError, match="no display"):
        OpenCVWindow()


def test_bad_options() -> None:
    with pytest.raises(OptionError):
        CameraOptions(max_frames=0).validate()
    with pytest.raises(OptionError, match="iterations must be between 1 and"):
        StylizerBank.from_specs(["starry_night"], "optimize", iterations=0)
    with pytest.raises(InputError, match="unknown style"):
        StylizerBank.from_specs(["starry_nite"], "adain")


# ---------------------------------------------------------------------------------------- CLI


def _random_net(path: Path) -> Path:
    """A 'slim' transformer network with random weights, saved as an nst checkpoint."""
    from nst.checkpoints import FORMAT, FORMAT_VERSION, save_checkpoint
    from nst.nets import TransformerNet, arch_config

    torch.manual_seed(0)
    cfg = arch_config("slim")
    net = TransformerNet(cfg)
    return save_checkpoint(path, {"format": FORMAT, "format_version": FORMAT_VERSION, "arch": cfg.to_dict(),
                                  "state_dict": net.state_dict()})


def test_bank_gives_each_method_its_own_options(tmp_path: Path) -> None:
    from nst.methods.adain import AdaINStylizer
    from nst.methods.net import NetStylizer

    model = _random_net(tmp_path / "n.pt")
    opts = {"strength": 0.4, "style_size": 64, "preserve_color": None, "precision": "fp32", "device": "cpu"}
    net = StylizerBank.from_specs([], model=str(model), **{k: v for k, v in opts.items() if k != "style_size"})
    assert net.labels == ["n"] and isinstance(net.get(0), NetStylizer)
    from nst.registry import shipped_models, styles

    unshipped = next(s for s in styles() if s not in shipped_models())
    with pytest.raises(OptionError, match="no trained network"):
        StylizerBank.from_specs([unshipped], "net", **{k: v for k, v in opts.items() if k != "style_size"})
    with pytest.raises(OptionError, match="style_size does not apply"):
        StylizerBank.from_specs([], model=str(model), style_size=64)
    with pytest.raises(OptionError, match="preserve_color must be one of luminance"):
        StylizerBank.from_specs([unshipped, "starry_night"], preserve_color="histogram")  # up front, not on switching
    ada = StylizerBank.from_specs([unshipped], "auto", **opts)  # no shipped network for it: adain
    st = ada.get(0)
    assert isinstance(st, AdaINStylizer) and st.strength == 0.4 and st.opts.style_size == 64


def test_bank_of_a_multi_style_network_cycles_its_styles(tmp_path: Path) -> None:
    from .test_nets import multi_model

    model = str(multi_model(tmp_path / "multi.pt"))
    every = StylizerBank.from_specs([], model=model, engine="torch", precision="fp32")
    assert every.labels == ["a", "b", "c"]
    two = StylizerBank.from_specs(["c", "a"], model=model, engine="torch")
    assert two.labels == ["c", "a"] and "c" in two.get(0).name
    with pytest.raises(OptionError, match="no style zebra"):
        StylizerBank.from_specs(["zebra"], model=model)  # up front, before the camera opens
