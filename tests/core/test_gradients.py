"""Every backward pass against central differences (float64), for operations, layers and whole networks,
plus negative controls showing the checker does catch a wrong gradient."""
import numpy as np
import pytest
from gradcheck import numeric_gradient

from smartflow_core.conv import Conv2D_Op
from smartflow_core.layer import Conv2DLayer, DenseLayer, Pool2DLayer
from smartflow_core.loss import MeanSquaredError, SoftmaxCrossEntropy
from smartflow_core.nn import NeuralNetwork
from smartflow_core.operation import BiasAdd, Dropout, Flatten, Linear, ReLU, Sigmoid, Tanh, WeightMultiply
from smartflow_core.pooling import Pool2D
from smartflow_core.util import softmax

EPS = 1e-6
TOL = 1e-6  # a correct gradient lands near 1e-9; a wrong one far above 1e-2


def check_gradient(f, x: np.ndarray, analytic: np.ndarray, eps: float = EPS) -> float:
    """The max relative error between ``analytic`` and central differences of ``f`` at ``x``: the largest
    absolute difference scaled by the larger of the two gradients' largest magnitudes (robust to zeros)."""
    assert analytic.shape == x.shape, f"gradient shape {analytic.shape} != input shape {x.shape}"
    numeric = numeric_gradient(f, x, eps)
    scale = max(np.max(np.abs(numeric)), np.max(np.abs(analytic)), 1e-12)
    return float(np.max(np.abs(numeric - analytic)) / scale)


def op_check(op, x: np.ndarray, rng, before_forward=lambda: None):
    """Relative errors of an operation's input gradient (and param gradient) with loss = sum(out * G)."""
    before_forward()
    out = op.forward(x)
    G = rng.normal(size=out.shape)
    dx = op.backward(G).copy()
    dparam = op.param_grad.copy() if hasattr(op, "param_grad") else None

    def f(_):
        before_forward()
        return float(np.sum(op.forward(x) * G))

    errors = {"input": check_gradient(f, x, dx)}
    if dparam is not None:
        errors["param"] = check_gradient(f, op.param, dparam)
    return errors


def assert_small(errors: dict) -> None:
    for name, err in errors.items():
        assert err < TOL, f"{name} gradient: relative error {err:.3g}"


# ------------------------------------------------------------------------------------------- operations


def test_weight_multiply():
    rng = np.random.default_rng(0)
    assert_small(op_check(WeightMultiply(rng.normal(size=(3, 5))), rng.normal(size=(4, 3)), rng))


def test_bias_add():
    rng = np.random.default_rng(1)
    assert_small(op_check(BiasAdd(rng.normal(size=(1, 5))), rng.normal(size=(4, 5)), rng))


def test_flatten():
    rng = np.random.default_rng(2)
    assert_small(op_check(Flatten(), rng.normal(size=(2, 3, 4, 5)), rng))


@pytest.mark.parametrize("keep", [0.8, 0.3])
def test_dropout_with_a_fixed_mask(keep):
    # re-seeding before every forward fixes the mask, so the op is a fixed linear map
    rng = np.random.default_rng(3)
    op = Dropout(keep, rng=np.random.RandomState(42))
    x = rng.normal(size=(6, 7))
    errors = op_check(op, x, rng, before_forward=lambda: op.rng.seed(42))
    assert 0 < op.mask.sum() < op.mask.size  # the mask really drops something
    assert_small(errors)


@pytest.mark.parametrize("cls", [Linear, Sigmoid, Tanh])
def test_smooth_activations(cls):
    rng = np.random.default_rng(4)
    assert_small(op_check(cls(), rng.normal(scale=2.0, size=(5, 6)), rng))


def test_relu_away_from_the_kink():
    # |x| >= 0.1, far from 0 compared with the step
    rng = np.random.default_rng(5)
    x = rng.choice([-1.0, 1.0], size=(5, 6)) * rng.uniform(0.1, 2.0, size=(5, 6))
    assert_small(op_check(ReLU(), x, rng))


@pytest.mark.parametrize("x_shape, w_shape, stride, padding", [
    ((2, 2, 6, 6), (2, 3, 3, 3), 1, None),
    ((2, 1, 7, 5), (1, 2, 3, 3), 2, 1),
    ((2, 2, 6, 6), (2, 2, 2, 2), 1, None),  # even kernel: one more row and column
    ((1, 2, 5, 7), (2, 2, 4, 4), 2, 0),
    ((2, 1, 6, 5), (1, 2, 2, 3), 1, (1, 0)),  # rectangular kernel, (height, width) padding
    ((2, 2, 8, 8), (2, 1, 5, 5), 3, 2),
    ((1, 1, 4, 4), (1, 2, 1, 1), 2, 3),
])
def test_conv2d_op(x_shape, w_shape, stride, padding):
    rng = np.random.default_rng(sum(x_shape) + sum(w_shape) + stride)
    op = Conv2D_Op(rng.normal(size=w_shape), stride, padding, book=False)
    assert_small(op_check(op, rng.normal(size=x_shape), rng))


