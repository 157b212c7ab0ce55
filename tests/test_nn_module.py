"""Module: registration, traversal names, train/eval, zero_grad, state_dict,
saving and loading (round trip, validation errors, atomic writes), hooks, repr."""

import os

import numpy as np
import pytest

import minicnn as mc
import minicnn.functional as F
import minicnn.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2))
        self.head = nn.Linear(4 * 3 * 3, 2)
        self.scale = nn.Parameter(np.ones(1, dtype=np.float32))
        self.register_buffer("calls", np.zeros((), dtype=np.int64))
        self.note = "not registered"

    def forward(self, x):
        return self.head(self.features(x).flatten(1)) * self.scale


def _input(n=2, seed=0):
    return mc.Tensor(np.random.default_rng(seed).standard_normal((n, 1, 8, 8)).astype(np.float32))


def test_registration_order_and_dotted_names():
    net = Net()
    # as PyTorch: a module's own tensors first, then each child's, depth first
    assert [n for n, _ in net.named_parameters()] == [
        "scale", "features.0.weight", "features.0.bias", "features.1.weight", "features.1.bias",
        "head.weight", "head.bias"]
    assert [n for n, _ in net.named_modules()] == [
        "", "features", "features.0", "features.1", "features.2", "features.3", "head"]
    assert [n for n, _ in net.named_children()] == ["features", "head"]
    assert list(net.children()) == [net.features, net.head]
    assert [n for n, _ in net.named_buffers()] == [
        "calls", "features.1.running_mean", "features.1.running_var", "features.1.num_batches_tracked"]
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in net.parameters())
    assert net.note == "not registered" and "note" not in net.state_dict()


def test_state_dict_has_parameters_and_buffers_as_copies():
    net = Net()
    sd = net.state_dict()
    assert list(sd) == ["scale", "calls", "features.0.weight", "features.0.bias", "features.1.weight",
                        "features.1.bias", "features.1.running_mean", "features.1.running_var",
                        "features.1.num_batches_tracked", "head.weight", "head.bias"]
    live = {**dict(net.named_parameters()), **dict(net.named_buffers())}
    for key, value in sd.items():  # the values of the live tensors, as plain arrays
        assert isinstance(value, np.ndarray), key
        want = live[key].data if isinstance(live[key], mc.Tensor) else live[key]
        np.testing.assert_array_equal(value, want, err_msg=key)
    sd["head.bias"][...] = 123.0
    assert not np.any(net.head.bias.data == 123.0)  # a snapshot, not a view


def test_reassignment_and_deletion():
    net = Net()
    with pytest.raises(TypeError, match="parameter 'scale'.*Parameter or None"):
        net.scale = mc.Tensor(np.ones(1))
    net.scale = None
    assert "scale" not in dict(net.named_parameters())
    net.head = nn.Linear(36, 5)
    assert net.head.out_features == 5 and dict(net.named_parameters())["head.weight"].shape == (5, 36)
    del net.head
    assert "head.weight" not in net.state_dict()
    with pytest.raises(AttributeError, match="no attribute 'head'"):
        net.head


def test_assigning_before_super_init_is_a_clear_error():
    class Broken(nn.Module):
        def __init__(self):
            self.fc = nn.Linear(2, 2)

    with pytest.raises(AttributeError, match=r"super\(\).__init__\(\)"):
        Broken()


def test_shared_parameters_are_listed_once():
    lin = nn.Linear(3, 3)
    model = nn.Sequential(lin, nn.ReLU(), lin)
    assert [n for n, _ in model.named_parameters()] == ["0.weight", "0.bias"]
    assert len(list(model.modules())) == 3  # the shared Linear counted once


def test_train_eval_propagate_and_switch_dropout_and_batchnorm():
    model = nn.Sequential(nn.Linear(4, 50), nn.BatchNorm1d(50), nn.Dropout(0.5))
    assert model.training and all(m.training for m in model.modules())
    x = mc.Tensor(np.random.default_rng(0).standard_normal((8, 4)).astype(np.float32))
    mc.seed(0)
    y_train = model(x).data
    assert (y_train == 0).mean() > 0.3  # dropout active
    rm = model[1].running_mean.data.copy()
    assert model.eval() is model and not any(m.training for m in model.modules())
    a, b = model(x).data, model(x).data
    np.testing.assert_array_equal(a, b)  # deterministic: no dropout, running stats
    np.testing.assert_array_equal(model[1].running_mean.data, rm)  # not updated in eval
    model.train()
    assert all(m.training for m in model.modules())


def test_zero_grad_and_accumulation():
    model = nn.Linear(3, 2)
    x = mc.Tensor(np.ones((1, 3), dtype=np.float32))
    model(x).sum().backward()
    g1 = model.weight.grad.copy()
    model(x).sum().backward()
    np.testing.assert_allclose(model.weight.grad, 2 * g1)  # gradients accumulate
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_load_state_dict_round_trip_through_files(tmp_path):
    mc.seed(1)
    a = Net()
    a(_input())  # updates BatchNorm running stats
    path = a.save(tmp_path / "net", meta={"note": "hello", "n_classes": 2})
    assert path.name == "net.npz" and path.exists()
    mc.seed(2)
    b = Net()
    meta = b.load(tmp_path / "net.npz")
    assert meta["note"] == "hello" and meta["n_classes"] == 2 and meta["class"] == "Net"
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb
        np.testing.assert_array_equal(va, vb)
        assert va.dtype == vb.dtype
    a.eval()
    b.eval()
    np.testing.assert_array_equal(a(_input(seed=3)).data, b(_input(seed=3)).data)
    state, meta = mc.load(path)  # the functional API reads the same file
    assert set(state) == set(a.state_dict()) and meta["format_version"] >= 1
    c = Net()
    c.load_state_dict(state)
    np.testing.assert_array_equal(c.head.weight.data, a.head.weight.data)


