"""Layers and the network: the book's random draws in the book's order, dtypes, reprs, shapes, validation,
book mode, and the loss/activation details the chapter depends on."""
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from smartflow_core import book_mode, is_book_mode
from smartflow_core.conv import Conv2D_Op
from smartflow_core.layer import AvgPool2DLayer, Conv2DLayer, DenseLayer, MaxPool2DLayer, Pool2DLayer
from smartflow_core.loss import MeanSquaredError, SoftmaxCrossEntropy
from smartflow_core.nn import LayerBlock, NeuralNetwork
from smartflow_core.operation import (
    BiasAdd,
    Dropout,
    Flatten,
    Linear,
    ReLU,
    Sigmoid,
    Tanh,
    WeightMultiply,
    binomial_mask,
)
from smartflow_core.optimizers import SGD, SGDMomentum
from smartflow_core.pooling import Pool2D
from smartflow_core.trainer import Trainer

SEED = 20190402


def chapter_model(**conv_kwargs) -> NeuralNetwork:
    """The chapter's 32-channel MNIST model."""
    return NeuralNetwork(
        layers=[Conv2DLayer(out_channels=32, param_size=5, dropout=0.8, weight_init="glorot", flatten=True,
                            activation=Tanh(), **conv_kwargs),
                DenseLayer(neurons=10, activation=Linear())],
        loss=SoftmaxCrossEntropy(), seed=SEED)


# -------------------------------------------------------------------------------------------- dropout


@pytest.mark.parametrize("keep", [0.8, 0.3])
def test_dropout_mask_is_the_books_binomial_draw(keep):
    # same mask as RandomState.binomial(1, p, shape), and the stream continues identically afterwards
    shape = (37, 53)
    op = Dropout(keep, rng=np.random.RandomState(123))
    out = op.forward(np.ones(shape))
    expected = np.random.RandomState(123)
    book_mask = expected.binomial(1, keep, shape)
    assert_array_equal(op.mask.astype(int), book_mask)
    assert_array_equal(out, book_mask)  # kept units are not rescaled (not inverted dropout)
    assert_array_equal(op.rng.random_sample(10), expected.random_sample(10))
    assert_array_equal(op.rng.normal(size=4), expected.normal(size=4))


@pytest.mark.parametrize("keep", [0.8, 0.5, 0.3, 1.0])
def test_binomial_mask_matches_binomial(keep):
    a, b = np.random.RandomState(9), np.random.RandomState(9)
    assert_array_equal(binomial_mask(a, keep, (100, 7)).astype(int), b.binomial(1, keep, (100, 7)))
    assert a.randint(1 << 30) == b.randint(1 << 30)


def test_dropout_inference_scales_and_draws_nothing():
    rng = np.random.RandomState(5)
    op = Dropout(0.8, rng=rng)
    state = rng.get_state()[1].copy()
    x = np.arange(6.0).reshape(2, 3)
    assert_allclose(op.forward(x, inference=True), 0.8 * x, rtol=1e-15)
    assert_array_equal(rng.get_state()[1], state)
    assert op.mask is None


def test_dropout_backward_uses_the_last_training_mask():
    op = Dropout(0.5, rng=np.random.RandomState(1))
    op.forward(np.ones((4, 5)))
    g = np.arange(20.0).reshape(4, 5)
    assert_array_equal(op.backward(g), g * op.mask)


# ------------------------------------------------------------------------------------ §10 RNG facts


@pytest.fixture(scope="module")
def chapter_first_step():
    """The chapter model after fit's first draws: seed, permutation(60000), one training-mode forward."""
    global_state = np.random.get_state()[1].copy()
    net = chapter_model()
    net.rng.seed(SEED)
    perm = net.rng.permutation(60000)
    X = np.random.default_rng(0).normal(size=(60, 1, 28, 28))  # values do not matter, only the draws
    net.forward(X)
    return net, perm, global_state


