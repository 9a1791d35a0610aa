"""The LSTM's forward and backward passes: gradient checks, consistency, and fast path = reference.

The course's functions are wrappers around the fast path, so their gradient checks check the
fast path too; the reference formulas are checked against finite differences on their own.
"""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from numba import njit, types

from lstm_numpy import lstm_backward, lstm_cell_backward, lstm_cell_forward, lstm_forward
from lstm_numpy import kernels, layout, passes
from lstm_numpy.lstm import sigmoid
from lstm_numpy.lstm import reference_backward, reference_cell_backward, reference_cell_forward, reference_forward

from conftest import assert_gradient, one_hot_inputs, random_parameters

COURSE_API = pytest.mark.parametrize(
    "cell_forward, cell_backward, forward, backward",
    [(lstm_cell_forward, lstm_cell_backward, lstm_forward, lstm_backward),
     (reference_cell_forward, reference_cell_backward, reference_forward, reference_backward)],
    ids=["course-api", "reference"],
)

GATES = "fico"
SETTINGS = settings(max_examples=12, deadline=None)

sizes = st.integers(1, 4)  # n_x, n_a, m, T: size 1 included on purpose


# ------------------------------------------------------- gradient checks (course API and reference)


@COURSE_API
@SETTINGS
@given(n_x=sizes, n_a=sizes, m=sizes, seed=st.integers(0, 2**32 - 1))
def test_cell_backward_matches_finite_differences(cell_forward, cell_backward, forward, backward,
                                                  n_x, n_a, m, seed):
    rng = np.random.default_rng(seed)
    p = random_parameters(rng, n_a, n_x)
    xt, a_prev, c_prev = (rng.standard_normal(s) for s in ((n_x, m), (n_a, m), (n_a, m)))
    da_next, dc_next = rng.standard_normal((n_a, m)), rng.standard_normal((n_a, m))

    def loss():  # any scalar whose gradient on (a_next, c_next) is (da_next, dc_next)
        a_next, c_next, _, _ = cell_forward(xt, a_prev, c_prev, p)
        return np.sum(da_next * a_next) + np.sum(dc_next * c_next)

    grads = cell_backward(da_next, dc_next, cell_forward(xt, a_prev, c_prev, p)[3])
    checks = {"dxt": xt, "da_prev": a_prev, "dc_prev": c_prev}
    checks.update({"dW" + g: p["W" + g] for g in GATES})
    checks.update({"db" + g: p["b" + g] for g in GATES})
    for name, array in checks.items():
        assert_gradient(loss, array, grads[name], name)


@COURSE_API
@SETTINGS
@given(n_x=sizes, n_a=sizes, m=sizes, T=sizes, seed=st.integers(0, 2**32 - 1))
def test_lstm_backward_matches_finite_differences(cell_forward, cell_backward, forward, backward,
                                                  n_x, n_a, m, T, seed):
    rng = np.random.default_rng(seed)
    p = random_parameters(rng, n_a, n_x)
    x, a0 = rng.standard_normal((n_x, m, T)), rng.standard_normal((n_a, m))
    da = rng.standard_normal((n_a, m, T))

    def loss():
        return np.sum(da * forward(x, a0, p)[0])

    grads = backward(da, forward(x, a0, p)[3])
    checks = {"dx": x, "da0": a0}
    checks.update({"dW" + g: p["W" + g] for g in GATES})
    checks.update({"db" + g: p["b" + g] for g in GATES})
    for name, array in checks.items():
        assert_gradient(loss, array, grads[name], name)


# ---------------------------------------------------------------- gradient checks (the fast path)


