"""Issue 16: 16-bit colour-managed output, print sizes, ICC profiles on reading, --estimate and the memory limit."""

from __future__ import annotations

import io
import re
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageCms

from nst.cli import main
from nst.io.image import load_image, save_image
from nst.io.print16 import parse_print, print_pixels, srgb_profile, to_uint16

from .conftest import make_photo

cv2 = pytest.importorskip("cv2")


def read16(path: Path) -> np.ndarray:
    a = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert a is not None and a.dtype == np.uint16 and a.ndim == 3
    return a[..., ::-1]


@pytest.mark.parametrize("ext", [".png", ".tif", ".tiff"])
def test_16bit_round_trip_with_icc_and_dpi(tmp_path: Path, ext: str) -> None:
    x = torch.rand(1, 3, 70, 131, generator=torch.Generator().manual_seed(0))
    p = save_image(x, tmp_path / f"out{ext}", bit_depth=16, dpi=300)
    assert np.array_equal(read16(p), to_uint16(x))  # every 16-bit value back (libpng / libtiff)
    assert np.abs(read16(p) / 65535.0 - x[0].permute(1, 2, 0).numpy()).max() <= 0.5 / 65535 + 1e-7
    with Image.open(p) as im:
        assert im.size == (131, 70)
        assert im.info["icc_profile"] == srgb_profile()
        assert "sRGB" in ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(im.info["icc_profile"])))
        assert tuple(round(v) for v in im.info["dpi"]) == (300, 300)


def test_16bit_keeps_what_8bit_loses(tmp_path: Path) -> None:
    """A smooth ramp: 16-bit from the float result has ~256x finer steps than an 8-bit file."""
    ramp = torch.linspace(0.2, 0.21, 1000).view(1, 1, 1, -1).expand(1, 3, 4, 1000).contiguous()
    p16 = save_image(ramp, tmp_path / "r.png", bit_depth=16)
    p8 = save_image(ramp, tmp_path / "r8.png")
    assert len(np.unique(read16(p16)[0, :, 0])) > 600
    assert len(np.unique(np.asarray(Image.open(p8))[0, :, 0])) <= 4


def _linear_rgb_profile() -> bytes:
    """An ICC v2 RGB profile with sRGB's primaries and a linear (gamma 1.0) tone curve."""
    def s15(v: float) -> bytes:
        return struct.pack(">i", round(v * 65536))

    def xyz(x: float, y: float, z: float) -> bytes:
        return b"XYZ \0\0\0\0" + s15(x) + s15(y) + s15(z)

    desc_text = b"linear sRGB primaries\0"
    tags = [(b"desc", b"desc\0\0\0\0" + struct.pack(">I", len(desc_text)) + desc_text + b"\0" * 79),
            (b"wtpt", xyz(0.9642, 1.0, 0.8249)), (b"rXYZ", xyz(0.4361, 0.2225, 0.0139)),
            (b"gXYZ", xyz(0.3851, 0.7169, 0.0971)), (b"bXYZ", xyz(0.1431, 0.0606, 0.7141)),
            (b"rTRC", b"curv\0\0\0\0" + struct.pack(">IH", 1, 256) + b"\0\0")]
    tags += [(b"gTRC", tags[-1][1]), (b"bTRC", tags[-1][1]), (b"cprt", b"text\0\0\0\0none\0\0\0\0")]
    offset = 128 + 4 + 12 * len(tags)
    table, data = b"", b""
    for sig, body in tags:
        while len(body) % 4:
            body += b"\0"
        table += sig + struct.pack(">II", offset + len(data), len(body))
        data += body
    size = offset + len(data)
    header = (struct.pack(">I", size) + b"lcms" + bytes([2, 0x10, 0, 0]) + b"mntrRGB XYZ " + b"\0" * 12 + b"acsp"
              + b"\0" * 24 + b"\0" * 4 + s15(0.9642) + s15(1.0) + s15(0.8249) + b"\0" * 48)
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + data


