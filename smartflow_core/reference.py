"""The chapter's loop implementations of convolution, kept slow and obvious.

They are the reference the fast kernels in :mod:`smartflow_core.conv` are tested against, and what the lessons
show. Called as the chapter calls them they behave as the chapter prints: "same" zero padding of ``k // 2`` and a
stride of 1. The keyword arguments ``pad`` and ``stride`` generalise them for the lessons; the default path runs
the chapter's own index formulas.

Shapes follow the chapter: 1D ``(length,)``; a batch ``(batch, length)``; images ``(batch, channels, height,
width)``; filters ``(in_channels, out_channels, filter_height, filter_width)``. Like the chapter's code these are
cross-correlations (the kernel is not flipped on the forward pass).
"""
from __future__ import annotations

import numpy as np
from numpy import ndarray

from smartflow_core.util import _pad_1d, _pad_2d, _pad_2d_channel, _pad_conv_input, assert_dim, assert_same_shape


def output_size(n: int, k: int, pad: int, stride: int) -> int:
    """Outputs of a length-``n`` input, kernel ``k``, ``pad`` zeros per side: ``floor((n + 2p - k) / s) + 1``."""
    if stride < 1:
        raise ValueError(f"stride must be at least 1, got {stride}")
    if pad < 0:
        raise ValueError(f"padding must be 0 or more, got {pad}")
    if n + 2 * pad < k:
        raise ValueError(f"kernel of size {k} is larger than the padded input of size {n + 2 * pad}")
    return (n + 2 * pad - k) // stride + 1


