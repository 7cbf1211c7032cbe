"""Gatys optimisation: options, determinism, multi-scale schedule, and a real end-to-end run."""

from __future__ import annotations

import pytest
import torch

from nst.errors import DivergedError, NSTError, OptionError
from nst.features import VGG19
from nst.io.image import load_image, resize_long_side
from nst.optimize import OptimizeOptions, blend_weights, gatys_loss, optimize, scale_sizes

from .conftest import make_photo, make_style


@pytest.fixture(scope="module")
def images() -> tuple[torch.Tensor, torch.Tensor]:
    """The content at the output size (optimize keeps its input size), and a style image."""
    return load_image(make_photo(48, 64), size=96), load_image(make_style(40, 40))


def _opts(**kw: object) -> OptimizeOptions:
    base: dict[str, object] = dict(iterations=4, coarse_iterations=3, min_size=48, device="cpu")
    base.update(kw)
    return OptimizeOptions(**base)  # type: ignore[arg-type]


def test_scale_schedule() -> None:
    assert scale_sizes(512, 128, True) == [128, 256, 512]
    assert scale_sizes(512, 128, False) == [512]
    assert scale_sizes(100, 128, True) == [100]


@pytest.mark.parametrize("kw", [dict(), dict(optimizer="adam"), dict(init="noise"), dict(init="style"),
                                dict(multiscale=False), dict(preserve_color="luminance"),
                                dict(preserve_color="histogram"), dict(style_scale=0.5),
                                dict(content_layers=("relu3_1",), style_layers=("relu1_1", "relu2_1"))])
def test_options_run_and_give_finite_images(tiny_vgg: VGG19, images: tuple[torch.Tensor, torch.Tensor],
                                            kw: dict[str, object]) -> None:
    c, s = images
    out = optimize(c, [s], _opts(**kw), vgg=tiny_vgg)
    assert out.shape == (1, 3, 72, 96)
    assert torch.isfinite(out).all() and out.min() >= 0 and out.max() <= 1


def test_same_seed_same_output(tiny_vgg: VGG19, images: tuple[torch.Tensor, torch.Tensor]) -> None:
    c, s = images
    a = optimize(c, [s], _opts(init="noise", seed=3), vgg=tiny_vgg)
    b = optimize(c, [s], _opts(init="noise", seed=3), vgg=tiny_vgg)
    d = optimize(c, [s], _opts(init="noise", seed=4), vgg=tiny_vgg)
    assert torch.equal(a, b)
    assert not torch.equal(a, d)


def test_progress_events_cover_all_iterations(tiny_vgg: VGG19, images: tuple[torch.Tensor, torch.Tensor]) -> None:
    c, s = images
    events = []
    optimize(c, [s], _opts(), vgg=tiny_vgg, progress=events.append)
    assert [e.step for e in events] == list(range(1, 3 + 4 + 1))
    assert events[-1].done == pytest.approx(events[-1].total)
    assert {"total", "content", "style", "tv"} <= set(events[-1].losses)
    assert events[-1].image is not None and events[-1].image.shape == (1, 3, 72, 96)


def test_blend_weights_validated() -> None:
    assert blend_weights(2, [3, 1]) == [0.75, 0.25]
    assert blend_weights(3, None) == pytest.approx([1 / 3] * 3)
    with pytest.raises(OptionError, match="2 style"):
        blend_weights(3, [0.5, 0.5])
    with pytest.raises(OptionError, match="non-negative"):
        blend_weights(2, [1.0, -0.5])
    with pytest.raises(OptionError):
        blend_weights(2, [0.0, 0.0])


def test_bad_option_values() -> None:
    for kw in [dict(optimizer="sgd"), dict(init="zeros"), dict(preserve_color="sepia"), dict(style_weight=-1.0),
               dict(iterations=0), dict(precision="fp8")]:
        with pytest.raises(OptionError):
            _opts(**kw).validate()


