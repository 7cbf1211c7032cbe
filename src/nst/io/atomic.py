"""`atomic_write`: the one way nst writes a file (images, checkpoints, ONNX, manifests, videos).

The content goes to a temporary file in the target's directory, which is renamed over the target
only when complete: a crash, Ctrl-C or a full disk mid-write never leaves a half-written file at
the target, and never destroys a file that was there. The new file gets the usual permissions under
the umask (mkstemp creates 0600).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Iterator

from ..errors import OutputError


def default_file_mode() -> int:
    """Permissions a newly created file gets under the current umask."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, mkdir: bool = False) -> Iterator[Path]:
    """Yield a temporary path next to `path`; on success it is renamed to `path`, on any error removed.

    For writers that want a file name (PyAV, torch.onnx.export). `mkdir` creates missing parent folders.
    """
    p = Path(path)
    parent = p.parent if str(p.parent) else Path(".")
    try:
        if mkdir:
            parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix="." + p.name + ".", suffix=".part" + p.suffix, dir=parent)
        os.close(fd)
    except OSError as e:
        raise OutputError(f"{p}: cannot write ({e.strerror or e})") from None
    try:
        yield Path(tmp)
        os.chmod(tmp, default_file_mode())
        os.replace(tmp, p)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OutputError):
            raise
        raise OutputError(f"{p}: cannot write ({e.strerror or e})") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mkdir: bool = False) -> Iterator[BinaryIO]:
    """Yield a binary file object; its content replaces `path` atomically when the block ends cleanly."""
    with atomic_path(path, mkdir) as tmp, open(tmp, "wb") as f:
        yield f
