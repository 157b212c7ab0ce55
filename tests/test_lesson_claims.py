"""Statements the lessons and docs make, checked: Gram unrollings, chi-square at 0, Adam's step bound,
sum vs mean, one style-transfer learning rate, the reference kernels the lessons quote."""
import inspect

import numpy as np

import minicnn as mc
from minicnn import optim
from minicnn.face.losses import pair_features
from minicnn.style import gram_matrix, style_transfer
from minicnn.style.cli import DEFAULTS
from minicnn.style.transfer import ADAM_LR


def test_three_unrollings_of_a_channels_last_volume():
    """transpose-then-reshape and the course's reshape(H*W, C).T are right; reshape(C, -1) is not."""
    rng = np.random.default_rng(0)
    h, w, c = 3, 4, 5
    a = rng.standard_normal((h, w, c))
    want = sum(np.outer(a[i, j], a[i, j]) for i in range(h) for j in range(w))   # G_kk' = sum_ij a_ijk a_ijk'
    first = a.transpose(2, 0, 1).reshape(c, -1)
    course = a.reshape(h * w, c).T
    trap = a.reshape(c, -1)
    np.testing.assert_allclose(first @ first.T, want)
    np.testing.assert_allclose(course @ course.T, want)
    assert not np.allclose(trap @ trap.T, want)
    np.testing.assert_allclose(gram_matrix(a, channels_last=True).numpy(), want)


def test_chi_square_equals_the_notes_up_to_eps_and_is_zero_at_zero():
    a = np.array([[0.2, 0.5, 0.0, 0.9, 1e-7, 0.0]])
    b = np.array([[0.1, 0.5, 0.3, 0.4, 0.0, 0.0]])
    got = pair_features(mc.Tensor(a), mc.Tensor(b), "chi2").numpy()[0]
    with np.errstate(invalid="ignore", divide="ignore"):
        notes = ((a - b) ** 2 / (a + b))[0]
    assert np.isnan(notes[-1]) and got[-1] == 0.0                          # 0/0 in the notes, 0 here
    np.testing.assert_allclose(got[:4], notes[:4], rtol=1e-5)             # equal up to eps = 1e-6
    assert abs(got[4] - notes[4]) / notes[4] > 0.5                        # but not when a + b is ~eps


def test_adam_steps_about_lr_and_at_most_3_16_lr():
    """|m_hat / sqrt(v_hat)| <= (1 - b1) / sqrt(1 - b2) ~ 3.16, reached when a spike follows zeros."""
    lr = 0.01
    p = mc.Tensor(np.zeros(2), requires_grad=True)
    opt = optim.Adam([p], lr=lr, eps=0.0)
    steps = []
    for t in range(20000):
        before = p.numpy().copy()
        p.grad = np.array([1.0, 1e-4]) if t == 19999 else np.array([1e-12, 1e-4])
        opt.step()
        steps.append(np.abs(p.numpy() - before))
    spike = steps[-1][0]
    assert np.isclose(spike, lr * 0.1 / np.sqrt(0.001), rtol=0.01)        # 3.16 lr
    assert np.isclose(steps[-2][1], lr, rtol=1e-3)                        # a steady gradient: about lr


def _step(loss_scale, opt_cls, lr, n_terms):
    p = mc.Tensor(np.array([1.0, -2.0]), requires_grad=True)
    opt = opt_cls([p], lr=lr)
    terms = [(p * p * float(k + 1)).sum() for k in range(n_terms)]
    total = terms[0]
    for t in terms[1:]:
        total = total + t
    (total * loss_scale).backward()
    opt.step()
    return p.numpy() - np.array([1.0, -2.0])


def test_sum_versus_mean_rescales_the_lr_for_sgd_only():
    n = 4
    # SGD: the mean's step with lr * n equals the sum's step with lr
    np.testing.assert_allclose(_step(1.0 / n, optim.SGD, 0.1 * n, n), _step(1.0, optim.SGD, 0.1, n))
    # Adam: the step hardly depends on the loss's scale at all, so sum and mean give the same step
    np.testing.assert_allclose(_step(1.0 / n, optim.Adam, 0.1, n), _step(1.0, optim.Adam, 0.1, n), rtol=1e-6)
    # with a count that changes per batch (mined triplets) the mean rescales each batch by its own
    # 1/n_terms: no single learning rate turns the sum into the mean
    for n_terms in (3, 5):
        ratio = _step(1.0 / n_terms, optim.SGD, 0.1, n_terms) / _step(1.0, optim.SGD, 0.1, n_terms)
        np.testing.assert_allclose(ratio, 1.0 / n_terms)


def test_one_style_transfer_learning_rate():
    default = inspect.signature(style_transfer).parameters["lr"].default
    assert default == DEFAULTS["lr"] == ADAM_LR == 0.05


def test_the_lessons_quote_the_reference_kernels_as_code():
    """Lessons 01 and 02 print the reference backward passes with ``inspect.getsource`` (the code
    itself, not a copy that could drift), and those functions are the loops of kernels/reference.py."""
    import json
    from pathlib import Path

    from minicnn.kernels import reference

    lessons = Path(__file__).resolve().parent.parent / "lessons"
    quoted = {"01_convolution_step_by_step": ["conv_forward", "conv_backward_input", "conv_backward_weight"],
              "02_pooling_and_a_small_convnet": ["max_pool_backward"]}
    for name, functions in quoted.items():
        cells = json.loads((lessons / f"{name}.ipynb").read_text())["cells"]
        code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        for fn in functions:
            assert f"print(inspect.getsource(reference.{fn}))" in code, (name, fn)
            assert inspect.getmodule(getattr(reference, fn)) is reference
