"""Training feed-forward style networks (Johnson, Alahi & Fei-Fei 2016), and their checkpoint format.

The loop is `train(opts, progress)`: Adam on the perceptual loss
    content_weight * sum_l MSE(phi_l(net(x)), phi_l(x))            (content layers, default relu2_2)
  + style_weight   * sum_l MSE(G(phi_l(net(x))), G(phi_l(style)))    (style layers, Gram matrices)
  + tv_weight      * TV(net(x))
with phi the frozen VGG19 of `nst.features` and G the Gram matrix normalised by C*H*W (`nst.losses`).

With `teacher="adain"` (`nst train --teacher adain`) the network is distilled from the pretrained
AdaIN model instead: `DistillLoss` compares it with AdaIN's output for the same crop (a pixel term at
half size, a feature term on `content_layers` and a Gram term on `style_layers` against that output's
own Grams). The target is a picture, not only statistics, so it asks for a direct answer at every
pixel; each photo's crop and its teacher output are computed once and cached (`TeacherBatches`), so
later epochs cost only the network and the shallow VGG layers of the feature and Gram terms.

Deviations from the paper, and why:
- Default style layers stop at relu3_1 (Johnson: relu1_2 ... relu4_3). On a 2-core CPU the VGG
  passes are most of a step and stopping at relu3_1 halves them; strokes are a little smaller.
  `--style-layers` restores deeper layers.
- Losses are means (not sums) and Grams are normalised by C*H*W, so weights do not depend on size.
- Random crops with horizontal flips of the training photos (Johnson: 256x256 resized COCO images).

Reproducibility: batch composition, crops and flips are a pure function of (seed, image index in
the run), so `resume=True` continues with exactly the batches an uninterrupted run would have seen,
and the losses match (tests/test_train.py checks this).

Checkpoints are a dict of plain types plus state dicts, read with `torch.load(weights_only=True)`:
    format: "nst-transformer", format_version: 1, arch: ArchConfig.to_dict(), arch_name,
    style: {name, sha256}, train: TrainOptions fields, iteration, losses, wall_time,
    state_dict (fp32, or fp16 for shipped models), optimizer (absent in shipped models).
`load_checkpoint` reads any version up to FORMAT_VERSION through the `LOADERS` registry.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError

from . import losses as L
from .checkpoints import FORMAT, FORMAT_VERSION, file_sha256, load_checkpoint, read_checkpoint, save_checkpoint
from .device import autocast, bf16_supported, pick_device
from .errors import InputError, OptionError
from .features import VGG19, get_vgg
from .image_io import load_image, pil_to_tensor, resize_long_side, save_image
from .nets import ARCHS, TransformerNet, stylize_padded
from .progress import Progress, ProgressCallback

if TYPE_CHECKING:
    from .adain import AdaINModel

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


@dataclass
class TrainOptions:
    """Settings for `train`; the CLI derives its flags and defaults from these fields."""

    style: str = ""                     # bundled style name or image path
    data: str = ""                      # folder of training photos (searched recursively)
    output: str = ""                    # checkpoint path (rewritten every checkpoint_every iterations)
    arch: str = "full"                  # full | slim (nets.ARCHS)
    size: int = 256                     # training crops are size x size
    iterations: int = 2000
    batch: int = 4
    lr: float = 1e-3
    content_weight: float = 1.0
    style_weight: float = 3e4
    tv_weight: float = 1.0
    content_layers: tuple[str, ...] = ("relu2_2",)
    style_layers: tuple[str, ...] = ("relu1_1", "relu2_1", "relu3_1")
    style_size: int = 512               # long side the style image is encoded at
    seed: int = 0
    checkpoint_every: int = 100
    preview_every: int = 100            # 0: no previews
    preview_image: str | None = None    # default: the bundled demo photo
    precision: str = "fp32"             # fp32 | bf16 | auto (bf16 autocast where the CPU/GPU has it)
    teacher: str = ""                   # "" (perceptual loss) | "adain" (distil AdaIN: DistillLoss)
    init: str = ""                      # start from this checkpoint's weights (same architecture): fine-tuning
    device: str | None = None

    def validate(self) -> None:
        if not self.style:
            raise OptionError("a style is needed (--style)")
        if not self.data:
            raise OptionError("a folder of training photos is needed (--data)")
        if not self.output:
            raise OptionError("an output checkpoint path is needed (-o)")
        if self.arch not in ARCHS:
            raise OptionError(f"--arch must be one of {', '.join(ARCHS)}, not '{self.arch}'")
        if self.size < 32 or self.style_size < 32:
            raise OptionError("--size and --style-size must be at least 32")
        for name in ("iterations", "batch", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise OptionError(f"--{name.replace('_', '-')} must be at least 1")
        if self.preview_every < 0:
            raise OptionError("--preview-every must be >= 0")
        for name in ("content_weight", "style_weight", "tv_weight", "lr"):
            v = getattr(self, name)
            if not math.isfinite(v) or v < 0 or (name == "lr" and v == 0):
                raise OptionError(f"--{name.replace('_', '-')} must be a positive number, not {v}")
        if self.precision not in ("auto", "fp32", "bf16"):
            raise OptionError(f"--precision must be auto, fp32 or bf16, not '{self.precision}'")
        if self.teacher not in ("", "adain"):
            raise OptionError(f"--teacher must be adain (or empty for the perceptual loss), not '{self.teacher}'")
        if not self.style_layers or not self.content_layers:
            raise OptionError("at least one content layer and one style layer are needed")

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["content_layers"], d["style_layers"] = list(self.content_layers), list(self.style_layers)
        return d


@dataclass
class TrainResult:
    """What `train` returns: the checkpoint written, the loss history and what was skipped."""

    path: Path
    iterations: int
    losses: list[dict[str, float]]
    skipped: list[str] = field(default_factory=list)
    seconds: float = 0.0
    images_per_second: float = 0.0


# ----------------------------------------------------------------------------------------- data


def list_images(folder: str | os.PathLike) -> list[Path]:
    """Image files under `folder` (recursive), sorted so runs and resumes see the same order."""
    root = Path(folder)
    if not root.is_dir():
        raise InputError(f"{root}: training data folder not found")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())
    if not files:
        raise InputError(f"{root}: no images found (looked for {', '.join(IMAGE_EXTENSIONS)})")
    return files


def _crop(path: Path, size: int, rng: np.random.Generator) -> torch.Tensor:
    """Decode one photo, scale its short side to `size`, random size x size crop -> 3 x S x S."""
    with Image.open(path) as im:
        im.load()
        x = pil_to_tensor(im)[0]
    h, w = x.shape[-2:]
    s = size / min(h, w)
    nh, nw = max(size, round(h * s)), max(size, round(w * s))
    x = F.interpolate(x[None], size=(nh, nw), mode="bilinear", antialias=True, align_corners=False)[0]
    top, left = int(rng.integers(0, nh - size + 1)), int(rng.integers(0, nw - size + 1))
    return x[:, top:top + size, left:left + size].clamp(0, 1)


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
                x = _crop(self.files[j], self.size, rng)
            except _DECODE_ERRORS as e:
                self.bad_image(j, e)
                continue
            return x.flip(-1) if rng.random() < 0.5 else x

    def __call__(self, i: int) -> torch.Tensor:
        """Batch i: B x 3 x size x size RGB [0, 1]."""
        return torch.stack([self._load(i * self.batch + j) for j in range(self.batch)])


_DECODE_ERRORS = (OSError, SyntaxError, ValueError, UnidentifiedImageError, Image.DecompressionBombError)


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
                    x = _crop(self.files[j], self.size, np.random.default_rng([self.seed, 1_000_003, j]))
                except _DECODE_ERRORS as e:
                    self.bad_image(j, e)
                    continue
                t = self.teacher(x[None])[0].cpu()
                self.cache[j] = (_to_u8(x), _to_u8(t))
            x8, t8 = self.cache[j]
            x, t = x8.float() / 255, t8.float() / 255
            flip = np.random.default_rng([self.seed, k]).random() < 0.5
            return (x.flip(-1), t.flip(-1)) if flip else (x, t)

    def __call__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:  # type: ignore[override]
        """Batch i: (photos, teacher outputs), each B x 3 x size x size RGB [0, 1]."""
        pairs = [self._pair(i * self.batch + j) for j in range(self.batch)]
        return torch.stack([p[0] for p in pairs]), torch.stack([p[1] for p in pairs])


def _to_u8(x: torch.Tensor) -> torch.Tensor:
    return (x.clamp(0, 1) * 255).round().to(torch.uint8)


# ----------------------------------------------------------------------------------------- loss


class PerceptualLoss(torch.nn.Module):
    """Johnson et al.'s perceptual loss; holds the style's Gram targets as buffers (computed once).

    forward(y, x): y the network output, x the input photos (both B x 3 x H x W) -> dict of
    weighted scalar losses "content", "style", "tv" and their sum "total".
    """

    def __init__(self, vgg: VGG19, style: torch.Tensor, opts: TrainOptions) -> None:
        super().__init__()
        self.vgg = vgg
        self.content_layers, self.style_layers = tuple(opts.content_layers), tuple(opts.style_layers)
        self.cw, self.sw, self.tw = opts.content_weight, opts.style_weight, opts.tv_weight
        with torch.no_grad():
            feats = vgg(style, self.style_layers)
        for i, name in enumerate(self.style_layers):
            self.register_buffer(f"gram{i}", L.gram(feats[name]))

    def forward(self, y: torch.Tensor, x: torch.Tensor) -> dict[str, torch.Tensor]:
        layers = self.content_layers + self.style_layers
        with torch.no_grad():
            fx = self.vgg(x, self.content_layers)
        fy = self.vgg(y, layers)
        content = sum(L.content_loss(fy[n], fx[n]) for n in self.content_layers)
        style = sum(L.style_loss(fy[n], getattr(self, f"gram{i}")) for i, n in enumerate(self.style_layers))
        tv = L.tv_loss(y.float())
        out = {"content": self.cw * content, "style": self.sw * style, "tv": self.tw * tv}
        out["total"] = out["content"] + out["style"] + out["tv"]
        return out  # type: ignore[return-value]


class DistillLoss(torch.nn.Module):
    """Loss for `--teacher adain`, from the teacher's output t for the same photos:

        mean |pool2(y) - pool2(t)|                                  (layout and colour, at half size)
      + content_weight * sum_l MSE(phi_l(y), phi_l(t))              (the teacher's features: sharpness)
      + style_weight * sum_l MSE(G(phi_l(y)), G(phi_l(t)))           (texture: the teacher's own Grams)
      + tv_weight * TV(y)

    A pixel loss at full size asks for the teacher's brush strokes at exact positions; a small network
    learns those last and meanwhile averages them into blur. So the pixel term compares 2x2 averages,
    and the strokes are asked for through VGG features of the teacher's output (`opts.content_layers`:
    a blurred stroke has different features than a sharp one) and their statistics (Gram matrices of
    `opts.style_layers`, per image: the texture AdaIN paints on this photo, not the painting's).
    forward(y, t) -> dict of weighted scalar losses "teacher", "content", "style", "tv" and "total".
    """

    def __init__(self, vgg: VGG19 | None, opts: TrainOptions) -> None:
        super().__init__()
        self.vgg = vgg
        self.content_layers = tuple(opts.content_layers) if opts.content_weight > 0 and vgg is not None else ()
        self.style_layers = tuple(opts.style_layers) if opts.style_weight > 0 and vgg is not None else ()
        self.cw, self.sw, self.tw = opts.content_weight, opts.style_weight, opts.tv_weight

    def forward(self, y: torch.Tensor, t: torch.Tensor) -> dict[str, torch.Tensor]:
        content, style = y.new_zeros(()), y.new_zeros(())
        layers = tuple(dict.fromkeys(self.content_layers + self.style_layers))
        if layers:
            assert self.vgg is not None
            with torch.no_grad():
                ft = self.vgg(t, layers)
            fy = self.vgg(y, layers)
            content = sum((L.content_loss(fy[n], ft[n]) for n in self.content_layers), content)
            style = sum((L.style_loss(fy[n], L.gram(ft[n])) for n in self.style_layers), style)
        pixel = F.l1_loss(F.avg_pool2d(y.float(), 2), F.avg_pool2d(t, 2))
        out = {"teacher": pixel, "content": self.cw * content, "style": self.sw * style,
               "tv": self.tw * L.tv_loss(y.float())}
        out["total"] = out["teacher"] + out["content"] + out["style"] + out["tv"]
        return out


# ----------------------------------------------------------------------------------------- loop


def _style_identity(spec: str) -> tuple[str, Path]:
    from .registry import resolve_style, style_label

    return style_label(spec), resolve_style(spec)


def train(opts: TrainOptions, progress: ProgressCallback | None = None, resume: bool = False,
          vgg: VGG19 | None = None, teacher_model: "AdaINModel | None" = None) -> TrainResult:
    """Train a transformer network for one style; returns where the final checkpoint is.

    Emits Progress(stage="train") every iteration (losses: content/style/tv/total), with `image` set
    to the preview when one is saved, and Progress(stage="warning", info=...) for skipped photos.
    With `resume`, continues from the checkpoint at `opts.output` (same style, architecture and
    loss settings required) up to `opts.iterations`. `vgg`: the loss network (default: the pretrained
    VGG19; tests pass a tiny random one).
    """
    opts.validate()
    emit = progress or (lambda ev: None)
    device = pick_device(opts.device)
    use_bf16 = opts.precision == "bf16" or (opts.precision == "auto" and bf16_supported(device))
    style_name, style_path = _style_identity(opts.style)
    style = load_image(style_path)
    style_hash = file_sha256(style_path)
    files = list_images(opts.data)
    out = Path(opts.output)

    def warn(msg: str) -> None:
        emit(Progress("warning", 0, opts.iterations, 0, 1, info=msg))

    torch.manual_seed(opts.seed)
    net = TransformerNet(ARCHS[opts.arch]).to(device).train()
    optimizer = torch.optim.Adam(net.parameters(), lr=opts.lr)
    start, history, wall = 0, [], 0.0
    if opts.init and not resume:
        init_net, init_meta = load_checkpoint(opts.init)
        if init_meta.get("arch") != ARCHS[opts.arch].to_dict():
            raise OptionError(f"--init {opts.init} is a different architecture than --arch {opts.arch}")
        net.load_state_dict(init_net.state_dict())
    if resume:
        if not out.is_file():
            raise InputError(f"{out}: nothing to resume (no checkpoint there yet)")
        ckpt = read_checkpoint(out)
        if "optimizer" not in ckpt:
            raise InputError(f"{out}: an inference-only checkpoint cannot be resumed")
        if ckpt["style"]["sha256"] != style_hash:
            raise OptionError(f"{out} was trained on a different style image; cannot resume with '{opts.style}'")
        prev = ckpt["train"]
        for key in ("arch", "size", "batch", "content_weight", "style_weight", "tv_weight", "content_layers",
                    "style_layers", "style_size", "seed", "lr", "teacher"):
            mine = opts.to_dict()[key]
            if prev.get(key) != mine:
                raise OptionError(f"cannot resume: {key} was {prev.get(key)!r} in {out}, now {mine!r}")
        net.load_state_dict(ckpt["state_dict"])
        optimizer.load_state_dict(ckpt["optimizer"])
        start, history, wall = int(ckpt["iteration"]), list(ckpt.get("losses", [])), float(ckpt.get("wall_time", 0.0))
        if start >= opts.iterations:
            return TrainResult(out, start, history, [], wall, 0.0)

    batches: PhotoBatches
    loss_fn: Callable[[torch.Tensor, torch.Tensor], dict[str, torch.Tensor]]
    if opts.teacher == "adain":
        from .methods.adain import AdaINOptions, AdaINStylizer
        from .methods.base import StyleInput

        teacher = AdaINStylizer([StyleInput(opts.style, style)],
                                opts=AdaINOptions(style_size=opts.style_size, precision="fp32", device=opts.device),
                                model=teacher_model)
        batches = TeacherBatches(files, opts.size, opts.batch, opts.seed, teacher, warn)
        loss_net = teacher.model.encoder if opts.style_weight > 0 or opts.content_weight > 0 else None
        loss_fn = DistillLoss(loss_net, opts)
    else:
        loss_net = vgg.to(device) if vgg is not None else get_vgg(device)
        loss_fn = PerceptualLoss(loss_net, resize_long_side(style, opts.style_size).to(device), opts)
        batches = PhotoBatches(files, opts.size, opts.batch, opts.seed, warn)
    preview = load_image(opts.preview_image or _demo_photo(), size=opts.size * 2 if opts.size >= 128 else opts.size)

    def checkpoint(iteration: int) -> None:
        save_checkpoint(out, {
            "format": FORMAT, "format_version": FORMAT_VERSION,
            "arch": ARCHS[opts.arch].to_dict(), "arch_name": opts.arch,
            "style": {"name": style_name, "sha256": style_hash},
            "train": opts.to_dict(), "iteration": iteration, "losses": history, "wall_time": wall,
            "state_dict": {k: v.detach().cpu() for k, v in net.state_dict().items()},
            "optimizer": optimizer.state_dict(),
        })

    t_run = time.perf_counter()
    for i in range(start, opts.iterations):
        t0 = time.perf_counter()
        batch = batches(i)
        x, target = (batch[0].to(device), batch[1].to(device)) if isinstance(batch, tuple) else (batch.to(device),) * 2
        with autocast(device, use_bf16):
            y = net(x)
            losses = loss_fn(y, target)
        optimizer.zero_grad(set_to_none=True)
        losses["total"].backward()
        optimizer.step()
        record = {k: v.item() for k, v in losses.items()}
        if not math.isfinite(record["total"]):
            raise FloatingPointError(f"training diverged at iteration {i + 1} (loss {record['total']}); "
                                     "try a lower --lr")
        history.append(record)
        wall += time.perf_counter() - t0
        step = i + 1
        image = None
        if opts.preview_every and (step % opts.preview_every == 0 or step == opts.iterations):
            net.eval()
            with torch.no_grad():
                image = stylize_padded(net, preview.to(device)).cpu()
            net.train()
            save_image(image, preview_path(out, step))
        if step % opts.checkpoint_every == 0 or step == opts.iterations:
            checkpoint(step)
        emit(Progress("train", step, opts.iterations, step, opts.iterations, record, image,
                      info=f"{opts.batch * (step - start) / (time.perf_counter() - t_run):.2f} img/s"))
    seconds = time.perf_counter() - t_run
    return TrainResult(out, opts.iterations, history, batches.skipped, wall,
                       opts.batch * (opts.iterations - start) / max(seconds, 1e-9))


def preview_path(out: Path, step: int) -> Path:
    """Where the preview after `step` iterations goes: <out-dir>/<out-stem>_previews/iter_<step>.jpg."""
    d = out.parent / f"{out.stem}_previews"
    d.mkdir(parents=True, exist_ok=True)
    return d / f"iter_{step:06d}.jpg"


def _demo_photo() -> Path:
    from .registry import demo_content

    return demo_content()
