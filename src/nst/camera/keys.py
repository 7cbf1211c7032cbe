"""Keys: one pure handler, `handle_key(state, key) -> (state, action)`, for the window and for injected keys.

Headless runs (and tests) press keys on a schedule {source frame index: key}, through the same handler.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum
from typing import Iterable, Mapping, Union

from ..errors import OptionError

ESC = 27


class Action(Enum):
    NONE = "none"
    STYLE = "style"
    COMPARE = "compare"
    STRENGTH = "strength"
    SNAPSHOT = "snapshot"
    TEMPORAL = "temporal"
    QUIT = "quit"


@dataclass(frozen=True)
class LoopState:
    """What the keys control. `style` indexes the style list; strength is clamped to [0, 1]."""

    style: int = 0
    n_styles: int = 1
    compare: bool = False
    strength: float = 1.0
    strength_step: float = 0.1
    temporal: bool = False


KEY_HELP = "n/p next/previous style, s snapshot, c side by side, +/- strength, t temporal on/off, q or Esc quit"

Key = Union[int, str]


def key_code(key: Key) -> int:
    """A key as cv2.waitKey reports it (low byte; -1 for none); 'esc' and single characters accepted."""
    if isinstance(key, str):
        if key.lower() in ("esc", "escape"):
            return ESC
        if len(key) != 1:
            raise OptionError(f"unknown key '{key}' (use one character or 'esc')")
        return ord(key)
    return -1 if key < 0 else key & 0xFF


def handle_key(state: LoopState, key: Key) -> tuple[LoopState, Action]:
    """Apply one key press: returns the new state and what the loop must do about it.

    n / p: next / previous style (wrapping); c: toggle side by side; + (or =) / -: strength up /
    down by one step; t: temporal consistency on / off; s: snapshot; q or Esc: quit. Other keys (and
    -1, no key) change nothing.
    """
    k = key_code(key)
    if k in (ord("q"), ord("Q"), ESC):
        return state, Action.QUIT
    if k in (ord("n"), ord("N"), ord(" ")):
        return replace(state, style=(state.style + 1) % state.n_styles), Action.STYLE
    if k in (ord("p"), ord("P")):
        return replace(state, style=(state.style - 1) % state.n_styles), Action.STYLE
    if k in (ord("c"), ord("C")):
        return replace(state, compare=not state.compare), Action.COMPARE
    if k in (ord("+"), ord("=")):
        return replace(state, strength=round(min(1.0, state.strength + state.strength_step), 4)), Action.STRENGTH
    if k in (ord("-"), ord("_")):
        return replace(state, strength=round(max(0.0, state.strength - state.strength_step), 4)), Action.STRENGTH
    if k in (ord("s"), ord("S")):
        return state, Action.SNAPSHOT
    if k in (ord("t"), ord("T")):
        return replace(state, temporal=not state.temporal), Action.TEMPORAL
    return state, Action.NONE


KeySchedule = Union[Mapping[int, Key], Iterable[tuple[int, Key]]]


def parse_key_schedule(text: str) -> list[tuple[int, str]]:
    """'30:n,60:n,90:s' -> [(30, 'n'), (60, 'n'), (90, 's')]: press the key when frame N is reached."""
    out: list[tuple[int, str]] = []
    for item in (t.strip() for t in text.split(",")):
        if not item:
            continue
        idx, sep, key = item.partition(":")
        try:
            n = int(idx)
        except ValueError:
            n = -1
        if not sep or n < 0 or not key:
            raise OptionError(f"bad key schedule item '{item}' (expected FRAME:KEY, e.g. 30:n)")
        key_code(key)  # validates
        out.append((n, key))
    return sorted(out, key=lambda t: t[0])


def schedule(keys: KeySchedule | None) -> list[tuple[int, Key]]:
    if keys is None:
        return []
    items = list(keys.items()) if isinstance(keys, Mapping) else list(keys)
    for _, k in items:
        key_code(k)
    return sorted(items, key=lambda t: t[0])

