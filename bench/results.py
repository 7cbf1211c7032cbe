"""Shared helpers for the benchmark scripts: machine description, timing, RESULTS.md sections."""

from __future__ import annotations

import datetime
import os
import platform
import re
import time
from pathlib import Path
from typing import Callable

import torch

RESULTS = Path(__file__).with_name("RESULTS.md")


def _tune() -> None:
    """Benchmarks run as the CLI does: with nst's allocator tuning (NST_MALLOC_TUNE=0 turns it off)."""
    from nst.device import tune_allocator

    tune_allocator()


_tune()


def machine() -> str:
    """One line: CPU model, cores, torch version and threads, bf16 support."""
    from nst.device import amx_bf16, bf16_supported, cpu_name

    model = cpu_name()

    bf16 = "native bf16" if bf16_supported(torch.device("cpu")) else "no native bf16"
    if amx_bf16():
        bf16 += ", AMX"
    from nst import device

    alloc = "tuned allocator" if device._tuned else "default allocator"
    return (f"{model}, {os.cpu_count()} cores ({bf16}), torch {torch.__version__} with {torch.get_num_threads()} "
            f"threads, Python {platform.python_version()}, {alloc}")


def cpu_kind() -> str:
    """A short name for the kind of CPU, for per-machine sections: vendor family and bf16 support."""
    from nst.device import amx_bf16, bf16_supported, cpu_name, has_cpu_flag

    name = cpu_name()
    family = "AMD EPYC" if "AMD" in name else "Intel Xeon" if "Xeon" in name else name
    bf16 = ("AMX" if amx_bf16() else "AVX-512 BF16" if bf16_supported(torch.device("cpu"))
            else "AVX-512, no bf16" if has_cpu_flag("avx512f") else "AVX2, no AVX-512")
    return f"{family} ({bf16})"


def stamp() -> str:
    return f"Measured {datetime.date.today().isoformat()} on {machine()}."


def best_time(fn: Callable[[], object], repeat: int = 5, warmup: int = 1) -> float:
    """Minimum wall time of `fn` over `repeat` runs after `warmup` runs (min is the least noisy)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def best_times_interleaved(fns: list[Callable[[], object]], repeat: int = 5, warmup: int = 1) -> list[float]:
    """Minimum wall time of each of `fns`, run in turn (a, b, a, b, ...) so a change in the machine's load
    during the measurement hits all of them alike: the ratio is what this is for."""
    for fn in fns:
        for _ in range(warmup):
            fn()
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            t = time.perf_counter()
            fn()
            times[i].append(time.perf_counter() - t)
    return [min(t) for t in times]


def table(header: list[str], rows: list[list[object]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(v) for v in r) + " |" for r in rows]
    return "\n".join(lines)


def write_section(title: str, body: str) -> None:
    """Replace (or append) the `## title` section of bench/RESULTS.md."""
    text = RESULTS.read_text() if RESULTS.exists() else (
        "# Benchmark results\n\nEach section is written by the script it names; numbers are from real runs.\n")
    section = f"## {title}\n\n{body.strip()}\n"
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text).rstrip() + "\n"
    else:
        text = text.rstrip() + "\n\n" + section
    RESULTS.write_text(text)


def photo_frame(h: int, w: int) -> torch.Tensor:
    """The bundled photo resized (cover) and centre-cropped to exactly 1 x 3 x h x w."""
    from nst.io.image import load_image
    from nst.registry import demo_content

    x = load_image(demo_content())
    k = max(h / x.shape[2], w / x.shape[3])
    x = torch.nn.functional.interpolate(x, size=(round(x.shape[2] * k + 0.5), round(x.shape[3] * k + 0.5)),
                                        mode="bicubic", antialias=True).clamp(0, 1)
    top, left = (x.shape[2] - h) // 2, (x.shape[3] - w) // 2
    return x[..., top:top + h, left:left + w].contiguous()


def panning_clip(path: Path, frames: int, w: int = 640, h: int = 480, fps: int = 24,
                 audio_rate: int | None = None) -> Path:
    """An H.264 clip panning across the bundled photo (camera-like motion), optionally with a
    440 Hz stereo AAC tone of the same duration. Used by bench/video.py and bench/camera.py."""
    import av
    import numpy as np

    from nst.io.image import load_image
    from nst.registry import demo_content

    photo = load_image(demo_content(), size=900)[0].permute(1, 2, 0).mul(255).byte().numpy()
    ph, pw = photo.shape[:2]
    if ph < h:
        photo = np.pad(photo, ((0, h - ph), (0, 0), (0, 0)), mode="edge")
        ph = h
    with av.open(str(path), "w") as c:
        v = c.add_stream("libx264", rate=fps, options={"crf": "18", "preset": "veryfast"})
        v.width, v.height, v.pix_fmt = w, h, "yuv420p"
        a = c.add_stream("aac", rate=audio_rate) if audio_rate else None
        if a is not None:
            a.layout = "stereo"
        for i in range(frames):
            x = int((pw - w) * (0.5 + 0.5 * np.sin(i / 15.0)))
            y = int((ph - h) * (0.5 + 0.5 * np.cos(i / 21.0)))
            f = av.VideoFrame.from_ndarray(np.ascontiguousarray(photo[y:y + h, x:x + w]), format="rgb24")
            f.pts = i
            for p in v.encode(f):
                c.mux(p)
        for p in v.encode(None):
            c.mux(p)
        if a is not None and audio_rate:
            total, s = audio_rate * frames // fps, 0
            while s < total:
                k = min(1024, total - s)
                tone = (0.2 * np.sin(2 * np.pi * 440 * np.arange(s, s + k) / audio_rate)).astype(np.float32)
                af = av.AudioFrame.from_ndarray(np.stack([tone, tone]), format="fltp", layout="stereo")
                af.sample_rate, af.pts = audio_rate, s
                s += k
                for p in a.encode(af):
                    c.mux(p)
            for p in a.encode(None):
                c.mux(p)
    return path


def measured_peak() -> dict[str, float]:
    """GFLOP/s this CPU reaches right now: fp32 matmul 2048^2 and a 3x3 64->64 conv (channels_last) at 240x320."""
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    t = best_time(lambda: a @ b, repeat=5)
    conv = torch.nn.Conv2d(64, 64, 3, padding=1).eval()
    x = torch.randn(1, 64, 240, 320)
    xc, cc = x.contiguous(memory_format=torch.channels_last), conv.to(memory_format=torch.channels_last)
    with torch.no_grad():
        tc = best_time(lambda: cc(xc), repeat=5)
    return {"matmul": 2 * 2048 ** 3 / t / 1e9, "conv3x3_64": 2 * 64 * 64 * 9 * 240 * 320 / tc / 1e9}


def conv_gflop(fn: Callable[[], object], model: torch.nn.Module) -> float:
    """GFLOP (multiply-adds x 2) of every Conv2d of `model` during one call of `fn`, from the layer shapes."""
    total = [0.0]

    def hook(m: torch.nn.Module, inp: object, out: torch.Tensor) -> None:
        assert isinstance(m, torch.nn.Conv2d)
        k = m.kernel_size[0] * m.kernel_size[1]
        total[0] += 2 * m.in_channels // m.groups * m.out_channels * k * out.shape[0] * out.shape[-2] * out.shape[-1]

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    try:
        with torch.inference_mode():
            fn()
    finally:
        for h in handles:
            h.remove()
    return total[0] / 1e9