@SETTINGS
@given(n_x=sizes, n_a=sizes, m=sizes, T=sizes, one_hot=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_fast_backward_matches_finite_differences(n_x, n_a, m, T, one_hot, seed):
    rng = np.random.default_rng(seed)
    p = random_parameters(rng, n_a, n_x)
    if one_hot:
        x, _ = one_hot_inputs(rng, T, m, n_x)
    else:
        x = rng.standard_normal((T, m, n_x))
    a0, c0 = rng.standard_normal((m, n_a)), rng.standard_normal((m, n_a))
    dA, da_T, dc_T = (rng.standard_normal(s) for s in ((T, m, n_a), (m, n_a), (m, n_a)))

    def loss():
        cache = passes.sequence_forward(x, a0, c0, layout.join(p))
        return np.sum(dA * cache.A[1:]) + np.sum(da_T * cache.A[-1]) + np.sum(dc_T * cache.C[-1])

    g = passes.sequence_backward(passes.sequence_forward(x, a0, c0, layout.join(p)), dA, da_T,
                                 dc_T, need_dx=True)
    grads = layout.course_gradients(g["dW_joined"], g["dWx"], g["db"])
    grads.update(da0=g["da0"], dc0=g["dc0"])
    checks = {"da0": a0, "dc0": c0}
    checks.update({"dW" + k: p["W" + k] for k in GATES})
    checks.update({"db" + k: p["b" + k] for k in GATES})
    if not one_hot:
        checks["dx"] = x
        grads["dx"] = g["dx"]
    for name, array in checks.items():
        assert_gradient(loss, array, grads[name], name)


# ------------------------------------------------------------------------------------ consistency


def assert_close(fast, reference, dtype):
    """Equal to 1e-12 (float64) or 1e-5 (float32), relative to the reference's largest entry,
    or to 1 when every entry is smaller.

    The inputs here are of order 1, and a float holds such numbers only to its precision: an
    array of gradients that all come out near 1e-4 (a saturated gate: s (1 - s) with s near 1)
    carries absolute errors of order 1e-7 in float32, in the reference's own float32 numbers
    as much as in the fast path's (its exp and tanh are polynomials, not NumPy's). Measured
    against float64 on such a case: the fast path's float32 gradients off by up to 2e-7, the
    reference's own by up to 8e-8.
    """
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    scale = max(float(np.max(np.abs(reference))), 1.0)
    np.testing.assert_allclose(fast, reference, rtol=rtol, atol=rtol * scale)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@SETTINGS
@given(n_x=sizes, n_a=sizes, m=sizes, T=sizes, one_hot=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_fast_path_equals_the_reference(dtype, n_x, n_a, m, T, one_hot, seed):
    rng = np.random.default_rng(seed)
    p = random_parameters(rng, n_a, n_x, dtype=dtype)
    if one_hot:
        x_fast, x_rows = one_hot_inputs(rng, T, m, n_x)
    else:
        x_fast = x_rows = rng.standard_normal((T, m, n_x))
    x = np.ascontiguousarray(x_rows.transpose(2, 1, 0)).astype(dtype)  # (n_x, m, T)
    a0 = rng.standard_normal((n_a, m)).astype(dtype)
    da = rng.standard_normal((n_a, m, T)).astype(dtype)

    a, _, c, caches = reference_forward(x, a0, p)
    reference = reference_backward(da, caches)
    if not one_hot:
        x_fast = x_fast.astype(dtype)
    cache = passes.sequence_forward(x_fast, a0.T.copy(), np.zeros((m, n_a), dtype), layout.join(p))
    g = passes.sequence_backward(cache, np.ascontiguousarray(da.transpose(2, 1, 0)), need_dx=True)
    fast = layout.course_gradients(g["dW_joined"], g["dWx"], g["db"])

    for out in (cache.A, cache.C, g["dW_joined"], g["da0"]):
        assert out.dtype == dtype
    assert a.dtype == c.dtype == dtype
    assert_close(cache.A[1:], a.transpose(2, 1, 0), dtype)
    assert_close(cache.C[1:], c.transpose(2, 1, 0), dtype)
    assert_close(g["da0"], reference["da0"].T, dtype)
    for name, value in fast.items():
        assert value.dtype == dtype
        assert_close(value, reference[name], dtype)
    # with one-hot inputs given as indices, dx is the gradient on the one-hot vectors
    assert_close(g["dx"], reference["dx"].transpose(2, 1, 0), dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@SETTINGS
@given(n_x=sizes, n_a=sizes, m=sizes, T=sizes, one_hot=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_course_functions_equal_the_reference(dtype, n_x, n_a, m, T, one_hot, seed):
    """lstm_forward / lstm_backward and the cell functions give the reference's numbers and dtypes."""
    rng = np.random.default_rng(seed)
    p = random_parameters(rng, n_a, n_x, n_y=n_x + 1, dtype=dtype)
    if one_hot:
        x = one_hot_inputs(rng, T, m, n_x)[1].transpose(2, 1, 0).astype(dtype)
    else:
        x = rng.standard_normal((n_x, m, T)).astype(dtype)
    a0 = rng.standard_normal((n_a, m)).astype(dtype)
    c0 = rng.standard_normal((n_a, m)).astype(dtype)
    da = rng.standard_normal((n_a, m, T)).astype(dtype)

    fast = lstm_forward(x, a0, p)
    ref = reference_forward(x, a0, p)
    for mine, expected in zip(fast[:3], ref[:3]):
        assert mine.dtype == dtype and mine.shape == expected.shape
        assert_close(mine, expected, dtype)
    g_fast, g_ref = lstm_backward(da, fast[3]), reference_backward(da, ref[3])
    assert sorted(g_fast) == sorted(g_ref)
    for name in g_ref:
        assert g_fast[name].dtype == dtype and g_fast[name].shape == g_ref[name].shape, name
        assert_close(g_fast[name], g_ref[name], dtype)

    xt = x[:, :, 0]
    fast = lstm_cell_forward(xt, a0, c0, p)
    ref = reference_cell_forward(xt, a0, c0, p)
    for mine, expected in zip(fast[:3] + fast[3][4:8], ref[:3] + ref[3][4:8]):  # gates in the cache
        assert mine.dtype == dtype and mine.shape == expected.shape
        assert_close(mine, expected, dtype)
    g_fast = lstm_cell_backward(da[:, :, 0], da[:, :, -1], fast[3])
    g_ref = reference_cell_backward(da[:, :, 0], da[:, :, -1], ref[3])
    assert sorted(g_fast) == sorted(g_ref)
    for name in g_ref:
        assert g_fast[name].dtype == dtype and g_fast[name].shape == g_ref[name].shape, name
        assert_close(g_fast[name], g_ref[name], dtype)


def test_course_functions_run_the_training_path(monkeypatch):
    """The course's functions are the training passes in other shapes, not a second copy."""
    calls = []
    for name in ("sequence_forward", "sequence_backward"):
        original = getattr(passes, name)

        def recorded(*args, _original=original, _name=name, **kwargs):
            calls.append(_name)
            return _original(*args, **kwargs)

        monkeypatch.setattr(passes, name, recorded)
    rng = np.random.default_rng(2)
    p = random_parameters(rng, 3, 4)
    x, a0 = rng.standard_normal((4, 2, 5)), rng.standard_normal((3, 2))
    a, _, _, caches = lstm_forward(x, a0, p)
    lstm_backward(np.ones_like(a), caches)
    a_next, c_next, _, cache = lstm_cell_forward(x[:, :, 0], a0, a0, p)
    lstm_cell_backward(a_next, c_next, cache)
    assert calls == ["sequence_forward", "sequence_backward"] * 2


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@SETTINGS
@given(n_x=sizes, n_a=sizes, m=sizes, T=sizes, seed=st.integers(0, 2**32 - 1))
def test_jitted_cell_step_equals_the_reference_cell(dtype, n_x, n_a, m, T, seed):
    """Stepping the jitted single-step kernel reproduces reference_cell_forward, step after step."""
    rng = np.random.default_rng(seed)
    p = random_parameters(rng, n_a, n_x, dtype=dtype)
    fused = layout.fuse(p)
    idx, dense = one_hot_inputs(rng, T, m, n_x)
    a_col = rng.standard_normal((n_a, m)).astype(dtype)
    c_col = rng.standard_normal((n_a, m)).astype(dtype)
    a_row, c_row = a_col.T.copy(), c_col.T.copy()
    a_next, c_next = np.empty_like(a_row), np.empty_like(c_row)
    z = np.empty((m, 4 * n_a), dtype)
    for t in range(T):
        a_col, c_col, _, _ = reference_cell_forward(dense[t].T.astype(dtype), a_col, c_col, p)
        kernels.cell_step(idx[t], a_row, c_row, fused.Wa, fused.Wx, fused.b, a_next, c_next, z)
        a_row, a_next = a_next, a_row
        c_row, c_next = c_next, c_row
        assert a_row.dtype == dtype
        assert_close(a_row, a_col.T, dtype)
        assert_close(c_row, c_col.T, dtype)


@SETTINGS
@given(n_x=sizes, n_a=sizes, m=sizes, T=st.integers(2, 6), seed=st.integers(0, 2**32 - 1),
       data=st.data())
def test_two_halves_with_state_carried_equal_the_whole(n_x, n_a, m, T, seed, data):
    split = data.draw(st.integers(1, T - 1))
    rng = np.random.default_rng(seed)
    p = random_parameters(rng, n_a, n_x)
    joined = layout.join(p)
    x, _ = one_hot_inputs(rng, T, m, n_x)
    a0, c0 = rng.standard_normal((m, n_a)), np.zeros((m, n_a))
    dA = rng.standard_normal((T, m, n_a))

    whole = passes.sequence_forward(x, a0, c0, joined)
    first = passes.sequence_forward(x[:split], a0, c0, joined)
    second = passes.sequence_forward(x[split:], first.A[-1], first.C[-1], joined)
    np.testing.assert_allclose(np.concatenate([first.A, second.A[1:]]), whole.A, rtol=1e-12, atol=1e-14)

    g_whole = passes.sequence_backward(whole, dA)
    g_second = passes.sequence_backward(second, dA[split:])
    g_first = passes.sequence_backward(first, dA[:split], g_second["da0"], g_second["dc0"])
    for name in ("dW_joined", "dWx", "db"):
        np.testing.assert_allclose(g_first[name] + g_second[name], g_whole[name], rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(g_first["da0"], g_whole["da0"], rtol=1e-12, atol=1e-13)


def test_fast_path_reuses_a_workspace_without_changing_results():
    rng = np.random.default_rng(5)
    p = random_parameters(rng, 6, 9, dtype=np.float32)
    joined = layout.join(p)
    work = layout.Workspace()
    for m in (5, 3, 5):  # batches of different sizes share the buffers
        x, _ = one_hot_inputs(rng, 7, m, 9)
        a0 = np.zeros((m, 6), np.float32)
        dA = rng.standard_normal((7, m, 6)).astype(np.float32)
        plain = passes.sequence_forward(x, a0, a0, joined)
        reused = passes.sequence_forward(x, a0, a0, joined, work=work)
        assert np.array_equal(plain.A, reused.A)
        g_plain = passes.sequence_backward(plain, dA)
        g_reused = passes.sequence_backward(reused, dA, work=work)
        for name in g_plain:
            assert np.array_equal(g_plain[name], g_reused[name])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n_d", [0, 5])
def test_training_passes_equal_the_general_passes(dtype, n_d):
    """training_passes, what fit runs, gives bit for bit what sequence_forward with targets and
    sequence_backward give (the course model, and the conditioned one with features), from
    a workspace reused by batches of different sizes."""
    rng = np.random.default_rng(11 + n_d)
    n_x, n_a, T = 9, 6, 7
    p = random_parameters(rng, n_a, n_x + n_d, n_y=n_x, dtype=dtype)
    work = layout.Workspace()
    for m in (5, 3, 5):
        x, _ = one_hot_inputs(rng, T, m, n_x)
        y = rng.integers(-1, n_x, (T, m))
        d = None
        if n_d:
            d = layout.sparse_features((rng.random((T, m, n_d)) < 0.3).astype(dtype), dtype)
        joined = layout.join_compiled(p, work=work, n_features=n_d)
        out = passes.training_passes(x, y, 1 / m, joined, work, d)
        zeros = np.zeros((m, n_a), dtype)
        cache = passes.sequence_forward(x, zeros, zeros, joined, passes.Targets(y, 1 / m), features=d)
        g = passes.sequence_backward(cache, need_da0=False)
        assert out.loss == cache.loss
        assert np.array_equal(out.predicted, cache.predicted)
        for name in ("dW_joined", "dWx", "db", "dby"):
            assert getattr(out, name).dtype == dtype
            assert np.array_equal(getattr(out, name), g[name]), name


# ------------------------------------------------------------------------------- the course's API


def test_course_shapes_and_dtypes_are_kept():
    rng = np.random.default_rng(0)
    n_x, n_a, m, T = 3, 5, 10, 7
    for dtype in (np.float32, np.float64):
        p = random_parameters(rng, n_a, n_x, n_y=2, dtype=dtype)
        x = rng.standard_normal((n_x, m, T)).astype(dtype)
        a0 = rng.standard_normal((n_a, m)).astype(dtype)
        a, y, c, caches = lstm_forward(x, a0, p)
        assert a.shape == c.shape == (n_a, m, T) and y.shape == (2, m, T)
        assert a.dtype == y.dtype == c.dtype == dtype
        np.testing.assert_allclose(y.sum(axis=0), 1, rtol=1e-5)  # softmax over the values
        grads = lstm_backward(rng.standard_normal((n_a, m, T)).astype(dtype), caches)
        assert grads["dx"].shape == x.shape and grads["da0"].shape == a0.shape
        assert grads["dWf"].shape == p["Wf"].shape and grads["dbo"].shape == p["bo"].shape
        assert all(v.dtype == dtype for v in grads.values())


def test_sigmoid_is_the_logistic_function_without_overflow():
    x = np.linspace(-30, 30, 121)
    np.testing.assert_allclose(sigmoid(x), 1 / (1 + np.exp(-x)), rtol=1e-12, atol=1e-15)
    with np.errstate(all="raise"):
        assert sigmoid(np.array([-1000.0]))[0] == 0.0


def test_one_hot_indices_reads_one_hot_rows_and_refuses_the_rest():
    x = np.zeros((2, 3, 4))
    x[0, 0, 2] = x[1, 2, 3] = 1
    assert layout.one_hot_indices(x).tolist() == [[2, -1, -1], [-1, -1, 3]]
    x[0, 1, 1] = 0.5
    assert layout.one_hot_indices(x) is None
    x[0, 1, 1] = 1
    x[0, 1, 2] = 1  # two ones in a row
    assert layout.one_hot_indices(x) is None


def test_one_blas_thread_limits_blas_and_restores_it():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    controller = threadpoolctl.ThreadpoolController()

    def blas_threads():
        return [lib.num_threads for lib in controller.select(user_api="blas").lib_controllers]

    # NumPy always has a BLAS; were threadpoolctl not to see it, the checks below would pass on
    # an empty list and test nothing
    assert blas_threads(), "threadpoolctl finds no BLAS library in this process"
    with controller.limit(limits=2, user_api="blas"):
        before = blas_threads()
        assert all(n == 2 for n in before)
        with passes.one_blas_thread():
            assert all(n == 1 for n in blas_threads())
            with passes.one_blas_thread():
                assert all(n == 1 for n in blas_threads())
            assert all(n == 1 for n in blas_threads())
        assert blas_threads() == before


def test_cell_step_can_be_called_from_other_jitted_code():
    from numba import njit

    @njit
    def run(idx, a, c, Wa, Wx, b):
        a_next, c_next = np.empty_like(a), np.empty_like(c)
        z = np.empty((a.shape[0], 4 * a.shape[1]), a.dtype)
        for t in range(idx.shape[0]):
            kernels.cell_step(idx[t], a, c, Wa, Wx, b, a_next, c_next, z)
            a, a_next = a_next, a
            c, c_next = c_next, c
        return a, c

    rng = np.random.default_rng(9)
    p = random_parameters(rng, 3, 5, dtype=np.float32)
    fused = layout.fuse(p)
    idx, _ = one_hot_inputs(rng, 4, 2, 5)
    zeros = np.zeros((2, 3), np.float32)
    a, c = run(idx, zeros.copy(), zeros.copy(), fused.Wa, fused.Wx, fused.b)
    cache = passes.sequence_forward(idx, zeros, zeros, layout.join(p))
    assert a.dtype == np.float32
    np.testing.assert_allclose(a, cache.A[-1], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(c, cache.C[-1], rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------- the step kernel's own exp and tanh


@njit
def _compiled_with(x, half):
    return kernels.fast_exp(x), half + half * kernels.fast_tanh(half * x), kernels.fast_tanh(x)


def _compiled(x):
    """The step kernel's exp, sigmoid (its tanh form) and tanh of x (compiled code only)."""
    return _compiled_with(x, type(x)(0.5))


@settings(max_examples=60, deadline=None)
@given(st.floats(-700.0, 700.0))
def test_exp_sigmoid_tanh_in_float64(x):
    exp, sigmoid, tanh = _compiled(np.float64(x))
    assert abs(exp - np.exp(x)) <= 2 * np.spacing(np.exp(x))
    assert abs(sigmoid - 1 / (1 + np.exp(-x))) < 4e-16
    assert abs(tanh - np.tanh(x)) < 4e-16


@settings(max_examples=60, deadline=None)
@given(st.floats(-87.0, 87.0, width=32))
def test_exp_sigmoid_tanh_in_float32(x):
    x = np.float32(x)
    exp, sigmoid, tanh = _compiled(x)
    # computed in float32 throughout, not silently promoted to float64
    signature = _compiled_with.overloads[(types.float32, types.float32)].signature
    assert signature.return_type == types.UniTuple(types.float32, 3)
    exact = np.exp(np.float64(x))
    assert abs(exp - exact) <= 4 * np.spacing(np.float32(exact))
    eps = np.finfo(np.float32).eps
    assert abs(sigmoid - 1 / (1 + np.exp(-np.float64(x)))) < eps
    assert abs(tanh - np.tanh(np.float64(x))) < 2 * eps


@njit
def _sigmoid_of_halved(z):
    return kernels.sigmoid_of_halved(z)


@settings(max_examples=60, deadline=None)
@given(st.floats(-700.0, 700.0))
def test_training_sigmoid_in_float64(x):
    """The forward pass's sigmoid gates, sigmoid(2 z) from the halved z, as exact as the step's."""
    assert abs(_sigmoid_of_halved(np.float64(x) / 2) - 1 / (1 + np.exp(-np.float64(x)))) < 4e-16


@settings(max_examples=60, deadline=None)
@given(st.floats(-87.0, 87.0, width=32))
def test_training_sigmoid_in_float32(x):
    z = np.float32(x) / np.float32(2)
    sigmoid_value = _sigmoid_of_halved(z)
    assert _sigmoid_of_halved.overloads[(types.float32,)].signature.return_type == types.float32
    assert abs(sigmoid_value - 1 / (1 + np.exp(-2 * np.float64(z)))) < np.finfo(np.float32).eps


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_all_finite_finds_every_nan_and_infinity(dtype):
    a = np.random.default_rng(4).standard_normal((5, 7)).astype(dtype)
    assert kernels.all_finite(a)
    for bad in (np.nan, np.inf, -np.inf):
        for position in ((0, 0), (2, 3), (4, 6)):
            b = a.copy()
            b[position] = bad
            assert not kernels.all_finite(b)
    assert kernels.all_finite(np.array([np.finfo(dtype).max, -np.finfo(dtype).max], dtype))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_fuse_stacks_and_halves_the_gates(dtype):
    """The fused layout, built here independently with NumPy from its definition in FusedLSTM."""
    n_a, n_x = 3, 5
    p = random_parameters(np.random.default_rng(8), n_a, n_x, dtype=dtype)
    fused = layout.fuse(p)
    W = np.concatenate([p["W" + g] for g in GATES])  # (4 n_a, n_a + n_x)
    b = np.concatenate([p["b" + g] for g in GATES])[:, 0]
    scale = np.array([0.5] * n_a + [0.5] * n_a + [1.0] * n_a + [0.5] * n_a, dtype)
    assert all(v.dtype == dtype for v in fused)
    assert np.array_equal(fused.W, W)
    assert np.array_equal(fused.Wa, W[:, :n_a].T * scale)
    assert np.array_equal(fused.Wx[:-1], W[:, n_a:].T * scale) and not fused.Wx[-1].any()
    assert np.array_equal(fused.b, b * scale)


# ------------------------------------------------------------------- the training kernels' products


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@settings(max_examples=40, deadline=None)
@given(B=st.integers(1, 20), k=st.integers(1, 70), n=st.integers(1, 150), extra=st.integers(0, 40),
       depth=st.integers(1, 80), seed=st.integers(0, 2**32 - 1))
def test_register_tiles_equal_numpy_at_every_edge(dtype, B, k, n, extra, depth, seed):
    """matmul_add's register tiles (6 rows, 2 vectors) against NumPy: rows not a multiple of 6,
    columns ending anywhere inside a vector or a strip (masked), any depth of W per pass, and
    weights wider than out (columns past n unread, as the backward pass's W_back_t has them),
    and a read through a transposed view (only W and out need contiguous rows). Every depth
    gives the same numbers bit for bit: depth is the machine's choice."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((B, k)).astype(dtype)
    W = rng.standard_normal((k, n + extra)).astype(dtype)
    out = rng.standard_normal((B, n)).astype(dtype)
    expected = out.astype(np.float64) + a.astype(np.float64) @ W[:, :n].astype(np.float64)
    got = out.copy()
    kernels.matmul_add(a, W, got, depth)
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=rtol * np.sqrt(k) * 4)
    in_one_pass = out.copy()
    kernels.matmul_add(a, W, in_one_pass, k)
    np.testing.assert_array_equal(got, in_one_pass)
    transposed = out.copy()  # the same numbers read through a's transposed storage
    kernels.matmul_add(np.ascontiguousarray(a.T).T, W, transposed, depth)
    np.testing.assert_array_equal(got, transposed)
    if extra:  # nothing past column n of out was read or written: a view of a wider out agrees
        wide = np.concatenate([out, np.full((B, extra), 7.0, dtype)], axis=1)
        kernels.matmul_add(a, W, wide, depth)
        np.testing.assert_allclose(wide[:, :n], expected, rtol=rtol, atol=rtol * np.sqrt(k) * 4)


def test_register_tiles_write_nothing_past_the_last_row():
    """The masked vectors of the last strip touch no memory past out's end: out is the front of
    a larger buffer whose other numbers must stay as they were (and, between rows, each row's
    numbers are checked against NumPy, so no row writes into the next)."""
    rng = np.random.default_rng(5)
    for dtype in (np.float32, np.float64):
        for B, n in ((1, 1), (7, 5), (13, 17), (6, 33), (8, 70)):
            buffer = rng.standard_normal(B * n + 64).astype(dtype)
            guard = buffer[B * n:].copy()
            out = buffer[: B * n].reshape(B, n)
            a = rng.standard_normal((B, 9)).astype(dtype)
            W = rng.standard_normal((9, n)).astype(dtype)
            expected = out.astype(np.float64) + a.astype(np.float64) @ W.astype(np.float64)
            kernels.matmul_add(a, W, out, 4)
            np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
            np.testing.assert_array_equal(buffer[B * n:], guard)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@settings(max_examples=30, deadline=None)
@given(B=st.integers(1, 20), k=st.integers(1, 70), strips=st.integers(1, 3), more=st.integers(0, 40),
       depth=st.integers(1, 80), seed=st.integers(0, 2**32 - 1))
def test_products_starting_from_rows_equal_copying_the_rows_first(dtype, B, k, strips, more, depth, seed):
    """matmul_rows_add (the forward pass's product, whose gates start from the input rows)
    gives bit for bit what copying those rows into out and then matmul_add give, -1 picking
    the last row; the columns past n_init start from out as in matmul_add."""
    rng = np.random.default_rng(seed)
    n_init = strips * 2 * kernels.VECTOR_BYTES // np.dtype(dtype).itemsize  # whole strips
    n = n_init + more
    a = rng.standard_normal((B, k)).astype(dtype)
    W = rng.standard_normal((k, n)).astype(dtype)
    out = rng.standard_normal((B, n)).astype(dtype)
    init = rng.standard_normal((5, n_init + 3)).astype(dtype)
    rows = rng.integers(-1, 5, B)
    expected = out.copy()
    expected[:, :n_init] = init[rows, :n_init]
    kernels.matmul_add(a, W, expected, depth)
    got = out.copy()
    kernels.matmul_rows_add(a, W, got, depth, init, rows, n_init)
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("a0_zero", [True, False])
def test_forward_pass_starting_from_the_input_rows_equals_the_reference(dtype, a0_zero):
    """At n_a = 16 the gates fill whole strips of the product, which then starts from the
    one-hot inputs' rows (matmul_rows_add) instead of copying them: the pass still equals the
    reference, from a0 = 0 (the first step has no product) and from any a0."""
    rng = np.random.default_rng(12)
    n_x, n_a, m, T = 7, 16, 9, 4
    p = random_parameters(rng, n_a, n_x, dtype=dtype, scale=0.3)
    x_fast, dense = one_hot_inputs(rng, T, m, n_x)
    x = np.ascontiguousarray(dense.transpose(2, 1, 0)).astype(dtype)
    a0 = np.zeros((n_a, m), dtype) if a0_zero else rng.standard_normal((n_a, m)).astype(dtype)
    a, _, c, _ = reference_forward(x, a0, p)
    cache = passes.sequence_forward(x_fast, a0.T.copy(), np.zeros((m, n_a), dtype), layout.join(p))
    assert_close(cache.A[1:], a.transpose(2, 1, 0), dtype)
    assert_close(cache.C[1:], c.transpose(2, 1, 0), dtype)


@pytest.mark.parametrize("where", ["Wf", "bo", "a0", "x"])
def test_non_finite_numbers_are_refused_not_computed_with(where):
    """The compiled passes assume finite numbers; a NaN anywhere is a clear error instead."""
    from lstm_numpy import LstmNumpyError

    rng = np.random.default_rng(3)
    p = random_parameters(rng, 3, 4)
    x = rng.standard_normal((4, 2, 5))  # (n_x, m, T), dense
    a0 = rng.standard_normal((3, 2))
    {"Wf": p["Wf"], "bo": p["bo"], "a0": a0, "x": x}[where][0, 0] = np.nan
    with pytest.raises(LstmNumpyError, match="NaN or infinite"):
        lstm_forward(x, a0, p)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@SETTINGS
@given(n_x=sizes, n_a=sizes, n_y=st.integers(1, 20), seed=st.integers(0, 2**32 - 1))
def test_join_compiled_equals_join(dtype, n_x, n_a, n_y, seed):
    """Training's join_compiled and the readable join (and, for the last n_d input columns, the
    conditioned model's dense_rows), bit for bit; and a NaN or infinity anywhere makes
    join_compiled return None."""
    rng = np.random.default_rng(seed)
    p = random_parameters(rng, n_a, n_x, n_y=n_y, dtype=dtype)
    n_d = seed % (n_x + 1)
    numpy_version = layout.join(p)._replace(Wd=layout.dense_rows(p, n_d) if n_d else None)
    compiled = layout.join_compiled(p, n_features=n_d)
    assert compiled.n_y == numpy_version.n_y == n_y
    assert (compiled.Wd is None) == (n_d == 0)
    for name in ("W_ay", "W_back_t", "x_rows", "by") + (("Wd",) if n_d else ()):
        assert getattr(compiled, name).dtype == dtype
        np.testing.assert_array_equal(getattr(compiled, name), getattr(numpy_version, name), name)
    name = sorted(p)[seed % len(p)]
    p[name].flat[seed % p[name].size] = (np.nan, np.inf, -np.inf)[seed % 3]
    assert layout.join_compiled(p) is None


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@SETTINGS
@given(n_x=sizes, n_a=sizes, n_y=st.integers(1, 20), seed=st.integers(0, 2**32 - 1))
def test_course_gradients_compiled_equals_course_gradients(dtype, n_x, n_a, n_y, seed):
    """Training's course_gradients_compiled against the readable course_gradients."""
    rng = np.random.default_rng(seed)
    width = layout.padded(4 * n_a + n_y)
    dW = rng.standard_normal((n_a, width)).astype(dtype)
    dWx = rng.standard_normal((n_x, 4 * n_a)).astype(dtype)
    db = rng.standard_normal(4 * n_a).astype(dtype)
    dby = rng.standard_normal(n_y).astype(dtype)
    got = layout.course_gradients_compiled(dW, dWx, db, dby)
    expected = layout.course_gradients(dW, dWx, db, dby)
    assert sorted(got) == sorted(expected)
    for name, value in expected.items():
        assert got[name].dtype == dtype and got[name].flags.c_contiguous, name
        np.testing.assert_array_equal(got[name], value, name)
