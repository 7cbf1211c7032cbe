"""Jobs: a bounded queue, a few worker threads, a private folder per job, progress and a real cancel.

Heavy work (an image, an examine grid, a video) runs on `ServerLimits.workers` threads, never more;
at most `ServerLimits.queue` jobs wait, and one more is refused with a message (`Busy`), so a burst
of requests queues or is told to come back instead of running the machine out of memory.

Every job has its own folder under one private temporary folder (mode 0700): the uploads go in its
`in/` folder, deleted when the job ends; the result is kept for `keep_minutes`, then deleted; the
whole tree is deleted when the server stops. Files are only ever reached through a `Job`'s own
attributes, never through a name from a request.

Cancel sets a flag that the job's progress callback checks at every `nst.Progress` event (every
optimize iteration, every video batch, every examine tile): the work stops there with `Cancelled`.
"""

from __future__ import annotations

import io
import re
import shutil
import tempfile
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..errors import NSTError
from ..progress import Progress
from .limits import ServerLimits

JOB_ID = re.compile(r"^[0-9a-f]{32}$")
#: An intermediate preview at most this often (seconds): the image forms on the page as it optimises.
PREVIEW_SECONDS = 2.0
_OOM = ("can't allocate memory", "not enough memory", "out of memory", "failed to allocate")


class Cancelled(Exception):
    """The job was cancelled from the page (raised from its progress callback, where the work stops)."""


class Busy(NSTError):
    """The queue is full: the request is refused, nothing is started."""


def one_line(e: BaseException, hide: Path | None = None) -> str:
    """The error's one line for the page: the library's message, without the server's folder names."""
    if isinstance(e, MemoryError) or (isinstance(e, RuntimeError) and any(t in str(e).lower() for t in _OOM)):
        return "out of memory; try a smaller size"
    text = (str(e).strip().splitlines() or [type(e).__name__])[0]
    if hide is not None:  # <job>/in/<field>/photo.jpg -> photo.jpg, as the CLI names the file it was given
        text = re.sub(re.escape(str(hide)) + r"(?:/\w+)?/?", "", text)
    if isinstance(e, (NSTError, FloatingPointError)):
        return text
    return f"unexpected {type(e).__name__}: {text} (this is a bug)"


@dataclass
class Job:
    """One request's work: its folder, its state and progress, its result."""

    id: str
    kind: str
    dir: Path
    state: str = "queued"              # queued, running, done, error, cancelled
    message: str = ""
    done: float = 0.0
    total: float = 0.0
    step: int = 0
    steps: int = 0
    info: str = ""
    created: float = field(default_factory=time.monotonic)
    started: float | None = None
    finished: float | None = None
    result: Path | None = None
    download_name: str = "result"
    tiles: list[dict[str, Any]] = field(default_factory=list)
    preview: bytes | None = None
    previews: int = 0
    cancel_event: threading.Event = field(default_factory=threading.Event)
    _first: tuple[float, float] | None = None  # (time, done) of the first progress event: the ETA's origin
    _last_preview: float = 0.0

    @property
    def inputs(self) -> Path:
        """The job's upload folder (deleted when the job ends)."""
        return self.dir / "in"

    def check(self) -> None:
        if self.cancel_event.is_set():
            raise Cancelled()

    def progress(self, ev: Progress) -> None:
        """The `nst.Progress` callback: counters, the ETA's origin, a preview every few seconds, cancel."""
        self.check()
        now = time.monotonic()
        if self._first is None:
            self._first = (now, ev.done)
        self.done, self.total, self.step, self.steps = ev.done, ev.total, ev.step, ev.steps
        self.info = ev.info
        if ev.image is not None and now - self._last_preview >= PREVIEW_SECONDS:
            from ..io.image import tensor_to_pil

            buf = io.BytesIO()
            tensor_to_pil(ev.image.detach().clamp(0, 1)[:1]).save(buf, format="JPEG", quality=85)
            self.preview, self._last_preview = buf.getvalue(), now
            self.previews += 1

    def rates(self) -> tuple[float | None, float | None]:
        """(work units per second, seconds left), measured from the first progress event."""
        if self._first is None or self.state != "running":
            return None, None
        t0, d0 = self._first
        dt, dd = time.monotonic() - t0, self.done - d0
        if dt <= 0.5 or dd <= 0:
            return None, None
        rate = dd / dt
        return rate, max(0.0, (self.total - self.done) / rate)

    def status(self, position: int | None = None) -> dict[str, Any]:
        rate, eta = self.rates()
        end = self.finished or time.monotonic()
        return {"id": self.id, "kind": self.kind, "state": self.state, "message": self.message,
                "done": self.done, "total": self.total, "step": self.step, "steps": self.steps, "info": self.info,
                "rate": rate, "eta": eta, "elapsed": end - self.started if self.started else 0.0,
                "position": position, "previews": self.previews, "result": self.result is not None,
                "download": self.download_name, "tiles": [{k: v for k, v in t.items() if k != "path"}
                                                          for t in self.tiles]}


