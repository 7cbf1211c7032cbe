"""The live loop: `LiveLoop.step` does one frame (keys, stylise, view, snapshot, record, show);
`run_camera` opens what the loop needs, drives it with the capture thread's frames, and cleans up.

Strength (the +/- keys) reaches stylizers that declare STRENGTH, as `with_strength(v)` copies kept
per (style, strength); stylizers are never modified.

Temporal consistency (a bank of `TemporalStylizer`s, `nst.methods.temporal`) is on from the start
unless `--no-temporal`; key t toggles it. Left to itself the loop keeps it only while it is cheap: once
it has run TEMPORAL_PROBE frames, if the flow and blend cost more than TEMPORAL_MAX_COST of the
stylizer's fps, it is turned off (an event says so). A style change or turning it on starts a new sequence.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, cast

import numpy as np
import torch

from ..bank import StylizerBank
from ..errors import OptionError
from ..io.frames import arrays_to_tensor, tensor_to_arrays
from ..methods import Stylizer
from ..methods.base import STRENGTH, Adjustable
from ..methods.temporal import TemporalStylizer
from ..options import MAX_SIDE, MIN_SIDE, check, option
from .keys import Action, Key, KeySchedule, LoopState, handle_key, schedule
from .record import Recorder, check_dir, save_snapshot
from .sources import CapturedFrame, FrameGrabber, FrameSource
from .view import Window, compose, draw_overlay, frame_size, resize_frame

#: Frames temporal mode runs before its cost is judged, and the share of the fps it may cost.
TEMPORAL_PROBE, TEMPORAL_MAX_COST = 10, 0.25


@dataclass
class CameraOptions:
    """Settings of the live loop; the CLI derives its flags and defaults from these fields."""

    size: int | None = option(512, help="long side of the stylised frames in pixels (smaller is faster; None: the "
                              "source's size)", min=MIN_SIDE, max=MAX_SIDE)
    realtime: bool | None = option(None, help="play a video file at its own frame rate like a camera, skipping frames "
                                   "the stylizer cannot keep up with (default for files: every frame, as fast as "
                                   "possible; cameras and streams always)")
    max_frames: int | None = option(None, help="stop after N source frames", min=1, max=10**9, metavar="N")
    duration: float | None = option(None, help="stop after S seconds (wall clock for cameras and streams, video time "
                                    "for files)", min=0.0, exclusive_min=True, max=1e7, metavar="S")
    overlay: bool = option(True, help="draw the style name and fps on the view (shown and recorded)",
                           flag="--no-overlay")
    compare: bool = option(False, help="start side by side with the original (key c)")
    strength: float = option(1.0, help="initial strength for methods that have one (AdaIN alpha)", min=0.0, max=1.0,
                             cli=False)  # the CLI's --strength is the methods' flag
    strength_step: float = option(0.1, help="change per +/- key", min=0.0, exclusive_min=True, max=1.0, cli=False)
    snapshot_dir: str | os.PathLike = option(".", help="where key s saves PNG snapshots", metavar="DIR")
    read_timeout: float = option(10.0, help="seconds without a frame before a live source counts as stalled",
                                 min=0.0, exclusive_min=True, max=3600.0, cli=False)

    def validate(self) -> None:
        """Check every field against its metadata (OptionError naming the field)."""
        check(self)


@dataclass
class CameraStats:
    """What a run did. Frame counts are source frames; `dropped` were skipped as stale."""

    frames_read: int = 0          # frames the capture thread took from the source
    frames_processed: int = 0     # frames stylised
    frames_dropped: int = 0       # frames replaced by a newer one before the loop took them
    frames_written: int = 0       # frames in the recording: the stylised ones (skipped ones leave gaps),
    #                               plus the last one repeated at the stop time if frames were skipped there
    seconds: float = 0.0          # wall time of the loop, first frame to stop
    stylize_seconds: float = 0.0  # time spent inside the stylizers
    stopped_by: str = "end"       # end | max-frames | duration | quit | window | interrupt
    temporal_frames: int = 0      # frames stylised with temporal consistency on
    temporal_cost: float | None = None  # the share of the stylizer's fps temporal mode cost, when measured
    snapshots: list[Path] = field(default_factory=list)
    styles_shown: list[str] = field(default_factory=list)  # labels in the order they were first used
    width: int = 0                # size of the stylised frames
    height: int = 0

    @property
    def loop_fps(self) -> float:
        """Frames stylised and shown/recorded per wall-clock second (what the overlay measures)."""
        return self.frames_processed / self.seconds if self.seconds > 0 else 0.0

    @property
    def stylize_fps(self) -> float:
        """Frames per second of stylizer time alone; loop_fps / stylize_fps is the loop's efficiency."""
        return self.frames_processed / self.stylize_seconds if self.stylize_seconds > 0 else 0.0


