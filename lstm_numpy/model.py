"""The course model: one LSTM shared by all Tx steps, a Dense softmax on each step, and training.

For a batch of m windows, X (m, Tx, n_values) and Y (Ty = Tx, m, n_values), both one-hot::

    a<0> = c<0> = 0
    a<t>, c<t> = LSTM cell(x<t>, a<t-1>, c<t-1>)       the same weights at every step
    y_hat<t>   = softmax(Wy a<t> + by)                 the same Dense layer at every step
    loss       = mean over the batch of  sum over t of  -log y_hat<t>[value of y<t>]

That is the course's categorical cross-entropy summed over the Tx outputs, averaged over the
batch as Keras reports it. The course's y<Tx> is all zeros, so it contributes nothing. The Dense
layer is computed inside the LSTM's own passes (``passes.Targets``): its logits come out of the
same product as the next step's gates, and its gradient goes back through time with theirs.

Accuracy is reported per output step as Keras did: the fraction of windows whose most likely
value equals the target's argmax. A course quirk: the argmax of an all-zero target row is 0, so
the last step's "accuracy" only counts how often value 0 is predicted and means nothing.

The Model container below is the agreed interface that sampling, checkpoints and the command line
build on; the functions after it create and train one.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np
from . import layout, machine, passes
from .errors import LstmNumpyError, TrainingError
from .lstm import GATES
from .notes import Chord
from .optim import Adam


@dataclass
class Model:
    """A trained (or freshly initialised) jazz model, with everything needed to improvise.

    parameters: the course's names and shapes, n_x = n_y = n_values:
        Wf, Wi, Wc, Wo (n_a, n_a + n_values)  gate weights acting on [a_prev; xt]
        bf, bi, bc, bo (n_a, 1)
        Wy (n_values, n_a), by (n_values, 1)  the Dense softmax layer
    indices_values: the vocabulary, index -> value string such as "C,0.250,<m2,P-4>".
    chords: the chords of the training pieces, one list of Chord per measure (may be empty).
    config: the training configuration, JSON-serialisable (saved with each checkpoint).
    register: (lowest, highest) MIDI pitch of the training melody, the range its solos keep to
        (``line.Register``); None when unknown (then ``line.DEFAULT_REGISTER`` is used).
    """

    parameters: Dict[str, np.ndarray]
    indices_values: List[str]
    chords: List[List[Chord]] = field(default_factory=list)
    config: Dict = field(default_factory=dict)
    register: Optional[Tuple[int, int]] = None

    @property
    def n_a(self) -> int:
        return self.parameters["Wf"].shape[0]

    @property
    def n_values(self) -> int:
        return self.parameters["Wy"].shape[0]

    @property
    def n_features(self) -> int:
        """n_d, the dense features the conditioned model reads beside each value (0: the course's)."""
        return self.parameters["Wf"].shape[1] - self.n_a - self.n_values

    @property
    def kind(self) -> str:
        """"course" or "conditioned" (``MODELS``), from the weights' shapes."""
        return "conditioned" if self.n_features else "course"


# --------------------------------------------------------------------------------------------
# Initialisation
# --------------------------------------------------------------------------------------------


def _glorot_uniform(rng: np.random.Generator, fan_in: int, fan_out: int) -> np.ndarray:
    """(fan_in, fan_out) uniform in +-sqrt(6 / (fan_in + fan_out)): keeps activations' variance."""
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=(fan_in, fan_out))


def _orthogonal(rng: np.random.Generator, rows: int, cols: int) -> np.ndarray:
    """(rows, cols) with orthonormal rows or columns: repeated products neither grow nor shrink."""
    with passes.one_blas_thread():  # threads made this tiny QR take 0.4 s on a busy machine
        q, r = np.linalg.qr(rng.standard_normal((max(rows, cols), min(rows, cols))))
    q *= np.sign(np.diag(r))  # makes the result uniformly distributed
    return q.T if rows < cols else q


# The models: the course's reads the previous value alone; the conditioned one also reads the
# features of where the next value will sound (``features.py``), as n_d more input columns.
MODELS = ("course", "conditioned")


