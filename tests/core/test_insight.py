"""smartflow_core.insight: feature maps, probabilities, and saliency checked against central differences."""

import numpy as np
import pytest
from numpy.testing import assert_allclose
from PIL import Image, ImageFilter

from smartflow_core.data import load_mnist
from smartflow_core.insight import (
    feature_maps,
    gradient_saliency,
    logit_gradient,
    logits,
    occlusion_saliency,
    probabilities,
)
from smartflow_core.layer import Conv2DLayer, DenseLayer
from smartflow_core.loss import SoftmaxCrossEntropy
from smartflow_core.nn import NeuralNetwork
from smartflow_core.persist import PRETRAINED, load_model
from smartflow_core.presets import PRESETS, build, prepare_images


def default_net(dtype=np.float32) -> NeuralNetwork:
    """The default preset with its parameters created (in ``dtype``) by one forward pass on a zero batch."""
    net = build(PRESETS["default"])
    net.forward(np.zeros((2, 1, 28, 28), dtype=dtype), inference=True)
    return net


@pytest.fixture(scope="module")
def net64():
    return default_net(np.float64)


def random_input(seed=0, dtype=np.float64):
    return np.random.default_rng(seed).normal(size=(1, 1, 28, 28)).astype(dtype)


def test_feature_maps_of_the_default_preset_have_labels_and_shapes():
    net = default_net()
    x = random_input(dtype=np.float32)
    maps = feature_maps(net, x)
    assert [label for label, _ in maps] == [
        "Conv2DLayer 1: 16 maps 28x28", "Pool2DLayer 2: 16 maps 14x14", "Conv2DLayer 3: 32 maps 14x14",
        "Pool2DLayer 4: 32 maps 7x7", "DenseLayer 5: 128 outputs", "DenseLayer 6: 10 outputs"]
    assert [a.shape for _, a in maps] == [(16, 28, 28), (16, 14, 14), (32, 14, 14), (32, 7, 7), (128,), (10,)]
    assert all(a.dtype == np.float32 for _, a in maps)
    # the conv layers' maps are after the ReLU; the last entry is the network's output
    assert maps[0][1].min() >= 0 and maps[2][1].min() >= 0
    assert_allclose(maps[-1][1], net.forward(x, inference=True)[0], rtol=1e-6)
    # pooling reads the conv maps: the pooled map is the 2x2 maximum of the one before
    conv = maps[0][1]
    assert_allclose(maps[1][1], conv.reshape(16, 14, 2, 14, 2).max(axis=(2, 4)))


def test_feature_maps_accept_a_plain_image_and_reject_a_batch():
    net = default_net()
    assert len(feature_maps(net, np.zeros((28, 28), np.float32))) == len(net.layers)
    with pytest.raises(ValueError, match=r"one example .* got \(2, 1, 28, 28\)"):
        feature_maps(net, np.zeros((2, 1, 28, 28), np.float32))


def test_feature_maps_show_conv_activations_before_flatten():
    net = NeuralNetwork([Conv2DLayer(3, 3, activation="ReLU", flatten=True, weight_init="he"),
                         DenseLayer(10, weight_init="he")], SoftmaxCrossEntropy(), seed=3)
    (label, maps), (dense_label, out) = feature_maps(net, random_input(1))
    assert (label, maps.shape, dense_label, out.shape) == ("Conv2DLayer 1: 3 maps 28x28", (3, 28, 28),
                                                           "DenseLayer 2: 10 outputs", (10,))


def test_probabilities_are_a_distribution_in_logit_order(net64):
    x = random_input(2)
    p = probabilities(net64, x)
    assert p.shape == (10,) and np.all(p > 0)
    assert_allclose(p.sum(), 1.0, rtol=1e-12)
    assert np.argmax(p) == np.argmax(logits(net64, x))


def logit(net, x, cls):
    return net.forward(x, inference=True)[0, cls]


def central_differences(net, x, cls, pixels, eps):
    grads = []
    for i, j in pixels:
        plus, minus = x.copy(), x.copy()
        plus[0, 0, i, j] += eps
        minus[0, 0, i, j] -= eps
        grads.append((logit(net, plus, cls) - logit(net, minus, cls)) / (2 * eps))
    return np.array(grads)


def test_gradient_saliency_agrees_with_central_differences(net64):
    x = random_input(3)
    rng = np.random.default_rng(4)
    pixels = [tuple(p) for p in rng.integers(0, 28, size=(60, 2))]
    for cls in (0, 7):
        grad = logit_gradient(net64, x, cls)
        numeric = central_differences(net64, x, cls, pixels, eps=1e-6)
        assert_allclose([grad[0, 0, i, j] for i, j in pixels], numeric, rtol=1e-5, atol=1e-8)
        saliency = gradient_saliency(net64, x, cls)
        assert saliency.shape == (28, 28)
        assert_allclose(saliency, np.abs(grad[0, 0]))


def test_gradient_check_can_fail(net64):
    # negative control: the gradient of another class, compared the same way, disagrees
    x = random_input(3)
    pixels = [(5, 5), (10, 12), (14, 14), (20, 7), (25, 25)]
    numeric = central_differences(net64, x, 0, pixels, eps=1e-6)
    wrong = logit_gradient(net64, x, 1)
    assert not np.allclose([wrong[0, 0, i, j] for i, j in pixels], numeric, rtol=1e-5, atol=1e-8)


