"""Running a batch's tasks on this machine: in this process (one worker) or in N processes, each
building its stylizer once. At most `2 x N` tasks are in flight, so the driver never holds more than
that many inputs in memory. A worker process that dies (killed, out of memory) breaks the pool; the
pool is rebuilt and its unfinished tasks are run again, up to `retries` times each."""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Callable, Iterator

from .work import StylizerSpec, Task, Worker

OnResult = Callable[[dict[str, Any]], None]

_worker: Worker | None = None  # in each worker process: its one stylizer


def _init(spec: StylizerSpec) -> None:
    global _worker
    _worker = Worker(spec)


def _run(task: Task) -> dict[str, Any]:
    assert _worker is not None
    return _worker.run(task)


def run_in_process(tasks: Iterator[Task], worker: Worker, on_result: OnResult) -> None:
    worker.stream(tasks, on_result)


def run_processes(tasks: Iterator[Task], spec: StylizerSpec, workers: int, on_result: OnResult,
                  retries: int = 2, in_flight: int = 2) -> None:
    ctx = multiprocessing.get_context("spawn")  # no forked torch threads; the same on every OS
    attempts: dict[str, int] = {}
    retry: list[Task] = []
    source = iter(tasks)

    def next_task() -> Task | None:
        if retry:
            return retry.pop(0)
        return next(source, None)

    while True:
        pool = cf.ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init, initargs=(spec,))
        pending: dict[cf.Future[dict[str, Any]], Task] = {}
        broken = False
        try:
            while True:
                while not broken and len(pending) < workers * in_flight:
                    t = next_task()
                    if t is None:
                        break
                    try:
                        pending[pool.submit(_run, t)] = t
                    except BrokenProcessPool:
                        retry.insert(0, t)
                        broken = True
                if not pending:
                    break
                done, _ = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
                for fut in done:
                    t = pending.pop(fut)
                    try:
                        on_result(fut.result())
                    except BrokenProcessPool:
                        broken = True
                        attempts[t.rel] = attempts.get(t.rel, 0) + 1
                        if attempts[t.rel] > retries:
                            on_result({"rel": t.rel, "status": "failed", "seconds": 0.0, "data": None,
                                       "worker": None, "warnings": [], "error": f"{t.label}: the worker process "
                                       f"died {attempts[t.rel]} times on this file"})
                        else:
                            retry.append(t)
                if broken and not pending:
                    break
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        if not broken:
            return
