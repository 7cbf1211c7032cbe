"""Shared fixtures: generated media (no files from outside the repo) and tiny random-weight networks."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from nst.features import VGG19


@pytest.fixture(scope="session")
def device() -> torch.device:
    """The suite runs on $NST_DEVICE (cpu by default; set cuda to run it on a GPU)."""
    return torch.device(os.environ.get("NST_DEVICE", "cpu"))


@pytest.fixture(scope="session")
def tiny_vgg() -> VGG19:
    """VGG19 with 1/8 of the channels and random weights: same layer names, fast."""
    torch.manual_seed(0)
    return VGG19(weights=None, width=0.125)


def make_photo(h: int = 96, w: int = 128, seed: int = 0) -> np.ndarray:
    """A deterministic HxWx3 uint8 'photo': smooth gradients, a disc and a bar, with mild noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.stack([x / w, y / h, 0.5 + 0.5 * np.sin(x / 9.0 + y / 13.0)], axis=2)
    disc = (x - w * 0.6) ** 2 + (y - h * 0.5) ** 2 < (min(h, w) * 0.25) ** 2
    img[disc] = [0.9, 0.2, 0.1]
    img[int(h * 0.15):int(h * 0.25), int(w * 0.1):int(w * 0.5)] = [0.1, 0.1, 0.8]
    img += rng.normal(0, 0.02, img.shape).astype(np.float32)
    return (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)


def make_style(h: int = 96, w: int = 96, seed: int = 1) -> np.ndarray:
    """A deterministic 'painting': coloured diagonal stripes and blobs, strongly textured."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    stripes = (np.sin((x + y) / 3.0) > 0).astype(np.float32)
    img = np.stack([stripes, 0.3 + 0.4 * np.cos(x / 5.0), 1.0 - stripes * 0.7], axis=2)
    img += rng.normal(0, 0.1, img.shape).astype(np.float32)
    return (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)


@pytest.fixture
def photo_path(tmp_path: Path) -> Path:
    from PIL import Image

    p = tmp_path / "photo.png"
    Image.fromarray(make_photo()).save(p)
    return p


@pytest.fixture
def style_path(tmp_path: Path) -> Path:
    from PIL import Image

    p = tmp_path / "painting.jpg"
    Image.fromarray(make_style()).save(p, quality=95)
    return p


# ---- generated video clips (test_video.py) ----------------------------------------------------

CLIP_FRAMES, CLIP_FPS, CLIP_W, CLIP_H, CLIP_RATE = 48, 24, 160, 120, 44100


def clip_frame(i: int, n: int = CLIP_FRAMES, w: int = CLIP_W, h: int = CLIP_H) -> np.ndarray:
    """Frame i of a generated clip, with two markers of i: its colour runs from orange (i=0) to blue
    (i=n-1), which survives stylisation with preserved colour (YIQ chroma), and a dark 3-pixel bar
    moves left to right (`bar_x`), which survives lossy encoding exactly. A red square marks the
    top-left corner and a soft texture gives a stylizer something to work on."""
    k = i / max(1, n - 1)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    tex = 12.0 * np.sin(x / 5.0) * np.cos(y / 7.0)
    img = np.stack([200 - 140 * k + tex, 128 + tex, 60 + 140 * k + tex], axis=2)
    bx = bar_x(i, n, w)
    img[16:, bx - 1:bx + 2] = 10
    img[:12, :12] = [255, 0, 0]
    return np.clip(img + 0.5, 0, 255).astype(np.uint8)


def bar_x(i: int, n: int = CLIP_FRAMES, w: int = CLIP_W) -> int:
    """Centre column of frame i's moving bar."""
    return 10 + round(i * (w - 20) / max(1, n - 1))


def find_bar(frame: np.ndarray) -> int:
    """Centre column of the darkest 3-pixel-wide vertical band below the corner square."""
    cols = frame[16:].astype(np.float64).mean(axis=(0, 2))
    return int(np.argmin(np.convolve(cols, np.ones(3) / 3, mode="same")))


def make_clip(path: Path, n: int = CLIP_FRAMES, fps: int = CLIP_FPS, w: int = CLIP_W, h: int = CLIP_H,
              audio: bool = True, rotation: int | None = None, codec: str = "libx264", gop: int | None = None) -> Path:
    """Write an n-frame clip with PyAV (H.264 yuv420p unless `codec` says otherwise), optionally with
    a 440 Hz mono sine track (AAC) exactly as long as the video, a display rotation (degrees) and a
    keyframe every `gop` frames."""
    import av

    c = av.open(str(path), "w")
    v = c.add_stream(codec, rate=fps)
    v.width, v.height, v.pix_fmt = w, h, "yuvj420p" if codec == "mjpeg" else "yuv420p"
    if gop is not None:
        v.codec_context.gop_size = gop
        v.codec_context.options = {"keyint_min": str(gop), "sc_threshold": "0"}
    if rotation is not None:
        v.set_display_rotation(rotation)
    a = c.add_stream("aac", rate=CLIP_RATE) if audio else None
    if a is not None:
        a.layout = "mono"
    for i in range(n):
        f = av.VideoFrame.from_ndarray(clip_frame(i, n, w, h), format="rgb24")
        f.pts = i
        for p in v.encode(f):
            c.mux(p)
    for p in v.encode(None):
        c.mux(p)
    if a is not None:
        total, s = CLIP_RATE * n // fps, 0
        while s < total:
            k = min(1024, total - s)
            t = np.arange(s, s + k) / CLIP_RATE
            af = av.AudioFrame.from_ndarray((0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None],
                                            format="flt", layout="mono")
            af.sample_rate, af.pts = CLIP_RATE, s
            s += k
            for p in a.encode(af):
                c.mux(p)
        for p in a.encode(None):
            c.mux(p)
    c.close()
    return path


@pytest.fixture(scope="session")
def video_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2 s, 48-frame, 160x120, 24 fps H.264 clip with a sine-wave AAC track (generated once)."""
    return make_clip(tmp_path_factory.mktemp("clips") / "clip.mp4")


def kill_after_frames(cmd: list[str], frames: Path, count: int = 10) -> None:
    """Start `cmd` (an `nst video` run), wait until its work folder `frames` holds `count` PNG frames,
    then SIGKILL it: a crash in the middle of a job, for the resume tests."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if frames.is_dir() and len(list(frames.glob("*.png"))) >= count:
            break
        time.sleep(0.02)
    assert proc.poll() is None, "finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL

