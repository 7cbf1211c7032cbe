"""Shared by the hostile-input tests: the CLI run with its one-line-error contract, file snapshots, models."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from nst.checkpoints import FORMAT, FORMAT_VERSION, MULTI_FORMAT, save_checkpoint
from nst.cli import main
from nst.nets import ARCHS, MultiStyleConfig, MultiStyleNet, TransformerNet

from ..conftest import make_photo, make_style


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run `nst argv`; argparse usage errors (SystemExit) give their code."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as e:
        code = int(e.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def refused(capsys: pytest.CaptureFixture[str], *argv: str, match: str | None = None) -> str:
    """Run `nst argv` and check the refusal contract: exit 1 or 2, one stderr line "nst: error: ...",
    no traceback. Returns that line."""
    code, _, err = cli(capsys, *argv)
    assert code in (1, 2), err
    assert err.startswith("nst: error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    if match is not None:
        assert match in err, err
    return err


def snapshot(folder: Path) -> dict[str, bytes | str]:
    """Every entry under `folder`: file contents, or the kind of a non-file (never opened)."""
    out: dict[str, bytes | str] = {}
    for p in sorted(folder.rglob("*")):
        if p.is_symlink() or not p.exists():
            out[str(p)] = "link"
        elif p.is_file():
            out[str(p)] = p.read_bytes()
        else:
            out[str(p)] = "dir" if p.is_dir() else "special"
    return out


def photo(path: Path, h: int = 48, w: int = 64, seed: int = 0) -> Path:
    Image.fromarray(make_photo(h, w, seed)).save(path)
    return path


def style(path: Path, h: int = 64, w: int = 64) -> Path:
    Image.fromarray(make_style(h, w)).save(path)
    return path


def slim_ckpt(**changes: Any) -> dict[str, Any]:
    torch.manual_seed(0)
    net = TransformerNet(ARCHS["slim"])
    ckpt: dict[str, Any] = {"format": FORMAT, "format_version": FORMAT_VERSION, "arch": net.config.to_dict(),
                            "arch_name": "slim", "style": {"name": "t", "sha256": "0" * 64}, "train": {},
                            "iteration": 0, "losses": [], "wall_time": 0.0, "state_dict": net.state_dict()}
    ckpt.update(changes)
    return ckpt


def multi_ckpt() -> dict[str, Any]:
    torch.manual_seed(0)
    net = MultiStyleNet(MultiStyleConfig(("a",), (8, 8, 8), 1))
    return {"format": MULTI_FORMAT, "format_version": 1, "arch": net.config.to_dict(), "state_dict": net.state_dict()}


def write_ckpt(path: Path, ckpt: dict[str, Any]) -> Path:
    return save_checkpoint(path, ckpt)


def fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def nan_array(h: int = 24, w: int = 32) -> np.ndarray:
    a = np.full((h, w, 3), 0.5, np.float32)
    a[3, 4, 1] = np.nan
    return a