def test_permutation_after_seeding(chapter_first_step):
    _, perm, _ = chapter_first_step
    assert_array_equal(perm[:5], [43051, 25513, 40011, 15716, 20904])


def test_conv_weights_come_next(chapter_first_step):
    net, _, _ = chapter_first_step
    W = net.layers[0].params[0]
    assert W.shape == (1, 32, 5, 5)
    assert_allclose(W[0, 0, 0, :3], [0.05479682999919444, -0.07068150978680751, 0.05242385207034876],
                    rtol=1e-15, atol=0)


def test_first_dropout_mask(chapter_first_step):
    net, _, _ = chapter_first_step
    dropout = net.layers[0].operations[-1]
    assert isinstance(dropout, Dropout)
    assert dropout.mask.shape == (60, 25088)
    assert dropout.mask.mean() == pytest.approx(0.8008058301445579, rel=1e-15)
    assert_array_equal(dropout.mask[0, :10].astype(int), [1, 0, 0, 1, 1, 1, 1, 1, 1, 1])


def test_dense_layer_reseeds_then_draws_weights_and_bias(chapter_first_step):
    net, _, _ = chapter_first_step
    W, B = net.layers[1].params
    assert W.shape == (25088, 10) and B.shape == (1, 10)
    assert_allclose(W[0, :3], [0.05454485742641166, -0.5113664434440082, -1.0096442181439158], rtol=1e-15, atol=0)
    assert_allclose(B[0, :3], [0.5974459188947461, 1.6525654579403783, -1.3261163479820994], rtol=1e-15, atol=0)


def test_the_global_generator_is_never_touched(chapter_first_step):
    *_, global_state = chapter_first_step
    assert_array_equal(np.random.get_state()[1], global_state)


def test_every_layer_shares_the_networks_generator():
    net = chapter_model()
    assert all(layer.rng is net.rng for layer in net.layers)
    assert all(layer.seed == SEED for layer in net.layers)


# ---------------------------------------------------------------------------------------------- dtypes


def test_params_follow_a_float32_input():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(4, 1, 8, 8)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[[0, 1, 2, 0]]
    net = NeuralNetwork([Conv2DLayer(2, 3, dropout=0.8, activation=Tanh(), flatten=True),
                         DenseLayer(3, activation=Linear(), dropout=0.9)], loss=SoftmaxCrossEntropy(), seed=2)
    net.train_batch(X, y)
    assert all(p.dtype == np.float32 for p in net.params())
    assert all(g.dtype == np.float32 for g in net.param_grads())
    assert net.forward(X).dtype == np.float32
    assert net.forward(X, inference=True).dtype == np.float32


def test_params_are_float64_for_integer_input():
    layer = DenseLayer(2)
    layer.seed = 0
    layer.forward(np.ones((3, 4), dtype=np.uint8))
    assert all(p.dtype == np.float64 for p in layer.params)


# ------------------------------------------------------------------------------------------------ reprs


