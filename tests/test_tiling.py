"""Issue 16: tiled stylisation at print size (256 px images, 96 px tiles; fp32 where values are compared)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import torch

from nst import losses as L
from nst.errors import OptionError
from nst.features import VGG19
from nst.methods import make_stylizer
from nst.optimize import OptimizeOptions, TiledLoss, gatys_loss, optimize, schedule, tile_geometry, tiled_grams
from nst.tiling import OVERLAP, parse_tile, plan, spans, stylize_tiled

from .conftest import make_photo, make_style


def photo(h: int = 256, w: int = 256) -> torch.Tensor:
    return torch.from_numpy(make_photo(h, w)).permute(2, 0, 1)[None].float() / 255


def _tiny_net(tmp: Path, kind: str) -> Any:
    """A random-weight network with random norm parameters (so statistics matter), saved as a checkpoint."""
    from nst.checkpoints import FORMAT, FORMAT_VERSION, MULTI_FORMAT, save_checkpoint
    from nst.nets import ARCHS, MultiStyleConfig, MultiStyleNet, TransformerNet

    torch.manual_seed(0)
    if kind == "multi":
        net: torch.nn.Module = MultiStyleNet(MultiStyleConfig(("a",), (8, 8, 16), 2, skips=True))
        for name, prm in net.named_parameters():
            if "skip" in name:
                torch.nn.init.normal_(prm, 0, 0.3)
        ckpt = {"format": MULTI_FORMAT, "format_version": 1, "arch": net.config.to_dict()}
    else:
        net = TransformerNet(ARCHS["slim"])
        ckpt = {"format": FORMAT, "format_version": FORMAT_VERSION, "arch": net.config.to_dict(), "arch_name": "slim",
                "style": {"name": "t", "sha256": "0" * 64}, "train": {}, "iteration": 0, "losses": [],
                "wall_time": 0.0}
    with torch.no_grad():
        for m in net.modules():
            w = getattr(m, "weight", None)
            if m.__class__.__name__ in ("CondInstanceNorm", "InstanceNorm2d") and w is not None:
                w.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.3, 0.3)  # type: ignore[union-attr, operator]
    ckpt["state_dict"] = net.state_dict()
    path = tmp / f"{kind}.pt"
    save_checkpoint(path, ckpt)
    return make_stylizer("net", ["a"] if kind == "multi" else [], model=str(path), engine="torch", precision="fp32")


def _tiny_adain() -> Any:
    from nst.adain import AdaINModel, Decoder
    from nst.methods.adain import AdaINOptions, AdaINStylizer
    from nst.methods.base import StyleInput

    torch.manual_seed(0)
    model = AdaINModel(VGG19(weights=None, width=0.125), Decoder(weights=None, width=0.125))
    with torch.no_grad():  # a random decoder's output sits near 0, where clamping hides everything
        model.decoder.layers.conv1_1.weight.mul_(20.0)
        model.decoder.layers.conv1_1.bias.fill_(0.5)
    style = torch.from_numpy(make_style(64, 64)).permute(2, 0, 1)[None].float() / 255
    return AdaINStylizer([StyleInput("s", style)], None, AdaINOptions(precision="fp32", style_size=64), model=model)


STYLIZERS = {"net": lambda tmp: _tiny_net(tmp, "multi"), "net-johnson": lambda tmp: _tiny_net(tmp, "johnson"),
             "adain": lambda tmp: _tiny_adain()}


def test_spans_cover_the_axis_with_aligned_starts() -> None:
    for length in (64, 256, 1000, 4320):
        length = -(-length // 8) * 8
        for keep in (96, 200, 512):
            sp = spans(length, keep, OVERLAP, 8)
            assert sp[0][0] == 0 and sp[-1][1] == length
            assert all(b - a <= max(keep, 8) for a, b in sp)
            assert all(c < b for (a, b), (c, d) in zip(sp[:-1], sp[1:]))  # consecutive spans overlap
            part = spans(length, keep, 0, 8)  # overlap 0: a partition on multiples of 8
            assert all(b == c for (_, b), (c, _) in zip(part[:-1], part[1:]))
            assert all(a % 8 == 0 for a, _ in part)


def test_feather_weights_sum_to_one() -> None:
    h, w = 256, 200
    total = torch.zeros(h, w)
    for t in plan(h, w, 96, OVERLAP, 64, 8):
        y0, y1, x0, x1 = t.keep
        total[y0:y1, x0:x1] += t.wy[:, None] * t.wx[None, :]
        wy0, wy1, wx0, wx1 = t.window
        assert wy0 <= y0 and wy1 >= y1 and wx0 <= x0 and wx1 >= x1 and wy0 % 8 == 0 and wx0 % 8 == 0
    assert torch.allclose(total, torch.ones(h, w), atol=1e-6)


@pytest.mark.parametrize("method", sorted(STYLIZERS))
def test_tiled_equals_untiled(method: str, tmp_path: Path) -> None:
    s = STYLIZERS[method](tmp_path)
    x = photo()
    whole = s(x)
    tiled = stylize_tiled(s, x, 96)
    assert tiled.shape == whole.shape
    assert (tiled - whole).abs().mean() < 1e-5 and (tiled - whole).abs().max() < 1e-3


@pytest.mark.parametrize("method", ["net", "adain-pretrained"])
def test_global_statistics_no_colour_shift_per_tile(method: str, tmp_path: Path) -> None:
    """Each tile's mean colour is the untiled image's there; stylising tiles on their own (their own
    statistics) shifts them."""
    s = STYLIZERS[method](tmp_path) if method in STYLIZERS else make_stylizer(
        "adain", [make_style(64, 64)], precision="fp32", style_size=64)
    x = photo()
    whole, tiled = s(x), stylize_tiled(s, x, 96)
    own = torch.zeros_like(whole)
    for y0 in range(0, 256, 128):
        for x0 in range(0, 256, 128):
            own[..., y0:y0 + 128, x0:x0 + 128] = s(x[..., y0:y0 + 128, x0:x0 + 128])
    shift_tiled = shift_own = 0.0
    for y0 in range(0, 256, 128):
        for x0 in range(0, 256, 128):
            ref = whole[..., y0:y0 + 128, x0:x0 + 128].mean(dim=(2, 3))
            shift_tiled = max(shift_tiled, (tiled[..., y0:y0 + 128, x0:x0 + 128].mean(dim=(2, 3)) - ref).abs().max())
            shift_own = max(shift_own, (own[..., y0:y0 + 128, x0:x0 + 128].mean(dim=(2, 3)) - ref).abs().max())
    assert shift_tiled < 1e-4
    assert shift_own > 100 * shift_tiled and shift_own > 0.005  # what global statistics prevent


def test_shipped_network_tiles_as_it_runs_whole() -> None:
    s = make_stylizer("net", ["starry_night"], precision="fp32")
    x = photo(128, 192)
    assert (stylize_tiled(s, x, 64) - s(x)).abs().mean() < 1e-5


def test_onnx_network_cannot_tile_but_says_so(tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    from nst.engines import export_onnx

    onnx = export_onnx("starry_night", tmp_path / "n.onnx", style_weights={"starry_night": 1.0})
    s = make_stylizer("net", [], model=str(onnx), engine="opencv")
    with pytest.raises(OptionError, match="tiling needs"):
        stylize_tiled(s, photo(64, 64), 64)


@pytest.mark.parametrize("value,expected", [("auto", "auto"), ("OFF", "off"), ("96", 96), (512, 512)])
def test_parse_tile(value: object, expected: object) -> None:
    assert parse_tile(value) == expected


@pytest.mark.parametrize("value", ["0", "-96", "63", "16385", "99999999999", "nan", "1e3", "", "96px", 1.5, True, None])
def test_parse_tile_refuses(value: object) -> None:
    with pytest.raises(OptionError) as e:
        parse_tile(value)
    assert e.value.field == "tile"


# ---- tiled optimisation -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def vgg() -> VGG19:
    torch.manual_seed(0)
    return VGG19(weights=None, width=0.125)


def test_receptive_field_context_covers_the_deepest_layer() -> None:
    assert tile_geometry(OptimizeOptions()) == (80, 16)  # relu5_1: 156 px field, stride 16
    shallow = OptimizeOptions(content_layers=("relu2_2",), style_layers=("relu1_1", "relu2_1"))
    assert tile_geometry(shallow) == (8, 8)  # relu2_1: 10 px field


def test_tiled_loss_and_gradient_equal_the_global_ones(vgg: VGG19) -> None:
    """Gram contributions summed over tiles, (G - A) held constant: the same loss and gradient as one pass."""
    opts = OptimizeOptions(precision="fp32")
    opts.validate()
    g = torch.Generator().manual_seed(0)
    c, s, x0 = torch.rand(1, 3, 200, 264, generator=g), torch.rand(1, 3, 128, 128, generator=g), \
        torch.rand(1, 3, 200, 264, generator=g)
    context, multiple = tile_geometry(opts)
    ref = gatys_loss(vgg, c, [s], [1.0], opts)
    x = x0.clone().requires_grad_(True)
    want = ref(x)
    want["total"].backward()
    grams = tiled_grams(vgg, s, opts.style_layers, 96, context, multiple, torch.contiguous_format)
    for k in opts.style_layers:
        assert torch.allclose(grams[k], L.gram(vgg(s, [k])[k]), rtol=1e-4, atol=1e-9)
    tiled = TiledLoss(vgg, c, grams, opts, 96, context, multiple, torch.contiguous_format)
    assert len(tiled.tiles) == 9
    y = x0.clone().requires_grad_(True)
    got = tiled(y)
    for k in ("content", "style", "tv", "total"):
        assert got[k].item() == pytest.approx(want[k].item(), rel=1e-3)  # fp32 sums in another order
    assert x.grad is not None and y.grad is not None
    assert (y.grad - x.grad).abs().max() <= 1e-4 * x.grad.abs().max()


def test_tiled_optimize_follows_the_untiled_run(vgg: VGG19) -> None:
    c, s = photo(128, 160), torch.from_numpy(make_style(64, 64)).permute(2, 0, 1)[None].float() / 255
    common = {"iterations": 3, "coarse_iterations": 0, "multiscale": False, "precision": "fp32"}
    whole = optimize(c, [s], OptimizeOptions(**common, tile="off"), vgg=vgg)
    events: list[str] = []
    tiled = optimize(c, [s], OptimizeOptions(**common, tile=64), vgg=vgg, progress=lambda e: events.append(e.info))
    assert (tiled - whole).abs().mean() < 1e-3
    last = [e for e in events if "gradient pass" in e][-1]  # the progress bar covers every tile
    assert re.search(r"tile (\d+)/\1$", last) and not last.endswith("tile 1/1"), last


def test_schedule_tiles_only_what_does_not_fit_and_sizes_the_history() -> None:
    opts = OptimizeOptions()
    opts.validate()
    gb = 2**30
    roomy = schedule((2304, 4096), opts, limit=200 * gb)
    assert all(sc.tile is None and sc.history == 50 for sc in roomy)
    tight = schedule((2304, 4096), opts, limit=12 * gb)
    assert tight[-1].tile is not None and tight[0].tile is None
    assert 3 <= tight[-1].history < 50
    assert max(sc.work_bytes for sc in tight) < 12 * gb
