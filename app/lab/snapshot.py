"""What a page reads of a training run: its :class:`Status` and a :class:`Snapshot` of copies.

This module imports no Streamlit.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np


class Status(StrEnum):
    """Where a run is. The worker sets each when it gets there: after ``pause()`` a run stays RUNNING until the
    current batch ends (the snapshot's ``pause_requested`` tells a page to show "pausing"). Values are strings, so
    ``snap.status == "paused"`` reads as it says."""
    IDLE = "idle"  # built, not started
    QUEUED = "queued"  # waiting for a free slot in the server's queue
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"
    DONE = "done"
    ERROR = "error"  # ``error`` holds the message
    DIVERGED = "diverged"  # the loss became NaN; ``message`` holds a hint


ACTIVE = (Status.QUEUED, Status.RUNNING, Status.PAUSED)
ENDED = (Status.STOPPED, Status.DONE, Status.ERROR, Status.DIVERGED)


@dataclass(frozen=True)
class Snapshot:
    """A run's state at one instant, made of copies: safe to keep and draw while the run trains on.

    ``losses`` holds ``(step, loss)``; ``evals`` the test evaluations. ``filters`` is the first convolution's
    weights ``(in_channels, out_channels, size, size)``, read-only, or None. ``grad_norms`` holds
    ``(step, rms per parameter)`` every ``grad_every`` steps, where rms = ||g|| / sqrt(g.size), so layers of any
    size compare; ``grad_labels`` names the parameters. ``seconds`` and ``images_per_second`` leave pauses out.
    """
    status: Status
    label: str
    queue_position: int = 0
    pause_requested: bool = False
    stop_requested: bool = False
    epoch: int = 0
    epochs: int = 0
    batch: int = 0
    batches_per_epoch: int = 0
    step: int = 0
    total_steps: int = 0
    lr: float = 0.0
    images_per_second: float | None = None
    seconds: float = 0.0
    eta_seconds: float | None = None
    losses: tuple = ()
    evals: tuple = ()
    filters: np.ndarray | None = None
    grad_labels: tuple = ()
    grad_norms: tuple = ()
    message: str | None = None
    error: str | None = None

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    @property
    def ended(self) -> bool:
        return self.status in ENDED

    @property
    def progress(self) -> float:
        return min(self.step / self.total_steps, 1.0) if self.total_steps else 0.0

    @property
    def loss(self) -> float | None:
        return self.losses[-1][1] if self.losses else None

    @property
    def accuracy(self) -> float | None:
        return self.evals[-1].accuracy if self.evals else None


__all__ = ["Status", "Snapshot", "ACTIVE", "ENDED"]
