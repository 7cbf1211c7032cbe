"""`nst` command-line tests for camera (moved here so the CLI tests live together; the helpers and
fixtures stay with the library tests in tests/test_camera.py)."""

from __future__ import annotations

from ..test_camera import FPS, H, Path, W, _random_net, clip, np, pytest, read_clip  # noqa: F401


def test_cli_records_a_stylised_stream_cycling_styles(clip: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """The issue's 'done when', with real AdaIN at a small size: styles cycle through injected keys."""
    from nst.cli import main

    out = tmp_path / "live.mp4"
    code = main(["camera", "--source", str(clip), "--no-window", "-o", str(out), "--styles",
                 "starry_night,great_wave", "--method", "adain", "--size", "64", "--style-size", "128",
                 "--max-frames", "8", "--keys", "4:n", "-q"])
    text = capsys.readouterr().out
    assert code == 0, text
    assert "frame 4: style great_wave" in text and "wrote" in text
    frames, fps = read_clip(out)
    assert len(frames) == 8 and fps == FPS and frames[0].shape == (H, W, 3)
    # stylised: far from the grey input
    assert np.abs(frames[0].astype(float) - 128).mean() > 10


def test_cli_errors(clip: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                    monkeypatch: pytest.MonkeyPatch) -> None:
    from nst.cli import main

    assert main(["camera", "--source", str(tmp_path / "none.mp4"), "--no-window", "--styles", "udnie"]) == 1
    assert "no such file" in capsys.readouterr().err
    monkeypatch.setattr("nst.camera.view.gui_available", lambda: "no display (DISPLAY is not set)")
    assert main(["camera", "--source", str(clip), "--styles", "udnie"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--no-window" in err
    (tmp_path / "exists.mp4").write_bytes(b"x")
    assert main(["camera", "--source", str(clip), "--no-window", "-o", str(tmp_path / "exists.mp4")]) == 1
    assert "exists" in capsys.readouterr().err


def test_cli_with_a_trained_network(clip: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--model runs the net method (no strength: +/- only change the state, nothing breaks)."""
    from nst.cli import main

    model = _random_net(tmp_path / "mynet.pt")
    out = tmp_path / "net.mp4"
    code = main(["camera", "--source", str(clip), "--no-window", "-o", str(out), "--model", str(model),
                 "--strength", "0.5", "--max-frames", "5", "--keys", "2:-,3:n", "-q"])
    text = capsys.readouterr().out
    assert code == 0, text
    assert "1 style(s)" in text and "5 frames stylised" in text
    assert len(read_clip(out)[0]) == 5
