"""Silent wrong numbers (issue 13, items 9-15): NaN propagates like in PyTorch, gradcheck fails
on NaN, undefined values are reported as such, and bad numbers are refused at the door."""
import json
import math

import numpy as np
import pytest

import minicnn as mc
import minicnn.functional as F
import minicnn.optim as optim
from minicnn.cli_args import check_name, float_range, int_range, json_text

try:  # PyTorch is the oracle of the NaN tests (test-only); without it those tests skip
    import torch
except ImportError:
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch (the oracle) is not installed")

NAN_INPUT = np.array([[[[np.nan, 1.0, -2.0, 3.0], [0.5, np.nan, 5.0, -6.0], [1.0, 2.0, -3.0, 4.0],
                        [np.inf, -np.inf, 7.0, np.nan]]]], dtype=np.float32)  # (1, 1, 4, 4)


# ------------------------------------------------------------------ item 9: gradcheck
def test_gradcheck_fails_on_a_nan_output():
    x = mc.Tensor(np.ones(3), requires_grad=True, dtype=np.float64)
    with pytest.raises(mc.GradcheckError, match="NaN or Inf"):
        mc.gradcheck(lambda t: t * float("nan"), [x])


def test_gradcheck_fails_on_a_nan_gradient():
    class NanGrad(mc.Function):  # right forward, NaN backward
        def forward(self, x):
            return x * 2

        def backward(self, gy):
            return (gy * np.nan,)

    x = mc.Tensor(np.ones(3), requires_grad=True, dtype=np.float64)
    with pytest.raises(mc.GradcheckError, match="analytic nan"):
        mc.gradcheck(lambda t: NanGrad()(t), [x])


# ------------------------------------------------------------------ item 10: NaN like PyTorch
ACTIVATIONS = {
    "relu": (F.relu, lambda x: torch.relu(x)),
    "leaky_relu": (lambda x: F.leaky_relu(x, 0.1), lambda x: torch.nn.functional.leaky_relu(x, 0.1)),
    "sigmoid": (F.sigmoid, lambda x: torch.sigmoid(x)),
    "tanh": (F.tanh, lambda x: torch.tanh(x)),
    "softmax": (lambda x: F.softmax(x, dim=-1), lambda x: torch.softmax(x, -1)),
    "log_softmax": (lambda x: F.log_softmax(x, dim=-1), lambda x: torch.log_softmax(x, -1)),
}
POOLS = {
    "max_pool2d": (lambda x: F.max_pool2d(x, 2), lambda x: torch.nn.functional.max_pool2d(x, 2)),
    "max_pool2d_pad": (lambda x: F.max_pool2d(x, 3, 1, 1), lambda x: torch.nn.functional.max_pool2d(x, 3, 1, 1)),
    "max_pool1d": (lambda x: F.max_pool1d(x[0], 2), lambda x: torch.nn.functional.max_pool1d(x[0], 2)),
    "max_pool3d": (lambda x: F.max_pool3d(x[None], (1, 2, 2)),
                   lambda x: torch.nn.functional.max_pool3d(x[None], (1, 2, 2))),
    "avg_pool2d": (lambda x: F.avg_pool2d(x, 2), lambda x: torch.nn.functional.avg_pool2d(x, 2)),
    "adaptive_avg_pool": (lambda x: F.adaptive_avg_pool(x, 2), lambda x: torch.nn.functional.adaptive_avg_pool2d(x, 2)),
    "global_avg_pool": (lambda x: F.global_avg_pool(x), lambda x: x.mean((2, 3))),
}


def _same(ours, theirs):
    ours, theirs = np.asarray(ours, np.float64), theirs.detach().numpy().astype(np.float64)
    assert ours.shape == theirs.shape
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(theirs))
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6, equal_nan=True)


@needs_torch
@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_activations_treat_nan_like_pytorch(name):
    ours, theirs = ACTIVATIONS[name]
    x = NAN_INPUT.reshape(4, 4)
    _same(ours(mc.Tensor(x)).data, theirs(torch.tensor(x)))


@needs_torch
def test_relu_gradient_at_nan_matches_pytorch():
    x = mc.Tensor(NAN_INPUT.reshape(-1), requires_grad=True)
    F.relu(x).sum().backward()
    t = torch.tensor(NAN_INPUT.reshape(-1), requires_grad=True)
    torch.relu(t).sum().backward()
    _same(x.grad, t.grad)


@needs_torch
@pytest.mark.parametrize("backend", ["reference", "numpy", "numba"])
@pytest.mark.parametrize("name", list(POOLS))
def test_pooling_treats_nan_like_pytorch(backend, name):
    ours, theirs = POOLS[name]
    with mc.use_backend(backend):
        _same(ours(mc.Tensor(NAN_INPUT)).data, theirs(torch.tensor(NAN_INPUT)))


