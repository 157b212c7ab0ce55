"""Layers: PyTorch as an oracle (same weights -> same outputs and gradients,
including a whole torch state_dict loaded into a minicnn model), default
initialisation, containers, BatchNorm running statistics, errors."""

from collections import OrderedDict

import numpy as np
import pytest

import minicnn as mc
import minicnn.nn as nn


@pytest.fixture(autouse=True)
def _numpy_backend():
    with mc.use_backend("numpy"):
        yield


def _torch_state(module):
    return {k: v.detach().numpy() for k, v in module.state_dict().items()}


@pytest.mark.parametrize("d,kwargs", [
    (1, dict(stride=2, padding=1)), (2, dict(padding="same", dilation=2)), (2, dict(stride=(2, 1), bias=False)),
    (3, dict(padding=1))])
def test_conv_layers_match_torch(d, kwargs):
    torch = pytest.importorskip("torch")
    ours = getattr(nn, f"Conv{d}d")(3, 4, 3, **kwargs)
    theirs = getattr(torch.nn, f"Conv{d}d")(3, 4, 3, **kwargs).double()
    ours.double().load_state_dict(_torch_state(theirs))
    x = np.random.default_rng(d).standard_normal((2, 3) + (7,) * d)
    xt, tx = mc.Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y, ty = ours(xt), theirs(tx)
    np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=1e-10, atol=1e-12)
    g = np.random.default_rng(0).standard_normal(y.shape)
    y.backward(g)
    ty.backward(torch.tensor(g))
    np.testing.assert_allclose(xt.grad, tx.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ours.weight.grad, theirs.weight.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_whole_torch_model_state_dict_loads_and_agrees():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    theirs = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.BatchNorm2d(4), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(4, 6, 3), torch.nn.AvgPool2d(2), torch.nn.Flatten(), torch.nn.Linear(6, 3),
        torch.nn.Tanh()).double()
    ours = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(4, 6, 3), nn.AvgPool2d(2), nn.Flatten(), nn.Linear(6, 3), nn.Tanh()).double()
    assert list(ours.state_dict()) == list(theirs.state_dict())  # PyTorch's key names
    ours.load_state_dict(_torch_state(theirs))
    x = np.random.default_rng(1).standard_normal((5, 1, 8, 8))
    for mode in ("train", "eval"):
        getattr(ours, mode)()
        getattr(theirs, mode)()
        y, ty = ours(mc.Tensor(x)), theirs(torch.tensor(x))
        np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=1e-9, atol=1e-12)
    for k, v in _torch_state(theirs).items():  # running stats and the batch counter too
        np.testing.assert_allclose(ours.state_dict()[k], v, rtol=1e-12)


