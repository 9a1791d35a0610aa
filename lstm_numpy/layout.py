"""The fast path's layout: the course's weights rearranged for speed, and the gradients put back.

The formulas (``lstm.py``) keep one example per column and four separate gates. The fast path
keeps one example per row and the four gates side by side in one matrix, so that a step is one
matrix product instead of four::

    z = [a_prev, xt] @ [Wf; Wi; Wc; Wo].T  =  a_prev @ Wa  +  xt @ Wx      (m, 4 n_a)

Two rewrites make it cheap, and neither changes the math:

* **One-hot inputs are row look-ups.** When xt is the one-hot vector of value k, ``xt @ Wx``
  multiplies a row of zeros and a single 1 into Wx: the result is exactly row k of Wx. So the
  fast path stores inputs as integer indices (``one_hot_indices``) and copies rows instead of
  multiplying. An all-zero input (the course's x<1>) is index -1, which picks an extra last row.
* **One tanh for all four gates.** sigmoid(x) = 1 / (1 + e^-x) = (1 + tanh(x / 2)) / 2. The
  columns that feed the three sigmoid gates are stored pre-halved (halving is exact in binary
  floating point), so a single tanh over the whole (m, 4 n_a) block gives every gate, and the
  sigmoid gates are finished with ``0.5 + 0.5 * t``.

``fuse`` makes that layout (``FusedLSTM``: what sampling's steps read). Training's passes read
one more arrangement, ``JoinedWeights``: the Dense softmax layer joined on beside the gates, rows
padded and aligned for SIMD loops. Every conversion has one readable NumPy definition with a
plain name (``fuse``, ``join``, ``course_gradients``); where training needs it faster, a compiled
twin says so in its name (``join_compiled``, ``course_gradients_compiled``) and is tested equal.

``Workspace`` and ``aligned_empty`` give the passes their memory: reused from batch to batch,
every row on a 64-byte boundary.
"""

from __future__ import annotations

import math
from typing import Dict, NamedTuple, Optional, Tuple

import numpy as np

from . import kernels
from .lstm import GATES, PARAMETER_NAMES

# --------------------------------------------------------------------------------------------
# The fused gates
# --------------------------------------------------------------------------------------------


