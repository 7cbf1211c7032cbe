"""The worker side of a batch: one stylizer, built once, and the work on one item.

A worker never writes an image: it gets the input's bytes and returns the encoded result, and the
driver writes it (atomically) and records it in the manifest. So a worker that dies or is retried can
never leave a second copy or a half-written file, and the workers need no shared file system for
images. Videos are the exception: their pipeline reads and writes files (atomically, resumable), so
they need paths the worker can reach. This module imports nothing of Ray: the local processes and the
Ray actors both run `Worker`.
"""

from __future__ import annotations

import dataclasses
import io
import os
import socket
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from ..errors import NSTError

#: JPEG and WebP quality of batch outputs.
QUALITY = 95


@dataclass(frozen=True)
class StylizerSpec:
    """Everything a worker needs to build the batch's stylizer (picklable: names, paths and numbers).

    `options` are the method's option fields; `temporal` the TemporalOptions fields for videos (None:
    per frame); `video` the VideoOptions fields other than size; `threads` the torch threads of a worker
    (None: torch's default)."""

    method: str
    styles: tuple[str, ...] = ()
    weights: tuple[float, ...] | None = None
    options: dict[str, Any] = field(default_factory=dict)
    size: int = 512
    temporal: dict[str, Any] | None = None
    video: dict[str, Any] = field(default_factory=dict)
    threads: int | None = None

    def build(self) -> Any:
        from ..methods import make_stylizer

        return make_stylizer(self.method, list(self.styles), list(self.weights) if self.weights else None,
                             **self.options)


@dataclass(frozen=True)
class Task:
    """One item as sent to a worker: an image's bytes, or a video's paths."""

    rel: str
    kind: str                 # "image" or "video"
    label: str                # the input path, for messages
    suffix: str               # the output's extension: the encoding of an image result
    data: bytes | None = None  # image: the file's content
    src: str | None = None     # video: input path
    out: str | None = None     # video: output path
    overwrite: bool = False    # video: the output exists and is this batch's


def one_line(e: BaseException) -> str:
    """An error as the one line the report keeps (the CLI's wording for the same kinds)."""
    if isinstance(e, MemoryError) or (isinstance(e, RuntimeError) and "out of memory" in str(e).lower()):
        if not isinstance(e, NSTError):
            return "out of memory; try a smaller --size"
    text = str(e).strip()
    text = text.splitlines()[0] if text else type(e).__name__
    if isinstance(e, (NSTError, FloatingPointError)):
        return text
    return f"unexpected {type(e).__name__}: {text}"


def encode(x: Any, suffix: str) -> bytes:
    """A 1 x 3 x H x W result as the bytes of an image file of that extension."""
    from ..io.image import WRITE_FORMATS, png_bytes, tensor_to_arrays, tensor_to_pil

    fmt = WRITE_FORMATS[suffix.lower()]
    if fmt == "PNG":  # the encoding is half a batch's work per image at 512 px: the fast one
        return png_bytes(tensor_to_arrays(x)[0])
    buf = io.BytesIO()
    options = {"quality": QUALITY} if fmt in ("JPEG", "WEBP") else {}
    tensor_to_pil(x).save(buf, format=fmt, **options)
    return buf.getvalue()


