"""Command line: `nst <command> ...`. The cli package is the only code that prints or exits.

Each subcommand module exposes `add_parsers(sub)`; option defaults come from the library's
options dataclasses, never repeated here.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import NoReturn, Sequence

from ..errors import NSTError, OptionError
from .common import Parser
from .options import flag_for

# Subcommand modules, in the order their commands appear in `nst --help`.
COMMAND_MODULES = ["image", "video", "camera", "train"]


def build_parser() -> Parser:
    p = Parser(prog="nst", description="Neural style transfer for photos, videos and live cameras.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(f"{__name__}.{name}").add_parsers(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 1 bad input or failure, 2 usage, 130 interrupted)."""
    args = build_parser().parse_args(argv)
    try:
        code = int(args.func(args))
        sys.stdout.flush()  # a closed pipe shows here, inside the try, not at exit
        return code
    except (NSTError, FloatingPointError) as e:
        print(f"nst: error: {_message(e)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("nst: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `nst styles | head`: the reader left; say nothing more
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except MemoryError:
        print("nst: error: out of memory; try a smaller --size", file=sys.stderr)
        return 1


def _message(e: Exception) -> str:
    """One line; an option error names the flag (the library names the field)."""
    if isinstance(e, OptionError) and e.field:
        return f"{flag_for(e.field)} {e.detail}"
    return str(e).splitlines()[0] if str(e) else type(e).__name__


def entry() -> NoReturn:
    sys.exit(main())
