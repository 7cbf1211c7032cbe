"""The one precision rule, and both precision paths forced whatever this CPU has.

Machines of this project's kind differ: some have native bf16 (where "auto" picks it), some do not.
Each path is forced here, so the suite covers both on either machine; tests that compare exact
values pin fp32 elsewhere.
"""

from __future__ import annotations

import pytest
import torch

import nst.device
from nst.device import use_bf16
from nst.errors import OptionError
from nst.methods import make_stylizer

from .conftest import make_photo, make_style


@pytest.mark.parametrize("native", [True, False])
def test_the_precision_rule(monkeypatch: pytest.MonkeyPatch, native: bool) -> None:
    monkeypatch.setattr(nst.device, "bf16_supported", lambda device: native)
    cpu = torch.device("cpu")
    assert use_bf16("auto", cpu) is native
    assert use_bf16("fp32", cpu) is False and use_bf16("bf16", cpu) is True
    with pytest.raises(OptionError, match="precision must be one of auto, fp32, bf16"):
        use_bf16("fp16", cpu)


@pytest.mark.parametrize("native", [True, False])
def test_auto_precision_runs_on_both_paths(monkeypatch: pytest.MonkeyPatch, native: bool) -> None:
    """precision="auto" as a user runs it: bf16 where "native", fp32 elsewhere; close to fp32 either way."""
    monkeypatch.setattr(nst.device, "bf16_supported", lambda device: native)
    x = torch.from_numpy(make_photo(48, 64)).permute(2, 0, 1)[None].float() / 255
    auto = make_stylizer("adain", [make_style(48, 48)], style_size=64)
    assert auto.bf16 is native
    y = auto(x)
    ref = make_stylizer("adain", [make_style(48, 48)], style_size=64, precision="fp32")(x)
    assert y.shape == x.shape and torch.isfinite(y).all()
    assert (y - ref).abs().mean() < (0.03 if native else 1e-6)
