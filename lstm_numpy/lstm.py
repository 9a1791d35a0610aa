"""The LSTM, step by step: its formulas forward and backward through time, in plain NumPy.

For one step, in the course's layout (one example per column), with ``concat = [a_prev; xt]``
of shape (n_a + n_x, m)::

    ft  = sigmoid(Wf @ concat + bf)        forget gate        (n_a, m)
    it  = sigmoid(Wi @ concat + bi)        update gate
    cct = tanh(Wc @ concat + bc)           candidate memory
    ot  = sigmoid(Wo @ concat + bo)        output gate
    c_next = ft * c_prev + it * cct
    a_next = ot * tanh(c_next)
    yt_pred = softmax(Wy @ a_next + by)    (n_y, m)

**The conditioned cell** (``--model conditioned``) reads, beside the previous value's one-hot
row, a dense row dt of n_d features of where the next value will sound (``features.py``). It is
the same cell with a longer input: xt = [x_onehot; dt] of n_x = n_values + n_d rows, so
concat = [a_prev; x_onehot; dt] and each of Wf..Wo gains n_d columns, (n_a, n_a + n_values + n_d).
The course's stacked layout extended, rather than a separate weight block, because then not one
formula changes: the reference functions below are the conditioned cell as they stand, given
``conditioned_input(x_onehot, d)``, and their gradient dxt carries the features' gradient in
its last n_d rows. (The fast path keeps the two parts apart: the one-hot part is a row look-up,
the dense part a product; see ``passes.sequence_forward``.)

The ``reference_*`` functions below are these formulas and their derivatives, nothing more.
Training does not call them: they are what the fast path is tested equal to.

The course's own functions, ``lstm_cell_forward``, ``lstm_forward``, ``lstm_cell_backward`` and
``lstm_backward``, compute the same formulas with the passes training runs; they are importable
from here and live in ``passes.py``. The fast path is three more modules, each with one job:

* ``layout.py``: the weights rearranged for speed (the four gates side by side, one-hot inputs
  as row look-ups, one tanh for all gates) and the conversions to and from the course's arrays;
* ``kernels.py``: every numba-compiled loop, training's and sampling's, and why each is fast;
* ``passes.py``: the passes through time over a whole batch, and the course's functions.
"""

from __future__ import annotations

from typing import Dict, Tuple

import numpy as np

GATES = ("f", "i", "c", "o")  # the order of the gate blocks wherever the gates sit side by side

# The course model's ten parameters, in the order every module lists them: the four gates'
# weights (n_a, n_a + n_x) and biases (n_a, 1), then the Dense softmax layer's Wy (n_y, n_a), by.
PARAMETER_NAMES = ("Wf", "Wi", "Wc", "Wo", "bf", "bi", "bc", "bo", "Wy", "by")


def parameter_shapes(n_a: int, n_values: int, n_features: int = 0) -> Dict[str, Tuple[int, int]]:
    """The shape of each parameter, by name, for n_a hidden units and n_y = n_values, n_x =
    n_values + n_features (n_features: the conditioned model's n_d, see below; 0 for the course's)."""
    shapes = {"W" + g: (n_a, n_a + n_values + n_features) for g in GATES}
    shapes.update({"b" + g: (n_a, 1) for g in GATES})
    shapes.update(Wy=(n_values, n_a), by=(n_values, 1))
    return shapes


def sigmoid(x: np.ndarray) -> np.ndarray:
    """The logistic function 1 / (1 + e^-x), computed as (1 + tanh(x / 2)) / 2.

    Both forms are the same function; the tanh form never overflows for large negative x, and it
    is the form the fast path uses on its pre-halved gate columns.
    """
    return 0.5 + 0.5 * np.tanh(0.5 * x)


def softmax(z: np.ndarray, axis: int = 0) -> np.ndarray:
    """Softmax along ``axis``; the max is subtracted first so exp never overflows."""
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def conditioned_input(x_onehot: np.ndarray, d: np.ndarray) -> np.ndarray:
    """The conditioned cell's input: [x_onehot; d] stacked along the first axis.

    x_onehot: (n_values, m) or (n_values, m, T_x); d: (n_d, m) or (n_d, m, T_x) the features.
    Returns (n_values + n_d, m[, T_x]), what ``reference_cell_forward`` / ``reference_forward``
    take as xt / x.
    """
    return np.concatenate([x_onehot, np.asarray(d, np.result_type(x_onehot, d))], axis=0)