def init_model(indices_values, n_a: int = 64, seed: int = 0, dtype=np.float32,
               chords: Optional[List[List[Chord]]] = None, config: Optional[Dict] = None,
               register: Optional[Tuple[int, int]] = None, model: str = "course") -> Model:
    """A fresh course (or conditioned) model with Keras's default initialisation.

    indices_values: the vocabulary (a list, or a dict index -> value string); n_values is its
    length. As Keras's LSTM and Dense layers start:
      input weights (the x-part of Wf..Wo): glorot-uniform over (n_values, 4 n_a);
      recurrent weights (the a-part): orthogonal (n_a, 4 n_a);
      biases zero except bf = 1, so the cell starts out remembering (unit forget bias);
      Wy: glorot-uniform, by zero.
    All draws come from ``np.random.default_rng(seed)``. chords, config and register are kept
    as given (see Model). model: "course", or "conditioned", whose input is n_values +
    ``features.N_FEATURES`` wide (the input weights' glorot range is then taken over that width).
    """
    if isinstance(indices_values, dict):
        indices_values = [indices_values[i] for i in range(len(indices_values))]
    indices_values = list(indices_values)
    n_values = len(indices_values)
    if n_values < 1 or n_a < 1:
        raise LstmNumpyError("init_model needs a non-empty vocabulary and n_a >= 1.")
    if model not in MODELS:
        raise LstmNumpyError(f"model must be one of {', '.join(MODELS)}, not {model!r}.")
    from .features import N_FEATURES

    n_x = n_values + (N_FEATURES if model == "conditioned" else 0)
    rng = np.random.default_rng(seed)
    kernel = _glorot_uniform(rng, n_x, 4 * n_a)  # acts on x, blocks f, i, c, o
    recurrent = _orthogonal(rng, n_a, 4 * n_a)  # acts on a_prev
    parameters = {}
    for k, gate in enumerate(GATES):
        block = slice(k * n_a, (k + 1) * n_a)
        parameters["W" + gate] = np.concatenate([recurrent[:, block].T, kernel[:, block].T], axis=1)
        parameters["b" + gate] = np.full((n_a, 1), 1.0 if gate == "f" else 0.0)
    parameters["Wy"] = _glorot_uniform(rng, n_a, n_values).T
    parameters["by"] = np.zeros((n_values, 1))
    parameters = {k: np.ascontiguousarray(v, dtype=dtype) for k, v in parameters.items()}
    return Model(parameters, indices_values, list(chords or []), dict(config or {}), register)


# --------------------------------------------------------------------------------------------
# Loss and gradients
# --------------------------------------------------------------------------------------------


def _as_indices(X, Y, n_values: int) -> Tuple[np.ndarray, np.ndarray]:
    """Check X (m, Tx, n_values) and Y (Tx, m, n_values); return x (m, Tx) and y (m, Tx) indices.

    x is the one-hot index (-1: all-zero row) or, if X isn't one-hot, X itself (m, Tx, n_values).
    X and Y may also be the indices themselves, both (m, Tx) integers (``corpus.epoch_window_indices``).
    """
    X = np.asarray(X)
    Y = np.asarray(Y)
    if X.ndim == 2 and np.issubdtype(X.dtype, np.integer):
        if Y.shape != X.shape or not np.issubdtype(Y.dtype, np.integer):
            raise LstmNumpyError(f"X holds value indices (m, Tx) = {X.shape}, so Y must too, not {Y.shape} "
                                 f"of {Y.dtype}.")
        if not all(v.size == 0 or -1 <= v.min() <= v.max() < n_values for v in (X, Y)):
            raise LstmNumpyError(f"value indices must lie in -1 .. {n_values - 1} (-1: an all-zero row).")
        return X.astype(np.int64, copy=False), Y.astype(np.int64, copy=False)
    if X.ndim != 3 or X.shape[2] != n_values:
        raise LstmNumpyError(
            f"X has shape {X.shape}, expected (m, Tx, {n_values}); pass the X of load_music_utils.")
    if Y.shape != (X.shape[1], X.shape[0], n_values):
        raise LstmNumpyError(
            f"Y has shape {Y.shape}, expected (Tx, m, n_values) = "
            f"{(X.shape[1], X.shape[0], n_values)}; pass the Y of load_music_utils.")
    y = layout.one_hot_indices(Y, axis=2)
    if y is None:
        raise LstmNumpyError("Y must be one-hot (or all-zero) along its last axis; pass the Y of "
                             "load_music_utils.")
    x = layout.one_hot_indices(X, axis=2)
    return (X if x is None else x), np.ascontiguousarray(y.T)


