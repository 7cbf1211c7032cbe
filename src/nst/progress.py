"""Progress events the library emits; the CLI (tqdm) or another front end renders them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

import torch


@dataclass
class Progress:
    """One step of a long-running job.

    `done`/`total` count work units that take roughly equal time (for optimisation: iterations
    weighted by pixel count, so the ETA is right across coarse-to-fine scales). `image`, when set,
    is the current result (1x3xHxW, RGB [0,1]); it is a live tensor, so clone it to keep it.
    """

    stage: str
    step: int
    steps: int
    done: float
    total: float
    losses: dict[str, float] = field(default_factory=dict)
    image: Optional[torch.Tensor] = None
    info: str = ""


ProgressCallback = Callable[[Progress], None]
