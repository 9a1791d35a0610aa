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
the whole loop runs in compiled code. ``_sample_kernel`` is one numba call that does every
step (cell, softmax, choice, feedback) without returning to Python:

* the weights are rearranged for the loop inside the same compiled call (``_pack``);
* the one-hot input is never built: ``Wx[x]`` picks the row of input weights it would select;
* the four gates are one product: their weights are stacked into ``Wa`` (n_a, 4 n_a), so one
  pass over ``a`` fills all 4 n_a gate inputs;
* the products are loops that the compiler turns into SIMD code, blocked four solos by four
  rows of weights (``_affine``); at these sizes they beat a call to BLAS;
* ``exp`` is computed by ``_exp`` below, plain arithmetic that the compiler vectorises, in the
  model's own precision; numba's ``math.exp`` is a scalar library call here, about 20 times
  slower per value;
* the random numbers are drawn up front from the caller's ``numpy.random.Generator`` and passed
  in, so a seed reproduces a solo and numba's own random state is never touched.
"""

from __future__ import annotations

import math
import numbers
from typing import NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic, overload

from .errors import LstmNumpyError
from .model import Model

# Some fast-math: fused multiply-add, and no NaN (which lets min/max become SIMD instructions).
# Infinities stay legal (a tiny temperature makes logit differences -inf), and sums are never
# reassociated, because _exp relies on the exact order of its range reduction.
_FLAGS = {"nnan", "nsz", "contract", "arcp"}

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


def _sigmoid(x):
    """1 / (1 + exp(-x)) in x's own precision (compiled code only)."""
    raise TypeError("_sigmoid runs inside numba-compiled code only")


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


@overload(_sigmoid)
def _sigmoid_for(x):
    if not isinstance(x, types.Float):
        return None
    (one,) = _typed(x, 1.0)
    return lambda x: one / (one + _exp(-x))


@overload(_tanh)
def _tanh_for(x):
    if not isinstance(x, types.Float):
        return None
    one, two = _typed(x, 1.0, 2.0)
    return lambda x: one - two / (_exp(two * x) + one)


