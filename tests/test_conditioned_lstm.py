"""The conditioned cell's math: its features' gradients against finite differences, and the fast
path (training's passes, with the features' kernels) equal to the reference formulas."""

import numpy as np
import pytest

from lstm_numpy import layout, passes
from lstm_numpy.lstm import conditioned_input, reference_backward, reference_forward, softmax
from lstm_numpy.model import init_model, loss_and_gradients

from conftest import assert_gradient, random_parameters

NAMES = ("Wf", "Wi", "Wc", "Wo", "bf", "bi", "bc", "bo", "Wy", "by")


def random_problem(rng, n_v, n_d, n_a, m, T, dtype=np.float64):
    """Parameters of a conditioned model, one-hot inputs as indices (-1: the zero input at the
    start), sparse 0/1 features like the real ones, and targets."""
    p = random_parameters(rng, n_a, n_v + n_d, n_y=n_v, dtype=dtype)
    x = rng.integers(0, n_v, (T, m))
    x[0] = -1
    d = (rng.random((T, m, n_d)) < 0.3).astype(dtype)
    y = rng.integers(0, n_v, (T, m))
    return p, x, d, y


def one_hot_windows(x, y, n_v, dtype=np.float64):
    """Training's X (m, T, n_v) and Y (T, m, n_v), one-hot, from time-major indices x and y (T, m)."""
    T, m = x.shape
    X = np.zeros((m, T, n_v), dtype)
    Y = np.zeros((T, m, n_v), dtype)
    for t in range(T):
        for j in range(m):
            if x[t, j] >= 0:
                X[j, t, x[t, j]] = 1
            Y[t, j, y[t, j]] = 1
    return X, Y


def course_input(x, d, n_v):
    """The reference's input (n_v + n_d, m, T): the one-hot rows over the features."""
    T, m = x.shape
    onehot = np.zeros((n_v, m, T), d.dtype)
    for t in range(T):
        for j in range(m):
            if x[t, j] >= 0:
                onehot[x[t, j], j, t] = 1
    return conditioned_input(onehot, d.transpose(2, 1, 0))


def reference_loss_and_gradients(p, x, d, y):
    """The loss training minimises (the sum over steps of the batch's mean cross-entropy) and its
    gradients, from the reference formulas and the Dense softmax layer written out."""
    n_v = p["Wy"].shape[0]
    T, m = y.shape
    xs = course_input(x, d, n_v)
    a0 = np.zeros((p["Wf"].shape[0], m), p["Wf"].dtype)
    a, yhat, c, caches = reference_forward(xs, a0, p)
    onehot_y = np.zeros_like(yhat)
    for t in range(T):
        onehot_y[y[t], np.arange(m), t] = 1
    loss = -np.sum(onehot_y * np.log(yhat)) / m
    dz = (yhat - onehot_y) / m  # (n_y, m, T)
    grads = {"dWy": np.einsum("ymt,amt->ya", dz, a), "dby": dz.sum(axis=(1, 2))[:, None]}
    da = np.einsum("ya,ymt->amt", p["Wy"], dz)
    grads.update(reference_backward(da, caches))
    return loss, grads