def test_linear_matches_torch_and_default_init_bounds():
    torch = pytest.importorskip("torch")
    mc.seed(0)
    ours = nn.Linear(300, 200)
    bound = 1 / np.sqrt(300)
    for p in (ours.weight, ours.bias):
        assert p.dtype == np.float32 and np.abs(p.data).max() <= bound
    assert abs(ours.weight.data.std() - bound / np.sqrt(3)) < 0.02 * bound  # U(-b, b) has std b/sqrt(3)
    theirs = torch.nn.Linear(300, 200)
    ours.load_state_dict(_torch_state(theirs))
    x = np.random.default_rng(0).standard_normal((4, 300)).astype(np.float32)
    np.testing.assert_allclose(ours(mc.Tensor(x)).data, theirs(torch.tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-5)


def test_conv_default_init_matches_pytorch_bounds_and_is_seeded():
    mc.seed(3)
    a = nn.Conv3d(2, 8, (3, 3, 2))
    mc.seed(3)
    b = nn.Conv3d(2, 8, (3, 3, 2))
    np.testing.assert_array_equal(a.weight.data, b.weight.data)
    bound = 1 / np.sqrt(2 * 3 * 3 * 2)  # 1 / sqrt(fan_in)
    assert np.abs(a.weight.data).max() <= bound and np.abs(a.bias.data).max() <= bound
    assert a.weight.shape == (8, 2, 3, 3, 2) and a.weight.dtype == np.float32


@pytest.mark.parametrize("ours_name,theirs_name,args", [
    ("MaxPool1d", "MaxPool1d", (3, 2, 1)), ("MaxPool2d", "MaxPool2d", (2,)), ("MaxPool3d", "MaxPool3d", (2, 1)),
    ("AvgPool1d", "AvgPool1d", (2,)), ("AvgPool2d", "AvgPool2d", (3, 2, 1)), ("AvgPool3d", "AvgPool3d", (2,)),
    ("AdaptiveAvgPool2d", "AdaptiveAvgPool2d", ((3, 2),)), ("AdaptiveAvgPool1d", "AdaptiveAvgPool1d", (1,))])
def test_pooling_layers_match_torch(ours_name, theirs_name, args):
    torch = pytest.importorskip("torch")
    d = int(ours_name[-2])
    x = np.random.default_rng(d).standard_normal((2, 3) + (6,) * d)
    y = getattr(nn, ours_name)(*args)(mc.Tensor(x))
    ty = getattr(torch.nn, theirs_name)(*args)(torch.tensor(x))
    np.testing.assert_allclose(y.data, ty.numpy(), rtol=1e-12)


def test_pool_layer_rejects_wrong_rank_and_global_pool_works_for_any_rank():
    with pytest.raises(ValueError, match=r"\(2, 3, 4\)"):
        nn.MaxPool2d(2)(mc.Tensor(np.ones((2, 3, 4))))
    with pytest.raises(ValueError, match=r"AdaptiveAvgPool3d.*\(N, C, D, H, W\)"):
        nn.AdaptiveAvgPool3d(1)(mc.Tensor(np.ones((2, 3, 4, 4))))
    for shape in [(2, 3, 5), (2, 3, 4, 5), (2, 3, 2, 3, 4)]:
        x = np.random.default_rng(0).standard_normal(shape)
        np.testing.assert_allclose(nn.GlobalAvgPool()(mc.Tensor(x)).data, x.reshape(2, 3, -1).mean(-1))


@pytest.mark.parametrize("cls,shape", [("BatchNorm1d", (6, 3)), ("BatchNorm1d", (4, 3, 5)),
                                       ("BatchNorm2d", (4, 3, 2, 2)), ("BatchNorm3d", (2, 3, 2, 2, 2))])
@pytest.mark.parametrize("momentum", [0.1, None])
def test_batchnorm_layers_match_torch_over_steps(cls, shape, momentum):
    torch = pytest.importorskip("torch")
    ours = getattr(nn, cls)(3, momentum=momentum).double()
    theirs = getattr(torch.nn, cls)(3, momentum=momentum).double()
    rng = np.random.default_rng(0)
    for step in range(3):
        x = rng.standard_normal(shape) * (step + 1) + step
        np.testing.assert_allclose(ours(mc.Tensor(x)).data, theirs(torch.tensor(x)).detach().numpy(),
                                   rtol=1e-10, atol=1e-12)
    for k, v in _torch_state(theirs).items():
        np.testing.assert_allclose(ours.state_dict()[k], v, rtol=1e-12)
    assert int(ours.num_batches_tracked.data) == 3
    ours.eval()
    theirs.eval()
    x = rng.standard_normal(shape)
    np.testing.assert_allclose(ours(mc.Tensor(x)).data, theirs(torch.tensor(x)).detach().numpy(), rtol=1e-10)


def test_batchnorm_without_running_stats_or_affine():
    bn = nn.BatchNorm1d(2, affine=False, track_running_stats=False)
    assert list(bn.parameters()) == [] and bn.state_dict() == {}
    x = np.array([[1.0, 5.0], [3.0, 9.0]])
    np.testing.assert_allclose(bn.eval()(mc.Tensor(x)).data, [[-1, -1], [1, 1]], atol=1e-4)


def test_batchnorm_errors():
    with pytest.raises(ValueError, match=r"BatchNorm2d: input must have shape \(N, C, H, W\), got shape \(4, 3\)"):
        nn.BatchNorm2d(3)(mc.Tensor(np.ones((4, 3))))
    with pytest.raises(ValueError, match=r"input has 2 channels \(shape \(4, 2, 5\)\).*num_features=3"):
        nn.BatchNorm1d(3)(mc.Tensor(np.ones((4, 2, 5))))


def test_small_model_gradcheck_float64():
    mc.seed(0)
    model = nn.Sequential(nn.Conv1d(2, 3, 3, padding=1), nn.BatchNorm1d(3), nn.Tanh(), nn.AvgPool1d(2),
                          nn.Flatten(), nn.Linear(6, 2), nn.LogSoftmax(dim=1)).double()
    x = mc.Tensor(np.random.default_rng(0).standard_normal((3, 2, 4)), requires_grad=True)
    params = list(model.parameters())

    def fn(x, *ps):
        return model(x)  # the parameters are perturbed in place by gradcheck

    mc.gradcheck(fn, [x] + params)


def test_activation_dropout_flatten_identity_layers():
    x = mc.Tensor(np.array([[-2.0, 0.5, 3.0]]))
    np.testing.assert_allclose(nn.LeakyReLU(0.1)(x).data, [[-0.2, 0.5, 3.0]])
    np.testing.assert_allclose(nn.ReLU()(x).data, [[0.0, 0.5, 3.0]])
    np.testing.assert_allclose(nn.Softmax(dim=1)(x).data.sum(), 1.0)
    np.testing.assert_allclose(np.exp(nn.LogSoftmax(dim=1)(x).data).sum(), 1.0)
    np.testing.assert_allclose(nn.Sigmoid()(x).data, 1 / (1 + np.exp(-x.data)))
    np.testing.assert_allclose(nn.Tanh()(x).data, np.tanh(x.data))
    assert nn.Identity(54, unused="x")(x) is x
    assert nn.Flatten()(mc.Tensor(np.ones((2, 3, 4, 5)))).shape == (2, 60)
    assert nn.Flatten(0, 1)(mc.Tensor(np.ones((2, 3, 4)))).shape == (6, 4)
    with pytest.raises(ValueError, match=r"start_dim=1.*\(5,\)"):
        nn.Flatten()(mc.Tensor(np.ones(5)))
    drop = nn.Dropout(0.5)
    assert drop.eval()(x) is x
    with pytest.raises(ValueError, match="p must be a probability"):
        nn.Dropout(2.0)


def test_sequential_indexing_iteration_append_and_names():
    layers = [nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)]
    seq = nn.Sequential(*layers)
    assert len(seq) == 3 and list(seq) == layers and seq[0] is layers[0] and seq[-1] is layers[2]
    head = seq[1:]
    assert isinstance(head, nn.Sequential) and list(head) == layers[1:]
    assert [n for n, _ in head.named_parameters()] == ["2.weight", "2.bias"]
    seq.append(nn.Sigmoid())
    assert len(seq) == 4 and [n for n, _ in seq.named_children()][-1] == "3"
    assert seq(mc.Tensor(np.ones((5, 2), dtype=np.float32))).shape == (5, 1)
    named = nn.Sequential(OrderedDict(conv=nn.Conv1d(1, 2, 3), act=nn.ReLU()))
    assert list(named.state_dict()) == ["conv.weight", "conv.bias"] and named[0] is named.conv
    with pytest.raises(IndexError, match="index 4 is out of range for length 4"):
        seq[4]
    with pytest.raises(TypeError, match="layer 0 must be a Module, got function"):
        nn.Sequential(lambda x: x)


