"""Sampling: the compiled loop must be the course's inference, and its draws the tempered softmax.

Expected values never come from the sampler itself: the greedy solo is recomputed with the
reference step ``lstm.reference_cell_forward`` (the course's formulas in plain NumPy), and the
distributions with NumPy's softmax.
"""

import copy
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lstm_numpy.errors import LstmNumpyError
from lstm_numpy import sampling
from lstm_numpy.layout import fuse
from lstm_numpy.lstm import PARAMETER_NAMES, reference_cell_forward
from lstm_numpy.model import fit, init_model
from lstm_numpy.sampling import (
    SamplerState,
    initial_state,
    predict_and_sample,
    sample_steps,
)

VALUES = ["C,0.250", "C,0.500", "S,0.250", "S,0.500", "A,0.250", "X,0.333", "C,1.000", "S,0.333"]


def _windows(corpus, indices, Tx):
    """The course's training arrays: X (m, Tx, n) with x<1> = 0, Y (Tx, m, n) = X shifted left."""
    n = len(VALUES)
    m = len(indices)
    X = np.zeros((m, Tx, n), dtype=bool)
    Y = np.zeros((Tx, m, n), dtype=bool)
    for i, start in enumerate(indices):
        window = corpus[start : start + Tx]
        for j in range(1, Tx):
            X[i, j, window[j]] = True
            Y[j - 1, i, window[j]] = True
    return X, Y


@pytest.fixture(scope="module", params=[np.float64, np.float32], ids=["float64", "float32"])
def trained(request):
    """A tiny model (n_a = 8, 8 values) trained for a few epochs on a seeded random corpus."""
    rng = np.random.default_rng(7)
    corpus = list(rng.integers(0, len(VALUES), size=120))
    X, Y = _windows(corpus, rng.integers(0, len(corpus) - 12, size=24), Tx=12)
    model = init_model(VALUES, n_a=8, seed=3, dtype=request.param)
    fit(model, X, Y, epochs=15, batch_size=24)
    return model


def _course_solo(model, Ty, primer=()):
    """The course's inference model, written out: x0 = 0, a0 = c0 = 0, argmax fed back one-hot.

    Values in ``primer`` are fed in first instead of the model's choices; the Ty values chosen
    after them are returned.
    """
    p = model.parameters
    dtype = p["Wf"].dtype
    x = np.zeros((model.n_values, 1), dtype)
    a = np.zeros((model.n_a, 1), dtype)
    c = np.zeros((model.n_a, 1), dtype)
    chosen = []
    for t in range(len(primer) + Ty):
        a, c, y, _ = reference_cell_forward(x, a, c, p)
        index = primer[t] if t < len(primer) else int(np.argmax(y[:, 0]))
        if t >= len(primer):
            chosen.append(index)
        x = np.zeros((model.n_values, 1), dtype)
        x[index] = 1
    return np.array(chosen)


def _next_distribution(model, temperature, top_k=None, primer=()):
    """softmax(logits / T) of the first free value after ``primer``, from the course's step."""
    p = {k: v.astype(np.float64) for k, v in model.parameters.items()}
    x = np.zeros((model.n_values, 1))
    a = np.zeros((model.n_a, 1))
    c = np.zeros((model.n_a, 1))
    for value in [*primer, None]:
        a, c, _, _ = reference_cell_forward(x, a, c, p)
        x = np.zeros((model.n_values, 1))
        if value is not None:
            x[value] = 1
    logits = (p["Wy"] @ a + p["by"])[:, 0] / temperature
    if top_k is not None:
        logits[np.argsort(logits)[:-top_k]] = -np.inf
    e = np.exp(logits - logits.max())
    return e / e.sum()


def _chi_square_ok(counts, probabilities, alpha_z=3.09):
    """Pearson's test at about the 0.1% level (Wilson-Hilferty quantile), bins with < 5 merged."""
    n = counts.sum()
    expected = probabilities * n
    big = expected >= 5
    observed = np.append(counts[big], counts[~big].sum())
    expected = np.append(expected[big], expected[~big].sum())
    if expected[-1] == 0:
        assert observed[-1] == 0, "a value outside the allowed set was drawn"
        observed, expected = observed[:-1], expected[:-1]
    statistic = ((observed - expected) ** 2 / expected).sum()
    df = len(expected) - 1
    critical = df * (1 - 2 / (9 * df) + alpha_z * math.sqrt(2 / (9 * df))) ** 3
    return statistic, critical


