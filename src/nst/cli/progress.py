"""The one renderer of the library's progress for every command (image, video, train, camera).

On a terminal: one line with a bar (when the total is known), the counts, the latest losses or info,
the elapsed time and an ETA. Elsewhere (a log file, CI): a plain line every `log_every` seconds.
Warnings (`Progress(stage="warning")`) become one-line `nst: warning: ...` messages.

The ETA is measured from the first event, not from when the command started: model loading and
style encoding happen before it and say nothing about the speed of the steps. The library weights
steps by their measured cost (`Progress.done`/`total`), so the rate holds across stages.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO


def _clock(seconds: float) -> str:
    seconds = max(0, int(seconds + 0.5))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


class ProgressLine:
    """Renders `nst.Progress` events (call it with each) and free status text (`status`)."""

    def __init__(self, desc: str, enabled: bool = True, stream: TextIO | None = None, log_every: float = 30.0,
                 unit: str = "") -> None:
        self.desc, self.enabled, self.unit = desc, enabled, unit
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.log_every = log_every
        self.t_start = time.perf_counter()
        self.first: tuple[float, float] | None = None  # (time, done) of the first event
        self.last_log = 0.0
        self.width = 0

    def eta(self, done: float, total: float, now: float | None = None) -> float | None:
        """Seconds left, from the rate since the first event; None until there is a rate."""
        now = time.perf_counter() if now is None else now
        if self.first is None or total <= 0:
            return None
        t0, d0 = self.first
        if done <= d0 or now <= t0:
            return None
        return (total - done) * (now - t0) / (done - d0)

    def __call__(self, ev: Any) -> None:
        if ev.stage == "warning":
            self.write(f"nst: warning: {ev.info}")
            return
        now = time.perf_counter()
        if self.first is None:
            self.first = (now, float(ev.done))
        parts = [f"{ev.step}/{ev.steps}{self.unit}" if ev.steps else f"{ev.step}{self.unit}"]
        if ev.losses:
            parts.append(" ".join(f"{k} {v:.4g}" for k, v in ev.losses.items() if k == "total" or len(ev.losses) < 5))
        if ev.info:
            parts.append(ev.info)
        eta = self.eta(float(ev.done), float(ev.total), now)
        timing = f"{_clock(now - self.t_start)}" + (f"<{_clock(eta)}" if eta is not None else "")
        bar = ""
        if ev.total:
            frac = min(1.0, max(0.0, float(ev.done) / float(ev.total)))
            bar = f"{100 * frac:3.0f}%|{'#' * int(20 * frac):<20}| "
        self.status(f"{bar}{'  '.join(parts)}  {timing}")

    def status(self, text: str) -> None:
        """Show a status line (replaces the previous one on a terminal)."""
        if not self.enabled:
            return
        line = f"{self.desc}: {text}"
        if self.tty:
            pad = max(0, self.width - len(line))
            self.stream.write("\r" + line + " " * pad)
            self.stream.flush()
            self.width = len(line)
            return
        now = time.perf_counter()
        if now - self.last_log >= self.log_every:
            self.last_log = now
            print(line, file=self.stream, flush=True)

    def clear(self) -> None:
        """Erase the status line (on a terminal), so that other output starts on a clean line."""
        if self.tty and self.width:
            self.stream.write("\r" + " " * self.width + "\r")
            self.stream.flush()
            self.width = 0

    def write(self, text: str) -> None:
        """A message on its own line (the status line is redrawn by the next event)."""
        self.clear()
        print(text, file=self.stream, flush=True)

    def close(self) -> None:
        if self.enabled and self.tty and self.width:
            self.stream.write("\n")
            self.stream.flush()
            self.width = 0
