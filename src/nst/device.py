"""Device and precision choices, made in one place."""

from __future__ import annotations

import contextlib
import os
import platform
from typing import Iterator

import torch

from .errors import OptionError


def pick_device(name: str | None = None) -> torch.device:
    """`name` ("cpu", "cuda", "cuda:1"), else $NST_DEVICE, else CUDA when present, else the CPU."""
    name = name or os.environ.get("NST_DEVICE") or ("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise OptionError(f"unknown device '{name}'") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise OptionError("device 'cuda' requested but no CUDA GPU is available")
    return dev


def bf16_supported(device: torch.device) -> bool:
    """bf16 autocast pays off on CUDA and on CPUs with native bf16 (AVX-512 BF16 / AMX)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        # Without native bf16 the CPU emulates it and autocast is slower than fp32.
        caps = torch.backends.cpu.get_cpu_capability()
        return caps in ("AVX512", "AVX512_BF16", "AMX") and _cpu_has_bf16()
    return False


def _cpu_flags() -> str:
    """/proc/cpuinfo; with NST_NO_BF16=1 in the environment, without the native bf16 flags, so that nst (and
    every worker process it starts) behaves as on a CPU without them: fp32 in torch, int8 in ONNX Runtime."""
    try:
        with open("/proc/cpuinfo") as f:
            text = f.read()
    except OSError:
        return ""
    if os.environ.get("NST_NO_BF16", "") not in ("", "0"):
        text = text.replace("avx512_bf16", "").replace("amx_bf16", "")
    return text


#: Allocations below this stay in the C heap when freed (`tune_allocator`).
KEEP_BELOW = 32 << 20
_tuned: bool | None = None


def tune_allocator(keep_below: int = KEEP_BELOW) -> bool:
    """Keep freed blocks under `keep_below` bytes in the process's heap for reuse, instead of glibc's default
    of returning every block over ~128 kB-32 MB to the OS (munmap) and faulting fresh zeroed pages in on the
    next frame. Frame loops allocate the same activations again and again: on a 2-core Xeon this made the
    network 1.18x as fast at 512 px, 1.37x at 640x480 and a batch 1.10x (bench/allocator.py). The process keeps
    the memory it used at its peak; larger blocks (print-size tiles) still go back. Linux with glibc only;
    once per process; NST_MALLOC_TUNE=0 turns it off. The CLI and batch workers call it; returns whether
    it applies."""
    global _tuned
    if _tuned is not None:
        return _tuned
    _tuned = False
    if os.environ.get("NST_MALLOC_TUNE", "1") == "0" or platform.system() != "Linux" or \
            platform.libc_ver()[0] != "glibc":
        return False
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    _tuned = bool(libc.mallopt(m_mmap_threshold, int(keep_below))) and \
        bool(libc.mallopt(m_trim_threshold, 2 * int(keep_below)))
    return _tuned


def cpu_name() -> str:
    """The CPU's model name (for benchmark tables and training records)."""
    for line in _cpu_flags().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def has_cpu_flag(*names: str) -> bool:
    """Whether the CPU has any of these /proc/cpuinfo flags (NST_NO_BF16 applied; False off Linux)."""
    flags = set(_cpu_flags().split())
    return any(n in flags for n in names)


def _cpu_has_bf16() -> bool:
    return has_cpu_flag("avx512_bf16", "amx_bf16")


def amx_bf16() -> bool:
    """The CPU has AMX matrix units for bf16 (Sapphire Rapids and later Xeons): torch's oneDNN runs bf16
    convolutions on them at ~9x fp32 (a 3x3 conv of 256 channels: 3.0 TFLOP/s against 0.34 on 2 cores)."""
    return has_cpu_flag("amx_bf16")


def int8_fast() -> bool:
    """int8 convolutions in ONNX Runtime pay off on every x86 CPU measured (bench/realtime.py, MultiStyleNet
    at 640x480, 2 cores): with VNNI (Intel Xeon 27.3 against 23.8 fps fp32; AMD Zen 4 22.7 against 14.6) and
    without it, on AVX2 alone (an AMD EPYC without AVX-512: 14.1-17.0 against 12.7-14.9 in three runs).
    Unmeasured elsewhere (ARM, x86 without AVX2): fp32 there."""
    return has_cpu_flag("avx2", "avx512_vnni", "avx_vnni", "amx_int8")


PRECISIONS = ("auto", "fp32", "bf16")


def use_bf16(precision: str, device: torch.device) -> bool:
    """The one precision rule: "bf16" always, "auto" only where the hardware has native bf16."""
    if precision not in PRECISIONS:
        raise OptionError(f"must be one of {', '.join(PRECISIONS)}, not {precision!r}", field="precision")
    return precision == "bf16" or (precision == "auto" and bf16_supported(device))


@contextlib.contextmanager
def autocast(device: torch.device, enabled: bool) -> Iterator[None]:
    """bf16 autocast on `device` when `enabled`, a no-op otherwise."""
    if enabled:
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16):
            yield
    else:
        yield
