"""The batch on Ray: one actor per worker, each building its stylizer once (the `nst[cluster]` extra).

This is the only module of nst that imports Ray (tests/test_imports.py checks it), and only when a
batch asks for it. Images travel as bytes (the driver reads the inputs and writes the results), so the
cluster needs no shared file system for them; videos need paths every node can reach.

- Backpressure: at most `in_flight` tasks per actor are submitted; the rest of the folder is not read.
- Faults: an actor whose process dies is restarted by Ray (`max_restarts`; its `__init__` builds the
  stylizer again) and its unfinished tasks are resubmitted (`max_task_retries`). A task whose actor
  died more often than that is reported as failed. Results are written by the driver, once.
- Without an address a local Ray is started for the run and shut down after it; with one (or
  RAY_ADDRESS) the batch joins that cluster and leaves it running.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
from typing import Any, Callable, Iterator

from ..errors import InputError, OptionError
from .work import StylizerSpec, Task, Worker

#: How often Ray restarts a dead actor and resubmits its tasks before a task counts as failed.
RESTARTS = 3
_ADDRESS = re.compile(r"^(ray://)?(\[[0-9a-fA-F:]+\]|[A-Za-z0-9._-]+):(\d{1,5})$")


def ray_available() -> bool:
    try:
        import ray  # noqa: F401
    except ImportError:
        return False
    return True


def check_address(address: str | None) -> str | None:
    """None (start a local Ray), "auto" (the cluster this machine is part of), or host:port / ray://host:port,
    reachable now (a TCP connect, 5 s), so a wrong address fails in seconds with one line."""
    if address is None or address in ("", "local"):
        return None
    if address == "auto":
        return address
    m = _ADDRESS.match(address)
    if not m or not 0 < int(m.group(3)) < 65536:
        raise OptionError(f"expects host:port, ray://host:port or auto, not {address!r}", field="ray")
    host, port = m.group(2).strip("[]"), int(m.group(3))
    try:
        with socket.create_connection((host, port), timeout=5):
            pass
    except OSError as e:
        raise InputError(f"cannot reach the Ray cluster at {address} ({e.strerror or e})") from None
    return address


class BatchActor:
    """Ray actor: one stylizer, built in __init__ (again after a restart)."""

    def __init__(self, spec: StylizerSpec) -> None:
        self.worker = Worker(spec)

    def run(self, task: Task) -> dict[str, Any]:
        return self.worker.run(task)

    def pid(self) -> int:
        return os.getpid()

    def chunk(self, path: str, chunk: Any) -> tuple[int, list[Any], float, str]:
        """One chunk of a long video (nst.video.chunks), with a fresh temporal sequence."""
        import time

        from ..methods import temporal_options, with_temporal
        from ..video.chunks import stylize_chunk

        t0 = time.perf_counter()
        stylizer = with_temporal(self.worker.stylizer, temporal_options(self.worker.spec.temporal))
        frames = stylize_chunk(path, chunk, stylizer, self.worker.spec.size)
        return chunk.index, frames, time.perf_counter() - t0, self.worker.where


def connect(address: str | None, num_cpus: int | None = None) -> bool:
    """ray.init for a batch; True when this call started Ray (and so must shut it down)."""
    import ray

    if ray.is_initialized():
        return False
    if address is None:
        ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False, configure_logging=False)
    else:
        try:
            ray.init(address=address, log_to_driver=False, configure_logging=False)
        except (ConnectionError, RuntimeError, ValueError) as e:
            raise InputError(f"cannot join the Ray cluster at {address} ({str(e).strip().splitlines()[0]})") from None
    return True


@contextlib.contextmanager
def _actors(spec: StylizerSpec, workers: int, address: str | None, cpus_per_worker: float,
            gpus_per_worker: float) -> Iterator[list[Any]]:
    """`workers` BatchActors (restarted and their tasks retried up to RESTARTS times) on the cluster at
    `address` (a local Ray started for the run when None); killed, and Ray shut down if started here, after."""
    import ray

    started = connect(address)
    actors: list[Any] = []
    try:
        cls = ray.remote(BatchActor).options(num_cpus=cpus_per_worker, num_gpus=gpus_per_worker,
                                             max_restarts=RESTARTS, max_task_retries=RESTARTS, max_concurrency=1)
        actors.extend(cls.remote(spec) for _ in range(workers))
        yield actors
    finally:
        for a in actors:
            try:
                ray.kill(a, no_restart=True)
            except Exception:  # noqa: BLE001  (already gone)
                pass
        if started:
            ray.shutdown()


def run_ray(tasks: Iterator[Task], spec: StylizerSpec, workers: int, on_result: Callable[[dict[str, Any]], None], *,
            address: str | None = None, cpus_per_worker: float = 1.0, gpus_per_worker: float = 0.0,
            in_flight: int = 2) -> None:
    import ray
    from ray.exceptions import ActorDiedError, RayActorError, RayTaskError

    with _actors(spec, workers, address, cpus_per_worker, gpus_per_worker) as actors:
        load = {i: 0 for i in range(workers)}
        pending: dict[Any, tuple[Task, int]] = {}
        source = iter(tasks)
        exhausted = False
        while True:
            while not exhausted:
                free = [i for i in load if load[i] < in_flight]
                if not free:
                    break
                t = next(source, None)
                if t is None:
                    exhausted = True
                    break
                a = min(free, key=lambda i: load[i])
                pending[actors[a].run.remote(t)] = (t, a)
                load[a] += 1
            if not pending:
                break
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                t, a = pending.pop(ref)
                load[a] -= 1
                try:
                    r = ray.get(ref)
                except (RayActorError, ActorDiedError) as e:
                    r = {"rel": t.rel, "status": "failed", "seconds": 0.0, "data": None, "worker": None,
                         "warnings": [], "error": f"{t.label}: its Ray worker died more than {RESTARTS} times "
                         f"({type(e).__name__})"}
                except RayTaskError as e:  # Worker.run catches every error of an item; this is a bug or a crash
                    r = {"rel": t.rel, "status": "failed", "seconds": 0.0, "data": None, "worker": None,
                         "warnings": [], "error": f"{t.label}: {str(e).strip().splitlines()[-1]}"}
                on_result(r)


def run_video_chunks(path: str, chunks: list[Any], spec: StylizerSpec, workers: int, *, address: str | None = None,
                     cpus_per_worker: float = 1.0, gpus_per_worker: float = 0.0, in_flight: int = 1,
                     on_chunk: Callable[[int, str], None] | None = None) -> Iterator[tuple[int, list[Any], float]]:
    """Yield (chunk index, frames, seconds) as Ray actors finish the chunks of the video at `path` (a path
    every node reads). At most `in_flight` chunks per actor are submitted (their frames come back through
    the object store); a chunk whose actor dies is redone by the restarted actor (`max_task_retries`).
    `on_chunk(index, worker)` is told who did each chunk."""
    import ray
    from ray.exceptions import RayActorError

    with _actors(spec, workers, address, cpus_per_worker, gpus_per_worker) as actors:
        load = {i: 0 for i in range(workers)}
        pending: dict[Any, int] = {}
        todo = list(chunks)
        while todo or pending:
            while todo:
                free = [i for i in load if load[i] < in_flight]
                if not free:
                    break
                a = min(free, key=lambda i: load[i])
                pending[actors[a].chunk.remote(path, todo.pop(0))] = a
                load[a] += 1
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                load[pending.pop(ref)] -= 1
                try:
                    index, frames, seconds, where = ray.get(ref)
                except RayActorError as e:
                    raise InputError(f"{path}: a chunk's Ray worker died more than {RESTARTS} times "
                                     f"({type(e).__name__})") from None
                except ray.exceptions.RayTaskError as e:
                    cause = e.cause if isinstance(getattr(e, "cause", None), Exception) else None
                    if cause is not None and isinstance(cause, (InputError, OptionError)):
                        raise cause from None
                    raise RuntimeError(str(e).strip().splitlines()[-1]) from None
                if on_chunk is not None:
                    on_chunk(index, where)
                yield index, frames, seconds


__all__ = ["run_ray", "run_video_chunks", "check_address", "connect", "ray_available", "BatchActor", "RESTARTS"]
