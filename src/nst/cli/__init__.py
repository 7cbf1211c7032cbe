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
COMMAND_MODULES = ["image", "batch", "video", "camera", "train", "serve"]


def build_parser() -> Parser:
    p = Parser(prog="nst", description="Neural style transfer for photos, videos and live cameras.")
    p.add_argument("--debug", action="store_true", help="show the full traceback of an error (for bug reports)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(f"{__name__}.{name}").add_parsers(sub)
    return p


#: Exit codes: a usage error (a flag, its value, a missing argument) is 2; a failure (a bad or missing
#: file, an unwritable output, out of memory, anything else) is 1; Ctrl-C is 130.
EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

_OOM_TEXT = ("can't allocate memory", "not enough memory", "out of memory", "failed to allocate")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 1 failure, 2 usage, 130 interrupted).

    Every error is one line on stderr, "nst: error: ...", and no traceback; `nst --debug COMMAND`
    lets the exception through instead, with its traceback.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv  # until the command line is parsed
    try:
        try:
            args = build_parser().parse_args(argv)
        except SystemExit as e:  # argparse: a usage error (exit 2, already reported) or --help (0)
            return e.code if isinstance(e.code, int) else EXIT_USAGE
        debug = bool(args.debug)
        from ..device import tune_allocator

        tune_allocator()  # every command is a long-running frame or training loop
        code = int(args.func(args))
        sys.stdout.flush()  # a closed pipe or a full disk shows here, inside the try, not at exit
        return code
    except BaseException as e:  # noqa: BLE001  (every error becomes one line and an exit code)
        if debug or isinstance(e, SystemExit):
            raise
        return _report(e)


def _report(e: BaseException) -> int:
    """The one line and the exit code for an exception."""
    if isinstance(e, KeyboardInterrupt):
        print("nst: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    if isinstance(e, OSError) and _is_stdout_error(e):
        _silence_stdout()
        if isinstance(e, BrokenPipeError):  # `nst styles | head`: the reader left; say nothing more
            return EXIT_FAILURE
        print(f"nst: error: cannot write the output (standard output: {e.strerror or e})", file=sys.stderr)
        return EXIT_FAILURE
    if isinstance(e, OptionError):
        print(f"nst: error: {_message(e)}", file=sys.stderr)
        return EXIT_USAGE
    if isinstance(e, (NSTError, FloatingPointError)):
        print(f"nst: error: {_message(e)}", file=sys.stderr)
        return EXIT_FAILURE
    if isinstance(e, MemoryError) or (isinstance(e, RuntimeError) and any(t in str(e).lower() for t in _OOM_TEXT)):
        print("nst: error: out of memory; try a smaller --size", file=sys.stderr)
        return EXIT_FAILURE
    if isinstance(e, Exception):
        print(f"nst: error: unexpected {type(e).__name__}: {_message(e)} (this is a bug; `nst --debug ...` shows "
              "where)", file=sys.stderr)
        return EXIT_FAILURE
    raise e  # GeneratorExit and the like: not ours to report


def _is_stdout_error(e: OSError) -> bool:
    """A failed write to standard output: a closed pipe, a full disk (`> /dev/full`), an I/O error."""
    import errno

    if isinstance(e, BrokenPipeError):
        return True
    if e.errno not in (errno.ENOSPC, errno.EIO, errno.EDQUOT) or getattr(e, "filename", None) is not None:
        return False
    try:  # stdout keeps what it could not write: flushing again fails again if it was stdout
        sys.stdout.flush()
    except OSError:
        return True
    return False


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's last flush at exit does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _message(e: BaseException) -> str:
    """One line; an option error names the flag (the library names the field)."""
    if isinstance(e, OptionError) and e.field:
        return f"{flag_for(e.field)} {e.detail}"
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def entry() -> NoReturn:
    sys.exit(main())
