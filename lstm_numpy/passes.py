"""The passes through time that training runs, and the course's functions built on them.

``sequence_forward`` and ``sequence_backward`` run a batch through all T steps in the fast
path's layout (``layout.py``): one example per row, time-major. Each is one compiled call
(``kernels.forward_kernel``, ``kernels.backward_kernel``): the time loop never returns to Python.
Their formulas are ``lstm.reference_forward`` and ``lstm.reference_backward``, with one addition
training needs: when targets are given, the Dense softmax layer joined onto the weights
(``layout.JoinedWeights``) runs inside the same passes, its loss and its gradient included.

The course's functions, ``lstm_cell_forward``, ``lstm_forward``, ``lstm_cell_backward`` and
``lstm_backward``, keep the course's names, shapes and caches: each turns columns (n, m) into
rows (m, n), calls these passes (a cell step is a sequence of one step), and turns the answer
back. So the course's functions run the very code training runs, and the tests that hold them
equal to the reference formulas hold training's passes too.
"""

from __future__ import annotations

import sys
from contextlib import nullcontext
from functools import lru_cache
from typing import Dict, NamedTuple, Optional

import numpy as np

from . import kernels, machine
from .errors import LstmNumpyError
from .layout import (JoinedWeights, SparseFeatures, Workspace, _gate_scale, aligned_empty, course_gradients, join,
                     one_hot_indices, sparse_features)
from .lstm import PARAMETER_NAMES, softmax

# --------------------------------------------------------------------------------------------
# The passes
# --------------------------------------------------------------------------------------------


class Targets(NamedTuple):
    """What the joined Dense softmax layer is trained towards.

    y: (T, m) the target value of every output (-1: none, the course's all-zero y<Tx>);
    scale: the weight of one window in the loss (1 / batch size).
    """

    y: np.ndarray
    scale: float


class SequenceCache(NamedTuple):
    """What ``sequence_forward`` keeps for the backward pass (time-major, rows are examples).

    A: (T + 1, m, n_a)  A[0] = a0, A[t + 1] = a<t+1>
    C: (T + 1, m, n_a)  C[0] = c0, likewise
    tanh_C: (T, m, n_a)  tanh(C[t + 1])
    Q: (T + 1, m, width)  per row: Q[t, :, :4 n_a] the gate values ft, it, cct, ot of step t
        (Q[T]'s are zeros), Q[t, :, 4 n_a : 4 n_a + n_y] the output layer's gradient on the
        logits of the output at step t - 1 (Q[0]'s are zeros), then zeros up to the width of
        the joined weights. n_y = 0 without targets.
    x: (T, m) int indices of one-hot inputs (-1: all-zero input), or (T, m, n_x) dense inputs
    joined: the weights the pass ran with (the backward pass runs with them too)
    loss: with targets, the cross-entropy summed over steps and windows, times scale
    predicted: with targets, (T, m) the most likely value at every step, else None
    dby: with targets, (n_y,) the gradient on by, else None
    features: the conditioned model's features as look-ups (``layout.SparseFeatures``), else None
    """

    A: np.ndarray
    C: np.ndarray
    tanh_C: np.ndarray
    Q: np.ndarray
    x: np.ndarray
    joined: JoinedWeights
    loss: float = 0.0
    predicted: Optional[np.ndarray] = None
    dby: Optional[np.ndarray] = None
    features: Optional[SparseFeatures] = None

    @property
    def G(self) -> np.ndarray:
        """(T, m, 4 n_a) the gate values of every step (a view of Q)."""
        n4 = 4 * self.A.shape[2]
        return self.Q[:-1, :, :n4]