class JobQueue:
    """The jobs of one server: a bounded queue, `limits.workers` threads, the private folder tree."""

    def __init__(self, limits: ServerLimits) -> None:
        self.limits = limits
        self.root = Path(tempfile.mkdtemp(prefix="nst-web-"))  # mode 0700: only this user reads uploads
        self.jobs: dict[str, Job] = {}
        self._pending: deque[tuple[Job, Callable[[Job], None]]] = deque()
        self._running = 0
        self._cv = threading.Condition()
        self._closed = False
        self._threads = [threading.Thread(target=self._work, name=f"nst-web-worker-{i}", daemon=True)
                         for i in range(limits.workers)]
        for t in self._threads:
            t.start()

    def new(self, kind: str) -> Job:
        """A job with its folder (uploads go in `job.inputs`); `submit` queues it, `discard` drops it."""
        self.sweep()
        jid = uuid.uuid4().hex
        job = Job(jid, kind, self.root / jid)
        job.dir.mkdir(mode=0o700)
        job.inputs.mkdir(mode=0o700)
        with self._cv:
            self.jobs[job.id] = job
        return job

    def get(self, job_id: str) -> Job | None:
        """The job with this id; None for anything else (an id is 32 hex digits, never a path)."""
        if not isinstance(job_id, str) or not JOB_ID.match(job_id):
            return None
        with self._cv:
            return self.jobs.get(job_id)

    def position(self, job: Job) -> int | None:
        with self._cv:
            for i, (j, _) in enumerate(self._pending):
                if j is job:
                    return i + 1
        return None

    def submit(self, job: Job, fn: Callable[[Job], None]) -> None:
        """Queue `fn(job)`; a full queue raises Busy (and drops the job and its folder)."""
        with self._cv:
            if self._closed or self._running + len(self._pending) >= self.limits.workers + self.limits.queue:
                waiting = len(self._pending)
                self._remove(job)
                raise Busy(f"the server is busy ({self._running} running, {waiting} waiting); try again in a "
                           "minute")
            self._pending.append((job, fn))
            self._cv.notify()

    def cancel(self, job: Job) -> None:
        """Stop a job: a queued one never starts; a running one stops at its next progress event."""
        job.cancel_event.set()
        with self._cv:
            for item in list(self._pending):
                if item[0] is job:
                    self._pending.remove(item)
                    self._end(job, "cancelled", "cancelled")

    def discard(self, job: Job) -> None:
        """Drop a job that was never queued (its request was refused), with its folder."""
        with self._cv:
            self._remove(job)

    def _remove(self, job: Job) -> None:
        self.jobs.pop(job.id, None)
        shutil.rmtree(job.dir, ignore_errors=True)

    def _end(self, job: Job, state: str, message: str = "") -> None:
        job.state, job.message, job.finished = state, message, time.monotonic()
        shutil.rmtree(job.inputs, ignore_errors=True)  # the uploads go as soon as the job ends
        if state != "done":
            job.result, job.tiles = None, []
            shutil.rmtree(job.dir, ignore_errors=True)
            job.dir.mkdir(mode=0o700, exist_ok=True)  # empty: kept only so a late request finds nothing

    def _work(self) -> None:
        while True:
            with self._cv:
                while not self._pending and not self._closed:
                    self._cv.wait()
                if self._closed:
                    return
                job, fn = self._pending.popleft()
                self._running += 1
                job.state, job.started = "running", time.monotonic()
            try:
                job.check()
                fn(job)
                state, message = "done", ""
            except Cancelled:
                state, message = "cancelled", "cancelled"
            except Exception as e:  # noqa: BLE001  (every failure becomes the job's one-line message)
                state, message = "error", one_line(e, job.inputs)
            with self._cv:
                self._running -= 1
                self._end(job, state, message)

    def sweep(self) -> None:
        """Delete the jobs that finished more than `keep_minutes` ago, with their results."""
        cutoff = time.monotonic() - self.limits.keep_minutes * 60
        with self._cv:
            for job in [j for j in self.jobs.values() if j.finished is not None and j.finished < cutoff]:
                self._remove(job)

    def close(self) -> None:
        """Cancel everything, wait for the workers a little, delete the whole private folder."""
        with self._cv:
            self._closed = True
            for job, _ in self._pending:
                job.cancel_event.set()
            self._pending.clear()
            for job in self.jobs.values():
                job.cancel_event.set()
            self._cv.notify_all()
        for t in self._threads:
            t.join(timeout=10)
        shutil.rmtree(self.root, ignore_errors=True)
