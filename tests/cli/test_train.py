"""`nst` command-line tests for train (moved here so the CLI tests live together; the helpers and
fixtures stay with the library tests in tests/test_train.py)."""

from __future__ import annotations

from ..test_train import Image, Path, photo_folder, pytest, read_checkpoint  # noqa: F401


def test_cli_train_export_and_stylise_end_to_end(tmp_path: Path, style_path: Path, photo_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """The real `nst train` (pretrained VGG19) for a few iterations at a tiny size, then export and use."""
    from nst.cli import main

    data = photo_folder(tmp_path, corrupt=True)
    out = tmp_path / "mine.pt"
    argv = ["train", "--style", str(style_path), "--data", str(data), "-o", str(out), "--arch", "slim",
            "--size", "32", "--iterations", "3", "--batch", "2", "--style-size", "64", "--checkpoint-every", "2",
            "--preview-every", "2", "-q"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "after 3 iterations" in text and "skipped 1 unreadable" in text
    assert out.is_file() and (tmp_path / "mine_previews" / "iter_000002.jpg").is_file()
    assert main(argv) == 1  # exists: needs --resume or --overwrite
    assert main(argv[:argv.index("3")] + ["5"] + argv[argv.index("3") + 1:] + ["--resume"]) == 0
    assert read_checkpoint(out)["iteration"] == 5
    onnx = tmp_path / "mine.onnx"
    small = tmp_path / "small.pt"
    assert main(["export", str(out), "--onnx", str(onnx), "--pt", str(small)]) == 0
    assert "optimizer" not in read_checkpoint(small) and small.stat().st_size < out.stat().st_size
    for model, engine in ((out, "torch"), (small, "torch"), (onnx, "onnxruntime"), (onnx, "opencv")):
        res = tmp_path / f"res_{engine}_{model.stem}.png"
        assert main(["image", str(photo_path), "--style", "x.jpg", "--model", str(model), "--engine", engine,
                     "--size", "50", "-o", str(res), "-q"]) == 0
        assert Image.open(res).size == (50, 38)
    assert main(["image", str(photo_path), "--style", "x.jpg", "--model", str(onnx), "--engine", "torch",
                 "-o", str(tmp_path / "no.png"), "-q"]) == 2  # an option that does not fit the model: usage
    assert "ONNX file" in capsys.readouterr().err
