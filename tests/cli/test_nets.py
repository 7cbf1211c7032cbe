"""`nst` command-line tests for nets (moved here so the CLI tests live together; the helpers and
fixtures stay with the library tests in tests/test_nets.py)."""

from __future__ import annotations

from ..test_nets import Path, pytest  # noqa: F401


def test_shipped_network_end_to_end(tmp_path: Path, photo_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`nst image` with a bundled style that ships a network uses it by default (real weights)."""
    from PIL import Image

    from nst.cli import main
    from nst.registry import shipped_models

    style = sorted(shipped_models())[0]
    out = tmp_path / "net.png"
    assert main(["image", str(photo_path), "--style", style, "--size", "96", "-o", str(out)]) == 0
    stdout = capsys.readouterr().out
    assert "net)" in stdout
    with Image.open(out) as im:
        assert im.size == (96, 72)
        pixels = im.convert("RGB").getextrema()
    assert all(hi - lo > 40 for lo, hi in pixels)  # a picture, not a flat colour
    assert main(["styles"]) == 0
    assert "adain, net" in capsys.readouterr().out
