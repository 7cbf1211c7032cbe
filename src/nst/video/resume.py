"""Resume: OUT.nst-work/ keeps each stylised frame (lossless PNG) under a fingerprint of the settings.

A rerun with the same fingerprint reloads those frames and stylises only the rest; a different one
starts over. Every file in it is written through `nst.io.atomic`, so a crash leaves whole frames
or none: `completed()` counts the leading frames that are intact.

nst marks the folder it creates (MARKER inside) and only ever adopts a marked folder: a folder of
that name made by someone else is refused, never used or deleted. Cleaning up deletes only the
files nst writes there (by name), then the folders if they are empty.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
from PIL import Image

from ..errors import OutputError
from ..io.atomic import atomic_write
from ..io.image import png_bytes
from .common import warn
from .source import VideoInfo

WORK_SUFFIX = ".nst-work"
#: The file that marks a work folder as made by nst.
MARKER = ".nst-work-folder"
_MARKER_TEXT = b"nst video work folder: nst removes it when the video is finished\n"
# What nst writes in a work folder (and nst.io.atomic's temp names for them): all cleaning deletes.
_OWN_ROOT = re.compile(r"^(manifest\.json|lock|partial\.[a-z0-9]+|\.nst-work-folder"
                       r"|\.(manifest\.json|partial\.[a-z0-9]+)\..+\.part\.[a-z0-9]+)$")
_OWN_FRAME = re.compile(r"^\.?\d{8}\.(png|state\.npy)(\..+\.part\.(png|npy))?$")
_MANIFEST_VERSION = 3  # 2: the stylizer is identified by its config(); 3: sequence states saved with the frames


def work_dir_for(out: str | os.PathLike) -> Path:
    """The folder next to `out` where an unfinished run keeps its frames: OUT.nst-work/."""
    p = Path(out)
    return p.with_name(p.name + WORK_SUFFIX)


def _file_identity(p: Path) -> dict[str, Any]:
    st = p.stat()
    return {"path": str(p.resolve()), "bytes": st.st_size, "mtime_ns": st.st_mtime_ns}


def stylizer_config(stylizer: Any) -> dict[str, Any] | None:
    """The stylizer's `config()` (method, styles with hashes, options), or None for a plain function."""
    config = getattr(stylizer, "config", None)  # plain functions and pre-contract stylizers have none
    if not callable(config):
        return None
    try:
        return dict(config())
    except NotImplementedError:
        return None


def fingerprint(info: VideoInfo, opts: Any, stylizer: Any, settings: Mapping[str, Any] | None = None) -> dict:
    """Everything that decides the stylised frames. A rerun resumes only if this is unchanged.

    `opts` is the run's VideoOptions (the fields that only shape the output file are left out);
    `settings` is extra JSON-able identity supplied by the caller.
    """
    video = {k: v for k, v in dataclasses.asdict(opts).items() if k not in ("frames_dir", "crf")}
    return json.loads(json.dumps({
        "version": _MANIFEST_VERSION, "input": _file_identity(info.path), "video": video,
        "stylizer": getattr(stylizer, "name", type(stylizer).__name__), "config": stylizer_config(stylizer),
        "settings": dict(settings or {}), "torch": torch.__version__, "threads": torch.get_num_threads(),
    }, default=str, sort_keys=True))


def check_work_dir(out: str | os.PathLike) -> Path:
    """OUT.nst-work/ may be used: it does not exist, or nst made it (its mark is inside)."""
    root = work_dir_for(out)
    if (root.exists() or root.is_symlink()) and (root.is_symlink() or not root.is_dir()
                                                 or not (root / MARKER).is_file()):
        raise OutputError(f"{root}: exists and was not made by nst (no {MARKER} inside); nst keeps its work files "
                          "there, so move or rename it, or choose another -o")
    return root


def state_array(state: torch.Tensor) -> np.ndarray:
    """A SEQUENTIAL stylizer's state (1 x C x H x W) as it is saved: uint8 when every value is exactly
    k / 255 (an 8-bit image, as nst's stylizers keep), else float32; `load_state` gives back the same tensor."""
    x = state.detach().float().cpu().contiguous()
    u8 = (x * 255.0 + 0.5).floor().clamp(0, 255).to(torch.uint8)
    if torch.equal(u8.float().div(255.0), x):
        return u8.numpy()
    return x.numpy()