def test_every_pixel_gets_gradient(tiny_vgg: VGG19, images: tuple[torch.Tensor, torch.Tensor]) -> None:
    c, s = images
    loss = gatys_loss(tiny_vgg, c, [s], [1.0], OptimizeOptions())
    x = c.clone().requires_grad_(True)
    terms = loss(x)
    terms["total"].backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and (x.grad != 0).float().mean() > 0.9
    assert terms["content"].item() == 0.0  # x equals the content image
    assert list(terms) == ["content", "style", "tv", "total"]
    assert terms["total"].item() == pytest.approx(sum(terms[k].item() for k in ("content", "style", "tv")))


def test_too_small_output_is_refused(tiny_vgg: VGG19, images: tuple[torch.Tensor, torch.Tensor]) -> None:
    c, s = images
    with pytest.raises(OptionError, match="too small"):
        optimize(resize_long_side(c, 24), [s], _opts(min_size=16), vgg=tiny_vgg)


def test_real_vgg_style_loss_falls_tenfold_content_bounded() -> None:
    """End to end with the pretrained VGG19 and the bundled images, at a small size."""
    from nst.features import get_vgg
    from nst.registry import demo_content, get_style

    c = load_image(demo_content().with_name("chelsea_cat.png"))
    s = load_image(get_style("starry_night").path)
    opts = OptimizeOptions(iterations=20, coarse_iterations=20, min_size=48, device="cpu")
    out = optimize(resize_long_side(c, 96), [s], opts)
    vgg = get_vgg(torch.device("cpu"))
    target = torch.nn.functional.interpolate(c, size=out.shape[-2:], mode="bicubic", antialias=True)
    loss = gatys_loss(vgg, target, [load_image(s, size=96)], [1.0], opts)
    with torch.no_grad():
        before = {k: v.item() for k, v in loss(target).items()}
        after = {k: v.item() for k, v in loss(out).items()}
        noise = {k: v.item() for k, v in loss(torch.rand_like(target)).items()}
    assert after["style"] * 10 <= before["style"], (before, after)
    assert after["content"] < 0.5 * noise["content"], (after, noise)


def test_option_errors_name_the_field() -> None:
    with pytest.raises(OptionError, match="^lr must be greater than 0 and at most 10, not -1$") as e:
        _opts(lr=-1.0).validate()
    assert e.value.field == "lr"
    for kw, field in [(dict(optimizer="sgd"), "optimizer"), (dict(coarse_iterations=-1), "coarse_iterations"),
                      (dict(warm_iterations=0), "warm_iterations"), (dict(style_layers=()), "style_layers"),
                      (dict(content_layers=("relu9_1",)), "content_layers"), (dict(min_size=8), "min_size")]:
        with pytest.raises(OptionError) as e:
            _opts(**kw).validate()
        assert e.value.field == field and str(e.value).startswith(field + " ")
    assert not hasattr(OptimizeOptions(), "size")
    assert OptimizeOptions().warm_start is False and OptimizeOptions().warm_iterations is None


def test_output_has_the_content_size(tiny_vgg: VGG19, images: tuple[torch.Tensor, torch.Tensor]) -> None:
    c, s = images
    out = optimize(resize_long_side(c, 64), [s], _opts(min_size=32), vgg=tiny_vgg)
    assert out.shape == (1, 3, 48, 64)


def test_divergence_is_an_nst_error(tiny_vgg: VGG19, images: tuple[torch.Tensor, torch.Tensor],
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    c, s = images
    monkeypatch.setattr(OptimizeOptions, "validate", lambda self: None)  # lr 1e30 is out of bounds: force it
    with pytest.raises(DivergedError, match="diverged") as e:
        optimize(c, [s], _opts(optimizer="adam", lr=1e30, multiscale=False, iterations=2), vgg=tiny_vgg)
    assert isinstance(e.value, NSTError) and isinstance(e.value, FloatingPointError)
