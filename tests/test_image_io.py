"""nst.io.image: formats, modes, EXIF orientation, resizing, writing, and bad files."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from nst.errors import InputError, OutputError
from nst.io.image import check_output_path, load_image, save_image

from .conftest import make_photo


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _png_header_only(path: Path, w: int, h: int) -> None:
    """A PNG whose header claims w x h pixels, with almost no pixel data."""
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", zlib.compress(b"\0" * 16))
                     + _png_chunk(b"IEND", b""))


@pytest.mark.parametrize("ext,fmt", [(".jpg", "JPEG"), (".png", "PNG"), (".webp", "WEBP"), (".tif", "TIFF"),
                                     (".bmp", "BMP")])
def test_reads_common_formats(tmp_path: Path, ext: str, fmt: str) -> None:
    arr = make_photo(48, 64)
    p = tmp_path / f"x{ext}"
    Image.fromarray(arr).save(p, format=fmt, **({"quality": 95} if fmt in ("JPEG", "WEBP") else {}))
    x = load_image(p)
    assert x.shape == (1, 3, 48, 64) and x.dtype == torch.float32
    assert 0.0 <= x.min() and x.max() <= 1.0
    ref = torch.from_numpy(arr).permute(2, 0, 1)[None].float() / 255
    assert (x - ref).abs().mean() < 0.03  # lossy formats are close, lossless exact


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    arr = make_photo(40, 80)  # landscape pixels
    img = Image.fromarray(arr)
    exif = img.getexif()
    exif[0x0112] = 6  # "rotate 90 CW to display": displayed image is portrait
    p = tmp_path / "rot.jpg"
    img.save(p, exif=exif.tobytes(), quality=95)
    x = load_image(p)
    assert x.shape[-2:] == (80, 40)


@pytest.mark.parametrize("mode", ["L", "P", "RGBA", "LA", "CMYK", "I;16", "1"])
def test_modes_become_rgb(tmp_path: Path, mode: str) -> None:
    base = Image.fromarray(make_photo(32, 48))
    if mode == "I;16":
        gray = np.asarray(base.convert("L"), dtype=np.uint16) * 257
        img = Image.fromarray(gray)  # 16-bit grayscale
        assert img.mode.startswith("I;16")
    else:
        img = base.convert(mode)
    ext = ".jpg" if mode == "CMYK" else ".png" if mode != "I;16" else ".png"
    p = tmp_path / f"m{ext}"
    img.save(p)
    x = load_image(p)
    assert x.shape == (1, 3, 32, 48)
    assert torch.isfinite(x).all() and x.min() >= 0 and x.max() <= 1
    if mode in ("L", "I;16", "1", "LA"):
        assert torch.allclose(x[:, 0], x[:, 1]) and torch.allclose(x[:, 1], x[:, 2])
    if mode == "I;16":  # 16-bit scaled to [0, 1], not clipped to white
        assert 0.2 < x.mean() < 0.8


def test_alpha_composited_on_white(tmp_path: Path) -> None:
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[:, 4:, 3] = 255  # left half transparent
    p = tmp_path / "a.png"
    Image.fromarray(rgba, "RGBA").save(p)
    x = load_image(p)
    assert torch.allclose(x[0, :, :, :4], torch.ones(3, 8, 4))
    assert torch.allclose(x[0, :, :, 4:], torch.tensor([1.0, 0, 0]).view(3, 1, 1).expand(3, 8, 4))


def test_arrays_pil_and_tensors() -> None:
    arr = make_photo(20, 30)
    a = load_image(arr)
    b = load_image(Image.fromarray(arr))
    c = load_image(arr.astype(np.float32) / 255)
    d = load_image(a[0])
    assert a.shape == b.shape == c.shape == d.shape == (1, 3, 20, 30)
    assert torch.equal(a, b) and torch.allclose(a, c) and torch.equal(a, d)
    g = load_image(arr[..., 0])
    assert g.shape == (1, 3, 20, 30)


@pytest.mark.parametrize("size,expected", [(64, (48, 64)), (200, (150, 200)), (None, (96, 128))])
def test_size_sets_long_side_keeping_aspect(size: int | None, expected: tuple[int, int]) -> None:
    x = load_image(make_photo(96, 128), size=size)
    assert tuple(x.shape[-2:]) == expected


@pytest.mark.parametrize("ext", [".png", ".jpg", ".jpeg", ".tif", ".webp"])
def test_writes_format_by_extension(tmp_path: Path, ext: str) -> None:
    x = load_image(make_photo(24, 40))
    p = save_image(x, tmp_path / f"out{ext}")
    with Image.open(p) as img:
        assert img.size == (40, 24) and img.mode == "RGB"
        assert img.format == {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".tif": "TIFF", ".webp": "WEBP"}[ext]
    assert not list(tmp_path.glob("*.part"))
    if ext == ".png":  # lossless round trip
        assert torch.equal(load_image(p), x)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        load_image(tmp_path / "nope.jpg")


def test_not_an_image(tmp_path: Path) -> None:
    p = tmp_path / "notes.jpg"
    p.write_text("hello, I am text\n" * 20)
    with pytest.raises(InputError, match="not an image"):
        load_image(p)


def test_truncated_image(tmp_path: Path) -> None:
    p = tmp_path / "t.jpg"
    Image.fromarray(make_photo(200, 300)).save(p, quality=95)
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 3])
    with pytest.raises(InputError, match="cannot decode"):
        load_image(p)


def test_zero_size_images(tmp_path: Path) -> None:
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        load_image(empty)
    zero = tmp_path / "zero.png"
    _png_header_only(zero, 0, 10)
    with pytest.raises(InputError):
        load_image(zero)


def test_decompression_bomb(tmp_path: Path) -> None:
    p = tmp_path / "bomb.png"
    _png_header_only(p, 30000, 30000)  # 900 megapixels claimed in a 100-byte file
    with pytest.raises(InputError, match="too large"):
        load_image(p)


def test_output_checks(tmp_path: Path) -> None:
    inp = tmp_path / "in.png"
    save_image(load_image(make_photo(8, 8)), inp)
    before = inp.read_bytes()
    with pytest.raises(OutputError, match="same as an input"):
        check_output_path(inp, [inp], overwrite=True)
    with pytest.raises(OutputError, match="same as an input"):
        check_output_path(tmp_path / "." / "in.png", [inp], overwrite=True)
    with pytest.raises(OutputError, match="already exists"):
        check_output_path(inp, [], overwrite=False)
    with pytest.raises(OutputError, match="does not exist"):
        check_output_path(tmp_path / "nodir" / "o.png", [inp])
    with pytest.raises(OutputError, match="unsupported output format"):
        check_output_path(tmp_path / "o.gif", [inp])
    assert inp.read_bytes() == before
    assert check_output_path(tmp_path / "new.png", [inp]) == tmp_path / "new.png"


def test_in_memory_inputs_get_the_same_pixel_guard(monkeypatch: pytest.MonkeyPatch) -> None:
    """An upload handed over as bytes, a PIL image or an array is refused like a file of that size."""
    huge = np.broadcast_to(np.zeros((1, 1, 3), np.uint8), (12_000, 10_000, 3))  # 120 MP, no memory used
    with pytest.raises(InputError, match="too large"):
        load_image(huge)
    monkeypatch.setattr("nst.io.image.MAX_PIXELS", 40 * 30 - 1)
    with pytest.raises(InputError, match="too large"):
        load_image(Image.new("RGB", (40, 30)))
    with pytest.raises(InputError, match="too large"):
        load_image(np.zeros((30, 40), np.uint8))
    assert load_image(Image.new("RGB", (40, 29))).shape == (1, 3, 29, 40)  # under the limit: fine


def test_bytes_are_decoded_with_the_file_guards(tmp_path: Path) -> None:
    arr = make_photo(24, 32)
    p = tmp_path / "x.png"
    Image.fromarray(arr).save(p)
    assert torch.equal(load_image(p.read_bytes()), load_image(p))
    with pytest.raises(InputError, match="not an image"):
        load_image(b"hello, not an image")
    with pytest.raises(InputError, match="empty"):
        load_image(b"")
    bomb = tmp_path / "bomb.png"
    _png_header_only(bomb, 30000, 30000)
    with pytest.raises(InputError, match="too large"):
        load_image(bomb.read_bytes())


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_all_finite_finds_one_bad_value(bad: float) -> None:
    from nst.io.image import all_finite

    x = torch.rand(1, 3, 17, 23)
    assert all_finite(x) and all_finite(x.bfloat16()) and all_finite(torch.empty(0))
    x[0, 2, 16, 22] = bad
    assert not all_finite(x) and not all_finite(x.bfloat16())


def test_fast_png_keeps_every_pixel_and_channel_order() -> None:
    import io

    from nst.io.image import png_bytes

    rng = np.random.default_rng(0)
    arr = rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)
    arr[0, 0] = (255, 0, 0)  # red stays red: OpenCV's BGR is converted
    back = np.asarray(Image.open(io.BytesIO(png_bytes(arr[:, ::-1]))).convert("RGB"))  # a strided view too
    assert np.array_equal(back, arr[:, ::-1])
    assert tuple(back[0, -1]) == (255, 0, 0)


@pytest.mark.parametrize("bad", [np.zeros((4, 4, 3), np.float32), np.zeros((0, 4, 3), np.uint8),
                                 np.zeros((4, 4), np.uint8), np.zeros((4, 4, 4), np.uint8)])
def test_fast_png_refuses_what_is_not_an_rgb_image(bad: np.ndarray) -> None:
    from nst.io.image import png_bytes

    with pytest.raises(OutputError, match="H x W x 3 uint8"):
        png_bytes(bad)