# --------------------------------------------------------------------------------------------
# The course's greedy inference
# --------------------------------------------------------------------------------------------


def test_greedy_equals_the_course_inference(trained):
    results, indices = predict_and_sample(trained, Ty=50)
    expected = _course_solo(trained, 50)
    assert results.shape == (50, trained.n_values) and indices.shape == (50, 1)
    np.testing.assert_array_equal(indices[:, 0], expected)
    np.testing.assert_array_equal(results, np.eye(trained.n_values, dtype=np.float32)[expected])
    # the course's output is deterministic: the same 50 values every time
    np.testing.assert_array_equal(predict_and_sample(trained, Ty=50)[1], indices)


def test_primer_is_fed_before_the_free_steps(trained):
    primer = ["S,0.500", "C,0.250", "X,0.333"]
    _, indices = predict_and_sample(trained, Ty=20, primer=primer)
    expected = _course_solo(trained, 20, primer=[VALUES.index(v) for v in primer])
    np.testing.assert_array_equal(indices[:, 0], expected)
    # indices work as well as value strings
    np.testing.assert_array_equal(predict_and_sample(trained, Ty=20, primer=[3, 0, 5])[1], indices)


@pytest.mark.parametrize("n_solos", [3, 9])
def test_greedy_batch_repeats_the_single_solo(trained, n_solos):
    # the kernel works four solos at a time and the rest one by one: 3 = 0 * 4 + 3, 9 = 2 * 4 + 1
    results, indices = predict_and_sample(trained, Ty=30, n_solos=n_solos)
    single = _course_solo(trained, 30)
    assert results.shape == (30, n_solos, trained.n_values) and indices.shape == (30, n_solos)
    np.testing.assert_array_equal(indices, np.repeat(single[:, None], n_solos, axis=1))
    np.testing.assert_array_equal(results.argmax(axis=2), indices)
    np.testing.assert_array_equal(results.sum(axis=2), 1)


# --------------------------------------------------------------------------------------------
# Tempered draws
# --------------------------------------------------------------------------------------------


def test_seed_reproduces_a_tempered_solo(trained):
    first = predict_and_sample(trained, Ty=40, temperature=1.5, seed=11)[1]
    again = predict_and_sample(trained, Ty=40, temperature=1.5, seed=11)[1]
    other = predict_and_sample(trained, Ty=40, temperature=1.5, seed=12)[1]
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


@pytest.mark.parametrize(
    "temperature, top_k, primer",
    [(1.0, None, ()), (0.5, None, ()), (2.0, 3, ()), (1.3, None, (2, 6)), (0.8, 5, (1,))],
)
def test_draws_follow_the_tempered_softmax(trained, temperature, top_k, primer):
    n = 6000  # one draw per solo, all from the same state (the kernel's four-solo branch)
    _, indices = predict_and_sample(trained, Ty=1, temperature=temperature, top_k=top_k, seed=5,
                                    primer=list(primer), n_solos=n)
    counts = np.bincount(indices[0], minlength=trained.n_values)
    probabilities = _next_distribution(trained, temperature, top_k, primer)
    statistic, critical = _chi_square_ok(counts, probabilities)
    assert statistic < critical, (counts, np.round(probabilities * n))


@pytest.mark.parametrize("temperature, top_k", [(1.0, None), (0.7, 4)])
def test_small_batches_draw_from_the_same_distribution(trained, temperature, top_k):
    # batches of 2 take the kernel's one-solo-at-a-time branch; 1500 calls
    rng = np.random.default_rng(9)
    draws = [predict_and_sample(trained, Ty=1, temperature=temperature, top_k=top_k, seed=rng,
                                n_solos=2)[1][0] for _ in range(1500)]
    counts = np.bincount(np.concatenate(draws), minlength=trained.n_values)
    n = counts.sum()
    probabilities = _next_distribution(trained, temperature, top_k)
    statistic, critical = _chi_square_ok(counts, probabilities)
    assert statistic < critical, (counts, np.round(probabilities * n))