def test_conv2d_op_book_mode_is_exact_for_one_example_and_a_symmetric_kernel():
    # the book's bugs vanish when B = 1 and the kernel is unchanged by a 180 degree turn
    rng = np.random.default_rng(6)
    W = rng.normal(size=(2, 2, 3, 3))
    W = W + W[:, :, ::-1, ::-1]
    assert_small(op_check(Conv2D_Op(W, book=True), rng.normal(size=(1, 2, 5, 5)), rng))


def distinct_values(shape, rng) -> np.ndarray:
    """No ties within any pooling window: values at least 0.01 apart (the step is 1e-6)."""
    return rng.permutation(int(np.prod(shape))).reshape(shape) * 0.01 - 1.0


@pytest.mark.parametrize("size, stride, hw", [(2, None, (4, 6)), (3, 1, (5, 5)), (2, 3, (7, 8)), (3, 2, (7, 6))])
def test_max_pool(size, stride, hw):
    rng = np.random.default_rng(7)
    assert_small(op_check(Pool2D(size, stride, "max"), distinct_values((2, 2) + hw, rng), rng))


@pytest.mark.parametrize("size, stride, hw", [(2, None, (4, 6)), (3, 1, (5, 5)), (2, 3, (7, 8))])
def test_avg_pool(size, stride, hw):
    rng = np.random.default_rng(8)
    assert_small(op_check(Pool2D(size, stride, "avg"), rng.normal(size=(2, 2) + hw), rng))


# ----------------------------------------------------------------------------------------------- layers


def layer_check(layer, x: np.ndarray, rng) -> dict:
    layer.seed = 0  # a standalone layer draws its weights from RandomState(seed)
    out = layer.forward(x)
    G = rng.normal(size=out.shape)
    dx = layer.backward(G).copy()
    grads = [g.copy() for g in layer.param_grads]
    f = lambda _: float(np.sum(layer.forward(x) * G))  # noqa: E731
    errors = {"input": check_gradient(f, x, dx)}
    for i, (param, grad) in enumerate(zip(layer.params, grads)):
        errors[f"param {i}"] = check_gradient(f, param, grad)
    return errors


@pytest.mark.parametrize("activation", [Tanh, Sigmoid, Linear])
def test_dense_layer(activation):
    rng = np.random.default_rng(9)
    layer = DenseLayer(4, activation=activation(), weight_init="glorot")
    errors = layer_check(layer, rng.normal(size=(5, 6)), rng)
    assert len(errors) == 3  # input, W, B
    assert_small(errors)


@pytest.mark.parametrize("kwargs", [
    dict(out_channels=3, param_size=3, flatten=True),
    dict(out_channels=2, param_size=3, flatten=True, stride=2, padding=1),
    dict(out_channels=2, param_size=2, flatten=False),
    dict(out_channels=2, param_size=4, flatten=True, stride=2, padding=0),
])
def test_conv2d_layer(kwargs):
    rng = np.random.default_rng(10)
    layer = Conv2DLayer(activation=Tanh(), weight_init="glorot", **kwargs)
    errors = layer_check(layer, rng.normal(size=(2, 2, 6, 5)), rng)
    assert len(errors) == 2  # input, W (no bias)
    assert_small(errors)


@pytest.mark.parametrize("mode", ["max", "avg"])
def test_pool2d_layer(mode):
    rng = np.random.default_rng(11)
    layer = Pool2DLayer(2, mode=mode, flatten=True)
    assert_small(layer_check(layer, distinct_values((2, 3, 5, 6), rng), rng))


# ----------------------------------------------------------------------------------------- whole networks


def small_net(loss, seed=3):
    return NeuralNetwork([
        Conv2DLayer(2, 3, activation=Tanh(), weight_init="glorot"),
        Pool2DLayer(2, mode="avg", flatten=True),
        DenseLayer(4, activation=Sigmoid()),
        DenseLayer(3, activation=Linear()),
    ], loss=loss, seed=seed)


def net_param_errors(net, X, y, objective) -> list[float]:
    """Relative errors of dL/dparams from train_batch against differences of ``objective()``."""
    net.train_batch(X, y)
    grads = [g.copy() for g in net.param_grads()]
    params = list(net.params())
    assert len(params) == len(grads) == 5  # conv W, dense W, B, dense W, B
    return [check_gradient(lambda _: objective(), p, g) for p, g in zip(params, grads)]