@dataclass(frozen=True)
class CameraEvent:
    """Something the user may want reported: kind is style | compare | strength | snapshot | frame | quit.

    "frame" events come once per stylised frame (for status lines); the others on key actions.
    """

    kind: str
    frame: int            # source frame index
    style: str            # current style label
    fps: float            # loop fps (moving average)
    dropped: int          # stale frames skipped so far
    detail: str = ""      # e.g. the snapshot path, "on"/"off", the new strength



class _FpsMeter:
    """Frames per second over the last ~1 s of frames (first value after two frames)."""

    def __init__(self, window: float = 1.0) -> None:
        self.window = window
        self.times: list[float] = []

    def tick(self, t: float) -> float:
        self.times.append(t)
        while len(self.times) > 2 and self.times[-1] - self.times[1] >= self.window:
            self.times.pop(0)
        return self.value

    @property
    def value(self) -> float:
        if len(self.times) < 2:
            return 0.0
        return (len(self.times) - 1) / max(1e-9, self.times[-1] - self.times[0])


class LiveLoop:
    """One frame at a time: `step(frame)` returns False when the loop must stop (`stats.stopped_by` says why).

    `live`: frames arrive in real time (a --duration limit is wall clock, else source time);
    `fps`: the source's frame rate; `keys`: the key schedule; `dropped`: how many stale frames the
    capture thread skipped so far (for events).
    """

    def __init__(self, bank: StylizerBank, opts: CameraOptions, width: int, height: int, *, live: bool, fps: float,
                 keys: list[tuple[int, Key]] | None = None, window: Window | None = None,
                 recorder: Recorder | None = None, on_event: Callable[[CameraEvent], None] | None = None,
                 dropped: Callable[[], int] = lambda: 0) -> None:
        self.bank, self.opts, self.w, self.h = bank, opts, width, height
        self.live, self.window, self.recorder, self.on_event, self.dropped = live, window, recorder, on_event, dropped
        self.keys = list(keys or [])
        self.state = LoopState(style=0, n_styles=len(bank), compare=opts.compare, strength=opts.strength,
                               strength_step=opts.strength_step, temporal=True)
        self.temporal_auto = True  # until the user presses t, the loop decides by the measured cost
        self.stats = CameraStats(width=width, height=height)
        self.snap_dir = Path(opts.snapshot_dir)
        self.limit = opts.max_frames
        if opts.duration is not None and not live:  # source time: a frame count
            n = math.ceil(round(opts.duration * fps, 6))
            self.limit = n if opts.max_frames is None else min(opts.max_frames, n)
        self.meter = _FpsMeter()
        self.t_start: float | None = None
        self.last_index = -1
        self._snapshot_pending = False
        self._adjusted: dict[tuple[int, float, bool], Stylizer] = {}

    def emit(self, kind: str, frame: int, detail: str = "") -> None:
        if self.on_event:
            self.on_event(CameraEvent(kind, frame, self.bank.labels[self.state.style], self.meter.value,
                                      self.dropped(), detail))

    def press(self, key: Key, index: int) -> bool:
        """Handle one key (window or schedule); True means quit."""
        self.state, action = handle_key(self.state, key)
        if action is Action.QUIT:
            return True
        if action is Action.SNAPSHOT:
            check_dir(self.snap_dir)
            self._snapshot_pending = True
        elif action is Action.STYLE:
            self.emit("style", index, self.bank.labels[self.state.style])
        elif action is Action.COMPARE:
            self.emit("compare", index, "on" if self.state.compare else "off")
        elif action is Action.STRENGTH:
            self.emit("strength", index, f"{self.state.strength:.2f}")
        elif action is Action.TEMPORAL:
            self.temporal_auto = False
            self._restart_sequence()
            self.emit("temporal", index, "on" if self.state.temporal else "off")
        if action is Action.STYLE:
            self._restart_sequence()
        return False

    def _temporal(self) -> TemporalStylizer | None:
        base = self.bank.get(self.state.style)
        return base if isinstance(base, TemporalStylizer) else None

    def _restart_sequence(self) -> None:
        t = self._temporal()
        if t is not None:
            t.reset()

    def _judge_temporal(self, index: int) -> None:
        """Turn temporal mode off once it has shown it costs more than TEMPORAL_MAX_COST of the fps."""
        t = self._temporal()
        if t is None or not self.state.temporal:
            return
        self.stats.temporal_frames += 1
        if t.memory.frames < TEMPORAL_PROBE:
            return
        cost = t.overhead / (1.0 + t.overhead)  # 1 - fps with / fps without
        self.stats.temporal_cost = cost
        if self.temporal_auto and cost > TEMPORAL_MAX_COST:
            self.state = dataclasses.replace(self.state, temporal=False)
            self.emit("temporal", index, f"off (it cost {100 * cost:.0f}% of the fps; t turns it on)")
        self.temporal_auto = False  # judged once

    def stylizer(self) -> tuple[Stylizer, bool]:
        """The current style's stylizer at the current strength, and whether it has a strength at all."""
        base = self.bank.get(self.state.style)
        if isinstance(base, TemporalStylizer) and not self.state.temporal:
            base = base.inner
        # getattr: stylizers written before the capability contract declare nothing (no strength).
        if STRENGTH not in getattr(base, "capabilities", frozenset()):
            return base, False
        key = (self.state.style, self.state.strength, isinstance(base, TemporalStylizer))
        if key not in self._adjusted:
            self._adjusted[key] = cast(Adjustable, base).with_strength(self.state.strength)
        return self._adjusted[key], True

    def step(self, frame: CapturedFrame) -> bool:
        if self.t_start is None:
            self.t_start = time.perf_counter()
        stop = self._limit_reached(frame.index) or self._press_scheduled(frame.index) or self._process(frame)
        if stop is not None:
            self.stats.stopped_by = stop
        return stop is None

    def _limit_reached(self, index: int) -> str | None:
        if self.limit is not None and index >= self.limit:
            if self.recorder:
                self.recorder.extend_to(int(self.limit) - 1)
            return "max-frames" if self.limit == self.opts.max_frames else "duration"
        assert self.t_start is not None
        if self.live and self.opts.duration is not None and time.perf_counter() - self.t_start >= self.opts.duration:
            if self.recorder:
                self.recorder.extend_to(index - 1)
            return "duration"
        return None

    def _press_scheduled(self, index: int) -> str | None:
        quit_now = False
        while self.keys and self.keys[0][0] <= index:
            quit_now = self.press(self.keys.pop(0)[1], index) or quit_now
        return "quit" if quit_now else None

    def _stylize(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray, str, bool]:
        """(stylised view, the resized source frame, the style label, whether it has a strength)."""
        stylizer, adjustable = self.stylizer()
        label = self.bank.labels[self.state.style]
        if label not in self.stats.styles_shown:
            self.stats.styles_shown.append(label)
        small = resize_frame(image, self.w, self.h)
        # channels_last: the layout the AdaIN and network stylizers work in, so no conversion there.
        x = arrays_to_tensor([small], stylizer.device, channels_last=True)
        t0 = time.perf_counter()
        with torch.inference_mode():
            out = stylizer(x)
        self.stats.stylize_seconds += time.perf_counter() - t0  # the stylizer alone, not our conversions
        if out.shape[-2:] != (self.h, self.w):
            raise OptionError(f"stylizer '{label}' returned {out.shape[-1]}x{out.shape[-2]} for a "
                              f"{self.w}x{self.h} frame")
        return tensor_to_arrays(out[:1])[0], small, label, adjustable

    def _process(self, frame: CapturedFrame) -> str | None:
        styled, small, label, adjustable = self._stylize(frame.image)
        self._judge_temporal(frame.index)
        self.stats.frames_processed += 1
        self.last_index = frame.index
        fps = self.meter.tick(time.perf_counter())
        view = compose(styled, small if self.state.compare else None)
        if self._snapshot_pending:
            p = save_snapshot(view, self.snap_dir, label)  # the clean view, without the overlay
            self.stats.snapshots.append(p)
            self._snapshot_pending = False
            self.emit("snapshot", frame.index, str(p))
        lines = [label, (f"{fps:.1f} fps" if fps else "-- fps")
                 + (f"  strength {self.state.strength:.1f}" if adjustable else "")
                 + ("  temporal" if self.state.temporal and self._temporal() is not None else "")]
        text_x = self.w if self.state.compare else 0  # on the stylised half
        # The recording's size is fixed at the start: a view of another size (side by side
        # toggled) is letterboxed into it, a copy that gets its own, legible overlay.
        rec = self.recorder.fit(view) if self.recorder else None
        if self.opts.overlay:
            draw_overlay(view, lines, text_x)
            if rec is not None and rec is not view:
                draw_overlay(rec, lines, text_x * rec.shape[1] // view.shape[1])
        if self.recorder and rec is not None:
            self.recorder.put(rec, frame.index)
        self.emit("frame", frame.index)
        if self.window is None:
            return None
        k = self.window.show(view)
        if k >= 0 and self.press(k, frame.index):
            return "quit"
        return "window" if self.window.closed() else None


def run_camera(source: FrameSource, bank: StylizerBank, opts: CameraOptions | None = None, *,
               window: Window | None = None, record: str | os.PathLike | None = None,
               keys: KeySchedule | None = None, on_event: Callable[[CameraEvent], None] | None = None,
               ) -> CameraStats:
    """Stylise `source` frame by frame until it ends, a limit is reached, or q/Esc is pressed.

    Each source frame (RGB uint8 H x W x 3) is resized to `opts.size` (long side), stylised with
    the current style as a 1 x 3 x h x w tensor, composed (side by side if toggled), overlaid,
    shown in `window` (if any) and recorded to `record` (if given; via nst.video.VideoWriter at
    the source's fps, in source time). `keys` ({source frame index: key} or pairs) are pressed
    when the loop reaches that frame, through the same `handle_key` as the window's keys.
    Ctrl-C stops the loop cleanly (the recording is kept). The source is closed on return.
    """
    opts = opts or CameraOptions()
    opts.validate()
    pressed = schedule(keys)
    if any(k in ("s", "S") or k == ord("s") for _, k in pressed):
        check_dir(Path(opts.snapshot_dir))
    live = source.live if opts.realtime is None else (source.live or opts.realtime)
    w, h = frame_size(source.width, source.height, opts.size)
    grabber = FrameGrabber(source, latest=live, pace_fps=source.fps if (live and not source.live) else None)
    loop = LiveLoop(bank, opts, w, h, live=live, fps=source.fps, keys=pressed, window=window, on_event=on_event,
                    dropped=lambda: grabber.dropped)
    stats = loop.stats
    failed = False
    try:
        # Build the first stylizer before the capture starts, so its set-up time is not counted as lag.
        loop.stylizer()
        if record is not None:
            loop.recorder = Recorder(Path(record), source.fps, w * (2 if opts.compare else 1), h)
        grabber.start()
        while True:
            frame = grabber.get(timeout=opts.read_timeout if source.live else None)
            if frame is None:
                stats.stopped_by = "end"
                break
            if not loop.step(frame):
                break
    except KeyboardInterrupt:
        stats.stopped_by = "interrupt"
    except BaseException:
        failed = True
        raise
    finally:
        if grabber.stop():
            source.close()  # never while the capture thread may still be inside read()
        stats.seconds = time.perf_counter() - loop.t_start if loop.t_start is not None else 0.0
        stats.frames_read = grabber.frames_read
        stats.frames_dropped = grabber.dropped
        if window is not None:
            window.close()
        if loop.recorder:
            stats.frames_written = loop.recorder.written
            loop.recorder.close(ok=not failed)
    if stats.stopped_by == "quit":
        loop.emit("quit", loop.last_index)
    return stats