def sequence_forward(x, a0, c0, joined: JoinedWeights, targets: Optional[Targets] = None,
                     work: Optional[Workspace] = None, features=None) -> SequenceCache:
    """The fast forward pass over T steps (the formulas of ``reference_forward``, in rows).

    x: (T, m) int64 one-hot indices (-1 for an all-zero input), or (T, m, n_x) dense inputs
    (these need ``joined.fused``). a0, c0: (m, n_a). joined: from ``layout.join`` or
    ``layout.join_compiled``; its dtype is the computation's.
    targets: with them (and a Dense layer in joined), the loss, the predictions and the layer's
    gradient on its logits are computed in the same pass (what training runs).
    work: a Workspace to reuse memory from (the returned arrays then live in it, until the next
    call with the same workspace).
    features: the conditioned model's (T, m, n_d) features beside one-hot inputs x, or the same
    as look-ups (``layout.SparseFeatures``, what training makes once per fit); joined then
    carries their weights (``joined.Wd``, ``layout.dense_rows``).
    Returns the SequenceCache; the hidden states are cache.A[1:], the final state A[-1], C[-1].

    Per step, the kernel takes one product a<t> @ [Wa | Wy.T] added to the input term x @ Wx + b
    (for one-hot inputs a row of Wx + b, which the product's sums start from), which gives step
    t's gates and, in the same pass over a<t>, the logits of the output at step t - 1; the
    gates, the cell update and the softmax follow.
    """
    work = Workspace() if work is None else work
    dtype = joined.W_ay.dtype
    n_a = joined.W_ay.shape[0]
    T, m = x.shape[:2]
    n_y = 0 if targets is None else joined.n_y
    A = work.array("A", (T + 1, m, n_a), dtype)
    C = work.array("C", (T + 1, m, n_a), dtype)
    tanh_C = work.array("tanh_C", (T, m, n_a), dtype)
    Q = work.array("Q", (T + 1, m, joined.W_ay.shape[1]), dtype)
    A[0], C[0] = a0, c0
    look_ups = _NO_FEATURES[dtype.type]
    if features is not None:
        # the conditioned model: the pass adds the set features' rows of Wd to each step's
        # one-hot row as it copies it (kernels._input_term)
        features = _as_sparse(features, x, joined, dtype)
        look_ups = (features.index, features.value, joined.Wd)
    if x.ndim == 2:
        # row k of x_rows is x @ Wx + b for the one-hot x of value k, and index -1 picks the
        # last row (b alone): the kernel copies rows instead of multiplying
        x_rows, x_index = joined.x_rows, x
    else:  # dense inputs need the fused weights themselves
        fused = joined.fused
        x_rows = x.reshape(T * m, -1).astype(dtype, copy=False) @ fused.Wx[:-1] + fused.b
        x_index = np.arange(T * m).reshape(T, m)
    # finite parts make finite sums (or ones too large for the dtype, which saturate the gates
    # as the formulas would, and make no NaN); flattened (a view), so that one compiled
    # all_finite serves every shape rather than one per number of dimensions
    if not all(kernels.all_finite(v.reshape(-1)) for v in (joined.W_ay, x_rows, joined.by, A[0], C[0], *look_ups[1:])):
        # the kernels assume finite numbers (FAST_MATH): NaN would not even propagate
        raise LstmNumpyError("the LSTM's weights, initial state or inputs contain NaN or infinite "
                             "values; check them (after training, load a checkpoint saved before "
                             "it diverged).")
    y = np.empty((0, 0), np.int64) if targets is None else np.ascontiguousarray(targets.y, np.int64)
    predicted = np.empty((T, m) if n_y else (0, 0), np.int64)
    dby = np.zeros(joined.by.shape[0], dtype)
    start = 0 if np.any(a0) else 1  # a0 = 0 adds nothing to the first step
    scale = 0.0 if targets is None else targets.scale
    loss = kernels.forward_kernel(Q, A, C, tanh_C, joined.W_ay, x_rows,
                                  np.ascontiguousarray(x_index, np.int64), n_y, joined.by, y,
                                  dtype.type(scale), start, predicted, dby, _strip_rows(), *look_ups)
    if targets is None:
        return SequenceCache(A, C, tanh_C, Q, x, joined, features=features)
    return SequenceCache(A, C, tanh_C, Q, x, joined, loss, predicted, dby[:n_y], features)


