"""The stylisation methods: one registry, one way to build a stylizer.

Each method is one module that registers a `Method` (its options dataclass, capabilities and build
function) at import; the built-in ones are imported below. `make_stylizer` is the only function
that builds stylizers: `nst.stylize`, video, camera, examine and the web page all call it. Adding a
method is adding a module that calls `register` (see docs/DESIGN-NOTES.md).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from .. import options as O
from ..errors import OptionError
from ..io.image import ImageLike
from ..progress import ProgressCallback
from ..registry import shipped_model
from . import adain, net, optimize  # noqa: F401  (the built-in methods register themselves)
from .base import (
    CAPABILITIES,
    GUIDED,
    SEQUENTIAL,
    STRENGTH,
    TILING,
    Adjustable,
    BaseStylizer,
    Guided,
    Method,
    Sequential,
    StyleInput,
    Stylizer,
    Tileable,
    register,
    registered,
)
from .common import style_input
from .temporal import TemporalOptions, TemporalStylizer, with_temporal

AUTO = "auto"


def method_names() -> list[str]:
    """What `method=` accepts: "auto" and every registered method."""
    return [AUTO] + list(registered())


def get_method(name: str) -> Method:
    table = registered()
    if not isinstance(name, str) or name not in table:
        raise OptionError(f"must be one of {', '.join(method_names())}, not {name!r}", field="method")
    return table[name]


def resolve_method(method: str, styles: Sequence[object], model: object = None) -> str:
    """The one place "auto" is decided: a trained network when a model is given or when one shipped
    network paints every style asked for, else AdaIN. `optimize` is never chosen automatically (it is the slow one)."""
    if method != AUTO:
        return get_method(method).name
    if model is not None:
        return "net"
    if styles and all(isinstance(s, str) for s in styles):
        paths = {shipped_model(str(s)) for s in styles}
        if len(paths) == 1 and None not in paths:  # one shipped network paints them all (and their blend)
            return "net"
    return "adain"


def method_options(method: str, options: dict[str, Any]) -> Any:
    """The method's options dataclass from a dict of field values, validated (field-named errors)."""
    return O.build(get_method(method).options, options)


def temporal_options(value: "TemporalOptions | Mapping[str, Any] | bool | None") -> TemporalOptions | None:
    """`temporal=` as make_stylizer takes it (None/False: off; True: the defaults; a dict of
    TemporalOptions fields; TemporalOptions) -> validated options, or None when off."""
    if value is None or value is False:
        return None
    if value is True:
        return TemporalOptions()
    if isinstance(value, TemporalOptions):
        value.validate()
        opts = value
    elif isinstance(value, Mapping):
        opts = O.build(TemporalOptions, dict(value))
    else:
        raise OptionError(f"must be True, False, a dict or TemporalOptions, not {value!r}", field="temporal")
    return opts if opts.temporal else None


def make_stylizer(method: str = AUTO, styles: Sequence[ImageLike] = (), weights: Sequence[float] | None = None, *,
                  progress: ProgressCallback | None = None,
                  temporal: "TemporalOptions | Mapping[str, Any] | bool | None" = None, **options: Any) -> Stylizer:
    """Build the stylizer for `method` ("auto" or a registered name) and `styles`.

    styles: bundled style names, image paths, PIL images, arrays or tensors (several blend, with
    `weights`). options: fields of the method's options dataclass (see `nst.methods.<name>`), all
    validated here, before any slow work. progress: receives `nst.Progress` events (slow methods).
    temporal: make it temporally consistent for video (`nst.methods.temporal`: optical flow, a
    SEQUENTIAL stylizer; True for the defaults, or TemporalOptions fields); off by default.
    The stylizer keeps the input size: resize frames before calling it.
    """
    topts = temporal_options(temporal)
    name = resolve_method(method, list(styles), options.get("model"))
    m = get_method(name)
    opts = method_options(name, options)
    inputs = [style_input(s, i, load=m.uses_style_images) for i, s in enumerate(styles)]
    if m.uses_style_images and not inputs:
        raise OptionError("at least one style is needed")
    return with_temporal(m.build(inputs, weights, opts, progress), topts)


__all__ = ["make_stylizer", "resolve_method", "method_names", "get_method", "method_options", "register",
           "registered", "Method", "Stylizer", "BaseStylizer", "StyleInput", "Adjustable", "Sequential", "Tileable",
           "Guided", "STRENGTH", "SEQUENTIAL", "TILING", "GUIDED", "CAPABILITIES", "AUTO", "TemporalOptions",
           "TemporalStylizer", "temporal_options"]