def test_a_model_with_nan_weights_gives_nan_not_a_plausible_encoding():
    from minicnn.face.encoder import FaceEncoder

    model = FaceEncoder(input_size=(16, 16), widths=(4, 8), embedding_dim=8)
    model.features[0].weight.data[...] = np.nan
    e = model.embed(np.random.default_rng(0).random((2, 16, 16)), tta="none")
    assert np.isnan(e).all()


# ------------------------------------------------------------------ item 11: valid JSON
def test_json_text_never_writes_nan():
    text = json_text({"a": float("nan"), "b": [1.0, float("inf")], "c": np.float32("nan"), "d": 2})
    assert json.loads(text) == {"a": None, "b": [1.0, None], "c": None, "d": 2}
    assert "NaN" not in text and "Infinity" not in text


# ------------------------------------------------------------------ item 13: say what happened
def test_mining_says_why_there_are_no_triplets():
    from minicnn.face import mining as M

    dist = np.zeros((4, 4))
    for labels, why in (([0, 0, 0, 0], "1 identity"), ([0, 1, 2, 3], "no positive pair")):
        with pytest.warns(M.NoTripletsWarning, match=why):
            a, _, _ = M.mine(dist, np.array(labels))
        assert len(a) == 0
    with pytest.raises(ValueError, match="NaN"):
        M.mine(np.full((4, 4), np.nan), np.array([0, 0, 1, 1]))


def test_training_stops_with_the_step_and_learning_rate_when_it_diverges():
    from minicnn.face.synthetic import synthetic_faces
    from minicnn.face.train import TrainingError, train

    data = synthetic_faces(6, 3, size=(16, 16), seed=3)
    with pytest.raises(TrainingError, match=r"became NaN/Inf at step \d+ \(learning rate .* lr=1e\+30\)"):
        train(data, steps=5, P=3, K=3, lr=1e30, model=dict(input_size=(16, 16), widths=(4, 8), embedding_dim=8),
              progress=False, log=lambda s: None)


def test_training_stops_when_no_batch_has_a_triplet():
    from minicnn.face.data import FaceDataset
    from minicnn.face.train import TrainingError, train

    # two people, each "photo" a copy of one picture: no positive pair of distinct images exists
    img = np.random.default_rng(0).random((1, 1, 16, 16)).astype(np.float32)
    data = FaceDataset(np.concatenate([img, img, img[..., ::-1], img[..., ::-1]]), [0, 0, 1, 1], ["a", "b"],
                       groups=np.array([0, 0, 1, 1]))
    with pytest.raises(TrainingError, match="no valid triplets.*no positive pair"):
        train(data, steps=2, P=2, K=2, model=dict(input_size=(16, 16), widths=(4, 8), embedding_dim=8),
              progress=False, log=lambda s: None)


@pytest.mark.parametrize("field, value", [("lr", float("nan")), ("lr", float("inf")), ("lr", 0.0),
                                          ("alpha", -1.0), ("steps", 0), ("epochs", 0), ("P", 0),
                                          ("max_time", -1.0), ("max_time", float("nan"))])
def test_train_config_refuses_bad_numbers(field, value):
    from minicnn.face.train import TrainConfig

    with pytest.raises(ValueError, match=field):
        TrainConfig(**{field: value})


# ------------------------------------------------------------------ item 15: values at the door
@pytest.mark.parametrize("make", [
    lambda p: optim.SGD(p, lr=float("nan")), lambda p: optim.SGD(p, lr=float("inf")),
    lambda p: optim.SGD(p, lr=0.1, momentum=float("nan")), lambda p: optim.Adam(p, lr=float("nan")),
    lambda p: optim.Adam(p, lr=float("inf")), lambda p: optim.Adam(p, eps=float("nan")),
    lambda p: optim.AdamW(p, weight_decay=float("inf")),
])
def test_optimizers_refuse_non_finite_hyper_parameters(make):
    with pytest.raises(ValueError, match="finite"):
        make([mc.nn.Parameter(np.zeros(2, np.float32))])


@pytest.mark.parametrize("data", ["abc", ["a", "b"], np.array(["x"]), np.array([None], dtype=object),
                                  np.array(["2020-01-01"], dtype="datetime64[D]")])
def test_tensor_refuses_non_numbers(data):
    with pytest.raises(TypeError, match="must be numbers"):
        mc.Tensor(data)


# ------------------------------------------------------------------ the shared validators
def test_range_types_and_names():
    import argparse

    assert int_range(1, 3)("2") == 2 and float_range(0, 1, low_open=True)("1") == 1.0
    for parse, text in ((int_range(1), "0"), (int_range(1), "1.5"), (float_range(0), "nan"),
                        (float_range(0), "-inf"), (float_range(0, 1, low_open=True), "0")):
        with pytest.raises(argparse.ArgumentTypeError):
            parse(text)
    assert check_name("Zoë O'Neil-Ünal") == "Zoë O'Neil-Ünal"
    for bad in ("a\nb", "\x1b[31mred", "x\u202ey", "", " ", "tab\there"):
        with pytest.raises(ValueError):
            check_name(bad)
    assert math.isclose(float_range(0, 4)("4"), 4.0)