@njit(fastmath=_FLAGS, error_model="numpy")
def _affine(a, W, b, out):
    """out = a @ W + b for a (B, k), W (k, n), b (n,); out (B, n) is overwritten.

    Rows of W are added into rows of out, so the inner loops run along contiguous memory and
    become SIMD code. Four rows of W per pass, so out is loaded and stored four times less;
    four solos per pass, so each row of W loaded serves four solos. (Faster than BLAS here at
    every batch size from 1 to 128, and it keeps SciPy, which numba's np.dot needs, out of it.)
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
    for s in range(B4, B):  # the last B % 4 solos, one at a time
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


@njit(cache=True, error_model="numpy")
def _pack(Wf, Wi, Wc, Wo, bf, bi, bc, bo, Wy, by):
    """The kernel's weight layout (see _sample_kernel) from the course's parameters.

    The four gates' (n_a, n_a + n_values) weights are transposed into the columns of one
    (n_a + n_values, 4 n_a) matrix, whose first n_a rows act on a_prev (Wa) and the rest on x (Wx).
    The copies write along rows, so each inner loop stores to contiguous memory.
    """
    n_a, n_in = Wf.shape
    n_values = Wy.shape[0]
    W = np.empty((n_in, 4 * n_a), dtype=Wf.dtype)
    b = np.empty(4 * n_a, dtype=Wf.dtype)
    for g, (Wg, bg) in enumerate(((Wf, bf), (Wi, bi), (Wc, bc), (Wo, bo))):
        for j in range(n_a):
            b[g * n_a + j] = bg[j, 0]
        for k in range(n_in):
            for j in range(n_a):
                W[k, g * n_a + j] = Wg[j, k]
    Wy_t = np.empty((n_a, n_values), dtype=Wf.dtype)
    for k in range(n_a):
        for v in range(n_values):
            Wy_t[k, v] = Wy[v, k]
    return W[:n_a], W[n_a:], b, Wy_t, by[:, 0].copy()


@njit(fastmath=_FLAGS, error_model="numpy")
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


@njit(cache=True, fastmath=_FLAGS, error_model="numpy")
def _sample_kernel(x, a, c, forced, uniforms, temperature, top_k, Wf, Wi, Wc, Wo, bf, bi, bc, bo, Wy, by, out):
    """Run len(forced) teacher-forced steps, then out.shape[0] free steps, all in compiled code.

    x        (B,) int64      index of each solo's next input value; -1 is the zero input x0
    a, c     (B, n_a)        the LSTM state; x, a and c are updated in place
    forced   (P,) int64      after step t < P the next input is forced[t], not a choice
    uniforms (n_free, B)     one uniform number in [0, 1) per choice; unused when temperature == 0
    top_k    int             keep only the top_k likeliest values when drawing; 0 keeps all
    Wf .. by                 the course's parameters (see Model), all of a's dtype
    out      (n_free, B) int64  receives the chosen values

    The weights are rearranged first (``_pack``), inside this same call: returning them to
    Python and passing them back would cost more than rearranging them.
    """
    Wa, Wx, b, Wy_t, b_y = _pack(Wf, Wi, Wc, Wo, bf, bi, bc, bo, Wy, by)
    B, n_a = a.shape
    n_values = b_y.shape[0]
    n_forced = forced.shape[0]
    z = np.empty((B, 4 * n_a), dtype=a.dtype)
    logits = np.empty((B, n_values), dtype=a.dtype)
    weights = np.empty(n_values)
    allowed = np.empty(n_values, dtype=np.bool_)
    inv_temperature = 1.0 / temperature if temperature > 0.0 else 0.0
    for t in range(n_forced + out.shape[0]):
        # gate inputs: [a_prev; x] times the stacked weights; x one-hot, so a row look-up
        _affine(a, Wa, b, z)
        for s in range(B):
            if x[s] >= 0:
                for j in range(4 * n_a):
                    z[s, j] += Wx[x[s], j]
        for s in range(B):
            for j in range(n_a):
                ft = _sigmoid(z[s, j])
                it = _sigmoid(z[s, n_a + j])
                cct = _tanh(z[s, 2 * n_a + j])
                ot = _sigmoid(z[s, 3 * n_a + j])
                c[s, j] = ft * c[s, j] + it * cct
                a[s, j] = ot * _tanh(c[s, j])
        if t < n_forced:
            for s in range(B):
                x[s] = forced[t]
            continue  # the prediction is overruled, so it need not be computed

        _affine(a, Wy_t, b_y, logits)
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
                x[s] = _draw(logits[s], inv_temperature, top_k, uniforms[step, s], weights, allowed)
            out[step, s] = x[s]
    return out


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
    dtype = _dtype(model)
    zeros = np.zeros((n_solos, model.n_a), dtype=dtype)
    return SamplerState(np.full(n_solos, -1, dtype=np.int64), zeros, zeros.copy())


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
    if not isinstance(n_steps, numbers.Integral) or isinstance(n_steps, bool) or n_steps < 0:
        raise LstmNumpyError(f"n_steps must be a whole number of 0 or more, got {n_steps!r}.")
    temperature = _check_temperature(temperature)
    top_k = _check_top_k(top_k, model.n_values)
    if state is None:
        x, a, c = initial_state(model, n_solos)
    else:
        x, a, c = _check_state(state, model)
    forced = _primer_indices(primer, model)
    n_solos = x.shape[0]

    if temperature > 0.0:
        generator = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        uniforms = generator.random((n_steps, n_solos))
    else:
        uniforms = np.zeros((0, n_solos))
    out = np.empty((n_steps, n_solos), dtype=np.int64)
    _sample_kernel(x, a, c, forced, uniforms, temperature, top_k, *_parameters(model, a.dtype), out)
    return out, SamplerState(x, a, c)


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
    if not isinstance(Ty, numbers.Integral) or isinstance(Ty, bool) or Ty < 1:
        raise LstmNumpyError(f"Ty must be a whole number of 1 or more, got {Ty!r}.")
    indices, _ = sample_steps(model, Ty, None, temperature, top_k, seed, primer, n_solos)
    results = np.zeros((Ty, indices.shape[1], model.n_values), dtype=np.float32)
    steps, solos = np.indices(indices.shape, sparse=True)
    results[steps, solos, indices] = 1.0
    if n_solos == 1:
        return results[:, 0, :], indices
    return results, indices


def _dtype(model: Model) -> np.dtype:
    """Sample in the model's own precision: float32 or float64."""
    dtype = np.asarray(model.parameters["Wf"]).dtype
    return dtype if dtype in (np.float32, np.float64) else np.dtype(np.float64)


def _parameters(model: Model, dtype: np.dtype):
    """The course's ten parameter arrays, in the order _sample_kernel takes them, of one dtype."""
    names = ("Wf", "Wi", "Wc", "Wo", "bf", "bi", "bc", "bo", "Wy", "by")
    return [np.asarray(model.parameters[name], dtype=dtype) for name in names]


def _check_count(value, name: str) -> None:
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
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
    if not isinstance(top_k, numbers.Integral) or isinstance(top_k, bool) or not 1 <= top_k <= n_values:
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
        return np.zeros(0, dtype=np.int64)
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
        elif isinstance(value, numbers.Integral) and not isinstance(value, bool) and 0 <= value < model.n_values:
            indices.append(int(value))
        else:
            raise LstmNumpyError(
                f"primer entry {value!r} is neither a value string of the vocabulary nor an index "
                f"from 0 to {model.n_values - 1}."
            )
    return np.array(indices, dtype=np.int64)
