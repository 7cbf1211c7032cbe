"""Issue 18, property: whatever options, image shapes and dtypes `nst.stylize` is given, it either
succeeds with a finite image of the size asked for, or raises an `nst.NSTError`; never any other
exception.

Small and deterministic in CI (derandomized, 40 examples, tiny sizes). A longer run:

    NST_HYPOTHESIS_EXAMPLES=2000 pytest tests/hostile/test_property.py
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np
import pytest
import torch

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import nst  # noqa: E402
from nst import api  # noqa: E402

EXAMPLES = int(os.environ.get("NST_HYPOTHESIS_EXAMPLES", "40"))

#: Sizes that would be valid but slow on a CPU are left out (the bounds themselves are tested in test_options).
VALID_SIZES = [16, 17, 24, 31, 33, 48]
HOSTILE_NUMBERS = [math.nan, math.inf, -math.inf, -1, 0, 15, 16385, 10**30, -(10**30), 2**63, 1.5, 1e308, -0.0]
WRONG_TYPES = ["64", "", b"1", [32], (32,), {"size": 32}, True, False, object(), np.float32(math.nan)]



def mostly(valid: Any, hostile: Any, valid_in_ten: int = 8) -> Any:
    """`valid` in `valid_in_ten` of ten draws, else `hostile`: so that many examples get as far as stylising
    (one_of would pick its branches evenly, and merges equal ones)."""
    return st.integers(1, 10).flatmap(lambda k: valid if k <= valid_in_ten else hostile)


sizes = mostly(st.one_of(st.sampled_from(VALID_SIZES), st.none()),
               st.one_of(st.sampled_from(HOSTILE_NUMBERS), st.sampled_from(WRONG_TYPES),
                         st.integers(-100, 100_000), st.floats(allow_nan=True)))
strengths = mostly(st.floats(0, 1), st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                                              st.sampled_from(HOSTILE_NUMBERS + WRONG_TYPES + [None]),
                                              st.integers(-3, 3)))


@st.composite
def images(draw: Any) -> np.ndarray:
    """H x W, H x W x 1/3/4 arrays, uint8 / uint16 / float32 / float64 (NaN, inf and out-of-range floats too),
    1 x N, N x 1, tiny and odd shapes."""
    h = draw(st.one_of(st.integers(1, 40), st.sampled_from([1, 2, 3, 200])))
    w = draw(st.one_of(st.integers(1, 40), st.sampled_from([1, 2, 3, 200])))
    shape = (h, w) + draw(st.sampled_from([(), (1,), (3,), (4,)]))
    dtype = draw(st.sampled_from(["uint8", "uint16", "float32", "float64"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if dtype.startswith("uint"):
        return rng.integers(0, np.iinfo(dtype).max, size=shape, endpoint=True).astype(dtype)
    arr = rng.random(shape).astype(dtype)
    special = draw(st.sampled_from([None, math.nan, math.inf, -math.inf, -0.5, 2.0]))
    if special is not None:
        arr.flat[draw(st.integers(0, arr.size - 1))] = special
    return arr


#: Gaps this property found in the image guard, which the sibling part of issue 18 (nst.io, nst.adain) fixes:
#: AdaIN's reflection padding on images thinner than a few pixels, and NaN/inf pixels in float arrays that
#: come out as a black (non-finite) image. Tolerated here, narrowly, so that this branch's suite runs;
#: set it to False (delete it) when the image guard is merged.
TOLERATE_IMAGE_GUARD_GAPS = False


def _known_gap(img: np.ndarray, error: BaseException | None) -> bool:
    if not TOLERATE_IMAGE_GUARD_GAPS:
        return False
    if error is None:  # non-finite output
        return bool(np.issubdtype(img.dtype, np.floating) and not np.isfinite(img).all())
    return isinstance(error, RuntimeError) and "Padding size should be less than" in str(error)


def _expected_size(img: np.ndarray, size: Any) -> tuple[int, int] | None:
    """(w, h) the output must have, or None where only the long side is fixed."""
    if size is None:
        return img.shape[1], img.shape[0]
    return None


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(img=images(), method=st.sampled_from(["adain", "net"]), size=sizes, strength=strengths,
       extra=st.sampled_from([{}, {}, {}, {"preserve_color": "luminance"}, {"precision": "fp32"},
                              {"style_weights": [1.0]}, {"preserve_color": 1}, {"style_weights": [math.nan]},
                              {"nonsense": 1}]))
def test_stylize_succeeds_or_raises_an_nst_error(img: np.ndarray, method: str, size: Any, strength: Any,
                                                 extra: dict[str, Any]) -> None:
    seen: list[torch.Tensor] = []
    to_pil = api.tensor_to_pil

    def capture(x: torch.Tensor) -> Any:
        seen.append(x)
        return to_pil(x)

    style = "starry_night"  # ships a trained network (net) and a painting (adain)
    try:
        api.tensor_to_pil = capture  # type: ignore[assignment]
        out = nst.stylize(img, style, method=method, size=size, strength=strength, **extra)
    except nst.NSTError as e:
        assert str(e) and "\n" not in str(e)
        hypothesis.event(f"refused: {type(e).__name__} {getattr(e, 'field', None) or str(e)[:40]}")
        return
    except RuntimeError as e:
        if not _known_gap(img, e):
            raise
        hypothesis.event("known gap: thin image in AdaIN")
        return
    finally:
        api.tensor_to_pil = to_pil  # type: ignore[assignment]
    if len(seen) == 1 and not bool(torch.isfinite(seen[0]).all()) and _known_gap(img, None):
        hypothesis.event("known gap: non-finite pixels in")
        return
    hypothesis.event("stylised")
    assert len(seen) == 1 and bool(torch.isfinite(seen[0]).all()), "non-finite output"
    assert seen[0].shape[:2] == (1, 3)
    expected = _expected_size(img, size)
    if expected is not None:
        assert out.size == expected
    else:
        assert max(out.size) == int(size), (out.size, size)
