"""Receptive fields: known stacks, the recurrences, and brute force through real layers."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minicnn as mc
from minicnn import nn
from minicnn.visualize.receptive_field import format_table, receptive_field, receptive_fields


@pytest.fixture(autouse=True)
def _numpy_kernels():
    """Geometry does not depend on the kernels; the NumPy ones need no compile time."""
    with mc.use_backend("numpy"):
        yield


def test_three_3x3_convs_see_7x7():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Conv2d(2, 2, 3), nn.ReLU(), nn.Conv2d(2, 1, 3))
    rfs = receptive_fields(model, input_shape=(1, 1, 16, 16))
    assert [rf.size for rf in rfs if rf.kind == "conv"] == [(3, 3), (5, 5), (7, 7)]
    last = rfs[-1]
    assert last.jump == (1, 1) and last.out_shape == (10, 10)
    assert last.box((0, 0), (16, 16)) == ((0, 7), (0, 7))
    assert last.box((9, 2), (16, 16)) == ((9, 16), (2, 9))


def test_conv_pool_conv_sees_8x8_with_jump_2():
    model = nn.Sequential(nn.Conv2d(1, 1, 3, padding=1), nn.MaxPool2d(2, 2), nn.Conv2d(1, 1, 3, padding=1))
    rf = receptive_field(model, input_shape=(1, 1, 16, 16))
    assert rf.size == (8, 8) and rf.jump == (2, 2) and rf.out_shape == (8, 8)
    # Output 0 is centred at input 0.5 and hangs 3 pixels over the top-left corner.
    assert rf.start == (0.5, 0.5) and rf.left == (-3, -3)
    assert rf.box((0, 0), (16, 16)) == ((0, 5), (0, 5))
    assert rf.box((0, 0), (16, 16), clip=False) == ((-3, 5), (-3, 5))
    assert rf.box((3, 4), (16, 16)) == ((3, 11), (5, 13))
    assert rf.box((7, 7), (16, 16)) == ((11, 16), (11, 16))


def test_layer_by_name_and_global_layers():
    model = nn.Sequential(nn.Conv2d(3, 4, 5, stride=2), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 2))
    assert receptive_field(model, "0", input_shape=(3, 16, 16)).size == (5, 5)
    head = receptive_field(model, "3", input_shape=(3, 16, 16))
    assert receptive_fields(list(model) + [nn.LogSoftmax(dim=1)])[-1].is_global
    assert head.is_global and head.box(None, (3, 16, 16)) == ((0, 16), (0, 16))
    with pytest.raises(KeyError, match=r"'7'.*\['0', '1', '2', '3'\]"):
        receptive_field(model, "7")
    assert "layer" in format_table(receptive_fields(model, (3, 16, 16)))


def test_dilation_padding_strings_and_errors():
    conv = nn.Conv1d(1, 1, 3, dilation=4, padding="same")
    rf = receptive_field([conv], input_shape=(1, 20))
    assert rf.size == (9,) and rf.left == (-4,) and rf.out_shape == (20,)

    class Odd:  # no geometry, unknown class
        pass
    with pytest.raises(TypeError, match="Odd.*passthrough"):
        receptive_fields([conv, Odd()])
    assert receptive_fields([conv, Odd()], passthrough=(Odd,))[-1].size == (9,)
    with pytest.raises(ValueError, match="empty output"):
        receptive_fields([nn.Conv1d(1, 1, 5)], input_shape=(1, 3))


def _stack(spec, d):
    """A chain of minicnn layers from (kind, k, s, p, dil) tuples, in d spatial dims."""
    conv = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}[d]
    pools = {"max": {1: nn.MaxPool1d, 2: nn.MaxPool2d, 3: nn.MaxPool3d},
             "avg": {1: nn.AvgPool1d, 2: nn.AvgPool2d, 3: nn.AvgPool3d}}
    layers = []
    for kind, k, s, p, dil in spec:
        if kind == "conv":
            layers += [conv(1, 1, k, stride=s, padding=p, dilation=dil), nn.ReLU()]
        else:
            layers.append(pools[kind][d](k, stride=s, padding=0))
    for m in layers:  # positive weights: every input the layer reaches moves the output
        if hasattr(m, "weight"):
            m.weight.data[...] = np.abs(m.weight.data) + 0.1
    return nn.Sequential(*layers)


def _brute_force_boxes(model, shape):
    """For each output position, the bounding box of input pixels whose change changes it."""
    rng = np.random.default_rng(0)
    x = rng.uniform(0.5, 1.0, (1, 1) + shape).astype(np.float32)
    with mc.no_grad():
        base = model(mc.Tensor(x)).data[0, 0].astype(np.float64)
    hits = np.zeros(base.shape + shape, dtype=bool)
    for idx in np.ndindex(*shape):
        xp = x.copy()
        xp[(0, 0) + idx] += 1e3  # big enough to win every max-pool window it is in
        with mc.no_grad():
            out = model(mc.Tensor(xp)).data[0, 0]
        hits[(Ellipsis,) + idx] = np.abs(out - base) > 1e-6
    boxes = {}
    for pos in np.ndindex(*base.shape):
        where = np.nonzero(hits[pos])
        # None: the output sees only padding (possible with padding >= kernel size).
        boxes[pos] = tuple((int(w.min()), int(w.max()) + 1) for w in where) if where[0].size else None
    return boxes


layer_st = st.one_of(
    st.tuples(st.just("conv"), st.integers(1, 3), st.integers(1, 2), st.integers(0, 1), st.integers(1, 2)),
    st.tuples(st.sampled_from(["max", "avg"]), st.integers(2, 2), st.integers(1, 2), st.just(0), st.just(1)),
)


@settings(max_examples=25, deadline=None)
@given(spec=st.lists(layer_st, min_size=1, max_size=3), d=st.sampled_from([1, 2]))
def test_boxes_match_brute_force(spec, d):
    shape = (11,) * d
    model = _stack(spec, d)
    try:
        rfs = receptive_fields(model, input_shape=(1, 1) + shape)
    except ValueError:  # the stack shrinks the input to nothing
        return
    rf = rfs[-1]
    # The box is exact when the field has no holes (no dilation, no stride larger
    # than its kernel) and only the input itself is padded.  Otherwise the box is
    # the span of the field: holes next to the border, or zero padding of a
    # hidden layer (which the recurrences treat as if it came from the input),
    # can make the pixels that really matter span less.
    exact = all(dil == 1 and s <= k for _, k, s, _, dil in spec) and all(p == 0 for *_, p, _ in spec[1:])
    for pos, box in _brute_force_boxes(model, shape).items():
        ours = rf.box(pos, shape)
        if exact and box is None:  # the output sees only padding: an empty box
            assert any(hi <= lo for lo, hi in ours), (spec, pos)
        elif exact:
            assert ours == box, (spec, pos)
        elif box is not None:
            assert all(lo <= b_lo and b_hi <= hi for (lo, hi), (b_lo, b_hi) in zip(ours, box)), (spec, pos)


def test_3d_stack_matches_brute_force():
    shape = (6, 7, 5)
    model = _stack([("conv", 3, 1, 1, 1), ("max", 2, 2, 0, 1), ("conv", 2, 1, 0, 1)], 3)
    rf = receptive_field(model, input_shape=(1, 1) + shape)
    assert rf.size == (6, 6, 6) and rf.jump == (2, 2, 2)
    for pos, box in _brute_force_boxes(model, shape).items():
        assert rf.box(pos, shape) == box


def test_gradient_support_equals_box():
    """Backprop a one-hot output gradient: the inputs with non-zero gradient fill the box."""
    model = _stack([("conv", 3, 1, 1, 1), ("avg", 2, 2, 0, 1), ("conv", 3, 2, 0, 2)], 2)
    shape = (15, 15)
    rf = receptive_field(model, input_shape=(1, 1) + shape)
    x = mc.Tensor(np.random.default_rng(1).uniform(0.5, 1, (1, 1) + shape).astype(np.float32), requires_grad=True)
    y = model(x)
    for pos in np.ndindex(*y.shape[2:]):
        x.zero_grad()
        g = np.zeros(y.shape)
        g[(0, 0) + pos] = 1.0
        model(x).backward(g)
        support = np.nonzero(x.grad[0, 0])
        assert tuple((int(s.min()), int(s.max()) + 1) for s in support) == rf.box(pos, shape)
