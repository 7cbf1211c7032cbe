"""One conformance suite run over every registered method (kornia's BaseTester is the model).

Each method is built cheaply (real weights, tiny sizes, few iterations) and must: keep the size
(odd sizes too), give the same batch result as frame by frame, be deterministic, give finite values
in [0, 1], declare exactly the capabilities it implements, and never change its configuration when
called. A method registered anywhere (tests/methods/toy_gray.py) is picked up without edits here.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
import torch

from nst.methods import SEQUENTIAL, STRENGTH, TILING, Adjustable, Sequential, Tileable, make_stylizer, registered

from ..conftest import make_style
from . import toy_gray  # noqa: F401  (registers the toy method)

# Settings that make each built-in method cheap; exact comparisons pin fp32 (bf16 CPUs differ).
CHEAP: dict[str, dict[str, Any]] = {
    "optimize": {"iterations": 2, "coarse_iterations": 0, "multiscale": False, "precision": "fp32"},
    "adain": {"precision": "fp32", "style_size": 64},
    "net": {"precision": "fp32"},
}
STYLES: dict[str, list[Any]] = {"net": ["starry_night"]}  # a shipped network; the others get a generated image


def build(method: str, **extra: Any) -> Any:
    m = registered()[method]
    styles = STYLES.get(method, [make_style(48, 48)] if m.uses_style_images else [])
    return make_stylizer(method, styles, **{**CHEAP.get(method, {}), **extra})


def frames(n: int, h: int, w: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 3, h, w, generator=torch.Generator().manual_seed(seed))


METHODS = sorted(registered())


@pytest.mark.parametrize("method", METHODS)
class TestStylizerConformance:
    def test_size_kept_including_odd_sizes(self, method: str) -> None:
        s = build(method)
        for h, w in ((64, 80), (97, 131), (33, 41)):
            y = s(frames(1, h, w))
            assert y.shape == (1, 3, h, w)
            assert torch.isfinite(y).all() and y.min() >= 0 and y.max() <= 1

    def test_batch_equals_frame_by_frame(self, method: str) -> None:
        s = build(method)
        x = frames(2, 40, 56)
        whole = s(x)
        one_by_one = torch.cat([s(x[i:i + 1]) for i in range(2)])
        assert (whole - one_by_one).abs().max() <= 1e-4

    def test_deterministic(self, method: str) -> None:
        x = frames(1, 40, 56, seed=3)
        assert torch.equal(build(method)(x), build(method)(x))

    def test_declared_capabilities_are_implemented(self, method: str) -> None:
        s = build(method)
        assert s.capabilities == registered()[method].capabilities
        protocols = {STRENGTH: Adjustable, SEQUENTIAL: Sequential, TILING: Tileable}
        for cap, proto in protocols.items():
            assert (cap in s.capabilities) == isinstance(s, proto), cap

    def test_call_never_changes_the_configuration(self, method: str) -> None:
        s = build(method)
        before = json.dumps(s.config(), sort_keys=True)  # JSON-able: video resume fingerprints use it
        s(frames(1, 32, 40))
        assert json.dumps(s.config(), sort_keys=True) == before

    def test_strength(self, method: str) -> None:
        s = build(method)
        if STRENGTH not in s.capabilities:
            pytest.skip("no strength")
        x = frames(1, 40, 56)
        weaker = s.with_strength(0.25)
        assert weaker is not s and weaker.strength == 0.25 and s.strength == 1.0
        assert not torch.equal(weaker(x), s(x))
        assert s.config() != weaker.config()

    def test_tiling_with_whole_image_statistics(self, method: str) -> None:
        s = build(method)
        if TILING not in s.capabilities:
            pytest.skip("no tiling")
        x = frames(1, 64, 64)
        # the whole image's statistics applied to the whole image: the plain result
        assert (s.for_image(x)(x) - s(x)).abs().max() <= 1e-4
        tile = x[..., :32, :32]
        assert not torch.allclose(s.for_image(x)(tile), s(tile))  # a tile uses the whole image's statistics

    def test_shared_between_threads(self, method: str) -> None:
        s = build(method)
        x = frames(1, 32, 40)
        ref = s(x)
        out: list[torch.Tensor] = []
        threads = [threading.Thread(target=lambda: out.append(s(x))) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(out) == 3 and all((o - ref).abs().max() <= 1e-5 for o in out)


def test_sequential_state_resumes_exactly() -> None:
    """A warm-started optimize stylizer reset from a saved state continues as an uninterrupted run."""
    s = build("optimize", warm_start=True)
    x = frames(3, 32, 40)
    s.reset()
    run = [s(x[i:i + 1]) for i in range(3)]
    resumed = build("optimize", warm_start=True)
    resumed.reset(run[0])
    assert torch.equal(resumed(x[1:2]), run[1])
    assert not s.thread_safe  # it carries state: calls are serialised
