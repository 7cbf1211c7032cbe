"""A new style in minutes: train only one style's norm parameters on a multi-style network's frozen trunk.

`nst train --base NETWORK --style my.jpg --data photos/ -o my_style.pt` (Dumoulin et al. 2017, §4: a
new style needs only its instance-norm scales and shifts, a few thousand numbers). The convolutions
stay frozen, so a step costs one forward and backward pass of the small network and the VGG, and far
fewer steps are needed than for a whole network. The result is an add-on file (format
"nst-style-addon") of a few kB: the base network's identity and the new style's parameters; loading
it loads the base and appends the style.

The loss is scale-free, the quality metrics of bench/quality.py made differentiable:
    content_weight * mean_l D(phi_l(y), phi_l(x))   + style_weight * mean_l D_G(G(phi_l(y)), G_l(style))
  + tv_weight * TV(y)
with D(a, b) = mean((a - b)^2) / mean(b^2), so one weight works for every painting and layer.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from .. import losses as L
from ..checkpoints import (
    ADDON_FORMAT,
    ADDON_FORMAT_VERSION,
    file_sha256,
    load_checkpoint,
    read_checkpoint,
    save_checkpoint,
)
from ..device import autocast, pick_device, use_bf16
from ..errors import InputError, OptionError
from ..features import LAYER_NAMES, get_vgg, loss_network
from ..io.frames import resize_long_side
from ..io.image import check_output_path, load_image
from ..nets import CondInstanceNorm, MultiStyleNet, add_style, style_norms
from ..options import check, option
from ..progress import Progress, ProgressCallback
from ..registry import model_file, resolve_style, style_label
from .data import PhotoBatches, list_images


@dataclass
class AddStyleOptions:
    """Settings of `train_style`; `nst train --base` takes its flags from these fields."""

    base: str = option("", help="multi-style network to add the style to: its file, or a bundled style it paints")
    style: str = option("", help="bundled style name or style image path")
    data: str = option("", help="folder of training photos (searched recursively)")
    output: str = option("", help="add-on file to write (.pt)", flag="-o")
    iterations: int = option(1000, help="training iterations (batches); 1000 reach the quality bar on the shipped "
                             "network in 14-28 min on 2 cores (src/nst/models/README.md)", min=1, max=1_000_000)
    batch: int = option(4, help="photos per batch", min=1, max=64)
    size: int = option(256, help="training crop size (pixels)", min=64, max=1024)
    style_size: int = option(512, help="long side the style image is encoded at (larger: bigger strokes)",
                             min=64, max=4096)
    lr: float = option(0.02, help="Adam learning rate of the norm parameters", min=0.0, exclusive_min=True, max=1.0)
    content_weight: float = option(1.0, help="weight of the relative content distance", min=0.0, max=1e6)
    style_weight: float = option(12.5, help="weight of the relative Gram distance (the shipped network's; 4 left "
                                 "the style too weak)", min=0.0, max=1e6)
    tv_weight: float = option(1.0, help="weight of the total-variation (smoothness) loss", min=0.0, max=1e6)
    content_layers: tuple[str, ...] = option(("relu3_1",), help="comma-separated VGG19 layers", items=LAYER_NAMES)
    style_layers: tuple[str, ...] = option(("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"),
                                           help="comma-separated VGG19 layers (the shipped network's were trained "
                                           "with these)", items=LAYER_NAMES)
    seed: int = option(0, help="random seed (batches, crops)", min=0, max=2**63 - 1)
    checkpoint_every: int = option(50, help="write the add-on every N iterations (and at the end)", min=1,
                                   metavar="N")
    precision: str = option("auto", help="bf16 autocast (auto: only where the hardware has native bf16)",
                            choices=("auto", "fp32", "bf16"))
    device: str | None = option(None, help="cpu, cuda, cuda:N (default: CUDA when present, else CPU)")

    def validate(self) -> None:
        check(self)
        for name in ("base", "style", "data", "output"):
            if not getattr(self, name):
                raise OptionError("is needed", field=name)


@dataclass
class AddStyleResult:
    path: Path
    iterations: int
    seconds: float
    losses: list[dict[str, float]]


def _base(spec: str) -> tuple[MultiStyleNet, Path]:
    path = model_file(spec)
    net, _ = load_checkpoint(path)
    if not isinstance(net, MultiStyleNet):
        raise InputError(f"{path}: not a multi-style network (add-on styles need one; use `nst train` without --base)")
    return net, path


def train_style(opts: AddStyleOptions, progress: ProgressCallback | None = None,
                resume: bool = False) -> AddStyleResult:
    """Train one new style's norm parameters on `opts.base`'s frozen trunk; write the add-on file."""
    opts.validate()
    emit = progress or (lambda ev: None)
    device = pick_device(opts.device)
    bf16 = use_bf16(opts.precision, device)
    base, base_path = _base(opts.base)
    name = style_label(opts.style)
    style_path = resolve_style(opts.style)
    style = resize_long_side(load_image(style_path), opts.style_size).to(device)
    files = list_images(opts.data)
    # a .pt/.pth path that is none of the run's inputs, even when it may be overwritten
    out = check_output_path(Path(opts.output), [style_path, base_path, *files], True,
                            {e: e for e in (".pt", ".pth")})
    start, history, wall, norms = 0, [], 0.0, None
    if resume:
        prev = read_checkpoint(out)
        if prev.get("format") != ADDON_FORMAT or prev["base"]["sha256"] != file_sha256(base_path):
            raise InputError(f"{out}: not an add-on of {base_path.name}; cannot resume it")
        start, history, wall = int(prev["iteration"]), list(prev["losses"]), float(prev["wall_time"])
        norms = {k: (v[0].float(), v[1].float()) for k, v in prev["norms"].items()}
    net = add_style(base, name, norms).to(device, memory_format=torch.channels_last).train()  # type: ignore[call-overload]
    for p in net.parameters():
        p.requires_grad_(False)
    new = len(net.config.styles) - 1
    params = []
    for m in net.modules():
        if isinstance(m, CondInstanceNorm):
            for p in (m.weight, m.bias):
                p.requires_grad_(True)
                mask = torch.zeros_like(p)
                mask[new] = 1.0
                p.register_hook(lambda g, mask=mask: g * mask)  # only the new style's row learns
                params.append(p)
    optimizer = torch.optim.Adam(params, lr=opts.lr)
    with torch.no_grad():
        sf = get_vgg(device)(style, opts.style_layers)
    targets = {n: L.gram(sf[n]) for n in opts.style_layers}
    vgg, dtype = loss_network(device, bf16), torch.bfloat16 if bf16 else torch.float32
    batches = PhotoBatches(files, opts.size, opts.batch, opts.seed,
                           lambda msg: emit(Progress("warning", 0, opts.iterations, 0, 1, info=msg)))
    mix = torch.zeros(opts.batch, new + 1, device=device)
    mix[:, new] = 1.0
    for step in range(start, opts.iterations):
        t0 = time.perf_counter()
        x = batches(step).to(device).contiguous(memory_format=torch.channels_last)
        with autocast(device, bf16):
            y = net(x, mix[:x.shape[0]])
        with torch.no_grad():
            fx = vgg(x.to(dtype), opts.content_layers)
        fy = vgg(y.to(dtype), tuple(dict.fromkeys(opts.content_layers + opts.style_layers)))
        c = torch.stack([L.relative_feature_distance(fy[n], fx[n]) for n in opts.content_layers]).mean()
        s = torch.stack([L.relative_gram_distance(L.gram(fy[n], precise=False), targets[n]).mean()
                         for n in opts.style_layers]).mean()
        tv = L.tv_loss(y.float())
        total = opts.content_weight * c + opts.style_weight * s + opts.tv_weight * tv
        if not torch.isfinite(total):
            raise OptionError("the loss is not finite: lower --lr", field="lr")
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        optimizer.step()
        wall += time.perf_counter() - t0
        record = {k: float(v.detach()) for k, v in (("content", c), ("style", s), ("tv", tv), ("total", total))}
        history.append(record)
        if (step + 1) % opts.checkpoint_every == 0 or step + 1 == opts.iterations:
            _save(out, net, name, base_path, style_path, opts, step + 1, history, wall)
        emit(Progress("train", step + 1, opts.iterations, step + 1, opts.iterations, record))
    if start >= opts.iterations and not out.exists():
        _save(out, net, name, base_path, style_path, opts, start, history, wall)
    return AddStyleResult(out, opts.iterations, wall, history)


def _save(out: Path, net: MultiStyleNet, name: str, base: Path, style: Path, opts: AddStyleOptions, iteration: int,
          history: list[dict[str, float]], wall: float) -> None:
    norms = {k: (w.half(), b.half()) for k, (w, b) in style_norms(net, name).items()}
    save_checkpoint(out, {"format": ADDON_FORMAT, "format_version": ADDON_FORMAT_VERSION,
                          "base": {"spec": opts.base, "file": base.name, "sha256": file_sha256(base)},
                          "style": {"name": name, "sha256": file_sha256(style)},
                          "norms": norms, "train": dataclasses.asdict(opts), "iteration": iteration,
                          "losses": history[-200:], "wall_time": wall})
