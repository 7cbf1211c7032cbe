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
    try:
        with open("/proc/cpuinfo") as f:
            return f.read()
    except OSError:
        return ""


def cpu_name() -> str:
    """The CPU's model name (for benchmark tables and training records)."""
    for line in _cpu_flags().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def _cpu_has_bf16() -> bool:
    flags = _cpu_flags()
    return "avx512_bf16" in flags or "amx_bf16" in flags


def amx_bf16() -> bool:
    """The CPU has AMX matrix units for bf16 (Sapphire Rapids and later Xeons): torch's oneDNN runs bf16
    convolutions on them at ~9x fp32 (a 3x3 conv of 256 channels: 3.0 TFLOP/s against 0.34 on 2 cores)."""
    return "amx_bf16" in _cpu_flags().split()


def int8_fast() -> bool:
    """int8 convolutions pay off on CPUs with VNNI (AVX-512 VNNI, AVX-VNNI or AMX): bench/realtime.py."""
    flags = _cpu_flags()
    return any(f in flags for f in ("avx512_vnni", "avx_vnni", "amx_int8"))


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