def _part_loss_and_gradients(joined: layout.JoinedWeights, x, y, m: int, work, d=None):
    """Forward, loss and backward on some of a batch's m windows: x (T, part) indices or
    (T, part, n_values), y (T, part). Loss and gradients are averaged over all m, so parts add
    up. joined: the weights, joined once for all parts. d: the conditioned model's features as
    look-ups (T, part, K). Returns the loss, the per-step accuracy (T,) and the gradients in
    the course's layout (``layout.course_gradients_compiled``; with features, dWf..dWo's last
    n_d columns are their weights' gradient).

    The Dense softmax layer runs inside the LSTM's own passes (``passes.training_passes``): its
    logits come from the same product as the next step's gates, and its gradient flows back
    with them.
    """
    if x.ndim == 2:
        loss, predicted, *grads = passes.training_passes(x, y, 1.0 / m, joined, work, d)
    else:  # dense inputs (X not one-hot): the general passes
        T, part = y.shape
        zeros = np.zeros((part, joined.W_ay.shape[0]), joined.W_ay.dtype)
        cache = passes.sequence_forward(x, zeros, zeros, joined, passes.Targets(y, 1.0 / m), work, d)
        g = passes.sequence_backward(cache, work=work, need_da0=False)
        loss, predicted, grads = cache.loss, cache.predicted, (g["dW_joined"], g["dWx"], g["db"], g["dby"])
    # Keras's accuracy: an all-zero target's argmax is 0
    accuracy = (predicted == np.maximum(y, 0)).sum(axis=1) / m
    # in the course's layout here, in the part's own thread: with two threads, each puts its
    # part back while the other still computes, rather than one after both
    return loss, accuracy, layout.course_gradients_compiled(*grads)


def _gathered_part(joined: layout.JoinedWeights, x, y, d, windows: np.ndarray, m: int, work):
    """``_part_loss_and_gradients`` on the windows at positions `windows` (along axis 1) of the
    time-major x, y and d, gathered here: with two threads, each gathers its own part while
    the other does too, rather than the calling thread gathering the batch and then its parts
    (about 40 us of the course's batch of 60, 80 with the conditioned model's features)."""
    xs, ys = np.take(x, windows, axis=1), np.take(y, windows, axis=1)  # C-contiguous, as the kernels want
    return _part_loss_and_gradients(joined, xs, ys, m, work, None if d is None else d.take(windows))


def _split_windows(m: int, parts: int) -> List[np.ndarray]:
    """m windows in `parts` runs of consecutive indices, as even as multiples of 2 allow.

    The compiled products take rows six or two at a time at full speed (``kernels.matmul_add``),
    and one alone at about two thirds of it: even parts leave no row alone (60 windows: 30
    and 30). Falls back to plain even runs when multiples of 2 would leave a part empty.
    """
    bounds = [int(round(m * i / parts / 2)) * 2 for i in range(parts)] + [m]
    if any(lo >= hi for lo, hi in zip(bounds, bounds[1:])):
        return np.array_split(np.arange(m), parts)
    return [np.arange(lo, hi) for lo, hi in zip(bounds, bounds[1:])]


