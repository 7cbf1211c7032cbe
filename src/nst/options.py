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
import numbers
from typing import Any, Mapping, Sequence

from .errors import OptionError

_MISSING: Any = dataclasses.MISSING

#: Bounds shared by every front end (CLI, API, web page). A long side of 16384 pixels keeps a
#: 16384 x 6100 image under `nst.io.image.MAX_PIXELS` (100 MP); 16 is the smallest side the methods take.
MIN_SIDE, MAX_SIDE = 16, 16384
#: Long side a style image may be encoded at.
MAX_STYLE_SIDE = 8192
#: torch.manual_seed takes 64-bit seeds; nst keeps them non-negative and signed.
MAX_SEED = 2**63 - 1
#: Bounds of an output size in pixels ("size" in the API, --size on the command line).
SIZE_BOUNDS: Mapping[str, Any] = {"min": MIN_SIDE, "max": MAX_SIDE}
#: Big enough for any weight anyone uses, small enough that float32 losses stay finite.
MAX_WEIGHT = 1e15


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


def num(v: float) -> str:
    """A bound or value for a message: whole numbers exactly (2**63 - 1), others as %g."""
    return str(v) if isinstance(v, int) else f"{v:g}"


def _bounds_text(meta: Mapping[str, Any]) -> str:
    lo, hi = meta.get("min"), meta.get("max")
    if lo is not None and hi is not None:
        if meta.get("exclusive_min"):
            return f"greater than {num(lo)} and at most {num(hi)}"
        return f"between {num(lo)} and {num(hi)}"
    if lo is not None:
        return f"greater than {num(lo)}" if meta.get("exclusive_min") else f"at least {num(lo)}"
    return f"at most {num(hi)}" if hi is not None else "any number"


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
        if isinstance(v, float) and not math.isfinite(v):
            raise OptionError(f"must be a finite number, not {v}", field=name)
        lo, hi = meta.get("min"), meta.get("max")
        if (lo is not None and (v < lo or (meta.get("exclusive_min") and v == lo))) or (hi is not None and v > hi):
            raise OptionError(f"must be {_bounds_text(meta)}, not {num(v)}", field=name)


def base_type(type_text: Any) -> str:
    """A field's annotation text without "| None" ("int | None" -> "int")."""
    t = str(type_text).replace(" ", "")
    return t[:-len("|None")] if t.endswith("|None") else t


def coerce(name: str, value: Any, kind: str) -> Any:
    """`value` as the field's kind ("int", "float", "bool", "str", "names"), or an OptionError naming it.

    Numbers: any real number (numpy's too), not bool or text; "int" also takes a float that is whole.
    """
    if value is None:
        return None
    if kind in ("int", "float"):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise OptionError(f"must be a number, not {value!r}", field=name)
        if isinstance(value, numbers.Integral) and kind == "int":
            return int(value)
        try:
            number = float(value)
        except OverflowError:  # 10**400 is an int, but no float
            raise OptionError(f"is far too large: {value}", field=name) from None
        if not math.isfinite(number):
            raise OptionError(f"must be a finite number, not {value}", field=name)
        if kind == "float":
            return number
        if not number.is_integer():
            raise OptionError(f"must be a whole number, not {value!r}", field=name)
        return int(number)
    if kind == "bool" and not isinstance(value, bool):
        raise OptionError(f"must be True or False, not {value!r}", field=name)
    if kind == "str" and isinstance(value, (numbers.Number, bytes, tuple, list, dict, set)):
        raise OptionError(f"must be text, not {value!r}", field=name)  # (a torch.device is fine for device)
    if kind == "names":
        if isinstance(value, str) or not isinstance(value, (tuple, list)) or not all(
                isinstance(v, str) for v in value):
            raise OptionError(f"must be a list of names, not {value!r}", field=name)
        return tuple(value)
    return value


def _kind(type_text: Any) -> str:
    t = base_type(type_text)
    if t in ("int", "float", "bool"):
        return t
    if t.startswith("tuple[str"):
        return "names"
    return "str" if t.startswith("str") else "other"


def check(opts: Any) -> None:
    """Validate every field of an options dataclass instance against its metadata (types included)."""
    for f in fields(opts):
        if getattr(opts, f.name) is None and base_type(f.type) == str(f.type).replace(" ", ""):
            raise OptionError("must be given, not None", field=f.name)  # None only where the type says "| None"
        value = coerce(f.name, getattr(opts, f.name), _kind(f.type))
        if value is not getattr(opts, f.name):
            object.__setattr__(opts, f.name, value)
        check_value(f.name, value, f.metadata)


def check_size(value: Any, name: str = "size") -> int | None:
    """An output size (long side in pixels, None: as is) checked against SIZE_BOUNDS; returns it as an int."""
    size = coerce(name, value, "int")
    check_value(name, size, SIZE_BOUNDS)
    return size  # type: ignore[no-any-return]


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
