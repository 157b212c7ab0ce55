"""minicnn.blas: the matrix product of minicnn's operations, small ones on one BLAS thread."""

import numpy as np
import pytest

import minicnn as mc
import minicnn.functional as F
from minicnn import blas
from minicnn.style.costs import gram_matrix


@pytest.fixture
def spy(monkeypatch):
    """Records each time minicnn.blas holds BLAS to one thread."""
    entered = []

    class Spy(blas.single_thread):
        def __enter__(self):
            entered.append(blas.get_num_threads())
            return super().__enter__()

    monkeypatch.setattr(blas, "single_thread", Spy)
    return entered


@pytest.mark.parametrize("sa, sb", [((5, 7), (7, 3)), ((7,), (7, 3)), ((5, 7), (7,)), ((7,), (7,)),
                                    ((2, 1, 5, 7), (3, 7, 4)), ((64, 64), (64, 64)), ((4, 40, 300), (4, 300, 40))])
def test_values_are_numpy_matmul(sa, sb):
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(sa), rng.standard_normal(sb)
    np.testing.assert_allclose(blas.matmul(a, b), a @ b, rtol=1e-12, atol=1e-12)


def test_only_mid_sized_products_are_held_to_one_thread(spy, monkeypatch):
    before = blas.get_num_threads()
    blas.matmul(np.ones((8, 8)), np.ones((8, 8)))  # OpenBLAS runs it on one thread by itself
    assert spy == []
    blas.matmul(np.ones((64, 128)), np.ones((128, 64)))  # 524288 multiply-adds
    assert len(spy) == 1
    monkeypatch.setattr(blas, "PARALLEL_MACS", 500_000)  # now large enough for every thread
    blas.matmul(np.ones((64, 128)), np.ones((128, 64)))
    blas.matmul(np.ones((2, 64, 64)), np.ones((2, 64, 64)))  # a batch counts as a whole
    assert len(spy) == 1
    assert blas.get_num_threads() == before


def test_minicnn_products_go_through_it(spy):
    """``@`` on Tensors, linear and the Gram matrix, forward and backward."""
    rng = np.random.default_rng(1)
    a = mc.Tensor(rng.standard_normal((64, 128)), requires_grad=True)
    b = mc.Tensor(rng.standard_normal((128, 64)), requires_grad=True)
    (a @ b).sum().backward()
    assert len(spy) == 3
    np.testing.assert_allclose(a.grad, np.ones((64, 64)) @ b.data.T, rtol=1e-12)
    np.testing.assert_allclose(b.grad, a.data.T @ np.ones((64, 64)), rtol=1e-12)
    F.linear(a, mc.Tensor(rng.standard_normal((64, 128)), requires_grad=True)).sum().backward()
    assert len(spy) == 6
    gram_matrix(mc.Tensor(rng.standard_normal((1, 64, 16, 16)), requires_grad=True)).sum().backward()
    assert len(spy) == 8


def test_other_arrays_pass_through():
    class Fake:
        ndim = 2

        def __matmul__(self, other):
            return "fake product"

    assert blas.matmul(Fake(), np.ones((2, 2))) == "fake product"
