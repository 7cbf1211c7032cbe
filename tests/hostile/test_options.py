"""Issue 18, careless and hostile option values, at the CLI and the API: every one gets one line
("nst: error: ..." naming the flag), the right exit code (2 usage, 1 failure, 130 Ctrl-C), no
traceback unless --debug, and nothing of the user's is changed. Images themselves (pixel guard,
thin images, NaN pixels, checkpoints, ONNX) are tested in test_inputs.py."""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import nst
from nst.cli import main
from nst.errors import NSTError, OptionError

# ---- helpers ----------------------------------------------------------------------------------------


def files(root: Path) -> dict[str, bytes]:
    """Every file under `root` with its bytes: what "nothing of the user's changed" compares."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def cli(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str]:
    """main(argv) -> (exit code, stderr)."""
    code = main(argv)
    return code, capsys.readouterr().err


def one_line(err: str) -> str:
    assert "Traceback" not in err, err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("nst: error: "), err
    return lines[0]


@pytest.fixture
def user_dir(tmp_path: Path, photo_path: Path, style_path: Path) -> Path:
    """A folder of the user's: a photo, a painting, a few photos to train on, a note."""
    (tmp_path / "photos").mkdir()
    for i in range(2):
        shutil.copy(photo_path, tmp_path / "photos" / f"p{i}.png")
    (tmp_path / "note.txt").write_text("mine")
    return tmp_path


# ---- 1. bounds declared with the options: exit 2, the flag named, nothing written -------------------

BIG = str(2**63)


def _bad_flags() -> list[tuple[str, list[str], str]]:
    """(command, argv after the command's inputs, what the one line says)."""
    image = [("image", ["--size", v], "--size must be between 16 and 16384") for v in ("0", "15", "16385", "99999")]
    image += [("image", ["--size", "nan"], "--size: expected a whole number"),
              ("image", ["--method", "optimize", "--seed", "-1"], "--seed must be between 0 and"),
              ("image", ["--method", "optimize", "--seed", BIG], "--seed must be between 0 and 9223372036854775807"),
              ("image", ["--method", "optimize", "--style-scale", "9"], "--style-scale must be"),
              ("image", ["--method", "optimize", "--style-scale", "inf"], "--style-scale must be a finite number"),
              ("image", ["--method", "optimize", "--min-size", "100000"], "--min-size must be between"),
              ("image", ["--method", "optimize", "--iterations", "0"], "--iterations must be between 1 and"),
              ("image", ["--method", "optimize", "--iterations", "10000000000"], "--iterations must be between"),
              ("image", ["--method", "optimize", "--lr", "1e300"], "--lr must be"),
              ("image", ["--method", "optimize", "--style-weight", "1e300"], "--style-weight must be between"),
              ("image", ["--method", "optimize", "--content-layers", ""], "--content-layers needs at least one"),
              ("image", ["--method", "optimize", "--style-layers", ","], "--style-layers needs at least one"),
              ("image", ["--method", "optimize", "--content-layers", "relu9_9"], "relu9_9"),
              ("image", ["--method", "adain", "--style-size", "99999"], "--style-size must be between"),
              ("image", ["--method", "adain", "--strength", "nan"], "--strength must be a finite number")]
    return image + [
        ("examine", ["--size", "99999"], "--size must be between 16 and 16384"),
        ("video", ["--size", "99999"], "--size must be between 16 and 16384"),
        ("video", ["--crf", "99"], "--crf must be between 0 and 63"),
        ("video", ["--crf", "-5"], "--crf must be between 0 and 63"),
        ("video", ["--crf", "52"], "--crf must be between 0 and 51 for .mp4"),
        ("video", ["--batch", "0"], "--batch must be between 1 and"),
        ("video", ["--max-frames", "0"], "--max-frames must be between 1 and"),
        ("video", ["--duration", "0"], "--duration must be greater than 0"),
        ("video", ["--start", "-1"], "--start: expected seconds"),
        ("camera", ["--size", "8"], "--size must be between 16 and 16384"),
        ("camera", ["--max-frames", "0"], "--max-frames must be between 1 and"),
        ("camera", ["--duration", "-1"], "--duration must be greater than 0"),
        ("camera", ["--strength", "2"], "--strength must be between 0 and 1"),
        ("frames2video", ["--fps", "1e9"], "--fps must be at most 1000"),
        ("frames2video", ["--fps", "1001"], "--fps must be at most 1000"),
        ("frames2video", ["--fps", "0"], "--fps: expected a positive frame rate"),
        ("frames2video", ["--fps", "nan"], "--fps: expected a positive frame rate"),
        ("export", ["--opset", "0"], "--opset must be between 7 and"),
        ("export", ["--opset", "999"], "--opset must be between 7 and"),
        ("train", ["--seed", "-1"], "--seed must be between 0 and"),
        ("train", ["--seed", BIG], "--seed must be between 0 and"),
        ("train", ["--size", "100000"], "--size must be between 32 and"),
        ("train", ["--batch", "0"], "--batch must be between 1 and"),
        ("train", ["--style-size", "100000"], "--style-size must be between 32 and 8192"),
        ("train", ["--content-layers", ""], "--content-layers needs at least one item"),
        ("train", ["--lr", "inf"], "--lr must be a finite number"),
    ]


