"""The LSTM, step by step: forward, backprop through time, and the fast path training uses.

The file has four parts, and one code path: the course's functions run the very passes
training runs.

1. **The formulas**, in plain NumPy and the course's column layout (one example per column),
   written as they read. For one step, with ``concat = [a_prev; xt]`` of shape (n_a + n_x, m)::

       ft  = sigmoid(Wf @ concat + bf)        forget gate        (n_a, m)
       it  = sigmoid(Wi @ concat + bi)        update gate
       cct = tanh(Wc @ concat + bc)           candidate memory
       ot  = sigmoid(Wo @ concat + bo)        output gate
       c_next = ft * c_prev + it * cct
       a_next = ot * tanh(c_next)
       yt_pred = softmax(Wy @ a_next + by)    (n_y, m)

   ``reference_cell_forward``, ``reference_forward``, ``reference_cell_backward`` and
   ``reference_backward`` are these formulas and their derivatives, nothing more. Training does
   not call them: they are the reference the fast kernels below are tested equal to.

2. **The fused layout** the fast path runs on (rows: one example per row). The four gates sit side
   by side in one matrix, so a step is one matrix product instead of four::

       z = [a_prev, xt] @ [Wf; Wi; Wc; Wo].T  =  a_prev @ Wa  +  xt @ Wx      (m, 4 n_a)

   Two rewrites make it cheap, and neither changes the math:

   * **One-hot inputs are row look-ups.** When xt is the one-hot vector of value k, ``xt @ Wx``
     multiplies a row of zeros and a single 1 into Wx: the result is exactly row k of Wx. So the
     training path stores inputs as integer indices and copies rows instead of multiplying. An
     all-zero input (the course's x<1>) is index -1, which picks an extra row of zeros.
   * **One tanh for all four gates.** sigmoid(x) = 1 / (1 + e^-x) = (1 + tanh(x / 2)) / 2. The
     columns of Wa, Wx and b that feed the three sigmoid gates are stored pre-halved (halving is
     exact in binary floating point), so a single ``np.tanh`` over the whole (m, 4 n_a) block
     gives every gate, and the sigmoid gates are finished with ``0.5 + 0.5 * t``. The reference
     uses the same tanh form of the sigmoid, so both compute the same numbers.

3. **The fast kernels.** Each pass through time is one compiled call (part 3c): the time loop,
   its products and the arithmetic between them never return to Python, so a step costs only
   its arithmetic. Four design choices carry the speed:

   * **The output layer rides on the recurrence.** The hidden state a<t> feeds two products,
     step t's gates (through Wa) and output t - 1's logits (through Wy), so forward takes one
     product a<t> @ [Wa | Wy.T] per step and finishes the softmax and its loss gradient right
     there. Backward mirrors it: a<t>'s gradient comes from both users in one product,
     [dZ<t> | dY<t-1>] @ [Wa | Wy.T].T, and one more adds the step's share of dWa and dWy,
     a<t>.T @ [dZ<t> | dY<t-1>], while those rows are still in cache. The buffer Q holds, per
     step, the gates then the output gradient side by side, so both products read it as it is;
     backward overwrites the gates with their gradients in place.
   * **Our own products, not BLAS.** ``matmul_add`` (four rows of a by four rows of W per pass)
     and ``matmul_t_add`` (sixteen dot products at a time) are plain loops that the compiler
     turns into 512-bit SIMD code on AVX-512 machines; on the course model's shapes they ran
     180-220 GFLOP/s on one core of our machine, where OpenBLAS (which picks its AVX2 kernels
     on this CPU) ran 110-120, and a call costs nothing inside a compiled loop.
   * **Padded, aligned rows.** Rows of Q and of the joined weights are padded to a multiple of
     16 numbers and start on 64-byte boundaries (``padded``, ``aligned_empty``), so SIMD loops
     have no scalar remainder: 15-30% on the products and most of the softmax's time.
   * **exp and tanh from arithmetic.** numba compiles ``np.exp``/``np.tanh`` in a loop to one
     scalar library call per element (about 7 ns each here; the PyPI llvmlite has no vector
     math library). ``_exp`` and ``_tanh`` (part 3b) are polynomial arithmetic the compiler
     vectorises, about 0.25 ns per element in float32.

   Sampling is the same idea at batch 1: many tiny steps, each needing the one before, run in
   one compiled call. ``cell_step`` (part 3b) is its step kernel, with products blocked four
   examples by four weight rows (``affine``); ``sampling.py`` calls it for every step.

   Two more things matter as much as the arithmetic. Large scratch arrays are reused from
   batch to batch (``Workspace``): fresh ones cost the operating system a page fault per 4 KiB
   on first touch, about 1.7 ms per batch. And to use a second core, training splits each
   batch's windows between threads (``model.train(threads=2)``), which all run these same
   kernels (``nogil=True``: they release Python's global lock).

4. **The course's functions**, ``lstm_cell_forward``, ``lstm_forward``, ``lstm_cell_backward``
   and ``lstm_backward``: the course's names, shapes and caches, as thin wrappers around
   ``sequence_forward`` and ``sequence_backward`` (a cell step is a sequence of one step). Each
   one's docstring names the reference function that shows its formulas.

``tests/test_lstm.py`` holds the fast path, and the course's functions through it, equal to the
reference (float64 to 1e-12, float32 to 1e-5) and checks both against finite differences.

Kernels are compiled on first use (``cache=True`` keeps them on disk); importing this module
compiles nothing. All kernels keep float32 as float32: their constants are made with the array's
own dtype (a bare ``0.5`` would silently promote the arithmetic to float64).
"""

from __future__ import annotations

import math
from contextlib import nullcontext
from typing import Dict, NamedTuple, Optional, Tuple

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic, overload

from .errors import LstmNumpyError

GATES = ("f", "i", "c", "o")  # order of the gate blocks in the fused matrices


# --------------------------------------------------------------------------------------------
# Activations
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# 1. The formulas: the plain NumPy reference (column layout)
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# 2. The fused layout (rows)
# --------------------------------------------------------------------------------------------


class FusedLSTM(NamedTuple):
    """The cell's weights in the fast path's layout (rows: one example per row).

    Gate blocks are ordered f, i, c, o along the last axis, each n_a wide. In Wa, Wx and b the
    f, i and o blocks are halved (see the module docstring); W is the plain course stack, used
    by the backward pass.

    Wa: (n_a, 4 n_a)       acts on a_prev
    Wx: (n_x + 1, 4 n_a)   row k is the input weights of value k; the last row is zeros, so
                           index -1 (an all-zero input) adds nothing
    b:  (4 n_a,)
    W:  (4 n_a, n_a + n_x) [Wf; Wi; Wc; Wo], not halved
    """

    Wa: np.ndarray
    Wx: np.ndarray
    b: np.ndarray
    W: np.ndarray

    @property
    def n_a(self) -> int:
        return self.Wa.shape[0]


def fuse_parameters(parameters: Dict[str, np.ndarray]) -> FusedLSTM:
    """Rearrange the course's Wf..Wo, bf..bo into the fused layout (a few small copies)."""
    names = [w + g for w in ("W", "b") for g in GATES]  # Wf, Wi, Wc, Wo, bf, bi, bc, bo
    dtype = np.result_type(*(parameters[k] for k in names))
    arrays = [np.asarray(parameters[k], dtype) for k in names]
    W = np.concatenate(arrays[:4])  # (4 n_a, n_a + n_x)
    return FusedLSTM(*_fuse_stacked(W, np.concatenate(arrays[4:])[:, 0]), W)


def fuse_gates(Wf, Wi, Wc, Wo, bf, bi, bc, bo):
    """The fused, halved Wa (n_a, 4 n_a), Wx (n_x + 1, 4 n_a) and b (4 n_a,) of ``FusedLSTM``.

    Wf..Wo (n_a, n_a + n_x) act on [a_prev; xt]; bf..bo (n_a, 1).
    """
    return _fuse_stacked(np.concatenate([Wf, Wi, Wc, Wo]), np.concatenate([bf, bi, bc, bo])[:, 0])


