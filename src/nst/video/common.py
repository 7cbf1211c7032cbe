"""What every video module shares: the warning category, FFmpeg error text, frame rates, input checks."""

from __future__ import annotations

import warnings
from fractions import Fraction
from pathlib import Path
from typing import Any, Iterator

import av

from ..errors import InputError, OptionError
from ..io.files import check_input_file as check_regular_file
from ..io.files import is_still_image

#: Consecutive unreadable packets before we give up on a file.
MAX_DEMUX_ERRORS = 50


class VideoWarning(UserWarning):
    """A recoverable problem with a video (skipped corrupt packet, sound dropped for GIF, ...)."""


def warn(message: str) -> None:
    # stacklevel 3: the warning points at the library function the user called, not at this helper.
    warnings.warn(message, VideoWarning, stacklevel=3)


def av_message(e: BaseException) -> str:
    """An FFmpeg/PyAV error as one short clause."""
    msg = getattr(e, "strerror", None) or str(e)
    return str(msg).strip().rstrip(".")


def fraction(v: float | Fraction | str) -> Fraction:
    """A frame rate as an exact fraction: 24, 29.97, "30000/1001"."""
    try:
        f = Fraction(v).limit_denominator(1_000_000) if isinstance(v, float) else Fraction(v)
    except (ValueError, ZeroDivisionError, TypeError, OverflowError):
        raise OptionError(f"frame rate must be a positive number, not '{v}'") from None
    if not f > 0:
        raise OptionError(f"frame rate must be positive, not {v}")
    return f


#: The highest frame rate nst writes: more than any display or container use needs (MP4 and WebM
#: store timestamps, not rates, but players and encoders choke far above this).
MAX_FPS = 1000


def check_fps(v: Any) -> Fraction:
    """A frame rate a user gave (24, 29.97, "30000/1001"): 0 < fps <= MAX_FPS, or an OptionError naming "fps"."""
    if isinstance(v, bool):
        v = "True"  # refused below
    try:
        f = fraction(v)
    except OptionError:
        raise OptionError(f"must be a positive frame rate like 24, 29.97 or 30000/1001, not {v!r}",
                          field="fps") from None
    if f > MAX_FPS:
        raise OptionError(f"must be at most {MAX_FPS} frames per second, not {float(f):g}", field="fps")
    return f


def check_input_file(path: Path) -> None:
    """A video input: a non-empty regular file (checked by stat: a FIFO or device is never opened) that is
    not a still image (those are refused, never made into a one-frame video)."""
    check_regular_file(path, "video")
    if is_still_image(path):
        raise InputError(f"{path}: is a still image, not a video; use nst image")


def demux_resilient(container: Any, stream: Any, give_up: str, skip: str | None = None) -> Iterator[Any]:
    """Demuxed packets of `stream`; a read error is skipped (warning `skip`, if given) and reading goes
    on, until MAX_DEMUX_ERRORS errors in a row (warning `give_up`). The FFmpeg reason is appended."""
    errors = 0
    demux = container.demux(stream)
    while True:
        try:
            packet = next(demux)
            errors = 0
        except StopIteration:
            return
        except av.FFmpegError as e:
            errors += 1
            if errors > MAX_DEMUX_ERRORS:
                warn(f"{give_up} ({av_message(e)})")
                return
            if skip is not None:
                warn(f"{skip} ({av_message(e)})")
            demux = container.demux(stream)
            continue
        yield packet
