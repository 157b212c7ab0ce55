"""The lesson exercises: stubs fail their checks, solutions pass them, the notebooks hide the answers.

``lessons/exercises.py`` holds stubs; ``MINICNN_SOLUTIONS=1`` swaps in ``lessons/solutions/``.
A check must refuse a stub, a function that hands the work to minicnn or to the solutions, and a
wrong answer; it must accept the solution and a learner's own copy of it.
"""
import importlib
import json
import sys
import types
from pathlib import Path

import numpy as np
import pytest

import minicnn as mc

LESSONS = Path(__file__).resolve().parents[1] / "lessons"


def load(monkeypatch, switch_on):
    """Import lessons/exercises.py afresh with the solutions switch on or off."""
    monkeypatch.syspath_prepend(str(LESSONS))
    if switch_on:
        monkeypatch.setenv("MINICNN_SOLUTIONS", "1")
    else:
        monkeypatch.delenv("MINICNN_SOLUTIONS", raising=False)
    for name in [m for m in sys.modules if m.split(".")[0] in ("exercises", "exercise_checks", "solutions")]:
        sys.modules.pop(name)
    return importlib.import_module("exercises"), importlib.import_module("solutions")


@pytest.fixture
def stubs(monkeypatch):
    return load(monkeypatch, False)


def names():
    sys.path.insert(0, str(LESSONS))
    try:
        import solutions
        return list(solutions.__all__)
    finally:
        sys.path.remove(str(LESSONS))


def learner_copy(fn):
    """The solution's code as if a learner had typed it into their own module."""
    return types.FunctionType(fn.__code__, dict(fn.__globals__, __name__="learner"), fn.__name__,
                              fn.__defaults__, fn.__closure__)


def perturb(out):
    if out is None or isinstance(out, str):
        return "nobody"
    if isinstance(out, tuple):
        return tuple(perturb(v) for v in out)
    a = np.asarray(out)
    if a.dtype.kind in "iu":
        return a + 1
    return a * 1.1 + 0.01


def test_every_exercise_has_a_stub_and_a_check(stubs):
    ex, sol = stubs
    assert len(sol.__all__) >= 28
    for name in sol.__all__:
        assert getattr(ex, name) is not getattr(sol, name), name
        assert callable(getattr(ex, f"check_{name}")), name


@pytest.mark.parametrize("name", names())
def test_switch_off_the_checks_refuse_stubs_shortcuts_and_wrong_answers(stubs, name):
    ex, sol = stubs
    check, solution = getattr(ex, f"check_{name}"), getattr(sol, name)
    with pytest.raises(NotImplementedError, match=name):
        check(getattr(ex, name))
    with pytest.raises(AssertionError, match="published solution"):
        check(solution)

    def via_solutions(*args, **kwargs):
        return solution(*args, **kwargs)
    with pytest.raises(AssertionError, match="minicnn or the published solution"):
        check(via_solutions)

    def via_library(*args, **kwargs):
        mc.Tensor                                  # any use of minicnn is refused
        return own(*args, **kwargs)
    own = learner_copy(solution)
    with pytest.raises(AssertionError, match="'mc'"):
        check(via_library)

    def wrong(*args, **kwargs):
        return perturb(own(*args, **kwargs))
    with pytest.raises(AssertionError):
        check(wrong)
    assert check(own) == "correct"                # the solution's code, typed by a learner, passes


@pytest.mark.parametrize("name", names())
def test_switch_on_every_check_passes(monkeypatch, name):
    ex, sol = load(monkeypatch, True)
    assert getattr(ex, name) is getattr(sol, name)
    assert getattr(ex, f"check_{name}")(getattr(ex, name)) == "correct"


def test_no_notebook_calls_a_solution():
    notebooks = sorted(LESSONS.glob("*.ipynb"))
    assert notebooks
    for path in notebooks:
        for cell in json.loads(path.read_text())["cells"]:
            if cell["cell_type"] == "code":
                src = "".join(cell["source"])
                assert "solution_" not in src and "solutions" not in src, f"{path.name}: {src[:80]}"
                assert not cell.get("outputs"), f"{path.name} is committed with outputs"