def _fuse_stacked(W, b):
    """Wa, Wx, b of the fused layout from W = [Wf; Wi; Wc; Wo] (4 n_a, n_a + n_x), b (4 n_a,).

    Plain NumPy: training calls it once per batch and sampling once per model (it keeps the
    result), so a compiled version saved nothing worth its half second of compilation.
    """
    n4, n_in = W.shape
    n_a = n4 // 4
    scale = _gate_scale(n_a, W.dtype)
    Wa = np.empty((n_a, n4), W.dtype)
    np.multiply(W[:, :n_a].T, scale, out=Wa)
    Wx = np.empty((n_in - n_a + 1, n4), W.dtype)
    np.multiply(W[:, n_a:].T, scale, out=Wx[:-1])
    Wx[-1] = 0  # the zero input's row
    return Wa, Wx, b * scale


def _gate_scale(n_a: int, dtype) -> np.ndarray:
    """(4 n_a,) 0.5 for the sigmoid gates' columns, 1 for the candidate's: the halving."""
    scale = np.full(4 * n_a, 0.5, dtype)
    scale[2 * n_a : 3 * n_a] = 1
    return scale


def unfuse_gradients(dWa: np.ndarray, dWx: np.ndarray, db: np.ndarray) -> Dict[str, np.ndarray]:
    """Gradients in the fused layout -> the course's dWf..dWo (n_a, n_a + n_x), dbf..dbo (n_a, 1).

    dWa (n_a, 4 n_a), dWx (n_x, 4 n_a) and db (4 n_a,) are gradients on the plain (not halved)
    weights. The returned arrays are C-ordered blocks of one stacked array.
    """
    n_a = dWa.shape[0]
    stacked = np.empty((4 * n_a, n_a + dWx.shape[0]), dWa.dtype)  # [dWf; dWi; dWc; dWo]
    stacked[:, :n_a], stacked[:, n_a:] = dWa.T, dWx.T
    return _gate_blocks(stacked, db)


def _gate_blocks(stacked: np.ndarray, db: np.ndarray) -> Dict[str, np.ndarray]:
    """dWf..dWo as the row blocks of stacked [dWf; dWi; dWc; dWo], dbf..dbo (n_a, 1) as blocks of
    a copy of db (the blocks must not share memory with the caller's db)."""
    n_a = stacked.shape[0] // 4
    db = np.array(db, stacked.dtype)
    grads = {}
    for k, gate in enumerate(GATES):
        block = slice(k * n_a, (k + 1) * n_a)
        grads["dW" + gate] = stacked[block]
        grads["db" + gate] = db[block, None]
    return grads


def course_gradients(dW_joined: np.ndarray, dWx: np.ndarray, db: np.ndarray,
                     dby: np.ndarray) -> Dict[str, np.ndarray]:
    """The course's dWf..dWo, dbf..dbo, dWy, dby from the training passes' gradients, compiled.

    dW_joined (n_a, width): [dWa | dWy.T | 0] as ``sequence_backward`` returns it; dWx
    (n_x, 4 n_a), db (4 n_a,), dby (n_y,). ``unfuse_gradients`` is the readable NumPy version
    of the gate part (tested equal); this one runs in one pass, on every training batch.
    """
    n_a, n_y = dW_joined.shape[0], dby.shape[0]
    n_x = dWx.shape[0]
    dtype = dW_joined.dtype
    stacked = np.empty((4 * n_a, n_a + n_x), dtype)  # [dWf; dWi; dWc; dWo]
    dWy = np.empty((n_y, n_a), dtype)
    _course_gradients_kernel(np.ascontiguousarray(dW_joined), np.ascontiguousarray(dWx),
                             stacked, dWy)
    grads = _gate_blocks(stacked, db)
    grads["dWy"], grads["dby"] = dWy, np.array(dby, dtype)[:, None]
    return grads


@njit(cache=True, nogil=True)
def _course_gradients_kernel(dW_joined, dWx, stacked, dWy):
    """``course_gradients``'s pass: stacked (4 n_a, n_a + n_x) and dWy (n_y, n_a), written."""
    n_a = dW_joined.shape[0]
    n4, n_in = stacked.shape
    for r in range(n4):  # row r of [dWf; ..; dWo] is column r of dWa, then of dWx
        for k in range(n_a):
            stacked[r, k] = dW_joined[k, r]
        for k in range(n_in - n_a):
            stacked[r, n_a + k] = dWx[k, r]
    for v in range(dWy.shape[0]):
        for k in range(n_a):
            dWy[v, k] = dW_joined[k, n4 + v]


def one_hot_indices(x: np.ndarray, axis: int = -1) -> Optional[np.ndarray]:
    """Indices of one-hot rows along ``axis`` (-1 for an all-zero row), or None if x isn't one-hot.

    The course's X and Y are one-hot, apart from the all-zero x<1> and y<Tx>.
    """
    idx = np.argmax(x, axis=axis)
    hot = np.take_along_axis(x, np.expand_dims(idx, axis), axis=axis).squeeze(axis)
    if not (np.all((hot == 1) | (hot == 0)) and np.array_equal(x.sum(axis=axis), hot)):
        return None
    return np.where(hot == 1, idx, -1).astype(np.int64)


# --------------------------------------------------------------------------------------------
# 3a. The sequence passes training runs: what they take and return (their kernels: part 3c)
# --------------------------------------------------------------------------------------------


class Workspace:
    """Scratch arrays reused from one batch to the next.

    A fresh multi-megabyte array is new memory for the operating system to map, page by page,
    on first touch; measured on the course model that costs about 1.7 ms per batch, more than the
    forward pass itself. Training therefore keeps its large arrays here and reuses them. Arrays
    handed out are views of one flat buffer per name, so batches of different sizes (32, then
    28) share it, and every view is C-contiguous.
    """

    def __init__(self) -> None:
        self._buffers: Dict[str, np.ndarray] = {}

    def array(self, name: str, shape: Tuple[int, ...], dtype) -> np.ndarray:
        """An uninitialised C-contiguous, 64-byte aligned array of this shape, reusing the
        buffer called name."""
        size = int(np.prod(shape))
        buf = self._buffers.get(name)
        if buf is None or buf.size < size or buf.dtype != np.dtype(dtype):
            buf = self._buffers[name] = aligned_empty(size, dtype)
        return buf[:size].reshape(shape)


def aligned_empty(shape, dtype) -> np.ndarray:
    """np.empty, but starting on a 64-byte boundary (a cache line, and one AVX-512 register).

    The compiled loops read rows with SIMD loads; rows that start mid-line made the products
    15-30% slower (measured on the course model). NumPy itself only promises 16 bytes.
    """
    dtype = np.dtype(dtype)
    size = int(np.prod(shape))
    raw = np.empty(size * dtype.itemsize + 64, np.uint8)
    start = -raw.ctypes.data % 64
    return raw[start : start + size * dtype.itemsize].view(dtype).reshape(shape)