class BatchGradients:
    """Loss, per-step accuracy and the course's gradients of one batch, by the fast path; shared
    between threads when there are several.

    Call it as ``gradients(parameters, x, y, d, windows)`` with x: (T, n) indices or (T, n,
    n_values), y: (T, n) indices, d: the conditioned model's (T, n, n_d) features or the same as
    look-ups (``layout.SparseFeatures``, time-major (T, n, K)), or None; windows: the positions
    along axis 1 of the batch's m windows (default all n, in order), which each thread gathers
    for itself. With threads > 1 each batch's windows are split between the calling thread
    and a pool of threads: each runs its own forward and backward pass (NumPy and the numba
    kernels release Python's lock), and the gradients, which are sums over windows, are added
    up at the end; but only where that measured faster on this machine (``machine.split_pays``),
    otherwise the calling thread runs the whole batch, as with one thread. It keeps the pool and one Workspace per thread from batch to batch; use it
    in a ``with`` block, which shuts the pool down at its end.
    """

    def __init__(self, threads: int = 1) -> None:
        self.works = [layout.Workspace() for _ in range(threads)]
        self.pool = ThreadPoolExecutor(threads - 1) if threads > 1 else None

    def __enter__(self) -> "BatchGradients":
        return self

    def __exit__(self, *exc) -> None:
        if self.pool is not None:
            self.pool.shutdown()

    def __call__(self, parameters: Dict[str, np.ndarray], x: np.ndarray, y: np.ndarray, d=None,
                 windows: Optional[np.ndarray] = None):
        if windows is None:
            windows = np.arange(y.shape[1])
        T, m = y.shape[0], len(windows)
        works = self.works
        n_features = parameters["Wf"].shape[1] - parameters["Wf"].shape[0] - parameters["Wy"].shape[0]
        # all threads' weights, built once
        joined = layout.join_compiled(parameters, work=works[0], n_features=n_features if d is not None else 0)
        if joined is None:
            # the compiled passes assume finite numbers (see kernels.FAST_MATH): report a NaN
            # loss, as the plain formulas would give, instead of computing with them
            nan = float("nan")
            return nan, np.full(T, nan), {"d" + k: np.full_like(v, nan) for k, v in parameters.items()}
        if x.ndim == 3:  # dense inputs need the fused weights too
            joined = joined._replace(fused=layout.fuse(parameters, joined.W_ay.dtype))
        if d is not None and not isinstance(d, layout.SparseFeatures):
            d = layout.sparse_features(d, joined.W_ay.dtype)  # fit makes them once, for all batches
        one_thread = partial(_gathered_part, joined, x, y, d, windows, m, works[0])
        if self.pool is None or m < 2 * len(works):
            results = [one_thread()]
        else:
            def split():
                parts = [windows[s] for s in _split_windows(m, len(works))]
                # the pool's threads take the other parts; the calling thread does the first
                jobs = [self.pool.submit(_gathered_part, joined, x, y, d, part, m, w)
                        for part, w in zip(parts[1:], works[1:])]
                first = _gathered_part(joined, x, y, d, parts[0], m, works[0])
                return [first] + [job.result() for job in jobs]

            # split only where it measured faster on this machine (machine.split_pays)
            shape = f"n_a={joined.W_ay.shape[0]} width={joined.W_ay.shape[1]} T={T} m={m} " \
                    f"inputs={x.shape[2] if x.ndim == 3 else 'one-hot'} " \
                    f"features={0 if d is None else n_features} {joined.W_ay.dtype}"
            results = split() if machine.split_pays(shape, len(works), one_thread, split) else [one_thread()]
        loss, accuracy, grads = results[0]
        for other in results[1:]:  # the other threads' parts, added into the first's arrays
            loss += other[0]
            accuracy = accuracy + other[1]
            # one add per array the gradients are blocks of (layout.course_gradients_compiled:
            # dWf..dWo are row blocks of one array, dbf..dbo of another): 4 calls instead of 10
            for name in ("dWf", "dbf", "dWy", "dby"):
                total, part = grads[name], other[2][name]
                if name in ("dWf", "dbf"):
                    total, part = total.base, part.base
                np.add(total, part, out=total)
        return loss, accuracy, grads


def loss_and_gradients(parameters: Dict[str, np.ndarray], X, Y, D=None):
    """Loss, per-step accuracy and gradients of the course model on one batch.

    X: (m, Tx, n_values), Y: (Tx, m, n_values), one-hot as ``load_music_utils`` makes them.
    D: for the conditioned model, (m, Tx, n_d) the features of every step (``features.py``).
    Returns (loss, accuracy (Tx,), grads) where loss is the sum over steps of the batch-mean
    cross-entropy and grads holds dWf, dWi, dWc, dWo, dbf, dbi, dbc, dbo, dWy, dby.
    """
    x, y = _as_indices(X, Y, parameters["Wy"].shape[0])
    x = np.ascontiguousarray(np.moveaxis(x, 0, 1))  # time-major
    d = _time_major_features(D, parameters, x.shape)
    with passes.one_blas_thread(), BatchGradients() as gradients:
        return gradients(parameters, x, np.ascontiguousarray(y.T), d)


