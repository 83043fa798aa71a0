"""The filters of every convolution as a run began and as they are now, and what training changed.

The worker sends every convolution's filters once, as the run begins (a ``start`` message, see
:mod:`app.lab.training`), which the relay keeps on the run's handle; the weights it publishes while training
already hold the filters of now. So a page can set start, now and their difference side by side with no more on
the wire than one copy of the filters per run. No Streamlit here.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.lab.builder import layer_name
from app.lab.run import TrainingRun


@dataclass(frozen=True)
class LayerFilters:
    """One convolution layer's filters ``(in_channels, out_channels, k, k)``: at the start of the run, and now
    (None before the first weights are published)."""
    position: int  # the layer's place in the network, from 1
    name: str  # as the layer table names it: "1 Conv 16@5×5"
    start: np.ndarray
    now: np.ndarray | None

    @property
    def in_channels(self) -> int:
        return self.start.shape[0]


def layer_filters(run: TrainingRun) -> list[LayerFilters]:
    """Every convolution's filters, start and now (empty until the run has begun)."""
    start, params, arch = run.start_and_now()
    if start is None:
        return []
    specs = (arch or run.config.model_config)["layers"]  # a continued run trains its model's architecture
    out = []
    for position, index, first in zip(*start):
        now = params[index] if params is not None and index < len(params) else None
        name = layer_name(position, specs[position - 1]) if position <= len(specs) else str(position)
        out.append(LayerFilters(position, name, first, now if now is not None and now.shape == first.shape
                                else None))
    return out


def per_output(w: np.ndarray, channel: int | None) -> np.ndarray:
    """``(out_channels, k, k)``: each output channel's filter over one input channel, or (None) their mean."""
    w = np.asarray(w, dtype=np.float64)  # a diverged run's weights may not fit float32
    return w.mean(axis=0) if channel is None else w[channel]


def rms(w: np.ndarray) -> float:
    """The typical size of a weight: the root mean square."""
    w = np.asarray(w, dtype=np.float64)
    return float(np.sqrt(np.mean(w * w))) if w.size else 0.0


@dataclass(frozen=True)
class Change:
    """How far the weights moved: root mean squares of the start, of now and of the change."""
    start: float
    now: float
    change: float

    @property
    def relative(self) -> float:
        """The change as a share of the starting size (0 when the start is all zeros)."""
        return self.change / self.start if self.start else 0.0

    @classmethod
    def of(cls, start: np.ndarray, now: np.ndarray) -> Change:
        return cls(rms(start), rms(now), rms(np.asarray(now, np.float64) - np.asarray(start, np.float64)))


__all__ = ["layer_filters", "LayerFilters", "Change", "per_output", "rms"]
