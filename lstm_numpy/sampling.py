"""Improvising: run the trained LSTM forward one value at a time and pick each next value.

The course's inference model starts from x0 = 0 and a0 = c0 = 0; at every step it runs the LSTM
cell once, turns a into a softmax over the n_values values, takes the argmax, and feeds that
value back in, one-hot, as the next input::

    x = 0; a = c = 0
    for t in range(Ty):
        a, c = lstm_cell(x, a, c)
        y = softmax(Wy a + by)
        x = one_hot(argmax(y))

:func:`predict_and_sample` does exactly that (``temperature=0``, the default), and can also draw
each value at random from the softmax sharpened or flattened by a temperature, keep only the
``top_k`` likeliest values, start from a ``primer`` of known values, and play several solos at
once. :func:`sample_steps` is the same loop as a resumable function: it takes and returns the
LSTM state, so a solo can be generated bar after bar from one continuing state.

How it is fast
--------------
Sampling is 50 tiny steps, each depending on the one before, so the cost is all overhead unless
the whole loop runs in compiled code, and each call does as little as it can before the first
step:

* ``_sample_kernel`` is one numba call that does every step (cell, Dense layer, choice,
  feedback) without returning to Python. The LSTM step is ``lstm.cell_step``, the package's one
  compiled step kernel (its exp and tanh are plain arithmetic the compiler vectorises, its
  products loops blocked four solos by four weight rows, ``lstm.affine``), compiled into this
  kernel's own code with this kernel's fast-math flags; the Dense layer's logits use the same
  blocked product.
* The weights are laid out for the steps once, and kept (``_prepare``): the gates fused and
  halved (``lstm.fuse_gates``), the Dense layer transposed. They are checked for NaN and
  infinities then, which the fast-math steps would not notice. A kept layout is used only while
  the model's ten arrays hold exactly the values it was made from: before any step the kernel
  compares them with copies kept for the purpose (a few microseconds, a third of what laying
  them out costs), and if one differs it runs no step and asks for a new layout. Comparing
  values, rather than asking which model or which arrays they are, is what keeps this right
  when training updates a model's arrays in place; and a checkpoint loaded again finds the
  layout made for its first copy.
* Every array the steps read starts on a 64-byte cache line, and the Dense layer is padded
  with zero columns to whole 64-byte registers. NumPy's and numba's allocations are only 16-
  and 32-byte aligned, so every other register of weights loaded straddled two cache lines and
  cost two loads, and each row of 78 values ended in a slow loop over its remainder; a step at
  batch 1 became about a tenth faster.
* The one-hot input is never built: the step adds the row of input weights it would select;
  and predict_and_sample's one-hot results are written by the kernel as it chooses.
* The random numbers are drawn up front from the caller's ``numpy.random.Generator`` and passed
  in, so a seed reproduces a solo and numba's own random state is never touched.

If you edit ``lstm.cell_step`` (or anything else the kernel calls from ``lstm.py``): numba's disk
cache of ``_sample_kernel`` notices changes to this file only, so delete
``lstm_numpy/__pycache__/sampling.*.nbi`` and ``.nbc`` (or save this file again) to see them.
"""

from __future__ import annotations

import numbers
from typing import NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np
from numba import njit

from .errors import LstmNumpyError
from .lstm import FAST_MATH, _exp, affine, aligned_empty, all_finite, cell_step, fuse_gates, padded
from .model import Model


