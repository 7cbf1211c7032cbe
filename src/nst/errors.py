"""Errors the library raises for bad input; the CLI turns them into one-line messages."""

from __future__ import annotations


class NSTError(Exception):
    """Base class for every error caused by user input (paths, files, option values)."""


class InputError(NSTError):
    """An input file is missing, unreadable, corrupt, empty or too large."""


class OutputError(NSTError):
    """An output path cannot be written, or would overwrite an input or an existing file."""


class OptionError(NSTError, ValueError):
    """An option has a value outside its allowed set or range.

    `field` names the option (a dataclass field such as "strength") when the error is about one; the
    message then reads "strength must be ..." and the CLI shows it as "--strength must be ...".
    """

    def __init__(self, message: str, field: str | None = None) -> None:
        self.field, self.detail = field, message
        super().__init__(f"{field} {message}" if field else message)


class ResourceError(NSTError, MemoryError):
    """The work would need more memory than the machine has (the message names the way out, e.g. --size).

    Also a MemoryError, so code that catches out-of-memory conditions catches it too.
    """


class DisplayError(NSTError):
    """No window can be opened (no display, or an OpenCV build without GUI support)."""


class DivergedError(NSTError, FloatingPointError):
    """Optimisation or training diverged (NaN/inf or exploding loss) and could not recover.

    Also a FloatingPointError, which is what the library raised for this before.
    """
