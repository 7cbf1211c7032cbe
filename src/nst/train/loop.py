"""`train()`: the training loop, read top to bottom; setup and resume checks are the helpers below it."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from ..adain import AdaINModel
from ..checkpoints import FORMAT, FORMAT_VERSION, file_sha256, load_checkpoint, read_checkpoint, save_checkpoint
from ..device import autocast, pick_device, use_bf16
from ..errors import InputError, OptionError
from ..features import VGG19, get_vgg
from ..io.image import check_output_path, load_image, resize_long_side, save_image
from ..methods.adain import AdaINOptions, AdaINStylizer
from ..methods.base import StyleInput
from ..nets import ARCHS, TransformerNet, stylize_padded
from ..progress import Progress, ProgressCallback
from ..registry import demo_content, resolve_style, style_label
from .data import PhotoBatches, TeacherBatches, list_images
from .guard import DivergenceGuard, Snapshot
from .objectives import distill_loss, perceptual_loss
from .options import TrainOptions, TrainResult

Loss = Callable[[torch.Tensor, torch.Tensor], dict[str, torch.Tensor]]


def train(opts: TrainOptions, progress: ProgressCallback | None = None, resume: bool = False,
          vgg: VGG19 | None = None, teacher_model: AdaINModel | None = None) -> TrainResult:
    """Train a transformer network for one style; returns where the final checkpoint is.

    Emits Progress(stage="train") every iteration (losses: the weighted terms and "total"), with
    `image` set to the preview when one is saved, and Progress(stage="warning", info=...) for skipped
    photos and rolled-back divergences (see nst.train.guard). With `resume`, continues from the
    checkpoint at `opts.output` (same style, architecture and loss settings required) up to
    `opts.iterations`. `vgg`: the loss network (default: the pretrained VGG19; tests pass a tiny one).
    """
    opts.validate()
    emit = progress or (lambda ev: None)
    device = pick_device(opts.device)
    bf16 = use_bf16(opts.precision, device)
    style_path = resolve_style(opts.style)
    check_checkpoint_output(opts, [style_path])  # a bad -o fails before the photos are listed
    style, style_hash = load_image(style_path), file_sha256(style_path)
    files = list_images(opts.data)
    out = check_checkpoint_output(opts, [style_path] + files)

    def warn(msg: str) -> None:
        emit(Progress("warning", 0, opts.iterations, 0, 1, info=msg))

    torch.manual_seed(opts.seed)
    net = TransformerNet(ARCHS[opts.arch]).to(device).train()
    optimizer = torch.optim.Adam(net.parameters(), lr=opts.lr)
    run = _Run()
    if opts.init and not resume:
        _load_init(net, opts)
    if resume:
        run = _resume(out, opts, style_hash, net, optimizer)
        if run.iteration >= opts.iterations:
            return TrainResult(out, run.iteration, run.losses, [], run.wall_time, 0.0, run.rollbacks)
    start, history, wall = run.iteration, run.losses, run.wall_time
    batches, loss_fn = _objective(opts, style, files, device, warn, vgg, teacher_model)
    preview = load_image(opts.preview_image or demo_content(), size=opts.size * 2 if opts.size >= 128 else opts.size)
    guard = DivergenceGuard(net, optimizer, opts.divergence_factor, start, history, run.rollbacks, wall)

    def write(snap: Snapshot | None) -> None:
        if snap is not None:
            save_checkpoint(out, _checkpoint(opts, style_hash, snap))

    t_run = time.perf_counter()
    for i in range(start, opts.iterations):
        t0, step = time.perf_counter(), i + 1
        batch = batches(i)
        x, target = (batch[0].to(device), batch[1].to(device)) if isinstance(batch, tuple) else (batch.to(device),) * 2
        with autocast(device, bf16):
            y = net(x)
            losses = loss_fn(y, target)
        record = {k: v.item() for k, v in losses.items()}
        history.append(record)
        if guard.diverged(record["total"]):
            good = guard.rollback(step, record["total"])  # raises DivergedError when it keeps diverging
            warn(f"loss {record['total']:.4g} at iteration {step} diverged: rolled back to iteration "
                 f"{good.iteration}'s weights and skipped this batch")
            wall += time.perf_counter() - t0
            continue
        write(guard.commit())  # the held checkpoint led to a normal loss: it is good, write it
        optimizer.zero_grad(set_to_none=True)
        losses["total"].backward()
        if opts.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(net.parameters(), opts.grad_clip)
        optimizer.step()
        guard.accept(record["total"])
        wall += time.perf_counter() - t0
        image = None
        if opts.preview_every and (step % opts.preview_every == 0 or step == opts.iterations):
            net.eval()
            with torch.no_grad():
                image = stylize_padded(net, preview.to(device)).cpu()
            net.train()
            # nst's own previews may be replaced (a resumed run), never one of the run's inputs
            protected = [style_path, *files, *(Path(p) for p in (opts.init, opts.preview_image) if p)]
            save_image(image, check_output_path(preview_path(out, step), protected, True, {".jpg": ".jpg"}))
        if step % opts.checkpoint_every == 0 or step == opts.iterations:
            guard.hold(step, history, wall)
        emit(Progress("train", step, opts.iterations, step, opts.iterations, record, image,
                      info=f"{opts.batch * (step - start) / (time.perf_counter() - t_run):.2f} img/s"))
    if guard.pending is None or guard.pending.iteration != opts.iterations:
        guard.hold(opts.iterations, history, wall)  # the last step diverged: the good weights, at the end
    write(guard.commit())  # the last state: there is no next loss to judge it by
    seconds = time.perf_counter() - t_run
    return TrainResult(out, opts.iterations, history, batches.skipped, wall,
                       opts.batch * (opts.iterations - start) / max(seconds, 1e-9), guard.rollbacks)


#: Extensions a checkpoint written by `train` may have.
CHECKPOINT_EXTENSIONS = (".pt", ".pth")


def check_checkpoint_output(opts: TrainOptions, inputs: list[Path]) -> Path:
    """`opts.output` as a checkpoint path: a .pt/.pth file in a writable folder that is none of the run's
    inputs (`inputs`: the style image and training photos; the --init checkpoint and the preview photo
    are added here), even when it may be overwritten. Existing outputs are the caller's rule (--resume,
    --overwrite)."""
    out = Path(opts.output)
    extra = [Path(p) for p in (opts.init, opts.preview_image) if p]
    return check_output_path(out, inputs + extra, True, {e: e for e in CHECKPOINT_EXTENSIONS})


def preview_path(out: Path, step: int) -> Path:
    """Where the preview after `step` iterations goes: <out-dir>/<out-stem>_previews/iter_<step>.jpg."""
    d = out.parent / f"{out.stem}_previews"
    d.mkdir(parents=True, exist_ok=True)
    return d / f"iter_{step:06d}.jpg"


@dataclass
class _Run:
    """Where a run starts: iteration, loss history, rolled-back iterations, summed step time."""

    iteration: int = 0
    losses: list[dict[str, float]] = field(default_factory=list)
    rollbacks: list[int] = field(default_factory=list)
    wall_time: float = 0.0


def _objective(opts: TrainOptions, style: torch.Tensor, files: list[Path], device: torch.device,
               warn: Callable[[str], None], vgg: VGG19 | None,
               teacher_model: AdaINModel | None) -> tuple[PhotoBatches, Loss]:
    """The batches and the loss: distillation from AdaIN, or the perceptual loss."""
    if opts.teacher == "adain":
        teacher = AdaINStylizer([StyleInput(opts.style, style)],
                                opts=AdaINOptions(style_size=opts.style_size, precision="fp32", device=opts.device),
                                model=teacher_model)
        loss_net = teacher.model.encoder if opts.style_weight > 0 or opts.content_weight > 0 else None
        return TeacherBatches(files, opts.size, opts.batch, opts.seed, teacher, warn), distill_loss(loss_net, opts)
    loss_net = vgg.to(device) if vgg is not None else get_vgg(device)
    loss = perceptual_loss(loss_net, resize_long_side(style, opts.style_size).to(device), opts)
    return PhotoBatches(files, opts.size, opts.batch, opts.seed, warn), loss


def _load_init(net: TransformerNet, opts: TrainOptions) -> None:
    init_net, init_meta = load_checkpoint(opts.init)
    if init_meta.get("arch") != ARCHS[opts.arch].to_dict():
        raise OptionError(f"--init {opts.init} is a different architecture than --arch {opts.arch}")
    net.load_state_dict(init_net.state_dict())


#: Settings a resumed run must share with its checkpoint (they change the loss or the batches).
_RESUME_KEYS = ("arch", "size", "batch", "content_weight", "style_weight", "tv_weight", "content_layers",
                "style_layers", "style_size", "seed", "lr", "teacher", "grad_clip", "divergence_factor")
_NEW_KEYS = ("grad_clip", "divergence_factor")  # absent from older checkpoints: not compared then


def _resume(out: Path, opts: TrainOptions, style_hash: str, net: TransformerNet,
            optimizer: torch.optim.Optimizer) -> _Run:
    if not out.is_file():
        raise InputError(f"{out}: nothing to resume (no checkpoint there yet)")
    ckpt = read_checkpoint(out)
    if "optimizer" not in ckpt:
        raise InputError(f"{out}: an inference-only checkpoint cannot be resumed")
    if ckpt["style"]["sha256"] != style_hash:
        raise OptionError(f"{out} was trained on a different style image; cannot resume with '{opts.style}'")
    prev, mine = ckpt["train"], opts.to_dict()
    for key in _RESUME_KEYS:
        if key in _NEW_KEYS and key not in prev:
            continue
        if prev.get(key) != mine[key]:
            raise OptionError(f"cannot resume: {key} was {prev.get(key)!r} in {out}, now {mine[key]!r}")
    net.load_state_dict(ckpt["state_dict"])
    optimizer.load_state_dict(ckpt["optimizer"])
    return _Run(int(ckpt["iteration"]), list(ckpt.get("losses", [])), [int(v) for v in ckpt.get("rollbacks", [])],
                float(ckpt.get("wall_time", 0.0)))


def _checkpoint(opts: TrainOptions, style_hash: str, snap: Snapshot) -> dict[str, Any]:
    """The checkpoint dict (format in nst.checkpoints) for a training state."""
    return {
        "format": FORMAT, "format_version": FORMAT_VERSION,
        "arch": ARCHS[opts.arch].to_dict(), "arch_name": opts.arch,
        "style": {"name": style_label(opts.style), "sha256": style_hash},
        "train": opts.to_dict(), "iteration": snap.iteration, "losses": snap.losses, "wall_time": snap.wall_time,
        "rollbacks": snap.rollbacks,
        "state_dict": {k: v.detach().cpu() for k, v in snap.net.items()},
        "optimizer": snap.optimizer,
    }


__all__ = ["train", "preview_path"]