@njit(fastmath=FAST_MATH, error_model="numpy")
def _draw(logits, inv_temperature, top_k, u, weights, allowed):
    """One value drawn from softmax(logits / T), T = 1 / inv_temperature, with u uniform in [0, 1).

    Only the top_k largest logits can be drawn (all when top_k is 0; ties go to the lower
    index). weights and allowed (n_values,) are scratch space.
    """
    n_values = logits.shape[0]
    if 0 < top_k < n_values:
        # pick the largest remaining logit top_k times: cheap for the small k anyone uses
        allowed[:] = False
        for _ in range(top_k):
            best = -1
            for v in range(n_values):
                if not allowed[v] and (best < 0 or logits[v] > logits[best]):
                    best = v
            allowed[best] = True
    else:
        allowed[:] = True
    top = -np.inf
    for v in range(n_values):
        if allowed[v] and logits[v] > top:
            top = logits[v]
    # softmax(logits / T), shifted by the largest logit so exp cannot overflow; the masking
    # and the sum are loops of their own so that the exp loop stays SIMD
    for v in range(n_values):
        weights[v] = _exp((logits[v] - top) * inv_temperature)
    total = 0.0
    for v in range(n_values):
        if allowed[v]:
            total += weights[v]
        else:
            weights[v] = 0.0
    # inverse CDF: the first value whose running total passes u * total
    target = u * total
    running = 0.0
    choice = -1
    for v in range(n_values):
        if weights[v] > 0.0:
            choice = v  # rounding can leave target past the end: keep the last one
            running += weights[v]
            if running > target:
                break
    return choice


class _Prepared(NamedTuple):
    """A model's weights laid out for the kernel, with copies of the arrays they were made from.

    source: copies of the course's ten arrays (Wf .. by, of one dtype) that the rest was made
        from, and is only valid for;
    Wa (n_a, 4 n_a), Wx (n_values + 1, 4 n_a), b (4 n_a,): the fused, halved gates of
        ``lstm.fuse_gates``;
    Wy_t (n_a, n_y), b_y (n_y,): the Dense layer, transposed so that its product runs along rows
        like the gates', and padded with zeros from n_values to n_y = ``lstm.padded(n_values)``
        columns, a whole number of SIMD registers.
    All but source start on a cache line (``_aligned``).
    """

    source: Tuple[np.ndarray, ...]
    Wa: np.ndarray
    Wx: np.ndarray
    b: np.ndarray
    Wy_t: np.ndarray
    b_y: np.ndarray


def _aligned(array: np.ndarray) -> np.ndarray:
    """A C-contiguous copy of array whose first element starts a cache line (``lstm.aligned_empty``)."""
    copy = aligned_empty(array.shape, array.dtype)
    copy[...] = array
    return copy


# Bytes: a cache line, and the width of AVX-512's registers. The steps read whole registers of
# weights and state; from an array starting mid-line, every other such load straddles two cache
# lines and costs two. numba's own allocations are only 32-byte aligned.
_ALIGN = 64


