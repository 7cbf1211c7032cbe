"""Option metadata: every tunable setting is a dataclass field that says its help, choices and bounds.

One source for the library's validation, the CLI's flags (`nst.cli.options` generates argparse
arguments from these fields) and, later, the web page's form. A method's options dataclass declares

    strength: float = option(1.0, help="0 = the photo, 1 = full style", min=0.0, max=1.0)

and `check(opts)` validates every field against its metadata, raising an `OptionError` that names the
field ("strength must be between 0 and 1, not 2.0"); the CLI maps the field to its flag.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Mapping, Sequence

from .errors import OptionError

_MISSING: Any = dataclasses.MISSING


def option(default: Any = _MISSING, *, help: str, choices: Sequence[Any] | None = None,
           min: float | None = None, max: float | None = None, exclusive_min: bool = False,
           items: Sequence[str] | None = None, cli: bool = True, flag: str | None = None,
           metavar: str | None = None, default_factory: Any = _MISSING) -> Any:
    """A dataclass field with metadata.

    help: one line for --help and error messages. choices: the allowed values (None is always
    allowed for an optional field whose default is None). min/max: inclusive numeric bounds
    (`exclusive_min`: strictly greater than min). items: for tuple fields, the allowed items.
    cli: False keeps the field out of the generated flags (API-only). flag: a flag name other than
    --field-name. Bounds also apply to each item of a tuple of numbers.
    """
    meta = {"help": help, "choices": tuple(choices) if choices is not None else None, "min": min, "max": max,
            "exclusive_min": exclusive_min, "items": tuple(items) if items is not None else None, "cli": cli,
            "flag": flag, "metavar": metavar}
    if default_factory is not _MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def fields(cls: Any) -> list[dataclasses.Field[Any]]:
    """The fields of an options dataclass (class or instance) that carry metadata."""
    return [f for f in dataclasses.fields(cls) if "help" in f.metadata]


def _bounds_text(meta: Mapping[str, Any]) -> str:
    lo, hi = meta["min"], meta["max"]
    if lo is not None and hi is not None:
        return f"between {lo:g} and {hi:g}"
    if lo is not None:
        return f"greater than {lo:g}" if meta["exclusive_min"] else f"at least {lo:g}"
    return f"at most {hi:g}"


def check_value(name: str, value: Any, meta: Mapping[str, Any]) -> None:
    """Validate one value against its field's metadata; raise OptionError naming the field."""
    if value is None:
        return
    if meta.get("choices") is not None and value not in meta["choices"]:
        allowed = ", ".join(str(c) for c in meta["choices"] if c is not None)
        raise OptionError(f"must be one of {allowed}, not {value!r}", field=name)
    if meta.get("items") is not None:
        bad = [v for v in value if v not in meta["items"]]
        if bad:
            raise OptionError(f"has unknown item(s) {', '.join(map(str, bad))} (known: {', '.join(meta['items'])})",
                              field=name)
        if not value:
            raise OptionError("needs at least one item", field=name)
    numbers = value if isinstance(value, (tuple, list)) else [value]
    for v in numbers:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            continue
        if not math.isfinite(v):
            raise OptionError(f"must be a finite number, not {v}", field=name)
        lo, hi = meta.get("min"), meta.get("max")
        if (lo is not None and (v < lo or (meta.get("exclusive_min") and v == lo))) or (hi is not None and v > hi):
            raise OptionError(f"must be {_bounds_text(meta)}, not {v:g}", field=name)


def check(opts: Any) -> None:
    """Validate every field of an options dataclass instance against its metadata (types included)."""
    for f in fields(opts):
        value = getattr(opts, f.name)
        if value is not None and f.type in ("int", "float") and (
                isinstance(value, bool) or not isinstance(value, (int, float))):
            raise OptionError(f"must be a number, not {value!r}", field=f.name)
        if f.type == "int" and isinstance(value, float):
            if not value.is_integer():
                raise OptionError(f"must be a whole number, not {value!r}", field=f.name)
            object.__setattr__(opts, f.name, int(value))
        check_value(f.name, value, f.metadata)


def build(cls: type, values: dict[str, Any]) -> Any:
    """`cls(**values)` with a clear OptionError for unknown names, then `check` (and `validate` if any)."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise OptionError(f"unknown option(s) {', '.join(unknown)} (known: {', '.join(sorted(names))})")
    opts = cls(**values)
    check(opts)
    validate = getattr(opts, "validate", None)
    if validate is not None:
        validate()
    return opts
