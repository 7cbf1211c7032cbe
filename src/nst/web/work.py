"""The page's work, on the library's public functions: uploads checked, then image, examine and video
jobs, and the webcam's stylizers. Nothing here knows about HTTP (app.py does).

Every check that the CLI makes is the library's own and runs here too, before a job is queued: the
image guard (`nst.io.image.load_image`: corrupt, empty, decompression bombs), `nst.video.probe`, the
method's options (`nst.methods`). The server adds its limits (size, video length and resolution).
"""

from __future__ import annotations

import io
import re
import threading
from pathlib import Path
from typing import Any, Sequence

import torch

from ..errors import InputError
from ..examine import examine
from ..io.image import load_image, resize_long_side, save_image, tensor_to_pil
from ..methods import make_stylizer
from ..progress import Progress
from ..registry import shipped_models, style_label, styles
from .jobs import Job
from .limits import ServerLimits

#: One upload name part: letters, digits, dot, dash and underscore; anything else becomes "_".
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
#: Images decoded at once while checking uploads (each may be up to 100 megapixels).
_DECODING = threading.BoundedSemaphore(2)
CAMERA_MAX_SIDE = 640


def safe_name(filename: str | None, default: str = "upload") -> str:
    """An upload's file name reduced to one harmless component ("../../etc/passwd" -> "passwd")."""
    base = str(filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = _UNSAFE.sub("_", base).lstrip(".")[-80:]
    return base or default


def check_photo(path: Path, size: int) -> torch.Tensor:
    """The uploaded photo, decoded under the image guard and resized to `size` (what the job keeps)."""
    with _DECODING:
        return resize_long_side(load_image(path), size)


def check_painting(path: Path) -> None:
    """An uploaded painting decodes (the job reads it again through the method, at its style size)."""
    with _DECODING:
        load_image(path, size=64)


def check_video(path: Path, limits: ServerLimits) -> Any:
    """An uploaded video: probed (the CLI's messages for a file that is not one), and within the limits."""
    from ..video import probe

    info = probe(path)
    name = path.name
    if info.duration is not None and info.duration > limits.max_video_seconds:
        raise InputError(f"{name}: the video is {info.duration:.1f} s long; this server takes at most "
                         f"{limits.max_video_seconds:g} s")
    if max(info.width, info.height) > limits.max_video_side:
        raise InputError(f"{name}: the video is {info.width}x{info.height}; this server takes at most "
                         f"{limits.max_video_side} px on the long side")
    return info


def run_image(job: Job, photo: torch.Tensor, method: str, style_specs: Sequence[str], values: dict[str, Any]) -> None:
    """Stylise one photo (already at its output size); the result is `result.png`, full size."""
    stylizer = make_stylizer(method, list(style_specs), progress=job.progress, **values)
    job.check()
    y = stylizer(photo)
    job.check()
    job.result = save_image(y, job.dir / "result.png")


def run_examine(job: Job, photo: Path, size: int) -> None:
    """Every bundled style on the photo (each with its fastest method), one tile each as they finish."""
    names = list(styles())
    job.total, job.steps = float(len(names)), len(names)

    def tile(label: str, seconds: float, path: Path) -> None:
        from ..methods import resolve_method

        job.tiles.append({"style": label, "title": styles()[label].title, "method": resolve_method("auto", [label]),
                          "ms": round(seconds * 1000), "path": path})
        job.progress(Progress("examine", len(job.tiles), len(names), float(len(job.tiles)), float(len(names))))

    job.result = examine(photo, names, job.dir / "examine", size=size, on_result=tile)


def run_video(job: Job, src: Path, method: str, style_specs: Sequence[str], values: dict[str, Any],
              size: int) -> None:
    """Stylise a video file with its sound; the result is `result.mp4` (H.264 + the source's audio)."""
    from ..video import VideoOptions, stylize_video

    if method == "optimize":
        values = dict(values, warm_start=True)  # as `nst video`: each frame starts from the previous result
    stylizer = make_stylizer(method, list(style_specs), **values)
    out = job.dir / "result.mp4"
    stylize_video(src, out, stylizer, VideoOptions(size=size), settings=stylizer.config(), progress=job.progress)
    job.result = out


class CameraStyles:
    """The webcam's stylizers: the shipped networks, one per style, all built before the first frame is
    needed (in the background), so switching styles never waits for weights to load."""

    def __init__(self) -> None:
        from ..bank import StylizerBank

        self.names = list(shipped_models())
        self.bank = StylizerBank.from_specs(self.names, "net") if self.names else None
        self._warm = threading.Thread(target=self._build_all, name="nst-web-camera-warm", daemon=True)
        self._started = False
        self._lock = threading.Lock()

    def _build_all(self) -> None:
        assert self.bank is not None
        x = torch.rand(1, 3, 64, 64)
        for i in range(len(self.names)):
            with torch.inference_mode():
                self.bank.get(i)(x)  # builds it, and runs it once (first calls allocate)

    def warm(self) -> None:
        with self._lock:
            if not self._started and self.bank is not None:
                self._started = True
                self._warm.start()

    def index(self, name: str) -> int:
        if name not in self.names:
            raise InputError(f"style '{name}' has no trained network for the webcam (these do: "
                             f"{', '.join(self.names)})")
        return self.names.index(name)

    def frame(self, data: bytes, style: int, size: int) -> bytes:
        """One camera frame (JPEG or PNG bytes, under the image guard) -> the stylised frame as JPEG."""
        assert self.bank is not None
        x = resize_long_side(load_image(data), max(16, min(size, CAMERA_MAX_SIDE)))
        with torch.inference_mode():
            y = self.bank.get(style)(x)
        buf = io.BytesIO()
        tensor_to_pil(y).save(buf, format="JPEG", quality=82)
        return buf.getvalue()


def download_name(photo_name: str, style_specs: Sequence[str], ext: str) -> str:
    """The name the browser saves a result under: <photo>_<style>.<ext>, as `nst image` names it."""
    stem = Path(safe_name(photo_name, "photo")).stem or "photo"
    return f"{stem}_{'+'.join(safe_name(style_label(s)) for s in style_specs) or 'result'}{ext}"
