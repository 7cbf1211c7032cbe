"""Hostile and careless inputs (issue 18), continued: memory, temp files, and the regressions that hold."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
import torch

import nst
from nst.errors import InputError, NSTError, ResourceError
from nst.io.image import load_image

from .helpers import cli, photo, refused, slim_ckpt, snapshot, style, write_ckpt

# ------------------------------------------------------------------------------------ 5. memory


def test_adain_too_big_for_memory(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("nst.memory.available_memory", lambda device=None: 1 << 20)  # 1 MB left
    p = photo(tmp_path / "p.png")
    err = refused(capsys, "image", p, "--style", style(tmp_path / "s.png"), "--method", "adain", "--size", "64",
                  "-o", tmp_path / "o.png", match="memory")
    assert "--size" in err or "--style-size" in err
    with pytest.raises(ResourceError, match="--s"):
        nst.stylize(load_image(p), load_image(tmp_path / "s.png"), method="adain", size=64)


def test_optimize_too_big_for_memory(monkeypatch: pytest.MonkeyPatch, tiny_vgg: Any) -> None:
    from nst.optimize import OptimizeOptions, optimize

    monkeypatch.setattr("nst.memory.available_memory", lambda device=None: 1 << 20)
    with pytest.raises(ResourceError, match="--size"):
        optimize(torch.rand(1, 3, 40, 40), [torch.rand(1, 3, 40, 40)], OptimizeOptions(iterations=1), vgg=tiny_vgg)


@pytest.mark.parametrize("error", [
    RuntimeError("[enforce fail at alloc_cpu.cpp:118] data. DefaultCPUAllocator: can't allocate memory: you tried "
                 "to allocate 4398046511104 bytes. Error code 12 (Cannot allocate memory)"),
    RuntimeError("not enough memory: you tried to allocate 1 TB"),
    MemoryError(),
])
def test_allocation_failure_becomes_resource_error(error: BaseException) -> None:
    from nst.methods.base import BaseStylizer

    class Greedy(BaseStylizer):
        def _stylize(self, frames: torch.Tensor) -> torch.Tensor:
            raise error

        def config(self) -> dict[str, Any]:
            return {}

    with pytest.raises(ResourceError, match="out of memory stylising 8x8; use a smaller --size"):
        Greedy("greedy", torch.device("cpu"))(torch.rand(1, 3, 8, 8))


def test_other_runtime_errors_are_not_masked() -> None:
    from nst.methods.base import BaseStylizer

    class Broken(BaseStylizer):
        def _stylize(self, frames: torch.Tensor) -> torch.Tensor:
            raise RuntimeError("a bug")

        def config(self) -> dict[str, Any]:
            return {}

    with pytest.raises(RuntimeError, match="a bug"):
        Broken("b", torch.device("cpu"))(torch.rand(1, 3, 8, 8))


# ------------------------------------------------------------------------------------ 6. temp files


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "tmp"
    d.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(d))
    monkeypatch.setenv("TMPDIR", str(d))
    return d


@pytest.mark.parametrize("engine", ["onnxruntime", "opencv"])
def test_engines_leave_no_temp_files(tmp_path: Path, private_tmp: Path, engine: str) -> None:
    from nst.engines import make_runner

    model = write_ckpt(tmp_path / "m.pt", slim_ckpt())
    run, _ = make_runner(model, engine)
    assert run(torch.rand(1, 3, 20, 28)).shape == (1, 3, 20, 28)
    assert list(private_tmp.iterdir()) == []


@pytest.mark.parametrize("failure", [KeyboardInterrupt, InputError])
def test_engines_leave_no_temp_files_on_error_or_ctrl_c(tmp_path: Path, private_tmp: Path,
                                                        monkeypatch: pytest.MonkeyPatch, failure: type) -> None:
    from nst.engines import make_runner

    def fail(path: Path, engine: str, precision: str = "fp32") -> None:
        assert path.exists() and private_tmp in path.parents  # the export is in the temp folder...
        raise failure("stop")

    monkeypatch.setattr("nst.engines._onnx_runner", fail)
    model = write_ckpt(tmp_path / "m.pt", slim_ckpt())
    with pytest.raises(failure):
        make_runner(model, "onnxruntime")
    assert list(private_tmp.iterdir()) == []  # ...and gone after the failure


def _ours(folder: Path) -> list[Path]:
    """What is left in the temp folder, less `.ses`: the bundled FFmpeg (libavformat in PyAV's wheel) keeps a
    51-byte session id there, once per machine and reused, which is not nst's to remove."""
    return [p for p in folder.iterdir() if p.name != ".ses"]


def test_commands_leave_no_temp_files(tmp_path: Path, private_tmp: Path, capsys: pytest.CaptureFixture[str],
                                      video_clip: Path) -> None:
    model = write_ckpt(tmp_path / "m.pt", slim_ckpt())
    p = photo(tmp_path / "p.png")
    assert cli(capsys, "image", p, "--model", model, "--engine", "opencv", "-o", tmp_path / "o.png")[0] == 0
    assert _ours(private_tmp) == []
    assert cli(capsys, "video", video_clip, "--model", model, "--engine", "onnxruntime", "--max-frames", "3",
               "--size", "64", "-o", tmp_path / "o.mp4")[0] == 0
    assert _ours(private_tmp) == []
    assert cli(capsys, "export", model, "--onnx", tmp_path / "o.onnx", "--pt", tmp_path / "o2.pt")[0] == 0
    assert _ours(private_tmp) == []
    refused(capsys, "image", p, "--model", tmp_path / "o.onnx", "--engine", "torch", "-o", tmp_path / "x.png")
    assert _ours(private_tmp) == []


# ------------------------------------------------------------------------------------ regressions that hold


def test_output_spelled_as_input_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = photo(tmp_path / "p.png")
    before = snapshot(tmp_path)
    for spelling in (p, tmp_path / "." / "p.png", tmp_path / "x" / ".." / "p.png"):
        (tmp_path / "x").mkdir(exist_ok=True)
        refused(capsys, "image", p, "--style", "udnie", "--overwrite", "-o", spelling, match="same as an input")
    (tmp_path / "x").rmdir()
    assert snapshot(tmp_path) == before


def test_decompression_bomb_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 30000, 30000, 8, 2, 0, 0, 0))
                     + chunk(b"IEND", b""))
    refused(capsys, "image", bomb, "--style", "udnie", "-o", tmp_path / "o.png", match="too large")


def test_every_refusal_is_an_nst_error() -> None:
    """The API's refusals are NSTError subclasses (ResourceError is also a MemoryError)."""
    assert issubclass(ResourceError, NSTError) and issubclass(ResourceError, MemoryError)
