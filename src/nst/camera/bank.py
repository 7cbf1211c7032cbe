"""`StyleBank`: the styles the camera cycles through, each stylizer built on first use and kept.

It lives apart from the loop so that it can be replaced by a shared, front-end independent bank.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable, Sequence

from ..api import load_style, resolve_method
from ..errors import InputError, OptionError
from ..registry import style_label
from ..stylizer import AdaINOptions, NetOptions, Stylizer, make_stylizer, net_model_for


class StyleBank:
    """The styles to cycle through. Stylizer i is built by `build(i)` the first time it is needed
    (AdaIN encodes its style then, ~0.3 s), then kept."""

    def __init__(self, labels: Sequence[str], build: Callable[[int], Stylizer]) -> None:
        if not labels:
            raise OptionError("at least one style is needed")
        self.labels = list(labels)
        self._build = build
        self._cache: dict[int, Stylizer] = {}

    @classmethod
    def from_stylizers(cls, stylizers: Sequence[Stylizer], labels: Sequence[str] | None = None) -> "StyleBank":
        """Ready-made stylizers (tests, the Python API)."""
        items = list(stylizers)
        return cls(list(labels) if labels else [s.name for s in items], lambda i: items[i])

    @classmethod
    def from_specs(cls, specs: Sequence[str], method: str = "auto", *, model: str | None = None,
                   engine: str = "torch", **options: Any) -> "StyleBank":
        """Bundled style names or image paths, or one trained network (`model`, which implies "net").

        "auto" is resolved per style: the style's shipped network where one exists, else AdaIN.
        Style images and network files are checked now (a bad name or file fails before the camera
        opens); each stylizer is built on first use. `options` may mix fields of AdaINOptions and
        NetOptions (strength, style_size, preserve_color, precision, device): each stylizer gets
        the ones its method has. `size` is fixed to None: the loop resizes frames itself.
        """
        def fields(cls_: type) -> dict[str, Any]:
            names = {f.name for f in dataclasses.fields(cls_)}
            return {k: v for k, v in options.items() if k in names and k != "size"}

        if method not in ("auto", "adain", "net"):
            raise OptionError(f"method '{method}' is not for live use (use auto, adain or net)")
        if model is not None:
            if not Path(model).is_file():
                raise InputError(f"{model}: no such model file")
            net_opts = fields(NetOptions)
            return cls([Path(model).stem], lambda i: make_stylizer("net", [], model=model, engine=engine,
                                                                   size=None, **net_opts))
        specs = list(specs)
        if not specs:
            raise OptionError("at least one style is needed")
        methods = [resolve_method(method, [s]) for s in specs]
        for s, m in zip(specs, methods):
            if m == "net":
                net_model_for([s])  # a clear error now for a style without a network, not at its first use
        images = {i: load_style(s) for i, (s, m) in enumerate(zip(specs, methods)) if m == "adain"}
        adain_opts, net_opts = fields(AdaINOptions), fields(NetOptions)

        def build(i: int) -> Stylizer:
            if methods[i] == "net":
                return make_stylizer("net", [specs[i]], engine=engine, size=None, **net_opts)
            return make_stylizer("adain", [images[i]], size=None, **adain_opts)

        return cls([style_label(s) for s in specs], build)

    def __len__(self) -> int:
        return len(self.labels)

    def get(self, i: int) -> Stylizer:
        if i not in self._cache:
            self._cache[i] = self._build(i)
        return self._cache[i]

