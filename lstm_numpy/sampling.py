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
step. This module checks the arguments and prepares the weights; ``kernels.sample_kernel`` runs
the steps:

* ``kernels.sample_kernel`` is one numba call that does every step (cell, Dense layer, choice,
  feedback) without returning to Python. The LSTM step is ``kernels.cell_step``, the package's
  one compiled step kernel (its exp and tanh are plain arithmetic the compiler vectorises, its
  products loops blocked four solos by four weight rows, ``kernels.affine``), compiled into the
  sampling kernel's own code with its fast-math flags; the Dense layer's logits use the same
  blocked product.
* The weights are laid out for the steps once, and kept (``_prepare``): the gates fused and
  halved (``layout.fuse``), the Dense layer transposed. They are checked for NaN and
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
"""

from __future__ import annotations

import numbers
from typing import NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np
from .errors import LstmNumpyError
from .kernels import STATE_NOT_FINITE, WEIGHTS_CHANGED, all_finite, sample_kernel
from .layout import aligned_empty, fuse, padded
from .lstm import PARAMETER_NAMES, parameter_shapes
from .model import Model


class Prepared(NamedTuple):
    """A model's weights laid out for the kernel, with copies of the arrays they were made from.

    source: copies of the course's ten arrays (Wf .. by, of one dtype) that the rest was made
        from, and is only valid for;
    Wa (n_a, 4 n_a), Wx (n_values + 1, 4 n_a), b (4 n_a,): the fused, halved gates of
        ``layout.fuse``;
    Wy_t (n_a, n_y), b_y (n_y,): the Dense layer, transposed so that its product runs along rows
        like the gates', and padded with zeros from n_values to n_y = ``layout.padded(n_values)``
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
    """A C-contiguous copy of array whose first element starts a cache line (``layout.aligned_empty``)."""
    copy = aligned_empty(array.shape, array.dtype)
    copy[...] = array
    return copy


# The weights prepared last, one entry per dtype (so that the kernel is compiled once per dtype);
# an entry holds about twice the memory of the model's weights until the next model of its dtype
# replaces it. Whether an entry fits the model being sampled is decided by comparing values,
# never by which arrays or model they came from: training updates a model's arrays in place.
_PREPARED = {}


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
    status = sample_kernel(x, a, c, forced, uniforms, temperature, top_k, weights, *prepared, out, one_hot)
    if status == WEIGHTS_CHANGED:  # another model, or this one trained further since
        prepared = _prepare(weights)
        status = sample_kernel(x, a, c, forced, uniforms, temperature, top_k, weights, *prepared, out, one_hot)
    if status == STATE_NOT_FINITE:
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


def _parameters(model: Model, dtype: np.dtype) -> Tuple[np.ndarray, ...]:
    """The course's ten parameter arrays in the order of PARAMETER_NAMES: C-contiguous, of one
    dtype (so that one compiled version of the kernel serves every model of that dtype)."""
    parameters = model.parameters
    weights = tuple([np.ascontiguousarray(parameters[name], dtype=dtype) for name in PARAMETER_NAMES])
    # the kernel takes ten 2-D arrays (anything else would be a compile error deep in numba);
    # their exact shapes are checked when they are laid out for it (_prepare)
    if [w.ndim for w in weights] != [2] * len(PARAMETER_NAMES):
        name, w = next((name, w) for name, w in zip(PARAMETER_NAMES, weights) if w.ndim != 2)
        raise LstmNumpyError(f"the model's {name} has shape {w.shape} but must be 2-D, as init_model makes it; "
                             "use a model made by init_model or read by load_checkpoint.")
    return weights


def _prepare(weights: Tuple[np.ndarray, ...]) -> Prepared:
    """Check the ten course arrays, lay them out for the kernel, and keep the result for next time."""
    n_a, n_values = weights[0].shape[0], weights[8].shape[0]
    if weights[0].shape[1] > n_a + n_values:  # extra input columns: the conditioned model's features
        raise LstmNumpyError("this is a conditioned model: it reads the chords and the beat of every value, so it "
                             "improvises over chord changes only (generate_music, or sampling_conditioned.sample_solo).")
    prepared = lay_out(weights)
    _PREPARED[prepared.Wa.dtype] = prepared
    return prepared


def lay_out(weights: Tuple[np.ndarray, ...], n_features: int = 0) -> Prepared:
    """The ten arrays checked (shapes, finite numbers) and laid out for the kernels (``Prepared``).

    n_features: the conditioned model's n_d; its Wx then has rows for the features' columns too,
    which the kernels never index (``sampling_conditioned`` adds their own layout, Wd).
    """
    n_a, n_values = weights[0].shape[0], weights[8].shape[0]
    expected = parameter_shapes(n_a, n_values, n_features)
    for name, w in zip(PARAMETER_NAMES, weights):
        shape = expected[name]
        if w.shape != shape:  # the kernel trusts the shapes: a wrong one would read past an array
            raise LstmNumpyError(f"the model's {name} has shape {w.shape} but its Wf and Wy need {shape}; "
                                 "use a model made by init_model or read by load_checkpoint.")
    for w in weights:
        if not all_finite(w):
            raise LstmNumpyError("the model's weights contain NaN or infinite values; "
                                 "load a checkpoint saved before training diverged, or train with a smaller learning rate.")
    Wa, Wx, b, _ = fuse(dict(zip(PARAMETER_NAMES[:8], weights)))
    Wy_t, b_y = output_layer(weights[8], weights[9])
    source = tuple(w.copy() for w in weights)  # copies: the model's own arrays may change in place
    return Prepared(source, *(_aligned(w) for w in (Wa, Wx, b, Wy_t, b_y)))


def output_layer(Wy: np.ndarray, by: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """The Dense layer for the steps: Wy_t (n_a, n_y) and b_y (n_y,), transposed and padded.

    Padded with zeros to whole SIMD registers, n_y = ``padded(n_values)``: a ragged end of each
    row would take a slow loop of its own at every step (the logits past n_values are never
    looked at).
    """
    n_values, n_a = Wy.shape
    width = padded(n_values)
    Wy_t = np.zeros((n_a, width), dtype=Wy.dtype)
    Wy_t[:, :n_values] = Wy.T
    b_y = np.zeros(width, dtype=Wy.dtype)
    b_y[:n_values] = by[:, 0]
    return Wy_t, b_y


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