def _argv(command: str, d: Path, photo: Path, clip: Path) -> list[str]:
    """A command line for `command` with valid inputs in the user's folder `d`."""
    return {
        "image": ["image", str(photo), "--style", "udnie", "-o", str(d / "out.png"), "-q"],
        "examine": ["examine", str(photo), "--styles", "udnie", "-o", str(d / "sheet")],
        "video": ["video", str(clip), "--style", "udnie", "-o", str(d / "out.mp4"), "-q"],
        "camera": ["camera", "--source", str(clip), "--styles", "udnie", "--no-window", "-q"],
        "frames2video": ["frames2video", str(d / "photos"), "-o", str(d / "out.mp4"), "-q"],
        "export": ["export", "starry_night", "--onnx", str(d / "out.onnx")],
        "train": ["train", "--style", "udnie", "--data", str(d / "photos"), "-o", str(d / "out.pt"), "-q"],
    }[command]


@pytest.mark.parametrize("command,flags,message", _bad_flags(), ids=lambda v: " ".join(v) if isinstance(v, list)
                         else str(v)[:30])
def test_bad_option_values_are_usage_errors(command: str, flags: list[str], message: str, user_dir: Path,
                                            photo_path: Path, video_clip: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    before = files(user_dir)
    code, err = cli(capsys, _argv(command, user_dir, photo_path, video_clip) + flags)
    assert code == 2 and message in one_line(err), err
    assert files(user_dir) == before  # nothing written, nothing changed


def test_crf_range_follows_the_codec(user_dir: Path, video_clip: Path) -> None:
    from nst.video.writer import check_crf

    check_crf(63, user_dir / "a.webm")  # VP9 takes 0..63
    check_crf(51, user_dir / "a.mp4")
    check_crf(99, user_dir / "a.gif")  # GIF has no crf: nothing to check
    with pytest.raises(OptionError) as e:
        check_crf(52, user_dir / "a.mkv")
    assert e.value.field == "crf" and "0 and 51" in str(e.value)


# ---- 2. the API: an NSTError naming the field, never a plain ValueError or TypeError ----------------

@pytest.mark.parametrize("kwargs,field", [
    ({"size": math.nan}, "size"), ({"size": math.inf}, "size"), ({"size": "512"}, "size"),
    ({"size": 10**30}, "size"), ({"size": -3}, "size"), ({"size": 1.5}, "size"), ({"size": True}, "size"),
    ({"size": [64]}, "size"),
    ({"method": "adain", "strength": "1"}, "strength"), ({"method": "adain", "strength": math.nan}, "strength"),
    ({"method": "adain", "strength": [1]}, "strength"), ({"method": "adain", "strength": None}, "strength"),
    ({"method": "adain", "style_size": 10**400}, "style_size"), ({"method": "adain", "preserve_color": 3}, None),
    ({"method": "optimize", "iterations": "5"}, "iterations"), ({"method": "optimize", "seed": 2**64}, "seed"),
    ({"method": "optimize", "seed": -1}, "seed"), ({"method": "optimize", "content_layers": "relu4_2"},
                                                    "content_layers"),
    ({"method": "optimize", "content_layers": ()}, "content_layers"),
    ({"method": "optimize", "multiscale": "yes"}, "multiscale"),
    ({"method": ["adain"]}, "method"), ({"method": 3}, "method"),
    ({"style_weights": ["a"]}, "style_weights"), ({"style_weights": [math.nan]}, None),
    ({"nonsense": 1}, None),
])
def test_api_bad_values_raise_nst_errors_naming_the_field(photo_path: Path, kwargs: dict[str, Any],
                                                          field: str | None) -> None:
    kwargs = {"size": 32, **kwargs}
    try:
        nst.stylize(photo_path, "udnie", **kwargs)
    except NSTError as e:
        if field is not None:
            assert isinstance(e, OptionError) and e.field == field, (kwargs, e, getattr(e, "field", None))
        assert "\n" not in str(e)
    else:
        pytest.fail(f"{kwargs} was accepted")


def test_api_numpy_numbers_are_numbers(photo_path: Path) -> None:
    import numpy as np

    img = nst.stylize(photo_path, "udnie", method="adain", size=np.int64(32), strength=np.float32(0.5))
    assert max(img.size) == 32


# ---- 3. exit codes, one line, --debug ---------------------------------------------------------------

def _boom(exc: BaseException) -> Any:
    def raise_it(*args: Any, **kwargs: Any) -> Any:
        raise exc
    return raise_it


@pytest.mark.parametrize("exc,code,message", [
    (KeyboardInterrupt(), 130, "nst: interrupted"),
    (RuntimeError("[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: can't allocate memory: you tried "
                  "to allocate 4398046511104 bytes"), 1, "nst: error: out of memory; try a smaller --size"),
    (RuntimeError("CUDA out of memory. Tried to allocate 20.00 GiB"), 1, "nst: error: out of memory"),
    (MemoryError(), 1, "nst: error: out of memory"),
    (nst.InputError("x.png: not an image"), 1, "nst: error: x.png: not an image"),
    (nst.OutputError("o.png: cannot write"), 1, "nst: error: o.png: cannot write"),
    (OptionError("must be sane", field="style_scale"), 2, "nst: error: --style-scale must be sane"),
    (ValueError("some\nmultiline bug"), 1, "nst: error: unexpected ValueError: some"),
])
def test_exit_codes_and_one_line(exc: BaseException, code: int, message: str, user_dir: Path, photo_path: Path,
                                 monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("nst.methods.make_stylizer", _boom(exc))
    before = files(user_dir)
    got, err = cli(capsys, ["image", str(photo_path), "--style", "udnie", "-o", str(user_dir / "o.png"), "-q"])
    assert got == code and "Traceback" not in err and len(err.splitlines()) == 1 and err.startswith(message), err
    assert files(user_dir) == before


def test_debug_shows_the_traceback(photo_path: Path, user_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("nst.methods.make_stylizer", _boom(RuntimeError("not enough memory")))
    with pytest.raises(RuntimeError, match="not enough memory"):
        main(["--debug", "image", str(photo_path), "--style", "udnie", "-o", str(user_dir / "o.png"), "-q"])
    with pytest.raises(OptionError):
        main(["--debug", "image", str(photo_path), "--style", "udnie", "--size", "0", "-o", str(user_dir / "o.png")])


@pytest.mark.parametrize("argv", [["image"], ["image", "x.png", "--bogus"], ["nonsense"], ["video", "x.mp4"],
                                  ["image", "x.png", "--size", "ten"], ["export", "m.pt", "--opset", "1.5"]])
def test_argparse_errors_are_one_line_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, err = cli(capsys, argv)
    assert code == 2 and one_line(err)


def test_option_errors_at_parse_and_run_time_both_exit_2(photo_path: Path, user_dir: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    base = ["image", str(photo_path), "--style", "udnie", "-o", str(user_dir / "o.png")]
    assert cli(capsys, base + ["--size", "x"])[0] == 2  # argparse, while parsing
    assert cli(capsys, base + ["--size", "0"])[0] == 2  # the library's OptionError, at run time
    assert cli(capsys, base + ["--method", "adain", "--iterations", "5"])[0] == 2  # does not apply


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_full_stdout_is_one_line_exit_1() -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(nst.__file__).parents[1])}
    with open("/dev/full", "w") as full:
        proc = subprocess.run([sys.executable, "-c", "from nst.cli import entry; entry()", "styles"], stdout=full,
                              stderr=subprocess.PIPE, text=True, timeout=120, env=env)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr and "Exception ignored" not in proc.stderr
    assert len(proc.stderr.splitlines()) == 1 and "No space left" in proc.stderr, proc.stderr


# ---- 4. nothing of the user's is overwritten or deleted ---------------------------------------------

OPTIMIZE_FAST = ["--method", "optimize", "--size", "48", "--min-size", "48", "--iterations", "2",
                 "--save-every", "1", "-q"]


def test_save_every_writes_its_own_folder(user_dir: Path, photo_path: Path, style_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    d = user_dir / "d"
    d.mkdir()
    (d / "x_iter00001.png").write_bytes(b"a user's file with the old intermediate name")
    before = files(user_dir)
    argv = ["image", str(photo_path), "--style", str(style_path), "-o", str(d / "x.png")] + OPTIMIZE_FAST
    code, _ = cli(capsys, argv)
    assert code == 0
    after = files(user_dir)
    assert {k: v for k, v in after.items() if k in before} == before  # every file of the user's as it was
    assert sorted(set(after) - set(before)) == ["d/x.png", "d/x_steps/iter_00001.png", "d/x_steps/iter_00002.png"]


def test_save_every_never_overwrites(user_dir: Path, photo_path: Path, style_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    steps = user_dir / "x_steps"
    steps.mkdir()
    (steps / "iter_00001.png").write_bytes(b"mine")
    before = files(user_dir)
    argv = ["image", str(photo_path), "--style", str(style_path), "-o", str(user_dir / "x.png")] + OPTIMIZE_FAST
    code, err = cli(capsys, argv)
    assert code == 1 and "already holds intermediate results" in one_line(err) and files(user_dir) == before
    # the photo itself where an intermediate would go: refused even with --overwrite
    shutil.copy(photo_path, steps / "iter_00002.png")
    before = files(user_dir)
    code, err = cli(capsys, ["image", str(steps / "iter_00002.png"), "--style", str(style_path), "-o",
                             str(user_dir / "x.png"), "--overwrite"] + OPTIMIZE_FAST)
    assert code == 1 and "same as an input" in one_line(err)
    assert {k: v for k, v in files(user_dir).items() if k in before}.get("x_steps/iter_00002.png") == \
        before["x_steps/iter_00002.png"]
    # a file where the folder would go
    (user_dir / "y_steps").write_bytes(b"mine too")
    code, err = cli(capsys, ["image", str(photo_path), "--style", str(style_path), "-o", str(user_dir / "y.png")]
                    + OPTIMIZE_FAST)
    assert code == 1 and "not a folder" in one_line(err) and (user_dir / "y_steps").read_bytes() == b"mine too"


@pytest.mark.parametrize("target,overwrite,message", [
    ("photos/p0.png", True, "unsupported output format"),
    ("painting.jpg", True, "unsupported output format"),
    ("note.txt", True, "unsupported output format"),
    ("init.pt", True, "same as an input"),
    ("photos", True, "unsupported output format"),
    ("photos/p9.pt", False, None),  # a new checkpoint inside the photo folder is fine; checked by name only
])
def test_train_output_is_a_checkpoint_and_never_an_input(target: str, overwrite: bool, message: str | None,
                                                         user_dir: Path, style_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    import torch

    # past the output checks, training would start: stop there (the --init file is never read either)
    monkeypatch.setattr("nst.train.loop._load_init", _boom(nst.InputError("training would start here")))
    assert style_path == user_dir / "painting.jpg"
    torch.save({"not": "read"}, user_dir / "init.pt")
    before = files(user_dir)
    argv = ["train", "--style", str(user_dir / "painting.jpg"), "--data", str(user_dir / "photos"), "-o",
            str(user_dir / target), "--init", str(user_dir / "init.pt"), "--iterations", "1", "-q"]
    code, err = cli(capsys, argv + (["--overwrite"] if overwrite else []))
    assert code == 1 and (message or "training would start here") in one_line(err)
    assert files(user_dir) == before


def test_video_work_folder_not_made_by_nst_is_refused(user_dir: Path, video_clip: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    work = user_dir / "out.mp4.nst-work"
    (work / "frames").mkdir(parents=True)
    (work / "frames" / "00000000.png").write_bytes(b"my frame")
    (work / "manifest.json").write_text("{}")
    (work / "thesis.tex").write_text("years of work")
    before = files(user_dir)
    code, err = cli(capsys, ["video", str(video_clip), "--style", "starry_night", "--method", "net", "--size", "32",
                             "--max-frames", "2", "-o", str(user_dir / "out.mp4"), "-q"])
    assert code == 1 and "not made by nst" in one_line(err) and "move or rename it" in err
    assert files(user_dir) == before and not (user_dir / "out.mp4").exists()


def test_video_work_folder_cleanup_deletes_only_what_nst_wrote(tmp_path: Path) -> None:
    import numpy as np

    from nst.video.resume import MARKER, WorkDir

    out = tmp_path / "out.mp4"
    w = WorkDir(out, {"v": 1})
    assert (w.root / MARKER).is_file()
    w.save(0, np.zeros((4, 4, 3), np.uint8))
    (w.root / "partial.mp4").write_bytes(b"partial")
    (w.root / "mine.txt").write_text("a user's file put in the work folder")
    (w.frames / "notes.txt").write_text("another")
    w.release()
    w = WorkDir(out, {"v": 2})  # other settings: starts over, keeps what is not nst's
    assert not w.frame_path(0).exists() and (w.frames / "notes.txt").is_file()
    w.save(0, np.zeros((4, 4, 3), np.uint8))
    w.remove()
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file()) == [
        f"out.mp4.nst-work/{MARKER}", "out.mp4.nst-work/frames/notes.txt", "out.mp4.nst-work/mine.txt"]
    (w.root / "mine.txt").unlink()
    (w.frames / "notes.txt").unlink()
    w = WorkDir(out, {"v": 3})
    w.remove()
    assert list(tmp_path.iterdir()) == []  # nst's own folder, emptied: gone


@pytest.mark.parametrize("flag", ["--pt", "--onnx"])
def test_export_never_overwrites(flag: str, user_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from nst.registry import shipped_models

    model = user_dir / "model.pt"
    shutil.copy(sorted(shipped_models().values())[0], model)
    existing = user_dir / ("existing" + (".pt" if flag == "--pt" else ".onnx"))
    existing.write_bytes(b"mine")
    before = files(user_dir)
    targets = [(existing, False, "already exists")] + ([(model, True, "same as an input")] if flag == "--pt" else [])
    for target, overwrite, message in targets:
        code, err = cli(capsys, ["export", str(model), flag, str(target)] + (["--overwrite"] if overwrite else []))
        assert code == 1 and message in one_line(err)
    assert files(user_dir) == before


def test_train_previews_never_replace_an_input(tmp_path: Path) -> None:
    """A training photo that happens to sit where a preview goes is refused, not overwritten."""
    from PIL import Image

    from nst.errors import OutputError
    from nst.train import TrainOptions, train

    from ..conftest import make_photo

    data = tmp_path / "run_previews"  # the previews folder of -o run.pt, used as the photo folder
    data.mkdir()
    photo = data / "iter_000001.jpg"
    Image.fromarray(make_photo(64, 64)).save(photo)
    before = photo.read_bytes()
    opts = TrainOptions(style="udnie", data=str(data), output=str(tmp_path / "run.pt"), arch="slim", size=32,
                        iterations=1, batch=1, preview_every=1, style_size=32, checkpoint_every=1)
    with pytest.raises(OutputError):
        train(opts)
    assert photo.read_bytes() == before