def _time_major_features(D, parameters, shape) -> Optional[np.ndarray]:
    """D (m, Tx, n_d) checked against the weights' n_d, time-major (Tx, m, n_d); None if the
    model has no features. shape: the time-major inputs' (Tx, m)."""
    n_features = parameters["Wf"].shape[1] - parameters["Wf"].shape[0] - parameters["Wy"].shape[0]
    if not n_features and D is None:
        return None
    D = None if D is None else np.asarray(D)
    if D is None or D.shape != (shape[1], shape[0], n_features):
        raise LstmNumpyError(
            f"the features have shape {None if D is None else D.shape}, but this model needs "
            f"(m, Tx, n_d) = {(shape[1], shape[0], n_features)}; the conditioned model reads "
            "features.window_features of its windows, the course model none.")
    return np.ascontiguousarray(np.moveaxis(D, 0, 1), parameters["Wf"].dtype)


# --------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------


def fit(model: Model, X=None, Y=None, *, epochs: int = 100, batch_size: int = 32,
        optimizer: Optional[Adam] = None, seed: int = 0, start_epoch: int = 0,
        history: Optional[Dict[str, list]] = None,
        on_epoch_end: Optional[Callable[[int, Dict[str, list]], None]] = None,
        on_batch_end: Optional[Callable[[int, int, float], None]] = None,
        clip_norm: Optional[float] = None, threads: int = 1, D=None,
        windows: Optional[Callable[[int], tuple]] = None,
        stop: Optional[Callable[[Dict[str, list]], bool]] = None) -> Dict[str, list]:
    """Train ``model`` in place on X (m, Tx, n_values), Y (Tx, m, n_values) with mini-batches
    (the course's ``model.fit``). X and Y may also be their value indices, both (m, Tx) ints,
    -1 for an all-zero row (``corpus.epoch_window_indices``).

    D: the conditioned model's features of every window and step, (m, Tx, n_d)
    (``features.window_features``); None for the course model.
    windows: instead of X, Y and D, windows drawn afresh for every epoch: windows(epoch) gives
    that epoch's (X, Y, D) (D None for the course model); m may change from epoch to epoch.

    Runs epochs start_epoch .. epochs - 1 (``epochs`` is the final count, as in Keras's fit with
    initial_epoch). Each epoch shuffles the windows with ``np.random.default_rng([seed, epoch])``
    and updates once per batch of ``batch_size`` (the last batch may be smaller). Because the
    shuffle depends only on (seed, epoch), resuming at epoch e from saved weights and optimizer
    state reproduces an uninterrupted run bit for bit.

    optimizer: default Adam(lr=0.01, decay=0.01), the course's; clip_norm, if given, is set on it.
    history: a history to extend (when resuming). on_epoch_end(epoch, history) runs after each
    epoch (validation, checkpoints, progress); on_batch_end(epoch, batch, loss) after each
    update; stop(history), if given, before each epoch: True ends training there (early
    stopping). Call fit once for a whole run: it keeps its scratch memory and threads from
    epoch to epoch, which a call per epoch would make anew (about 0.5 ms per epoch of the
    course model at batch 32, 10-15% of the epoch).
    Returns history = {"loss": [per epoch], "accuracy": [per epoch, Tx per-step accuracies]},
    where an epoch's figures are the batch figures averaged over windows, as Keras reports them.
    Raises TrainingError if the loss or the gradients stop being finite.

    threads: how many threads may share each batch (its windows are split between them where
    that measured faster on this machine, ``machine.split_pays``). BLAS itself stays on one
    thread. Results depend on it only through rounding (the gradients are summed in another
    order); the measured decision is kept, so a run resumed with the same threads on the same
    machine is still bit-identical.
    """
    if batch_size < 1 or epochs < 0 or start_epoch < 0 or threads < 1:
        raise LstmNumpyError(
            "fit needs batch_size >= 1, epochs >= 0, start_epoch >= 0 and threads >= 1.")
    if (windows is None) == (X is None or Y is None) or (windows is not None and D is not None):
        raise LstmNumpyError("fit takes either X and Y (and D for the conditioned model), or windows, "
                             "a function giving each epoch's.")
    params = model.parameters
    if windows is None:
        fixed = _training_windows(model, X, Y, D)  # checked and laid out once for every epoch
        windows_of = lambda epoch: fixed  # noqa: E731
    else:
        windows_of = lambda epoch: _training_windows(model, *windows(epoch))  # noqa: E731
    if optimizer is None:
        optimizer = Adam(clip_norm=clip_norm)
    elif clip_norm is not None:
        optimizer.clip_norm = clip_norm
    if history is None:
        history = {"loss": [], "accuracy": []}
    # BLAS on one thread: see passes.one_blas_thread (threads made whole runs up to 8x slower on
    # a busy 2-core machine); errstate: non-finite numbers are caught in _update, with a clear
    # message
    shuffles = _Shuffles(seed, epochs)
    with BatchGradients(threads) as gradients, passes.one_blas_thread(), \
            np.errstate(over="ignore", invalid="ignore"):
        for epoch in range(start_epoch, epochs):
            if stop is not None and stop(history):
                break
            x, y, d = windows_of(epoch)
            Tx, n_windows = y.shape
            order = shuffles.order(epoch, n_windows)
            loss_sum = 0.0
            accuracy_sum = np.zeros(Tx)
            for batch, start in enumerate(range(0, n_windows, batch_size)):
                chosen = order[start : start + batch_size]
                loss, accuracy = _update(params, x, y, d, chosen, gradients, optimizer, epoch)
                loss_sum += loss * len(chosen)
                accuracy_sum += accuracy * len(chosen)
                if on_batch_end is not None:
                    on_batch_end(epoch, batch, loss)
            history["loss"].append(loss_sum / n_windows)
            history["accuracy"].append((accuracy_sum / n_windows).tolist())
            if on_epoch_end is not None:
                on_epoch_end(epoch, history)
    return history


