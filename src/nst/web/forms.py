"""The page's form, from the options metadata: one source for the CLI's flags and the web form.

`schema()` describes every method's fields (help, kind, default, bounds, choices) for the page to
draw its controls; `method_values()` turns the submitted text into the values `make_stylizer` takes,
validated by the library (`nst.options`: errors that name the field) plus the server's own limits.
Fields that name files or hardware (model, device, engine, precision) are not on the page: a web
request never chooses a path on the server.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

from .. import options as O
from ..errors import OptionError
from ..methods import AUTO, get_method, method_names, method_options, registered, resolve_method
from ..registry import get_style, shipped_model, styles
from .limits import ServerLimits

#: Never taken from a request: a path on the server, or the machine's hardware.
HIDDEN = frozenset({"model", "device", "engine", "precision", "warm_start", "warm_iterations", "channels_last"})
#: The fields the page shows first; the rest of a method's fields go under "More settings".
MAIN = ("strength", "preserve_color")
DEFAULT_SIZE = 512
_TRUE, _FALSE = {"true", "on", "1", "yes"}, {"false", "off", "0", "no", ""}


def _kind(f: Any) -> str:
    t = O.base_type(f.type)
    return "names" if t.startswith("tuple[str") else t if t in ("int", "float", "bool") else "str"


def _field(f: Any) -> dict[str, Any]:
    m = f.metadata
    default = f.default
    if isinstance(default, tuple):
        default = ",".join(default)
    big = lambda v: None if v is None or (isinstance(v, float) and not math.isfinite(v)) else v  # noqa: E731
    return {"name": f.name, "label": f.name.replace("_", " "), "help": m["help"], "kind": _kind(f),
            "default": default, "min": big(m.get("min")), "max": big(m.get("max")),
            "exclusive_min": bool(m.get("exclusive_min")), "items": list(m["items"]) if m.get("items") else None,
            "choices": [c for c in m["choices"]] if m.get("choices") else None}


def fields_of(method: str) -> list[dict[str, Any]]:
    """The page's fields for a registered method, in declaration order."""
    return [_field(f) for f in O.fields(get_method(method).options)
            if f.name not in HIDDEN and f.metadata.get("cli", True)]


def schema(limits: ServerLimits) -> dict[str, Any]:
    """Everything the page needs to draw the form and the gallery."""
    return {
        "methods": [{"name": n, "summary": registered()[n].summary if n != AUTO else
                     "the fastest good method: the style's trained network if one ships, else adain",
                     "fields": fields_of(n) if n != AUTO else []} for n in method_names()],
        "main": list(MAIN),
        "size": {"default": min(DEFAULT_SIZE, limits.max_side), "min": O.MIN_SIDE, "max": limits.max_side},
        "styles": [{"name": s.name, "title": s.title, "artist": s.artist, "year": s.year,
                    "net": shipped_model(s.name) is not None} for s in styles().values()],
        "limits": {"upload_mb": limits.max_upload_mb, "video_seconds": limits.max_video_seconds,
                   "video_side": limits.max_video_side, "iterations": limits.max_iterations},
    }


def _number(name: str, text: str, kind: str) -> Any:
    try:
        value = float(text)
    except ValueError:
        raise OptionError(f"must be {'a whole number' if kind == 'int' else 'a number'}, not {text!r}",
                          field=name) from None
    return O.coerce(name, value, kind)


def parse_value(f: Mapping[str, Any], text: str) -> Any:
    """One submitted text as the field's kind (an OptionError naming the field if it is not one)."""
    name, kind = f["name"], f["kind"]
    if not isinstance(text, str):
        raise OptionError(f"must be text, not {type(text).__name__}", field=name)
    text = text.strip()
    if kind in ("int", "float"):
        return _number(name, text, kind)
    if kind == "bool":
        if text.lower() not in _TRUE | _FALSE:
            raise OptionError(f"must be true or false, not {text!r}", field=name)
        return text.lower() in _TRUE
    if kind == "names":
        return tuple(v.strip() for v in text.split(",") if v.strip())
    return text or None


def parse_size(text: str | None, limits: ServerLimits) -> int:
    """The output's long side: the library's bounds, then the server's."""
    size = O.check_size(_number("size", text, "int") if text not in (None, "") else DEFAULT_SIZE)
    assert size is not None
    if size > limits.max_side:
        raise OptionError(f"must be at most {limits.max_side} on this server, not {size}", field="size")
    return size


def method_values(method: str, style_specs: list[str], form: Mapping[str, str],
                  limits: ServerLimits) -> tuple[str, dict[str, Any]]:
    """(resolved method, its option values) from the submitted fields, validated as `make_stylizer` will.

    `form` holds only option fields (text); an empty value means "the method's default". A field the
    method does not take, or one the page never offers, is an error naming it, as on the command line.
    """
    if method not in method_names():
        raise OptionError(f"must be one of {', '.join(method_names())}, not {method!r}", field="method")
    name = resolve_method(method, style_specs)
    mine = {f["name"]: f for f in fields_of(name)}
    offered = {f["name"] for m in registered() for f in fields_of(m)}
    values: dict[str, Any] = {}
    for key, text in form.items():
        if key not in offered:
            raise OptionError(f"unknown option {key!r}")
        if text in ("", None):
            continue
        if key not in mine:
            raise OptionError(f"does not apply to method {name}", field=key)
        value = parse_value(mine[key], text)
        if value is not None:
            values[key] = value
    for key in ("iterations", "coarse_iterations"):
        if key in values and isinstance(values[key], int) and values[key] > limits.max_iterations:
            raise OptionError(f"must be at most {limits.max_iterations} on this server, not {values[key]}",
                              field=key)
    method_options(name, values)  # the library's own checks, now, before any job is queued
    return name, values


def bundled_style(name: str) -> str:
    """A gallery style's name, checked (never a path: an upload is how a painting of one's own arrives)."""
    return get_style(str(name)).name
