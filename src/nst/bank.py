"""A bank of stylizers, one per style, for front ends that switch styles live (camera, web page).

Everything that can be checked is checked when the bank is made: every style resolves, each
style's method takes the options given, and every option's value is in range. So a bad option fails
before a camera opens or a recording starts, never in the middle of it. The stylizers themselves
(weights, encoded styles) are built on first use and kept; `get` is thread-safe.
"""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path
from typing import Any, Callable, Sequence

from .checkpoints import MULTI_FORMAT, read_checkpoint
from .engines import is_onnx, load_model
from .errors import OptionError
from .methods import (
    Stylizer,
    get_method,
    make_stylizer,
    method_options,
    registered,
    resolve_method,
    temporal_options,
)
from .methods.common import style_input
from .methods.net import resolve_model
from .registry import model_file, resolve_style, style_label


def _model_styles(model: str) -> list[str]:
    """A multi-style network's styles (none for a one-style network or a style add-on: its default)."""
    path = model_file(model)
    if is_onnx(path):
        return []
    ckpt = read_checkpoint(path)
    return list(ckpt["arch"]["styles"]) if ckpt["format"] == MULTI_FORMAT else []


class StylizerBank:
    """Stylizers for `labels`, each made by `build(i)` on first use."""

    def __init__(self, labels: Sequence[str], build: Callable[[int], Stylizer]) -> None:
        if not labels:
            raise OptionError("at least one style is needed")
        self.labels = list(labels)
        self._build = build
        self._made: dict[int, Stylizer] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_stylizers(cls, stylizers: Sequence[Stylizer], labels: Sequence[str] | None = None) -> "StylizerBank":
        """Ready-made stylizers (tests, the Python API)."""
        items = list(stylizers)
        return cls(list(labels) if labels else [s.name for s in items], lambda i: items[i])

    @classmethod
    def from_specs(cls, specs: Sequence[str], method: str = "auto", *, model: str | None = None,
                   temporal: Any = None, **options: Any) -> "StylizerBank":
        """One stylizer per style spec (bundled name or image path), or for `model`: one per style of
        it named in `specs` (a multi-style network), else its own style(s).

        `method` "auto" picks per style (its trained network if one ships, else AdaIN). `options` may
        mix fields of the methods in use: each style's method takes the ones it has; a name that no
        method in use takes is an OptionError, as is a value out of range for any of them. `temporal`:
        as `make_stylizer` takes it (checked now).
        """
        temporal = temporal_options(temporal)
        if model is not None:
            method = "net"
            options = dict(options, model=model)
            specs = list(specs) or _model_styles(model)
        methods = [resolve_method(method, [s], model) for s in specs] or [resolve_method(method, [], model)]
        known = {f.name for m in registered().values() for f in dataclasses.fields(m.options)}
        used = {f.name for m in set(methods) for f in dataclasses.fields(get_method(m).options)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise OptionError(f"unknown option(s) {', '.join(unknown)}")
        stray = sorted(n for n, v in options.items() if n not in used and v is not None)
        if stray:
            raise OptionError(f"does not apply to the method(s) in use ({', '.join(sorted(set(methods)))})",
                              field=stray[0])
        plans = []
        for i, m in enumerate(methods):
            fields = {f.name for f in dataclasses.fields(get_method(m).options)}
            mine = {k: v for k, v in options.items() if k in fields and v is not None}
            opts = method_options(m, mine)  # validated now, not when the style is first shown
            if m == "net":
                resolve_model([style_input(specs[i], load=False)] if specs else [], opts.model)
                if model is not None and specs:
                    load_model(model_file(model), {specs[i]: 1.0})  # its style: checked now (a small file)
            else:
                resolve_style(specs[i])  # a missing image or an unknown name fails now
            plans.append((m, [specs[i]] if specs else [], mine))
        labels = [style_label(s) for s in specs] if specs else [Path(str(model)).stem]

        def build(i: int) -> Stylizer:
            m, styles, mine = plans[i]
            return make_stylizer(m, styles, temporal=temporal, **mine)

        return cls(labels, build)

    def __len__(self) -> int:
        return len(self.labels)

    def get(self, i: int) -> Stylizer:
        """The stylizer of style i (built now if this is its first use)."""
        with self._lock:
            if i not in self._made:
                self._made[i] = self._build(i)
            return self._made[i]