class Worker:
    """Holds the stylizer (built once) and runs tasks; `run` never raises for a bad item."""

    def __init__(self, spec: StylizerSpec, stylizer: Any = None) -> None:
        from ..device import tune_allocator

        tune_allocator()  # a worker process or Ray actor: the same frame loop as the CLI's
        if spec.threads:
            import torch

            torch.set_num_threads(spec.threads)
        self.spec = spec
        self.stylizer = stylizer if stylizer is not None else spec.build()
        self.where = f"{socket.gethostname()}:{os.getpid()}"

    def run(self, task: Task) -> dict[str, Any]:
        """{"rel", "status" ("done"/"failed"), "error", "seconds", "data" (image bytes), "worker", "warnings"}."""
        t0 = time.perf_counter()
        result: dict[str, Any] = {"rel": task.rel, "status": "done", "error": None, "data": None,
                                  "worker": self.where, "warnings": []}
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                if task.kind == "video":
                    self._video(task)
                else:
                    result["data"] = self._image(task)
            result["warnings"] = [f"{task.label}: {w.message}" if task.label not in str(w.message) else str(w.message)
                                  for w in caught if issubclass(w.category, UserWarning)][:5]
        except (Exception, MemoryError) as e:  # a bad file is reported and the batch goes on
            msg = one_line(e)
            if task.kind == "image" and msg.startswith("image data"):
                msg = task.label + msg[len("image data"):]
            result.update(status="failed", error=msg)
        result["seconds"] = time.perf_counter() - t0
        return result

    def _image(self, task: Task) -> bytes:
        return encode(self.stylizer(self._decode(task)), task.suffix)

    def _decode(self, task: Task) -> Any:
        from ..io.image import load_image, resize_long_side

        assert task.data is not None
        return resize_long_side(load_image(task.data), self.spec.size)

    def stream(self, tasks: Iterator[Task], on_result: Callable[[dict[str, Any]], None], depth: int = 2) -> None:
        """Run `tasks` in order as a pipeline: decoding the next image and encoding (and `on_result`: the
        driver's write) of the previous one run on two threads while this one stylises the current one,
        so the stylizer is not kept waiting by image files (PIL and zlib release the GIL). `on_result` is
        called on one thread, in order. Videos run whole, in their turn."""
        import concurrent.futures as cf

        def decoded(t: Task) -> tuple[Task, Any, BaseException | None]:
            if t.kind != "image":
                return t, None, None
            try:
                return t, self._decode(t), None
            except (Exception, MemoryError) as e:
                return t, None, e

        def finish(t: Task, y: Any, error: BaseException | None, result: dict[str, Any] | None,
                   t0: float, seconds: float) -> None:
            if result is None:
                result = {"rel": t.rel, "status": "done", "error": None, "data": None, "worker": self.where,
                          "warnings": []}
                try:
                    if error is not None:
                        raise error
                    result["data"] = encode(y, t.suffix)
                except (Exception, MemoryError) as e:
                    msg = one_line(e)
                    result.update(status="failed", error=t.label + msg[len("image data"):]
                                  if msg.startswith("image data") else msg)
                result["seconds"] = seconds + (time.perf_counter() - t0)
            on_result(result)

        with cf.ThreadPoolExecutor(1, thread_name_prefix="nst-decode") as dec, \
                cf.ThreadPoolExecutor(1, thread_name_prefix="nst-encode") as enc:
            ahead: list[cf.Future[tuple[Task, Any, BaseException | None]]] = []
            finishing: list[cf.Future[None]] = []
            source = iter(tasks)
            exhausted = False
            while True:
                while not exhausted and len(ahead) < depth:
                    t = next(source, None)
                    if t is None:
                        exhausted = True
                    else:
                        ahead.append(dec.submit(decoded, t))
                if not ahead:
                    break
                t, x, error = ahead.pop(0).result()
                t0 = time.perf_counter()
                y, result = None, None
                if t.kind == "video":
                    result = self.run(t)
                elif error is None:
                    try:
                        y = self.stylizer(x)
                    except (Exception, MemoryError) as e:
                        error = e
                while len(finishing) >= depth or (finishing and finishing[0].done()):
                    finishing.pop(0).result()  # bounded: results wait for the writer, not pile up; errors surface
                finishing.append(enc.submit(finish, t, y, error, result, time.perf_counter(),
                                            time.perf_counter() - t0))
            for f in finishing:
                f.result()

    def _video(self, task: Task) -> None:
        from ..methods import temporal_options, with_temporal
        from ..video import VideoOptions, stylize_video

        assert task.src is not None and task.out is not None
        topts = temporal_options(self.spec.temporal)
        stylizer = with_temporal(self.stylizer, topts)  # a new sequence (and flow memory) for each video
        opts = VideoOptions(size=self.spec.size, **self.spec.video)
        stylize_video(task.src, task.out, stylizer, opts, settings=stylizer.config(), overwrite=task.overwrite)


def settings_of(spec: StylizerSpec, stylizer: Any) -> dict[str, Any]:
    """What decides every output of the batch (its fingerprint): the stylizer's config(), the size, the
    video and temporal settings. Threads and worker counts are left out: they change no pixel."""
    return {"version": 1, "config": stylizer.config(), "size": spec.size, "temporal": spec.temporal,
            "video": dict(spec.video), "quality": QUALITY}


def replace_threads(spec: StylizerSpec, threads: int | None) -> StylizerSpec:
    return dataclasses.replace(spec, threads=threads)


__all__ = ["StylizerSpec", "Task", "Worker", "encode", "one_line", "settings_of", "QUALITY"]