class FusedLSTM(NamedTuple):
    """The cell's weights in the fast path's layout (rows: one example per row).

    Gate blocks are ordered f, i, c, o along the last axis, each n_a wide. In Wa, Wx and b the
    f, i and o blocks are halved (see the module docstring); W is the plain course stack, used
    for dense inputs' gradients.

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


def fuse(parameters: Dict[str, np.ndarray], dtype=None) -> FusedLSTM:
    """The course's Wf..Wo (n_a, n_a + n_x) and bf..bo (n_a, 1) in the fused layout.

    dtype: the computation's (default: the parameters'). Plain NumPy: training's passes read the
    joined layout, and sampling fuses once per model and keeps the result, so a compiled version
    saved nothing worth its half second of compilation.
    """
    names = PARAMETER_NAMES[:8]  # Wf, Wi, Wc, Wo, bf, bi, bc, bo
    if dtype is None:
        dtype = np.result_type(*(parameters[k] for k in names))
    arrays = [np.asarray(parameters[k], dtype) for k in names]
    W = np.concatenate(arrays[:4])  # (4 n_a, n_a + n_x)
    n4, n_in = W.shape
    n_a = n4 // 4
    scale = _gate_scale(n_a, W.dtype)
    Wa = np.empty((n_a, n4), W.dtype)
    np.multiply(W[:, :n_a].T, scale, out=Wa)
    Wx = np.empty((n_in - n_a + 1, n4), W.dtype)
    np.multiply(W[:, n_a:].T, scale, out=Wx[:-1])
    Wx[-1] = 0  # the zero input's row
    return FusedLSTM(Wa, Wx, np.concatenate(arrays[4:])[:, 0] * scale, W)


def _gate_scale(n_a: int, dtype) -> np.ndarray:
    """(4 n_a,) 0.5 for the sigmoid gates' columns, 1 for the candidate's: the halving."""
    scale = np.full(4 * n_a, 0.5, dtype)
    scale[2 * n_a : 3 * n_a] = 1
    return scale


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
# The joined weights training's passes read
# --------------------------------------------------------------------------------------------


class JoinedWeights(NamedTuple):
    """Everything the passes through time read (``passes.py``), padded and aligned.

    W_ay: (n_a, width) [Wa | Wy.T | 0], the sigmoid gates' columns halved: forward's product
    W_back_t: (width, read_down(n_a)) [Wa | Wy.T | 0].T, plain, zero-padded: backward's product
        for the gradient on a
    x_rows: (n_x + 1, 4 n_a) Wx + b, the input term of each one-hot value (last row: b alone,
        for the all-zero input)
    by: (width - 4 n_a,) the output bias, zero-padded
    n_y: the Dense layer's size (0: none joined on)
    fused: the fused weights themselves, which dense (not one-hot) inputs and their gradient dx
        need; None when only one-hot inputs will be fed (training's ``join_compiled``)
    Wd: the conditioned model's (n_d, 4 n_a) feature weights, the last n_d input columns of
        Wf..Wo transposed and halved like Wx (``dense_rows``); None for the course model. The
        rows of x_rows past the one-hot values' then belong to those columns and are not used.
    width is 4 n_a + n_y rounded up by ``padded``.
    """

    W_ay: np.ndarray
    W_back_t: np.ndarray
    x_rows: np.ndarray
    by: np.ndarray
    n_y: int
    fused: Optional[FusedLSTM] = None
    Wd: Optional[np.ndarray] = None


def join(parameters: Dict[str, np.ndarray], dtype=None) -> JoinedWeights:
    """The JoinedWeights of the course's parameters, in plain NumPy (the readable definition).

    parameters: Wf..Wo, bf..bo, and, when present, the Dense layer Wy (n_y, n_a), by (n_y, 1),
    which is then joined on. dtype: the computation's (default: the gates').
    """
    fused = fuse(parameters, dtype)
    Wa, Wx, b, W = fused
    dtype = Wa.dtype
    n_a = fused.n_a
    n4 = 4 * n_a
    Wy = parameters.get("Wy")
    n_y = 0 if Wy is None else Wy.shape[0]
    width = padded(n4 + n_y)
    W_ay = aligned_empty((n_a, width), dtype)
    W_back_t = aligned_empty((width, read_down(n_a)), dtype)
    W_back_t[...] = 0
    W_ay[:, :n4] = Wa
    W_back_t[:n4, :n_a] = W[:, :n_a]
    W_ay[:, n4:] = 0
    padded_by = np.zeros(width - n4, dtype)
    if n_y:
        W_ay[:, n4 : n4 + n_y] = np.asarray(Wy, dtype).T
        W_back_t[n4 : n4 + n_y, :n_a] = Wy
        padded_by[:n_y] = np.asarray(parameters["by"], dtype).reshape(n_y)
    return JoinedWeights(W_ay, W_back_t, Wx + b, padded_by, n_y, fused)


def join_compiled(parameters: Dict[str, np.ndarray], dtype=None,
                  work: Optional[Workspace] = None, n_features: int = 0) -> Optional[JoinedWeights]:
    """``join`` of all ten parameters in one compiled pass (``kernels.join_kernel``), for training.

    The arrays live in work when given (reused from batch to batch); ``fused`` is left None.
    n_features: the conditioned model's n_d, whose ``Wd`` (``dense_rows``) the same pass makes.
    Returns None when any parameter is NaN or infinite (the pass checks them on the way).
    Tested equal to ``join`` and ``dense_rows``.
    """
    if dtype is None:
        dtype = np.result_type(*(parameters[k] for k in PARAMETER_NAMES))
    arrays = [np.ascontiguousarray(parameters[k], dtype) for k in PARAMETER_NAMES]
    n_a, n_y = arrays[0].shape[0], arrays[8].shape[0]
    n4 = 4 * n_a
    width = padded(n4 + n_y)
    work = Workspace() if work is None else work
    W_ay = work.array("W_ay", (n_a, width), dtype)
    W_back_t = work.array("W_back_t", (width, read_down(n_a)), dtype)
    x_rows = work.array("x_rows", (arrays[0].shape[1] - n_a + 1, n4), dtype)
    by = work.array("by", (width - n4,), dtype)
    Wd = work.array("Wd", (n_features, n4), dtype)
    if not kernels.join_kernel(*arrays, W_ay, W_back_t, x_rows, by, Wd):
        return None
    return JoinedWeights(W_ay, W_back_t, x_rows, by, n_y, Wd=Wd if n_features else None)


class SparseFeatures(NamedTuple):
    """The conditioned model's features as look-ups, as one-hot inputs are: at every step, the
    columns that are set and their values.

    index: (..., K) int64, the set columns of each step's d<t>, in increasing order;
    value: (..., K) their values, in the computation's dtype.
    K is the most columns any step sets (35 features set about 8), rounded up to a multiple
    of 4 (the kernels take rows four at a time); a step that sets fewer is padded with value 0,
    which adds nothing. The product d<t> @ Wd is then the sum of K rows of Wd, each times its
    value, where a dense product would run over all n_d rows, zeros included.
    """

    index: np.ndarray
    value: np.ndarray

    def take(self, windows) -> "SparseFeatures":
        """The features of some windows, by their positions along axis 1 (time-major (T, m, K)),
        C-contiguous."""
        return SparseFeatures(np.take(self.index, windows, axis=1), np.take(self.value, windows, axis=1))


def sparse_features(d: np.ndarray, dtype=None) -> SparseFeatures:
    """The SparseFeatures of dense features d (..., n_d) (dtype: the values', default d's)."""
    d = np.asarray(d)
    n_set = np.count_nonzero(d, axis=-1)
    K = sparse_width(d)
    # the set columns first, each in its order (a stable sort of "is zero"), then K of them
    index = np.argsort(d == 0, axis=-1, kind="stable")[..., :K]
    if index.shape[-1] < K:  # fewer columns than K: pad with the first, at value 0
        index = np.concatenate([index, np.zeros(index.shape[:-1] + (K - index.shape[-1],), index.dtype)], axis=-1)
    value = np.take_along_axis(d, index, axis=-1).astype(dtype or d.dtype)
    value[np.arange(K) >= n_set[..., None]] = 0  # the padding
    return SparseFeatures(np.ascontiguousarray(index, np.int64), np.ascontiguousarray(value))


def sparse_width(d: np.ndarray) -> int:
    """K of the look-ups of features d (..., n_d): the most columns any step sets, at least 1,
    rounded up to a multiple of 4."""
    return -(-max(int(np.count_nonzero(d, axis=-1).max(initial=0)), 1) // 4) * 4


def dense_rows(parameters: Dict[str, np.ndarray], n_features: int, dtype=None) -> np.ndarray:
    """(n_features, 4 n_a) the weights of the last n_features input columns of Wf..Wo (the
    conditioned model's features), in the fused layout: transposed, sigmoid gates halved.

    The conditioned model's JoinedWeights carry them as ``Wd``: ``join(...)._replace(Wd=...)``.
    """
    names = PARAMETER_NAMES[:4]  # Wf, Wi, Wc, Wo
    if dtype is None:
        dtype = np.result_type(*(parameters[k] for k in names))
    n_a = parameters["Wf"].shape[0]
    Wd = aligned_empty((n_features, 4 * n_a), dtype)
    if n_features:
        stacked = np.concatenate([np.asarray(parameters[k], dtype)[:, -n_features:] for k in names])
        np.multiply(stacked.T, _gate_scale(n_a, dtype), out=Wd)
    return Wd


# --------------------------------------------------------------------------------------------
# The gradients, back in the course's arrays
# --------------------------------------------------------------------------------------------


def course_gradients(dW_joined: np.ndarray, dWx: np.ndarray, db: np.ndarray,
                     dby: Optional[np.ndarray] = None) -> Dict[str, np.ndarray]:
    """The course's dWf..dWo (n_a, n_a + n_x) and dbf..dbo (n_a, 1), and with dby dWy and dby,
    from the passes' gradients (the readable definition).

    dW_joined (n_a, width): [dWa | dWy.T | 0] as ``passes.sequence_backward`` returns it;
    dWx (n_x, 4 n_a), db (4 n_a,), dby (n_y,): gradients on the plain (not halved) weights.
    Every returned array is C-contiguous and its own memory, not the caller's.
    """
    n4 = 4 * dW_joined.shape[0]
    stacked = np.concatenate([dW_joined[:, :n4].T, dWx.T], axis=1)  # [dWf; dWi; dWc; dWo]
    grads = _gate_blocks(stacked, db)
    if dby is not None:
        grads["dWy"] = np.ascontiguousarray(dW_joined[:, n4 : n4 + dby.shape[0]].T)
        grads["dby"] = np.array(dby, stacked.dtype)[:, None]
    return grads


def course_gradients_compiled(dW_joined: np.ndarray, dWx: np.ndarray, db: np.ndarray,
                              dby: np.ndarray) -> Dict[str, np.ndarray]:
    """``course_gradients`` in one compiled pass (``kernels.course_gradients_kernel``), which
    training runs on every batch. Tested equal."""
    n_a, n_y = dW_joined.shape[0], dby.shape[0]
    dtype = dW_joined.dtype
    stacked = np.empty((4 * n_a, n_a + dWx.shape[0]), dtype)  # [dWf; dWi; dWc; dWo]
    dWy = np.empty((n_y, n_a), dtype)
    kernels.course_gradients_kernel(np.ascontiguousarray(dW_joined), np.ascontiguousarray(dWx),
                                    stacked, dWy)
    grads = _gate_blocks(stacked, db)
    grads["dWy"], grads["dby"] = dWy, np.array(dby, dtype)[:, None]
    return grads


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


# --------------------------------------------------------------------------------------------
# Memory
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
        size = math.prod(shape)  # NumPy's prod costs a few microseconds per call, many per batch
        buf = self._buffers.get(name)
        if buf is None or buf.size < size or buf.dtype != np.dtype(dtype):
            buf = self._buffers[name] = aligned_empty(size, dtype)
        return buf[:size].reshape(shape)


# one empty 2-D array per dtype: kernels.aligned_empty takes its dtype from an array
_LIKE = {np.dtype(t): np.empty((0, 0), t) for t in (np.float32, np.float64)}


def aligned_empty(shape, dtype) -> np.ndarray:
    """np.empty of a float dtype, but starting on a 64-byte boundary (a cache line, and one
    AVX-512 register): ``kernels.aligned_empty``, for Python callers.

    The compiled loops read rows with SIMD loads; rows that start mid-line made the products
    15-30% slower (measured on the course model). NumPy itself only promises 16 bytes.
    """
    size = int(shape) if isinstance(shape, (int, np.integer)) else math.prod(shape)
    return kernels.aligned_empty(_LIKE[np.dtype(dtype)], 1, size).reshape(shape)


def padded(n: int) -> int:
    """n rounded up to a multiple of 16: row widths at which SIMD loops have no remainder and,
    in float32, every row starts on a 64-byte boundary."""
    return -(-n // 16) * 16


def read_down(n: int) -> int:
    """The row width of a matrix of n columns that a product reads down its columns, a few
    numbers of many rows at a time (``kernels.matmul_add``'s weights): ``padded(n)`` and 16
    more. Rows of a power-of-two length in bytes all start in the same few sets of the L1
    cache, which then holds only a fraction of the rows it has room for; the extra 16 numbers
    spread them (n_a = 512, float32: the backward product ran 10-15 % faster)."""
    return padded(n) + 16