def test_module_list_registers_its_modules():
    class Tower(nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])

        def forward(self, x):
            for block in self.blocks:
                x = block(x)
            return x

    tower = Tower()
    assert len(list(tower.parameters())) == 6 and "blocks.2.bias" in tower.state_dict()
    tower.blocks[1] = nn.Linear(2, 2, bias=False)
    assert "blocks.1.bias" not in tower.state_dict() and len(tower.blocks) == 3
    tower.blocks.extend([nn.Linear(2, 2)])
    assert tower(mc.Tensor(np.ones((1, 2), dtype=np.float32))).shape == (1, 2) and len(tower.blocks[1:]) == 3


@pytest.mark.parametrize("make,match", [
    (lambda: nn.Conv2d(0, 4, 3), "in_channels must be a positive int"),
    (lambda: nn.Conv2d(1, 4, (3, 3, 3)), "kernel_size must be an int or a tuple of 2 ints"),
    (lambda: nn.Conv1d(1, 4, 3, stride=0), "stride must be positive"),
    (lambda: nn.Conv2d(1, 4, 3, padding="full"), "padding must be"),
    (lambda: nn.Linear(3, -1), "out_features must be a positive int"),
    (lambda: nn.MaxPool2d((2, 2, 2)), "kernel_size must be an int or a tuple of 2 ints"),
    (lambda: nn.BatchNorm2d(0), "num_features must be a positive int"),
])
def test_layer_constructor_errors(make, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make()


def test_conv_layer_channel_mismatch_error_names_shapes():
    with pytest.raises(ValueError, match=r"\(2, 3, 8, 8\)"):
        nn.Conv2d(1, 4, 3)(mc.Tensor(np.ones((2, 3, 8, 8), dtype=np.float32)))
