"""A folder of frames -> a video, in natural order (frame2 before frame10), optionally with sound.

File names never decide order for a video nst stylises itself; `natural_key` is for folders of
frames made elsewhere.
"""

from __future__ import annotations

import os
import re
import time
from fractions import Fraction
from pathlib import Path

import av

from ..errors import InputError
from ..io.files import check_input_file
from ..io.frames import resize
from ..io.image import check_output_path, load_image
from ..progress import Progress, ProgressCallback
from .common import av_message, check_fps, warn
from .pipeline import VideoResult
from .writer import VIDEO_FORMATS, VideoWriter

#: Image files `frames_to_video` picks up from a folder.
FRAME_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")

_DIGITS = re.compile(r"(\d+)")


def natural_key(name: str) -> tuple:
    """Sort key putting 'frame2' before 'frame10' (numbers compared as numbers, case ignored)."""
    parts = _DIGITS.split(name)
    return tuple((int(p) if i % 2 else p.lower()) for i, p in enumerate(parts)) + (name,)


def list_frames(folder: str | os.PathLike) -> list[Path]:
    """Image files in `folder`, in natural numeric order."""
    d = Path(folder)
    if not d.exists():
        raise InputError(f"{d}: no such folder")
    if not d.is_dir():
        raise InputError(f"{d}: not a folder")
    files = [p for p in d.iterdir() if p.suffix.lower() in FRAME_EXTS and p.is_file() and not p.name.startswith(".")]
    if not files:
        raise InputError(f"{d}: no image files ({', '.join(FRAME_EXTS)})")
    return sorted(files, key=lambda p: natural_key(p.name))


def _open_video_or_audio(p: Path) -> None:
    check_input_file(p)
    try:
        with av.open(str(p)) as c:
            if not c.streams.audio and not c.streams.video:
                raise InputError(f"{p}: no audio or video streams")
    except (av.FFmpegError, UnicodeDecodeError) as e:
        raise InputError(f"{p}: not a media file: {av_message(e)}") from None


def frames_to_video(folder: str | os.PathLike, out: str | os.PathLike, fps: float | Fraction | str,
                    audio_from: str | os.PathLike | None = None, *, overwrite: bool = False,
                    progress: ProgressCallback | None = None) -> VideoResult:
    """Assemble a folder of frames (natural order) into a video at `fps`, with `audio_from`'s sound.

    Every frame is scaled to the first frame's size if it differs (with a warning).
    """
    t0 = time.perf_counter()
    rate = check_fps(fps)
    files = list_frames(folder)
    inputs = [Path(audio_from)] if audio_from is not None else []
    if audio_from is not None:
        _open_video_or_audio(Path(audio_from))
    out_p = check_output_path(out, inputs + files[:1], overwrite, VIDEO_FORMATS)
    first = load_image(files[0])
    h, w = first.shape[-2:]
    warned = False
    with VideoWriter(out_p, rate, w, h, audio_from) as writer:
        for i, f in enumerate(files):
            x = first if i == 0 else load_image(f)
            if x.shape[-2:] != (h, w):
                if not warned:
                    warn(f"{f}: {x.shape[-1]}x{x.shape[-2]} differs from the first frame ({w}x{h}); scaling")
                    warned = True
                x = resize(x, w, h)
            writer.write(x)
            if progress is not None:
                progress(Progress("frames2video", i + 1, len(files), float(i + 1), float(len(files))))
        if audio_from is not None and writer.audio is None and out_p.suffix.lower() != ".gif":
            warn(f"{audio_from}: has no audio track; the video is silent")
    return VideoResult(out_p, writer.frames, writer.duration, writer.enc_w, writer.enc_h, rate,
                       writer.audio_description, seconds=time.perf_counter() - t0)
