"""The course model: initialisation, loss and gradients, training, and the course-data result."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from lstm_numpy import LstmNumpyError, Model, TrainingError, init_model, lstm_forward
from lstm_numpy.model import fit, loss_and_gradients
from lstm_numpy.optim import Adam

from conftest import assert_gradient

SETTINGS = settings(max_examples=10, deadline=None)


def course_like_batch(rng, m, Tx, n_values):
    """One-hot X (m, Tx, n_values) and Y (Tx, m, n_values) shaped like the course's:
    Y is X shifted one step left, x<1> and y<Tx> are all zeros."""
    values = rng.integers(0, n_values, size=(m, Tx + 1))
    X = np.zeros((m, Tx, n_values))
    Y = np.zeros((Tx, m, n_values))
    for j in range(m):
        for t in range(1, Tx):
            X[j, t, values[j, t]] = 1
            Y[t - 1, j, values[j, t]] = 1
    return X, Y


def vocabulary(n):
    return [f"v{i}" for i in range(n)]


# -------------------------------------------------------------------------------- initialisation


def test_init_model_follows_keras_defaults_and_the_seed():
    model = init_model(vocabulary(78), n_a=64, seed=3)
    p = model.parameters
    assert isinstance(model, Model) and model.n_a == 64 and model.n_values == 78
    assert model.chords == [] and model.config == {}
    for g in "fico":
        assert p["W" + g].shape == (64, 64 + 78) and p["b" + g].shape == (64, 1)
    assert p["Wy"].shape == (78, 64) and p["by"].shape == (78, 1)
    assert all(v.dtype == np.float32 for v in p.values())
    assert np.all(p["bf"] == 1) and not np.any(p["bi"]) and not np.any(p["by"])
    # recurrent kernel (n_a, 4 n_a) as Keras stores it: orthonormal rows
    recurrent = np.concatenate([p["W" + g][:, :64].T for g in "fico"], axis=1)
    np.testing.assert_allclose(recurrent @ recurrent.T, np.eye(64), atol=1e-5)
    # glorot-uniform input kernel: inside its limit, and spread over it
    limit = np.sqrt(6 / (78 + 4 * 64))
    kernel = np.concatenate([p["W" + g][:, 64:] for g in "fico"])
    assert np.abs(kernel).max() <= limit and np.abs(kernel).max() > 0.9 * limit
    again = init_model(dict(enumerate(vocabulary(78))), n_a=64, seed=3)
    assert all(np.array_equal(again.parameters[k], v) for k, v in p.items())
    other = init_model(vocabulary(78), n_a=64, seed=4)
    assert not np.array_equal(other.parameters["Wf"], p["Wf"])
    assert init_model(vocabulary(5), n_a=3, dtype=np.float64).parameters["Wy"].dtype == np.float64


# ---------------------------------------------------------------------------- loss and gradients


@SETTINGS
@given(n_values=st.integers(1, 5), n_a=st.integers(1, 4), m=st.integers(1, 4),
       Tx=st.integers(1, 4), seed=st.integers(0, 2**32 - 1))
def test_model_gradients_match_finite_differences(n_values, n_a, m, Tx, seed):
    rng = np.random.default_rng(seed)
    model = init_model(vocabulary(n_values), n_a=n_a, seed=seed % 1000, dtype=np.float64)
    p = model.parameters
    for v in p.values():  # move away from the special zero biases
        v += 0.3 * rng.standard_normal(v.shape)
    X, Y = course_like_batch(rng, m, Tx, n_values)
    _, _, grads = loss_and_gradients(p, X, Y)
    for name, array in p.items():
        assert_gradient(lambda: loss_and_gradients(p, X, Y)[0], array, grads["d" + name], name)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_loss_and_accuracy_equal_an_independent_computation(dtype):
    """The course functions' softmax outputs give the same loss and per-step accuracy."""
    rng = np.random.default_rng(7)
    m, Tx, n_values = 9, 6, 7
    model = init_model(vocabulary(n_values), n_a=5, seed=1, dtype=dtype)
    p = model.parameters
    for v in p.values():
        v += (0.5 * rng.standard_normal(v.shape)).astype(dtype)
    X, Y = course_like_batch(rng, m, Tx, n_values)
    loss, accuracy, _ = loss_and_gradients(p, X, Y)

    x = X.transpose(2, 0, 1).astype(dtype)  # (n_values, m, Tx)
    _, y_hat, _, _ = lstm_forward(x, np.zeros((5, m), dtype), p)  # (n_values, m, Tx)
    y_true = Y.transpose(2, 1, 0)
    expected_loss = -np.sum(y_true * np.log(y_hat.astype(np.float64))) / m
    assert loss == pytest.approx(expected_loss, rel=1e-12 if dtype == np.float64 else 1e-5)
    expected_accuracy = (y_hat.argmax(axis=0) == y_true.argmax(axis=0)).mean(axis=0)
    np.testing.assert_array_equal(accuracy, expected_accuracy)


