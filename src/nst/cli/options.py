"""argparse flags generated from options dataclasses (`nst.options` metadata): one source for names,
types, choices, bounds, defaults and help. Library errors name fields; `flag_for` maps them back.

A flag's default is argparse.SUPPRESS: only the flags the user gave reach the library, so each
method applies its own defaults, and a flag that does not apply to the chosen method is reported
instead of silently ignored.
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any, Callable, Iterable, Mapping, Sequence

from .. import options as O
from ..errors import OptionError

_FLAGS: dict[str, str] = {}  # field name -> flag, for the fields whose flag is not --field-name


def flag_for(field: str) -> str:
    """The command-line flag of an option field ("style_size" -> "--style-size")."""
    return _FLAGS.get(field, "--" + field.replace("_", "-"))


def _scalar(kind: str) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            return int(text) if kind == "int" else float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {'a whole number' if kind == 'int' else 'a number'}, "
                                             f"got '{text}'") from None
    parse.__name__ = kind
    return parse


def _names(text: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in text.split(",") if v.strip())


def _parser_for(type_text: str) -> tuple[Callable[[str], Any] | None, str]:
    """(argparse type, kind) for a field's annotation text (annotations are strings here)."""
    t = type_text.replace(" ", "").replace("|None", "").replace("Optional[", "").rstrip("]")
    if t in ("int", "float"):
        return _scalar(t), t
    if t == "bool":
        return None, "bool"
    if t.startswith("tuple[str"):
        return _names, "names"
    return str, "str"


def _help(f: dataclasses.Field[Any], kind: str) -> str:
    text = f.metadata["help"]
    default = f.default
    if kind == "names" and isinstance(default, tuple):
        default = ",".join(default)
    if kind != "bool" and default is not None and default is not dataclasses.MISSING and default != "":
        text += f" (default {default})"
    if f.metadata.get("min") is not None or f.metadata.get("max") is not None:
        lo, hi = f.metadata.get("min"), f.metadata.get("max")
        text += f" [{'' if lo is None else O.num(lo)}..{'' if hi is None else O.num(hi)}]"
    return text


def add_options(parser: argparse.ArgumentParser | argparse._ArgumentGroup, cls: type,
                skip: Iterable[str] = (), seen: set[str] | None = None,
                types: Mapping[str, Callable[[str], Any]] | None = None) -> list[str]:
    """Add a flag for every CLI field of `cls` (not in `skip` or `seen`); returns the field names added.

    `types` gives a field a parser other than its annotation's (e.g. times as [hh:]mm:ss).
    """
    seen = seen if seen is not None else set()
    added = []
    for f in O.fields(cls):
        if not f.metadata.get("cli", True) or f.name in skip or f.name in seen:
            continue
        long = "--" + f.name.replace("_", "-")
        flag = f.metadata.get("flag") or long
        names = [flag, long] if flag.startswith("-") and not flag.startswith("--") else [flag]  # "-o" + "--output"
        if flag != long:
            _FLAGS[f.name] = "/".join(names)
        type_, kind = _parser_for(str(f.type))
        common: dict[str, Any] = {"dest": f.name, "default": argparse.SUPPRESS}
        if kind == "bool":
            if f.default is True:
                parser.add_argument("--no-" + long[2:], action="store_false", help=f.metadata["help"] + " (off)",
                                    **common)
            else:
                parser.add_argument(*names, action="store_true", help=f.metadata["help"], **common)
        else:
            choices = [c for c in (f.metadata.get("choices") or ()) if c not in (None, "")] or None
            type_ = (types or {}).get(f.name, type_)
            parser.add_argument(*names, type=type_ or str, choices=choices, metavar=f.metadata.get("metavar"),
                                help=_help(f, kind), **common)
        seen.add(f.name)
        added.append(f.name)
    return added


def given(args: argparse.Namespace, names: Sequence[str]) -> dict[str, Any]:
    """The option values the user gave on the command line, among `names`."""
    return {n: getattr(args, n) for n in names if hasattr(args, n)}


def check_applies(values: dict[str, Any], classes: Sequence[type], what: str) -> None:
    """An error naming the flag for a value none of `classes` takes (e.g. --iterations with adain)."""
    known = {f.name for cls in classes for f in dataclasses.fields(cls)}
    for name in values:
        if name not in known:
            raise OptionError(f"{flag_for(name)} does not apply to {what}")
