"""`nst` command-line tests for video (moved here so the CLI tests live together; the helpers and
fixtures stay with the library tests in tests/test_video.py)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nst.cli import main
from nst.video import frames_to_video

from ..conftest import CLIP_FPS, CLIP_FRAMES, bar_x, clip_frame, find_bar
from ..test_video import FRAME, chroma, decode


def test_frames2video_natural_order_with_sound(tmp_path: Path, video_clip: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    d = tmp_path / "frames"
    d.mkdir()
    n = 24
    for i in range(n):  # unpadded names: string order would be 0, 1, 10, 11, ..., 2, 20, ...
        Image.fromarray(clip_frame(i, n, 64, 48)).save(d / f"frame{i}.png")
    (d / "notes.txt").write_text("not a frame")
    out = tmp_path / "joined.mp4"
    assert main(["frames2video", str(d), "-o", str(out), "--fps", "12", "--audio-from", str(video_clip)]) == 0
    v = decode(out)
    assert len(v["frames"]) == n and v["fps"] == 12
    assert [find_bar(f) for f in v["frames"]] == [bar_x(i, n, 64) for i in range(n)]
    assert v["audio_samples_s"] == pytest.approx(2.0, abs=FRAME)  # the original's sound, whole
    assert "wrote" in capsys.readouterr().out
    r = frames_to_video(d, tmp_path / "ntsc.mkv", "30000/1001")
    assert r.fps == Fraction(30000, 1001) and decode(tmp_path / "ntsc.mkv")["fps"] == Fraction(30000, 1001)


def test_cli_video_adain_end_to_end(tmp_path: Path, video_clip: Path, style_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "styled.mp4"
    code = main(["video", str(video_clip), "-o", str(out), "--style", str(style_path), "--method", "adain",
                 "--size", "64", "--batch", "4", "--preserve-color", "luminance", "-q"])
    assert code == 0
    text = capsys.readouterr().out
    assert "48 frames" in text and "fps average" in text
    src, d = decode(video_clip), decode(out)
    assert len(d["frames"]) == CLIP_FRAMES and d["fps"] == CLIP_FPS
    assert d["frames"][0].shape == (48, 64, 3)
    assert d["video_duration"] == pytest.approx(src["video_duration"], abs=FRAME)
    assert d["audio_samples_s"] == pytest.approx(src["audio_samples_s"], abs=FRAME)
    marks = [chroma(f) for f in d["frames"]]  # colour preserved, so the marker survives the style
    assert all(b < a for a, b in zip(marks, marks[1:])), marks
    # and it is stylised: far from a plain downscale of the input
    plain = np.asarray(Image.fromarray(src["frames"][0]).resize((64, 48), Image.BICUBIC)).astype(float)
    assert np.abs(d["frames"][0].astype(float) - plain).mean() > 8
