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


def machine() -> str:
    """One line: CPU model, cores, torch version and threads, bf16 support."""
    model = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    from nst.device import bf16_supported

    bf16 = "native bf16" if bf16_supported(torch.device("cpu")) else "no native bf16"
    return (f"{model}, {os.cpu_count()} cores ({bf16}), torch {torch.__version__} with {torch.get_num_threads()} "
            f"threads, Python {platform.python_version()}")


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
    from nst.image_io import load_image
    from nst.registry import demo_content

    x = load_image(demo_content())
    k = max(h / x.shape[2], w / x.shape[3])
    x = torch.nn.functional.interpolate(x, size=(round(x.shape[2] * k + 0.5), round(x.shape[3] * k + 0.5)),
                                        mode="bicubic", antialias=True).clamp(0, 1)
    top, left = (x.shape[2] - h) // 2, (x.shape[3] - w) // 2
    return x[..., top:top + h, left:left + w].contiguous()
