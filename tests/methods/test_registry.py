"""The registry: one function builds every stylizer, "auto" resolves in one place, a new method is
one module, and options are validated up front with field-named errors."""

from __future__ import annotations

import pytest
import torch

from nst.cli import main
from nst.errors import OptionError
from nst.methods import make_stylizer, method_names, registered, resolve_method
from nst.registry import shipped_models

from . import toy_gray  # noqa: F401  (one new module: registers "gray")


def test_a_toy_method_needs_one_module_and_no_edit_elsewhere(tmp_path, photo_path) -> None:
    assert "gray" in method_names() and registered()["gray"].uses_style_images is False
    s = make_stylizer("gray", strength=0.5)
    x = torch.rand(1, 3, 8, 8)
    assert s(x).shape == x.shape
    # the CLI gets the method and its options from the registry: no edit there either
    out = tmp_path / "gray.png"
    assert main(["image", str(photo_path), "--method", "gray", "--strength", "0.5", "--size", "32",
                 "-o", str(out)]) == 0
    assert out.exists()


def test_auto_resolution() -> None:
    from nst.registry import styles

    shipped = shipped_models()
    names = sorted(shipped)
    assert resolve_method("auto", [names[0]]) == "net"
    assert resolve_method("auto", [next(s for s in styles() if s not in shipped)]) == "adain"
    pair = names[:2]  # a blend: net only where one (multi-style) network paints both
    assert resolve_method("auto", pair) == ("net" if shipped[pair[0]] == shipped[pair[1]] else "adain")
    assert resolve_method("auto", ["my.jpg"], model="my.pt") == "net"
    assert resolve_method("optimize", [names[0]]) == "optimize"
    with pytest.raises(OptionError, match="method must be one of"):
        resolve_method("fast", ["udnie"])


@pytest.mark.parametrize("options, message", [
    ({"strength": 2.0}, "strength must be between 0 and 1, not 2"),
    ({"strength": float("nan")}, "strength must be a finite number"),
    ({"style_size": 10}, "style_size must be between 64 and 4096"),
    ({"preserve_color": "sepia"}, "preserve_color must be one of luminance, histogram"),
    ({"precision": "fp8"}, "precision must be one of auto, fp32, bf16"),
    ({"iterations": 10}, "unknown option"),
    ({"strength": "lots"}, "strength must be a number"),
])
def test_options_are_validated_with_field_names(options: dict, message: str) -> None:
    with pytest.raises(OptionError, match=message):
        make_stylizer("adain", ["udnie"], **options)


def test_the_cli_names_the_flag(photo_path, tmp_path, capsys) -> None:
    code = main(["image", str(photo_path), "--style", "udnie", "--method", "adain", "--strength", "3",
                 "-o", str(tmp_path / "x.png")])
    err = capsys.readouterr().err
    assert code == 2 and err == "nst: error: --strength must be between 0 and 1, not 3\n"  # a usage error
    code = main(["image", str(photo_path), "--style", "udnie", "--method", "adain", "--engine", "opencv",
                 "-o", str(tmp_path / "x.png")])
    assert code == 2 and "--engine does not apply to --method adain" in capsys.readouterr().err
