"""Helpers shared by the subcommands: one-line argparse errors, option types, the progress bar."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any, NoReturn


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage dump) and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"nst: error: {message} (see `{self.prog} --help`)\n")


def floats(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got '{text}'") from None


def names(text: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in text.split(",") if v.strip())


def whole_number(text: str) -> int:
    """A whole number; its bounds are checked by the library (an OptionError naming the field)."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got '{text}'") from None


def positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got '{text}'") from None
    if v <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {v}")
    return v


def add_style_options(p: argparse.ArgumentParser) -> None:
    """--style (repeatable) and --style-weights, for the commands that also take --model."""
    p.add_argument("--style", action="append", default=None,
                   help="style image path or bundled style name (see `nst styles`); repeat to blend "
                        "(not needed with --model)")
    p.add_argument("--style-weights", type=floats, default=None, help="blend weights, e.g. 0.7,0.3")


def style_args(args: argparse.Namespace, method: str) -> list[str]:
    """The --style values; none is fine for a method whose model carries its style (--model, or a
    method that uses no style image)."""
    from ..errors import OptionError
    from ..methods import get_method

    if not args.style and get_method(method).uses_style_images:
        raise OptionError("a style is needed: --style NAME_OR_PATH (or a trained network: --model PATH)")
    return list(args.style or [])


METHOD_GROUPS = {"optimize": "optimize (Gatys et al. 2015)", "adain": "adain (Huang & Belongie 2017)",
                 "net": "net (trained networks, Johnson et al. 2016)"}


def add_method_options(p: argparse.ArgumentParser, size_default: int | None = 512) -> None:
    """--method, --size (unless `size_default` is None: the caller adds it) and every registered method's
    options, generated from their dataclasses."""
    from ..methods import method_names, registered
    from .options import add_options

    p.add_argument("--method", default="auto", choices=method_names(),
                   help="auto: the fastest good method (default): a trained network for the style if one ships, "
                   "else adain; " + "; ".join(f"{m.name}: {m.summary}" for m in registered().values()))
    from ..options import MAX_SIDE, MIN_SIDE

    if size_default is not None:
        p.add_argument("--size", type=whole_number, default=size_default, help=f"long side of the output in pixels "
                       f"(default {size_default}) [{MIN_SIDE}..{MAX_SIDE}]")
    seen: set[str] = set()
    for name, m in registered().items():
        add_options(p.add_argument_group(METHOD_GROUPS.get(name, name)), m.options, seen=seen)


def method_options(args: argparse.Namespace, method: str) -> dict[str, Any]:
    """The options the user gave for `method`; a given flag that the method does not take is an error."""
    from ..methods import get_method, registered
    from .options import check_applies, given

    fields = {f.name for m in registered().values() for f in dataclasses.fields(m.options)
              if f.metadata.get("cli", True)}  # API-only fields (optimize's tile) come from the front end
    values = given(args, sorted(fields))
    check_applies(values, [get_method(method).options], f"--method {method}")
    return values


def add_temporal_options(p: argparse.ArgumentParser) -> None:
    """--no-temporal, --temporal-strength, --flow-preset, --scene-cut (nst.methods.temporal.TemporalOptions)."""
    from ..methods.temporal import TemporalOptions
    from .options import add_options

    add_options(p.add_argument_group("temporal consistency (optical flow; on by default)"), TemporalOptions)


def temporal_args(args: argparse.Namespace) -> Any:
    """The TemporalOptions the user asked for (validated), or None with --no-temporal; a temporal
    setting given together with --no-temporal is a usage error."""
    from ..errors import OptionError
    from ..methods.temporal import TemporalOptions
    from ..options import build
    from .options import flag_for, given

    values = given(args, [f.name for f in dataclasses.fields(TemporalOptions)])
    opts = build(TemporalOptions, values)
    if not opts.temporal:
        extra = sorted(n for n in values if n != "temporal")
        if extra:
            raise OptionError(f"{flag_for(extra[0])} does not apply with --no-temporal")
        return None
    return opts
