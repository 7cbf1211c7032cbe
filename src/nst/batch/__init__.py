"""Batches: every image (and video) in a folder or a list file, stylised into a mirrored folder;
resumable (a manifest of complete outputs under a settings fingerprint), past bad files, on this
machine (`--workers N` processes) or on a Ray cluster (`nst.batch.ray_backend`, the `nst[cluster]` extra:
the only module that imports Ray).

    plan.py         the inputs, their outputs, the checks before any work
    manifest.py     which outputs are complete, under which settings
    work.py         a worker: one stylizer, built once; one item -> encoded bytes (or a video file)
    local.py        this process, or N worker processes
    ray_backend.py  Ray actors
    runner.py       run_batch: skip, dispatch, write atomically, record, report
"""

from .plan import IMAGE_EXTS, IMAGE_FORMATS, MANIFEST_NAME, REPORT_NAME, VIDEO_EXTS, Item, Plan, plan
from .runner import BatchResult, Record, check_workers, local_backend, run_batch
from .work import StylizerSpec, Task, Worker, settings_of

__all__ = ["plan", "Plan", "Item", "run_batch", "BatchResult", "Record", "local_backend", "check_workers",
           "StylizerSpec", "Task", "Worker", "settings_of", "IMAGE_EXTS", "VIDEO_EXTS", "IMAGE_FORMATS",
           "MANIFEST_NAME", "REPORT_NAME"]