def padded(n: int) -> int:
    """n rounded up to a multiple of 16: row widths at which SIMD loops have no remainder and,
    in float32, every row starts on a 64-byte boundary."""
    return -(-n // 16) * 16


def _empty(work: Optional[Workspace], name: str, shape, dtype) -> np.ndarray:
    return aligned_empty(shape, dtype) if work is None else work.array(name, shape, dtype)


_blas_controller = None


def one_blas_thread():
    """A context in which BLAS runs on one thread (a no-op without threadpoolctl).

    Training's time loops use no BLAS (part 3c), but a few small products remain around them
    (dense inputs, the initial weights' QR). Products that small are slower split over two
    threads than on one (21 us against 16 us, measured on the course model's step), and when
    the machine's cores are busy with other work, waiting for the second thread made whole
    training runs eight times slower. ``model.train`` and ``model.loss_and_gradients`` therefore
    run inside this context. BLAS's thread count is one setting for the whole process, so enter
    it from one thread (the caller's), not from worker threads.
    """
    global _blas_controller
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover
        return nullcontext()
    if _blas_controller is None:
        _blas_controller = ThreadpoolController()
    return _blas_controller.limit(limits=1, user_api="blas")


class SequenceCache(NamedTuple):
    """What ``sequence_forward`` keeps for the backward pass (time-major, rows are examples).

    A: (T + 1, m, n_a)  A[0] = a0, A[t + 1] = a<t+1>
    C: (T + 1, m, n_a)  C[0] = c0, likewise
    tanh_C: (T, m, n_a)  tanh(C[t + 1])
    Q: (T + 1, m, width)  per row: Q[t, :, :4 n_a] the gate values ft, it, cct, ot of step t
        (Q[T]'s are zeros), Q[t, :, 4 n_a : 4 n_a + n_y] the output layer's gradient on the
        logits of the output at step t - 1 (Q[0]'s are zeros), then zeros up to the width,
        4 n_a + n_y rounded up by ``padded``. n_y = 0 without an output layer.
    x: (T, m) int indices of one-hot inputs (-1: all-zero input), or (T, m, n_x) dense inputs
    output: the OutputLayer joined on, or None
    loss: with an output layer, the cross-entropy summed over steps and windows, times scale
    predicted: with an output layer, (T, m) the most likely value at every step, else None
    dby: with an output layer, (n_y,) the gradient on by, else None
    """

    A: np.ndarray
    C: np.ndarray
    tanh_C: np.ndarray
    Q: np.ndarray
    x: np.ndarray
    output: Optional["OutputLayer"] = None
    loss: float = 0.0
    predicted: Optional[np.ndarray] = None
    dby: Optional[np.ndarray] = None

    @property
    def G(self) -> np.ndarray:
        """(T, m, 4 n_a) the gate values of every step (a view of Q)."""
        n4 = 4 * self.A.shape[2]
        return self.Q[:-1, :, :n4]


class OutputLayer(NamedTuple):
    """The course's Dense softmax layer and its targets, joined onto the recurrence in training.

    Wy: (n_y, n_a), by: (n_y,) the layer; y: (T, m) the target value of every output (-1: none,
    the course's all-zero y<Tx>); scale: the weight of one window in the loss (1 / batch size).
    """

    Wy: np.ndarray
    by: np.ndarray
    y: np.ndarray
    scale: float


class JoinedWeights(NamedTuple):
    """The weights as the compiled passes read them (``join_weights``), padded and aligned.

    W_ay: (n_a, width) [Wa | Wy.T | 0], the sigmoid gates' columns halved: forward's product
    W_back_t: (n_a, width) [Wa | Wy.T | 0], plain: backward's products
    x_rows: (n_x + 1, 4 n_a) Wx + b, the input term of each one-hot value (last row: b alone,
        for the all-zero input)
    by: (width - 4 n_a,) the output bias, zero-padded
    n_y: the output layer's size (0: none)
    """

    W_ay: np.ndarray
    W_back_t: np.ndarray
    x_rows: np.ndarray
    by: np.ndarray
    n_y: int


def join_weights(fused: FusedLSTM, Wy=None, by=None) -> JoinedWeights:
    """The JoinedWeights of fused and, if given, the Dense layer Wy (n_y, n_a), by (n_y, 1).

    Training builds them once per batch and hands them to every thread's passes.
    """
    Wa, Wx, b, W = fused
    dtype = Wa.dtype
    n_a = fused.n_a
    n4 = 4 * n_a
    n_y = 0 if Wy is None else Wy.shape[0]
    width = padded(n4 + n_y)
    W_ay = aligned_empty((n_a, width), dtype)
    W_back_t = aligned_empty((n_a, width), dtype)
    W_ay[:, :n4] = Wa
    np.divide(Wa, _gate_scale(n_a, dtype), out=W_back_t[:, :n4])  # exact: halving undone
    W_ay[:, n4:] = W_back_t[:, n4:] = 0
    padded_by = np.zeros(width - n4, dtype)
    if n_y:
        W_ay[:, n4 : n4 + n_y] = W_back_t[:, n4 : n4 + n_y] = np.asarray(Wy, dtype).T
        padded_by[:n_y] = np.asarray(by, dtype).reshape(n_y)
    return JoinedWeights(W_ay, W_back_t, Wx + b, padded_by, n_y)


def join_parameters(parameters: Dict[str, np.ndarray], dtype=None,
                    work: Optional[Workspace] = None) -> JoinedWeights:
    """``join_weights(fuse_parameters(parameters), Wy, by)`` in one compiled pass (training's).

    parameters: the course's Wf..Wo, bf..bo, Wy, by; dtype: the computation's (default: theirs).
    The arrays live in work when given (reused from batch to batch). Returns None when any
    parameter is NaN or infinite (the pass checks them on the way). Tested equal to the NumPy
    version, which stays the readable definition.
    """
    names = ("Wf", "Wi", "Wc", "Wo", "bf", "bi", "bc", "bo", "Wy", "by")
    if dtype is None:
        dtype = np.result_type(*(parameters[k] for k in names))
    arrays = [np.ascontiguousarray(parameters[k], dtype) for k in names]
    n_a, n_y = arrays[0].shape[0], arrays[8].shape[0]
    n4 = 4 * n_a
    width = padded(n4 + n_y)
    W_ay = _empty(work, "W_ay", (n_a, width), dtype)
    W_back_t = _empty(work, "W_back_t", (n_a, width), dtype)
    x_rows = _empty(work, "x_rows", (arrays[0].shape[1] - n_a + 1, n4), dtype)
    by = _empty(work, "by", (width - n4,), dtype)
    if not _join_kernel(*arrays, W_ay, W_back_t, x_rows, by):
        return None
    return JoinedWeights(W_ay, W_back_t, x_rows, by, n_y)


def sequence_forward(x, a0, c0, fused: FusedLSTM, work: Optional[Workspace] = None,
                     output: Optional[OutputLayer] = None,
                     joined: Optional[JoinedWeights] = None) -> SequenceCache:
    """The fast forward pass over T steps (the formulas of ``reference_forward``, in rows).

    x: (T, m) int64 one-hot indices (-1 for an all-zero input), or (T, m, n_x) dense inputs.
    a0, c0: (m, n_a). fused: from ``fuse_parameters``; its dtype is the computation's dtype (may
    be None when joined is given and x holds indices).
    work: a Workspace to reuse memory from (the returned arrays then live in it, until the next
    call with the same workspace).
    output: the Dense softmax layer and targets; with it, the loss, the predictions and the
    layer's gradient on its logits are computed in the same pass (what training runs).
    joined: ``join_weights(fused, output.Wy, output.by)`` if the caller has it already.
    Returns the SequenceCache; the hidden states are cache.A[1:], the final state A[-1], C[-1].

    The steps run in one compiled call (``_forward_kernel``): per step, the input term
    x @ Wx + b (for one-hot inputs a row of Wx + b, copied), then one product
    a<t> @ [Wa | Wy.T], which gives step t's gates and, in the same pass over a<t>, the logits
    of the output at step t - 1; the gates, the cell update and the softmax follow.
    """
    if joined is None:
        joined = join_weights(fused, *(() if output is None else (output.Wy, output.by)))
    dtype = joined.W_ay.dtype
    n_a = joined.W_ay.shape[0]
    T, m = x.shape[:2]
    n_y = joined.n_y
    A = _empty(work, "A", (T + 1, m, n_a), dtype)
    C = _empty(work, "C", (T + 1, m, n_a), dtype)
    tanh_C = _empty(work, "tanh_C", (T, m, n_a), dtype)
    Q = _empty(work, "Q", (T + 1, m, joined.W_ay.shape[1]), dtype)
    A[0], C[0] = a0, c0
    if x.ndim == 2:
        # row k of x_rows is x @ Wx + b for the one-hot x of value k, and index -1 picks the
        # last row (b alone): the kernel copies rows instead of multiplying
        x_rows, x_index = joined.x_rows, x
    else:  # dense inputs need the fused weights themselves
        x_rows = x.reshape(T * m, -1).astype(dtype, copy=False) @ fused.Wx[:-1] + fused.b
        x_index = np.arange(T * m).reshape(T, m)
    if not all(all_finite(v) for v in (joined.W_ay, x_rows, joined.by, A[0], C[0])):
        # the kernels assume finite numbers (FAST_MATH): NaN would not even propagate
        raise LstmNumpyError("the LSTM's weights, initial state or inputs contain NaN or infinite "
                             "values; check them (after training, load a checkpoint saved before "
                             "it diverged).")
    y = np.empty((0, 0), np.int64) if output is None else np.asarray(output.y, np.int64)
    predicted = np.empty((T, m) if n_y else (0, 0), np.int64)
    dby = np.zeros(joined.by.shape[0], dtype)
    start = 0 if np.any(a0) else 1  # a0 = 0 adds nothing to the first step
    scale = 0.0 if output is None else output.scale
    loss = _forward_kernel(Q, A, C, tanh_C, joined.W_ay, x_rows, np.asarray(x_index, np.int64),
                           n_y, joined.by, y, dtype.type(scale), start, predicted, dby)
    if output is None:
        return SequenceCache(A, C, tanh_C, Q, x)
    return SequenceCache(A, C, tanh_C, Q, x, output, loss, predicted, dby[:n_y])


def sequence_backward(dA, cache: SequenceCache, fused: FusedLSTM, da_T=None, dc_T=None,
                      need_dx: bool = False, work: Optional[Workspace] = None,
                      joined: Optional[JoinedWeights] = None) -> Dict[str, np.ndarray]:
    """The fast backward pass through time (the formulas of ``reference_backward``, in rows).

    dA: (T, m, n_a), upstream gradient on every hidden state a<1..T>, or None (training: the
    output layer in the cache gives it); da_T, dc_T (m, n_a): optional gradients on the final
    state (when the sequence continues beyond T).
    Returns dWa (n_a, 4 n_a), dWx (n_x, 4 n_a), db (4 n_a,) on the plain weights (see
    ``unfuse_gradients``), da0 and dc0 (m, n_a), dx (T, m, n_x) when need_dx is set (for one-hot
    inputs given as indices, the gradient on the one-hot vectors), and with an output layer
    dWy (n_y, n_a) and dby (n_y,); dW_joined (n_a, width) holds dWa and dWy.T side by side, as
    the kernel wrote them (``course_gradients`` reads them from there).
    joined: as for ``sequence_forward``.
    The cache is spent: its gate values are overwritten with the gradients on the pre-activations.

    The steps run in one compiled call (``_backward_kernel``): per step one product gives the
    gradient on a<t+1> from both its users, [dZ<t+1> | dY<t>] @ [Wa | Wy.T].T, and one more adds
    the step's share of every weight gradient, a<t+1>.T @ [dZ<t+1> | dY<t>].
    """
    A, C, tanh_C, Q, x = cache[:5]
    T, m, n_a = A.shape[0] - 1, A.shape[1], A.shape[2]
    n4 = 4 * n_a
    width = Q.shape[2]
    dtype = Q.dtype
    W = None if fused is None else fused.W  # needed only for dense inputs and for dx
    if joined is None:
        joined = join_weights(fused, *(() if cache.output is None else cache.output[:2]))
    W_back_t = joined.W_back_t
    dA = np.zeros((0, m, n_a), dtype) if dA is None else np.ascontiguousarray(dA, dtype)
    da = np.zeros((m, n_a), dtype) if da_T is None else np.array(da_T, dtype)
    dc = np.zeros((m, n_a), dtype) if dc_T is None else np.array(dc_T, dtype)
    dW = aligned_empty((n_a, width), dtype)
    dW[...] = 0
    db = np.zeros(n4, dtype)
    # the hidden states as (n_a, m) blocks: the weight-gradient product reads them transposed
    steps = max(1, 256 // m)  # steps per weight-gradient product: about 256 rows of Q
    chunk = _empty(work, "chunk", (steps * m * n_a,), dtype)
    n_x = joined.x_rows.shape[0] - 1
    dWx = np.zeros((n_x, n4), dtype)
    x_index = x if x.ndim == 2 else np.empty((0, 0), np.int64)  # one-hot: dWx in the kernel
    _backward_kernel(Q, A, steps, chunk, C, tanh_C, W_back_t, dA, da, dc, dW, db,
                     np.empty((m, n_a), dtype),
                     np.asarray(x_index, np.int64), dWx)
    dZ = Q[:T, :, :n4]
    grads = {"dWa": dW[:, :n4], "db": db, "da0": da, "dc0": dc, "dW_joined": dW}
    if x.ndim == 3:
        x2 = x.reshape(T * m, n_x).astype(dtype, copy=False)
        dWx = x2.T @ dZ.reshape(T * m, n4)
    if need_dx:
        grads["dx"] = (dZ.reshape(T * m, n4) @ W[:, n_a:]).reshape(T, m, n_x)
    grads["dWx"] = dWx
    if cache.output is not None:
        grads["dWy"] = np.ascontiguousarray(dW[:, n4 : n4 + cache.output.Wy.shape[0]].T)
        grads["dby"] = cache.dby
    return grads


# --------------------------------------------------------------------------------------------
# 3b. The single-step kernel, for sampling
# --------------------------------------------------------------------------------------------
# Sampling is many tiny steps, each depending on the one before, so it runs them all inside one
# compiled call, and there numba's np.tanh is a scalar library call per element. The step below
# computes exp, and from it tanh, with plain arithmetic that the compiler turns into SIMD code,
# and its products are loops blocked four examples by four weight rows.

# Some fast-math: fused multiply-add, and no NaN (which lets min/max become SIMD instructions).
# Infinities stay legal (a tiny sampling temperature makes logit differences -inf), and sums are
# never reassociated, because _exp relies on the exact order of its range reduction. Without
# NaN checks a NaN in the weights would give wrong numbers silently: callers check their inputs
# once with ``all_finite`` before a loop of steps.
FAST_MATH = {"nnan", "nsz", "contract", "arcp"}

# exp(x) = 2**n * exp(r), with n = round(x / ln 2) and r = x - n ln 2, |r| <= ln(2)/2. ln 2 is
# split into a part with trailing zero bits (so n * ln2_hi is exact) and the rest, and exp(r)
# is its Taylor polynomial, cut where the next term falls below the precision's rounding.
_LOG2E = 1.4426950408889634
_EXP_TAYLOR = tuple(1 / math.factorial(k) for k in range(13, -1, -1))  # 1/13!, ..., 1/1!, 1/0!
_EXP_PRECISION = {
    # bits: (ln2_hi, ln2_lo, Taylor degree, clamp range without overflow or subnormals)
    32: (0.693359375, -2.12194440e-4, 7, (-87.0, 88.0)),
    64: (6.93147180369123816490e-01, 1.90821492927058770002e-10, 13, (-708.0, 709.0)),
}


@intrinsic
def _pow2(typingctx, n):
    """2.0 ** n for a whole number n held in a float32 or float64, written into the exponent bits."""
    if not isinstance(n, types.Float):
        return None
    bits, bias, shift = (32, 127, 23) if n.bitwidth == 32 else (64, 1023, 52)

    def codegen(context, builder, signature, args):
        integer = ir.IntType(bits)
        e = builder.fptosi(args[0], integer)
        e = builder.shl(builder.add(e, ir.Constant(integer, bias)), ir.Constant(integer, shift))
        return builder.bitcast(e, args[0].type)

    return n(n), codegen


def _exp(x):
    """exp(x) from arithmetic only, so that loops calling it are vectorised (compiled code only).

    Computed in x's own precision, float32 or float64; x is clamped to the range where the result
    neither overflows nor goes subnormal (a sigmoid or tanh is flat long before). Measured
    against NumPy's exp: within 1 unit in the last place in float64, 3 in float32.
    """
    raise TypeError("_exp runs inside numba-compiled code only")


def _tanh(x):
    """tanh(x) = 1 - 2 / (exp(2x) + 1) in x's own precision (compiled code only)."""
    raise TypeError("_tanh runs inside numba-compiled code only")


def _typed(x, *values):
    """The values as NumPy scalars of x's numba float type, so arithmetic stays in that type."""
    scalar = np.float32 if x.bitwidth == 32 else np.float64
    return tuple(scalar(v) for v in values)


@overload(_exp)
def _exp_for(x):
    if not isinstance(x, types.Float):
        return None
    ln2_hi, ln2_lo, degree, clamp = _EXP_PRECISION[x.bitwidth]
    log2e, half, zero, ln2_hi, ln2_lo, low, high = _typed(x, _LOG2E, 0.5, 0.0, ln2_hi, ln2_lo, *clamp)
    coeffs = _typed(x, *_EXP_TAYLOR[-(degree + 1):])

    def impl(x):
        x = min(max(x, low), high)
        n = np.floor(x * log2e + half)
        r = (x - n * ln2_hi) - n * ln2_lo
        p = zero
        for coeff in coeffs:
            p = p * r + coeff
        return p * _pow2(n)

    return impl


@overload(_tanh)
def _tanh_for(x):
    if not isinstance(x, types.Float):
        return None
    one, two = _typed(x, 1.0, 2.0)
    return lambda x: one - two / (_exp(two * x) + one)


@njit(fastmath=FAST_MATH, error_model="numpy")
def affine(a, W, b, out):
    """out = a @ W + b for a (B, k), W (k, n), b (n,); out (B, n) is overwritten.

    Rows of W are added into rows of out, so the inner loops run along contiguous memory and
    become SIMD code. Four rows of W per pass, so out is loaded and stored four times less;
    four examples per pass, so each row of W loaded serves four examples. (Faster than BLAS here
    at every batch size from 1 to 128, and it keeps SciPy, which numba's np.dot needs, out of it.)

    These are ``matmul_add``'s loops (part 3c) with the bias written first, kept as a copy on
    purpose: sampling steps call it inlined, and copying b and then calling matmul_add measured
    0.85 -> 0.92 us per batch-1 step, 4 us per 50-step solo, more than sampling's margin.
    """
    B, k = a.shape
    n = out.shape[1]
    k4 = k - k % 4
    B4 = B - B % 4
    for s in range(0, B4, 4):
        for q in range(4):
            for j in range(n):
                out[s + q, j] = b[j]
        for i in range(0, k4, 4):
            a00, a01, a02, a03 = a[s, i], a[s, i + 1], a[s, i + 2], a[s, i + 3]
            a10, a11, a12, a13 = a[s + 1, i], a[s + 1, i + 1], a[s + 1, i + 2], a[s + 1, i + 3]
            a20, a21, a22, a23 = a[s + 2, i], a[s + 2, i + 1], a[s + 2, i + 2], a[s + 2, i + 3]
            a30, a31, a32, a33 = a[s + 3, i], a[s + 3, i + 1], a[s + 3, i + 2], a[s + 3, i + 3]
            for j in range(n):
                w0, w1, w2, w3 = W[i, j], W[i + 1, j], W[i + 2, j], W[i + 3, j]
                out[s, j] += a00 * w0 + a01 * w1 + a02 * w2 + a03 * w3
                out[s + 1, j] += a10 * w0 + a11 * w1 + a12 * w2 + a13 * w3
                out[s + 2, j] += a20 * w0 + a21 * w1 + a22 * w2 + a23 * w3
                out[s + 3, j] += a30 * w0 + a31 * w1 + a32 * w2 + a33 * w3
        for i in range(k4, k):
            for q in range(4):
                a_qi = a[s + q, i]
                for j in range(n):
                    out[s + q, j] += a_qi * W[i, j]
    for s in range(B4, B):  # the last B % 4 examples, one at a time
        for j in range(n):
            out[s, j] = b[j]
        for i in range(0, k4, 4):
            a0, a1, a2, a3 = a[s, i], a[s, i + 1], a[s, i + 2], a[s, i + 3]
            for j in range(n):
                out[s, j] += a0 * W[i, j] + a1 * W[i + 1, j] + a2 * W[i + 2, j] + a3 * W[i + 3, j]
        for i in range(k4, k):
            a_si = a[s, i]
            for j in range(n):
                out[s, j] += a_si * W[i, j]


@njit(cache=True, nogil=True, fastmath=False)
def all_finite(a):
    """True when no entry of the C-contiguous array a is NaN or infinite.

    v - v is 0 for every finite v and NaN for NaN and the infinities. The flags are or-ed as
    integers rather than returned early, so the loop runs as SIMD code (about 2 us for the
    course model's 36 000 gate weights). ``fastmath=False`` must stay explicit: numba compiles a
    function called from fast-math code with its caller's flags unless it sets its own, and
    under "nnan" the test would be optimised away.
    """
    flat = a.reshape(-1)
    bad = 0
    for i in range(flat.shape[0]):
        bad |= flat[i] - flat[i] != 0
    return bad == 0


# inline="always": a jitted caller gets this body pasted into its own code, rather than a call
# to a separately compiled copy. Compiling it on its own and then again inside the caller cost
# 0.8 s of the sampling kernel's 3.7 s of compilation; the steps run as fast either way. The
# pasted body takes its caller's compiler flags, so callers use FAST_MATH and error_model="numpy"
# (sampling's kernel does); a caller without them computes the same formulas, only more slowly.
@njit(cache=True, nogil=True, fastmath=FAST_MATH, error_model="numpy", inline="always")
def cell_step(x_index, a_prev, c_prev, Wa, Wx, b, a_next, c_next, z):
    """One LSTM step for one-hot inputs, entirely in numba (callable from other jitted code).

    x_index: (m,) int64, the value fed to each example, -1 for an all-zero input.
    a_prev, c_prev: (m, n_a) states; Wa (n_a, 4 n_a), Wx (n_x + 1, 4 n_a), b (4 n_a,): the fused,
        halved weights of ``fuse_parameters`` / ``fuse_gates``; a_next, c_next (m, n_a): written;
        z (m, 4 n_a): scratch space. Outputs must not alias a_prev or c_prev. All float arrays
        share one dtype and must be C-contiguous, and finite (see ``FAST_MATH``). Returns nothing.

    The formulas are ``reference_cell_forward``'s, on the fused layout: the sigmoid gates are
    0.5 + 0.5 tanh(z) on their halved pre-activations, as in ``sequence_forward``.
    """
    m, n_a = a_prev.shape
    half = Wa.dtype.type(0.5)
    affine(a_prev, Wa, b, z)  # the recurrent part and the bias, all four gates at once
    for j in range(m):
        zj, wx = z[j], Wx[x_index[j]]  # one-hot input: add its row of Wx (-1: the zero row)
        for q in range(4 * n_a):
            zj[q] += wx[q]
        cp, cn, an = c_prev[j], c_next[j], a_next[j]
        for q in range(n_a):
            f = half + half * _tanh(zj[q])
            i = half + half * _tanh(zj[n_a + q])
            g = _tanh(zj[2 * n_a + q])
            o = half + half * _tanh(zj[3 * n_a + q])
            cn[q] = f * cp[q] + i * g
            an[q] = o * _tanh(cn[q])


# --------------------------------------------------------------------------------------------
# 3c. The sequence kernels training runs
# --------------------------------------------------------------------------------------------
# Each pass through time is one compiled call: the time loop, its products and the arithmetic
# between them never return to Python. The products are ``matmul_add``, the same blocked loops
# as ``affine``: on this machine's AVX-512 cores the compiler turns them into 512-bit code, which
# on the course model's shapes is as fast as OpenBLAS's or faster (OpenBLAS runs its AVX2
# kernels here), and calling it costs nothing inside a compiled loop.


# Large weights are taken in panels of at most PANEL numbers, 512 KiB in float32, so that a
# panel stays in the core's 1 MiB L2 cache while every row of the other operand passes over it
# (the course model's weights are one panel). Measured for n_a = 512 on our machine: 1.5 times
# faster than one pass over all of W.
PANEL = 131072


@njit(cache=True, nogil=True, fastmath=FAST_MATH, error_model="numpy")
def matmul_add(a, W, out):
    """out += a @ W for a (B, k), W (k, n), out (B, n) (the blocking of ``affine``).

    Four rows of a by four rows of W per pass over a row of out: each W row loaded serves four
    rows of a, and out is loaded and stored once per four rows of W. Columns are taken in
    panels of PANEL numbers of W. (Column indices are unsigned: numba then leaves out its
    check for negative indices, which otherwise kept the inner loop from becoming SIMD code.)
    """
    B, k = a.shape
    n = out.shape[1]
    k4 = k - k % 4
    B4 = B - B % 4
    panel = max(16, PANEL // max(k, 1) // 16 * 16)
    for p in range(0, (n + panel - 1) // panel):
        j0 = np.uint64(p * panel)
        width = np.uint64(min(panel, n - p * panel))
        for s in range(0, B4, 4):
            for i in range(0, k4, 4):
                a00, a01, a02, a03 = a[s, i], a[s, i + 1], a[s, i + 2], a[s, i + 3]
                a10, a11, a12, a13 = a[s + 1, i], a[s + 1, i + 1], a[s + 1, i + 2], a[s + 1, i + 3]
                a20, a21, a22, a23 = a[s + 2, i], a[s + 2, i + 1], a[s + 2, i + 2], a[s + 2, i + 3]
                a30, a31, a32, a33 = a[s + 3, i], a[s + 3, i + 1], a[s + 3, i + 2], a[s + 3, i + 3]
                for jj in range(width):
                    j = j0 + jj
                    w0, w1, w2, w3 = W[i, j], W[i + 1, j], W[i + 2, j], W[i + 3, j]
                    out[s, j] += a00 * w0 + a01 * w1 + a02 * w2 + a03 * w3
                    out[s + 1, j] += a10 * w0 + a11 * w1 + a12 * w2 + a13 * w3
                    out[s + 2, j] += a20 * w0 + a21 * w1 + a22 * w2 + a23 * w3
                    out[s + 3, j] += a30 * w0 + a31 * w1 + a32 * w2 + a33 * w3
            for i in range(k4, k):
                for q in range(4):
                    a_qi = a[s + q, i]
                    for jj in range(width):
                        out[s + q, j0 + jj] += a_qi * W[i, j0 + jj]
        for s in range(B4, B):  # the last B % 4 rows, one at a time
            for i in range(0, k4, 4):
                a0, a1, a2, a3 = a[s, i], a[s, i + 1], a[s, i + 2], a[s, i + 3]
                for jj in range(width):
                    j = j0 + jj
                    out[s, j] += a0 * W[i, j] + a1 * W[i + 1, j] + a2 * W[i + 2, j] + a3 * W[i + 3, j]
            for i in range(k4, k):
                a_si = a[s, i]
                for jj in range(width):
                    out[s, j0 + jj] += a_si * W[i, j0 + jj]


# Sums need reordering to become SIMD code, which FAST_MATH does not allow (_exp's range
# reduction must keep its order), so the kernels that sum along a row are compiled on their own.
REDUCE_MATH = {"nnan", "ninf", "nsz", "contract", "reassoc"}


@njit(cache=True, nogil=True, fastmath=REDUCE_MATH, error_model="numpy")
def matmul_t_add(a, Wt, out):
    """out += a @ Wt.T for a (B, k), Wt (n, k), out (B, n): dot products along rows.

    For outputs only n_a wide (the backward pass's gradient on a), ``matmul_add``'s inner loop
    is too short to run at speed. Here every output is a dot product of two contiguous rows of
    length k, sixteen at a time (four rows of a by four of Wt), so each pair of loads feeds four
    multiply-adds and nothing is stored until the end. Fastest when k is a multiple of 16 and
    the rows are 64-byte aligned (``padded``, ``aligned_empty``).
    """
    B, k = a.shape
    n = Wt.shape[0]
    zero = a.dtype.type(0)
    B4, n4 = B - B % 4, n - n % 4
    # panels of Wt: rows by at most 2048 columns, the columns cut into equal pieces (see PANEL);
    # the sums add up over the pieces. (n_a = 512: 500 -> 340 us per product, 32 rows of a.)
    pieces = -(-k // 2048)
    piece = max(1, -(-k // pieces))
    rows = max(4, PANEL // max(piece, 1) // 4 * 4)
    for q0 in range(0, n4, rows):
        for k0 in range(0, k, piece):
            _dot_block(a, Wt, out, B4, q0, min(q0 + rows, n4), k0, min(k0 + piece, k), zero)
    for s in range(B):  # the edges: the last B % 4 rows, the last n % 4 columns
        for q in range(n4 if s < B4 else 0, n):
            total = zero
            for i in range(k):
                total += a[s, i] * Wt[q, i]
            out[s, q] += total


@njit(nogil=True, fastmath=REDUCE_MATH, error_model="numpy", inline="always")
def _dot_block(a, Wt, out, B4, q_start, q_stop, k_start, k_stop, zero):
    """matmul_t_add's inner blocks: rows 0..B4 of a against rows q_start..q_stop of Wt, over
    columns k_start..k_stop (unsigned column indices: see matmul_add)."""
    for s in range(0, B4, 4):
        for q in range(q_start, q_stop, 4):
            s00 = s01 = s02 = s03 = s10 = s11 = s12 = s13 = zero
            s20 = s21 = s22 = s23 = s30 = s31 = s32 = s33 = zero
            for ii in range(k_stop - k_start):
                i = np.uint64(k_start + ii)
                a0, a1, a2, a3 = a[s, i], a[s + 1, i], a[s + 2, i], a[s + 3, i]
                w0, w1, w2, w3 = Wt[q, i], Wt[q + 1, i], Wt[q + 2, i], Wt[q + 3, i]
                s00 += a0 * w0
                s01 += a0 * w1
                s02 += a0 * w2
                s03 += a0 * w3
                s10 += a1 * w0
                s11 += a1 * w1
                s12 += a1 * w2
                s13 += a1 * w3
                s20 += a2 * w0
                s21 += a2 * w1
                s22 += a2 * w2
                s23 += a2 * w3
                s30 += a3 * w0
                s31 += a3 * w1
                s32 += a3 * w2
                s33 += a3 * w3
            out[s, q] += s00
            out[s, q + 1] += s01
            out[s, q + 2] += s02
            out[s, q + 3] += s03
            out[s + 1, q] += s10
            out[s + 1, q + 1] += s11
            out[s + 1, q + 2] += s12
            out[s + 1, q + 3] += s13
            out[s + 2, q] += s20
            out[s + 2, q + 1] += s21
            out[s + 2, q + 2] += s22
            out[s + 2, q + 3] += s23
            out[s + 3, q] += s30
            out[s + 3, q + 1] += s31
            out[s + 3, q + 2] += s32
            out[s + 3, q + 3] += s33


@njit(cache=True, nogil=True)
def _join_kernel(Wf, Wi, Wc, Wo, bf, bi, bc, bo, Wy, by, W_ay, W_back_t, x_rows, by_padded):
    """``join_parameters``'s pass: writes W_ay, W_back_t (n_a, width), x_rows (n_x + 1, 4 n_a)
    and by_padded (width - 4 n_a,) from the course's arrays (see JoinedWeights); returns False,
    writing nothing, if any input is NaN or infinite. The loops write along rows."""
    for w in (Wf, Wi, Wc, Wo, bf, bi, bc, bo, Wy, by):
        if not all_finite(w):
            return False
    n_a, n_in = Wf.shape
    n_x, n4, n_y = n_in - n_a, 4 * n_a, Wy.shape[0]
    width = W_ay.shape[1]
    half = Wf.dtype.type(0.5)
    # indexed rather than unpacked in the loop header: the body is then compiled once, not once
    # per gate (which took half a second on a fresh clone)
    gate_weights, gate_biases = (Wf, Wi, Wc, Wo), (bf, bi, bc, bo)
    for g in range(4):
        Wg, bg = gate_weights[g], gate_biases[g]
        scale = half + half if g == 2 else half  # the candidate's block is not halved
        start = g * n_a
        for k in range(n_a):
            for j in range(n_a):
                W_back_t[k, start + j] = Wg[j, k]
                W_ay[k, start + j] = Wg[j, k] * scale
        for k in range(n_x):
            for j in range(n_a):
                x_rows[k, start + j] = Wg[j, n_a + k] * scale + bg[j, 0] * scale
        for j in range(n_a):
            x_rows[n_x, start + j] = bg[j, 0] * scale
    for k in range(n_a):
        for v in range(n_y):
            W_ay[k, n4 + v] = W_back_t[k, n4 + v] = Wy[v, k]
        for v in range(n4 + n_y, width):
            W_ay[k, v] = W_back_t[k, v] = 0
    for v in range(width - n4):
        by_padded[v] = by[v, 0] if v < n_y else 0
    return True


@njit(nogil=True, fastmath=FAST_MATH, error_model="numpy", inline="always")
def _gates_forward(Qt, c_prev, c_next, tanh_c, a_next, n_a):
    """Finish one step: Qt[:, :4 n_a] (m, 4 n_a) halved pre-activations -> gate values ft, it,
    cct, ot (in place); c_next = ft * c_prev + it * cct, tanh_c = tanh(c_next),
    a_next = ot * tanh_c. (Each row is cut into its gate blocks: plain 1-d loops over
    contiguous memory are what the compiler turns into SIMD code.)"""
    half = Qt.dtype.type(0.5)
    for j in range(Qt.shape[0]):
        zf, zi = Qt[j, :n_a], Qt[j, n_a : 2 * n_a]
        zg, zo = Qt[j, 2 * n_a : 3 * n_a], Qt[j, 3 * n_a : 4 * n_a]
        cp, cn, tc, an = c_prev[j], c_next[j], tanh_c[j], a_next[j]
        for q in range(n_a):
            f = half + half * _tanh(zf[q])
            i = half + half * _tanh(zi[q])
            g = _tanh(zg[q])
            o = half + half * _tanh(zo[q])
            zf[q] = f
            zi[q] = i
            zg[q] = g
            zo[q] = o
            c = f * cp[q] + i * g
            cn[q] = c
            th = _tanh(c)
            tc[q] = th
            an[q] = o * th


@njit(cache=True, nogil=True, fastmath=REDUCE_MATH, error_model="numpy")
def _row_max(row):
    top = row[0]
    for v in range(1, row.shape[0]):
        top = max(top, row[v])
    return top


@njit(cache=True, nogil=True, fastmath=REDUCE_MATH, error_model="numpy")
def _first_index_of(row, value):
    """The first index at which row holds value (row's length if none): a minimum over the
    indices, which runs as SIMD code where a search stopping at the first match would not."""
    n = row.shape[0]
    first = n
    for v in range(n):
        first = min(first, v if row[v] == value else n)
    return first


@njit(cache=True, nogil=True, fastmath=REDUCE_MATH, error_model="numpy")
def _row_sum(row):
    total = row.dtype.type(0)
    for v in range(row.shape[0]):
        total += row[v]
    return total


@njit(nogil=True, fastmath=FAST_MATH, error_model="numpy", inline="always")
def _softmax_loss(Qt, start, n_y, target, scale, predicted, dby):
    """The output layer after its product: Qt[:, start : start + n_y] (m, n_y) holds logits,
    and zeros follow up to the row's end (the padding).

    Overwritten with d loss / d logits = (softmax - onehot(target)) * scale (zeros in the
    padding); predicted (m,) receives each row's argmax, dby (width - start,) the rows' sum.
    Returns the rows' summed cross-entropy
    -log softmax[target] (unscaled, float64). A row with target -1 has no loss and no gradient.
    The loops run over the padded width, a multiple of 16, so none has a scalar remainder.
    """
    m, width = Qt.shape
    zero = Qt.dtype.type(0)
    loss = 0.0
    for j in range(m):
        row = Qt[j, start:width]
        top = _row_max(row[:n_y])  # subtracted before exp, so exp cannot overflow
        predicted[j] = _first_index_of(row[:n_y], top)
        k = target[j]
        if k < 0:
            for v in range(row.shape[0]):
                row[v] = zero
            continue
        picked = row[k] - top
        for v in range(row.shape[0]):
            row[v] = _exp(row[v] - top)
        for v in range(n_y, row.shape[0]):
            row[v] = zero
        total = _row_sum(row)
        loss += np.log(np.float64(total)) - picked
        inv = scale / total
        for v in range(row.shape[0]):
            row[v] *= inv
        row[k] -= scale
        for v in range(row.shape[0]):
            dby[v] += row[v]
    return loss


@njit(cache=True, nogil=True, fastmath=FAST_MATH, error_model="numpy")
def _forward_kernel(Q, A, C, tanh_C, W_ay, x_rows, x_index, n_y, by, y, scale, start, predicted,
                    dby):
    """All T steps of ``sequence_forward``, and the output layer when it has one (n_y > 0).

    Q (T + 1, m, width): written (see SequenceCache). A, C (T + 1, m, n_a) with A[0], C[0] set;
    tanh_C (T, m, n_a). W_ay (n_a, width) = [Wa | Wy.T | 0]; x_rows (R, 4 n_a) input terms
    x @ Wx + b, x_index (T, m) the row of each step and window (-1: the last row);
    by (width - 4 n_a,) the output bias, zero-padded; y (T, m) targets; scale: the weight of a
    window; start: 1 skips the product at step 0 (a0 = 0). predicted (T, m) and dby
    (width - 4 n_a,), the gradient on the padded output bias, are written.
    Returns the cross-entropy summed over all outputs, times scale.
    """
    T = A.shape[0] - 1
    m, n_a = A.shape[1], A.shape[2]
    n4 = 4 * n_a
    width = Q.shape[2]
    zero = Q.dtype.type(0)
    loss = 0.0
    for t in range(T + 1):
        Qt = Q[t]
        for j in range(m):
            if t < T:
                row = x_rows[x_index[t, j]]
                for q in range(n4):
                    Qt[j, q] = row[q]
            else:
                for q in range(n4):
                    Qt[j, q] = zero
            for v in range(width - n4):
                Qt[j, n4 + v] = by[v]
        # gates of step t and, from the same a<t>, the logits of output t - 1
        if t >= start:
            matmul_add(A[t], W_ay, Qt)
        if t < T:
            _gates_forward(Qt, C[t], C[t + 1], tanh_C[t], A[t + 1], n_a)
        else:  # there is no step T: zero gates, which the backward pass relies on
            for j in range(m):
                for q in range(n4):
                    Qt[j, q] = zero
        if t == 0 or n_y == 0:  # there is no output before step 0
            for j in range(m):
                for v in range(width - n4):
                    Qt[j, n4 + v] = zero
        else:
            loss += _softmax_loss(Qt, n4, n_y, y[t - 1], scale, predicted[t - 1], dby)
    return loss * scale


@njit(nogil=True, fastmath=FAST_MATH, error_model="numpy", inline="always")
def _gates_backward(da_next, dc, Qt, c_prev, tanh_c, db, n_a):
    """The backward step of the cell but its matrix products, fused in one pass.

    da_next: (m, n_a) the whole gradient on a<t+1>; dc: (m, n_a) the gradient on c<t+1> from the
    step after, overwritten with the gradient on c<t>. Qt[:, :4 n_a]: the step's gate values,
    overwritten with the gradients on the (plain, not halved) pre-activations, dZ. c_prev = c<t>,
    tanh_c = tanh(c<t+1>). db (4 n_a,): dZ's rows are added to it. No exp or tanh is needed:
    the derivatives come from the gate values, sigmoid' = s (1 - s) and tanh' = 1 - t^2.
    """
    one = Qt.dtype.type(1.0)
    for j in range(Qt.shape[0]):
        zf, zi = Qt[j, :n_a], Qt[j, n_a : 2 * n_a]
        zg, zo = Qt[j, 2 * n_a : 3 * n_a], Qt[j, 3 * n_a : 4 * n_a]
        daj, dcj, cp, tc = da_next[j], dc[j], c_prev[j], tanh_c[j]
        for q in range(n_a):
            f, i, g, o = zf[q], zi[q], zg[q], zo[q]
            # a = o * tanh(c): c gets gradient from a, and from c<t+2> = f<t+2> * c + ...
            c_grad = dcj[q] + daj[q] * o * (one - tc[q] * tc[q])
            zf[q] = c_grad * cp[q] * f * (one - f)
            zi[q] = c_grad * g * i * (one - i)
            zg[q] = c_grad * i * (one - g * g)
            zo[q] = daj[q] * tc[q] * o * (one - o)
            dcj[q] = c_grad * f
        for q in range(4 * n_a):
            db[q] += Qt[j, q]


@njit(cache=True, nogil=True, fastmath=FAST_MATH, error_model="numpy")
def _backward_kernel(Q, A, steps, chunk, C, tanh_C, W_back_t, dA, da, dc, dW, db, da_next,
                     x_index, dWx):
    """All T steps of ``sequence_backward``.

    Q, C, tanh_C: the forward pass's (Q[T]'s gate columns zero); Q's gate columns are
    overwritten with dZ. A (T + 1, m, n_a): the hidden states a<0..T>.
    W_back_t (n_a, width) = [Wa | Wy.T | 0], plain. dA (T, m, n_a) upstream gradient on
    a<1..T>, or (0, m, n_a) for none. da, dc (m, n_a): in, the gradient on the final state;
    out, on a0 and c0. dW (n_a, width) and db (4 n_a,) receive [dWa | dWy.T | 0] and the gate
    bias gradient. da_next (m, n_a): scratch. x_index (T, m): one-hot inputs as indices (-1: an
    all-zero input), whose dWx (n_x, 4 n_a) rows receive dZ's rows; (0, 0) for dense inputs.

    The weight gradient dW = sum over t of a<t>.T @ Q[t] is added a run of `steps` steps at a
    time, as one product over steps * m rows: dW is read and written once per run instead of
    once per step, which for large n_a (4 MiB of dW at n_a = 512) is what the product waited
    for. chunk (steps * m * n_a,): scratch for a run's states, transposed.
    """
    T = Q.shape[0] - 1
    m, n_a = da.shape
    n4 = 4 * n_a
    zero = Q.dtype.type(0)
    done = T + 1  # Q[done:] are added into dW already
    for t in range(T - 1, -1, -1):
        for j in range(m):
            for q in range(n_a):
                da_next[j, q] = dA[t, j, q] if dA.shape[0] > 0 else zero
                if t == T - 1:
                    da_next[j, q] += da[j, q]
        # a<t+1> fed step t+1 (through Wa) and output t (through Wy): Q[t + 1] = [dZ<t+1> | dY<t>]
        matmul_t_add(Q[t + 1], W_back_t, da_next)
        if done - (t + 1) == steps:  # Q[t + 1 : done] are final: their share of dWa and dWy.T
            _add_weight_gradient(A, Q, t + 1, done, chunk, dW)
            done = t + 1
        _gates_backward(da_next, dc, Q[t], C[t], tanh_C[t], db, n_a)
        if x_index.shape[0] > 0:  # one-hot input: the product x.T @ dZ adds dZ's rows to dWx
            for j in range(m):
                k = x_index[t, j]
                if k >= 0:
                    for q in range(n4):
                        dWx[k, q] += Q[t, j, q]
    _add_weight_gradient(A, Q, 0, done, chunk, dW)  # the rest, step 0's included
    for j in range(m):
        for q in range(n_a):
            da[j, q] = zero
    matmul_t_add(Q[0], W_back_t, da)


@njit(nogil=True, fastmath=FAST_MATH, error_model="numpy", inline="always")
def _add_weight_gradient(A, Q, start, stop, chunk, dW):
    """dW += [a<start> .. a<stop-1>] @ [Q[start]; ..; Q[stop-1]], one product over the run.

    The run's states are copied transposed into chunk first, (n_a, rows), so that the product
    reads them along rows with the same compiled matmul_add as everywhere else (reading them
    through a transposed view compiled a second version of it, 0.7 s on a fresh clone).
    """
    n_a = A.shape[2]
    m = Q.shape[1]
    rows = (stop - start) * m
    states = chunk[: n_a * rows].reshape((n_a, rows))
    for t in range(start, stop):
        for j in range(m):
            column = (t - start) * m + j
            for i in range(n_a):
                states[i, column] = A[t, j, i]
    matmul_add(states, Q[start:stop].reshape((rows, Q.shape[2])), dW)


# --------------------------------------------------------------------------------------------
# 4. The course's functions: the training path in the course's shapes
# --------------------------------------------------------------------------------------------
# Each is a thin wrapper: it turns columns (n, m) into rows (m, n), calls sequence_forward or
# sequence_backward, and turns the answer back. The formulas they compute are in section 1.


def _fused_as(parameters: Dict[str, np.ndarray], dtype) -> FusedLSTM:
    """fuse_parameters on the four gates' weights, converted to the computation's dtype."""
    names = [w + g for g in GATES for w in ("W", "b")]
    return fuse_parameters({k: np.asarray(parameters[k], dtype) for k in names})


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
    Q = np.concatenate([G, np.zeros_like(G[:1])])  # no step after the last: zero gates
    return SequenceCache(A, C, np.tanh(C[1:]), Q, x_rows)


def _course_gradients(g: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
    return unfuse_gradients(g["dWa"], g["dWx"], g["db"])


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
                           np.asarray(c_prev, dtype).T, _fused_as(parameters, dtype))
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
                           _fused_as(parameters, dtype))
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
    xt, parameters = cache[8], cache[9]
    dtype = np.result_type(da_next, dc_next, cache[4])
    seq = _sequence_cache([cache], _input_rows(np.asarray(xt)[:, :, None], dtype), dtype)
    dA = np.ascontiguousarray(np.asarray(da_next, dtype).T[None])
    g = sequence_backward(dA, seq, _fused_as(parameters, dtype), dc_T=np.asarray(dc_next, dtype).T,
                          need_dx=True)
    grads = _course_gradients(g)
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
    parameters = step_caches[0][9]
    dtype = np.result_type(da, step_caches[0][4])
    seq = _sequence_cache(step_caches, _input_rows(np.asarray(x), dtype), dtype)
    dA = np.ascontiguousarray(np.asarray(da, dtype).transpose(2, 1, 0))
    g = sequence_backward(dA, seq, _fused_as(parameters, dtype), need_dx=True)
    grads = {"dx": np.ascontiguousarray(g["dx"].transpose(2, 1, 0)),
             "da0": np.ascontiguousarray(g["da0"].T)}
    grads.update(_course_gradients(g))
    return grads
