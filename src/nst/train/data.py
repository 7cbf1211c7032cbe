"""Training data: deterministic batches of random crops (and, for distillation, teacher outputs).

Batch composition, crops and flips are a pure function of (seed, item index in the run), so a resumed
run sees exactly the batches an uninterrupted run would have seen.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError

from ..errors import InputError
from ..io import image as _image
from ..io.image import check_image, check_size, pil_to_tensor

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, UnidentifiedImageError, Image.DecompressionBombError, InputError)


def list_images(folder: str | os.PathLike) -> list[Path]:
    """Image files under `folder` (recursive), sorted so runs and resumes see the same order."""
    root = Path(folder)
    if not root.is_dir():
        raise InputError(f"{root}: training data folder not found")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())
    if not files:
        raise InputError(f"{root}: no images found (looked for {', '.join(IMAGE_EXTENSIONS)})")
    return files


def random_crop(path: Path, size: int, rng: np.random.Generator) -> torch.Tensor:
    """Decode one photo, scale its short side to `size`, random size x size crop -> 3 x S x S.

    The image guard runs on the header, before anything is decoded or resized: a photo over the pixel
    limit, or so thin that scaling its short side to `size` would exceed it, is an InputError (skipped
    by the batch makers)."""
    with Image.open(path) as im:
        w, h = im.size
        check_size(w, h, str(path))
        s = size / min(h, w)
        nh, nw = max(size, round(h * s)), max(size, round(w * s))
        if nh * nw > _image.MAX_PIXELS:
            raise InputError(f"{path}: {w}x{h} is too thin to train on at {size} px (scaled, it would be "
                             f"{nw}x{nh}, over the {_image.MAX_PIXELS // 1_000_000} megapixel limit)")
        im.load()
        x = check_image(pil_to_tensor(im), str(path))[0]
    x = F.interpolate(x[None], size=(nh, nw), mode="bilinear", antialias=True, align_corners=False)[0]
    top, left = int(rng.integers(0, nh - size + 1)), int(rng.integers(0, nw - size + 1))
    return x[:, top:top + size, left:left + size].clamp(0, 1)


def to_u8(x: torch.Tensor) -> torch.Tensor:
    return (x.clamp(0, 1) * 255).round().to(torch.uint8)


class PhotoBatches:
    """Deterministic batches of random crops: batch i is a pure function of (seed, i).

    Each epoch visits every photo once in an order drawn from (seed, epoch). A photo that cannot be
    decoded is skipped (recorded in `skipped`, reported through `warn`) and the next one is used.
    """

    def __init__(self, files: Sequence[Path], size: int, batch: int, seed: int,
                 warn: Callable[[str], None] | None = None) -> None:
        self.files = list(files)
        self.size, self.batch, self.seed = size, batch, seed
        self.skipped: list[str] = []
        self._bad: set[int] = set()
        self._perms: dict[int, torch.Tensor] = {}
        self.warn = warn or (lambda msg: None)

    def _index(self, k: int) -> int:
        n = len(self.files)
        epoch, pos = divmod(k, n)
        if epoch not in self._perms:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._perms = {epoch: torch.randperm(n, generator=g)}
        return int(self._perms[epoch][pos])

    def _photo(self, k: int) -> int:
        """Index of the photo for item k of the run: the drawn one, or the next readable one."""
        idx = self._index(k)
        for step in range(len(self.files)):
            j = (idx + step) % len(self.files)
            if j not in self._bad:
                return j
        raise InputError("none of the training images could be read")

    def bad_image(self, j: int, e: Exception) -> None:
        self._bad.add(j)
        self.skipped.append(str(self.files[j]))
        self.warn(f"skipping unreadable training image {self.files[j]} ({type(e).__name__}: {e})")

    def _load(self, k: int) -> torch.Tensor:
        """Item k: a crop, and a flip, drawn from (seed, k)."""
        while True:
            j = self._photo(k)
            rng = np.random.default_rng([self.seed, k])
            try:
                x = random_crop(self.files[j], self.size, rng)
            except _DECODE_ERRORS as e:
                self.bad_image(j, e)
                continue
            return x.flip(-1) if rng.random() < 0.5 else x

    def __call__(self, i: int) -> torch.Tensor:
        """Batch i: B x 3 x size x size RGB [0, 1]."""
        return torch.stack([self._load(i * self.batch + j) for j in range(self.batch)])


class TeacherBatches(PhotoBatches):
    """Batches of (photo crops, teacher outputs) for distillation: batch i is a pure function of (seed, i).

    Each photo has one crop, drawn from (seed, photo), and the teacher runs on it once: both are
    cached as 8-bit (about 0.4 MB per 256 px photo), so after the first epoch a step costs only the
    student. Flips are drawn per item and applied to the photo and the target alike.
    """

    def __init__(self, files: Sequence[Path], size: int, batch: int, seed: int,
                 teacher: Callable[[torch.Tensor], torch.Tensor], warn: Callable[[str], None] | None = None) -> None:
        super().__init__(files, size, batch, seed, warn)
        self.teacher = teacher
        self.cache: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    def _pair(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        while True:
            j = self._photo(k)
            if j not in self.cache:
                try:
                    x = random_crop(self.files[j], self.size, np.random.default_rng([self.seed, 1_000_003, j]))
                except _DECODE_ERRORS as e:
                    self.bad_image(j, e)
                    continue
                t = self.teacher(x[None])[0].cpu()
                self.cache[j] = (to_u8(x), to_u8(t))
            x8, t8 = self.cache[j]
            x, t = x8.float() / 255, t8.float() / 255
            flip = np.random.default_rng([self.seed, k]).random() < 0.5
            return (x.flip(-1), t.flip(-1)) if flip else (x, t)

    def __call__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:  # type: ignore[override]
        """Batch i: (photos, teacher outputs), each B x 3 x size x size RGB [0, 1]."""
        pairs = [self._pair(i * self.batch + j) for j in range(self.batch)]
        return torch.stack([p[0] for p in pairs]), torch.stack([p[1] for p in pairs])