def _is_chapter(param_len: int, pad, stride: int) -> bool:
    """The chapter's own case: an odd kernel, "same" padding of k // 2, stride 1 (n outputs for n inputs).
    Anything else, even kernels included, follows the output-size formula."""
    return stride == 1 and param_len % 2 == 1 and (pad is None or pad == param_len // 2)


# ---------------------------------------------------------------------------------------------------- 1D


def conv_1d(inp: ndarray, param: ndarray, pad: int | None = None, stride: int = 1) -> ndarray:
    """1D cross-correlation: ``out[o] = sum_p param[p] * input_pad[o * stride + p]``."""
    assert_dim(inp, 1)
    assert_dim(param, 1)
    param_len = param.shape[0]
    if _is_chapter(param_len, pad, stride):
        input_pad = _pad_1d(inp, param_len // 2)
        out = np.zeros(inp.shape)
        for o in range(out.shape[0]):
            for p in range(param_len):
                out[o] += param[p] * input_pad[o + p]
        assert_same_shape(inp, out)
        return out
    pad = param_len // 2 if pad is None else pad
    input_pad = _pad_1d(inp, pad)
    out = np.zeros(output_size(inp.shape[0], param_len, pad, stride))
    for o in range(out.shape[0]):
        for p in range(param_len):
            out[o] += param[p] * input_pad[o * stride + p]
    return out


def conv_1d_sum(inp: ndarray, param: ndarray, pad: int | None = None, stride: int = 1) -> float:
    """The sum of :func:`conv_1d`'s output: the chapter's stand-in loss."""
    return np.sum(conv_1d(inp, param, pad, stride))


def _param_grad_1d(inp: ndarray, param: ndarray, output_grad: ndarray | None = None,
                   pad: int | None = None, stride: int = 1) -> ndarray:
    """dL/dparam: ``param_grad[p] += input_pad[o * stride + p] * output_grad[o]``."""
    param_len = param.shape[0]
    n_out = inp.shape[0] if _is_chapter(param_len, pad, stride) else None
    pad = param_len // 2 if pad is None else pad
    n_out = n_out or output_size(inp.shape[0], param_len, pad, stride)
    input_pad = _pad_1d(inp, pad)
    if output_grad is None:
        output_grad = np.ones(n_out, dtype=inp.dtype)
    elif output_grad.shape != (n_out,):
        raise ValueError(f"output_grad has shape {output_grad.shape}, the output has shape {(n_out,)}")
    param_grad = np.zeros_like(param)
    for o in range(n_out):
        for p in range(param_len):
            param_grad[p] += input_pad[o * stride + p] * output_grad[o]
    assert_same_shape(param_grad, param)
    return param_grad


def _input_grad_1d(inp: ndarray, param: ndarray, output_grad: ndarray | None = None,
                   pad: int | None = None, stride: int = 1) -> ndarray:
    """dL/dinput. The chapter's formula ``output_pad[o + param_len - p - 1] * param[p]`` by default, else the
    scatter form: every output cell sends ``output_grad[o] * param[p]`` back to the input it read."""
    param_len = param.shape[0]
    if _is_chapter(param_len, pad, stride):
        if output_grad is None:
            output_grad = np.ones_like(inp)
        else:
            assert_same_shape(inp, output_grad)
        output_pad = _pad_1d(output_grad, param_len // 2)
        input_grad = np.zeros_like(inp)
        for o in range(inp.shape[0]):
            for p in range(param_len):
                input_grad[o] += output_pad[o + param_len - p - 1] * param[p]
        return input_grad
    pad = param_len // 2 if pad is None else pad
    n_out = output_size(inp.shape[0], param_len, pad, stride)
    if output_grad is None:
        output_grad = np.ones(n_out, dtype=inp.dtype)
    elif output_grad.shape != (n_out,):
        raise ValueError(f"output_grad has shape {output_grad.shape}, the output has shape {(n_out,)}")
    grad_pad = np.zeros(inp.shape[0] + 2 * pad, dtype=np.result_type(inp, param, output_grad))
    for o in range(n_out):
        for p in range(param_len):
            grad_pad[o * stride + p] += output_grad[o] * param[p]
    return grad_pad[pad:pad + inp.shape[0]]


def conv_1d_batch(inp: ndarray, param: ndarray, pad: int | None = None, stride: int = 1) -> ndarray:
    """:func:`conv_1d` on each row of a ``(batch, length)`` array, stacked."""
    outs = [conv_1d(obs, param, pad, stride) for obs in inp]
    return np.stack(outs)


def conv_1d_batch_sum(inp: ndarray, param: ndarray) -> float:
    return np.sum(conv_1d_batch(inp, param))


def _input_grad_1d_batch(inp: ndarray, param: ndarray, output_grad: ndarray | None = None) -> ndarray:
    """Each observation's input gradient, stacked."""
    if output_grad is None:
        output_grad = np.ones_like(inp)
    return np.stack([_input_grad_1d(inp[i], param, output_grad[i]) for i in range(inp.shape[0])])


def _param_grad_1d_batch(inp: ndarray, param: ndarray, output_grad: ndarray | None = None) -> ndarray:
    """The filter meets every observation, so its gradient sums over the batch."""
    param_len = param.shape[0]
    input_pad = np.stack([_pad_1d(obs, param_len // 2) for obs in inp])
    if output_grad is None:
        output_grad = np.ones_like(inp)
    param_grad = np.zeros_like(param)
    for i in range(inp.shape[0]):
        for o in range(inp.shape[1]):
            for p in range(param_len):
                param_grad[p] += input_pad[i][o + p] * output_grad[i][o]
    return param_grad


# ---------------------------------------------------------------------------------------------------- 2D


def conv_2d(inp: ndarray, param: ndarray, pad: int | None = None, stride: int = 1) -> ndarray:
    """One channel, one filter: ``out[y, x] = sum_ij param[i, j] * input_pad[y*s + i, x*s + j]``."""
    assert_dim(inp, 2)
    assert_dim(param, 2)
    return _compute_output_obs(inp[None], param[None, None], pad, stride)[0]


def _compute_output_obs(obs: ndarray, param: ndarray, pad: int | None = None, stride: int = 1) -> ndarray:
    """obs: (in_channels, height, width); param: (in_channels, out_channels, fh, fw) -> (out_channels, oh, ow)."""
    assert_dim(obs, 3)
    assert_dim(param, 4)
    if obs.shape[0] != param.shape[0]:
        raise ValueError(f"input has {obs.shape[0]} channels, the filters expect {param.shape[0]} "
                         f"(input shape {obs.shape}, filter shape {param.shape})")
    in_channels, out_channels, fh, fw = param.shape
    pad = fh // 2 if pad is None else pad
    obs_pad = _pad_2d_channel(obs, pad)
    oh = output_size(obs.shape[1], fh, pad, stride)
    ow = output_size(obs.shape[2], fw, pad, stride)
    out = np.zeros((out_channels, oh, ow))
    for c_in in range(in_channels):
        for c_out in range(out_channels):
            for o_w in range(oh):
                for o_h in range(ow):
                    for p_w in range(fh):
                        for p_h in range(fw):
                            out[c_out][o_w][o_h] += (
                                param[c_in][c_out][p_w][p_h] * obs_pad[c_in][o_w * stride + p_w][o_h * stride + p_h])
    return out


def _output(inp: ndarray, param: ndarray, pad: int | None = None, stride: int = 1) -> ndarray:
    """inp: (batch, in_channels, height, width) -> (batch, out_channels, out_height, out_width)."""
    return np.stack([_compute_output_obs(obs, param, pad, stride) for obs in inp])


def _compute_grads_obs(input_obs: ndarray, output_grad_obs: ndarray, param: ndarray,
                       pad: int | None = None, stride: int = 1) -> ndarray:
    """dL/dinput of one observation. Default: the chapter's formula (the flipped kernel slid over the padded
    output gradient); otherwise every output cell scatters ``grad * param`` back onto the window it read."""
    in_channels, out_channels, fh, fw = param.shape
    if _is_chapter(fh, pad, stride) and fh == fw:
        input_grad = np.zeros_like(input_obs)
        output_obs_pad = _pad_2d_channel(output_grad_obs, fh // 2)
        for c_in in range(in_channels):
            for c_out in range(out_channels):
                for i_w in range(input_obs.shape[1]):
                    for i_h in range(input_obs.shape[2]):
                        for p_w in range(fh):
                            for p_h in range(fw):
                                input_grad[c_in][i_w][i_h] += (
                                    output_obs_pad[c_out][i_w + fh - p_w - 1][i_h + fw - p_h - 1]
                                    * param[c_in][c_out][p_w][p_h])
        return input_grad
    pad = fh // 2 if pad is None else pad
    h, w = input_obs.shape[1:]
    grad_pad = np.zeros((in_channels, h + 2 * pad, w + 2 * pad), dtype=np.result_type(input_obs, param))
    for c_in in range(in_channels):
        for c_out in range(out_channels):
            for o_w in range(output_grad_obs.shape[1]):
                for o_h in range(output_grad_obs.shape[2]):
                    for p_w in range(fh):
                        for p_h in range(fw):
                            grad_pad[c_in][o_w * stride + p_w][o_h * stride + p_h] += (
                                output_grad_obs[c_out][o_w][o_h] * param[c_in][c_out][p_w][p_h])
    return grad_pad[:, pad:pad + h, pad:pad + w]


def _input_grad(inp: ndarray, output_grad: ndarray, param: ndarray,
                pad: int | None = None, stride: int = 1) -> ndarray:
    """Each observation's input gradient, stacked: (batch, in_channels, height, width)."""
    grads = [_compute_grads_obs(inp[i], output_grad[i], param, pad, stride) for i in range(output_grad.shape[0])]
    return np.stack(grads)


def _param_grad(inp: ndarray, output_grad: ndarray, param: ndarray,
                pad: int | None = None, stride: int = 1) -> ndarray:
    """dL/dparam, summed over the batch: ``+= input_pad[i, c_in, o_w*s + p_w, o_h*s + p_h] * output_grad[i,
    c_out, o_w, o_h]``."""
    param_grad = np.zeros_like(param)
    in_channels, out_channels, fh, fw = param.shape
    pad = fh // 2 if pad is None else pad
    inp_pad = _pad_conv_input(inp, pad)
    img_shape = output_grad.shape[2:]
    for i in range(inp.shape[0]):
        for c_in in range(in_channels):
            for c_out in range(out_channels):
                for o_w in range(img_shape[0]):
                    for o_h in range(img_shape[1]):
                        for p_w in range(fh):
                            for p_h in range(fw):
                                param_grad[c_in][c_out][p_w][p_h] += (
                                    inp_pad[i][c_in][o_w * stride + p_w][o_h * stride + p_h]
                                    * output_grad[i][c_out][o_w][o_h])
    return param_grad


__all__ = [
    "output_size", "_pad_1d", "conv_1d", "conv_1d_sum", "_param_grad_1d", "_input_grad_1d", "conv_1d_batch",
    "conv_1d_batch_sum", "_input_grad_1d_batch", "_param_grad_1d_batch", "_pad_2d", "_pad_2d_channel",
    "_pad_conv_input", "conv_2d", "_compute_output_obs", "_output", "_compute_grads_obs", "_input_grad",
    "_param_grad",
]