@settings(max_examples=15, deadline=None)
@given(
    temperature=st.floats(0.05, 5.0),
    seed=st.integers(0, 2**32 - 1),
    n_solos=st.integers(1, 3),
)
def test_top_1_is_greedy_at_any_temperature(trained, temperature, seed, n_solos):
    greedy = predict_and_sample(trained, Ty=25, n_solos=n_solos)[1]
    top1 = predict_and_sample(trained, Ty=25, temperature=temperature, top_k=1, seed=seed, n_solos=n_solos)[1]
    np.testing.assert_array_equal(top1, greedy)


def test_vanishing_temperature_is_greedy(trained):
    # logit differences divided by 1e-300 overflow to -inf: all but the argmax weigh under 1e-307
    greedy = predict_and_sample(trained, Ty=30)[1]
    np.testing.assert_array_equal(predict_and_sample(trained, Ty=30, temperature=1e-300, seed=1)[1], greedy)


# --------------------------------------------------------------------------------------------
# Resuming from a state
# --------------------------------------------------------------------------------------------


@settings(max_examples=15, deadline=None)
@given(
    split=st.integers(0, 30),
    temperature=st.sampled_from([0.0, 0.7, 1.5]),
    seed=st.integers(0, 2**32 - 1),
    n_solos=st.sampled_from([1, 2, 5]),
)
def test_bar_by_bar_equals_one_go(trained, split, temperature, seed, n_solos):
    whole, end = sample_steps(trained, 30, temperature=temperature, rng=np.random.default_rng(seed),
                              n_solos=n_solos)
    rng = np.random.default_rng(seed)
    head, state = sample_steps(trained, split, temperature=temperature, rng=rng, n_solos=n_solos)
    tail, state = sample_steps(trained, 30 - split, state, temperature=temperature, rng=rng)
    np.testing.assert_array_equal(np.concatenate([head, tail]), whole)
    for got, want in zip(state, end):
        np.testing.assert_array_equal(got, want)


def test_given_state_is_left_unchanged(trained):
    _, state = sample_steps(trained, 5)
    copies = [np.copy(part) for part in state]
    sample_steps(trained, 5, state)
    for part, copy in zip(state, copies):
        np.testing.assert_array_equal(part, copy)


def test_initial_state_is_the_course_start(trained):
    x, a, c = initial_state(trained, n_solos=2)
    assert list(x) == [-1, -1]
    assert a.shape == c.shape == (2, trained.n_a) and not a.any() and not c.any()


# --------------------------------------------------------------------------------------------
# The weights prepared for the kernel follow the model
# --------------------------------------------------------------------------------------------


def _assert_prepared_from(model):
    """The kernel's prepared layout is the one made from the model's current values."""
    p = model.parameters
    prepared = sampling._PREPARED[p["Wf"].dtype]
    fused = fuse(p)
    n = model.n_values
    for got, want in zip((prepared.Wa, prepared.Wx, prepared.b, prepared.Wy_t[:, :n], prepared.b_y[:n]),
                         (fused.Wa, fused.Wx, fused.b, p["Wy"].T, p["by"][:, 0])):
        np.testing.assert_array_equal(got, want)
    assert not prepared.Wy_t[:, n:].any() and not prepared.b_y[n:].any()  # the padding


def test_prepared_weights_start_on_cache_lines(trained):
    predict_and_sample(trained, Ty=1)
    prepared = sampling._PREPARED[trained.parameters["Wf"].dtype]
    for w in prepared[1:]:
        assert w.ctypes.data % 64 == 0 and w.flags.c_contiguous
    assert prepared.Wy_t.shape[1] * prepared.Wy_t.itemsize % 64 == 0  # every row starts one too


def test_weights_changed_in_place_are_noticed(trained):
    model = copy.deepcopy(trained)
    before = predict_and_sample(model, Ty=30)[1][:, 0]
    model.parameters["Wy"] *= -1  # the same array, other values
    after = predict_and_sample(model, Ty=30)[1][:, 0]
    assert not np.array_equal(after, before)  # else this test could not see stale weights
    np.testing.assert_array_equal(after, _course_solo(model, 30))


def test_training_between_solos_is_noticed(trained):
    # Adam updates the arrays in place, so the model holds the same arrays with new values
    model = copy.deepcopy(trained)
    predict_and_sample(model, Ty=10)
    rng = np.random.default_rng(1)
    corpus = list(rng.integers(0, len(VALUES), size=60))
    X, Y = _windows(corpus, rng.integers(0, len(corpus) - 12, size=8), Tx=12)
    arrays = dict(model.parameters)
    fit(model, X, Y, epochs=2, batch_size=8)
    assert all(model.parameters[k] is v for k, v in arrays.items())
    np.testing.assert_array_equal(predict_and_sample(model, Ty=30)[1][:, 0], _course_solo(model, 30))
    _assert_prepared_from(model)


