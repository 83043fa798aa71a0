"""Weights between the worker and the pages: copies published by the run, networks rebuilt from them, and the
size of each parameter's gradient. This module imports no Streamlit."""
from __future__ import annotations

import numpy as np

from smartflow_core.layer import Conv2DLayer
from smartflow_core.nn import NeuralNetwork
from smartflow_core.operation import BiasAdd, ParamOperation, WeightMultiply
from smartflow_core.persist import build_model
from smartflow_core.presets import INPUT_SHAPE


def fill(net: NeuralNetwork, params, dtype) -> None:
    net.forward(np.zeros((1, *INPUT_SHAPE), dtype), inference=True)  # creates the parameters
    own = list(net.params())
    if len(own) != len(params):
        raise ValueError(f"the network has {len(own)} parameter arrays, {len(params)} were given")
    for mine, value in zip(own, params):
        if mine.shape != value.shape:
            raise ValueError(f"parameter shape {value.shape} does not fit the architecture's {mine.shape}")
        mine[...] = value


def network_from(arch: dict, params) -> NeuralNetwork:
    net = build_model(arch)
    fill(net, params, params[0].dtype)
    return net


def grad_rms(net: NeuralNetwork) -> tuple:
    """||g|| / sqrt(g.size) for every parameter gradient: the typical size of one weight's gradient."""
    return tuple(float(np.linalg.norm(g.astype(np.float64, copy=False).ravel()) / np.sqrt(g.size))
                 for layer in net.layers for g in layer.param_grads)


def grad_labels(net: NeuralNetwork) -> tuple:
    names = {WeightMultiply: "weights", BiasAdd: "bias"}
    return tuple(f"{i} {type(layer).__name__} {names.get(type(op), 'filters')}"
                 for i, layer in enumerate(net.layers, 1)
                 for op in layer.operations if isinstance(op, ParamOperation))


def conv_weights(net: NeuralNetwork) -> list[tuple[int, int, np.ndarray]]:
    """``(index among the network's parameters, layer position from 1, filters)`` of every convolution layer,
    its filters ``(in_channels, out_channels, k, k)`` as they are (no copy)."""
    found, index = [], 0
    for position, layer in enumerate(net.layers, 1):
        if isinstance(layer, Conv2DLayer) and layer.params:
            found.append((index, position, layer.params[0]))
        index += len(layer.params)
    return found


def published(net: NeuralNetwork) -> tuple[tuple, np.ndarray | None]:
    """Read-only copies of every parameter, and the first convolution's filters among them (or None)."""
    params, filters = [], None
    for layer in net.layers:
        for p in layer.params:
            copy = np.array(p, copy=True)
            copy.setflags(write=False)
            params.append(copy)
            if filters is None and isinstance(layer, Conv2DLayer):
                filters = copy
    return tuple(params), filters


__all__ = ["fill", "network_from", "grad_rms", "grad_labels", "conv_weights", "published"]
