"""Memory: what the machine has free, what stylising an image needs, and allocation failures as ResourceError.

Estimates are measured, not derived (peak resident memory above the loaded model, CPU, fp32, on this
project's machines): they are meant to refuse what cannot fit, so they err low; an estimate that fits
can still fail, and that failure is reported as a ResourceError too (`is_allocation_failure`).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from .errors import ResourceError

#: Peak bytes per output pixel: AdaIN (VGG19 to relu4_1 and the decoder, inference) and optimize
#: (VGG19 forward and backward through relu5_1, L-BFGS history), measured at 0.1-1.8 megapixels (AdaIN
#: 870-960, optimize 3300 plus ~360 MB).
ADAIN_BYTES_PER_PIXEL = 800
OPTIMIZE_BYTES_PER_PIXEL = 3000

_ALLOCATION_FAILURES = ("can't allocate memory", "not enough memory", "out of memory", "failed to allocate")


def available_memory(device: torch.device | None = None) -> int | None:
    """Bytes that can still be allocated on `device` (None: the CPU's RAM), or None when unknown.

    CPU: MemAvailable of /proc/meminfo, lowered to what the cgroup (container) limit leaves."""
    if device is not None and device.type == "cuda":
        try:
            return int(torch.cuda.mem_get_info(device)[0])
        except Exception:
            return None
    free: int | None = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                free = int(line.split()[1]) * 1024
                break
    except (OSError, ValueError, IndexError):
        pass
    if free is None:
        try:
            free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            return None
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        used = int(Path("/sys/fs/cgroup/memory.current").read_text().strip())
        if limit.isdigit():
            free = min(free, max(0, int(limit) - used))
    except (OSError, ValueError):
        pass
    return free


def _gb(n: float) -> str:
    return f"{n / 2**30:.1f} GB"


def check_memory(need: float, device: torch.device | None, what: str, way_out: str = "use a smaller --size") -> None:
    """ResourceError when `need` bytes cannot fit in what `device` has available (unknown: no check)."""
    free = available_memory(device)
    if free is not None and need > free:
        raise ResourceError(f"{what} needs about {_gb(need)} of memory and only {_gb(free)} is available; "
                            f"{way_out}")


def is_allocation_failure(e: BaseException) -> bool:
    """True for torch's allocation failures ("DefaultCPUAllocator: can't allocate memory", CUDA out of memory)."""
    if isinstance(e, MemoryError) or type(e).__name__ == "OutOfMemoryError":
        return True
    text = str(e).lower()
    return isinstance(e, RuntimeError) and any(m in text for m in _ALLOCATION_FAILURES)


def out_of_memory(frames: torch.Tensor | None = None, way_out: str = "use a smaller --size") -> ResourceError:
    """The ResourceError for an allocation that failed (while stylising `frames`, if given)."""
    size = f" stylising {frames.shape[-1]}x{frames.shape[-2]}" if frames is not None else ""
    return ResourceError(f"out of memory{size}; {way_out}")


__all__ = ["available_memory", "check_memory", "is_allocation_failure", "out_of_memory", "ADAIN_BYTES_PER_PIXEL",
           "OPTIMIZE_BYTES_PER_PIXEL"]