@settings(max_examples=20, deadline=None)
@given(name=st.sampled_from(PARAMETER_NAMES),
       where=st.floats(0.0, 0.999), change=st.sampled_from([0.5, -1e-3, 1e-30]))
def test_any_single_changed_weight_is_noticed(trained, name, where, change):
    model = copy.deepcopy(trained)
    sample_steps(model, 1)
    w = model.parameters[name]
    w.flat[int(where * w.size)] += w.dtype.type(change)
    sample_steps(model, 1)
    _assert_prepared_from(model)


def test_models_taking_turns_each_get_their_own_solo(trained):
    dtype = trained.parameters["Wf"].dtype
    other = init_model(VALUES, n_a=8, seed=11, dtype=dtype)
    for model in (trained, other, trained, other):
        np.testing.assert_array_equal(predict_and_sample(model, Ty=20)[1][:, 0], _course_solo(model, 20))


def test_weights_made_not_finite_in_place_are_refused(trained):
    model = copy.deepcopy(trained)
    predict_and_sample(model, Ty=5)
    model.parameters["Wc"][2, 3] = np.nan
    with pytest.raises(LstmNumpyError, match="NaN or infinite"):
        predict_and_sample(model, Ty=5)


# --------------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"primer": ["C,0.250", "Q,9.000"]},
        {"primer": [len(VALUES)]},
        {"temperature": -1.0},
        {"temperature": float("nan")},
        {"temperature": float("inf")},
        {"top_k": 0},
        {"top_k": len(VALUES) + 1},
        {"Ty": 0},
        {"n_solos": 0},
        {"Ty": True},
        {"Ty": 5.0},
        {"n_solos": True},
        {"top_k": True},
    ],
)
def test_bad_arguments_are_user_errors(trained, kwargs):
    with pytest.raises(LstmNumpyError):
        predict_and_sample(trained, **kwargs)


def test_numpy_integers_are_whole_numbers(trained):
    indices = predict_and_sample(trained, Ty=np.int64(12), top_k=np.int32(2), temperature=0.5, seed=3,
                                 n_solos=np.uint8(2))[1]
    assert indices.shape == (12, 2)
    np.testing.assert_array_equal(sample_steps(trained, np.int16(7))[0][:, 0], _course_solo(trained, 7))


@pytest.mark.parametrize("name, bad", [("Wf", np.nan), ("bo", np.inf), ("Wy", -np.inf), ("by", np.nan)])
def test_weights_that_are_not_finite_are_refused(trained, name, bad):
    # the steps run with fast-math, which assumes no NaN: the weights must be checked first
    broken = init_model(VALUES, n_a=8, seed=3, dtype=trained.parameters["Wf"].dtype)
    broken.parameters[name].flat[0] = bad
    with pytest.raises(LstmNumpyError, match="NaN or infinite"):
        predict_and_sample(broken, Ty=5)


@pytest.mark.parametrize("name, shape", [("bc", (8, 2)), ("Wy", (8, 9)), ("Wo", (8, 15)), ("by", (8,))])
def test_weights_of_the_wrong_shape_are_refused(trained, name, shape):
    broken = copy.deepcopy(trained)
    broken.parameters[name] = np.zeros(shape, dtype=trained.parameters["Wf"].dtype)
    with pytest.raises(LstmNumpyError, match=f"{name} has shape"):
        predict_and_sample(broken, Ty=5)


def test_a_state_that_is_not_finite_is_refused(trained):
    _, state = sample_steps(trained, 3, n_solos=2)
    state.c[1, 0] = np.nan
    with pytest.raises(LstmNumpyError, match="NaN or infinite"):
        sample_steps(trained, 3, state)


def test_state_of_another_model_is_rejected(trained):
    other = init_model(VALUES, n_a=5, dtype=np.float64)
    _, state = sample_steps(other, 2)
    with pytest.raises(LstmNumpyError, match="does not fit"):
        sample_steps(trained, 3, state)
    with pytest.raises(LstmNumpyError):
        sample_steps(trained, 3, SamplerState(np.array([99]), state.a[:, :8], state.c[:, :8]))
