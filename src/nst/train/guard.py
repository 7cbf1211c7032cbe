"""Guard rails for training (issue 13): divergence detection, the last good state, and rollback.

A step diverges when its loss is NaN/inf or more than `factor` times the median loss of the last 50
normal steps. Then the network and the optimiser go back to the last good checkpoint state and
training continues with the next batch (the batch that diverged is skipped, as in PaLM's recipe:
replaying the same batches from the same state would diverge again). After `MAX_ROLLBACKS`
rollbacks without a new good checkpoint in between, training stops with a DivergedError.

A checkpoint state is only called good once the loss of the step after it is normal: `hold` keeps a
candidate, `commit` promotes it (and only then is it written to disk), so a checkpoint file is never
overwritten with a state that was already diverging. Everything here is a function of the loss
history, so a resumed run makes the same decisions as an uninterrupted one.
"""

from __future__ import annotations

import copy
import statistics
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Sequence

import torch

from ..errors import DivergedError

WINDOW = 50          # steps in the running median
MIN_WINDOW = 10      # no spike test before this many normal steps (the NaN/inf test always applies)
MAX_ROLLBACKS = 3    # rollbacks without a new good checkpoint before training stops


@dataclass
class Snapshot:
    """A training state to write or roll back to: iteration count, weights, optimiser, bookkeeping."""

    iteration: int
    net: dict[str, torch.Tensor]
    optimizer: dict[str, Any]
    losses: list[dict[str, float]]
    rollbacks: list[int] = field(default_factory=list)
    wall_time: float = 0.0


class DivergenceGuard:
    """Watches the loss of every step and keeps the last good state of `net` and `optimizer`."""

    def __init__(self, net: torch.nn.Module, optimizer: torch.optim.Optimizer, factor: float, iteration: int,
                 losses: Sequence[dict[str, float]], rollbacks: Sequence[int], wall_time: float = 0.0) -> None:
        self.net, self.optimizer, self.factor = net, optimizer, factor
        self.rollbacks = list(rollbacks)   # iterations (1-based) whose loss diverged, over the whole run
        skip = set(self.rollbacks)
        self.window: deque[float] = deque((h["total"] for i, h in enumerate(losses, 1) if i not in skip),
                                          maxlen=WINDOW)
        self.good = self.snapshot(iteration, losses, wall_time)
        self.pending: Snapshot | None = None
        self.strikes = 0                   # rollbacks since the last good checkpoint

    def snapshot(self, iteration: int, losses: Sequence[dict[str, float]], wall_time: float) -> Snapshot:
        return Snapshot(iteration, copy.deepcopy(self.net.state_dict()), copy.deepcopy(self.optimizer.state_dict()),
                        list(losses), list(self.rollbacks), wall_time)

    def diverged(self, loss: float) -> bool:
        """Whether a step with this total loss diverged (NaN/inf, or a spike over the running median)."""
        if loss != loss or loss in (float("inf"), float("-inf")):
            return True
        return len(self.window) >= MIN_WINDOW and loss > self.factor * statistics.median(self.window)

    def accept(self, loss: float) -> None:
        """Record the loss of a normal step (its update is applied)."""
        self.window.append(loss)

    def rollback(self, iteration: int, loss: float) -> Snapshot:
        """Restore the last good state after step `iteration` diverged; returns that state.

        Raises DivergedError (after restoring) on the MAX_ROLLBACKS-th rollback without progress.
        """
        self.rollbacks.append(iteration)
        self.strikes += 1
        self.pending = None
        self.net.load_state_dict(self.good.net)
        # a copy: the optimiser would otherwise update the snapshot's tensors in place
        self.optimizer.load_state_dict(copy.deepcopy(self.good.optimizer))
        if self.strikes >= MAX_ROLLBACKS:
            raise DivergedError(f"training diverged {self.strikes} times since iteration {self.good.iteration} "
                                f"(last: loss {loss:.4g} at iteration {iteration}); the checkpoint keeps iteration "
                                f"{self.good.iteration}. Try a lower --lr or --grad-clip")
        return self.good

    def hold(self, iteration: int, losses: Sequence[dict[str, float]], wall_time: float) -> None:
        """Keep the current state as the candidate checkpoint (good once the next loss is normal)."""
        self.pending = self.snapshot(iteration, losses, wall_time)

    def commit(self) -> Snapshot | None:
        """Promote the candidate to the good state; returns it (to be written), or None if there is none."""
        if self.pending is None:
            return None
        self.good, self.pending, self.strikes = self.pending, None, 0
        return self.good
