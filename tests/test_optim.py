"""Adam: the documented update, time decay, clipping, and a state that resumes bit for bit."""

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from lstm_numpy import Adam, LstmNumpyError
from lstm_numpy.optim import global_norm


def scalar_adam(p, grads, lr, beta1, beta2, eps, decay, weight_decay=0.0):
    """The update written out entry by entry in Python floats, straight from the formulas."""
    m = v = 0.0
    for t, g in enumerate(grads):  # t updates already made
        lr_t = lr / (1 + decay * t)
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        alpha = lr_t * math.sqrt(1 - beta2 ** (t + 1)) / (1 - beta1 ** (t + 1))
        p = p - lr_t * weight_decay * p - alpha * m / (math.sqrt(v) + eps)
    return p


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), steps=st.integers(1, 6),
       lr=st.floats(1e-4, 0.1), decay=st.floats(0, 0.5),
       weight_decay=st.one_of(st.just(0.0), st.floats(1e-4, 5.0)))
def test_adam_follows_the_documented_update(seed, steps, lr, decay, weight_decay):
    rng = np.random.default_rng(seed)
    params = {"W": rng.standard_normal((3, 2)), "b": rng.standard_normal((3, 1))}
    start = {k: v.copy() for k, v in params.items()}
    grads = [{"dW": rng.standard_normal((3, 2)), "db": rng.standard_normal((3, 1))} for _ in range(steps)]
    adam = Adam(lr=lr, decay=decay, weight_decay=weight_decay)
    for g in grads:
        adam.step(params, g)
    assert adam.t == steps
    for name in params:
        decayed = weight_decay if name == "W" else 0.0  # the bias b is left alone
        for i in np.ndindex(params[name].shape):
            expected = scalar_adam(start[name][i], [g["d" + name][i] for g in grads],
                                   lr, 0.9, 0.999, 1e-7, decay, decayed)
            assert params[name][i] == pytest.approx(expected, rel=1e-12, abs=1e-14)


def test_weight_decay_shrinks_weights_geometrically_and_leaves_biases():
    """With zero gradients Adam's own step is 0, so only the decay moves the weights: each update
    multiplies them by 1 - lr_t * weight_decay (here lr_t = 0.01 / (1 + 0.5 t))."""
    params = {"Wy": np.full((2, 3), 2.0), "by": np.full((2, 1), 2.0)}
    zero = {"dWy": np.zeros((2, 3)), "dby": np.zeros((2, 1))}
    adam = Adam(lr=0.01, decay=0.5, weight_decay=3.0)
    for _ in range(3):
        adam.step(params, zero)
    factor = (1 - 0.03) * (1 - 0.03 / 1.5) * (1 - 0.03 / 2)
    np.testing.assert_allclose(params["Wy"], 2.0 * factor, rtol=1e-14)
    assert np.all(params["by"] == 2.0)


def test_weight_decay_pulls_a_fit_toward_zero():
    """On the quadratic (w - 3)^2 plain Adam settles at 3; with weight decay the weight settles
    where the gradient's step and the decay balance, short of 3, and short by more for more decay."""
    ends = []
    for weight_decay in (0.0, 0.3, 1.0):
        params = {"w": np.zeros(1)}
        adam = Adam(lr=0.05, decay=0.0, weight_decay=weight_decay)
        for _ in range(3000):
            adam.step(params, {"dw": 2 * (params["w"] - 3.0)})
        ends.append(float(params["w"][0]))
    assert ends[0] == pytest.approx(3.0, abs=1e-3)
    assert 0 < ends[2] < ends[1] < 3.0 - 0.01