# the course model's features: none (empty look-ups and Wd), one set per dtype
_NO_FEATURES = {t: (np.empty((0, 0, 0), np.int64), np.empty((0, 0, 0), t), np.empty((0, 0), t))
                for t in (np.float32, np.float64)}


def _as_sparse(features, x, joined: JoinedWeights, dtype) -> SparseFeatures:
    """The conditioned model's features, dense (T, m, n_d) or already look-ups, as checked
    look-ups (``layout.SparseFeatures``) in the computation's dtype."""
    T, m = x.shape[:2]
    n_d = None if joined.Wd is None else joined.Wd.shape[0]
    dense = not isinstance(features, SparseFeatures)
    if x.ndim != 2 or n_d is None or (features.shape if dense else features.index.shape[:2]) != (
            (T, m, n_d) if dense else (T, m)):
        raise LstmNumpyError("features need one-hot inputs as indices (T, m), weights joined with "
                             "their Wd (layout.dense_rows), and the shape (T, m, n_d).")
    if dense:
        return sparse_features(features, dtype)
    if features.index.size and not 0 <= features.index.min() <= features.index.max() < n_d:
        raise LstmNumpyError(f"the features' look-ups name columns outside 0..{n_d - 1}; make them "
                             "with layout.sparse_features.")
    return SparseFeatures(np.ascontiguousarray(features.index, np.int64),
                          np.ascontiguousarray(features.value, dtype))


def sequence_backward(cache: SequenceCache, dA=None, da_T=None, dc_T=None, need_dx: bool = False,
                      work: Optional[Workspace] = None, need_da0: bool = True) -> Dict[str, np.ndarray]:
    """The fast backward pass through time (the formulas of ``reference_backward``, in rows).

    cache: from ``sequence_forward``, spent here: its gate values are overwritten with the
    gradients on the pre-activations. dA: (T, m, n_a), upstream gradient on every hidden state
    a<1..T>, or None (training: the targets' loss gives it); da_T, dc_T (m, n_a): optional
    gradients on the final state (when the sequence continues beyond T).
    Returns dW_joined (n_a, width) = [dWa | dWy.T | 0] as the kernel wrote it, dWx (n_x, 4 n_a),
    db (4 n_a,) (``layout.course_gradients`` turns them into the course's dWf..dby), da0 and dc0
    (m, n_a) (da0 only when need_da0: training, which does not need it, saves a product),
    dby (n_y,) with targets, and dx (T, m, n_x) when need_dx is set (for one-hot
    inputs given as indices, the gradient on the one-hot vectors; it needs ``joined.fused``).
    With the conditioned model's features, dWx's last n_d rows are their weights' gradient
    (dWd, the course's layout extended), and need_dx gives dd (T, m, n_d), their own gradient.

    Per step the kernel takes one product for the gradient on a<t+1> from both its users,
    [dZ<t+1> | dY<t>] @ [Wa | Wy.T].T, and adds the weight gradients a<t+1>.T @ [dZ<t+1> | dY<t>]
    a run of steps at a time.
    """
    A, C, tanh_C, Q, x, joined = cache[:6]
    T, m, n_a = A.shape[0] - 1, A.shape[1], A.shape[2]
    n4 = 4 * n_a
    width = Q.shape[2]
    dtype = Q.dtype
    work = Workspace() if work is None else work
    dA = np.zeros((0, m, n_a), dtype) if dA is None else np.ascontiguousarray(dA, dtype)
    da = np.zeros((m, n_a), dtype) if da_T is None else np.array(da_T, dtype)
    dc = np.zeros((m, n_a), dtype) if dc_T is None else np.array(dc_T, dtype)
    dW = aligned_empty((n_a, width), dtype)  # dW, db and dWx: zeroed by the kernel
    db = np.empty(n4, dtype)
    # the hidden states as (n_a, m) blocks: the weight-gradient product reads them transposed
    steps = _steps_per_weight_gradient(m)
    chunk = work.array("chunk", (steps * m * n_a,), dtype)
    n_x = joined.x_rows.shape[0] - 1
    dWx = aligned_empty((n_x, n4), dtype)  # aligned rows: the features' gradient adds into them
    x_index = x if x.ndim == 2 else np.empty((0, 0), np.int64)  # one-hot: dWx in the kernel
    features = cache.features
    look_ups = _NO_FEATURES[dtype.type]
    if features is not None:  # dWd = sum over steps of d<t>.T @ dZ<t>, in dWx's last rows
        look_ups = (features.index, features.value, dWx[n_x - joined.Wd.shape[0]:])
    kernels.backward_kernel(Q, A, steps, chunk, C, tanh_C, joined.W_back_t, dA, da, dc, dW, db,
                            np.empty((m, n_a), dtype), np.ascontiguousarray(x_index, np.int64), dWx,
                            _strip_rows(), need_da0, *look_ups)
    dZ = Q[:T, :, :n4]
    if x.ndim == 3:
        dWx = x.reshape(T * m, n_x).astype(dtype, copy=False).T @ dZ.reshape(T * m, n4)
    grads = {"dW_joined": dW, "dWx": dWx, "db": db, "dc0": dc}
    if need_da0:
        grads["da0"] = da
    if need_dx and features is not None:
        plain = joined.Wd / _gate_scale(n_a, dtype)  # the halving undone, exactly
        grads["dd"] = (dZ.reshape(T * m, n4) @ plain.T).reshape(T, m, -1)
    elif need_dx:
        grads["dx"] = (dZ.reshape(T * m, n4) @ joined.fused.W[:, n_a:]).reshape(T, m, n_x)
    if cache.dby is not None:
        grads["dby"] = cache.dby
    return grads


