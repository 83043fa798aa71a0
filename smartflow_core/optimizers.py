"""Optimizers: update the parameters they are given in place from their gradients, with optional decay."""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from numpy import ndarray

DECAY_TYPES = (None, "linear", "exponential")


class Optimizer:
    """Learning rate ``lr`` decaying to ``final_lr`` over the epochs of a ``fit`` (``decay_type`` linear or
    exponential; the Trainer calls ``_setup_decay`` and ``_decay_lr``). :meth:`step` receives the parameters to
    update and their gradients, in the same order at every step: ``optim.step(net.params(), net.param_grads())``."""

    def __init__(self, lr: float = 0.01, final_lr: float = 0, decay_type: str | None = None) -> None:
        if lr <= 0:
            raise ValueError(f"the learning rate must be positive, got {lr}")
        if decay_type not in DECAY_TYPES:
            raise ValueError(f"decay_type must be one of {DECAY_TYPES}, got {decay_type!r}")
        self.lr, self.final_lr, self.decay_type = lr, final_lr, decay_type
        self.first = True
        self.max_epochs = 1

    def _setup_decay(self) -> None:
        if not self.decay_type:
            return
        steps = max(self.max_epochs - 1, 1)  # the book divided by zero for a single epoch
        if self.decay_type == "exponential":
            self.decay_per_epoch = np.power(self.final_lr / self.lr, 1.0 / steps)
        else:
            self.decay_per_epoch = (self.lr - self.final_lr) / steps

    def _decay_lr(self) -> None:
        if not self.decay_type:
            return
        if self.decay_type == "exponential":
            self.lr *= self.decay_per_epoch
        else:
            self.lr -= self.decay_per_epoch

    def step(self, params: Iterable[ndarray], grads: Iterable[ndarray]) -> None:
        """Update every array of ``params`` in place from the gradient at the same position of ``grads``."""
        for param, grad in zip(params, grads):
            self._update_rule(param=param, grad=grad)

    def _update_rule(self, **kwargs) -> None:
        raise NotImplementedError

    def __repr__(self) -> str:
        extra = f", final_lr={self.final_lr}, decay_type={self.decay_type!r}" if self.decay_type else ""
        return f"{type(self).__name__}(lr={self.lr}{extra})"


class SGD(Optimizer):
    """``param -= lr * grad``."""

    def _update_rule(self, param: ndarray, grad: ndarray) -> None:
        param -= param.dtype.type(self.lr) * grad


class SGDMomentum(Optimizer):
    """``v = momentum * v + lr * grad; param -= v`` (velocities start at zero on the first step)."""

    def __init__(self, lr: float = 0.01, final_lr: float = 0, decay_type: str | None = None,
                 momentum: float = 0.9) -> None:
        super().__init__(lr, final_lr, decay_type)
        if not 0 <= momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        self.momentum = momentum

    def step(self, params: Iterable[ndarray], grads: Iterable[ndarray]) -> None:
        params = list(params)
        if self.first:
            self.velocities = [np.zeros_like(param) for param in params]
            self.first = False
        for param, grad, velocity in zip(params, grads, self.velocities):
            self._update_rule(param=param, grad=grad, velocity=velocity)

    def _update_rule(self, param: ndarray, grad: ndarray, velocity: ndarray) -> None:
        velocity *= param.dtype.type(self.momentum)
        velocity += param.dtype.type(self.lr) * grad
        param -= velocity

    def __repr__(self) -> str:
        return super().__repr__()[:-1] + f", momentum={self.momentum})"


OPTIMIZERS = {cls.__name__: cls for cls in (SGD, SGDMomentum)}

__all__ = ["Optimizer", "SGD", "SGDMomentum", "OPTIMIZERS"]