def test_time_decay_counts_updates():
    adam = Adam(lr=0.01, decay=0.01)
    params = {"W": np.zeros(2)}
    rates = []
    for _ in range(200):  # the course: 100 epochs of 2 updates
        rates.append(adam.learning_rate())
        adam.step(params, {"dW": np.ones(2)})
    assert rates[0] == 0.01
    assert rates[-1] == pytest.approx(0.01 / (1 + 0.01 * 199))
    assert adam.learning_rate() == pytest.approx(0.01 / 3)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_first_update_moves_each_weight_by_about_lr(seed):
    """Bias correction: m and v start at zero, yet the first step is lr * sign(g), not smaller."""
    rng = np.random.default_rng(seed)
    g = rng.choice([-1, 1], size=5) * rng.uniform(0.01, 10, size=5)
    params = {"W": np.zeros(5)}
    Adam(lr=0.01).step(params, {"dW": g})
    # exactly lr * g / (|g| + eps / sqrt(1 - beta2)): eps moves it by at most 3.2e-4 for |g| >= 0.01
    np.testing.assert_allclose(params["W"], -0.01 * np.sign(g), rtol=4e-4)


def test_clipping_scales_the_gradient_to_the_norm():
    rng = np.random.default_rng(1)
    grads = [{"dW": 100 * rng.standard_normal(4)} for _ in range(3)]
    clipped, manual = {"W": np.zeros(4)}, {"W": np.zeros(4)}
    a, b = Adam(clip_norm=2.0), Adam()
    for g in grads:
        norm = a.step(clipped, g)
        assert norm == pytest.approx(np.linalg.norm(g["dW"]))
        b.step(manual, {"dW": g["dW"] * (2.0 / norm)})
    np.testing.assert_allclose(clipped["W"], manual["W"], rtol=1e-12)
    small = {"dW": np.full(4, 1e-3)}
    c, d = {"W": np.zeros(4)}, {"W": np.zeros(4)}
    Adam(clip_norm=2.0).step(c, small)  # below the norm: untouched
    Adam().step(d, small)
    assert np.array_equal(c["W"], d["W"])


def test_global_norm_is_the_norm_of_everything_together():
    g = {"a": np.array([3.0]), "b": np.array([[4.0, 0.0]])}
    assert global_norm(g) == 5.0


def test_state_dict_resumes_bit_for_bit_and_keeps_float32():
    rng = np.random.default_rng(2)
    grads = [{"dW": rng.standard_normal((4, 3)).astype(np.float32)} for _ in range(6)]
    straight = {"W": np.ones((4, 3), np.float32)}
    adam = Adam()
    for g in grads:
        adam.step(straight, g)
    assert straight["W"].dtype == np.float32

    resumed = {"W": np.ones((4, 3), np.float32)}
    first = Adam()
    for g in grads[:3]:
        first.step(resumed, g)
    state = first.state_dict()
    assert set(state) == {"t", "m_W", "v_W"} and isinstance(state["t"], int)
    second = Adam()
    second.load_state_dict(state)
    for g in grads[3:]:
        second.step(resumed, g)
    assert resumed["W"].tobytes() == straight["W"].tobytes()
    assert second.m["W"].dtype == np.float32


def test_adam_minimises_a_quadratic():
    target = np.array([1.0, -2.0, 3.0])
    params = {"w": np.zeros(3)}
    adam = Adam(lr=0.1, decay=0.0)
    for _ in range(500):
        adam.step(params, {"dw": 2 * (params["w"] - target)})
    np.testing.assert_allclose(params["w"], target, atol=1e-3)


@pytest.mark.parametrize("kwargs", [{"lr": 0}, {"beta1": 1.0}, {"beta2": -0.1}, {"eps": 0},
                                    {"decay": -1}, {"clip_norm": 0}, {"weight_decay": -0.1},
                                    {"weight_decay": 100.0}, {"weight_decay": float("nan")}])
def test_bad_settings_are_refused(kwargs):
    with pytest.raises(LstmNumpyError):
        Adam(**kwargs)


def test_a_broken_state_is_refused():
    with pytest.raises(LstmNumpyError, match="optimizer state"):
        Adam().load_state_dict({"m_W": np.zeros(2)})