class TrainingPasses(NamedTuple):
    """What ``training_passes`` gives: the loss (times scale), the most likely value at every step
    (T, m), and the gradients as ``sequence_backward`` returns them: dW_joined (n_a, width),
    dWx (n_x, 4 n_a), db (4 n_a,), dby (n_y,)."""

    loss: float
    predicted: np.ndarray
    dW_joined: np.ndarray
    dWx: np.ndarray
    db: np.ndarray
    dby: np.ndarray


def training_passes(x: np.ndarray, y: np.ndarray, scale: float, joined: JoinedWeights, work: Workspace,
                    features: Optional[SparseFeatures] = None) -> TrainingPasses:
    """``sequence_forward`` with targets, then ``sequence_backward`` without da0: what training
    runs on (its share of) a batch, from a0 = c0 = 0. Tested equal to those two, bit for bit.

    x: (T, m) int64 one-hot inputs as indices (-1: an all-zero input), C-contiguous; y: (T, m)
    int64 targets (-1: none); scale: the weight of one window in the loss; joined: from
    ``layout.join_compiled``, whose pass has found the weights finite; work: the Workspace
    whose arrays are reused (the results live in it until its next call); features: the
    conditioned model's look-ups (``layout.SparseFeatures``), C-contiguous, as fit makes them.

    The same two compiled calls, with only what training needs between them: the checks and
    conversions those functions make for any caller (and the small arrays they allocate) cost
    about 100 us per batch of Python, with the cache cold from the passes, where the course
    model's whole epoch takes about 3 ms.
    """
    T, m = x.shape
    n_a, width = joined.W_ay.shape
    n4 = 4 * n_a
    dtype = joined.W_ay.dtype
    A = work.array("A", (T + 1, m, n_a), dtype)
    C = work.array("C", (T + 1, m, n_a), dtype)
    tanh_C = work.array("tanh_C", (T, m, n_a), dtype)
    Q = work.array("Q", (T + 1, m, width), dtype)
    A[0] = 0
    C[0] = 0
    look_ups = _NO_FEATURES[dtype.type]
    if features is not None:
        look_ups = (features.index, features.value, joined.Wd)
    # the weights were checked by the join; the input rows are sums of them, which may still
    # overflow (as in sequence_forward, such inputs are refused), and the features are data
    if not (kernels.all_finite(joined.x_rows) and (features is None or kernels.all_finite(features.value))):
        raise LstmNumpyError("the LSTM's weights or inputs contain NaN or infinite values; check "
                             "them (after training, load a checkpoint saved before it diverged).")
    predicted = np.empty((T, m), np.int64)
    dby = np.zeros(width - n4, dtype)
    depth = _strip_rows()
    loss = kernels.forward_kernel(Q, A, C, tanh_C, joined.W_ay, joined.x_rows, x, joined.n_y, joined.by,
                                  y, dtype.type(scale), 1, predicted, dby, depth, *look_ups)
    n_x = joined.x_rows.shape[0] - 1
    dW = work.array("dW", (n_a, width), dtype)  # dW, db and dWx: zeroed by the kernel
    dWx = work.array("dWx", (n_x, n4), dtype)
    db = work.array("db", (n4,), dtype)
    steps = _steps_per_weight_gradient(m)
    chunk = work.array("chunk", (steps * m * n_a,), dtype)
    da = work.array("da", (3, m, n_a), dtype)
    da[:2] = 0  # da and dc: no gradient on the final state; da[2]: scratch
    if features is not None:
        look_ups = (features.index, features.value, dWx[n_x - joined.Wd.shape[0]:])
    kernels.backward_kernel(Q, A, steps, chunk, C, tanh_C, joined.W_back_t, _NO_GRADIENT[dtype.type],
                            da[0], da[1], dW, db, da[2], x, dWx, depth, False, *look_ups)
    return TrainingPasses(loss, predicted, dW, dWx, db, dby[: joined.n_y])


