"""The labs' logic without Streamlit: the architecture builder, the evaluation of a model, the charts' arithmetic."""
import numpy as np
import pytest

from app.lab import builder
from app.lab.charts import confusion_figure, smooth, tile
from app.lab.evaluation import evaluate
from smartflow_core.data import SUBSET_PATH, load_mnist
from smartflow_core.nn import NeuralNetwork
from smartflow_core.persist import PRETRAINED, build_model, load_model
from smartflow_core.presets import PRESETS

INPUT = (1, 28, 28)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_round_trip_through_the_builder(name):
    # the builder's view of a preset builds exactly the preset's network
    ours = build_model(builder.from_preset(name).model_config())
    theirs = build_model(PRESETS[name].config())
    assert [layer.config() for layer in ours.layers] == [layer.config() for layer in theirs.layers]


def test_check_agrees_with_the_library():
    arch = builder.from_preset("default").add_dense()
    plan = builder.check(arch)
    net = build_model(arch.model_config())
    assert plan.ok and [(r.shape, r.params) for r in plan.rows] == [(s, p) for _, s, p in net.shapes(INPUT)]
    assert plan.params == sum(p for _, _, p in net.shapes(INPUT))
    conv = plan.rows[0]
    assert conv.macs == 16 * 28 * 28 * 1 * 5 * 5  # one multiply-add per weight per output cell


@pytest.mark.parametrize("edit, message", [
    (dict(stride=0), "a stride of 0 never moves the kernel"),
    (dict(kernel=29, padding=0), "its 29×29 kernel does not fit its 28×28 input"),
    (dict(dropout=0.0), "dropout keeps a fraction of the units"),
])
def test_impossible_first_blocks_are_explained(edit, message):
    plan = builder.check(builder.from_preset("default").set_conv(0, **edit))
    assert not plan.ok and message in plan.problems[0] and plan.problems[0].startswith("1 Conv")


def test_the_table_stops_at_the_layer_that_cannot_fit():
    arch = builder.Architecture(tuple(builder.ConvBlock(4, 3) for _ in range(6)))  # 28 14 7 3 1 -> pool fails
    plan = builder.check(arch)
    assert [r.shape for r in plan.rows][-1] == (4, 1, 1)
    assert "its input is only 1×1, smaller than the 2×2 window" in plan.problems[0]


def test_book_mode_refuses_even_kernels_and_strides():
    assert builder.check(builder.from_preset("chapter"), book=True).ok
    for edit in (dict(kernel=4), dict(stride=2), dict(padding=0)):
        plan = builder.check(builder.from_preset("chapter").set_conv(0, **edit), book=True)
        assert "book mode reproduces the chapter's convolution" in plan.problems[0]


def test_a_batch_too_big_for_memory_is_refused_and_a_huge_dense_layer_warned():
    arch = builder.Architecture((builder.ConvBlock(64, 5, pool="none"), builder.ConvBlock(64, 7)))
    assert builder.check(arch, batch_size=32).ok
    plan = builder.check(arch, batch_size=256)
    assert "2 Conv 64@7×7: each of its output cells reads a 7×7×64 window" in plan.problems[0]
    wide = builder.Architecture((builder.ConvBlock(64, 3, pool="none"),), (builder.DenseBlock(64),))
    plan = builder.check(wide)
    assert plan.ok and plan.warnings == ("2 Dense 64 has 3,211,328 weights: it will train slowly. Pooling before it "
                                         "shrinks its input.",)


def test_editing_returns_new_architectures():
    arch = builder.from_preset("default")
    grown = arch.add_conv()
    assert len(arch.convs) == 2 and len(grown.convs) == 3 and grown.convs[-1].channels == 64
    assert grown.remove_conv(2) == arch
    assert arch.set_dense(0, neurons=7).denses[0].neurons == 7 and arch.denses[0].neurons != 7


def test_evaluation_counts_every_digit_once_and_ranks_mistakes():
    net, _meta = load_model(PRETRAINED)
    _, _, X, y = load_mnist(SUBSET_PATH)
    done = []
    ev = evaluate(net, X[:600], y[:600], chunk=250, on_progress=lambda d, n: done.append((d, n)))
    assert done == [(250, 600), (500, 600), (600, 600)]
    assert ev.confusion.sum() == 600 and ev.right + len(ev.mistakes()) == 600
    assert ev.accuracy == pytest.approx(100 * ev.right / 600)
    wrong = ev.mistakes()
    assert all(ev.labels[i] != ev.predicted[i] for i in wrong)
    assert list(ev.probs[wrong, ev.predicted[wrong]]) == sorted(ev.probs[wrong, ev.predicted[wrong]], reverse=True)
    for t, p in zip(*np.nonzero(ev.confusion)):
        assert len(ev.cell(t, p)) == ev.confusion[t, p]
    np.testing.assert_allclose(ev.probs.sum(axis=1), 1, rtol=1e-5)


def test_evaluate_does_not_change_the_weights():
    net, _ = load_model(PRETRAINED)
    before = [p.copy() for p in net.params()]
    _, _, X, y = load_mnist(SUBSET_PATH)
    evaluate(net, X[:50], y[:50])
    assert all(np.array_equal(a, b) for a, b in zip(before, net.params()))
    assert isinstance(net, NeuralNetwork)


def test_smoothing_and_tiling():
    np.testing.assert_allclose(smooth([2.0, 2.0, 2.0], 10), [2, 2, 2])  # debiased: no ramp from zero
    s = smooth([0.0] * 50 + [1.0] * 50, 5)
    assert s[49] == 0 and 0.99 < s[-1] <= 1
    z, index = tile(np.arange(5 * 2 * 3, dtype=float).reshape(5, 2, 3))
    assert z.shape == (2 * 3 - 1, 3 * 4 - 1) and np.isnan(z[2]).all()  # 3 columns, 2 rows, NaN gaps
    assert index[0, 4] == 1 and index[3, 0] == 3 and index[3, 8] == -1


def test_confusion_figure_markers_name_their_cells():
    counts = np.arange(100).reshape(10, 10)
    fig = confusion_figure(counts, selected=(7, 2))
    markers = fig.data[2]
    i = 7 * 10 + 2
    assert (markers.y[i], markers.x[i]) == (7, 2) and markers.text[i] == "72"  # what a click reports
    assert (fig.layout.shapes[0].x0, fig.layout.shapes[0].y0) == (1.5, 6.5)  # the opened cell is framed
