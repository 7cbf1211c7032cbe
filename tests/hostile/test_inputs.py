"""Hostile and careless inputs (issue 18): images, models, engines, temp files and wrong kinds of input.

Every case gets a clean refusal (one line "nst: error: ..." naming the file or field, exit 1 or 2, no
traceback, nothing of the user's changed) or, where the input is odd but valid, a correct result.
All media are generated here.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
import torch
from PIL import Image

import nst
from nst.checkpoints import load_checkpoint
from nst.errors import InputError, OptionError
from nst.io.frames import scaled_size
from nst.io.image import check_image, load_image

from ..conftest import make_clip
from .helpers import cli, fifo, multi_ckpt, nan_array, photo, refused, slim_ckpt, snapshot, style, write_ckpt

# ------------------------------------------------------------------------------------ 1. the image guard


@pytest.mark.parametrize("make", [
    lambda: nan_array(),
    lambda: torch.full((1, 3, 8, 8), float("inf")),
    lambda: torch.tensor(nan_array()).permute(2, 0, 1),
    lambda: np.full((8, 8), -np.inf, np.float64),
], ids=["nan-array", "inf-tensor", "nan-3d-tensor", "inf-grey-array"])
def test_non_finite_pixels_are_refused_not_black(make: Callable[[], Any]) -> None:
    with pytest.raises(InputError, match="NaN or infinite"):
        load_image(make())
    with pytest.raises(InputError, match="NaN or infinite"):
        nst.stylize(make(), "udnie", method="adain", size=32)  # refused before any weights load


def test_non_finite_content_tensor_and_style() -> None:
    x = torch.rand(1, 3, 16, 16)
    x[0, 0, 0, 0] = float("nan")
    with pytest.raises(InputError, match="content: has NaN"):
        nst.stylize_tensor(x, "udnie", method="adain", size=None)
    with pytest.raises(InputError, match="NaN"):
        nst.make_stylizer("adain", [nan_array()])


@pytest.mark.parametrize("make", [
    lambda: torch.zeros(1, 3, 1, 1).expand(1, 3, 12_000, 10_000),  # 120 MP, no memory used
    lambda: np.broadcast_to(np.zeros((1, 1, 3), np.uint8), (12_000, 10_000, 3)),
    lambda: np.broadcast_to(np.zeros((1, 1), np.float32), (12_000, 10_000)),
], ids=["tensor", "array", "float-array"])
def test_in_memory_images_over_the_pixel_limit(make: Callable[[], Any]) -> None:
    with pytest.raises(InputError, match="too large"):
        load_image(make())
    with pytest.raises(InputError, match="too large"):
        nst.stylize(make(), "udnie", method="adain")


def test_zero_size_images() -> None:
    for bad in (np.zeros((0, 5, 3), np.uint8), torch.zeros(1, 3, 0, 4)):
        with pytest.raises(InputError, match="zero-size"):
            load_image(bad)
    with pytest.raises(InputError, match="zero-size"):
        check_image(torch.zeros(1, 3, 5, 0))


def test_thin_training_photo_is_skipped_from_its_header(tmp_path: Path) -> None:
    """A 40000 x 1 photo would be 256 x 10 240 000 once its short side is scaled: skipped, never allocated."""
    from nst.train.data import PhotoBatches

    Image.new("RGB", (40_000, 1), (200, 10, 10)).save(tmp_path / "a_thin.png")
    photo(tmp_path / "b_ok.png", 40, 40)
    warnings: list[str] = []
    batches = PhotoBatches(sorted(tmp_path.glob("*.png")), 256, 2, seed=0, warn=warnings.append)
    b = batches(0)
    assert b.shape == (2, 3, 256, 256) and torch.isfinite(b).all()
    assert batches.skipped == [str(tmp_path / "a_thin.png")]
    assert len(warnings) == 1 and warnings[0].startswith("skipping unreadable training image")
    assert "too thin" in warnings[0]


def test_training_photo_over_the_pixel_limit_is_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from nst.train.data import PhotoBatches

    photo(tmp_path / "big.png", 40, 60)
    photo(tmp_path / "small.png", 20, 20)
    monkeypatch.setattr("nst.io.image.MAX_PIXELS", 1000)
    warnings: list[str] = []
    batches = PhotoBatches(sorted(tmp_path.glob("*.png")), 16, 1, seed=0, warn=warnings.append)
    for i in range(3):
        assert batches(i).shape == (1, 3, 16, 16)
    assert batches.skipped == [str(tmp_path / "big.png")] and "too large" in warnings[0]


def test_video_frames_over_the_pixel_limit_are_refused_at_probe(tmp_path: Path, video_clip: Path,
                                                                monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    from nst.video import probe

    monkeypatch.setattr("nst.io.image.MAX_PIXELS", 160 * 120 - 1)
    with pytest.raises(InputError, match="video frames too large"):
        probe(video_clip)
    refused(capsys, "video", video_clip, "--style", "udnie", "-o", tmp_path / "o.mp4", match="too large")
    assert not (tmp_path / "o.mp4").exists()


# ------------------------------------------------------------------------------------ 2. thin images


@pytest.mark.parametrize("hw", [(1, 70), (70, 1), (3, 5)], ids=["1x70", "70x1", "3x5"])
@pytest.mark.parametrize("role", ["content", "style"])
def test_thin_images_work_with_adain(tmp_path: Path, capsys: pytest.CaptureFixture[str], hw: tuple[int, int],
                                     role: str) -> None:
    thin = tmp_path / "thin.png"
    Image.fromarray(np.full((*hw, 3), 120, np.uint8)).save(thin)
    other = photo(tmp_path / "p.png") if role == "style" else style(tmp_path / "s.png")
    content, sty = (thin, other) if role == "content" else (other, thin)
    out = tmp_path / "o.png"
    code, _, err = cli(capsys, "image", content, "--style", sty, "--method", "adain", "--size", "70", "-o", out)
    assert code == 0, err
    w, h = Image.open(content).size
    assert Image.open(out).size == scaled_size(w, h, 70)


def test_thin_image_in_examine(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    thin = tmp_path / "thin.png"
    Image.fromarray(np.full((1, 90, 3), 80, np.uint8)).save(thin)
    code, _, err = cli(capsys, "examine", thin, "--styles", style(tmp_path / "s.png"), "-o", tmp_path / "ex",
                       "--size", "64")
    assert code == 0, err
    assert Image.open(tmp_path / "ex" / "thin_s.png").size == (64, 1)


@pytest.mark.parametrize("ckpt", [slim_ckpt, multi_ckpt], ids=["transformer", "multistyle"])
@pytest.mark.parametrize("engine", ["torch", "onnxruntime"])
def test_thin_images_work_with_trained_networks(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                ckpt: Callable[[], dict[str, Any]], engine: str) -> None:
    model = write_ckpt(tmp_path / "m.pt", ckpt())
    for h, w in ((1, 50), (50, 1)):
        thin = tmp_path / f"thin{h}.png"
        Image.fromarray(np.full((h, w, 3), 100, np.uint8)).save(thin)
        out = tmp_path / f"o{h}.png"
        code, _, err = cli(capsys, "image", thin, "--model", model, "--engine", engine, "--size", "50", "-o", out)
        assert code == 0, err
        assert Image.open(out).size == (w, h)


def test_thin_image_with_optimize_is_refused_clearly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    thin = tmp_path / "thin.png"
    Image.fromarray(np.full((1, 90, 3), 80, np.uint8)).save(thin)
    err = refused(capsys, "image", thin, "--style", style(tmp_path / "s.png"), "--method", "optimize", "--size", "64",
                  "-o", tmp_path / "o.png", match="too small for optimize")
    assert "32 px" in err and not (tmp_path / "o.png").exists()


# ------------------------------------------------------------------------------------ 3. models


def _nan_weights() -> dict[str, Any]:
    c = slim_ckpt()
    k = next(iter(c["state_dict"]))
    c["state_dict"][k] = c["state_dict"][k].clone()
    c["state_dict"][k].view(-1)[0] = float("nan")
    return c


def _reshaped() -> dict[str, Any]:
    c = slim_ckpt()
    k = next(iter(c["state_dict"]))
    c["state_dict"][k] = torch.zeros(2, 2)
    return c


def _drop(key: str) -> Callable[[], dict[str, Any]]:
    def make() -> dict[str, Any]:
        c = slim_ckpt()
        del c[key]
        return c
    return make


BROKEN_CHECKPOINTS: dict[str, tuple[Callable[[], Any], str]] = {
    "no-arch": (_drop("arch"), "no architecture"),
    "no-state-dict": (_drop("state_dict"), "no weights"),
    "arch-wrong-type": (lambda: slim_ckpt(arch=[1, 2, 3]), "no architecture"),
    "arch-missing-field": (lambda: slim_ckpt(arch={"channels": [8, 16, 32], "blocks": 3}), "outer_kernel"),
    "state-dict-wrong-type": (lambda: slim_ckpt(state_dict=[1, 2]), "no weights"),
    "weights-not-tensors": (lambda: slim_ckpt(state_dict={"a": 1}), "floating-point tensors"),
    "20M-channels": (lambda: slim_ckpt(arch={"channels": [8, 16, 20_000_000], "blocks": 3, "outer_kernel": 5}),
                     "20000000 channels"),
    "20M-blocks": (lambda: slim_ckpt(arch={"channels": [8, 16, 32], "blocks": 20_000_000, "outer_kernel": 5}),
                   "20000000 residual blocks"),
    "huge-kernel": (lambda: slim_ckpt(arch={"channels": [8, 16, 32], "blocks": 3, "outer_kernel": 1001}),
                    "kernel size"),
    "negative-kernel": (lambda: slim_ckpt(arch={"channels": [8, 16, 32], "blocks": 3, "outer_kernel": -1}),
                        "kernel size"),
    "other-arch": (lambda: slim_ckpt(arch={"channels": [8, 16, 32], "blocks": 4, "outer_kernel": 5}),
                   "do not match its architecture"),
    "wrong-shape": (_reshaped, "do not match its architecture"),
    "nan-weights": (_nan_weights, "NaN or infinite"),
    "format-list": (lambda: slim_ckpt(format=["x"]), "not an nst model checkpoint"),
    "version-bool": (lambda: slim_ckpt(format_version=True), "invalid format version"),
    "not-a-dict": (lambda: [1, 2, 3], "not an nst model checkpoint"),
    "many-styles": (lambda: {**multi_ckpt(), "arch": {"styles": [str(i) for i in range(300)], "channels": [8, 8, 8],
                                                       "blocks": 1}}, "300 styles"),
}


@pytest.mark.parametrize("case", list(BROKEN_CHECKPOINTS))
def test_broken_checkpoints_api(tmp_path: Path, case: str) -> None:
    make, message = BROKEN_CHECKPOINTS[case]
    p = tmp_path / "bad.pt"
    torch.save(make(), p)
    with pytest.raises(InputError, match=message) as e:
        load_checkpoint(p)
    assert str(p) in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("case", ["no-arch", "no-state-dict", "20M-blocks", "wrong-shape", "nan-weights"])
@pytest.mark.parametrize("command", ["image", "export-pt", "export-onnx", "video"])
def test_broken_checkpoints_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str], video_clip: Path, case: str,
                                command: str) -> None:
    make, message = BROKEN_CHECKPOINTS[case]
    bad = tmp_path / "bad.pt"
    torch.save(make(), bad)
    p = photo(tmp_path / "p.png")
    before = snapshot(tmp_path)
    argv: dict[str, list[Any]] = {
        "image": ["image", p, "--model", bad, "-o", tmp_path / "o.png"],
        "export-pt": ["export", bad, "--pt", tmp_path / "o.pt"],
        "export-onnx": ["export", bad, "--onnx", tmp_path / "o.onnx"],
        "video": ["video", video_clip, "--model", bad, "--max-frames", "2", "-o", tmp_path / "o.mp4"],
    }
    refused(capsys, *argv[command], match=message)
    assert snapshot(tmp_path) == before  # no output, nothing changed


def test_pickle_payload_never_runs(tmp_path: Path) -> None:
    """Regression: checkpoints are read with weights_only=True, so a pickle payload does not run."""
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self) -> tuple[Any, ...]:
            return (Path.touch, (marker,))

    p = tmp_path / "evil.pt"
    p.write_bytes(pickle.dumps({"format": "nst-transformer", "x": Payload()}, protocol=2))
    with pytest.raises(InputError, match="not an nst model checkpoint"):
        load_checkpoint(p)
    assert not marker.exists()


class _Half(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.avg_pool2d(x, 2)


class _FourChannels(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(4, 3, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class _NaN(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x / (x - x)  # 0/0 = NaN everywhere


class _OneChannel(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :1]


def _onnx(path: Path, module: torch.nn.Module, channels: int = 3, dynamic: bool = True) -> Path:
    import warnings

    axes = {"input": {0: "n", 2: "h", 3: "w"}, "output": {0: "n", 2: "h", 3: "w"}} if dynamic else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module.eval(), (torch.rand(1, channels, 32, 32),), str(path), input_names=["input"],
                          output_names=["output"], dynamic_axes=axes, opset_version=17, dynamo=False)
    return path


ONNX_CASES: dict[str, tuple[Callable[[Path], Path], str]] = {
    "half-size-output": (lambda p: _onnx(p, _Half()), "output has shape"),
    "one-channel-output": (lambda p: _onnx(p, _OneChannel()), "output has shape"),
    "four-input-channels": (lambda p: _onnx(p, _FourChannels(), channels=4), "4 input channels"),
    "fixed-input-size": (lambda p: _onnx(p, _Half(), dynamic=False), "fixed input size"),
    "nan-output": (lambda p: _onnx(p, _NaN()), "NaN or infinite"),
}


@pytest.mark.parametrize("engine", ["onnxruntime", "opencv"])
@pytest.mark.parametrize("case", list(ONNX_CASES))
def test_hostile_onnx_models(tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str, engine: str) -> None:
    make, message = ONNX_CASES[case]
    model = make(tmp_path / "bad.onnx")
    p = photo(tmp_path / "p.png")
    before = snapshot(tmp_path)
    err = refused(capsys, "image", p, "--model", model, "--engine", engine, "--size", "40", "-o", tmp_path / "o.png")
    assert message in err
    assert str(model) in err or "NaN" in err
    assert snapshot(tmp_path) == before


def test_stylizer_output_checks() -> None:
    from nst.methods.base import BaseStylizer

    class Bad(BaseStylizer):
        def __init__(self, result: Callable[[torch.Tensor], torch.Tensor]) -> None:
            super().__init__("bad", torch.device("cpu"))
            self.result = result

        def _stylize(self, frames: torch.Tensor) -> torch.Tensor:
            return self.result(frames)

        def config(self) -> dict[str, Any]:
            return {}

    x = torch.rand(1, 3, 8, 8)
    with pytest.raises(InputError, match="NaN or infinite"):
        Bad(lambda f: f * float("nan"))(x)
    with pytest.raises(InputError, match="shape"):
        Bad(lambda f: f[..., :4, :4])(x)
    assert torch.equal(Bad(lambda f: f)(x), x)


@pytest.mark.parametrize("opset", [0, 8, 999, -1])
def test_export_opset_out_of_range(tmp_path: Path, capsys: pytest.CaptureFixture[str], opset: int) -> None:
    from nst.engines import export_onnx, onnx_opsets

    model = write_ckpt(tmp_path / "m.pt", slim_ckpt())
    with pytest.raises(OptionError) as e:
        export_onnx(model, tmp_path / "o.onnx", opset=opset)
    assert e.value.field == "opset" and str(onnx_opsets()[1]) in str(e.value)
    refused(capsys, "export", model, "--onnx", tmp_path / "o.onnx", "--opset", str(opset), match="opset")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pt"]


def _odd_path(tmp_path: Path, kind: str, suffix: str) -> tuple[Path, str] | None:
    """An input of the wrong kind and the message it must get; None for the kinds each caller adds."""
    if kind == "directory":
        (tmp_path / "folder").mkdir()
        return tmp_path / "folder", "is a directory"
    if kind == "fifo":
        return fifo(tmp_path / f"pipe{suffix}"), "is a FIFO"
    if kind == "device":
        return Path("/dev/zero"), "is a device"
    if kind == "empty":
        (tmp_path / f"empty{suffix}").write_bytes(b"")
        return tmp_path / f"empty{suffix}", "empty file"
    return None


def _model_path(tmp_path: Path, kind: str) -> tuple[Path, str]:
    return _odd_path(tmp_path, kind, ".pt") or (tmp_path / "nope.pt", "no such model file")


@pytest.mark.parametrize("kind", ["directory", "fifo", "device", "empty", "missing"])
@pytest.mark.parametrize("command", ["image", "export"])
def test_model_of_the_wrong_kind(tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str, command: str) -> None:
    model, message = _model_path(tmp_path, kind)
    p = photo(tmp_path / "p.png")
    argv = (["image", p, "--model", model, "-o", tmp_path / "o.png"] if command == "image"
            else ["export", model, "--pt", tmp_path / "o.pt"])
    refused(capsys, *argv, match=message)
    assert not (tmp_path / "o.png").exists() and not (tmp_path / "o.pt").exists()


# ------------------------------------------------------------------------------------ 4. wrong kinds of input


def _input_path(tmp_path: Path, kind: str) -> tuple[Path, str]:
    return _odd_path(tmp_path, kind, ".png") or (photo(tmp_path / "still.png"),
                                                 "is a still image, not a video; use nst image")


@pytest.mark.parametrize("kind", ["directory", "fifo", "device", "empty"])
@pytest.mark.parametrize("role", ["content", "style"])
def test_image_inputs_of_the_wrong_kind(tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str,
                                        role: str) -> None:
    bad, message = _input_path(tmp_path, kind)
    good = photo(tmp_path / "p.png")
    content, sty = (bad, good) if role == "content" else (good, bad)
    before = snapshot(tmp_path)
    refused(capsys, "image", content, "--style", sty, "--method", "adain", "--size", "32", "-o", tmp_path / "o.png",
            match=message)
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("kind", ["directory", "fifo", "device", "empty", "still"])
@pytest.mark.parametrize("command", ["video", "camera"])
def test_video_inputs_of_the_wrong_kind(tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str,
                                        command: str) -> None:
    bad, message = _input_path(tmp_path, kind)
    model = write_ckpt(tmp_path / "m.pt", slim_ckpt())
    before = snapshot(tmp_path)
    if command == "video":
        argv = ["video", bad, "--model", model, "-o", tmp_path / "o.mp4"]
    else:
        argv = ["camera", "--source", bad, "--model", model, "--no-window", "--max-frames", "2", "-o",
                tmp_path / "o.mp4"]
    refused(capsys, *argv, match=message)
    assert snapshot(tmp_path) == before


def test_still_images_refused_by_the_video_apis(tmp_path: Path) -> None:
    from nst.camera import open_source
    from nst.video import probe

    for ext in (".png", ".jpg", ".gif", ".webp"):
        still = tmp_path / f"still{ext}"
        Image.fromarray(np.full((16, 16, 3), 50, np.uint8)).save(still)
        with pytest.raises(InputError, match="still image"):
            probe(still)
        with pytest.raises(InputError, match="still image"):
            open_source(str(still))


def test_animated_gif_is_still_a_video(tmp_path: Path) -> None:
    from nst.video import probe

    frames = [Image.fromarray(np.full((16, 16, 3), 20 * i, np.uint8)) for i in range(4)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:], duration=100)
    assert probe(tmp_path / "anim.gif").width == 16


def test_real_video_still_accepted(tmp_path: Path) -> None:
    from nst.video import probe

    info = probe(make_clip(tmp_path / "c.mp4", n=4, audio=False))
    assert (info.width, info.height) == (160, 120)