def reference_cell_forward(xt, a_prev, c_prev, parameters):
    """One LSTM step, written as the formulas read: the reference the fast path is tested against.

    xt: (n_x, m) input; a_prev, c_prev: (n_a, m) hidden and memory state.
    parameters: Wf, Wi, Wc, Wo (n_a, n_a + n_x) acting on [a_prev; xt], bf, bi, bc, bo (n_a, 1),
        Wy (n_y, n_a), by (n_y, 1).
    Returns a_next, c_next (n_a, m), yt_pred (n_y, m), and the course's cache
    (a_next, c_next, a_prev, c_prev, ft, it, cct, ot, xt, parameters).
    """
    p = parameters
    concat = np.concatenate([a_prev, xt], axis=0)  # (n_a + n_x, m)
    ft = sigmoid(p["Wf"] @ concat + p["bf"])
    it = sigmoid(p["Wi"] @ concat + p["bi"])
    cct = np.tanh(p["Wc"] @ concat + p["bc"])
    ot = sigmoid(p["Wo"] @ concat + p["bo"])
    c_next = ft * c_prev + it * cct
    a_next = ot * np.tanh(c_next)
    yt_pred = softmax(p["Wy"] @ a_next + p["by"], axis=0)
    cache = (a_next, c_next, a_prev, c_prev, ft, it, cct, ot, xt, parameters)
    return a_next, c_next, yt_pred, cache


def reference_forward(x, a0, parameters):
    """The reference cell run over T_x steps, from a0 and c0 = 0 (see ``lstm_forward``).

    x: (n_x, m, T_x); a0: (n_a, m). Returns a, c (n_a, m, T_x), y (n_y, m, T_x) as (a, y, c,
    caches), caches = (list of the steps' caches, x).
    """
    n_x, m, T_x = x.shape
    n_a = a0.shape[0]
    n_y = parameters["Wy"].shape[0]
    dtype = np.result_type(x, a0, parameters["Wf"])
    a = np.zeros((n_a, m, T_x), dtype)
    c = np.zeros((n_a, m, T_x), dtype)
    y = np.zeros((n_y, m, T_x), dtype)
    a_next = a0
    c_next = np.zeros_like(a0)
    caches = []
    for t in range(T_x):
        a_next, c_next, yt, cache = reference_cell_forward(x[:, :, t], a_next, c_next, parameters)
        a[:, :, t], c[:, :, t], y[:, :, t] = a_next, c_next, yt
        caches.append(cache)
    return a, y, c, (caches, x)


def reference_cell_backward(da_next, dc_next, cache):
    """The gradients of one step, written as the chain rule reads (see ``lstm_cell_backward``).

    da_next, dc_next: (n_a, m) upstream gradients on a_next and c_next.
    Returns a dict with dxt (n_x, m), da_prev, dc_prev (n_a, m), dWf, dWi, dWc, dWo
    (n_a, n_a + n_x) and dbf, dbi, dbc, dbo (n_a, 1).
    """
    a_next, c_next, a_prev, c_prev, ft, it, cct, ot, xt, p = cache
    n_a = a_prev.shape[0]
    tanh_c = np.tanh(c_next)
    # a_next = ot * tanh(c_next): the memory gets gradient both directly and through a_next
    dc = dc_next + da_next * ot * (1 - tanh_c**2)
    # gradients on the pre-activations: sigmoid' = s (1 - s), tanh' = 1 - t^2
    dzo = da_next * tanh_c * ot * (1 - ot)
    dzf = dc * c_prev * ft * (1 - ft)
    dzi = dc * cct * it * (1 - it)
    dzc = dc * it * (1 - cct**2)
    concat = np.concatenate([a_prev, xt], axis=0)
    grads = {}
    dconcat = 0
    for gate, dz in (("f", dzf), ("i", dzi), ("c", dzc), ("o", dzo)):
        grads["dW" + gate] = dz @ concat.T
        grads["db" + gate] = dz.sum(axis=1, keepdims=True)
        dconcat = dconcat + p["W" + gate].T @ dz
    grads["da_prev"] = dconcat[:n_a]
    grads["dxt"] = dconcat[n_a:]
    grads["dc_prev"] = dc * ft
    return grads


def reference_backward(da, caches):
    """Backprop through time with the reference step (see ``lstm_backward``).

    da: (n_a, m, T_x) upstream gradient on every a<t>. Returns dx (n_x, m, T_x), da0 (n_a, m), and
    dWf .. dbo summed over the steps, since every step shares the weights.
    """
    step_caches, x = caches
    n_a, m, T_x = da.shape
    dx = np.zeros_like(x, dtype=np.result_type(x, da))
    da_prev = np.zeros((n_a, m), da.dtype)
    dc_prev = np.zeros((n_a, m), da.dtype)
    total: Dict[str, np.ndarray] = {}
    for t in reversed(range(T_x)):
        # a<t> feeds both the output at step t and the next step
        g = reference_cell_backward(da[:, :, t] + da_prev, dc_prev, step_caches[t])
        dx[:, :, t] = g["dxt"]
        da_prev, dc_prev = g["da_prev"], g["dc_prev"]
        for name in ("dWf", "dWi", "dWc", "dWo", "dbf", "dbi", "dbc", "dbo"):
            total[name] = total[name] + g[name] if name in total else g[name]
    return {"dx": dx, "da0": da_prev, **total}


_COURSE_FUNCTIONS = ("lstm_cell_forward", "lstm_forward", "lstm_cell_backward", "lstm_backward")


def __getattr__(name):
    """The course's functions, from ``passes.py`` on first use (that module imports this one, so
    this one cannot import it while it loads)."""
    if name in _COURSE_FUNCTIONS:
        from . import passes

        return getattr(passes, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
