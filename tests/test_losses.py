"""Losses with known values, and the colour helpers."""

from __future__ import annotations

from typing import Iterable

import pytest
import torch

from nst import losses as L


def test_gram_of_known_tensor() -> None:
    f = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).reshape(1, 2, 1, 2)  # C=2, H=1, W=2
    g = L.gram(f)
    # F F^T = [[1*1+2*2, 1*3+2*4], [3*1+4*2, 3*3+4*4]] = [[5, 11], [11, 25]], divided by C*H*W = 4
    assert torch.allclose(g, torch.tensor([[[5.0, 11.0], [11.0, 25.0]]]) / 4)


def test_gram_is_symmetric_and_batched() -> None:
    f = torch.randn(3, 5, 7, 9)
    g = L.gram(f)
    assert g.shape == (3, 5, 5)
    assert torch.allclose(g, g.transpose(1, 2))


def test_constant_image_has_zero_tv() -> None:
    assert L.tv_loss(torch.full((1, 3, 16, 16), 0.3)).item() == 0.0


def test_tv_of_known_image() -> None:
    x = torch.tensor([[0.0, 1.0], [0.0, 1.0]]).reshape(1, 1, 2, 2)
    # vertical differences all 0; horizontal differences 1 (2 of them): mean 1
    assert L.tv_loss(x).item() == 1.0


def test_content_and_style_losses_zero_at_target() -> None:
    f = torch.randn(1, 4, 6, 6)
    assert L.content_loss(f, f).item() == 0.0
    assert L.style_loss(f, L.gram(f)).item() == 0.0
    assert L.style_loss(f, L.gram(f * 2)).item() > 0


def test_mean_std() -> None:
    f = torch.tensor([1.0, 3.0]).reshape(1, 1, 1, 2)
    m, s = L.mean_std(f, eps=0.0)
    assert m.item() == 2.0 and s.item() == 1.0


def test_yiq_round_trip_and_luminance_transfer() -> None:
    torch.manual_seed(0)
    x = torch.rand(1, 3, 8, 8)
    assert torch.allclose(L.yiq_to_rgb(L.rgb_to_yiq(x)), x, atol=1e-5)
    gray = x.mean(1, keepdim=True).expand(1, 3, 8, 8)
    out = L.luminance_transfer(gray, x)
    # chroma now comes from x, luminance from gray (up to clamping of out-of-gamut pixels)
    assert (L.rgb_to_yiq(out)[:, 1:] - L.rgb_to_yiq(x)[:, 1:]).abs().mean() < 0.01
    assert (L.rgb_to_yiq(out)[:, :1] - L.rgb_to_yiq(gray)[:, :1]).abs().mean() < 0.01


def test_histogram_matching_matches_mean_and_covariance() -> None:
    torch.manual_seed(0)
    src = torch.rand(1, 3, 32, 32) * 0.5
    ref = torch.rand(1, 3, 16, 16) * 0.3 + 0.4
    ref[:, 0] = ref[:, 1] * 0.8 + 0.1  # correlated channels
    out = L.match_histogram(src, ref)

    def stats(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        p = t.reshape(3, -1).double()
        return p.mean(1), torch.cov(p, correction=0)

    mo, co = stats(out)
    mr, cr = stats(ref)
    assert torch.allclose(mo, mr, atol=1e-3) and torch.allclose(co, cr, atol=1e-3)


# ---- the loss modules (one vocabulary for optimize and train) -------------------------------------


def test_temporal_loss_known_values() -> None:
    x = torch.zeros(1, 3, 2, 2)
    prev = torch.ones(1, 3, 2, 2)
    assert L.temporal_loss(x, prev, torch.zeros(1, 1, 2, 2)).item() == 0.0  # nothing trusted: no loss
    assert L.temporal_loss(x, prev, torch.ones(1, 1, 2, 2)).item() == 1.0
    mask = torch.tensor([[1.0, 0.0], [0.0, 0.0]]).reshape(1, 1, 2, 2)
    assert L.temporal_loss(x, prev, mask).item() == 0.25  # one pixel of four differs where trusted
    assert L.TemporalLoss(prev, mask, weight=4.0)(x).item() == 1.0


def test_modules_hold_targets_as_buffers_and_match_the_functions() -> None:
    torch.manual_seed(0)
    f, t = torch.randn(1, 4, 6, 6), torch.randn(1, 4, 6, 6)
    c = L.ContentLoss("relu1_1", t, weight=2.0)
    s = L.StyleLoss("relu1_1", L.gram(t), weight=3.0)
    assert [n for n, _ in c.named_buffers()] == ["target"] and not list(c.parameters())
    assert c(f).item() == pytest.approx(2.0 * L.content_loss(f, t).item())
    assert s(f).item() == pytest.approx(3.0 * L.style_loss(f, L.gram(t)).item())
    assert L.ContentLoss("relu1_1", f)(f).item() == 0.0  # identical features
    assert L.StyleLoss("relu1_1", None)(f, f).item() == 0.0  # target Gram from the target's own features
    assert L.TVLoss(5.0)(torch.full((1, 3, 8, 8), 0.7)).item() == 0.0  # constant image
    x = torch.tensor([[0.0, 1.0], [0.0, 1.0]]).reshape(1, 1, 2, 2)
    assert L.TVLoss(5.0)(x).item() == 5.0


def test_perceptual_loss_runs_the_vgg_once_and_sums_named_terms() -> None:
    from nst.features import VGG19

    torch.manual_seed(0)
    vgg = VGG19(weights=None, width=0.125)
    calls: list[tuple[str, ...]] = []

    def counting(x: torch.Tensor, layers: Iterable[str]) -> dict[str, torch.Tensor]:
        calls.append(tuple(layers))
        return vgg(x, layers)

    style = torch.rand(1, 3, 32, 32)
    x, photo = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    sf = vgg(style, ["relu1_1", "relu2_1"])
    loss = L.PerceptualLoss(counting, {
        "content": [L.ContentLoss("relu2_1", None, 1.5)],
        "style": [L.StyleLoss(n, L.gram(sf[n]), 10.0) for n in ("relu1_1", "relu2_1")],
        "tv": [L.TVLoss(0.5)]})
    out = loss(x, photo)
    assert list(out) == ["content", "style", "tv", "total"]
    assert calls == [("relu2_1",), ("relu2_1", "relu1_1")]  # the target once, x once for every layer
    fx, fp = vgg(x, ["relu1_1", "relu2_1"]), vgg(photo, ["relu2_1"])
    assert out["content"].item() == pytest.approx(1.5 * L.content_loss(fx["relu2_1"], fp["relu2_1"]).item())
    # layers are summed, each with the full weight (the one normalisation, see nst.losses)
    style_sum = sum(L.style_loss(fx[n], L.gram(sf[n])).item() for n in ("relu1_1", "relu2_1"))
    assert out["style"].item() == pytest.approx(10.0 * style_sum, rel=1e-5)
    assert out["tv"].item() == pytest.approx(0.5 * L.tv_loss(x).item())
    assert out["total"].item() == pytest.approx(sum(out[k].item() for k in ("content", "style", "tv")))
    assert L.PerceptualLoss(None, {"tv": [L.TVLoss()], "none": []})(x)["none"].item() == 0.0