@pytest.mark.parametrize("seed", range(3))
def test_reference_features_gradient_matches_finite_differences(seed):
    rng = np.random.default_rng(seed)
    n_v, n_d, n_a, m, T = 3, 4, 3, 2, 4
    p, x, d, y = random_problem(rng, n_v, n_d, n_a, m, T)
    d = rng.standard_normal(d.shape)  # any real numbers: the formulas do not assume 0/1
    xs = course_input(x, d, n_v)
    a0 = rng.standard_normal((n_a, m))
    weights = rng.standard_normal((n_a, m, T))

    def f():
        return np.sum(reference_forward(xs, a0, p)[0] * weights)

    grads = reference_backward(weights, reference_forward(xs, a0, p)[3])
    features = xs[n_v:]  # a view: nudging it nudges the input the reference reads
    assert_gradient(f, features, grads["dx"][n_v:], "dd")
    for name in ("Wf", "Wo"):  # the weights of the features: the gates' last n_d columns
        columns = p[name][:, n_a + n_v:]
        assert_gradient(f, columns, grads["d" + name][:, n_a + n_v:], "d" + name)


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-12), (np.float32, 1e-5)])
@pytest.mark.parametrize("seed", range(3))
def test_fast_passes_with_features_equal_the_reference(dtype, tol, seed):
    rng = np.random.default_rng(seed)
    n_v, n_d, n_a, m, T = 5, 6, 4, 3, 5
    p, x, d, _ = random_problem(rng, n_v, n_d, n_a, m, T, dtype)
    p = {k: v for k, v in p.items() if k not in ("Wy", "by")}
    dA = rng.standard_normal((T, m, n_a)).astype(dtype)
    a0 = rng.standard_normal((m, n_a)).astype(dtype)

    joined = layout.join(p)._replace(Wd=layout.dense_rows(p, n_d))
    cache = passes.sequence_forward(x, a0, np.zeros_like(a0), joined, features=d)
    A = cache.A[1:].copy()
    g = passes.sequence_backward(cache, dA, need_dx=True)
    fast = layout.course_gradients(g["dW_joined"], g["dWx"], g["db"])

    p64 = {k: v.astype(np.float64) for k, v in p.items()}
    xs = course_input(x, d.astype(np.float64), n_v)
    a_ref, _, _, caches = reference_forward(xs, a0.T.astype(np.float64), {**p64, "Wy": np.zeros((1, n_a)), "by": np.zeros((1, 1))})
    ref = reference_backward(dA.transpose(2, 1, 0).astype(np.float64), caches)

    def close(fast_value, ref_value):
        scale = max(1.0, np.abs(ref_value).max())
        assert np.abs(fast_value - ref_value).max() <= tol * scale

    close(A, a_ref.transpose(2, 1, 0))
    for name in ("Wf", "Wi", "Wc", "Wo", "bf", "bi", "bc", "bo"):
        close(fast["d" + name], ref["d" + name])
    close(g["dd"], ref["dx"][n_v:].transpose(2, 1, 0))
    close(g["da0"], ref["da0"].T)


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-12), (np.float32, 1e-5)])
def test_training_loss_and_gradients_with_features_equal_the_reference(dtype, tol):
    rng = np.random.default_rng(7)
    n_v, n_d, n_a, m, T = 6, 5, 4, 5, 6
    p, x, d, y = random_problem(rng, n_v, n_d, n_a, m, T, dtype)
    X, Y = one_hot_windows(x, y, n_v, dtype)
    loss, _, grads = loss_and_gradients(p, X, Y, np.moveaxis(d, 0, 1))
    ref_loss, ref = reference_loss_and_gradients({k: v.astype(np.float64) for k, v in p.items()},
                                                 x, d.astype(np.float64), y)
    assert abs(loss - ref_loss) <= tol * ref_loss
    for name in NAMES:
        scale = max(1.0, np.abs(ref["d" + name]).max())
        assert np.abs(grads["d" + name] - ref["d" + name]).max() <= tol * scale, name


def test_training_gradient_on_the_feature_weights_matches_finite_differences():
    rng = np.random.default_rng(3)
    n_v, n_d, n_a, m, T = 4, 5, 3, 3, 4
    p, x, d, y = random_problem(rng, n_v, n_d, n_a, m, T)
    X, Y = one_hot_windows(x, y, n_v)
    D = np.moveaxis(d, 0, 1)
    _, _, grads = loss_and_gradients(p, X, Y, D)
    for name in ("Wi", "Wc"):  # the features' columns, nudged in place
        assert_gradient(lambda: loss_and_gradients(p, X, Y, D)[0], p[name][:, n_a + n_v:],
                        grads["d" + name][:, n_a + n_v:], "d" + name)


