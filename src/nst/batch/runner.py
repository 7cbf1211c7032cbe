"""`run_batch`: plan -> skip what is complete -> stylise the rest on a backend -> write, record, report.

The driver (this code) is the only writer of image outputs and of the manifest: a result is written
atomically, then recorded; a task that a dead worker never finished is retried by the backend, and a
result is written once whatever the retries. The report (JSON lines: input, output, seconds, status,
error) is rewritten atomically at the end, also after an error or Ctrl-C.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from ..errors import OptionError, OutputError
from ..io.atomic import atomic_write
from ..progress import Progress, ProgressCallback
from .manifest import Manifest
from .plan import REPORT_NAME, Item, Plan
from .work import StylizerSpec, Task, Worker, one_line

#: Most local worker processes: one per core is already past what helps on a CPU.
MAX_LOCAL_WORKERS_PER_CPU = 1
#: Most Ray workers (actors) one batch asks for.
MAX_RAY_WORKERS = 4096


@dataclass
class Record:
    input: str
    output: str
    status: str          # "done", "failed" or "skipped" (complete from an earlier run)
    seconds: float = 0.0
    error: str | None = None
    worker: str | None = None

    def json(self) -> str:
        return json.dumps({"input": self.input, "output": self.output, "seconds": round(self.seconds, 4),
                           "status": self.status, "error": self.error, "worker": self.worker})


@dataclass
class BatchResult:
    records: list[Record]
    report: Path
    seconds: float
    stylize_seconds: float = 0.0  # the workers' time on the items of this run
    warnings: list[str] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.records)

    @property
    def done(self) -> int:
        return self.count("done")

    @property
    def failed(self) -> int:
        return self.count("failed")

    @property
    def skipped(self) -> int:
        return self.count("skipped")


def check_workers(workers: int, ray: bool) -> int:
    cap = MAX_RAY_WORKERS if ray else max(1, (os.cpu_count() or 1) * MAX_LOCAL_WORKERS_PER_CPU)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise OptionError(f"must be a whole number of at least 1, not {workers!r}", field="workers")
    if workers > cap:
        where = "one batch on Ray" if ray else f"this machine ({os.cpu_count()} CPU cores)"
        raise OptionError(f"must be at most {cap} for {where}, not {workers}", field="workers")
    return workers


def remove_stale_parts(item: Item) -> None:
    """Temporary files an atomic write of `item.out` left behind when its process was killed."""
    pattern = re.compile(r"^\." + re.escape(item.out.name) + r"\..+\.part" + re.escape(item.out.suffix) + "$")
    try:
        names = os.listdir(item.out.parent)
    except OSError:
        return
    for n in names:
        if pattern.match(n):
            try:
                (item.out.parent / n).unlink()
            except OSError:
                pass


Backend = Callable[[Iterator[Task], Callable[[dict[str, Any]], None]], None]


def local_backend(spec: StylizerSpec, workers: int, stylizer: Any = None) -> Backend:
    """One worker: this process (and `stylizer`, if given, is used as it is); more: worker processes."""
    from .local import run_in_process, run_processes

    if workers == 1:
        w = Worker(spec, stylizer)
        return lambda tasks, on_result: run_in_process(tasks, w, on_result)
    return lambda tasks, on_result: run_processes(tasks, spec, workers, on_result)


def run_batch(plan: Plan, settings: dict[str, Any], backend: Backend, *, overwrite: bool = False,
              progress: ProgressCallback | None = None, on_record: Callable[[Record], None] | None = None,
              report: str | os.PathLike | None = None) -> BatchResult:
    """Stylise every item of `plan` that is not complete under `settings` (see `Manifest`)."""
    t_start = time.perf_counter()
    out_dir = plan.out_dir
    manifest = Manifest(out_dir, settings)
    report_p = Path(report) if report is not None else out_dir / REPORT_NAME
    records: dict[str, Record] = {}
    warnings_: list[str] = list(plan.notes) + manifest.notes
    todo: list[Item] = []

    def add(rec: Record, item: Item) -> None:
        records[item.rel] = rec
        if on_record is not None:
            on_record(rec)

    for item in plan.items:
        if item.missing:
            add(Record(str(item.src), str(item.out), "failed", error=f"{item.src}: {item.missing}"), item)
        elif manifest.complete(item):
            add(Record(str(item.src), str(item.out), "skipped"), item)
        elif item.out.exists() and not overwrite and item.rel not in manifest.owned:
            add(Record(str(item.src), str(item.out), "failed", error=f"{item.out}: already exists and was not "
                       "written by this batch (use --overwrite to replace it)"), item)
        elif item.out.is_dir():
            add(Record(str(item.src), str(item.out), "failed", error=f"{item.out}: is a folder"), item)
        else:
            todo.append(item)
    by_rel = {i.rel: i for i in todo}
    total = len(todo)
    done = failed = 0
    stylize_seconds = 0.0
    t_first: float | None = None

    def emit() -> None:
        if progress is None:
            return
        n = done + failed
        now = time.perf_counter()
        rate = (n / (now - t_first)) if t_first is not None and now > t_first and n else 0.0
        progress(Progress("batch", n, total, float(n), float(total),
                          info=f"{done} done, {failed} failed, {total - n} left, {rate:.2f} files/s"))

    def tasks() -> Iterator[Task]:
        """Read lazily: the backend pulls a task only when a worker has room (backpressure)."""
        nonlocal failed
        for item in todo:
            remove_stale_parts(item)
            if item.kind == "video":
                yield Task(item.rel, "video", str(item.src), item.out.suffix, src=str(item.src), out=str(item.out),
                           overwrite=item.out.exists())
                continue
            try:
                data = item.src.read_bytes()
            except OSError as e:
                failed += 1
                add(Record(str(item.src), str(item.out), "failed", error=f"{item.src}: cannot read "
                           f"({e.strerror or e})"), item)
                emit()
                continue
            yield Task(item.rel, "image", str(item.src), item.out.suffix, data=data)

    def on_result(r: dict[str, Any]) -> None:
        nonlocal done, failed, stylize_seconds, t_first
        item = by_rel[r["rel"]]
        if item.rel in records:  # a retried task's second answer: written once already
            return
        if t_first is None:
            t_first = time.perf_counter() - float(r.get("seconds") or 0.0)
        status, error = r["status"], r.get("error")
        if status == "done" and r.get("data") is not None:
            try:
                with atomic_write(item.out, mkdir=True) as f:
                    f.write(r["data"])
            except Exception as e:  # noqa: BLE001  (a full disk or a vanished folder fails this file only)
                status, error = "failed", one_line(e)
        if status == "done":
            manifest.record(item, float(r.get("seconds") or 0.0))
            done += 1
        else:
            failed += 1
        stylize_seconds += float(r.get("seconds") or 0.0)
        warnings_.extend(r.get("warnings") or [])
        add(Record(str(item.src), str(item.out), status, float(r.get("seconds") or 0.0), error, r.get("worker")),
            item)
        emit()

    try:
        if todo:
            manifest.own([i.rel for i in todo])
            for item in todo:
                try:
                    item.out.parent.mkdir(parents=True, exist_ok=True)
                except OSError as e:
                    raise OutputError(f"{item.out.parent}: cannot create the folder ({e.strerror or e})") from None
            emit()
            backend(tasks(), on_result)
    finally:
        manifest.flush(force=True)
        for item in todo:
            remove_stale_parts(item)
        ordered = [records[i.rel] for i in plan.items if i.rel in records]
        with atomic_write(report_p, mkdir=True) as f:
            f.write("".join(r.json() + "\n" for r in ordered).encode())
    lost = [i for i in todo if i.rel not in records]
    if lost:  # a backend must answer for every task; say so rather than report a partial batch as whole
        raise RuntimeError(f"{len(lost)} files got no result (first: {lost[0].src})")
    return BatchResult(ordered, report_p, time.perf_counter() - t_start, stylize_seconds, warnings_)


__all__ = ["run_batch", "Record", "BatchResult", "local_backend", "check_workers", "remove_stale_parts"]