def test_mc_save_accepts_a_module(tmp_path):
    net = Net()
    mc.save(net, tmp_path / "m.npz")
    state, _ = mc.load(tmp_path / "m.npz")
    np.testing.assert_array_equal(state["features.0.weight"], net.features[0].weight.data)


def test_load_state_dict_missing_and_unexpected_keys():
    net = Net()
    state = net.state_dict()
    del state["head.bias"]
    with pytest.raises(KeyError, match=r"missing key\(s\) \['head.bias'\]"):
        Net().load_state_dict(state)
    state = net.state_dict()
    state["extra.weight"] = np.ones(2)
    with pytest.raises(KeyError, match=r"unexpected key\(s\) \['extra.weight'\]"):
        Net().load_state_dict(state)
    del state["head.bias"]
    missing, unexpected = Net().load_state_dict(state, strict=False)
    assert missing == ["head.bias"] and unexpected == ["extra.weight"]


def test_load_state_dict_shape_mismatch_names_key_and_shapes_and_changes_nothing():
    net = Net()
    before = net.state_dict()
    state = Net().state_dict()
    state["head.weight"] = np.ones((3, 36), dtype=np.float32)
    with pytest.raises(ValueError, match=r"'head.weight'.*checkpoint has \(3, 36\).*model has \(2, 36\)"):
        net.load_state_dict(state)
    for k, v in net.state_dict().items():  # a failed load leaves the model untouched
        np.testing.assert_array_equal(v, before[k])


def test_load_rejects_a_file_for_another_model(tmp_path):
    nn.Linear(4, 3).save(tmp_path / "lin.npz")
    with pytest.raises(ValueError, match=r"'weight'.*\(3, 4\).*\(3, 5\)"):
        nn.Linear(5, 3).load(tmp_path / "lin.npz")
    with pytest.raises(FileNotFoundError, match="nope"):
        nn.Linear(5, 3).load(tmp_path / "nope.npz")


def test_a_failing_write_leaves_the_old_file(tmp_path, monkeypatch):
    model = nn.Linear(3, 2)
    path = model.save(tmp_path / "model.npz")
    original = path.read_bytes()

    def crash(f, **arrays):
        f.write(b"half a model")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(OSError, match="disk full"):
        nn.Linear(3, 2).save(path)
    assert path.read_bytes() == original
    assert os.listdir(tmp_path) == ["model.npz"]  # no temporary file left behind
    monkeypatch.undo()
    nn.Linear(3, 2).load(path)


def test_load_state_dict_accepts_tensors_and_casts_dtype():
    model = nn.Linear(2, 2)
    state = {"weight": mc.Tensor(np.eye(2)), "bias": np.array([1.0, 2.0])}
    model.load_state_dict(state)
    assert model.weight.dtype == np.float32
    np.testing.assert_array_equal(model.bias.data, [1.0, 2.0])


def test_forward_hook_records_and_can_be_removed():
    model = nn.Sequential(nn.Linear(2, 3), nn.ReLU())
    seen = []
    handle = model[0].register_forward_hook(lambda m, inputs, out: seen.append(out.shape))
    model(mc.Tensor(np.ones((4, 2))))
    handle.remove()
    model(mc.Tensor(np.ones((4, 2))))
    assert seen == [(4, 3)]


def test_requires_grad_freezes_parameters():
    model = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1))
    model[0].requires_grad_(False)
    model(mc.Tensor(np.ones((1, 2), dtype=np.float32))).sum().backward()
    assert model[0].weight.grad is None and model[1].weight.grad is not None


def test_double_to_and_apply():
    model = Net().double()
    assert all(p.dtype == np.float64 for p in model.parameters())
    assert model.features[1].running_mean.dtype == np.float64
    assert model.calls.dtype == np.int64
    params = list(model.parameters())
    assert model.to("cpu") is model and list(model.parameters()) == params  # same objects
    with pytest.raises(ValueError, match="device must be 'cpu' or 'cuda'"):
        model.to("tpu")
    names = []
    model.apply(lambda m: names.append(type(m).__name__))
    assert names[-1] == "Net" and names[0] == "Conv2d"
    model.float()
    assert all(p.dtype == np.float32 for p in model.parameters())


def test_repr_like_pytorch():
    model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(8, 2, bias=False))
    assert repr(model) == (
        "Sequential(\n"
        "  (0): Conv2d(1, 8, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))\n"
        "  (1): ReLU()\n"
        "  (2): Flatten(start_dim=1, end_dim=-1)\n"
        "  (3): Linear(in_features=8, out_features=2, bias=False)\n"
        ")")
    assert "Parameter containing" in repr(model[0].weight)


def test_custom_module_with_functional_calls_trains():
    class Tiny(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(np.zeros((1, 2), dtype=np.float32))

        def forward(self, x):
            return F.linear(x, self.w)

    model = Tiny()
    x = mc.Tensor(np.array([[1.0, 2.0]], dtype=np.float32))
    F.mse_loss(model(x), np.array([[5.0]], dtype=np.float32)).backward()
    np.testing.assert_allclose(model.w.grad, [[-10.0, -20.0]])