def test_conditioned_model_is_the_course_model_with_wider_inputs():
    vocabulary = ["C,0.250", "S,0.500", "R,1.000"]
    course = init_model(vocabulary, n_a=4, seed=1)
    conditioned = init_model(vocabulary, n_a=4, seed=1, model="conditioned")
    assert (course.kind, course.n_features) == ("course", 0)
    assert conditioned.kind == "conditioned" and conditioned.n_features == 35
    assert conditioned.parameters["Wf"].shape == (4, 4 + 3 + 35)
    X = np.zeros((2, 3, 3), np.float32)
    Y = np.zeros((3, 2, 3), np.float32)
    Y[:, :, 0] = 1
    with pytest.raises(Exception, match="features"):
        loss_and_gradients(conditioned.parameters, X, Y)  # the conditioned model needs them
    with pytest.raises(Exception, match="features"):
        loss_and_gradients(course.parameters, X, Y, np.zeros((2, 3, 35)))


@pytest.mark.parametrize("n_d", [1, 3, 6, 9])
def test_sparse_features_hold_every_set_value(n_d):
    """The look-ups give back the dense features exactly: every set column with its value, in
    column order, rows padded to a multiple of 4 with zeros (a step setting none, or all)."""
    rng = np.random.default_rng(n_d)
    d = np.where(rng.random((4, 5, n_d)) < 0.4, rng.standard_normal((4, 5, n_d)), 0.0)
    d[0, 0] = 0  # a step with no feature set
    d[0, 1] = rng.standard_normal(n_d) + 10  # a step with every feature set
    sparse = layout.sparse_features(d, np.float32)
    K = sparse.index.shape[-1]
    assert K % 4 == 0 and K - 4 < n_d <= K
    assert sparse.value.dtype == np.float32 and sparse.index.dtype == np.int64
    rebuilt = np.zeros(d.shape, np.float32)
    np.add.at(rebuilt, (*np.indices(sparse.index.shape)[:2], sparse.index), sparse.value)
    np.testing.assert_array_equal(rebuilt, d.astype(np.float32))
    taken = sparse.take([4, 1])
    np.testing.assert_array_equal(taken.index, sparse.index[:, [4, 1]])


def test_features_given_as_look_ups_name_real_columns():
    rng = np.random.default_rng(0)
    p, x, d, _ = random_problem(rng, 3, 4, 2, 2, 3)
    joined = layout.join(p)._replace(Wd=layout.dense_rows(p, 4))
    a0 = np.zeros((2, 2))
    sparse = layout.sparse_features(d)
    dense = passes.sequence_forward(x, a0, a0, joined, features=d)
    A = dense.A.copy()
    np.testing.assert_array_equal(passes.sequence_forward(x, a0, a0, joined, features=sparse).A, A)
    bad = sparse._replace(index=sparse.index + 4)
    with pytest.raises(Exception, match="columns outside 0..3"):
        passes.sequence_forward(x, a0, a0, joined, features=bad)


def test_conditioned_training_split_between_threads_changes_only_rounding(monkeypatch):
    """Each thread's part of a batch takes its own windows' feature look-ups: two threads train
    what one does, up to the order of the sums."""
    from lstm_numpy import machine
    from lstm_numpy.model import fit

    monkeypatch.setattr(machine, "split_pays", lambda *args, **kwargs: True)
    rng = np.random.default_rng(5)
    n_v, n_d, m, T = 5, 6, 9, 4
    _, x, d, y = random_problem(rng, n_v, n_d, 3, m, T)
    X, Y = one_hot_windows(x, y, n_v)
    vocabulary = [f"C,0.{k + 1}" for k in range(n_v)]
    one, two = (init_model(vocabulary, n_a=3, seed=2, dtype=np.float64, model="conditioned") for _ in range(2))
    D = np.zeros((m, T, 35))
    D[..., :n_d] = np.moveaxis(d, 0, 1)
    h1 = fit(one, X, Y, D=D, epochs=2, batch_size=7, threads=1)
    h2 = fit(two, X, Y, D=D, epochs=2, batch_size=7, threads=2)  # batches of 7 and 2: odd splits
    np.testing.assert_allclose(h2["loss"], h1["loss"], rtol=1e-12)
    for name, value in one.parameters.items():
        np.testing.assert_allclose(two.parameters[name], value, rtol=1e-9, atol=1e-12)
    assert not np.array_equal(one.parameters["Wf"], init_model(vocabulary, n_a=3, seed=2, dtype=np.float64,
                                                                model="conditioned").parameters["Wf"])