@njit(cache=True)
def _aligned_empty(like, rows, cols):
    """An uninitialised (rows, cols) array of like's dtype whose first element starts a cache line:
    ``lstm.aligned_empty`` for compiled code."""
    raw = np.empty(rows * cols + _ALIGN // like.itemsize, dtype=like.dtype)
    start = (-raw.ctypes.data % _ALIGN) // like.itemsize
    return raw[start : start + rows * cols].reshape(rows, cols)


# The weights prepared last, one entry per dtype (so that the kernel is compiled once per dtype);
# an entry holds about twice the memory of the model's weights until the next model of its dtype
# replaces it. Whether an entry fits the model being sampled is decided by comparing values,
# never by which arrays or model they came from: training updates a model's arrays in place.
_PREPARED = {}

# what _sample_kernel reports before it runs any step
_DONE, _WEIGHTS_CHANGED, _STATE_NOT_FINITE = 0, 1, 2


@njit(cache=True, nogil=True, fastmath=False)
def _same_values(w, copy):
    """True when w and copy have one shape and equal entries (C-contiguous arrays, one dtype).

    A NaN equals nothing, so weights holding one never count as unchanged. -0.0 equals 0.0,
    which changes no result: the steps' fast-math flags ("nsz") ignore the sign of zero anyway.
    ``fastmath=False`` must stay explicit, for the reason ``lstm.all_finite`` gives.
    """
    if w.shape != copy.shape:
        return False
    flat, flat_copy = w.reshape(-1), copy.reshape(-1)
    differ = 0
    for i in range(flat.shape[0]):
        differ |= flat[i] != flat_copy[i]  # or-ed, not returned early: the loop stays SIMD
    return differ == 0


@njit(cache=True, fastmath=FAST_MATH, error_model="numpy")
def _sample_kernel(x, a, c, forced, uniforms, temperature, top_k, weights, source, Wa, Wx, b, Wy_t, b_y,
                   out, one_hot):
    """Run len(forced) teacher-forced steps, then out.shape[0] free steps, all in compiled code.

    x        (B,) int64      index of each solo's next input value; -1 is the zero input x0
    a, c     (B, n_a)        the LSTM state; x, a and c are updated in place
    forced   (P,) int64      after step t < P the next input is forced[t], not a choice
    uniforms (n_free, B)     one uniform number in [0, 1) per choice; unused when temperature == 0
    top_k    int             keep only the top_k likeliest values when drawing; 0 keeps all
    weights  the model's ten course arrays (Wf .. by, see Model), all of a's dtype
    source .. b_y            a _Prepared entry: the weights in the kernel's layout, and the arrays
                             they were made from
    out      (n_free, B) int64  receives the chosen values
    one_hot  (n_free, B, n_values) float32 zeros: receives them one-hot as well; or no rows at all

    Returns _DONE, or, without running a step: _WEIGHTS_CHANGED when ``weights`` are not the
    ``source`` the prepared layout was made from (prepare it again and call again), or
    _STATE_NOT_FINITE. The steps run with fast-math, which assumes there is no NaN: the
    prepared weights were checked once when they were made, and equal values are just as finite.
    """
    for k in range(len(weights)):
        if not _same_values(weights[k], source[k]):
            return _WEIGHTS_CHANGED
    if not (all_finite(a) and all_finite(c)):
        return _STATE_NOT_FINITE
    B, n_a = a.shape
    n_values = weights[8].shape[0]  # Wy's rows; b_y and the logits are padded past them
    n_forced = forced.shape[0]
    n_steps = n_forced + out.shape[0]
    z = _aligned_empty(a, B, 4 * n_a)
    logits = _aligned_empty(a, B, b_y.shape[0])
    draw_weights = np.empty(n_values)  # scratch space for _draw
    draw_allowed = np.empty(n_values, dtype=np.bool_)
    inv_temperature = 1.0 / temperature if temperature > 0.0 else 0.0
    keep_one_hot = one_hot.shape[0] > 0
    # the step writes into a second pair of state arrays; the pairs swap roles every step
    a_state, c_state = a, c
    a_next, c_next = _aligned_empty(a, B, n_a), _aligned_empty(c, B, n_a)
    for t in range(n_steps):
        cell_step(x, a, c, Wa, Wx, b, a_next, c_next, z)
        a, a_next = a_next, a
        c, c_next = c_next, c
        if t < n_forced:
            for s in range(B):
                x[s] = forced[t]
            continue  # the prediction is overruled, so it need not be computed

        affine(a, Wy_t, b_y, logits)
        step = t - n_forced
        for s in range(B):
            if temperature == 0.0:
                # the course's choice: argmax of the softmax, which is the argmax of the logits
                best = 0
                for v in range(1, n_values):
                    if logits[s, v] > logits[s, best]:
                        best = v
                x[s] = best
            else:
                x[s] = _draw(logits[s, :n_values], inv_temperature, top_k, uniforms[step, s],
                             draw_weights, draw_allowed)
            out[step, s] = x[s]
            if keep_one_hot:
                one_hot[step, s, x[s]] = 1.0
    if n_steps % 2 == 1:  # the final state is in the second pair
        # element by element: a slice assignment from an array compiles numba's shape-mismatch
        # message formatting, which took longer to compile than the rest of this kernel
        for s in range(B):
            for q in range(n_a):
                a_state[s, q] = a[s, q]
                c_state[s, q] = c[s, q]
    return _DONE


class SamplerState(NamedTuple):
    """Where a batch of solos stands between calls of :func:`sample_steps`.

    x: (n_solos,) int64, the index of each solo's next input value (its last value), or -1 for
       the zero input that starts a solo.
    a, c: (n_solos, n_a), the LSTM's hidden and cell state.
    """

    x: np.ndarray
    a: np.ndarray
    c: np.ndarray


def initial_state(model: Model, n_solos: int = 1) -> SamplerState:
    """The course's starting point for n_solos solos: x0 = 0 and a0 = c0 = 0."""
    _check_count(n_solos, "n_solos")
    return SamplerState(*_start(n_solos, model.n_a, _dtype(model)))


def _start(n_solos: int, n_a: int, dtype) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = np.empty(n_solos, dtype=np.int64)
    x.fill(-1)  # np.full takes three times as long
    return x, np.zeros((n_solos, n_a), dtype), np.zeros((n_solos, n_a), dtype)


def sample_steps(
    model: Model,
    n_steps: int,
    state: Optional[SamplerState] = None,
    temperature: float = 0.0,
    top_k: Optional[int] = None,
    rng: Union[np.random.Generator, int, None] = None,
    primer: Optional[Sequence[Union[str, int]]] = None,
    n_solos: int = 1,
) -> Tuple[np.ndarray, SamplerState]:
    """Continue a batch of solos by n_steps values, from ``state`` (or from the start).

    model:       the trained model.
    n_steps:     how many values to choose (0 is allowed, for instance to only feed a primer).
    state:       where the solos stand, as returned by an earlier call; None starts n_solos new
                 solos from x0 = 0, a0 = c0 = 0. The given state is not modified.
    temperature: 0 picks the likeliest value (the course); above 0 draws from
                 softmax(logits / temperature): below 1 sharper, above 1 flatter.
    top_k:       when drawing, only the top_k likeliest values can be drawn (None: all; on a
                 tie at the k-th place the lower index is kept).
    rng:         a numpy Generator or a seed for the draws; None draws fresh entropy.
    primer:      values (strings of the vocabulary, or their indices) fed in first, one by one,
                 as if they had been chosen; the values returned come after them.
    n_solos:     the batch size when ``state`` is None.

    Returns (indices, state): indices (n_steps, n_solos) int64, and the state after the last
    value, ready for the next call.
    """
    if not _is_whole(n_steps) or n_steps < 0:
        raise LstmNumpyError(f"n_steps must be a whole number of 0 or more, got {n_steps!r}.")
    return _sample(model, n_steps, state, temperature, top_k, rng, primer, n_solos, _NO_ONE_HOT)


def _sample(model, n_steps, state, temperature, top_k, rng, primer, n_solos, one_hot):
    """sample_steps after its n_steps check; one_hot (n_steps, n_solos, n_values) float32 zeros, if
    it has any rows, also receives the chosen values one-hot."""
    temperature = _check_temperature(temperature)
    top_k = _check_top_k(top_k, model.n_values)
    if state is None:
        _check_count(n_solos, "n_solos")
        x, a, c = _start(n_solos, model.n_a, _dtype(model))
    else:
        x, a, c = _check_state(state, model)
    forced = _primer_indices(primer, model)
    n_solos = x.shape[0]

    if temperature > 0.0:
        generator = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        uniforms = generator.random((n_steps, n_solos))
    else:
        uniforms = _NO_UNIFORMS
    out = np.empty((n_steps, n_solos), dtype=np.int64)
    weights = _parameters(model, a.dtype)
    prepared = _PREPARED.get(a.dtype)
    if prepared is None:
        prepared = _prepare(weights)
    status = _sample_kernel(x, a, c, forced, uniforms, temperature, top_k, weights, *prepared, out, one_hot)
    if status == _WEIGHTS_CHANGED:  # another model, or this one trained further since
        prepared = _prepare(weights)
        status = _sample_kernel(x, a, c, forced, uniforms, temperature, top_k, weights, *prepared, out, one_hot)
    if status == _STATE_NOT_FINITE:
        raise LstmNumpyError("state.a or state.c contains NaN or infinite values; start from initial_state(model, n_solos).")
    return out, SamplerState(x, a, c)


# placeholders for arrays a call does not need (writeable, like every array the kernel is given,
# so that they do not make numba compile a second version of it)
_NO_PRIMER = np.zeros(0, dtype=np.int64)
_NO_UNIFORMS = np.zeros((0, 0))
_NO_ONE_HOT = np.zeros((0, 0, 0), dtype=np.float32)


def predict_and_sample(
    model: Model,
    Ty: int = 50,
    temperature: float = 0.0,
    top_k: Optional[int] = None,
    seed: Union[int, np.random.Generator, None] = None,
    primer: Optional[Sequence[Union[str, int]]] = None,
    n_solos: int = 1,
) -> Tuple[np.ndarray, np.ndarray]:
    """Improvise Ty values, as the course's predict_and_sample does (with more options).

    With the defaults this is the course's inference exactly: start from x0 = 0, a0 = c0 = 0
    and take the argmax at every step, so the same Ty values come out every time. Options as in
    :func:`sample_steps`; ``seed`` seeds the draws when temperature > 0.

    Returns (results, indices), the course's shapes for one solo:
        results (Ty, n_values) float32, one-hot;  indices (Ty, 1) int64.
    With n_solos > 1 (several solos at once, each drawn independently):
        results (Ty, n_solos, n_values);  indices (Ty, n_solos).
    """
    if not _is_whole(Ty) or Ty < 1:
        raise LstmNumpyError(f"Ty must be a whole number of 1 or more, got {Ty!r}.")
    _check_count(n_solos, "n_solos")
    results = np.zeros((Ty, n_solos, model.n_values), dtype=np.float32)
    indices, _ = _sample(model, Ty, None, temperature, top_k, seed, primer, n_solos, results)
    if n_solos == 1:
        return results[:, 0, :], indices
    return results, indices


def _dtype(model: Model) -> np.dtype:
    """Sample in the model's own precision: float32 or float64."""
    dtype = np.asarray(model.parameters["Wf"]).dtype
    return dtype if dtype in (np.float32, np.float64) else np.dtype(np.float64)


_NAMES = ("Wf", "Wi", "Wc", "Wo", "bf", "bi", "bc", "bo", "Wy", "by")


def _parameters(model: Model, dtype: np.dtype) -> Tuple[np.ndarray, ...]:
    """The course's ten parameter arrays in the order of _NAMES: C-contiguous, of one dtype (so that
    one compiled version of the kernel serves every model of that dtype)."""
    parameters = model.parameters
    weights = tuple([np.ascontiguousarray(parameters[name], dtype=dtype) for name in _NAMES])
    # the kernel takes ten 2-D arrays (anything else would be a compile error deep in numba);
    # their exact shapes are checked when they are laid out for it (_prepare)
    if [w.ndim for w in weights] != [2] * len(_NAMES):
        name, w = next((name, w) for name, w in zip(_NAMES, weights) if w.ndim != 2)
        raise LstmNumpyError(f"the model's {name} has shape {w.shape} but must be 2-D, as init_model makes it; "
                             "use a model made by init_model or read by load_checkpoint.")
    return weights


def _prepare(weights: Tuple[np.ndarray, ...]) -> _Prepared:
    """Check the ten course arrays, lay them out for the kernel, and keep the result for next time."""
    n_a, n_values = weights[0].shape[0], weights[8].shape[0]
    expected = [(n_a, n_a + n_values)] * 4 + [(n_a, 1)] * 4 + [(n_values, n_a), (n_values, 1)]
    for name, w, shape in zip(_NAMES, weights, expected):
        if w.shape != shape:  # the kernel trusts the shapes: a wrong one would read past an array
            raise LstmNumpyError(f"the model's {name} has shape {w.shape} but its Wf and Wy need {shape}; "
                                 "use a model made by init_model or read by load_checkpoint.")
    for w in weights:
        if not all_finite(w):
            raise LstmNumpyError("the model's weights contain NaN or infinite values; "
                                 "load a checkpoint saved before training diverged, or train with a smaller learning rate.")
    Wa, Wx, b = fuse_gates(*weights[:8])
    Wy, by = weights[8], weights[9]
    # The Dense layer padded with zeros to whole SIMD registers: a ragged end of each row would
    # take a slow loop of its own at every step (the logits past n_values are never looked at).
    n_values, n_a = Wy.shape
    width = padded(n_values)
    Wy_t = np.zeros((n_a, width), dtype=Wy.dtype)
    Wy_t[:, :n_values] = Wy.T
    b_y = np.zeros(width, dtype=Wy.dtype)
    b_y[:n_values] = by[:, 0]
    source = tuple(w.copy() for w in weights)  # copies: the model's own arrays may change in place
    prepared = _Prepared(source, *(_aligned(w) for w in (Wa, Wx, b, Wy_t, b_y)))
    _PREPARED[Wa.dtype] = prepared
    return prepared


def _is_whole(value) -> bool:
    """An int or a NumPy integer, but not a bool (the plain int is tested first: it is the usual
    case, and the test against numbers.Integral costs ten times as much)."""
    return type(value) is int or (isinstance(value, numbers.Integral) and not isinstance(value, bool))


def _check_count(value, name: str) -> None:
    if not _is_whole(value) or value < 1:
        raise LstmNumpyError(f"{name} must be a whole number of 1 or more, got {value!r}.")


def _check_temperature(temperature) -> float:
    try:
        value = float(temperature)
    except (TypeError, ValueError):
        value = float("nan")
    if not (0.0 <= value < float("inf")):
        raise LstmNumpyError(f"temperature must be a finite number of 0 or more, got {temperature!r}.")
    return value


def _check_top_k(top_k, n_values: int) -> int:
    if top_k is None:
        return 0
    if not _is_whole(top_k) or not 1 <= top_k <= n_values:
        raise LstmNumpyError(f"top_k must be None or a whole number from 1 to {n_values}, got {top_k!r}.")
    return int(top_k)


def _check_state(state: SamplerState, model: Model):
    """Copies of the state's arrays in the kernel's types, after checking they fit the model."""
    try:
        x = np.array(state.x, dtype=np.int64).reshape(-1)
        a = np.array(state.a, dtype=_dtype(model), order="C")
        c = np.array(state.c, dtype=_dtype(model), order="C")
    except (AttributeError, TypeError, ValueError):
        raise LstmNumpyError("state must be a SamplerState as returned by sample_steps or initial_state.") from None
    n = x.shape[0]
    if n < 1 or a.shape != (n, model.n_a) or c.shape != (n, model.n_a):
        raise LstmNumpyError(
            f"state does not fit this model: expected x (n_solos,) and a, c (n_solos, {model.n_a}), "
            f"got {x.shape}, {a.shape}, {c.shape}; start from initial_state(model, n_solos)."
        )
    if x.min() < -1 or x.max() >= model.n_values:
        raise LstmNumpyError(f"state.x must hold value indices from 0 to {model.n_values - 1} (or -1 at the start).")
    return x, a, c


def _primer_indices(primer, model: Model) -> np.ndarray:
    """The primer's values as vocabulary indices; an unknown value is the caller's mistake."""
    if primer is None:
        return _NO_PRIMER
    if isinstance(primer, str):
        primer = primer.split()
    vocabulary = model.indices_values
    pairs = vocabulary.items() if isinstance(vocabulary, dict) else enumerate(vocabulary)
    lookup = {value: int(index) for index, value in pairs}
    indices = []
    for value in primer:
        if isinstance(value, str):
            if value not in lookup:
                raise LstmNumpyError(
                    f"primer value {value!r} is not in the model's vocabulary of {model.n_values} values; "
                    "use values from model.indices_values."
                )
            indices.append(lookup[value])
        elif _is_whole(value) and 0 <= value < model.n_values:
            indices.append(int(value))
        else:
            raise LstmNumpyError(
                f"primer entry {value!r} is neither a value string of the vocabulary nor an index "
                f"from 0 to {model.n_values - 1}."
            )
    return np.array(indices, dtype=np.int64)
