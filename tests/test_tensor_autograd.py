"""The Tensor and autograd core: graph shapes (diamonds, reuse), gradient
accumulation, no_grad/detach, every op of minicnn.ops under float64
central differences with broadcast shapes drawn by hypothesis, and the
error paths (freed graph, non-scalar backward, integer tensors)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minicnn as mc
from minicnn.autograd import AutogradError


def T(a, grad=True):
    return mc.Tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


def _rand(shape, seed, low=None):
    x = np.random.default_rng(seed).standard_normal(shape)
    return np.abs(x) + low if low is not None else x


# ------------------------------------------------------------ graph shapes
def test_diamond_and_tensor_used_twice():
    x = T([1.0, 2.0, -3.0])
    a = x * 2                 # shared by both branches
    y = (a * a + a).sum()     # d/dx = (2a + 1) * 2
    y.backward()
    np.testing.assert_allclose(x.grad, (2 * 2 * x.data + 1) * 2)


def test_shared_subexpression_deep_diamond():
    x, w = T(0.7), T(-1.3)
    z = x * w
    u = z.exp() + z * z
    v = u * z + u
    v.backward()
    zz = 0.7 * -1.3
    du_dz = np.exp(zz) + 2 * zz
    dv_dz = du_dz * zz + (np.exp(zz) + zz * zz) + du_dz
    np.testing.assert_allclose(x.grad, dv_dz * -1.3)
    np.testing.assert_allclose(w.grad, dv_dz * 0.7)


def test_long_chain_does_not_hit_the_recursion_limit():
    x = T(1.0)
    y = x
    for _ in range(3000):
        y = y * 1.0001
    y.backward()
    np.testing.assert_allclose(x.grad, 1.0001 ** 3000)


def test_gradients_accumulate_across_backward_calls_until_zero_grad():
    x = T([1.0, 2.0])
    (x * x).sum().backward()
    (x * 3).sum().backward()
    np.testing.assert_allclose(x.grad, 2 * x.data + 3)
    x.zero_grad()
    assert x.grad is None
    (x * 3).sum().backward()
    np.testing.assert_allclose(x.grad, [3.0, 3.0])


def test_retain_graph_allows_a_second_backward_and_freed_graph_errors():
    x = T([1.0, 2.0])
    y = (x.exp() * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad, 2 * (np.exp(x.data) * (1 + x.data)))
    with pytest.raises(AutogradError, match="second time.*retain_graph=True"):
        y.backward()
    with pytest.raises(RuntimeError):  # AutogradError is also a RuntimeError
        y.backward()


def test_non_scalar_backward_needs_a_gradient_of_the_right_shape():
    x = T([[1.0, 2.0], [3.0, 4.0]])
    y = x * 2
    with pytest.raises(AutogradError, match=r"scalar output.*shape \(2, 2\)"):
        y.backward()
    with pytest.raises(ValueError, match=r"grad has shape \(2,\) but the output has shape \(2, 2\)"):
        y.backward(np.ones(2))
    y.backward(np.ones((2, 2)))
    np.testing.assert_allclose(x.grad, 2.0)


def test_backward_on_a_tensor_without_graph_is_an_error():
    with pytest.raises(AutogradError, match="does not require grad"):
        mc.Tensor(np.ones(1)).backward()


def test_leaf_backward_and_retain_grad_on_a_non_leaf():
    x = T(3.0)
    x.backward()
    assert x.grad == 1.0
    a = T([1.0, 2.0])
    h = (a * 2).retain_grad()
    (h * h).sum().backward()
    np.testing.assert_allclose(h.grad, 2 * h.data)
    assert h.is_leaf is False and a.is_leaf


def test_no_grad_detach_and_numpy():
    x = T([1.0, 2.0])
    with mc.no_grad():
        assert not mc.is_grad_enabled()
        y = x * 2
        with mc.enable_grad():
            z = x * 2
        assert not mc.is_grad_enabled()
    assert mc.is_grad_enabled()
    assert not y.requires_grad and y._ctx is None and z.requires_grad
    d = x.detach()
    assert d.data is x.data and not d.requires_grad
    (x * d).sum().backward()  # no gradient flows through the detached factor
    np.testing.assert_allclose(x.grad, x.data)
    assert isinstance(x.numpy(), np.ndarray) and x.numpy() is x.data


def test_no_grad_restores_state_after_an_exception():
    with pytest.raises(ZeroDivisionError):
        with mc.no_grad():
            1 / 0
    assert mc.is_grad_enabled()


def test_only_inputs_that_require_grad_get_gradients():
    x, c = T([1.0, 2.0]), T([3.0, 4.0], grad=False)
    (x * c).sum().backward()
    np.testing.assert_allclose(x.grad, c.data)
    assert c.grad is None


# ----------------------------------------------------- dtypes and errors
def test_dtype_conventions():
    assert mc.Tensor([1.0, 2.0]).dtype == np.float32
    assert mc.Tensor(np.zeros(2)).dtype == np.float64
    x = mc.Tensor(np.ones(2, dtype=np.float32), requires_grad=True)
    for y in (x * 2, 2.5 - x, x / 3, x ** 2, 2 ** x, -x, np.float64(2.0) * x):
        assert y.dtype == np.float32
    (x * 2).sum().backward()
    assert x.grad.dtype == np.float32


def test_integer_and_object_tensors():
    with pytest.raises(TypeError, match=r"only floating-point.*int64.*\(3,\)"):
        mc.Tensor(np.arange(3), requires_grad=True)
    with pytest.raises(TypeError, match="object array"):
        mc.Tensor(np.array([1, "a"], dtype=object))
    with pytest.raises(TypeError, match="cannot require gradients"):
        mc.Tensor(np.arange(3)).requires_grad_()
    assert mc.Tensor(np.arange(3)).dtype == np.int64  # allowed without gradients (labels)


def test_scalar_and_array_operands_and_comparisons():
    x = T([1.0, 4.0])
    y = np.array([2.0, 2.0]) * x + 1 - x / 2   # ndarray on the left still gives a Tensor
    assert isinstance(y, mc.Tensor)
    y.sum().backward()
    np.testing.assert_allclose(x.grad, [1.5, 1.5])
    assert (x > 2).tolist() == [False, True] and isinstance(x <= 1, np.ndarray)
    with pytest.raises(ValueError, match=r"only one-element.*\(2,\)"):
        x.item()


# ------------------------------------------- broadcasting binary operations
BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "maximum": mc.maximum,
    "minimum": mc.minimum,
    "where": lambda a, b: mc.where(a.data > 0, a, b),
}


@settings(max_examples=12, deadline=None)
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3),
       seed=st.integers(0, 2**16))
@pytest.mark.parametrize("name", list(BINARY))
def test_binary_ops_unbroadcast_gradients(name, shapes, seed):
    sa, sb = shapes.input_shapes
    a = _rand(sa, seed)
    b = _rand(sb, seed + 1, low=0.5) if name == "div" else _rand(sb, seed + 1)
    if name in ("maximum", "minimum"):  # on offset grids the operands differ by >= 0.05: no kink within eps
        a, b = np.round(a, 1), np.round(b, 1) + 0.05
    ta, tb = T(a), T(b)
    out = BINARY[name](ta, tb)
    assert out.shape == shapes.result_shape
    mc.gradcheck(BINARY[name], [ta, tb])


@settings(max_examples=12, deadline=None)
@given(batch=hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=2, max_side=3),
       n=st.integers(1, 3), k=st.integers(1, 3), m=st.integers(1, 3), seed=st.integers(0, 2**16))
def test_matmul_with_broadcast_batch_axes(batch, n, k, m, seed):
    ba, bb = batch.input_shapes
    a, b = T(_rand(ba + (n, k), seed)), T(_rand(bb + (k, m), seed + 1))
    assert (a @ b).shape == batch.result_shape + (n, m)
    mc.gradcheck(lambda a, b: a @ b, [a, b])


def test_matmul_vectors_and_errors():
    v, M = T(_rand(3, 0)), T(_rand((3, 2), 1))
    assert (v @ M).shape == (2,) and (M.T @ v).shape == (2,) and (v @ v).shape == ()
    mc.gradcheck(lambda v, M: v @ M, [v, M])
    mc.gradcheck(lambda M, v: M.T @ v, [M, v])  # the 1-D operand on the right
    mc.gradcheck(lambda v: v @ v, [v])
    with pytest.raises(ValueError, match=r"inner dimensions differ.*\(3, 2\).*\(3, 2\)"):
        M @ M


def test_maximum_ties_split_the_gradient():
    a, b = T([1.0, 2.0, 3.0]), T([1.0, 5.0, 0.0])
    mc.maximum(a, b).sum().backward()
    np.testing.assert_allclose(a.grad, [0.5, 0.0, 1.0])
    np.testing.assert_allclose(b.grad, [0.5, 1.0, 0.0])


# ------------------------------------------------------------ unary ops
UNARY = {
    "exp": (lambda x: x.exp(), None),
    "log": (lambda x: x.log(), 0.2),
    "sqrt": (lambda x: x.sqrt(), 0.2),
    "abs": (lambda x: x.abs(), "away"),
    "neg": (lambda x: -x, None),
    "pow3": (lambda x: x ** 3, None),
    "pow-half": (lambda x: x ** -0.5, 0.2),
    "rpow": (lambda x: 2.0 ** x, None),
    "clip": (lambda x: x.clip(-0.5, 0.5), "away"),
    "tensor-pow": (lambda x: mc.ops.pow(x, x), 0.2),
}


@settings(max_examples=8, deadline=None)
@given(shape=hnp.array_shapes(min_dims=0, max_dims=3, max_side=3), seed=st.integers(0, 2**16))
@pytest.mark.parametrize("name", list(UNARY))
def test_unary_ops_gradcheck(name, shape, seed):
    fn, domain = UNARY[name]
    x = _rand(shape, seed, low=domain if isinstance(domain, float) else None)
    if domain == "away":  # keep clear of the kinks at 0 and +-0.5
        x = np.where((np.abs(x) < 0.01) | (np.abs(np.abs(x) - 0.5) < 0.01), 0.3, x)
    mc.gradcheck(fn, [T(x)])


# ------------------------------------------------------------- reductions
@settings(max_examples=12, deadline=None)
@given(shape=hnp.array_shapes(min_dims=1, max_dims=3, max_side=4), data=st.data(), seed=st.integers(0, 2**16))
@pytest.mark.parametrize("name", ["sum", "mean", "max", "min"])
def test_reductions_over_axes_with_keepdims(name, shape, data, seed):
    axis = data.draw(st.one_of(st.none(), st.integers(-len(shape), len(shape) - 1),
                               st.lists(st.integers(0, len(shape) - 1), min_size=1, max_size=len(shape),
                                        unique=True).map(tuple)))
    keepdims = data.draw(st.booleans())
    x = np.random.default_rng(seed).permutation(np.arange(np.prod(shape), dtype=np.float64)).reshape(shape)
    t = T(x)  # distinct values: max/min have a unique winner
    out = getattr(t, name)(axis=axis, keepdims=keepdims)
    np.testing.assert_allclose(out.data, getattr(np, name if name not in ("max", "min") else "a" + name)(
        x, axis=axis, keepdims=keepdims))
    mc.gradcheck(lambda t: getattr(t, name)(axis=axis, keepdims=keepdims), [t])


def test_max_ties_share_the_gradient_and_torch_keywords_work():
    x = T([[1.0, 3.0, 3.0], [2.0, 0.0, 1.0]])
    x.max(dim=1, keepdim=True).sum().backward()
    np.testing.assert_allclose(x.grad, [[0, 0.5, 0.5], [1, 0, 0]])
    with pytest.raises(ValueError, match="axis 2 is out of range.*2 dimensions"):
        x.sum(axis=2)


# ------------------------------------------------------ shape operations
def test_reshape_transpose_permute_flatten_T_gradcheck():
    x = T(_rand((2, 3, 4), 0))
    mc.gradcheck(lambda t: t.reshape(4, 6) * T(_rand((4, 6), 1), grad=False), [x])
    mc.gradcheck(lambda t: t.reshape((3, -1)), [x])
    mc.gradcheck(lambda t: t.permute(2, 0, 1), [x])
    mc.gradcheck(lambda t: t.transpose(), [x])
    mc.gradcheck(lambda t: t.flatten(1), [x])
    mc.gradcheck(lambda t: t.reshape(6, 4).T, [x])
    assert x.flatten().shape == (24,) and x.flatten(0, 1).shape == (6, 4)
    with pytest.raises(ValueError, match=r"cannot reshape a tensor of shape \(2, 3, 4\) into \(5, 5\)"):
        x.reshape(5, 5)
    with pytest.raises(ValueError, match="not a permutation"):
        x.permute(0, 0, 1)


def test_getitem_basic_fancy_repeated_and_boolean():
    x = T(_rand((4, 3), 2))
    x[[0, 0, 2, 0]].sum().backward()  # row 0 picked three times: its gradient is 3
    np.testing.assert_allclose(x.grad[:, 0], [3, 0, 1, 0])
    for index in [(slice(1, None), 0), (Ellipsis, [2, 2]), (np.array([3, 1, 3]), slice(None, None, -1)),
                  x.data > 0, (None, 1)]:
        mc.gradcheck(lambda t: t[index], [T(x.data)])


def test_concatenate_stack_pad_gradcheck_and_errors():
    a, b = T(_rand((2, 3), 3)), T(_rand((2, 1), 4))
    mc.gradcheck(lambda a, b: mc.concatenate([a, b, a], axis=1), [a, b])
    c = T(_rand((2, 3), 5))
    mc.gradcheck(lambda a, c: mc.stack([a, c], axis=1), [a, c])
    mc.gradcheck(lambda a, c: mc.stack([a, c, a], axis=-1), [a, c])
    mc.gradcheck(lambda a: mc.pad(a, ((1, 0), (2, 3)), value=7.0), [a])
    mc.gradcheck(lambda a: mc.pad(a, 1), [a])
    assert mc.pad(a, 1).shape == (4, 5) and mc.stack([a, c]).shape == (2, 2, 3)
    with pytest.raises(ValueError, match=r"shapes \[\(2, 3\), \(2, 1\)\].*axis 0"):
        mc.concatenate([a, b], axis=0)
    with pytest.raises(ValueError, match="same shape"):
        mc.stack([a, b])
    with pytest.raises(ValueError, match="at least one tensor"):
        mc.concatenate([])
    with pytest.raises(ValueError, match="non-negative"):
        mc.pad(a, -1)
    with pytest.raises(ValueError, match=r"pad_width has 3 pairs.*\(2, 3\)"):
        mc.pad(a, ((1, 1), (1, 1), (1, 1)))


def test_astype_gradient_returns_to_the_input_dtype():
    x = mc.Tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    (x.double() * 2).sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_allclose(x.grad, 2.0)


# ----------------------------------------------------------- gradcheck
class WrongSquare(mc.Function):
    def forward(self, x):
        self.x = x
        return x * x

    def backward(self, gy):
        return (gy * 3 * self.x,)  # wrong on purpose: the derivative is 2x


def test_gradcheck_names_the_input_and_worst_index():
    ok = T([1.0, 2.0])
    bad = T([[0.5, 1.0], [2.0, -1.0]])
    with pytest.raises(mc.GradcheckError, match=r"input 1 \(shape \(2, 2\)\).*index \(1, 0\)"):
        mc.gradcheck(lambda a, b: (a * 1.0).sum() + WrongSquare()(b).sum(), [ok, bad])


def test_backward_returning_a_wrong_shape_is_reported():
    class BadShape(mc.Function):
        def forward(self, x):
            return x.sum()

        def backward(self, gy):
            return (gy * self.xp.ones(5),)

    x = T(np.ones((2, 2)))
    with pytest.raises(AutogradError, match=r"BadShape.backward.*\(5,\).*\(2, 2\)"):
        BadShape()(x).backward()
