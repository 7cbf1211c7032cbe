"""A new style on a multi-style network's frozen trunk (`nst train --base`): only its norms learn."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from PIL import Image

from nst.cli import main
from nst.engines import load_model
from nst.errors import InputError
from nst.methods import make_stylizer
from nst.train.addon import AddStyleOptions, train_style

from .conftest import make_photo, make_style
from .test_nets import multi_model


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, Path, Path]:
    data = tmp_path / "photos"
    data.mkdir()
    for i in range(3):
        Image.fromarray(make_photo(80, 96, seed=i)).save(data / f"p{i}.png")
    style = tmp_path / "mystyle.png"
    Image.fromarray(make_style(64, 64)).save(style)
    return multi_model(tmp_path / "base.pt", skips=True), style, data  # the shipped kind: skips stay frozen too


def test_add_style_trains_only_its_norms_and_loads_as_a_model(tmp_path: Path, setup: tuple[Path, Path, Path]) -> None:
    base, style, data = setup
    out = tmp_path / "mine.pt"
    opts = AddStyleOptions(base=str(base), style=str(style), data=str(data), output=str(out), iterations=3,
                           batch=2, size=64, style_size=64, precision="fp32", checkpoint_every=2)
    result = train_style(opts)
    assert out.stat().st_size < 50_000 and all(torch.isfinite(torch.tensor(r["total"])) for r in result.losses)
    net, _ = load_model(out)  # the base plus the new style, which is the default
    base_net, _ = load_model(base, {"a": 1.0})
    trunk = {k: v for k, v in net.state_dict().items() if "norm" not in k}
    assert all(torch.equal(v, base_net.state_dict()[k]) for k, v in trunk.items())  # the trunk did not change
    x = torch.rand(1, 3, 40, 48)
    mine = make_stylizer("net", [], model=str(out), engine="torch", precision="fp32")(x)
    a = make_stylizer("net", ["a"], model=str(out), engine="torch", precision="fp32")(x)  # the base's styles too
    assert mine.shape == x.shape and not torch.allclose(mine, a, atol=1e-3)
    # resume continues where it stopped
    more = train_style(AddStyleOptions(**{**opts.__dict__, "iterations": 5}), resume=True)
    assert len(more.losses) == 5 and more.losses[:3] == result.losses


def test_add_style_refuses_a_changed_base_and_a_plain_network(tmp_path: Path, setup: tuple[Path, Path, Path]) -> None:
    base, style, data = setup
    out = tmp_path / "mine.pt"
    train_style(AddStyleOptions(base=str(base), style=str(style), data=str(data), output=str(out), iterations=1,
                                batch=1, size=64, style_size=64, precision="fp32"))
    shipped = tmp_path / "shipped"  # the add-on and its base moved together (as nst ships them)
    shipped.mkdir()
    shutil.copy(base, shipped / base.name)
    shutil.copy(out, shipped / out.name)
    multi_model(base, styles=("a", "b", "z"))  # the base file changes under the add-on
    with pytest.raises(InputError, match="not the base network"):
        load_model(out)
    net, _ = load_model(shipped / out.name)  # the named base differs now, but the one beside it fits
    assert net.default_style == "mystyle"
    from .test_nets import random_net, write_model

    plain = write_model(tmp_path / "plain.pt", random_net())
    with pytest.raises(InputError, match="not a multi-style network"):
        train_style(AddStyleOptions(base=str(plain), style=str(style), data=str(data), output=str(tmp_path / "x.pt"),
                                    iterations=1, size=64, style_size=64))


def test_cli_train_with_base(tmp_path: Path, setup: tuple[Path, Path, Path],
                             capsys: pytest.CaptureFixture[str]) -> None:
    base, style, data = setup
    out = tmp_path / "cli.pt"
    argv = ["train", "--base", str(base), "--style", str(style), "--data", str(data), "-o", str(out),
            "--iterations", "2", "--batch", "1", "--size", "64", "--style-size", "64", "-q"]
    assert main(argv) == 0 and out.exists()
    assert "use it with `nst image PHOTO --model" in capsys.readouterr().out
    assert main(argv + ["--arch", "full", "--overwrite"]) != 0
    assert "--arch does not apply to --base" in capsys.readouterr().err