def test_zero_targets_add_nothing_and_count_as_value_0():
    rng = np.random.default_rng(0)
    X, Y = course_like_batch(rng, 4, 3, 5)
    model = init_model(vocabulary(5), n_a=3, dtype=np.float64)
    loss, accuracy, grads = loss_and_gradients(model.parameters, X, Y)
    # only the last step has all-zero targets, and outputs never depend on later inputs, so
    # dropping the last step changes neither the loss nor the gradients
    loss2, _, grads2 = loss_and_gradients(model.parameters, X[:, :-1], Y[:-1])
    assert loss == pytest.approx(loss2, rel=1e-12)
    for name, value in grads.items():
        np.testing.assert_allclose(value, grads2[name], rtol=1e-10, atol=1e-14)
    p = {k: v.copy() for k, v in model.parameters.items()}
    p["by"][0] += 100  # make value 0 the prediction everywhere
    _, accuracy, _ = loss_and_gradients(p, X, Y)
    assert accuracy[-1] == 1.0  # Keras's quirk: argmax of the zero target is 0


def test_bad_shapes_are_refused_with_one_sentence():
    model = init_model(vocabulary(5), n_a=3)
    X, Y = course_like_batch(np.random.default_rng(0), 4, 3, 5)
    with pytest.raises(LstmNumpyError, match="X has shape"):
        loss_and_gradients(model.parameters, X[..., :4], Y)
    with pytest.raises(LstmNumpyError, match="Y has shape"):
        loss_and_gradients(model.parameters, X, Y[:2])
    with pytest.raises(LstmNumpyError, match="one-hot"):
        loss_and_gradients(model.parameters, X, Y * 0.5 + 0.1)


# -------------------------------------------------------------------------------------- training


