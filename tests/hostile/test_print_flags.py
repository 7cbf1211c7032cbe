"""Issue 16's flags with careless and hostile values (0, negative, huge, malformed, NaN): one line naming
the flag, exit 2, nothing written (the pattern of test_options.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from nst.cli import main

from ..conftest import make_photo

BAD = [
    (["--tile", "0"], "--tile must be auto, off or a tile size between 64 and 16384, not 0"),
    (["--tile", "-96"], "--tile must be auto, off or a tile size between 64 and 16384, not -96"),
    (["--tile", "99999999999999999999"], "--tile must be auto, off or a tile size between 64 and 16384"),
    (["--tile", "nan"], "--tile must be auto, off or a tile size in pixels"),
    (["--tile", "big"], "--tile must be auto, off or a tile size in pixels"),
    (["--tile", ""], "--tile must be auto, off or a tile size in pixels"),
    (["--bit-depth", "0"], "--bit-depth must be 8 or 16, not 0"),
    (["--bit-depth", "-16"], "--bit-depth must be 8 or 16, not -16"),
    (["--bit-depth", "32"], "--bit-depth must be 8 or 16, not 32"),
    (["--bit-depth", "nan"], "--bit-depth: expected a whole number"),
    (["--bit-depth", "16", "-o", "{d}/out.jpg"], "--bit-depth 16 needs a PNG or TIFF output"),
    (["--bit-depth", "16", "-o", "{d}/out.webp"], "--bit-depth 16 needs a PNG or TIFF output"),
    (["--dpi", "0"], "--dpi must be between 1 and 9600, not 0"),
    (["--dpi", "-300"], "--dpi must be between 1 and 9600, not -300"),
    (["--dpi", "10000000"], "--dpi must be between 1 and 9600"),
    (["--dpi", "nan"], "--dpi: expected a whole number"),
    (["--dpi", "3e2"], "--dpi: expected a whole number"),
    (["--print", "30xcm"], "--print must be WIDTHxHEIGHT with a unit"),
    (["--print", "30x20"], "--print must be WIDTHxHEIGHT with a unit"),
    (["--print", "x20cm"], "--print must be WIDTHxHEIGHT with a unit"),
    (["--print", "-30x20cm"], "argument --print: expected one argument"),
    (["--print=-30x20cm"], "--print must be WIDTHxHEIGHT with a unit"),
    (["--print", "nanxnancm"], "--print must be WIDTHxHEIGHT with a unit"),
    (["--print", "infx1in"], "--print must be WIDTHxHEIGHT with a unit"),
    (["--print", "0x20cm"], "--print sides must be greater than 0 and at most 1000 cm"),
    (["--print", "1e9x1cm"], "--print must be WIDTHxHEIGHT with a unit"),
    (["--print", "100000x1cm"], "--print sides must be greater than 0 and at most 1000 cm"),
    (["--print", "30x20cm", "--size", "512"], "--size and --print both set the size"),
    (["--print", "200x200cm", "--dpi", "300"], "--size must be between 16 and 16384"),
    (["--print", "0.01x0.01cm", "--dpi", "10"], "--size must be between 16 and 16384"),
    (["--memory-limit", "0"], "--memory-limit must be greater than 0 and at most 65536"),
    (["--memory-limit", "-4"], "--memory-limit must be greater than 0 and at most 65536"),
    (["--memory-limit", "nan"], "--memory-limit must be greater than 0 and at most 65536"),
    (["--memory-limit", "inf"], "--memory-limit must be greater than 0 and at most 65536"),
    (["--memory-limit", "1e30"], "--memory-limit must be greater than 0 and at most 65536"),
    (["--memory-limit", "lots"], "--memory-limit must be a number of gigabytes"),
]


@pytest.mark.parametrize("flags,message", BAD, ids=lambda v: " ".join(v) if isinstance(v, list) else v[:20])
def test_bad_print_flags(flags: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    photo = tmp_path / "photo.png"
    Image.fromarray(make_photo()).save(photo)
    before = sorted(p.name for p in tmp_path.iterdir())
    argv = ["image", str(photo), "--style", "udnie", "-o", str(tmp_path / "out.png"), "-q"]
    try:
        code = main(argv + [f.replace("{d}", str(tmp_path)) for f in flags])
    except SystemExit as e:
        code = int(e.code or 0)
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1 and err.startswith("nst: error: "), err
    assert code == 2 and message in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written