class WorkDir:
    """OUT.nst-work/: manifest.json, frames/NNNNNNNN.png (stylised, lossless), frames/NNNNNNNN.state.npy
    (a sequential stylizer's state after that frame; the last one or two only), the partial output.

    Locked while in use, so two processes never write the same output.
    """

    def __init__(self, out: Path, fingerprint: dict) -> None:
        self.root = work_dir_for(out)
        self.frames = self.root / "frames"
        self.lock_file: Any = None
        try:
            self._claim()
            self.frames.mkdir(exist_ok=True)
            self._lock()
            self._start(fingerprint)
        except OSError as e:
            self.release()
            raise OutputError(f"{out}: cannot create work folder {self.root} ({e.strerror or e})") from None
        except BaseException:
            self.release()
            raise

    def _claim(self) -> None:
        """Create and mark the folder, or adopt one that carries nst's mark; refuse any other."""
        try:
            self.root.mkdir()
        except FileExistsError:
            check_work_dir(self.root.with_name(self.root.name[:-len(WORK_SUFFIX)]))
            return
        with atomic_write(self.root / MARKER) as f:
            f.write(_MARKER_TEXT)

    def _clear_frames(self) -> None:
        """Delete the frames nst saved (by name); anything else in frames/ stays."""
        with contextlib.suppress(OSError):
            for p in self.frames.iterdir():
                if _OWN_FRAME.match(p.name) and p.is_file() and not p.is_symlink():
                    p.unlink(missing_ok=True)

    def _start(self, fingerprint: dict) -> None:
        """Keep the frames of an interrupted run with the same fingerprint; otherwise start empty."""
        manifest = self.root / "manifest.json"
        old = None
        with contextlib.suppress(OSError, ValueError):
            old = json.loads(manifest.read_text())
        if old == fingerprint:
            return
        if old is not None and any(self.frames.iterdir()):
            warn(f"{self.root}: settings differ from the interrupted run's; starting over")
        self._clear_frames()
        with atomic_write(manifest) as f:
            f.write(json.dumps(fingerprint, indent=1, sort_keys=True).encode())
            f.flush()
            os.fsync(f.fileno())  # the frames written next are only worth keeping under this manifest

    def _lock(self) -> None:
        try:
            import fcntl
        except ImportError:  # not POSIX: no lock, as before
            return
        self.lock_file = open(self.root / "lock", "w")
        try:
            fcntl.flock(self.lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self.lock_file.close()
            self.lock_file = None
            raise OutputError(f"{self.root}: another nst process is writing this output") from None

    def frame_path(self, i: int) -> Path:
        return self.frames / f"{i:08d}.png"

    def completed(self) -> int:
        """Number of leading frames saved intact."""
        n = 0
        while True:
            p = self.frame_path(n)
            try:
                with Image.open(p) as im:
                    im.verify()
            except (OSError, SyntaxError, ValueError):
                return n
            n += 1

    def save(self, i: int, arr: np.ndarray) -> None:
        with atomic_write(self.frame_path(i)) as f:
            f.write(png_bytes(arr))

    def state_path(self, i: int) -> Path:
        return self.frames / f"{i:08d}.state.npy"

    def save_state(self, i: int, state: np.ndarray) -> None:
        with atomic_write(self.state_path(i)) as f:
            np.save(f, state, allow_pickle=False)

    def drop_state(self, i: int) -> None:
        if i >= 0:
            with contextlib.suppress(OSError):
                self.state_path(i).unlink(missing_ok=True)

    def load_state(self, i: int) -> torch.Tensor | None:
        """The state saved after frame i, or None if none was (the stylizer's state was None)."""
        p = self.state_path(i)
        if not p.is_file():
            return None
        try:
            a = np.load(p, allow_pickle=False)
        except (OSError, ValueError):
            raise OutputError(f"work file {p} is damaged; delete {self.root} and run again") from None
        t = torch.from_numpy(np.ascontiguousarray(a))
        return t.float().div(255.0) if t.dtype == torch.uint8 else t.float()

    def load(self, i: int) -> np.ndarray:
        p = self.frame_path(i)
        try:
            with Image.open(p) as im:
                return np.asarray(im.convert("RGB"))
        except (OSError, SyntaxError, ValueError):
            raise OutputError(f"work frame {p} is damaged; delete {self.root} and run again") from None

    def release(self) -> None:
        if self.lock_file is not None:
            self.lock_file.close()
            self.lock_file = None

    def remove(self) -> None:
        """Delete what nst wrote here, then the folders if nothing else is in them."""
        self.release()
        self._clear_frames()
        with contextlib.suppress(OSError):
            self.frames.rmdir()
        with contextlib.suppress(OSError):
            for p in self.root.iterdir():
                if _OWN_ROOT.match(p.name) and p.name != MARKER and p.is_file() and not p.is_symlink():
                    p.unlink(missing_ok=True)
            if [p.name for p in self.root.iterdir()] == [MARKER]:  # only then is the folder nst's alone
                (self.root / MARKER).unlink()
                self.root.rmdir()
