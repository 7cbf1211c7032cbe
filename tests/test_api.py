"""`nst.stylize`, the README's headline API, called as a user would."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import nst
import nst.registry

from .conftest import make_photo, make_style


def test_stylize_with_every_kind_of_input() -> None:
    photo = make_photo(60, 80)
    out = nst.stylize(photo, make_style(48, 48), method="adain", size=64, precision="fp32")
    assert isinstance(out, Image.Image) and out.size == (64, 48)
    # the same photo as a PIL image and as a tensor gives the same picture
    pil = nst.stylize(Image.fromarray(photo), make_style(48, 48), method="adain", size=64, precision="fp32")
    t = nst.stylize(torch.from_numpy(photo).permute(2, 0, 1)[None].float() / 255, make_style(48, 48),
                    method="adain", size=64, precision="fp32")
    assert np.array_equal(np.asarray(out), np.asarray(pil)) and np.array_equal(np.asarray(out), np.asarray(t))


def test_stylize_auto_uses_a_shipped_network_and_size_none_keeps_the_size() -> None:
    style = sorted(nst.registry.shipped_models())[0]
    out = nst.stylize(make_photo(50, 70), style, size=None, precision="fp32")
    assert out.size == (70, 50)


def test_stylize_blends_and_reports_progress() -> None:
    events: list[nst.Progress] = []
    out = nst.stylize(make_photo(48, 64), ["udnie", make_style(40, 40)], method="optimize", size=64,
                      style_weights=[0.7, 0.3], iterations=3, coarse_iterations=0, multiscale=False,
                      progress=events.append)
    assert out.size == (64, 48)
    assert [e.step for e in events] == [1, 2, 3]


@pytest.mark.parametrize("kwargs, error", [
    ({"style": []}, "at least one style"),
    ({"style": "starry_nite"}, "unknown style"),
    ({"style": "udnie", "method": "fast"}, "method must be one of"),
    ({"style": "udnie", "size": 0}, "size must be between"),
    ({"style": "udnie", "method": "adain", "strength": -1}, "strength must be between 0 and 1"),
    ({"style": ["udnie", "the_scream"], "method": "adain", "style_weights": [1.0]}, "weight"),
])
def test_stylize_bad_input_raises_one_line_errors(kwargs: dict, error: str) -> None:
    with pytest.raises(nst.NSTError, match=error) as e:
        nst.stylize(make_photo(32, 32), **kwargs)
    assert "\n" not in str(e.value)
