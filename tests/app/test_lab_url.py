"""The training lab's link: the network's text round-trips, bad links are named, and the page reads and writes
its settings in the address bar."""

import pytest
from apptest import open_page
from hypothesis import given, settings
from hypothesis import strategies as st

from app import state
from app.lab import builder
from app.lab.link import arch_from_text, arch_to_text

conv_blocks = st.builds(builder.ConvBlock, st.integers(1, 64), st.integers(1, 28), st.integers(1, 4),
                        st.one_of(st.none(), st.integers(0, 6)), st.sampled_from(builder.ACTIVATIONS),
                        st.sampled_from(builder.POOLS), st.sampled_from((0.05, 0.5, 0.8, 0.95, 1.0)),
                        st.sampled_from(builder.INITS))
dense_blocks = st.builds(builder.DenseBlock, st.integers(1, 512), st.sampled_from(builder.ACTIVATIONS),
                         st.sampled_from((0.05, 0.75, 1.0)), st.sampled_from(builder.INITS))
architectures = st.builds(builder.Architecture, st.lists(conv_blocks, min_size=1, max_size=builder.MAX_CONV)
                          .map(tuple), st.lists(dense_blocks, max_size=builder.MAX_DENSE).map(tuple),
                          st.sampled_from(builder.INITS))


@settings(max_examples=60, deadline=None)
@given(architectures)
def test_any_architecture_round_trips(arch):
    assert arch_from_text(arch_to_text(arch)) == arch


def test_the_default_preset_reads_as_a_teacher_would_write_it():
    text = arch_to_text(builder.from_preset("default"))
    assert text == "conv:16,5,1,same,ReLU,max,1,he;conv:32,5,1,same,ReLU,max,1,he;dense:128,ReLU,0.8,he;out:he"


@pytest.mark.parametrize("text,message", [
    ("conv:16,5,1,same,ReLU,max,1", "expected conv: with 8 values"),
    ("conv:99,5,1,same,ReLU,max,1,he;out:he", "filters 99 is outside 1..64"),
    ("conv:16,5,1,same,Swish,max,1,he", "'Swish' is not one of"),
    ("conv:16,5,1,same,ReLU,max,0,he", "keep 0.0 is outside 0.05..1"),
    ("dense:128,ReLU,0.8,he;out:he", "1 to 5 convolution blocks"),
    ("conv:16,5,x,same,ReLU,max,1,he", "'x' is not a whole number"),
])
def test_a_bad_network_text_names_its_problem(text, message):
    with pytest.raises(ValueError, match=message):
        arch_from_text(text)


def param(at, name: str) -> str:
    value = at.query_params[name]
    return value[0] if isinstance(value, list) else value


def widget_key(kind: str, i: int, field: str) -> str:
    return f"{state.TR_BLOCK}_{kind}{i}_{field}"


def test_a_shared_link_opens_the_same_network_and_settings():
    net = "conv:8,3,1,same,Tanh,avg,1,glorot;dense:32,ReLU,0.9,he;out:normal"
    at = open_page("train.py", {"lesson": "train", "preset": "custom", "net": net, "lr": "0.05", "ep": "2", "bs": "32",
                     "book": "1", "decay": "none"})
    assert not at.warning
    assert at.session_state[state.TR_ARCH] == arch_from_text(net)
    assert at.number_input(key=widget_key("conv", 0, "channels")).value == 8
    assert at.selectbox(key=widget_key("conv", 0, "pool")).value == "avg"
    assert at.number_input(key=widget_key("dense", 0, "neurons")).value == 32
    assert at.number_input(key=state.TR_LR).value == 0.05
    assert at.number_input(key=state.TR_EPOCHS).value == 2
    assert at.toggle(key=state.TR_BOOK).value is True
    assert param(at, "net") == net  # written back unchanged


def test_the_address_bar_follows_the_lab():
    at = open_page("train.py")
    assert param(at, "lesson") == "train"
    assert param(at, "net") == arch_to_text(builder.from_preset("default"))
    assert param(at, "lr") == "0.02" and param(at, "book") == "0"
    at.number_input(key=state.TR_EPOCHS).set_value(3).run()
    assert param(at, "ep") == "3"
    at.number_input(key=widget_key("conv", 0, "channels")).set_value(12).run()
    assert param(at, "net").startswith("conv:12,5,") and param(at, "preset") == "custom"


def test_a_bad_link_is_named_and_the_rest_applied():
    at = open_page("train.py", {"net": "conv:99,5,1,same,ReLU,max,1,he;out:he", "ep": "4"})
    assert any("net=" in w.value and "filters 99 is outside 1..64" in w.value for w in at.warning)
    assert at.session_state[state.TR_ARCH] == builder.from_preset("default")
    assert at.number_input(key=state.TR_EPOCHS).value == 4