@pytest.mark.parametrize("obj, text", [
    (Conv2DLayer(32, 5, dropout=0.8, weight_init="glorot", activation=Tanh(), flatten=True),
     "Conv2DLayer(out_channels=32, param_size=5, dropout=0.8, weight_init='glorot', activation=Tanh(), "
     "flatten=True, stride=1, padding=None, book=False)"),
    (Conv2DLayer(4, 2, stride=2, padding=1, book=True),
     "Conv2DLayer(out_channels=4, param_size=2, dropout=1.0, weight_init='normal', activation=Linear(), "
     "flatten=False, stride=2, padding=1, book=True)"),
    (DenseLayer(10, activation="ReLU", dropout=0.5, weight_init="glorot"),
     "DenseLayer(neurons=10, activation=ReLU(), dropout=0.5, weight_init='glorot')"),
    (Pool2DLayer(3, 2, "avg", True), "Pool2DLayer(size=3, stride=2, mode='avg', flatten=True)"),
    (MaxPool2DLayer(), "Pool2DLayer(size=2, stride=None, mode='max', flatten=False)"),
    (AvgPool2DLayer(2), "Pool2DLayer(size=2, stride=None, mode='avg', flatten=False)"),
    (Conv2D_Op(np.zeros((1, 2, 3, 3)), 2, (1, 0), book=False),
     "Conv2D_Op(param_shape=(1, 2, 3, 3), stride=2, padding=(1, 0), book=False)"),
    (Pool2D(3, 2, "avg"), "Pool2D(size=3, stride=2, mode='avg')"),
    (Dropout(0.8), "Dropout(keep_prob=0.8)"),
    (WeightMultiply(np.zeros((4, 3))), "WeightMultiply(param_shape=(4, 3))"),
    (BiasAdd(np.zeros((1, 3))), "BiasAdd(param_shape=(1, 3))"),
    (Flatten(), "Flatten()"), (Linear(), "Linear()"), (Sigmoid(), "Sigmoid()"), (Tanh(), "Tanh()"),
    (ReLU(), "ReLU()"),
    (MeanSquaredError(normalize=True), "MeanSquaredError(normalize=True)"),
    (SoftmaxCrossEntropy(), "SoftmaxCrossEntropy(eps=1e-09)"),
    (SGD(0.1), "SGD(lr=0.1)"),
    (SGDMomentum(0.2, momentum=0.9, final_lr=0.05, decay_type="exponential"),
     "SGDMomentum(lr=0.2, final_lr=0.05, decay_type='exponential', momentum=0.9)"),
])
def test_repr_shows_the_configuration(obj, text):
    assert repr(obj) == text


def test_network_and_trainer_reprs():
    net = chapter_model()
    text = repr(net)
    assert text.startswith("NeuralNetwork(\n  Conv2DLayer(out_channels=32, param_size=5, dropout=0.8, "
                           "weight_init='glorot', activation=Tanh(), flatten=True")
    assert "DenseLayer(neurons=10, activation=Linear(), dropout=1.0, weight_init='standard')" in text
    assert "loss=SoftmaxCrossEntropy(eps=1e-09), seed=20190402" in text
    assert repr(Trainer(net, SGDMomentum(0.1, momentum=0.9))) == "Trainer(optim=SGDMomentum(lr=0.1, momentum=0.9))"
    assert repr(LayerBlock([DenseLayer(2)])).startswith("LayerBlock(\n  DenseLayer(neurons=2")


# ----------------------------------------------------------------------------------------------- shapes


def test_shapes_of_the_chapter_model():
    rows = chapter_model().shapes((1, 28, 28))
    assert [(out, count) for _, out, count in rows] == [((25088,), 1 * 32 * 5 * 5), ((10,), (25088 + 1) * 10)]
    assert [type(layer).__name__ for layer, _, _ in rows] == ["Conv2DLayer", "DenseLayer"]


def test_shapes_agree_with_a_forward_pass():
    net = NeuralNetwork([Conv2DLayer(8, 3, stride=2, padding=1, activation=ReLU()),
                         Conv2DLayer(4, 2, activation=Tanh()),
                         Pool2DLayer(2, flatten=True),
                         DenseLayer(10)], seed=3)
    rows = net.shapes((3, 28, 28))
    assert [(out, count) for _, out, count in rows] == [
        ((8, 14, 14), 3 * 8 * 9), ((4, 15, 15), 8 * 4 * 4), ((196,), 0), ((10,), 197 * 10)]
    x = np.random.default_rng(0).normal(size=(2, 3, 28, 28))
    for layer, (_, out, count) in zip(net.layers, rows):
        x = layer.forward(x)
        assert x.shape[1:] == out
        assert sum(p.size for p in layer.params) == count


def test_shapes_reports_a_kernel_that_does_not_fit():
    net = NeuralNetwork([Conv2DLayer(2, 7, padding=0)], seed=1)
    with pytest.raises(ValueError, match="7x7 kernel does not fit a 5x5 input"):
        net.shapes((1, 5, 5))


