"""What kind of thing an input path is, decided by `stat` alone (a FIFO or a device is never opened)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from ..errors import InputError


def check_input_file(path: str | os.PathLike, what: str = "file", missing: str = "no such file") -> Path:
    """`path` if it is a non-empty regular file; else an InputError saying what it is instead.

    `what` names what was expected ("image", "video", "model file"); `missing` is the message for a
    path that does not exist. Only `stat` is used, so a FIFO or a device never blocks the caller.
    """
    p = Path(path)
    try:
        st = os.stat(p)
    except FileNotFoundError:
        raise InputError(f"{p}: {missing}") from None
    except OSError as e:
        raise InputError(f"{p}: cannot read ({e.strerror or e})") from None
    mode = st.st_mode
    if stat.S_ISDIR(mode):
        raise InputError(f"{p}: is a directory, not {_a(what)}")
    if stat.S_ISFIFO(mode):
        raise InputError(f"{p}: is a FIFO (named pipe), not a regular file; nst reads {what}s from files")
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        raise InputError(f"{p}: is a device, not a regular file; nst reads {what}s from files")
    if stat.S_ISSOCK(mode):
        raise InputError(f"{p}: is a socket, not a regular file; nst reads {what}s from files")
    if not stat.S_ISREG(mode):
        raise InputError(f"{p}: is not a regular file")
    if st.st_size == 0:
        raise InputError(f"{p}: empty file (0 bytes)")
    return p


def is_still_image(path: str | os.PathLike) -> bool:
    """True when `path` is a picture with one frame (PIL reads its header; nothing is decoded).

    Video front ends refuse these rather than making a one-frame video of them. Animated images
    (GIF, WebP, APNG with several frames) are not still: FFmpeg reads them as videos.
    """
    import warnings

    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as im:
                return im.format != "MPEG" and int(getattr(im, "n_frames", 1)) <= 1
    except Image.DecompressionBombError:
        return True
    except Exception:  # not a picture PIL knows (a video, or garbage that the video reader reports)
        return False


def _a(word: str) -> str:
    return ("an " if word[:1] in "aeiou" else "a ") + word


__all__ = ["check_input_file", "is_still_image"]
