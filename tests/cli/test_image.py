"""CLI wiring for image/demo/styles/examine, and one-line errors for bad input."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image

from nst.cli import main

from ..conftest import make_photo


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_image_adain_end_to_end(tmp_path: Path, photo_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out.jpg"
    code, stdout, _ = run(capsys, "image", str(photo_path), "--style", "the_scream", "--method", "adain",
                          "--size", "80", "-o", str(out))
    assert code == 0 and "wrote" in stdout
    with Image.open(out) as im:
        assert im.size == (80, 60) and im.format == "JPEG"


def test_default_output_name_and_no_overwrite(tmp_path: Path, photo_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    args = ["image", str(photo_path), "--style", "udnie", "--style", "great_wave", "--style-weights", "0.7,0.3",
            "--size", "64"]
    assert run(capsys, *args)[0] == 0
    out = tmp_path / "photo_udnie+great_wave.png"
    assert out.is_file()
    stamp = out.stat().st_mtime_ns
    code, _, err = run(capsys, *args)
    assert code == 1 and "already exists" in err and out.stat().st_mtime_ns == stamp
    assert run(capsys, *args, "--overwrite")[0] == 0


def test_optimize_with_intermediate_saves(tmp_path: Path, photo_path: Path, style_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "g.png"
    code, stdout, _ = run(capsys, "image", str(photo_path), "--style", str(style_path), "--method", "optimize",
                          "--size", "96", "--min-size", "48", "--iterations", "4", "--coarse-iterations", "2",
                          "--save-every", "3", "--preserve-color", "luminance", "--seed", "1", "-o", str(out))
    assert code == 0 and out.is_file() and "optimize" in stdout
    assert sorted(p.name for p in (tmp_path / "g_steps").glob("*")) == ["iter_00003.png", "iter_00006.png"]


def test_styles_lists_bundled(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "styles")
    assert code == 0 and "starry_night" in out and "The Scream" in out and "adain" in out


def test_examine_cli(tmp_path: Path, photo_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "examine", str(photo_path), "--styles", "udnie,composition_vii", "--size", "64",
                       "-o", str(tmp_path / "ex"))
    assert code == 0 and "udnie" in out and " ms " in out and "contact sheet" in out
    assert len(list((tmp_path / "ex").glob("*.png"))) == 3


def test_demo_wiring(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(capsys, "demo", "--method", "adain")
    assert code == 0 and (tmp_path / "nst_demo.png").is_file() and "Starry Night" in out


def _bad_files(tmp_path: Path) -> dict[str, Path]:
    files = {}
    files["missing"] = tmp_path / "missing.jpg"
    p = tmp_path / "text.png"
    p.write_text("not an image\n" * 10)
    files["not an image"] = p
    p = tmp_path / "trunc.jpg"
    Image.fromarray(make_photo(200, 300)).save(p, quality=95)
    p.write_bytes(p.read_bytes()[:2000])
    files["truncated"] = p
    p = tmp_path / "empty.jpg"
    p.write_bytes(b"")
    files["zero-size"] = p

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    p = tmp_path / "bomb.png"
    p.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 40000, 40000, 8, 2, 0, 0, 0))
                  + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))
    files["bomb"] = p
    return files


@pytest.mark.parametrize("case", ["missing", "not an image", "truncated", "zero-size", "bomb"])
@pytest.mark.parametrize("role", ["content", "style"])
def test_bad_input_files(tmp_path: Path, photo_path: Path, capsys: pytest.CaptureFixture[str], case: str,
                         role: str) -> None:
    bad = _bad_files(tmp_path)[case]
    content, style = (bad, photo_path) if role == "content" else (photo_path, bad)
    before = bad.read_bytes() if bad.exists() else None
    code, out, err = run(capsys, "image", str(content), "--style", str(style), "--size", "64",
                         "-o", str(tmp_path / "o.png"))
    assert code == 1
    assert err.startswith("nst: error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert str(bad) in err
    assert not (tmp_path / "o.png").exists()
    assert (bad.read_bytes() if bad.exists() else None) == before


@pytest.mark.parametrize("argv_tail,message", [
    (["--method", "fancy"], "invalid choice"),
    (["--preserve-color", "sepia"], "invalid choice"),
    (["--init", "zeros"], "invalid choice"),
    (["--size", "-5"], "--size must be between 16 and 16384, not -5"),
    (["--style-weights", "a,b"], "comma-separated numbers"),
    (["--strength", "3"], "strength"),
    (["--style-weights", "0.5,0.5"], "2 style weight"),
    (["--content-layers", "relu9_1", "--method", "optimize"], "relu9_1"),
])
def test_bad_option_values(tmp_path: Path, photo_path: Path, capsys: pytest.CaptureFixture[str],
                           argv_tail: list[str], message: str) -> None:
    code, _, err = run_safe(capsys, ["image", str(photo_path), "--style", "udnie", "--size", "64", "-o",
                                     str(tmp_path / "o.png")] + argv_tail)
    assert code == 2 and message in err and err.count("\n") == 1 and "Traceback" not in err  # usage errors: 2
    assert not (tmp_path / "o.png").exists()


def run_safe(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str, str]:
    """Like run(), but argparse usage errors exit via SystemExit: return their code."""
    try:
        code = main(argv)
    except SystemExit as e:
        code = int(e.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_unknown_style_name(tmp_path: Path, photo_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "image", str(photo_path), "--style", "starry_nite", "-o", str(tmp_path / "o.png"))
    assert code == 1 and "did you mean starry_night" in err and err.count("\n") == 1


def test_output_equal_to_input_is_refused(tmp_path: Path, photo_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = photo_path.read_bytes()
    code, _, err = run(capsys, "image", str(photo_path), "--style", "udnie", "--size", "64", "-o", str(photo_path),
                       "--overwrite")
    assert code == 1 and "same as an input" in err and err.count("\n") == 1
    assert photo_path.read_bytes() == before


def test_unwritable_output(tmp_path: Path, photo_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for target in ["/proc/nst_out.png", str(tmp_path / "no" / "such" / "dir.png"), str(tmp_path / "o.xyz")]:
        code, _, err = run(capsys, "image", str(photo_path), "--style", "udnie", "--size", "64", "-o", target)
        assert code == 1 and err.startswith("nst: error: ") and err.count("\n") == 1, (target, err)


def test_model_without_style(tmp_path: Path, photo_path: Path, monkeypatch: pytest.MonkeyPatch,
                             capsys: pytest.CaptureFixture[str]) -> None:
    from ..hostile.helpers import slim_ckpt, write_ckpt

    model = write_ckpt(tmp_path / "mine.pt", slim_ckpt())  # a network that carries its one style ("t")
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(capsys, "image", str(photo_path), "--model", str(model), "--size", "64")
    assert code == 0 and "net)" in out and (tmp_path / "photo_mine.png").is_file()
    from nst.checkpoints import MULTI_FORMAT, read_checkpoint
    from nst.registry import shipped_models

    multi = next(p for p in sorted(set(shipped_models().values())) if read_checkpoint(p)["format"] == MULTI_FORMAT)
    code, _, err = run(capsys, "image", str(photo_path), "--model", str(multi), "--size", "64")
    assert code == 2 and "choose with --style" in err  # a multi-style network needs its style named
    code, _, err = run(capsys, "image", str(photo_path), "--size", "64")
    assert code == 2 and "a style is needed" in err  # a usage error


def test_closed_stdout_pipe_is_quiet() -> None:
    import os
    import subprocess
    import sys

    r, w = os.pipe()
    os.close(r)  # the reader is gone before nst writes: like `nst styles | head -0`
    try:
        proc = subprocess.run([sys.executable, "-c", "from nst.cli import entry; entry()", "styles"],
                              stdout=w, stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(w)
    assert proc.returncode == 1 and proc.stderr == ""