class _Shuffles:
    """Each epoch's order of the windows, ``np.random.default_rng([seed, epoch]).permutation(n)``,
    made several epochs ahead at a time.

    Made one per epoch, between the passes, a generator and its permutation took about 38 us
    with the caches cold from the passes (8 us in a loop of their own): more than 1% of a course
    epoch. The orders are the same numbers either way; up to 2**16 windows' worth are kept.
    """

    def __init__(self, seed: int, epochs: int) -> None:
        self.seed, self.epochs = seed, epochs
        self.made: Dict[Tuple[int, int], np.ndarray] = {}
        self.last_n = -1

    def order(self, epoch: int, n: int) -> np.ndarray:
        if (epoch, n) not in self.made:
            self.made.clear()  # used up, or n changed
            # ahead only while n stays the same (windows drawn per epoch may change it)
            ahead = max(1, min(32, 2**16 // max(n, 1))) if n == self.last_n else 1
            for e in range(epoch, max(epoch + 1, min(epoch + ahead, self.epochs))):
                self.made[(e, n)] = np.random.default_rng([self.seed, e]).permutation(n)
        self.last_n = n
        return self.made.pop((epoch, n))


def _training_windows(model: Model, X, Y, D):
    """X, Y and D as ``fit`` checks them and keeps them: time-major, x (Tx, m) indices (or
    (Tx, m, n_values) when X isn't one-hot), y (Tx, m), so that a batch is one gather along
    axis 1, and the features as look-ups (``layout.SparseFeatures``), found once rather than in
    every batch; None for the course model."""
    x, y = _as_indices(X, Y, model.n_values)  # (m, Tx) indices (x may be dense)
    x, y = np.ascontiguousarray(np.moveaxis(x, 0, 1)), np.ascontiguousarray(y.T)
    d = _time_major_features(D, model.parameters, y.shape)
    return x, y, None if d is None else layout.sparse_features(d)


def _update(params, x, y, d, chosen: np.ndarray, gradients: BatchGradients, optimizer: Adam, epoch: int):
    """One optimizer step on the batch of windows at positions `chosen` of an epoch's, time-major
    as ``fit`` keeps them: x and y (Tx, n), d the features' look-ups (Tx, n, K) or None; returns
    the batch's loss and per-step accuracy."""
    loss, accuracy, grads = gradients(params, x, y, d, chosen)
    # the step computes the gradients' norm on its way and updates nothing when it is not finite
    norm = optimizer.step(params, grads) if np.isfinite(loss) else float("nan")
    if not (np.isfinite(loss) and np.isfinite(norm)):
        raise TrainingError(
            f"Training diverged in epoch {epoch + 1}: the "
            f"{'loss' if not np.isfinite(loss) else 'gradient'} is no longer finite; "
            "try a lower learning rate (--lr) or gradient clipping (--clip-norm).")
    return loss, accuracy
