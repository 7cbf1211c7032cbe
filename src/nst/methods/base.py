"""The Stylizer contract and the method registry (no method lives here; see the sibling modules).

A **Stylizer** maps frames to stylised frames: `stylizer(x)` with x N x 3 x H x W RGB float [0, 1]
returns N x 3 x H x W RGB [0, 1] at the same size. It is built once (styles encoded, weights loaded)
and called per image, batch or frame. The contract:

- `__call__` never changes the stylizer's configuration: the same input gives the same output, and
  `config()` (the settings that identify the output: method, styles, options) does not change.
- `thread_safe`: True when several threads may call it at once. When False, `BaseStylizer.__call__`
  serialises calls with its own lock, so sharing it is still correct (only slower).
- Optional capabilities are declared in `capabilities` (a frozenset of the names below) and
  implemented as the matching protocol; front ends test `STRENGTH in s.capabilities`, never hasattr:
  - STRENGTH (`Adjustable`): `strength` and `with_strength(v)`, which returns a new stylizer sharing
    the weights (0 = the photo, 1 = full style);
  - SEQUENTIAL (`Sequential`): output depends on the previous frames (video warm start, temporal
    consistency). `reset(state)` starts a sequence, optionally from a saved `state()` so that a
    resumed video continues exactly as an uninterrupted run;
  - TILING (`Tileable`): `for_image(whole, tile=N)` returns a stylizer for tiles of `whole` that uses
    the whole image's global statistics (no seams or colour shifts between tiles), accumulated over
    tiles of N px (None: in one pass); `tile_multiple` and `tile_context` say how tiles must be aligned
    and how much context they need (`nst.tiling` does the rest);
  - GUIDED (`Guided`): `stylize_guided(frames, guide, mask, strength)` makes the result agree with
    `guide` (the previous result warped by optical flow) where `mask` (reliability, [0, 1]) is high:
    optimize's temporal loss (Ruder et al. 2016). The temporal wrapper (`nst.methods.temporal`) uses
    it instead of blending its output.

A **Method** is one registered entry: its name, options dataclass (fields with `nst.options.option`
metadata), capabilities and `build` function. `nst.methods.make_stylizer` is the one function that
builds stylizers for every front end.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol, Sequence, runtime_checkable

import torch

from ..errors import InputError, NSTError, OptionError
from ..io.image import all_finite, check_image
from ..memory import is_allocation_failure, out_of_memory
from ..progress import ProgressCallback

STRENGTH = "strength"
SEQUENTIAL = "sequential"
TILING = "tiling"
GUIDED = "guided"
CAPABILITIES = (STRENGTH, SEQUENTIAL, TILING, GUIDED)


class Stylizer(Protocol):
    """Tensor in, tensor out (N x 3 x H x W, RGB [0, 1]); same size out as in."""

    name: str
    device: torch.device
    capabilities: frozenset[str]
    thread_safe: bool

    def __call__(self, frames: torch.Tensor) -> torch.Tensor: ...

    def config(self) -> dict[str, Any]: ...


@runtime_checkable
class Adjustable(Protocol):
    """STRENGTH: a stylizer whose style strength can be changed without rebuilding it."""

    @property
    def strength(self) -> float: ...

    def with_strength(self, strength: float) -> "Stylizer": ...


@runtime_checkable
class Sequential(Protocol):
    """SEQUENTIAL: a stylizer that carries state from frame to frame (call it on frames in order)."""

    def reset(self, state: torch.Tensor | None = None) -> None: ...

    def state(self) -> torch.Tensor | None: ...


@runtime_checkable
class Tileable(Protocol):
    """TILING: a stylizer whose tiles can share the whole image's statistics."""

    def for_image(self, whole: torch.Tensor, tile: int | None = None, tick: Any = None) -> "Stylizer": ...


@runtime_checkable
class Guided(Protocol):
    """GUIDED: a stylizer that can follow a guide image (1 x 3 x H x W) where `mask` (1 x 1 x H x W) is 1."""

    def stylize_guided(self, frames: torch.Tensor, guide: torch.Tensor, mask: torch.Tensor,
                       strength: float) -> torch.Tensor: ...


class BaseStylizer:
    """Common plumbing: a name, a device, declared capabilities, a lock when not thread-safe, and the
    shape contract (subclasses implement `_stylize` and `config`)."""

    capabilities: frozenset[str] = frozenset()
    thread_safe: bool = True
    #: True where the result is finite by construction (built from bytes): the NaN check is skipped
    finite_by_construction: bool = False

    def __init__(self, name: str, device: torch.device) -> None:
        self.name = name
        self.device = device
        self._lock = threading.Lock()

    def __call__(self, frames: torch.Tensor) -> torch.Tensor:
        if frames.dim() != 4 or frames.shape[1] != 3:
            raise OptionError(f"expected frames of shape N x 3 x H x W, got {tuple(frames.shape)}")
        check_image(frames, "frames")
        try:
            if self.thread_safe:
                out = self._stylize(frames)
            else:
                with self._lock:
                    out = self._stylize(frames)
        except MemoryError as e:
            if isinstance(e, NSTError):
                raise
            raise out_of_memory(frames) from None
        except RuntimeError as e:
            if is_allocation_failure(e):
                raise out_of_memory(frames) from None
            raise
        if tuple(out.shape) != tuple(frames.shape):
            raise InputError(f"{self.name}: the result has shape {tuple(out.shape)} for frames of shape "
                             f"{tuple(frames.shape)} (a broken model?)")
        if not self.finite_by_construction and not all_finite(out):
            raise InputError(f"{self.name}: the result has NaN or infinite values (a broken model or weights?)")
        return out

    def _stylize(self, frames: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def config(self) -> dict[str, Any]:
        raise NotImplementedError


@dataclass(frozen=True)
class StyleInput:
    """One style as a method receives it: a display name and, for methods that use style images, the
    image (1 x 3 x H x W RGB [0, 1]); `spec` is what the user gave (a bundled name or a path), or None
    for an image passed in memory."""

    name: str
    image: torch.Tensor | None
    spec: str | None = None


#: build(styles, weights, options, progress) -> Stylizer
BuildFn = Callable[[Sequence[StyleInput], "Sequence[float] | None", Any, "ProgressCallback | None"], Stylizer]


@dataclass(frozen=True)
class Method:
    """A registered stylisation method.

    name: what `--method` and `method=` take. options: its options dataclass (every field made with
    `nst.options.option`). capabilities: what its stylizers implement (subset of CAPABILITIES).
    build: makes a stylizer. uses_style_images: False for methods whose model carries its style
    (trained networks), so style images are not read. summary: one line for `--help`.
    """

    name: str
    options: type
    build: BuildFn
    capabilities: frozenset[str] = field(default_factory=frozenset)
    uses_style_images: bool = True
    summary: str = ""


_REGISTRY: dict[str, Method] = {}


def register(method: Method) -> Method:
    """Add a method (a module calls this once at import). Registering a name again replaces it."""
    unknown = set(method.capabilities) - set(CAPABILITIES)
    if unknown:
        raise ValueError(f"unknown capabilities {sorted(unknown)} for method {method.name}")
    if method.name == "auto":
        raise ValueError("'auto' is reserved")
    _REGISTRY[method.name] = method
    return method


def registered() -> dict[str, Method]:
    """Every registered method by name, in registration order."""
    return dict(_REGISTRY)
