"""AdaIN: decoder loading and shapes, strength, statistics transfer, blending, colour options."""

from __future__ import annotations

import pytest
import torch

from nst import losses as L
from nst.adain import AdaINModel, Decoder, adain, blend_stats, get_adain
from nst.errors import OptionError
from nst.features import VGG19
from nst.io.image import load_image
from nst.methods.adain import AdaINOptions, AdaINStylizer
from nst.methods.base import StyleInput
from nst.options import build

from .conftest import make_photo, make_style


def si(*images: torch.Tensor) -> list[StyleInput]:
    return [StyleInput(f"s{i}", im) for i, im in enumerate(images)]


@pytest.fixture(scope="module")
def model() -> AdaINModel:
    return get_adain(torch.device("cpu"))


@pytest.fixture(scope="module")
def tiny_model(tiny_vgg: VGG19) -> AdaINModel:
    torch.manual_seed(0)
    return AdaINModel(tiny_vgg, Decoder(weights=None, width=0.125))


def test_adain_op_matches_target_statistics() -> None:
    torch.manual_seed(0)
    f = torch.randn(2, 8, 5, 7) * 3 + 1
    m, s = torch.randn(1, 8, 1, 1), torch.rand(1, 8, 1, 1) + 0.5
    out = adain(f, m, s)
    om, os_ = L.mean_std(out)
    assert torch.allclose(om, m.expand_as(om), atol=1e-4) and torch.allclose(os_, s.expand_as(os_), atol=1e-3)


def test_blend_stats_is_weighted_sum() -> None:
    a = (torch.zeros(1, 4, 1, 1), torch.ones(1, 4, 1, 1))
    b = (torch.ones(1, 4, 1, 1), torch.full((1, 4, 1, 1), 3.0))
    m, s = blend_stats([a, b], [0.25, 0.75])
    assert torch.allclose(m, torch.full_like(m, 0.75)) and torch.allclose(s, torch.full_like(s, 2.5))


def test_pretrained_decoder_loads_and_handles_odd_sizes(model: AdaINModel) -> None:
    assert model.decoder.layers.conv4_1.weight.shape == (256, 512, 3, 3)
    x = load_image(make_photo(97, 131))
    s = load_image(make_style(64, 64))
    st = AdaINStylizer(si(s), opts=AdaINOptions(style_size=64, device="cpu"), model=model)
    y = st(x)
    assert y.shape == (1, 3, 97, 131)
    assert torch.isfinite(y).all() and y.min() >= 0 and y.max() <= 1


def test_strength_zero_is_decoder_reconstruction(model: AdaINModel) -> None:
    x = load_image(make_photo(64, 96))
    s = load_image(make_style(64, 64))
    # exact values: pin fp32 (precision "auto" is bf16 on CPUs with native bf16)
    st = AdaINStylizer(si(s), opts=AdaINOptions(strength=0.0, style_size=64, device="cpu", precision="fp32"),
                       model=model)
    with torch.inference_mode():
        recon = model.decoder(model.encode(x))[..., :64, :96].clamp(0, 1)
    assert torch.allclose(st(x), recon, atol=1e-5)


def test_strength_one_moves_statistics_toward_style(model: AdaINModel) -> None:
    x = load_image(make_photo(128, 128))
    s = load_image(make_style(128, 128))
    st = AdaINStylizer(si(s), opts=AdaINOptions(style_size=128, device="cpu"), model=model)
    with torch.inference_mode():
        sm, ss = model.style_stats(s)
        cm, cs = L.mean_std(model.encode(x))
        om, os_ = L.mean_std(model.encode(st(x)))
    d_before = (cm - sm).abs().mean() + (cs - ss).abs().mean()
    d_after = (om - sm).abs().mean() + (os_ - ss).abs().mean()
    assert d_after < 0.6 * d_before, (d_before, d_after)


def test_blend_weights_validated(tiny_model: AdaINModel) -> None:
    s = load_image(make_style(40, 40))
    opts = AdaINOptions(style_size=64, device="cpu")
    with pytest.raises(OptionError, match="weight"):
        AdaINStylizer(si(s, s), [1.0], opts, model=tiny_model)
    with pytest.raises(OptionError, match="non-negative"):
        AdaINStylizer(si(s, s), [1.0, -1.0], opts, model=tiny_model)
    st = AdaINStylizer(si(s, s * 0.5), [3.0, 1.0], opts, model=tiny_model)
    assert st.weights == [0.75, 0.25]


@pytest.mark.parametrize("kw", [dict(preserve_color="luminance"), dict(preserve_color="histogram"),
                                dict(strength=0.5)])
def test_options_give_valid_images(tiny_model: AdaINModel, kw: dict[str, object]) -> None:
    x = load_image(make_photo(48, 64))
    s = load_image(make_style(40, 40))
    st = AdaINStylizer(si(s), opts=AdaINOptions(style_size=64, device="cpu", **kw), model=tiny_model)  # type: ignore[arg-type]
    y = st(torch.cat([x, x]))
    assert y.shape == (2, 3, 48, 64) and torch.isfinite(y).all()


def test_bad_options() -> None:
    for kw in [dict(strength=1.5), dict(preserve_color="sepia"), dict(precision="fp8")]:
        with pytest.raises(OptionError):
            build(AdaINOptions, kw)