def test_the_solutions_agree_with_the_library(stubs):
    """What the exercises re-derive is what minicnn computes (the checks never ask minicnn)."""
    from minicnn import functional as F
    from minicnn.face.losses import pair_features
    from minicnn.face.mining import semi_hard
    from minicnn.style import layer_style_cost
    from minicnn.visualize import receptive_fields

    _, sol = stubs
    rng = np.random.default_rng(0)
    x = mc.Tensor(rng.standard_normal((1, 2, 9)), requires_grad=True)
    w = mc.Tensor(rng.standard_normal((3, 2, 4)), requires_grad=True)
    gy = rng.standard_normal((1, 3, 6))
    (F.conv1d(x, w) * mc.Tensor(gy)).sum().backward()
    assert np.allclose(sol.conv1d_backward_input(gy[0], w.numpy(), 9), x.grad[0])
    assert np.allclose(sol.conv1d_backward_weight(x.numpy()[0], gy[0], 4), w.grad)

    a = mc.Tensor(np.array([[[[5.0, 5, 1, 2], [5, 1, 2, 2]]]]), requires_grad=True)
    F.max_pool2d(a, 2).sum().backward()
    assert np.array_equal(sol.max_pool_2x2_backward(a.numpy()[0, 0], np.ones((1, 2))), a.grad[0, 0])

    xb = mc.Tensor(rng.standard_normal((6, 3)), requires_grad=True)
    gamma, beta = mc.Tensor(rng.uniform(0.5, 2, 3), requires_grad=True), mc.Tensor(rng.standard_normal(3),
                                                                                  requires_grad=True)
    y = F.batch_norm(xb, None, None, gamma, beta, training=True, eps=1e-5)
    assert np.allclose(sol.batch_norm_forward(xb.numpy(), gamma.numpy(), beta.numpy()), y.numpy())
    g = rng.standard_normal((6, 3))
    (y * mc.Tensor(g)).sum().backward()
    for mine, theirs in zip(sol.batch_norm_backward(g, xb.numpy(), gamma.numpy()), (xb.grad, gamma.grad, beta.grad)):
        assert np.allclose(mine, theirs)

    labels = np.repeat(np.arange(4), 3)
    e = rng.standard_normal((12, 5))
    dist = ((e[:, None] - e[None]) ** 2).sum(-1)
    for mine, theirs in zip(sol.semi_hard(dist, labels), semi_hard(dist, labels)):
        assert np.array_equal(mine, theirs)

    a_S, a_G = rng.standard_normal((3, 4, 5)), mc.Tensor(rng.standard_normal((3, 4, 5)), requires_grad=True)
    layer_style_cost(mc.Tensor(a_S), a_G).backward()
    assert np.allclose(sol.style_cost_grad(a_S, a_G.numpy()), a_G.grad)

    f1, f2 = rng.standard_normal((2, 6)), rng.standard_normal((2, 6))
    f1[0, 0] = f2[0, 0] = 0.0
    assert np.allclose(sol.chi2_features(f1, f2), pair_features(mc.Tensor(f1), mc.Tensor(f2), "chi2").numpy())

    from minicnn import nn
    layers = [nn.Conv1d(1, 1, 3, dilation=1), nn.Conv1d(1, 1, 3, dilation=2, stride=2), nn.MaxPool1d(2, 2),
              nn.Conv1d(1, 1, 3, dilation=4)]
    rf = receptive_fields(layers, ndim=1)[-1]
    assert sol.receptive_field_size([(3, 1, 1), (3, 2, 2), (2, 2), (3, 1, 4)]) == (rf.size[0], rf.jump[0])


def test_rendered_copies_match_the_sources():
    """docs/lessons/ holds an executed copy of every lesson with the very same cells
    (regenerate with `python lessons/render.py NN` after editing lesson NN)."""
    sys.path.insert(0, str(LESSONS))
    try:
        render = importlib.import_module("render")
    finally:
        sys.path.remove(str(LESSONS))
    paths = render.lesson_paths()
    assert render.stale(paths) == [], "stale or missing executed copies: run python lessons/render.py NN"
    for path in paths:
        copy = json.loads((render.OUT / path.name).read_text())
        assert any(c.get("outputs") for c in copy["cells"] if c["cell_type"] == "code"), f"{path.name}: not executed"
    total = sum((render.OUT / p.name).stat().st_size for p in paths)
    assert total < 2e6, f"docs/lessons has grown to {total / 1e6:.2f} MB: shrink the figures"


def test_readme_and_ci_run_the_same_test_command():
    def command(text):
        line = next(line for line in text.splitlines() if "python -m pytest" in line)
        return line[line.index("MINICNN_SOLUTIONS=1"):].split(" -q")[0]

    root = LESSONS.parent
    assert command((root / "README.md").read_text()) == command((root / ".ci" / "run").read_text())