def test_input_icc_profile_is_converted_to_srgb(tmp_path: Path) -> None:
    """Linear-light 50% grey is sRGB ~73.5%: the profile is applied on reading, not ignored."""
    img = Image.new("RGB", (32, 16), (128, 128, 128))
    tagged, plain = tmp_path / "linear.png", tmp_path / "plain.png"
    img.save(tagged, icc_profile=_linear_rgb_profile())
    img.save(plain)
    assert load_image(plain).mean().item() == pytest.approx(128 / 255, abs=1e-3)
    assert load_image(tagged).mean().item() == pytest.approx(0.735, abs=0.02)
    srgb = tmp_path / "srgb.png"
    img.save(srgb, icc_profile=srgb_profile())  # an sRGB profile changes nothing
    assert torch.equal(load_image(srgb), load_image(plain))
    broken = tmp_path / "broken.png"
    img.save(broken, icc_profile=b"not a profile at all")
    assert torch.equal(load_image(broken), load_image(plain))  # shown as sRGB, as browsers do


@pytest.mark.parametrize("text,inches", [("30x20cm", (30 / 2.54, 20 / 2.54)), ("12x8in", (12.0, 8.0)),
                                         ("300 x 200 mm", (300 / 25.4, 200 / 25.4)), ("8.5x11IN", (8.5, 11.0))])
def test_parse_print(text: str, inches: tuple[float, float]) -> None:
    assert parse_print(text) == pytest.approx(inches)


def test_print_size_sets_pixels() -> None:
    assert print_pixels((12.0, 8.0), 300, (768, 512)) == (3600, 2400)
    assert print_pixels((12.0, 8.0), 300, (512, 512)) == (2400, 2400)  # fitted inside the print


def test_cli_print_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    photo = tmp_path / "p.png"
    Image.fromarray(make_photo(96, 144)).save(photo)
    out = tmp_path / "print.tif"
    code = main(["image", str(photo), "--style", "starry_night", "--method", "net", "--print", "3x2in", "--dpi", "64",
                 "--bit-depth", "16", "--tile", "96", "-o", str(out), "-q", "--precision", "fp32"])
    assert code == 0, capsys.readouterr().err
    assert "tiles of 96 px" in capsys.readouterr().out
    a = read16(out)
    assert a.shape == (128, 192, 3)  # 3 x 2 in at 64 dpi
    with Image.open(out) as im:
        assert tuple(round(v) for v in im.info["dpi"]) == (64, 64) and im.info["icc_profile"] == srgb_profile()


def _estimate(argv: list[str]) -> float:
    out = subprocess.run(argv + ["--estimate"], capture_output=True, text=True, check=True).stdout
    m = re.search(r"about ([\d.]+) GB peak", out)
    assert m, out
    return float(m.group(1))


@pytest.mark.parametrize("method,tile", [("adain", "off"), ("net", "256")])
def test_estimate_predicts_the_measured_peak(tmp_path: Path, method: str, tile: str) -> None:
    """--estimate against the peak RSS of the same run (ru_maxrss of the child): within 35%."""
    photo = tmp_path / "p.png"
    Image.fromarray(make_photo(384, 512)).save(photo)
    argv = [str(Path(sys.executable).with_name("nst")), "image", str(photo), "--style", "starry_night", "--method",
            method, "--size", "768", "--tile", tile, "-o", str(tmp_path / "o.png"), "-q"]
    want = _estimate(argv)
    # a fresh parent whose only child is the run: its RUSAGE_CHILDREN maximum is the run's peak RSS
    probe = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, capture_output=True); "
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", probe] + argv, check=True, capture_output=True, text=True).stdout
    peak = int(out.split()[-1]) * 1024 / 2**30
    assert abs(want - peak) <= 0.35 * peak, (want, peak)


def test_over_budget_fails_fast_with_the_estimate(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Fails before any work: no image is resized to the requested size and no stylizer is built (resizing
    to 16000 px first, as it once did, took 2 GB and seconds before saying no)."""
    import nst.io.frames
    import nst.methods

    def no_work(*a: object, **k: object) -> None:
        raise AssertionError("work started before the memory check")

    monkeypatch.setattr(nst.io.frames, "resize", no_work)
    monkeypatch.setattr(nst.methods, "make_stylizer", no_work)
    photo = tmp_path / "p.png"
    Image.fromarray(make_photo(96, 144)).save(photo)
    out = tmp_path / "o.png"
    code = main(["image", str(photo), "--style", "udnie", "--method", "adain", "--size", "16000", "--tile", "off",
                 "--memory-limit", "2", "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "adain at 16000x10667 in one pass: about" in err and "use --tile" in err
    assert not out.exists()
    code = main(["image", str(photo), "--style", "starry_night", "--method", "optimize", "--size", "8000",
                 "--memory-limit", "1", "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 1 and "optimize at 8000x5333" in err and err.count("\n") == 1 and not out.exists()
