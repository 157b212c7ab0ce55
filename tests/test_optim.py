"""Optimizers and schedules: update sequences equal torch.optim's step for
step on the same model and data; param groups, state, schedules, errors."""

import numpy as np
import pytest

import minicnn as mc
import minicnn.functional as F
import minicnn.nn as nn
import minicnn.optim as optim

CONFIGS = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.8, dampening=0.3, weight_decay=0.01)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.001)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.02, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.01)),
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.01, weight_decay=0.1)),
]


def _pair(torch):
    """The same two-layer classifier in both libraries (float64, equal weights)."""
    torch.manual_seed(0)
    theirs = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3)).double()
    ours = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3)).double()
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    return ours, theirs


def _data():
    rng = np.random.default_rng(0)
    return rng.standard_normal((16, 4)), rng.integers(0, 3, 16)


@pytest.mark.parametrize("name,kwargs", CONFIGS)
def test_update_sequence_matches_torch(name, kwargs):
    torch = pytest.importorskip("torch")
    ours, theirs = _pair(torch)
    opt = getattr(optim, name)(ours.parameters(), **kwargs)
    topt = getattr(torch.optim, name)(theirs.parameters(), **kwargs)
    x, y = _data()
    for _ in range(6):
        opt.zero_grad()
        topt.zero_grad()
        loss = F.cross_entropy(ours(mc.Tensor(x)), y)
        tloss = torch.nn.functional.cross_entropy(theirs(torch.tensor(x)), torch.tensor(y))
        np.testing.assert_allclose(loss.item(), tloss.item(), rtol=1e-10)
        loss.backward()
        tloss.backward()
        opt.step()
        topt.step()
    for (k, a), b in zip(ours.state_dict().items(), theirs.state_dict().values()):
        np.testing.assert_allclose(a, b.numpy(), rtol=1e-9, atol=1e-12, err_msg=k)


def test_param_groups_with_their_own_learning_rates_match_torch():
    torch = pytest.importorskip("torch")
    ours, theirs = _pair(torch)
    opt = optim.SGD([{"params": ours[0].parameters(), "lr": 0.5}, {"params": ours[2].parameters()}],
                    lr=0.01, momentum=0.9)
    topt = torch.optim.SGD([{"params": theirs[0].parameters(), "lr": 0.5}, {"params": theirs[2].parameters()}],
                           lr=0.01, momentum=0.9)
    assert [g["lr"] for g in opt.param_groups] == [0.5, 0.01]
    x, y = _data()
    for _ in range(3):
        opt.zero_grad()
        topt.zero_grad()
        F.cross_entropy(ours(mc.Tensor(x)), y).backward()
        torch.nn.functional.cross_entropy(theirs(torch.tensor(x)), torch.tensor(y)).backward()
        opt.step()
        topt.step()
    for a, b in zip(ours.state_dict().values(), theirs.state_dict().values()):
        np.testing.assert_allclose(a, b.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("ours_name,kwargs", [
    ("StepLR", dict(step_size=3, gamma=0.5)), ("ExponentialLR", dict(gamma=0.9)),
    ("CosineAnnealingLR", dict(T_max=5, eta_min=0.001))])
def test_schedules_match_torch(ours_name, kwargs):
    torch = pytest.importorskip("torch")
    p, tp = nn.Parameter(np.zeros(2)), torch.zeros(2, requires_grad=True)
    opt = optim.SGD([{"params": [p]}], lr=0.1)
    topt = torch.optim.SGD([tp], lr=0.1)
    sched = getattr(optim, ours_name)(opt, **kwargs)
    tsched = getattr(torch.optim.lr_scheduler, ours_name)(topt, **kwargs)
    ours, theirs = [sched.get_last_lr()[0]], [tsched.get_last_lr()[0]]
    for _ in range(12):
        topt.step()
        sched.step()
        tsched.step()
        ours.append(sched.get_last_lr()[0])
        theirs.append(tsched.get_last_lr()[0])
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-15)
    assert opt.param_groups[0]["lr"] == ours[-1]


def test_scheduler_state_round_trip():
    opt = optim.SGD([nn.Parameter(np.zeros(1))], lr=1.0)
    sched = optim.StepLR(opt, step_size=2)
    for _ in range(5):
        sched.step()
    opt2 = optim.SGD([nn.Parameter(np.zeros(1))], lr=1.0)
    sched2 = optim.StepLR(opt2, step_size=2)
    sched2.load_state_dict(sched.state_dict())
    assert sched2.get_last_lr() == sched.get_last_lr() == [pytest.approx(0.01)]


def test_optimizer_state_dict_resumes_identically():
    def run(steps, resume_after=None):
        mc.seed(0)
        model = nn.Linear(3, 2).double()
        opt = optim.Adam(model.parameters(), lr=0.05)
        x = mc.Tensor(np.linspace(-1, 1, 12).reshape(4, 3))
        for i in range(steps):
            if i == resume_after:  # rebuild everything from saved state, as after a restart
                saved_model, saved_opt = model.state_dict(), opt.state_dict()
                model = nn.Linear(3, 2).double()
                model.load_state_dict(saved_model)
                opt = optim.Adam(model.parameters(), lr=0.05)
                opt.load_state_dict(saved_opt)
            opt.zero_grad()
            (model(x) ** 2).mean().backward()
            opt.step()
        return model.weight.data

    np.testing.assert_array_equal(run(6), run(6, resume_after=3))


def test_parameters_without_grad_are_skipped_and_float32_is_kept():
    a, b = nn.Parameter(np.ones(3, dtype=np.float32)), nn.Parameter(np.ones(3, dtype=np.float32))
    opt = optim.Adam([a, b], lr=0.1)
    a.grad = np.array([1.0, -1.0, 0.0], dtype=np.float32)
    opt.step()
    np.testing.assert_array_equal(b.data, 1.0)
    np.testing.assert_allclose(a.data, [0.9, 1.1, 1.0], rtol=1e-6)
    assert a.dtype == np.float32 and opt.state[a]["exp_avg"].dtype == np.float32


def test_plain_sgd_step_is_p_minus_lr_grad():
    p = nn.Parameter(np.array([1.0, 2.0]))
    opt = optim.SGD([p], lr=0.5)
    p.grad = np.array([2.0, -4.0])
    opt.step()
    np.testing.assert_array_equal(p.data, [0.0, 4.0])
    opt.zero_grad()
    assert p.grad is None


def test_optimizer_errors():
    p = nn.Parameter(np.zeros(2))
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(ValueError, match="nesterov=True needs momentum > 0"):
        optim.SGD([p], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="lr must be >= 0"):
        optim.Adam([p], lr=-1.0)
    with pytest.raises(ValueError, match=r"betas must be in \[0, 1\)"):
        optim.Adam([p], betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="more than one group"):
        optim.SGD([{"params": [p]}, {"params": [p]}], lr=0.1)
    with pytest.raises(TypeError, match="single Tensor"):
        optim.SGD(p, lr=0.1)
    with pytest.raises(TypeError, match="parameter 0 is a ndarray"):
        optim.SGD([np.zeros(2)], lr=0.1)
    with pytest.raises(ValueError, match="not a leaf"):
        optim.SGD([p * 2], lr=0.1)
    with pytest.raises(ValueError, match="T_max must be a positive int"):
        optim.CosineAnnealingLR(optim.SGD([p], lr=0.1), T_max=0)
