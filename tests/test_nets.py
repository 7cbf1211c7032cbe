"""Transformer networks, ONNX export and the three inference engines (random weights, generated images)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from nst.checkpoints import FORMAT, FORMAT_VERSION, save_checkpoint
from nst.errors import InputError, OptionError
from nst.nets import ARCHS, ArchConfig, TransformerNet, pad_to_multiple, stylize_padded

#: Max abs difference (RGB in [0, 1]) allowed between an engine and PyTorch fp32 on the same network.
ENGINE_TOLERANCE = 1e-4


def random_net(arch: str = "slim", seed: int = 0) -> TransformerNet:
    torch.manual_seed(seed)
    net = TransformerNet(ARCHS[arch])
    with torch.no_grad():  # non-trivial instance-norm affine terms, so the test sees them
        for m in net.modules():
            if isinstance(m, torch.nn.InstanceNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    return net.eval()


def write_model(path: Path, net: TransformerNet) -> Path:
    return save_checkpoint(path, {"format": FORMAT, "format_version": FORMAT_VERSION, "arch": net.config.to_dict(),
                                  "arch_name": "slim", "style": {"name": "test", "sha256": "0" * 64},
                                  "train": {}, "iteration": 0, "losses": [], "wall_time": 0.0,
                                  "state_dict": net.state_dict()})


@pytest.mark.parametrize("arch", ["full", "slim"])
def test_shapes_and_gradients(arch: str) -> None:
    net = TransformerNet(ARCHS[arch])
    x = torch.rand(2, 3, 32, 40)
    y = net(x)
    assert y.shape == x.shape and torch.isfinite(y).all()
    y.square().mean().backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing


def test_any_size_through_padding() -> None:
    net = random_net()
    for h, w in ((33, 47), (1, 5), (64, 64)):
        x = torch.rand(1, 3, h, w)
        with torch.no_grad():
            y = stylize_padded(net, x)
        assert y.shape == x.shape and 0 <= y.min() and y.max() <= 1
    xp, size = pad_to_multiple(torch.rand(1, 3, 6, 9))
    assert xp.shape[-2:] == (8, 12) and size == (6, 9)


def test_flops_and_config() -> None:
    full = TransformerNet(ARCHS["full"]).flops_per_pixel()
    assert 0.29e6 < full < 0.33e6  # Johnson's network: ~0.31 MFLOP per output pixel
    assert TransformerNet(ARCHS["slim"]).flops_per_pixel() < full / 10
    cfg = ArchConfig.from_dict(ARCHS["slim"].to_dict())
    assert cfg == ARCHS["slim"]
    with pytest.raises(OptionError):
        ArchConfig.from_dict({"channels": [1, 2], "blocks": 1, "outer_kernel": 3})


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[TransformerNet, Path, Path]:
    from nst.engines import export_onnx

    d = tmp_path_factory.mktemp("models")
    net = random_net()
    pt = write_model(d / "net.pt", net)
    return net, pt, export_onnx(pt, d / "net.onnx")


@pytest.mark.parametrize("engine", ["onnxruntime", "opencv"])
def test_engines_agree_with_torch(exported: tuple[TransformerNet, Path, Path], engine: str) -> None:
    from nst.engines import make_runner

    net, pt, onnx = exported
    for spec in (pt, onnx):  # a .pt is exported on the fly; an .onnx runs directly
        run, _ = make_runner(spec, engine, precision="fp32")
        for h, w in ((48, 64), (37, 50)):  # dynamic height and width, and padding
            x = torch.rand(2, 3, h, w, generator=torch.Generator().manual_seed(h))
            with torch.no_grad():
                ref = stylize_padded(net, x)
            out = run(x)
            assert out.shape == ref.shape
            assert (out - ref).abs().max().item() <= ENGINE_TOLERANCE


def test_onnxruntime_follows_torch_threads(exported: tuple[TransformerNet, Path, Path],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    # a session keeps the threads it was made with: the runner makes one per torch thread count, so a batch
    # worker's torch.set_num_threads(1) holds for ONNX Runtime too; the exported file may be gone by then
    import shutil

    import nst.engines as E

    _, _, onnx = exported
    made: list[int | None] = []
    real = E.onnx_session
    monkeypatch.setattr(E, "onnx_session", lambda *a, **k: made.append(a[1] if len(a) > 1 else k.get("threads"))
                        or real(*a, **k))
    copy = onnx.parent / "gone.onnx"
    shutil.copy(onnx, copy)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        run = E.onnxruntime_runner(copy)
        copy.unlink()
        x = torch.rand(1, 3, 32, 40, generator=torch.Generator().manual_seed(0))
        two = run(x)
        torch.set_num_threads(1)
        one = run(x)
        run(x)
    finally:
        torch.set_num_threads(before)
    assert made == [2, 1] and (one - two).abs().max().item() <= 1e-5


def test_net_stylizer_and_auto_method(exported: tuple[TransformerNet, Path, Path],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import nst.methods
    from nst.methods import make_stylizer, resolve_method

    net, pt, onnx = exported
    x = torch.rand(1, 3, 30, 41)
    with torch.no_grad():
        ref = stylize_padded(net, x)
    for model, engine in ((pt, "torch"), (onnx, "onnxruntime")):
        s = make_stylizer("net", ["starry_night"], model=str(model), engine=engine, precision="fp32")
        assert (s(x) - ref).abs().max() <= ENGINE_TOLERANCE
    monkeypatch.setattr(nst.methods, "shipped_model", lambda name: pt if name == "starry_night" else None)
    monkeypatch.setattr(nst.methods.net, "shipped_model", lambda name: pt if name == "starry_night" else None)
    assert resolve_method("auto", ["starry_night"]) == "net"
    assert resolve_method("auto", ["the_scream"]) == "adain"
    assert resolve_method("auto", ["starry_night", "the_scream"]) == "adain"
    s = make_stylizer("net", ["starry_night"], precision="fp32")  # the style's own network
    assert (s(x) - ref).abs().max() <= ENGINE_TOLERANCE


def test_bad_model_inputs(tmp_path: Path, exported: tuple[TransformerNet, Path, Path]) -> None:
    from nst.engines import make_runner
    from nst.registry import model_file as resolve_model

    with pytest.raises(InputError, match="no such model"):
        resolve_model(tmp_path / "nothing.pt")
    with pytest.raises(OptionError, match="engine"):
        make_runner(exported[1], "tensorrt")
    with pytest.raises(OptionError, match="ONNX file"):
        make_runner(exported[2], "torch")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not onnx")
    with pytest.raises(InputError, match="cannot load"):
        make_runner(junk, "onnxruntime")


def test_shipped_models_are_small_and_load() -> None:
    from nst.checkpoints import MULTI_FORMAT, read_checkpoint
    from nst.engines import load_model
    from nst.registry import shipped_models, styles

    shipped = shipped_models()
    assert len(shipped) >= 4  # the product promise: trained networks for at least four bundled styles
    for name, path in shipped.items():
        assert path.stat().st_size <= 10_000_000, name
        assert styles()[name].model_path == path
        ckpt = read_checkpoint(path)
        multi = ckpt["format"] == MULTI_FORMAT
        net, meta = load_model(path, {name: 1.0}) if multi else load_model(name)
        assert "optimizer" not in meta and "opt" not in meta
        assert name in (meta["arch"]["styles"] if multi else [meta["style"]["name"]])
        norms = [t for v in ckpt.get("norms", {}).values() for t in v]  # a style add-on holds only these
        weights = ckpt["state_dict"].values() if "state_dict" in ckpt else norms
        assert all(v.dtype == torch.float16 for v in weights if v.is_floating_point())
        with torch.no_grad():
            y = stylize_padded(net, torch.rand(1, 3, 20, 24))
        assert torch.isfinite(y).all()


# ------------------------------------------------------------------ multi-style networks


def multi_model(path: Path, styles: tuple[str, ...] = ("a", "b", "c"), skips: bool = False) -> Path:
    from nst.checkpoints import MULTI_FORMAT, MULTI_FORMAT_VERSION
    from nst.nets import MultiStyleConfig, MultiStyleNet

    torch.manual_seed(1)
    net = MultiStyleNet(MultiStyleConfig(styles, (4, 8, 8), 1, skips))
    with torch.no_grad():  # distinct styles: random norm parameters per style
        for name, p in net.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(1 + 0.5 * torch.randn_like(p))
            elif name.endswith("norm.bias") or name.startswith("skip"):  # skips start at zero: make them count
                p.copy_(0.5 * torch.randn_like(p))
    save_checkpoint(path, {"format": MULTI_FORMAT, "format_version": MULTI_FORMAT_VERSION, "arch": net.config.to_dict(),
                           "style": {"name": "+".join(styles)}, "state_dict": net.state_dict()})
    return path


@pytest.mark.parametrize("engine,skips", [("torch", False), ("onnxruntime", False), ("opencv", False),
                                          ("torch", True), ("onnxruntime", True), ("opencv", True)])
def test_multi_style_network_styles_blends_and_engines(tmp_path: Path, engine: str, skips: bool) -> None:
    from nst.methods import make_stylizer

    model = str(multi_model(tmp_path / "multi.pt", skips=skips))
    x = torch.rand(1, 3, 37, 50, generator=torch.Generator().manual_seed(0))  # not a multiple of 8
    a = make_stylizer("net", ["a"], model=model, engine="torch", precision="fp32")(x)
    b = make_stylizer("net", ["b"], model=model, engine="torch", precision="fp32")(x)
    assert a.shape == x.shape and not torch.allclose(a, b, atol=1e-3)
    ab = make_stylizer("net", ["a", "b"], [1.0, 0.0], model=model, engine=engine, precision="fp32")(x)
    assert (ab - a).abs().max() <= ENGINE_TOLERANCE  # all weight on a: a's parameters, on every engine
    half = make_stylizer("net", ["a", "b"], model=model, engine=engine, precision="fp32")(x)
    assert not torch.allclose(half, a, atol=1e-3) and not torch.allclose(half, b, atol=1e-3)


def test_skip_convolutions_start_at_zero_and_round_trip() -> None:
    from nst.nets import MultiStyleConfig, MultiStyleNet

    torch.manual_seed(0)
    plain = MultiStyleNet(MultiStyleConfig(("a", "b"), (4, 8, 8), 1))
    skipped = MultiStyleNet(MultiStyleConfig(("a", "b"), (4, 8, 8), 1, skips=True))
    missing = skipped.load_state_dict(plain.state_dict(), strict=False)
    assert sorted(missing.missing_keys) == ["skip1.bias", "skip1.weight", "skip2.bias", "skip2.weight"]
    x, mix = torch.rand(2, 3, 32, 40), torch.tensor([[1.0, 0.0], [0.3, 0.7]])
    with torch.no_grad():  # a network trained without skips loads into one with them unchanged
        assert torch.equal(plain(x, mix), skipped(x, mix))
    cfg = skipped.config
    assert MultiStyleConfig.from_dict(cfg.to_dict()) == cfg
    assert "skips" not in plain.config.to_dict()  # files written before the field read the same
    with pytest.raises(OptionError, match="skips must be true or false"):
        MultiStyleConfig.from_dict({**cfg.to_dict(), "skips": "yes"})


def test_multistyle_flops_per_pixel() -> None:
    from nst.nets import MultiStyleConfig, MultiStyleNet

    # by hand: d1 216 + d2 576 + d3 576 + 10 residual convs x 1152 + u1 2304 + u2 2304 + out 864
    assert MultiStyleNet(MultiStyleConfig(("a",))).flops_per_pixel() == pytest.approx(18360)
    # the skips' 1x1 convolutions: 32x32 at 1/16 of the pixels and 16x16 at 1/4, x 2
    assert MultiStyleNet(MultiStyleConfig(("a",), skips=True)).flops_per_pixel() == pytest.approx(18360 + 256)


def test_multi_style_network_bad_choices(tmp_path: Path) -> None:
    from nst.methods import make_stylizer

    model = str(multi_model(tmp_path / "multi.pt"))
    with pytest.raises(OptionError, match="no style zebra"):
        make_stylizer("net", ["zebra"], model=model)
    with pytest.raises(OptionError, match="paints 3 styles: choose with --style"):
        from nst.engines import load_model

        load_model(model)
    with pytest.raises(OptionError, match="non-negative"):
        make_stylizer("net", ["a", "b"], [1.0, -1.0], model=model)
    with pytest.raises(OptionError, match="paints 3 styles: choose with --style"):
        make_stylizer("net", [], model=model, engine="torch")


def test_int8_on_onnxruntime_is_close_cached_and_refused_elsewhere(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from nst.methods import make_stylizer

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    model = str(multi_model(tmp_path / "multi.pt", skips=True))  # skips: calibration images need multiples of 8
    x = torch.rand(1, 3, 40, 56, generator=torch.Generator().manual_seed(0))
    ref = make_stylizer("net", ["a"], model=model, engine="onnxruntime", precision="fp32")(x)
    q = make_stylizer("net", ["a"], model=model, engine="onnxruntime", precision="int8")(x)
    assert q.shape == ref.shape and torch.isfinite(q).all()
    assert (q - ref).abs().mean() < 0.05  # random weights: a loose bound; real ones in bench/RESULTS.md
    assert len(list((tmp_path / "cache" / "nst" / "int8").glob("*.onnx"))) == 1
    again = make_stylizer("net", ["a"], model=model, engine="onnxruntime", precision="int8")(x)
    assert torch.equal(again, q)  # from the cache, deterministic
    for engine in ("torch", "opencv"):
        with pytest.raises(OptionError, match="int8 runs on the onnxruntime engine only"):
            make_stylizer("net", ["a"], model=model, engine=engine, precision="int8")