def small_problem(dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    X, Y = course_like_batch(rng, 10, 5, 6)
    return init_model(vocabulary(6), n_a=4, seed=seed, dtype=dtype), X, Y


def test_training_resumed_from_saved_state_is_bit_identical():
    straight, X, Y = small_problem()
    history = fit(straight, X, Y, epochs=6, batch_size=4, seed=11)

    resumed, _, _ = small_problem()
    adam = Adam()
    first = fit(resumed, X, Y, epochs=3, batch_size=4, seed=11, optimizer=adam)
    saved_weights = {k: v.copy() for k, v in resumed.parameters.items()}
    saved_state = adam.state_dict()
    # a fresh process: new model object, new optimizer, both loaded from what was saved
    again = Model({k: v.copy() for k, v in saved_weights.items()}, resumed.indices_values)
    adam2 = Adam()
    adam2.load_state_dict(saved_state)
    rest = fit(again, X, Y, epochs=6, batch_size=4, seed=11, optimizer=adam2, start_epoch=3,
                 history={"loss": list(first["loss"]), "accuracy": list(first["accuracy"])})
    for name, value in straight.parameters.items():
        assert again.parameters[name].tobytes() == value.tobytes()
    assert rest == history
    assert len(history["loss"]) == 6 and all(len(a) == 5 for a in history["accuracy"])


def test_threads_split_each_batch_and_change_only_rounding(monkeypatch):
    from lstm_numpy import machine

    monkeypatch.setattr(machine, "split_pays", lambda *args, **kwargs: True)  # whatever it measures
    one, X, Y = small_problem(np.float64)
    two, _, _ = small_problem(np.float64)
    h1 = fit(one, X, Y, epochs=3, batch_size=7, threads=1)
    threadpoolctl = pytest.importorskip("threadpoolctl")
    before = [lib["num_threads"] for lib in threadpoolctl.threadpool_info()]
    h2 = fit(two, X, Y, epochs=3, batch_size=7, threads=2)  # batches of 7 and 3: odd splits
    assert [lib["num_threads"] for lib in threadpoolctl.threadpool_info()] == before
    np.testing.assert_allclose(h2["loss"], h1["loss"], rtol=1e-12)
    np.testing.assert_allclose(h2["accuracy"], h1["accuracy"], rtol=1e-12)
    for name, value in one.parameters.items():
        np.testing.assert_allclose(two.parameters[name], value, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("pays", [False, True])
def test_a_batch_is_split_exactly_where_the_measurement_says_it_pays(monkeypatch, pays):
    """Asked for two threads, training splits a batch only where machine.split_pays says so;
    without a split it computes exactly what one thread computes."""
    from lstm_numpy import machine, model as model_module

    asked = []
    monkeypatch.setattr(machine, "split_pays", lambda shape, threads, *run: asked.append((shape, threads)) or pays)
    parts = []
    real_part = model_module._part_loss_and_gradients
    monkeypatch.setattr(model_module, "_part_loss_and_gradients",
                        lambda joined, x, *rest: parts.append(x.shape[1]) or real_part(joined, x, *rest))
    one, X, Y = small_problem(np.float32)
    two, _, _ = small_problem(np.float32)
    fit(one, X, Y, epochs=2, batch_size=8, threads=1)
    parts.clear()
    fit(two, X, Y, epochs=2, batch_size=8, threads=2)  # batches of 8 and 2 windows
    # the batch of 2 is too small to split (one window per thread): it is never measured
    assert len(asked) == 2 and all("m=8 " in shape and threads == 2 for shape, threads in asked)
    assert parts == ([4, 4, 2] * 2 if pays else [8, 2] * 2)
    for name, value in one.parameters.items():
        if pays:
            np.testing.assert_allclose(two.parameters[name], value, rtol=1e-5, atol=1e-7)
        else:
            assert two.parameters[name].tobytes() == value.tobytes()


def test_shuffling_depends_on_the_seed():
    a, X, Y = small_problem()
    b, _, _ = small_problem()
    fit(a, X, Y, epochs=2, batch_size=3, seed=1)
    fit(b, X, Y, epochs=2, batch_size=3, seed=2)
    assert not np.array_equal(a.parameters["Wf"], b.parameters["Wf"])


def test_epochs_orders_made_ahead_are_each_epochs_own():
    """fit's orders of the windows, made several epochs ahead, are exactly
    default_rng([seed, epoch]).permutation(n) of each epoch, also when n changes."""
    from lstm_numpy import model as model_module

    shuffles = model_module._Shuffles(seed=3, epochs=100)
    for epoch, n in [(0, 7), (1, 7), (2, 7), (3, 9), (4, 9), (5, 7)] + [(e, 60) for e in range(6, 100)]:
        expected = np.random.default_rng([3, epoch]).permutation(n)
        np.testing.assert_array_equal(shuffles.order(epoch, n), expected)


def test_full_batch_training_equals_plain_gradient_steps():
    """One batch per epoch: fit is exactly Adam on loss_and_gradients of all windows."""
    model, X, Y = small_problem(np.float64)
    manual = {k: v.copy() for k, v in model.parameters.items()}
    fit(model, X, Y, epochs=3, batch_size=100)
    adam = Adam()
    for _ in range(3):
        adam.step(manual, loss_and_gradients(manual, X, Y)[2])
    for name, value in manual.items():
        np.testing.assert_allclose(model.parameters[name], value, rtol=1e-12, atol=1e-15)


def test_callbacks_are_called_per_epoch_and_per_batch():
    model, X, Y = small_problem()
    epochs, batches = [], []
    fit(model, X, Y, epochs=2, batch_size=4,
          on_epoch_end=lambda e, h: epochs.append((e, len(h["loss"]))),
          on_batch_end=lambda e, b, loss: batches.append((e, b)))
    assert epochs == [(0, 1), (1, 2)]
    assert batches == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]  # 4 + 4 + 2 windows


def test_windows_drawn_per_epoch_train_as_one_fit_per_epoch_would():
    """fit(windows=...) draws each epoch's windows from the function and keeps its workspaces and
    threads for the whole run: bit for bit what a call per epoch on those windows gives; stop
    ends it before the epoch it says."""
    draws = {e: course_like_batch(np.random.default_rng(e), 6 + e, 5, 6) for e in range(4)}
    per_epoch, _, _ = small_problem()
    once, _, _ = small_problem()
    adam, history = Adam(), None
    for epoch in range(4):
        history = fit(per_epoch, *draws[epoch], epochs=epoch + 1, start_epoch=epoch, batch_size=4,
                      optimizer=adam, history=history, seed=3)
    asked = []
    whole = fit(once, windows=lambda epoch: asked.append(epoch) or (*draws[epoch], None), epochs=4, batch_size=4,
                optimizer=Adam(), seed=3)
    assert asked == [0, 1, 2, 3] and whole == history
    for name, value in per_epoch.parameters.items():
        assert once.parameters[name].tobytes() == value.tobytes()
    stopped, _, _ = small_problem()
    short = fit(stopped, windows=lambda epoch: (*draws[epoch], None), epochs=4, batch_size=4,
                stop=lambda h: len(h["loss"]) == 2)
    assert len(short["loss"]) == 2
    with pytest.raises(LstmNumpyError, match="either X and Y"):
        fit(stopped, *draws[0], windows=lambda epoch: (*draws[epoch], None))


def test_windows_given_as_value_indices_train_as_their_one_hot_arrays():
    from lstm_numpy.layout import one_hot_indices

    one_hot, X, Y = small_problem()
    indexed, _, _ = small_problem()
    h1 = fit(one_hot, X, Y, epochs=2, batch_size=4)
    x, y = one_hot_indices(X, axis=2), one_hot_indices(Y, axis=2).T  # both (m, Tx)
    h2 = fit(indexed, x, y, epochs=2, batch_size=4)
    assert h1 == h2
    for name, value in one_hot.parameters.items():
        assert indexed.parameters[name].tobytes() == value.tobytes()
    with pytest.raises(LstmNumpyError, match="must lie in -1"):
        fit(indexed, x + 6, y, epochs=1)
    with pytest.raises(LstmNumpyError, match="so Y must too"):
        fit(indexed, x, Y, epochs=1)


def test_training_loss_goes_down():
    model, X, Y = small_problem()
    history = fit(model, X, Y, epochs=300, batch_size=10, optimizer=Adam(lr=0.05, decay=0))
    assert history["loss"][-1] < 0.5 * history["loss"][0]


def test_divergence_stops_training_with_a_clear_error_and_sane_weights():
    model, X, Y = small_problem(np.float64)
    model.parameters["Wy"][0, 0] = np.inf
    before = {k: v.copy() for k, v in model.parameters.items()}
    with pytest.raises(TrainingError, match=r"epoch 1: .*--lr.*--clip-norm"):
        fit(model, X, Y, epochs=3)
    for name, value in before.items():  # no update was applied
        assert np.array_equal(model.parameters[name], value)


def test_clip_norm_clips_every_update_of_training():
    """With clip_norm, each full-batch update is Adam's step on the gradients scaled down to that
    global norm (scaled here by hand), and the run ends elsewhere than an unclipped one."""
    clip = 0.01
    model, X, Y = small_problem(np.float64)
    manual = {k: v.copy() for k, v in model.parameters.items()}
    unclipped = Model({k: v.copy() for k, v in model.parameters.items()}, model.indices_values)
    fit(model, X, Y, epochs=3, batch_size=100, optimizer=Adam(), clip_norm=clip)
    adam = Adam()
    for _ in range(3):
        grads = loss_and_gradients(manual, X, Y)[2]
        norm = np.sqrt(sum(np.sum(g * g) for g in grads.values()))
        assert norm > clip  # so every update is clipped
        adam.step(manual, {k: g * (clip / norm) for k, g in grads.items()})
    for name, value in manual.items():
        np.testing.assert_allclose(model.parameters[name], value, rtol=1e-12, atol=1e-15)
    fit(unclipped, X, Y, epochs=3, batch_size=100, optimizer=Adam())
    assert not np.allclose(unclipped.parameters["Wy"], model.parameters["Wy"], rtol=1e-6, atol=0)


# ---------------------------------------------------------------------------- the course's data


def test_course_training_lands_where_keras_lands(course_midi, keras_training):
    """100 epochs, batch 32, Adam(0.01, decay 0.01), n_a = 64 on the course file.

    The band comes from keras_training.json: from the lowest to the highest final loss it
    records (the original notebooks' and Keras 3's runs), widened on both sides by the spread
    between Keras 3's own runs, which differ only in seed and activation details.
    """
    from lstm_numpy import dataset

    X, Y, n_values, indices_values = dataset.load_music_utils(course_midi, preset="course")
    keras_finals = list(keras_training["final_loss_by_run"].values())
    original_finals = [v[-1] for v in keras_training["original_notebook_logged_loss"].values()
                       if isinstance(v, list)]
    spread = max(keras_finals) - min(keras_finals)
    low = min(keras_finals + original_finals) - spread
    high = max(keras_finals + original_finals) + spread

    model = init_model(indices_values, n_a=64, seed=0)
    history = fit(model, X, Y, epochs=100, batch_size=32,
                    optimizer=Adam(lr=0.01, beta1=0.9, beta2=0.999, decay=0.01), seed=0)
    first_keras = keras_training["loss_per_epoch_main"][0]
    assert history["loss"][0] == pytest.approx(first_keras, rel=0.05)
    assert low <= history["loss"][-1] <= high
    accuracy = history["accuracy"][-1]
    assert min(accuracy[3:-1]) >= 0.9  # steps 4 .. 29; step 30's target is all zeros
