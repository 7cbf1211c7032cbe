"""Train nst's multi-style fast network (nets.MultiStyleNet, conditional instance norm) on several styles.

    python scripts/train_multistyle.py --data PHOTOS --out RUN_DIR [--styles a,b,...] [--seconds 6600]
    python scripts/train_multistyle.py --data PHOTOS --out RUN_DIR --init WEIGHTS.pt   # continue from weights

Each batch item gets a random style (one-hot mix); the loss is the scale-free one of nst.train.addon
(relative content distance at --content-layer, relative Gram distance on relu1_1..relu4_1 against each
style's Grams at --style-size, TV), so one weight works for every painting. Crops of --size from photos
whose short side is scaled to --size. bf16 autocast where the CPU has native bf16. Guard rails: gradient
clipping, and a loss above 4x the recent median (or NaN) rolls back to the last checkpoint.

RUN_DIR gets ckpt.pt (weights + Adam state: --resume is automatic), weights_fp16.pt (an
`nst-multistyle` checkpoint: `nst image photo.jpg --model RUN_DIR/weights_fp16.pt --style starry_night`)
and log.txt (one line per 10 steps: images seen, losses, images/s, wall time).
The photos are not part of nst (../shared/data/train is research-use only): never commit them.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from nst import losses as L
from nst.checkpoints import MULTI_FORMAT, MULTI_FORMAT_VERSION, save_checkpoint
from nst.device import autocast, cpu_name, use_bf16
from nst.features import get_vgg, loss_network
from nst.io.frames import resize_long_side
from nst.io.image import load_image
from nst.nets import MultiStyleConfig, MultiStyleNet
from nst.registry import get_style

STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
DEFAULT_STYLES = "starry_night,the_scream,great_wave,composition_vii,udnie,woman_with_a_hat,shipwreck,wheat_field"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--styles", default=DEFAULT_STYLES)
    p.add_argument("--data", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--init", default=None, help="start from these nst-multistyle weights (same styles)")
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--style-size", type=int, default=512)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--iterations", type=int, default=1_000_000)
    p.add_argument("--seconds", type=float, default=6600, help="stop after this much training time (a chunk)")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--cw", type=float, default=1.0, help="content weight")
    p.add_argument("--sw", type=float, default=4.0, help="style weight")
    p.add_argument("--tw", type=float, default=1.0, help="TV weight")
    p.add_argument("--content-layer", default="relu3_1")
    p.add_argument("--style-layers", default=",".join(STYLE_LAYERS),
                   help="comma-separated VGG19 layers for the Gram loss (relu5_1 reaches larger shapes)")
    p.add_argument("--blocks", type=int, default=5)
    p.add_argument("--skips", action="store_true", help="MultiStyleNet's 1x1 skip convolutions (see nets.py)")
    p.add_argument("--precision", default="auto")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--ckpt-every", type=int, default=50)
    a = p.parse_args()
    style_layers = tuple(a.style_layers.split(","))
    torch.set_num_threads(a.threads)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    log = open(out / "log.txt", "a")

    def say(text: str) -> None:
        print(text, flush=True)
        log.write(text + "\n")
        log.flush()

    names = a.styles.split(",")
    dev = torch.device("cpu")
    bf16 = use_bf16(a.precision, dev)
    vgg = get_vgg(dev)
    lossnet, feat_dtype = loss_network(dev, bf16), torch.bfloat16 if bf16 else torch.float32
    with torch.no_grad():
        grams = []
        for n in names:
            fs = vgg(resize_long_side(load_image(get_style(n).path), a.style_size), style_layers)
            grams.append([L.gram(fs[layer])[0] for layer in style_layers])
    targets = [torch.stack([g[i] for g in grams]) for i in range(len(style_layers))]  # per layer: S x C x C
    files = sorted(f for f in Path(a.data).rglob("*") if f.suffix.lower() in (".jpg", ".jpeg", ".png"))
    cache: dict[int, torch.Tensor] = {}

    def photo(j: int) -> torch.Tensor:  # short side scaled to the crop size, kept as uint8
        if j not in cache:
            with Image.open(files[j]) as im:
                im = im.convert("RGB")
                w, h = im.size
                k = a.size / min(w, h)
                im = im.resize((max(a.size, round(w * k)), max(a.size, round(h * k))), Image.BICUBIC)
                cache[j] = torch.from_numpy(np.asarray(im).copy()).permute(2, 0, 1)
        return cache[j]

    def batch(step: int) -> tuple[torch.Tensor, torch.Tensor]:  # a pure function of the step
        rng = np.random.default_rng([1234, step])
        xs, idx = [], []
        for _ in range(a.batch):
            x = photo(int(rng.integers(len(files))))
            h, w = x.shape[1:]
            t, left = int(rng.integers(h - a.size + 1)), int(rng.integers(w - a.size + 1))
            x = x[:, t:t + a.size, left:left + a.size].float() / 255
            xs.append(x.flip(-1) if rng.random() < 0.5 else x)
            idx.append(int(rng.integers(len(names))))
        return torch.stack(xs), torch.tensor(idx)

    net = MultiStyleNet(MultiStyleConfig(tuple(names), blocks=a.blocks, skips=a.skips))
    net = net.to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(net.parameters(), lr=a.lr)
    ck = out / "ckpt.pt"
    step, wall, seen = 0, 0.0, 0
    if ck.exists():
        d = torch.load(ck, weights_only=True)
        net.load_state_dict(d["net"])
        opt.load_state_dict(d["opt"])
        step, wall, seen = d["step"], d["wall"], d["seen"]
        say(f"resumed at step {step}")
    elif a.init:
        d = torch.load(a.init, weights_only=True)
        res = net.load_state_dict({k: v.float() for k, v in d["state_dict"].items()}, strict=False)
        if res.unexpected_keys or any(not k.startswith("skip") for k in res.missing_keys):
            raise SystemExit(f"{a.init}: weights do not fit ({res.unexpected_keys[:3]} {res.missing_keys[:3]})")
        if res.missing_keys:
            say(f"new (zero) skip convolutions: {res.missing_keys}")
        step, seen = int(d.get("iteration", 0)), int(d.get("train", {}).get("seen", 0))
        say(f"initialised from {a.init} (step {step})")
    say(f"args {json.dumps(vars(a))} photos {len(files)} styles {names} bf16 {bf16}")

    def save() -> None:
        d = {"net": net.state_dict(), "opt": opt.state_dict(), "step": step, "wall": wall, "seen": seen}
        torch.save(d, out / "ckpt.tmp")
        os.replace(out / "ckpt.tmp", ck)
        save_checkpoint(out / "weights_fp16.pt", {
            "format": MULTI_FORMAT, "format_version": MULTI_FORMAT_VERSION, "arch": net.config.to_dict(),
            "style": {"name": "+".join(names)}, "iteration": step, "wall_time": wall,
            "train": {**vars(a), "seen": seen, "hardware": hardware},
            "state_dict": {k: v.half() if v.is_floating_point() else v for k, v in net.state_dict().items()}})

    hardware = f"{os.cpu_count()}-core {cpu_name()} ({'bf16' if bf16 else 'fp32'})"
    hist: list[float] = []
    last, acc = time.time(), {"c": 0.0, "s": 0.0, "tv": 0.0}
    while step < a.iterations and wall < a.seconds:
        t0 = time.time()
        x, idx = batch(step)
        x = x.contiguous(memory_format=torch.channels_last)
        with autocast(dev, bf16):
            y = net(x, F.one_hot(idx, len(names)).float())
        with torch.no_grad():
            fx = lossnet(x.to(feat_dtype), (a.content_layer,))[a.content_layer]
        fy = lossnet(y.to(feat_dtype), (a.content_layer,) + style_layers)
        c = L.relative_feature_distance(fy[a.content_layer], fx)
        s = sum(L.relative_gram_distance(L.gram(fy[layer], precise=False), targets[i][idx]).mean()
                for i, layer in enumerate(style_layers)) / len(style_layers)
        tv = L.tv_loss(y.float())
        loss = a.cw * c + a.sw * s + a.tw * tv
        value = float(loss.detach())
        if not math.isfinite(value) or (len(hist) > 20 and value > 4 * float(np.median(hist[-50:]))):
            say(f"step {step}: loss {value:.4g} abnormal; rolling back to the last checkpoint")
            d = torch.load(ck, weights_only=True)
            net.load_state_dict(d["net"])
            opt.load_state_dict(d["opt"])
            step = d["step"] + 1
            continue
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
        opt.step()
        hist.append(value)
        step, seen, wall = step + 1, seen + a.batch, wall + time.time() - t0
        for k, v in (("c", c), ("s", s), ("tv", tv)):
            acc[k] += float(v.detach())
        if step % 10 == 0:
            say(f"step {step} seen {seen} loss {np.mean(hist[-10:]):.4f} c {acc['c'] / 10:.3f} s {acc['s'] / 10:.3f} "
                f"tv {acc['tv'] / 10:.2e} img/s {10 * a.batch / (time.time() - last):.2f} wall {wall:.0f}")
            last, acc = time.time(), {"c": 0.0, "s": 0.0, "tv": 0.0}
        if step % a.ckpt_every == 0:
            save()
    save()
    say(f"done step {step} seen {seen} wall {wall:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