# ------------------------------------------------------------------------------------------- validation


@pytest.mark.parametrize("make, message", [
    (lambda: Conv2DLayer(4, 3, stride=0), "stride must be a whole number of at least 1, got 0"),
    (lambda: Conv2DLayer(4, 3, padding=-1), "padding must be None, an int >= 0"),
    (lambda: Conv2DLayer(4, 3, dropout=0), r"dropout is the probability of keeping a unit, in \(0, 1\]; got 0"),
    (lambda: Conv2DLayer(4, 3, dropout=1.5), r"dropout is the probability of keeping a unit, in \(0, 1\]; got 1.5"),
    (lambda: DenseLayer(4, dropout=0), "dropout is the probability of keeping a unit"),
    (lambda: DenseLayer(4, dropout=1.5), "dropout is the probability of keeping a unit"),
    (lambda: DenseLayer(4, activation="Softplus"), "unknown activation 'Softplus'; choose one of"),
    (lambda: Conv2DLayer(4, 3, activation="tanh"), "unknown activation 'tanh'"),
    (lambda: DenseLayer(4, weight_init="xavier"), "weight_init must be one of"),
    (lambda: Conv2DLayer(0, 3), "out_channels and param_size must be at least 1"),
    (lambda: DenseLayer(0), "at least 1 neuron"),
    (lambda: Dropout(0), r"keep_prob must be in \(0, 1\]"),
    (lambda: Pool2DLayer(2, mode="min"), "mode must be one of"),
    (lambda: BiasAdd(np.zeros(3)), r"a bias must have shape \(1, n\)"),
    (lambda: Conv2D_Op(np.zeros((3, 3))), "filters must have shape"),
])
def test_invalid_settings_are_refused(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_kernel_larger_than_input_is_refused_on_forward():
    layer = Conv2DLayer(2, 7, padding=0)
    layer.seed = 0
    with pytest.raises(ValueError, match="7x7 kernel does not fit a 5x5 input"):
        layer.forward(np.zeros((1, 1, 5, 5)))


def test_dense_on_feature_maps_is_refused():
    layer = DenseLayer(3)
    layer.seed = 0
    with pytest.raises(ValueError, match=r"DenseLayer expects \(batch, features\), got shape \(2, 1, 4, 4\).*flatten"):
        layer.forward(np.zeros((2, 1, 4, 4)))


def test_conv_on_flat_input_is_refused():
    layer = Conv2DLayer(3, 3)
    with pytest.raises(ValueError, match=r"Conv2DLayer expects \(batch, channels, height, width\)"):
        layer.forward(np.zeros((2, 16)))


def test_dropout_without_a_generator_is_refused():
    with pytest.raises(RuntimeError, match="no random generator"):
        Dropout(0.5).forward(np.ones((2, 2)))


def test_one_activation_object_in_two_layers_is_refused():
    act = Tanh()
    with pytest.raises(ValueError, match="two layers share one activation object"):
        NeuralNetwork([DenseLayer(5, activation=act), DenseLayer(3, activation=act)])


def test_one_layer_object_twice_is_refused():
    layer = DenseLayer(4)
    with pytest.raises(ValueError, match="the same layer object appears twice"):
        NeuralNetwork([layer, layer])


def test_default_activations_are_separate_objects():
    # the book's shared default Linear() instance would break; here each default is its own object
    a, b = DenseLayer(3), DenseLayer(2)
    assert a.activation is not b.activation
    NeuralNetwork([a, b])  # accepted


# ------------------------------------------------------------------------------------------- book mode


def test_book_mode_sets_the_conv_default_only_inside_the_block():
    assert not is_book_mode()
    before = Conv2DLayer(2, 3)
    with book_mode():
        assert is_book_mode()
        inside = Conv2DLayer(2, 3)
        explicit = Conv2DLayer(2, 3, book=False)
        op = Conv2D_Op(np.zeros((1, 1, 3, 3)))
    after = Conv2DLayer(2, 3)
    assert not is_book_mode()
    assert (before.book, inside.book, explicit.book, after.book, op.book) == (False, True, False, False, True)


def test_book_mode_is_fixed_at_construction():
    # a layer built inside the block keeps the book's backward pass when run outside it
    with book_mode():
        layer = Conv2DLayer(1, 3)
    layer.seed = 0
    layer.forward(np.zeros((2, 1, 4, 4)))
    assert layer.operations[0].book is True


def test_book_mode_is_restored_after_an_exception():
    with pytest.raises(KeyError):
        with book_mode():
            raise KeyError("boom")
    assert not is_book_mode()


def test_book_mode_changes_the_gradient_with_batch_two():
    # the same draws, the same data: book=True and book=False differ only in the backward pass
    rng = np.random.default_rng(4)
    X, y = rng.normal(size=(2, 1, 6, 6)), np.eye(3)[[0, 2]]
    grads = {}
    for book in (False, True):
        net = NeuralNetwork([Conv2DLayer(2, 3, activation=Tanh(), flatten=True, book=book), DenseLayer(3)],
                            loss=SoftmaxCrossEntropy(), seed=7)
        loss = net.train_batch(X, y)
        grads[book] = ([g.copy() for g in net.param_grads()], loss)
    assert grads[False][1] == grads[True][1]
    assert_allclose(grads[False][0][1], grads[True][0][1], rtol=1e-12)  # dense W unaffected
    assert not np.allclose(grads[False][0][0], grads[True][0][0])  # conv W differs


# ---------------------------------------------------------------------------------- losses, activations


def test_softmax_cross_entropy_float32_saturated_logits_is_finite():
    # in float32 1 - 1e-9 rounds to 1; the loss is computed in float64 so log(1 - p) stays finite
    logits = np.array([[1000.0, -1000.0, 0.0], [0.0, 50.0, -50.0]], dtype=np.float32)
    target = np.array([[0, 1, 0], [0, 1, 0]], dtype=np.float32)
    loss = SoftmaxCrossEntropy()
    value = loss.forward(logits, target)
    assert np.isfinite(value)
    # row 0 saturated on a wrong class: 2 * -ln(1e-9); row 1 right and saturated: ~0
    assert value == pytest.approx(2 * 20.72326583694641 / 2, rel=1e-6)
    grad = loss.backward()
    assert grad.dtype == np.float32
    assert np.all(np.isfinite(grad))


def test_softmax_cross_entropy_single_column():
    # one column of probabilities becomes two ([p, 1 - p]); the gradient comes back as one column
    loss = SoftmaxCrossEntropy()
    pred, target = np.array([[0.2], [0.9]]), np.array([[0.0], [1.0]])
    assert np.isfinite(loss.forward(pred, target))
    assert loss.backward().shape == (2, 1)


def test_mean_squared_error_value_and_gradient():
    pred, target = np.array([[1.0, 2.0], [3.0, 5.0]]), np.array([[0.0, 2.0], [1.0, 1.0]])
    loss = MeanSquaredError()
    assert loss.forward(pred, target) == pytest.approx((1 + 0 + 4 + 16) / 2, rel=1e-15)
    assert_allclose(loss.backward(), 2 * (pred - target) / 2, rtol=1e-15)


def test_loss_refuses_mismatched_shapes():
    with pytest.raises(AssertionError, match=r"\(2, 3\).*\(2, 4\)"):
        MeanSquaredError().forward(np.zeros((2, 3)), np.zeros((2, 4)))


def test_relu_gradient_is_zero_for_negative_inputs():
    x = np.array([[-2.0, -0.5, 0.5, 3.0]])
    op = ReLU()
    assert_array_equal(op.forward(x), [[0, 0, 0.5, 3]])
    assert_array_equal(op.backward(np.ones_like(x)), [[0, 0, 1, 1]])
    # the book's mask was output >= 0, true everywhere after clipping: every gradient passed through
    assert np.all(op.output >= 0)