def test_gradient_through_dropout_in_inference_mode():
    # a conv layer with dropout (as the chapter's model): at inference Dropout scales by keep_prob, and so does
    # its derivative, even after a training pass has left a random mask behind
    net = NeuralNetwork([Conv2DLayer(4, 3, dropout=0.8, activation="Tanh", flatten=True, weight_init="glorot"),
                         DenseLayer(10)], SoftmaxCrossEntropy(), seed=5)
    x = random_input(6)
    net.forward(np.repeat(x, 2, axis=0), inference=False)  # leaves a training mask in the Dropout
    grad = logit_gradient(net, x, 2)
    pixels = [(0, 0), (3, 9), (14, 14), (27, 1), (20, 22)]
    assert_allclose([grad[0, 0, i, j] for i, j in pixels], central_differences(net, x, 2, pixels, 1e-6),
                    rtol=1e-5, atol=1e-9)


def test_logit_gradient_rejects_a_class_out_of_range(net64):
    with pytest.raises(ValueError, match="class 10 out of range"):
        logit_gradient(net64, random_input(), 10)


def region_net(rows=slice(4, 9), cols=slice(18, 23)) -> NeuralNetwork:
    """A toy network whose class 0 reads only one 5x5 region: an identity 1x1 convolution, flattened, then a dense
    layer whose class-0 weights are 1 on the region and 0 elsewhere; the other classes have zero weights."""
    net = NeuralNetwork([Conv2DLayer(1, 1, activation="Linear", flatten=True), DenseLayer(10)],
                        SoftmaxCrossEntropy(), seed=7)
    net.forward(np.zeros((1, 1, 28, 28)), inference=True)
    conv_w, dense_w, dense_b = net.params()
    conv_w[...] = 1.0
    dense_w[...] = 0.0
    dense_b[...] = 0.0
    mask = np.zeros((28, 28))
    mask[rows, cols] = 1.0
    dense_w[:, 0] = 0.2 * mask.ravel()
    return net


def test_occlusion_saliency_finds_the_informative_region():
    net = region_net()
    x = np.full((1, 1, 28, 28), -0.5)
    x[0, 0, 4:9, 18:23] = 2.0                     # the "digit" sits on the region class 0 reads
    x[0, 0, 20:25, 3:8] = 2.0                     # a distractor the network ignores
    saliency = occlusion_saliency(net, x, 0, patch=4, stride=2)
    assert saliency.shape == (28, 28)
    i, j = np.unravel_index(np.argmax(saliency), saliency.shape)
    assert 4 <= i < 9 and 18 <= j < 23
    assert saliency.max() > 0.1
    # patches that never touch the region change nothing
    assert_allclose(saliency[14:, :], 0.0, atol=1e-12)
    assert_allclose(saliency[:, :14], 0.0, atol=1e-12)


def test_occlusion_saliency_covers_every_pixel_and_uses_the_fill():
    net = region_net()
    x = np.full((1, 1, 28, 28), -0.5)
    x[0, 0, 4:9, 18:23] = 2.0
    # stride 3 does not divide 28 - 5: the last row and column of patches are added, so no pixel is left out
    saliency = occlusion_saliency(net, x, 0, patch=5, stride=3)
    assert np.all(np.isfinite(saliency)) and saliency[27, 27] == 0 and saliency.max() > 0.1
    # filling with the region's own value hides nothing
    assert_allclose(occlusion_saliency(net, x, 0, fill=2.0, patch=28, stride=1), 0.0, atol=1e-12)
    with pytest.raises(ValueError, match="patch must be"):
        occlusion_saliency(net, x, 0, patch=0)
    with pytest.raises(ValueError, match="stride in 1..patch"):
        occlusion_saliency(net, x, 0, patch=4, stride=5)  # would leave stripes never covered


def test_occlusion_saliency_on_the_default_preset_runs_batched(net64):
    x = random_input(8)
    saliency = occlusion_saliency(net64, x, 3)
    assert saliency.shape == (28, 28) and np.all(np.isfinite(saliency))
    assert np.abs(saliency).max() <= 1.0


@pytest.mark.slow
def test_on_real_digits_the_pretrained_model_looks_at_the_ink(mnist_dir):
    if not PRETRAINED.exists():
        pytest.skip(f"no pretrained model yet at {PRETRAINED} (train it with python -m smartflow_core.train)")
    net, meta = load_model(PRETRAINED)
    _, _, X, y = load_mnist(mnist_dir)
    for image, label in zip(X[:10], y[:10]):
        x = prepare_images(image[None], mean=meta["standardize"]["mean"], std=meta["standardize"]["std"])
        assert np.argmax(probabilities(net, x)) == label
        occlusion = occlusion_saliency(net, x, int(label))
        near_ink = np.asarray(Image.fromarray(image.reshape(28, 28)).filter(ImageFilter.MaxFilter(5))) > 0
        assert near_ink[np.unravel_index(np.argmax(occlusion), occlusion.shape)]   # the biggest drop is on the digit
        assert gradient_saliency(net, x, int(label)).shape == (28, 28)