# no upstream gradient on the hidden states (training's comes from the targets), per dtype
_NO_GRADIENT = {t: np.zeros((0, 0, 0), t) for t in (np.float32, np.float64)}


def _steps_per_weight_gradient(m: int) -> int:
    """How many steps' states the backward pass adds into dW with one product: about 256 rows
    of Q (m per step), so that a large dW is read and written once per run of steps."""
    return max(1, 256 // m)


@lru_cache(maxsize=None)
def _strip_rows() -> int:
    """``machine.strip_rows``, read once: it is fixed for the process, and costs a few
    microseconds per call, twice per batch."""
    return machine.strip_rows()


_blas_controller = None  # (how many modules were imported, the controller made then)


def one_blas_thread():
    """A context in which BLAS runs on one thread (a no-op without threadpoolctl).

    Training's time loops use no BLAS, but a few small products remain around them (dense
    inputs, the initial weights' QR). Products that small are slower split over two threads than
    on one (21 us against 16 us, measured on the course model's step), and when the machine's
    cores are busy with other work, waiting for the second thread made whole training runs eight
    times slower. Training and ``model.loss_and_gradients`` therefore run inside this context.
    BLAS's thread count is one setting for the whole process, so enter it from one thread (the
    caller's), not from worker threads.
    """
    global _blas_controller
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover
        return nullcontext()
    # The controller lists the BLAS libraries loaded when it is made; one loaded later (by an
    # import: SciPy's, PyTorch's) would keep its threads. So it is made again once the process
    # has imported more modules, and kept otherwise (making it reads every loaded library).
    if _blas_controller is None or _blas_controller[0] != len(sys.modules):
        _blas_controller = (len(sys.modules), ThreadpoolController())
    return _blas_controller[1].limit(limits=1, user_api="blas")


# --------------------------------------------------------------------------------------------
# The course's functions: the passes in the course's shapes
# --------------------------------------------------------------------------------------------


def _joined_gates(parameters: Dict[str, np.ndarray], dtype) -> JoinedWeights:
    """The four gates' weights joined, without the Dense layer (the course's cell has none)."""
    return join({k: parameters[k] for k in PARAMETER_NAMES[:8]}, dtype)


def _input_rows(x: np.ndarray, dtype) -> np.ndarray:
    """Course inputs (n_x, m, T) as the fast path's (T, m) indices when one-hot, else (T, m, n_x)."""
    idx = one_hot_indices(x, axis=0)
    if idx is not None:
        return np.ascontiguousarray(idx.T)
    return np.ascontiguousarray(x.transpose(2, 1, 0), dtype)


def _course_outputs(seq: SequenceCache, x: np.ndarray, parameters):
    """a, y, c (n, m, T) and the course's per-step caches, all from one SequenceCache.

    The caches' arrays are views of the SequenceCache's (transposed to columns), not copies.
    """
    A, C, G = seq.A, seq.C, seq.G
    n_a = A.shape[2]
    dtype = A.dtype
    Wy = np.asarray(parameters["Wy"], dtype)
    by = np.asarray(parameters["by"], dtype)
    y = softmax(A[1:] @ Wy.T + by[:, 0], axis=-1)  # (T, m, n_y), the Dense layer on every a<t>
    step_caches = []
    for t in range(G.shape[0]):
        gates = [G[t, :, k * n_a : (k + 1) * n_a].T for k in range(4)]  # ft, it, cct, ot
        step_caches.append((A[t + 1].T, C[t + 1].T, A[t].T, C[t].T, *gates, x[:, :, t], parameters))
    columns = [np.ascontiguousarray(v.transpose(2, 1, 0)) for v in (A[1:], y, C[1:])]
    return columns, step_caches


def _sequence_cache(step_caches, x_rows: np.ndarray, dtype) -> SequenceCache:
    """The course's per-step caches put back into one SequenceCache (rows), for sequence_backward."""
    def rows(arrays):  # (n, m) columns, one per step -> (steps, m, n)
        return np.ascontiguousarray(np.stack([v.T for v in arrays]), dtype)

    A = rows([step_caches[0][2]] + [s[0] for s in step_caches])
    C = rows([step_caches[0][3]] + [s[1] for s in step_caches])
    G = rows([np.concatenate(s[4:8], axis=0) for s in step_caches])
    joined = _joined_gates(step_caches[0][9], dtype)
    Q = np.zeros((G.shape[0] + 1, G.shape[1], joined.W_ay.shape[1]), dtype)
    Q[:-1, :, : G.shape[2]] = G  # no step after the last: zero gates
    return SequenceCache(A, C, np.tanh(C[1:]), Q, x_rows, joined)


def lstm_cell_forward(xt, a_prev, c_prev, parameters):
    """One LSTM step (the formulas: ``reference_cell_forward``), run by the training path.

    xt: (n_x, m) input; a_prev, c_prev: (n_a, m) hidden and memory state.
    parameters: Wf, Wi, Wc, Wo (n_a, n_a + n_x) acting on [a_prev; xt], bf, bi, bc, bo (n_a, 1),
        Wy (n_y, n_a), by (n_y, 1).
    Returns a_next, c_next (n_a, m), yt_pred = softmax(Wy a_next + by) (n_y, m), and the course's
    cache (a_next, c_next, a_prev, c_prev, ft, it, cct, ot, xt, parameters) for lstm_cell_backward.

    This is ``sequence_forward`` over T = 1 step, starting from a_prev and c_prev.
    """
    dtype = np.result_type(xt, a_prev, c_prev, parameters["Wf"])
    x = np.asarray(xt)[:, :, None]  # (n_x, m, 1): a sequence of one step
    seq = sequence_forward(_input_rows(x, dtype), np.asarray(a_prev, dtype).T,
                           np.asarray(c_prev, dtype).T, _joined_gates(parameters, dtype))
    (a, y, c), caches = _course_outputs(seq, x, parameters)
    a_next, c_next = a[:, :, 0], c[:, :, 0]
    ft, it, cct, ot = caches[0][4:8]
    cache = (a_next, c_next, a_prev, c_prev, ft, it, cct, ot, xt, parameters)
    return a_next, c_next, y[:, :, 0], cache


def lstm_forward(x, a0, parameters):
    """Run the cell over T_x steps from a0 and c0 = 0 (the formulas: ``reference_forward``).

    x: (n_x, m, T_x); a0: (n_a, m).
    Returns a (n_a, m, T_x), y (n_y, m, T_x), c (n_a, m, T_x), and caches = (list of step
    caches, x) for lstm_backward.

    This is ``sequence_forward``, the pass training runs; one-hot inputs are recognised and
    looked up by index, as in training.
    """
    dtype = np.result_type(x, a0, parameters["Wf"])
    a0_rows = np.asarray(a0, dtype).T
    seq = sequence_forward(_input_rows(x, dtype), a0_rows, np.zeros_like(a0_rows),
                           _joined_gates(parameters, dtype))
    (a, y, c), step_caches = _course_outputs(seq, x, parameters)
    return a, y, c, (step_caches, x)


def lstm_cell_backward(da_next, dc_next, cache):
    """Gradients of one step (the formulas: ``reference_cell_backward``), by the training path.

    da_next, dc_next: (n_a, m) upstream gradients on a_next and c_next; cache: from
    lstm_cell_forward. Returns a dict with dxt (n_x, m), da_prev, dc_prev (n_a, m), dWf, dWi, dWc,
    dWo (n_a, n_a + n_x) and dbf, dbi, dbc, dbo (n_a, 1). The Dense layer (Wy, by) is not part of
    the cell's backward pass: its gradient enters through da_next.

    This is ``sequence_backward`` over the one step, with dc_next as the gradient on the final
    memory.
    """
    dtype = np.result_type(da_next, dc_next, cache[4])
    seq = _sequence_cache([cache], _input_rows(np.asarray(cache[8])[:, :, None], dtype), dtype)
    dA = np.ascontiguousarray(np.asarray(da_next, dtype).T[None])
    g = sequence_backward(seq, dA, dc_T=np.asarray(dc_next, dtype).T, need_dx=True)
    grads = course_gradients(g["dW_joined"], g["dWx"], g["db"])
    grads.update(dxt=np.ascontiguousarray(g["dx"][0].T), da_prev=np.ascontiguousarray(g["da0"].T),
                 dc_prev=np.ascontiguousarray(g["dc0"].T))
    return grads


def lstm_backward(da, caches):
    """Backprop through time over the whole sequence (the formulas: ``reference_backward``).

    da: (n_a, m, T_x), the upstream gradient on every hidden state a<t> (for example from a
    Dense layer on each step). Returns a dict with dx (n_x, m, T_x), da0 (n_a, m), and dWf, dWi,
    dWc, dWo, dbf, dbi, dbc, dbo summed over the steps, since every step shares the weights.

    This is ``sequence_backward``, the pass training runs, with dx computed (need_dx).
    """
    step_caches, x = caches
    dtype = np.result_type(da, step_caches[0][4])
    seq = _sequence_cache(step_caches, _input_rows(np.asarray(x), dtype), dtype)
    dA = np.ascontiguousarray(np.asarray(da, dtype).transpose(2, 1, 0))
    g = sequence_backward(seq, dA, need_dx=True)
    grads = {"dx": np.ascontiguousarray(g["dx"].transpose(2, 1, 0)),
             "da0": np.ascontiguousarray(g["da0"].T)}
    grads.update(course_gradients(g["dW_joined"], g["dWx"], g["db"]))
    return grads