def test_network_with_mean_squared_error():
    rng = np.random.default_rng(12)
    X, y = rng.normal(size=(4, 1, 6, 6)), rng.normal(size=(4, 3))
    net = small_net(MeanSquaredError())
    errors = net_param_errors(net, X, y, lambda: net.forward_loss(X, y))
    assert max(errors) < TOL, errors


def categorical_cross_entropy(logits, y):
    return float(-np.sum(y * np.log(softmax(logits, axis=1))) / logits.shape[0])


def test_network_with_softmax_cross_entropy():
    # SoftmaxCrossEntropy's gradient is the book's (p - t) / batch: the derivative of plain categorical
    # cross-entropy; through the whole network it matches differences of that
    rng = np.random.default_rng(13)
    X, y = rng.normal(size=(4, 1, 6, 6)), np.eye(3)[rng.integers(0, 3, size=4)]
    net = small_net(SoftmaxCrossEntropy())
    errors = net_param_errors(net, X, y, lambda: categorical_cross_entropy(net.forward(X), y))
    assert max(errors) < TOL, errors


def test_softmax_cross_entropy_loss_value_has_the_books_extra_term():
    # the book's loss adds -(1 - t) log(1 - p) (spec §6, needed for the chapter's printed 33.2...), but its
    # backward stays (p - t) / batch: that is NOT the derivative of forward_loss. Pinned so a change is noticed.
    rng = np.random.default_rng(14)
    logits, y = rng.normal(size=(3, 4)), np.eye(4)[[0, 2, 1]]
    loss = SoftmaxCrossEntropy()
    value = loss.forward(logits, y)
    p = softmax(logits, axis=1)
    np.testing.assert_allclose(value, np.sum(-y * np.log(p) - (1 - y) * np.log(1 - p)) / 3, rtol=1e-12)
    grad = loss.backward()
    np.testing.assert_allclose(grad, (p - y) / 3, rtol=1e-12, atol=1e-15)
    assert check_gradient(lambda z: SoftmaxCrossEntropy().forward(z, y), logits.copy(), grad) > 0.1
    assert check_gradient(lambda z: categorical_cross_entropy(z, y), logits.copy(), grad) < TOL


def test_network_input_gradient():
    # the gradient reaching the input (discarded in training) is right too: the conv's input grad is flipped
    rng = np.random.default_rng(15)
    X, y = rng.normal(size=(2, 1, 6, 6)), rng.normal(size=(2, 3))
    net = small_net(MeanSquaredError())
    net.forward_loss(X, y)
    dX = net.backward(net.loss.backward()).copy()
    assert check_gradient(lambda _: net.forward_loss(X, y), X, dX) < TOL


# ------------------------------------------------------------------------------------- negative controls


def test_checker_catches_the_books_param_grad_with_batch_two():
    rng = np.random.default_rng(16)
    op = Conv2D_Op(rng.normal(size=(2, 2, 3, 3)), book=True)
    errors = op_check(op, rng.normal(size=(2, 2, 5, 5)), rng)
    assert errors["param"] > 0.1, errors


def test_checker_catches_the_books_unflipped_input_grad():
    rng = np.random.default_rng(17)
    W = rng.normal(size=(2, 2, 3, 3))
    assert not np.allclose(W, W[:, :, ::-1, ::-1])  # asymmetric
    op = Conv2D_Op(W, book=True)
    errors = op_check(op, rng.normal(size=(1, 2, 5, 5)), rng)
    assert errors["param"] < TOL  # B = 1: the param grad is right
    assert errors["input"] > 0.1, errors


def test_checker_catches_a_coarse_step():
    # eps = 1 on a curved function: the difference quotient is not the derivative (tanh'(0) = 1, the quotient
    # (tanh(1) - tanh(-1)) / 2 = 0.76)
    rng = np.random.default_rng(18)
    op = Tanh()
    x = rng.normal(scale=0.3, size=(4, 4))
    out = op.forward(x)
    G = rng.normal(size=out.shape)
    dx = op.backward(G).copy()
    f = lambda a: float(np.sum(np.tanh(a) * G))  # noqa: E731
    assert check_gradient(f, x, dx, eps=EPS) < TOL
    assert check_gradient(f, x, dx, eps=1.0) > 0.1


def test_checker_catches_a_wrong_sign_and_a_wrong_scale():
    rng = np.random.default_rng(19)
    x = rng.normal(size=5)
    f = lambda a: float(np.sum(a**3))  # noqa: E731
    assert check_gradient(f, x, 3 * x**2) < TOL
    assert check_gradient(f, x, -3 * x**2) > 1.0
    assert check_gradient(f, x, 3.3 * x**2) > 0.05
