"""Every numba-compiled loop of the package: training's passes, sampling's steps, Adam's update.

numba keeps each compiled function on disk (``cache=True``) and checks that cache against the
file it was defined in; a kernel compiled from code in another file was not noticed when that
code changed. Keeping every kernel in this one file keeps the cache honest. Importing it
compiles nothing: a kernel is compiled (or read back from the cache) the first time it runs.

The kernels work in the fast path's layout (``layout.py``): one example per row, the four gates
side by side and the sigmoid gates' columns halved, so that sigmoid(x) = 0.5 + 0.5 tanh(x / 2)
and one tanh serves all four gates. Their formulas are ``lstm.py``'s; the tests hold them equal.

Why they are fast:

* **A whole pass is one call.** Training's passes through time (``forward_kernel``,
  ``backward_kernel``) and sampling's solo (``sample_kernel``) run every step without
  returning to Python, so a step costs only its arithmetic.
* **The output layer rides on the recurrence.** The hidden state a<t> feeds two products, step
  t's gates (through Wa) and output t - 1's logits (through Wy), so forward takes one product
  a<t> @ [Wa | Wy.T] per step and finishes the softmax and its loss gradient right there.
  Backward mirrors it: a<t>'s gradient comes from both users in one product,
  [dZ<t> | dY<t-1>] @ [Wa | Wy.T].T. The buffer Q holds, per step, the gates then the output
  gradient side by side, so both products read it as it is; backward overwrites the gates with
  their gradients in place.
* **Our own products, not BLAS.** Training's products are ``matmul_add``: register tiles of
  6 rows by 2 SIMD vectors whose sums never leave the registers, over strips of the weights
  sized for the machine's L1 cache (``machine.strip_rows``, ``machine.vector_bytes``). On an
  Intel Xeon (AVX-512) they ran 125-160 GFLOP/s on one core from the course model's shapes to
  n_a = 512, where the earlier loops (four rows by four rows of W per pass, sums loaded and
  stored for every four rows of W) ran 95-120. Sampling's ``affine`` keeps those simpler
  loops, which suit its one-row products; a call costs nothing inside a compiled loop.
* **Padded, aligned rows.** Rows are padded to a multiple of 16 numbers and start on 64-byte
  boundaries (``layout.padded``, ``aligned_empty``), so SIMD loops have no scalar remainder:
  15-30% on the products and most of the softmax's time.
* **exp and tanh from arithmetic.** numba compiles ``np.exp``/``np.tanh`` in a loop to one
  scalar library call per element (about 7 ns each here; the PyPI llvmlite has no vector math
  library). ``fast_exp`` and ``fast_tanh`` are polynomial arithmetic the compiler vectorises,
  about 0.25 ns per element in float32.

All kernels keep float32 as float32: their constants are made with the array's own dtype (a bare
``0.5`` would silently promote the arithmetic to float64). The training kernels release
Python's lock (``nogil=True``), so threads can run them side by side on parts of a batch.
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic, models, overload, register_model

from . import machine

# 512-bit SIMD code on AVX-512 processors, Intel's included (see machine.py); before anything
# below asks numba for its compiler, which is made once per process
machine.wide_vectors()

# --------------------------------------------------------------------------------------------
# Compiler flags
# --------------------------------------------------------------------------------------------

# Some fast-math: fused multiply-add, and no NaN (which lets min/max become SIMD instructions).
# Infinities stay legal (a tiny sampling temperature makes logit differences -inf), and sums are
# never reassociated, because fast_exp relies on the exact order of its range reduction. Without
# NaN checks a NaN in the weights would give wrong numbers silently: callers check their inputs
# once with ``all_finite`` before a loop of steps.
FAST_MATH = {"nnan", "nsz", "contract", "arcp"}

# Sums need reordering to become SIMD code, which FAST_MATH does not allow (fast_exp's range
# reduction must keep its order), so the kernels that sum along a row are compiled on their own.
REDUCE_MATH = {"nnan", "ninf", "nsz", "contract", "reassoc"}


# --------------------------------------------------------------------------------------------
# exp and tanh from arithmetic
# --------------------------------------------------------------------------------------------

# exp(x) = 2**n * exp(r), with n = round(x / ln 2) and r = x - n ln 2, |r| <= ln(2)/2. ln 2 is
# split into a part with trailing zero bits (so n * ln2_hi is exact) and the rest, and exp(r)
# is its Taylor polynomial, cut where the next term falls below the precision's rounding.
# n is rounded by adding a "magic" number whose last mantissa bit is worth 1 (1.5 * 2**23 in
# float32): the sum's low bits are then n, offset by the exponent's bias folded into the magic
# number, and shifting them into the exponent field gives 2**n (``_pow2_bits``). Two vector
# instructions fewer per exp than a floor and a conversion to integer, which made the forward
# pass's gates (five exps per number) about 15% faster. The float64 bits: the same in 52 bits.
_LOG2E = 1.4426950408889634
_EXP_TAYLOR = tuple(1 / math.factorial(k) for k in range(13, -1, -1))  # 1/13!, ..., 1/1!, 1/0!
_EXP_PRECISION = {
    # bits: (ln2_hi, ln2_lo, Taylor degree, clamp range without overflow or subnormals, magic)
    32: (0.693359375, -2.12194440e-4, 7, (-87.0, 88.0), 1.5 * 2**23 + 127),
    64: (6.93147180369123816490e-01, 1.90821492927058770002e-10, 13, (-708.0, 709.0), 1.5 * 2**52 + 1023),
}


@intrinsic
def _pow2_bits(typingctx, t):
    """2.0 ** n from t = magic + n (see ``_EXP_PRECISION``), a float32 or float64: its low
    mantissa bits, n plus the exponent's bias, shifted into the exponent field (the higher bits
    shift out)."""
    if not isinstance(t, types.Float):
        return None
    bits, shift = (32, 23) if t.bitwidth == 32 else (64, 52)

    def codegen(context, builder, signature, args):
        integer = ir.IntType(bits)
        e = builder.shl(builder.bitcast(args[0], integer), ir.Constant(integer, shift))
        return builder.bitcast(e, args[0].type)

    return t(t), codegen


def fast_exp(x):
    """exp(x) from arithmetic only, so that loops calling it are vectorised (compiled code only).

    Computed in x's own precision, float32 or float64; x is clamped to the range where the result
    neither overflows nor goes subnormal (a sigmoid or tanh is flat long before). Measured
    against NumPy's exp: within 1 unit in the last place in float64, 3 in float32.
    """
    raise TypeError("fast_exp runs inside numba-compiled code only")


def fast_tanh(x):
    """tanh(x) = 1 - 2 / (exp(2x) + 1) in x's own precision (compiled code only)."""
    raise TypeError("fast_tanh runs inside numba-compiled code only")


def sigmoid_of_halved(z):
    """sigmoid(2 z) = e / (e + 1) with e = exp(2 z) (compiled code only): a sigmoid gate's value
    from its halved pre-activation (the fused layout's), the same number as 0.5 + 0.5 tanh(z)
    within the float's rounding, with two operations fewer. exp is clamped (``fast_exp``), so
    e + 1 stays finite and a large z gives 1."""
    raise TypeError("sigmoid_of_halved runs inside numba-compiled code only")


def _typed(x, *values):
    """The values as NumPy scalars of x's numba float type, so arithmetic stays in that type."""
    scalar = np.float32 if x.bitwidth == 32 else np.float64
    return tuple(scalar(v) for v in values)


@overload(fast_exp)
def _fast_exp_for(x):
    if not isinstance(x, types.Float):
        return None
    ln2_hi, ln2_lo, degree, clamp, magic = _EXP_PRECISION[x.bitwidth]
    log2e, zero, ln2_hi, ln2_lo, low, high, magic = _typed(x, _LOG2E, 0.0, ln2_hi, ln2_lo, *clamp, magic)
    coeffs = _typed(x, *_EXP_TAYLOR[-(degree + 1):])

    def impl(x):
        x = min(max(x, low), high)
        t = x * log2e + magic  # magic + n, n = round(x / ln 2): the sum keeps no fraction
        n = t - magic  # exact (FAST_MATH never reassociates, which would cancel the magic)
        r = (x - n * ln2_hi) - n * ln2_lo
        p = zero
        for coeff in coeffs:
            p = p * r + coeff
        return p * _pow2_bits(t)

    return impl


@overload(fast_tanh)
def _fast_tanh_for(x):
    if not isinstance(x, types.Float):
        return None
    one, two = _typed(x, 1.0, 2.0)
    return lambda x: one - two / (fast_exp(two * x) + one)


@overload(sigmoid_of_halved)
def _sigmoid_of_halved_for(z):
    if not isinstance(z, types.Float):
        return None
    (one,) = _typed(z, 1.0)

    def impl(z):
        e = fast_exp(z + z)
        return e / (e + one)

    return impl


# --------------------------------------------------------------------------------------------
# Memory: aligned arrays, finite numbers, unchanged weights
# --------------------------------------------------------------------------------------------

# Bytes: a cache line, and the width of AVX-512's registers. The loops read whole registers of
# weights and state; from an array starting mid-line, every other such load straddles two cache
# lines and costs two. NumPy's own allocations are only 16-byte aligned, numba's 32.
ALIGN = 64


@njit(cache=True)
def aligned_empty(like, rows, cols):
    """An uninitialised (rows, cols) array of like's dtype whose first element starts a cache line.

    The package's one aligned allocation: compiled code calls it directly, Python code through
    ``layout.aligned_empty``. like is any C-contiguous 2-D array of the wanted dtype (one
    argument type for every caller, so one compiled version per dtype).
    """
    raw = np.empty(rows * cols + ALIGN // like.itemsize, dtype=like.dtype)
    start = (-raw.ctypes.data % ALIGN) // like.itemsize
    return raw[start : start + rows * cols].reshape(rows, cols)


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


@njit(cache=True, nogil=True, fastmath=False)
def same_values(w, copy):
    """True when w and copy have one shape and equal entries (C-contiguous arrays, one dtype).

    A NaN equals nothing, so weights holding one never count as unchanged. -0.0 equals 0.0,
    which changes no result: the steps' fast-math flags ("nsz") ignore the sign of zero anyway.
    ``fastmath=False`` must stay explicit, for the reason ``all_finite`` gives.
    """
    if w.shape != copy.shape:
        return False
    flat, flat_copy = w.reshape(-1), copy.reshape(-1)
    differ = 0
    for i in range(flat.shape[0]):
        differ |= flat[i] != flat_copy[i]  # or-ed, not returned early: the loop stays SIMD
    return differ == 0


# --------------------------------------------------------------------------------------------
# SIMD vectors, for the products' register tiles
# --------------------------------------------------------------------------------------------

# numba has no vector type of its own, and its compiler keeps sums in registers only when they
# are plain local variables: a tile of sums written as out[s, j] += ... is loaded and stored
# again for every row of W (the compiler cannot tell that W and out do not overlap). So
# ``matmul_add`` works on a small vector type, a row of VECTOR_BYTES bytes of one dtype
# (``machine.vector_bytes``: two registers on AVX-512, one otherwise), with five operations
# that each compile to one or two instructions.
VECTOR_BYTES = machine.vector_bytes()


class Vector(types.Type):
    """A SIMD vector of `count` numbers of one dtype, the value of a local variable."""

    def __init__(self, dtype):
        self.dtype = dtype
        self.count = VECTOR_BYTES // (dtype.bitwidth // 8)
        super().__init__(name=f"Vector({dtype} x {self.count})")


@register_model(Vector)
class _VectorModel(models.PrimitiveModel):
    def __init__(self, dmm, fe_type):
        element = ir.FloatType() if fe_type.dtype.bitwidth == 32 else ir.DoubleType()
        super().__init__(dmm, fe_type, ir.VectorType(element, fe_type.count))


def _llvm_suffix(vector: ir.VectorType) -> str:
    return f"v{vector.count}f{32 if vector.element == ir.FloatType() else 64}"


def _address(context, builder, array_type, array, i, j):
    """The address of array[i, j] (no negative indices)."""
    array = context.make_array(array_type)(context, builder, array)
    return cgutils.get_item_pointer(context, builder, array_type, array, [i, j])


def _lanes_below(builder, count, valid):
    """A mask of `count` lanes: lane q is on when q < valid."""
    index = ir.VectorType(valid.type, count)
    limit = builder.insert_element(ir.Constant(index, ir.Undefined), valid, ir.Constant(ir.IntType(32), 0))
    limit = builder.shuffle_vector(limit, ir.Constant(index, ir.Undefined),
                                   ir.Constant(ir.VectorType(ir.IntType(32), count), [0] * count))
    return builder.icmp_signed("<", ir.Constant(index, list(range(count))), limit)


@intrinsic
def _load(typingctx, array, i, j, valid):
    """The vector array[i, j : j + count]; lanes from `valid` on (past the row's end) read as 0
    and touch no memory."""
    vector = Vector(array.dtype)

    def codegen(context, builder, signature, args):
        vty = context.get_value_type(vector)
        at = _address(context, builder, signature.args[0], args[0], args[1], args[2])
        mask = _lanes_below(builder, vector.count, context.cast(builder, args[3], signature.args[3], types.intp))
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(vty, [at.type, ir.IntType(32), mask.type, vty]),
                                            f"llvm.masked.load.{_llvm_suffix(vty)}.p0")
        return builder.call(fn, [at, ir.Constant(ir.IntType(32), array.dtype.bitwidth // 8), mask, ir.Constant(vty, None)])

    return vector(array, i, j, valid), codegen


@intrinsic
def _store(typingctx, array, i, j, v, valid):
    """array[i, j : j + count] = v, the lanes before `valid` only."""
    def codegen(context, builder, signature, args):
        vty = args[3].type
        at = _address(context, builder, signature.args[0], args[0], args[1], args[2])
        mask = _lanes_below(builder, vty.count, context.cast(builder, args[4], signature.args[4], types.intp))
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), [vty, at.type, ir.IntType(32), mask.type]),
                                            f"llvm.masked.store.{_llvm_suffix(vty)}.p0")
        builder.call(fn, [args[3], at, ir.Constant(ir.IntType(32), array.dtype.bitwidth // 8), mask])
        return context.get_dummy_value()

    return types.void(array, i, j, v, valid), codegen


@intrinsic
def _splat(typingctx, array, i, j):
    """A vector with array[i, j] in every lane."""
    vector = Vector(array.dtype)

    def codegen(context, builder, signature, args):
        vty = context.get_value_type(vector)
        x = builder.load(_address(context, builder, signature.args[0], args[0], args[1], args[2]))
        x = builder.insert_element(ir.Constant(vty, ir.Undefined), x, ir.Constant(ir.IntType(32), 0))
        return builder.shuffle_vector(x, ir.Constant(vty, ir.Undefined),
                                      ir.Constant(ir.VectorType(ir.IntType(32), vector.count), [0] * vector.count))

    return vector(array, i, j), codegen


@intrinsic
def _fma(typingctx, x, y, total):
    """total + x * y, lane by lane, rounded once."""
    def codegen(context, builder, signature, args):
        vty = args[2].type
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(vty, [vty] * 3), f"llvm.fma.{_llvm_suffix(vty)}")
        return builder.call(fn, list(args))

    return total(x, y, total), codegen


@intrinsic
def _lanes(typingctx, array):
    """The numbers of array's dtype in one vector, a constant."""
    count = VECTOR_BYTES // (array.dtype.bitwidth // 8)

    def codegen(context, builder, signature, args):
        return context.get_constant(types.intp, count)

    return types.intp(array), codegen


# --------------------------------------------------------------------------------------------
# Products
# --------------------------------------------------------------------------------------------

# matmul_add reads W in strips (2 vectors wide) a few rows deep, sized for the L1 cache; the
# order of every sum stays that of plain row-by-row accumulation, so neither the depth nor the
# machine's vector width changes a result. Every product of training is one, the gradient on a
# included: with the weights stored transposed (``W_back_t``) it measured faster than dot
# products along rows on every shape from the course model's to n_a = 512.


@njit(fastmath=FAST_MATH, error_model="numpy")
def affine(a, W, b, out):
    """out = a @ W + b for a (B, k), W (k, n), b (n,); out (B, n) is overwritten.

    Rows of W are added into rows of out, so the inner loops run along contiguous memory and
    become SIMD code. Four rows of W per pass, so out is loaded and stored four times less;
    four examples per pass, so each row of W loaded serves four examples. (Faster than BLAS here
    at every batch size from 1 to 128, and it keeps SciPy, which numba's np.dot needs, out of it.)

    These are the loops ``matmul_add`` had before its register tiles, with the bias written
    first. Sampling steps call it inlined on one or a few rows; copying b and then calling the
    products' kernel measured 0.85 -> 0.92 us per batch-1 step (4 us per 50-step solo, more
    than sampling's margin) when that kernel still had these loops.
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


@njit(cache=True, nogil=True, error_model="numpy")
def matmul_add(a, W, out, depth):
    """out += a @ W[:, :n] for a (B, k), W (k, n_W), n_W >= n, out (B, n); W and out with
    contiguous rows.

    The sums stay in registers: a tile of 6 rows of out by 2 vectors (``_tile6``, 12 vectors of
    sums, 24 registers on AVX-512) takes, for each row i of W, its 2 vectors of W[i] and the 6
    numbers a[s..s+5, i], one multiply-add per vector and row, and writes out only once per
    `depth` rows of W. W is walked in strips of 2 vectors (64 columns of float32 on AVX-512) and
    each strip `depth` rows at a time (``machine.strip_rows``: half the L1 cache), which every
    tile of rows then reads from L1. The last rows (B % 6) take two rows at a time
    (``_tile2``), as fast per row, and one when one is left (``_tile1``); the last strip's
    columns past n are masked off.

    Every out[s, j] is out[s, j] + a[s, 0] W[0, j] + a[s, 1] W[1, j] + ..., added in the order
    of i with one rounding per multiply-add, whatever the tile, the depth or the machine's
    vector width: the blocking never changes a result.
    """
    no_rows = np.empty(0, np.int64)
    # n_init as a number known only at run time: a literal 0 here compiled a second version of
    # matmul_rows_add (numba specialises a function on literal arguments), 0.8 s on a fresh clone
    matmul_rows_add(a, W, out, depth, out, no_rows, no_rows.shape[0])


@njit(cache=True, nogil=True, error_model="numpy")
def matmul_rows_add(a, W, out, depth, init, rows, n_init):
    """``matmul_add``, but the first n_init columns of out start from rows of init instead of
    from out: out[s, :n_init] = init[rows[s], :n_init] + a[s] @ W[:, :n_init] (rows (B,) int64,
    -1 the last row of init; the rest of out as ``matmul_add``). n_init is 0 or a multiple of
    the strip (2 vectors); init has out's type and at least n_init columns.

    The forward pass starts each step's gates from its inputs' rows of x @ Wx + b this way:
    copying them into out first was one more pass over out (80 KB per step of the course model,
    more than the L1 cache), which took about 100 us of the course model's 1.2 ms pass.
    A tile's rows are copied from init just before the tile reads them (``_rows_into``), so
    the results are those of copying the rows first, bit for bit.
    """
    B, k = a.shape
    n = out.shape[1]
    L = _lanes(out)
    B6 = B - B % 6
    for j in range(0, n, 2 * L):
        valid0, valid1 = n - j, n - j - L  # columns of the two vectors inside out
        for k0 in range(0, k, depth):
            k1 = min(k, k0 + depth)
            first = k0 == 0 and j < n_init  # the sums start from init's rows
            for s in range(0, B6, 6):
                if first:
                    _rows_into(init, rows, out, s, 6, j, L)
                _tile6(a, W, out, s, j, L, k0, k1, valid0, valid1)
            for s in range(B6, B - 1, 2):
                if first:
                    _rows_into(init, rows, out, s, 2, j, L)
                _tile2(a, W, out, s, j, L, k0, k1, valid0, valid1)
            if (B - B6) % 2:
                if first:
                    _rows_into(init, rows, out, B - 1, 1, j, L)
                _tile1(a, W, out, B - 1, j, L, k0, k1, valid0, valid1)


@njit(nogil=True, error_model="numpy", inline="always")
def _rows_into(init, rows, out, s, count, j, L):
    """out[s:s+count, j:j+2L] = init[rows[s:s+count], j:j+2L] (rows -1: init's last row), just
    before a tile reads them: the numbers stay in the L1 cache for it."""
    for q in range(count):
        r = rows[s + q]
        if r < 0:
            r += init.shape[0]
        _store(out, s + q, j, _load(init, r, j, L), L)
        _store(out, s + q, j + L, _load(init, r, j + L, L), L)


# _tile6, _tile2 and _tile1 are one loop written out for 6, 2 and 1 rows, each sum a variable of
# its own: only as separate variables do the sums stay in registers (a loop over the tile's rows
# would keep them in an array, in memory). The second vector's multiply-adds are skipped where
# none of its columns is inside out (the test is the same for every row of W, and the compiler
# makes a loop without it): the last strip of the joined weights' 336 columns (4 x 64 gates, 78
# logits, padding) is a quarter full, and its empty vector was an eighth of the forward
# product's and the weight gradient's multiply-adds (both 8-10% faster without it, Intel Xeon).
# Sharing more measured worse (float32, Intel Xeon with AVX-512, time.thread_time, medians of 21
# alternating runs, load average 1-1.5): pairs of rows alone for every row ran the course
# model's products and n_a = 512's 1.3-1.46 times slower (each W[i] loaded for 2 rows, not 6,
# and too few independent sums to hide the multiply-add's latency); helpers for a row's two
# sums (load, multiply-add, store) ran as fast and gave the same numbers, but compiling
# matmul_add took 0.2 s longer (0.93 -> 1.14 s in float32), which every fresh clone would pay.


@njit(nogil=True, error_model="numpy", inline="always")
def _tile6(a, W, out, s, j, L, k0, k1, v0, v1):
    """out[s:s+6, j:j+2L] += a[s:s+6, k0:k1] @ W[k0:k1, j:j+2L], the sums in registers (v0, v1:
    the valid columns from j and from j + L)."""
    c00, c01 = _load(out, s, j, v0), _load(out, s, j + L, v1)
    c10, c11 = _load(out, s + 1, j, v0), _load(out, s + 1, j + L, v1)
    c20, c21 = _load(out, s + 2, j, v0), _load(out, s + 2, j + L, v1)
    c30, c31 = _load(out, s + 3, j, v0), _load(out, s + 3, j + L, v1)
    c40, c41 = _load(out, s + 4, j, v0), _load(out, s + 4, j + L, v1)
    c50, c51 = _load(out, s + 5, j, v0), _load(out, s + 5, j + L, v1)
    for i in range(k0, k1):
        w0 = _load(W, i, j, v0)
        x0, x1, x2 = _splat(a, s, i), _splat(a, s + 1, i), _splat(a, s + 2, i)
        x3, x4, x5 = _splat(a, s + 3, i), _splat(a, s + 4, i), _splat(a, s + 5, i)
        c00, c10, c20 = _fma(x0, w0, c00), _fma(x1, w0, c10), _fma(x2, w0, c20)
        c30, c40, c50 = _fma(x3, w0, c30), _fma(x4, w0, c40), _fma(x5, w0, c50)
        if v1 > 0:
            w1 = _load(W, i, j + L, v1)
            c01, c11, c21 = _fma(x0, w1, c01), _fma(x1, w1, c11), _fma(x2, w1, c21)
            c31, c41, c51 = _fma(x3, w1, c31), _fma(x4, w1, c41), _fma(x5, w1, c51)
    _store(out, s, j, c00, v0), _store(out, s, j + L, c01, v1)
    _store(out, s + 1, j, c10, v0), _store(out, s + 1, j + L, c11, v1)
    _store(out, s + 2, j, c20, v0), _store(out, s + 2, j + L, c21, v1)
    _store(out, s + 3, j, c30, v0), _store(out, s + 3, j + L, c31, v1)
    _store(out, s + 4, j, c40, v0), _store(out, s + 4, j + L, c41, v1)
    _store(out, s + 5, j, c50, v0), _store(out, s + 5, j + L, c51, v1)


@njit(nogil=True, error_model="numpy", inline="always")
def _tile2(a, W, out, s, j, L, k0, k1, v0, v1):
    """``_tile6`` for the two rows s, s + 1."""
    c00, c01 = _load(out, s, j, v0), _load(out, s, j + L, v1)
    c10, c11 = _load(out, s + 1, j, v0), _load(out, s + 1, j + L, v1)
    for i in range(k0, k1):
        w0 = _load(W, i, j, v0)
        x0, x1 = _splat(a, s, i), _splat(a, s + 1, i)
        c00, c10 = _fma(x0, w0, c00), _fma(x1, w0, c10)
        if v1 > 0:
            w1 = _load(W, i, j + L, v1)
            c01, c11 = _fma(x0, w1, c01), _fma(x1, w1, c11)
    _store(out, s, j, c00, v0), _store(out, s, j + L, c01, v1)
    _store(out, s + 1, j, c10, v0), _store(out, s + 1, j + L, c11, v1)


@njit(nogil=True, error_model="numpy", inline="always")
def _tile1(a, W, out, s, j, L, k0, k1, v0, v1):
    """``_tile6`` for the one row s."""
    c0, c1 = _load(out, s, j, v0), _load(out, s, j + L, v1)
    for i in range(k0, k1):
        x = _splat(a, s, i)
        c0 = _fma(x, _load(W, i, j, v0), c0)
        if v1 > 0:
            c1 = _fma(x, _load(W, i, j + L, v1), c1)
    _store(out, s, j, c0, v0), _store(out, s, j + L, c1, v1)


# --------------------------------------------------------------------------------------------
# From the course's arrays to the joined layout, and the gradients back (layout.py's twins)
# --------------------------------------------------------------------------------------------


@njit(cache=True, nogil=True)
def join_kernel(Wf, Wi, Wc, Wo, bf, bi, bc, bo, Wy, by, W_ay, W_back_t, x_rows, by_padded, Wd):
    """``layout.join_compiled``'s pass: writes W_ay (n_a, width), W_back_t (width, n_b) with
    n_b >= n_a (zeros past n_a), x_rows (n_x + 1, 4 n_a), by_padded (width - 4 n_a,) and Wd
    (n_d, 4 n_a), the last n_d input columns' weights (n_d may be 0), from the course's arrays
    (see ``layout.JoinedWeights``); returns False, writing nothing, if any input is NaN or
    infinite. The loops write along rows."""
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
                W_ay[k, start + j] = Wg[j, k] * scale
        for j in range(n_a):
            for k in range(W_back_t.shape[1]):
                W_back_t[start + j, k] = Wg[j, k] if k < n_a else 0
        for k in range(n_x):
            for j in range(n_a):
                x_rows[k, start + j] = Wg[j, n_a + k] * scale + bg[j, 0] * scale
        for j in range(n_a):
            x_rows[n_x, start + j] = bg[j, 0] * scale
        for k in range(Wd.shape[0]):
            for j in range(n_a):
                Wd[k, start + j] = Wg[j, n_in - Wd.shape[0] + k] * scale
    for k in range(n_a):
        for v in range(n_y):
            W_ay[k, n4 + v] = Wy[v, k]
        for v in range(n4 + n_y, width):
            W_ay[k, v] = 0
    for v in range(width - n4):
        for k in range(W_back_t.shape[1]):
            W_back_t[n4 + v, k] = Wy[v, k] if v < n_y and k < n_a else 0
    for v in range(width - n4):
        by_padded[v] = by[v, 0] if v < n_y else 0
    return True


@njit(cache=True, nogil=True)
def course_gradients_kernel(dW_joined, dWx, stacked, dWy):
    """``layout.course_gradients_compiled``'s pass: stacked (4 n_a, n_a + n_x) and dWy (n_y, n_a), written."""
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


# --------------------------------------------------------------------------------------------
# One step of the cell, for sampling
# --------------------------------------------------------------------------------------------

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
        halved weights of ``layout.fuse``; a_next, c_next (m, n_a): written;
        z (m, 4 n_a): scratch space. Outputs must not alias a_prev or c_prev. All float arrays
        share one dtype and must be C-contiguous, and finite (see ``FAST_MATH``). Returns nothing.

    The formulas are ``reference_cell_forward``'s, on the fused layout: the sigmoid gates are
    0.5 + 0.5 tanh(z) on their halved pre-activations, as in ``forward_kernel``.
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
            f = half + half * fast_tanh(zj[q])
            i = half + half * fast_tanh(zj[n_a + q])
            g = fast_tanh(zj[2 * n_a + q])
            o = half + half * fast_tanh(zj[3 * n_a + q])
            cn[q] = f * cp[q] + i * g
            an[q] = o * fast_tanh(cn[q])


# --------------------------------------------------------------------------------------------
# Training's passes through time (passes.py calls them)
# --------------------------------------------------------------------------------------------


@njit(nogil=True, fastmath=FAST_MATH, error_model="numpy", inline="always")
def _gates_forward(Qt, c_prev, c_next, tanh_c, a_next, n_a):
    """Finish one step: Qt[:, :4 n_a] (m, 4 n_a) halved pre-activations -> gate values ft, it,
    cct, ot (in place); c_next = ft * c_prev + it * cct, tanh_c = tanh(c_next),
    a_next = ot * tanh_c. (Each row is cut into its gate blocks: plain 1-d loops over
    contiguous memory are what the compiler turns into SIMD code.) The sigmoid gates are
    ``sigmoid_of_halved``, 0.5 + 0.5 tanh(z) in two operations fewer."""
    for j in range(Qt.shape[0]):
        zf, zi = Qt[j, :n_a], Qt[j, n_a : 2 * n_a]
        zg, zo = Qt[j, 2 * n_a : 3 * n_a], Qt[j, 3 * n_a : 4 * n_a]
        cp, cn, tc, an = c_prev[j], c_next[j], tanh_c[j], a_next[j]
        for q in range(n_a):
            f = sigmoid_of_halved(zf[q])
            i = sigmoid_of_halved(zi[q])
            g = fast_tanh(zg[q])
            o = sigmoid_of_halved(zo[q])
            zf[q] = f
            zi[q] = i
            zg[q] = g
            zo[q] = o
            c = f * cp[q] + i * g
            cn[q] = c
            th = fast_tanh(c)
            tc[q] = th
            an[q] = o * th


@intrinsic
def _maxnum(typingctx, a, b):
    """max(a, b) of two floats of one type, as LLVM's maxnum (compiled code only).

    The compiler turns a loop of these into a SIMD reduction: the maximum is the same in any
    order. Python's max, or ``a if a > b else b``, compiles to a compare and a select, which
    it left as a scalar loop (a row of 78 logits: 35 ns instead of 7).
    """
    if not (isinstance(a, types.Float) and a == b):
        return None

    def codegen(context, builder, signature, args):
        kind = args[0].type
        maxnum = builder.module.declare_intrinsic("llvm.maxnum", [kind], ir.FunctionType(kind, [kind, kind]))
        return builder.call(maxnum, args)

    return a(a, b), codegen


@njit(cache=True, nogil=True, fastmath=REDUCE_MATH, error_model="numpy")
def _row_max(row):
    top = row[0]
    for v in range(1, row.shape[0]):
        top = _maxnum(top, row[v])
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
    # -log softmax[k] = log(total) - (logit[k] - top): the rows' logs are summed as the log of
    # their totals' product, one scalar log call per step instead of one per row. Each total
    # lies between 1 (exp(top - top)) and n_y, so the product is taken out before it could
    # overflow.
    totals = 1.0
    for j in range(m):
        row = Qt[j, start:width]
        top = _row_max(row[:n_y])  # subtracted before exp, so exp cannot overflow
        predicted[j] = _first_index_of(row[:n_y], top)
        k = target[j]
        if k < 0:
            for v in range(row.shape[0]):
                row[v] = zero
            continue
        loss -= row[k] - top
        for v in range(row.shape[0]):
            e = fast_exp(row[v] - top)
            row[v] = e if v < n_y else zero  # a select: the loop stays SIMD
        total = _row_sum(row)
        totals *= np.float64(total)
        if totals > 1e280:
            loss += np.log(totals)
            totals = 1.0
        inv = scale / total
        for v in range(row.shape[0]):
            row[v] *= inv
        row[k] -= scale
        for v in range(row.shape[0]):
            dby[v] += row[v]
    return loss + np.log(totals)


# The conditioned model adds d<t> @ Wd to every step's input term, and its backward pass sums
# d<t>.T @ dZ<t> into the gradient of Wd (``lstm.py``). The features are mostly zeros (about 8
# of 35 are set: a few chord tones and four one-hot groups), so they arrive as look-ups
# (``layout.SparseFeatures``: each step's set columns and their values, made once per fit) and
# a row of Wd is added only where a feature is set, as a one-hot input's row is. Made once,
# not found per batch: testing 35 columns per step for zero cost more than the sums (the
# branch is unpredictable), 0.1 ms per course-sized batch. Both run inside the passes through
# time, where the rows they write or read are in the L1 cache: made for all steps before the
# forward pass, the input terms (1.8 MB for a course-sized batch) went out to memory and were
# read back, and the conditioned epoch took 0.3 ms longer.


@njit(nogil=True, fastmath=FAST_MATH, error_model="numpy", inline="always")
def _input_term(out, row, ks, vs, Wd):
    """out[:4 n_a] = row + d<t> @ Wd: the conditioned model's input term of one step and window,
    its one-hot row (x @ Wx + b) and its set features' rows of Wd times their values (ks, vs
    (K,): the step's look-ups, ``layout.SparseFeatures``, K a multiple of 4). Four rows of Wd
    per pass over out, the first pass also copying the row, so out is written K / 4 times
    rather than K + 1."""
    n4 = np.uint64(row.shape[0])
    for b in range(0, ks.shape[0], 4):
        w0, w1, w2, w3 = Wd[ks[b]], Wd[ks[b + 1]], Wd[ks[b + 2]], Wd[ks[b + 3]]
        v0, v1, v2, v3 = vs[b], vs[b + 1], vs[b + 2], vs[b + 3]
        if b == 0:
            for q in range(n4):
                out[q] = row[q] + v0 * w0[q] + v1 * w1[q] + v2 * w2[q] + v3 * w3[q]
        else:
            for q in range(n4):
                out[q] += v0 * w0[q] + v1 * w1[q] + v2 * w2[q] + v3 * w3[q]


@njit(nogil=True, fastmath=FAST_MATH, error_model="numpy", inline="always")
def _feature_gradient(f_index, f_value, dZ, dWd):
    """dWd += d<t>.T @ dZ<t>: one step's share of the features' weight gradient.

    f_index, f_value (m, K): the step's look-ups (``layout.SparseFeatures``); dZ (m, >= 4 n_a):
    the step's gradient on the (plain) pre-activations; dWd (n_d, 4 n_a), rows 64-byte aligned.
    Each set feature adds its value times its window's dZ row to its row of dWd. The padding
    adds zeros rather than being skipped: a test for it made the sum twice as slow (0.34 ->
    0.18 ms per course-sized batch of 60, measured as a pass of its own).
    """
    n4 = np.uint64(dWd.shape[1])
    for j in range(f_index.shape[0]):
        dz = dZ[j]
        for b in range(f_index.shape[1]):
            v = f_value[j, b]
            g = dWd[f_index[j, b]]
            for q in range(n4):
                g[q] += v * dz[q]


@njit(cache=True, nogil=True, fastmath=FAST_MATH, error_model="numpy")
def forward_kernel(Q, A, C, tanh_C, W_ay, x_rows, x_index, n_y, by, y, scale, start, predicted,
                   dby, depth, f_index, f_value, Wd):
    """All T steps of ``passes.sequence_forward``, and the output layer when it has one (n_y > 0).

    Q (T + 1, m, width): written (see ``passes.SequenceCache``). A, C (T + 1, m, n_a) with A[0],
    C[0] set; tanh_C (T, m, n_a). W_ay (n_a, width) = [Wa | Wy.T | 0]; x_rows (R, 4 n_a) input terms
    x @ Wx + b, x_index (T, m) the row of each step and window (-1: the last row);
    by (width - 4 n_a,) the output bias, zero-padded; y (T, m) targets; scale: the weight of a
    window; start: 1 skips the product at step 0 (a0 = 0). predicted (T, m) and dby
    (width - 4 n_a,), the gradient on the padded output bias, are written. depth: rows of W_ay
    the product keeps in L1 at a time (``machine.strip_rows``).
    f_index, f_value (T, m, K), Wd (n_d, 4 n_a): the conditioned model's features as look-ups
    and their weights (``_input_term``); (0, 0, 0) and (0, 4 n_a) for the course model.
    Returns the cross-entropy summed over all outputs, times scale.

    Each step's gate columns of Q start as the input term: for one-hot inputs without features
    the product's sums start from x_rows' rows themselves (``matmul_rows_add``), otherwise the
    term is written into Q first.
    """
    T = A.shape[0] - 1
    m, n_a = A.shape[1], A.shape[2]
    n4 = 4 * n_a
    width = Q.shape[2]
    zero = Q.dtype.type(0)
    loss = 0.0
    # the product's sums start from the input rows themselves where they are the whole input
    # term (one-hot inputs, no features) and fill whole strips (``matmul_rows_add``)
    rows_first = f_index.shape[0] == 0 and n4 % (2 * _lanes(Q)) == 0
    no_rows = np.empty(0, np.int64)
    for t in range(T + 1):
        Qt = Q[t]
        from_rows = rows_first and start <= t < T
        for j in range(m):
            if t == T:  # no input after the last step
                for q in range(n4):
                    Qt[j, q] = zero
            elif not from_rows:  # (from_rows: the product starts from the input rows themselves)
                row = x_rows[x_index[t, j]]
                if f_index.shape[0] == 0:
                    for q in range(n4):
                        Qt[j, q] = row[q]
                else:  # the conditioned model
                    _input_term(Qt[j], row, f_index[t, j], f_value[t, j], Wd)
            for v in range(width - n4):
                Qt[j, n4 + v] = by[v]
        # gates of step t and, from the same a<t>, the logits of output t - 1
        if from_rows:
            matmul_rows_add(A[t], W_ay, Qt, depth, x_rows, x_index[t], n4)
        elif t >= start:
            matmul_rows_add(A[t], W_ay, Qt, depth, Qt, no_rows, no_rows.shape[0])  # no literal 0: see matmul_add
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
def _gates_backward(da_next, dc, Qt, c_prev, tanh_c, db, n_a, x_row, dWx):
    """The backward step of the cell but its matrix products, fused in one pass.

    da_next: (m, n_a) the whole gradient on a<t+1>; dc: (m, n_a) the gradient on c<t+1> from the
    step after, overwritten with the gradient on c<t>. Qt[:, :4 n_a]: the step's gate values,
    overwritten with the gradients on the (plain, not halved) pre-activations, dZ. c_prev = c<t>,
    tanh_c = tanh(c<t+1>). db (4 n_a,): dZ's rows are added to it, and to dWx's row k for a
    one-hot input k (x_row (m,): the step's inputs, -1 none; empty for dense inputs), in the
    same pass over the row. No exp or tanh is needed: the derivatives come from the gate values,
    sigmoid' = s (1 - s) and tanh' = 1 - t^2.
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
        row = Qt[j, : 4 * n_a]
        k = x_row[j] if x_row.shape[0] > 0 else -1
        if k >= 0:  # one-hot input: the product x.T @ dZ adds dZ's row to dWx's row k
            dw = dWx[k]
            for q in range(4 * n_a):
                dw[q] += row[q]
                db[q] += row[q]
        else:
            for q in range(4 * n_a):
                db[q] += row[q]


@njit(cache=True, nogil=True, fastmath=FAST_MATH, error_model="numpy")
def backward_kernel(Q, A, steps, chunk, C, tanh_C, W_back_t, dA, da, dc, dW, db, da_next,
                    x_index, dWx, depth, need_da0, f_index, f_value, dWd):
    """All T steps of ``passes.sequence_backward``.

    Q, C, tanh_C: the forward pass's (Q[T]'s gate columns zero); Q's gate columns are
    overwritten with dZ. A (T + 1, m, n_a): the hidden states a<0..T>.
    W_back_t (width, n_b) = [Wa | Wy.T | 0].T, plain, its columns past n_a unread. dA (T, m,
    n_a) upstream gradient on a<1..T>, or (0, m, n_a) for none. da, dc (m, n_a): in, the
    gradient on the final state; out, on a0 (when need_da0; else left as it is) and c0.
    dW (n_a, width) and db (4 n_a,) are written: [dWa | dWy.T | 0] and the gate
    bias gradient. da_next (m, n_a): scratch. x_index (T, m): one-hot inputs as indices (-1: an
    all-zero input), whose dWx (n_x, 4 n_a, written) rows receive dZ's rows; (0, 0) for dense
    inputs. depth: rows of a weight matrix the products keep in L1 at a time
    (``machine.strip_rows``). need_da0: False skips the product giving da0 (training has no use
    for it). When a0 is all zeros, as in training, its rows are left out of dW (they add zeros).
    f_index, f_value (T, m, K): the conditioned model's features as look-ups, whose weights'
    gradient dWd (n_d, 4 n_a, rows 64-byte aligned) receives d<t>.T @ dZ<t> (``_feature_gradient``);
    (0, 0, 0) for the course model.

    The weight gradient dW = sum over t of a<t>.T @ Q[t] is added a run of `steps` steps at a
    time, as one product over steps * m rows: dW is read and written once per run instead of
    once per step, which for large n_a (4 MiB of dW at n_a = 512) is what the product waited
    for. chunk (steps * m * n_a,): scratch for a run's states, transposed.
    """
    T = Q.shape[0] - 1
    m, n_a = da.shape
    n4 = 4 * n_a
    zero = Q.dtype.type(0)
    dW[:, :] = zero
    db[:] = zero
    dWx[:, :] = zero
    start = 1  # the first step whose a<t> can add to dW
    for j in range(m):
        for q in range(n_a):
            if A[0, j, q] != zero:
                start = 0
    done = T + 1  # Q[done:] are added into dW already
    no_rows = np.empty(0, np.int64)  # dense inputs: dWx is made after the pass
    for t in range(T - 1, -1, -1):
        for j in range(m):
            for q in range(n_a):
                da_next[j, q] = dA[t, j, q] if dA.shape[0] > 0 else zero
                if t == T - 1:
                    da_next[j, q] += da[j, q]
        # a<t+1> fed step t+1 (through Wa) and output t (through Wy): Q[t + 1] = [dZ<t+1> | dY<t>]
        matmul_add(Q[t + 1], W_back_t, da_next, depth)
        if done - (t + 1) == steps:  # Q[t + 1 : done] are final: their share of dWa and dWy.T
            _add_weight_gradient(A, Q, t + 1, done, chunk, dW, depth)
            done = t + 1
        _gates_backward(da_next, dc, Q[t], C[t], tanh_C[t], db, n_a,
                        x_index[t] if x_index.shape[0] > 0 else no_rows, dWx)
        if f_index.shape[0] > 0:
            _feature_gradient(f_index[t], f_value[t], Q[t], dWd)
    if done > start:  # the rest, step 0's included unless a0 is zero
        _add_weight_gradient(A, Q, start, done, chunk, dW, depth)
    if need_da0:
        for j in range(m):
            for q in range(n_a):
                da[j, q] = zero
        matmul_add(Q[0], W_back_t, da, depth)


@njit(nogil=True, fastmath=FAST_MATH, error_model="numpy", inline="always")
def _add_weight_gradient(A, Q, start, stop, chunk, dW, depth):
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
    matmul_add(states, Q[start:stop].reshape((rows, Q.shape[2])), dW, depth)


# --------------------------------------------------------------------------------------------
# Sampling: a whole solo in one call (sampling.py calls it)
# --------------------------------------------------------------------------------------------

# what sample_kernel reports before it runs any step
DONE, WEIGHTS_CHANGED, STATE_NOT_FINITE = 0, 1, 2


@njit(fastmath=FAST_MATH, error_model="numpy")
def draw(logits, inv_temperature, top_k, u, weights, allowed):
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
        weights[v] = fast_exp((logits[v] - top) * inv_temperature)
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


@njit(cache=True, fastmath=FAST_MATH, error_model="numpy")
def sample_kernel(x, a, c, forced, uniforms, temperature, top_k, weights, source, Wa, Wx, b, Wy_t,
                  b_y, out, one_hot):
    """Run len(forced) teacher-forced steps, then out.shape[0] free steps, all in compiled code.

    x        (B,) int64      index of each solo's next input value; -1 is the zero input x0
    a, c     (B, n_a)        the LSTM state; x, a and c are updated in place
    forced   (P,) int64      after step t < P the next input is forced[t], not a choice
    uniforms (n_free, B)     one uniform number in [0, 1) per choice; unused when temperature == 0
    top_k    int             keep only the top_k likeliest values when drawing; 0 keeps all
    weights  the model's ten course arrays (Wf .. by, see Model), all of a's dtype
    source .. b_y            a ``sampling.Prepared`` entry: the weights in the kernel's layout,
                             and the arrays they were made from
    out      (n_free, B) int64  receives the chosen values
    one_hot  (n_free, B, n_values) float32 zeros: receives them one-hot as well; or no rows at all

    Returns DONE, or, without running a step: WEIGHTS_CHANGED when ``weights`` are not the
    ``source`` the prepared layout was made from (prepare it again and call again), or
    STATE_NOT_FINITE. The steps run with fast-math, which assumes there is no NaN: the
    prepared weights were checked once when they were made, and equal values are just as finite.
    """
    for k in range(len(weights)):
        if not same_values(weights[k], source[k]):
            return WEIGHTS_CHANGED
    if not (all_finite(a) and all_finite(c)):
        return STATE_NOT_FINITE
    B, n_a = a.shape
    n_values = weights[8].shape[0]  # Wy's rows; b_y and the logits are padded past them
    n_forced = forced.shape[0]
    n_steps = n_forced + out.shape[0]
    z = aligned_empty(a, B, 4 * n_a)
    logits = aligned_empty(a, B, b_y.shape[0])
    draw_weights = np.empty(n_values)  # scratch space for draw
    draw_allowed = np.empty(n_values, dtype=np.bool_)
    inv_temperature = 1.0 / temperature if temperature > 0.0 else 0.0
    keep_one_hot = one_hot.shape[0] > 0
    # the step writes into a second pair of state arrays; the pairs swap roles every step
    a_state, c_state = a, c
    a_next, c_next = aligned_empty(a, B, n_a), aligned_empty(c, B, n_a)
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
                x[s] = draw(logits[s, :n_values], inv_temperature, top_k, uniforms[step, s],
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
    return DONE


def compiled_on_disk() -> bool:
    """Whether numba's on-disk cache already holds training's kernels for this source.

    False on a fresh clone, or after kernels.py changed: the first epoch then waits about ten
    seconds while they compile, which the training command says beforehand. (numba offers no
    public way to ask; its cache index is read here, and anything unexpected counts as cached.)
    """
    try:
        return bool(forward_kernel._cache._cache_file._load_index())
    except Exception:  # noqa: BLE001 - a private interface of numba; say nothing rather than fail
        return True


# --------------------------------------------------------------------------------------------
# The conditioned model's solo (sampling_conditioned.py calls it)
# --------------------------------------------------------------------------------------------


@njit(cache=True, fastmath=FAST_MATH, error_model="numpy")
def sample_solo_kernel(x, a, c, uniforms, temperature, top_k, weights, source, Wa, Wx, b, Wy_t,
                       b_y, Wd, chord_starts, chord_rows, metric, end_twelfth, n_bars, out,
                       out_bar):
    """A whole solo of the conditioned model in one call: its features found as it goes.

    x (1,) int64 the first input (-1: the zero input); a, c (1, n_a) the state, updated in place.
    uniforms (max_steps,): one uniform number per choice (unused when temperature == 0).
    weights, source, Wa .. b_y: as for ``sample_kernel`` (``sampling_conditioned.Prepared``);
    Wd (n_d, 4 n_a) the features' weights, halved (``layout.dense_rows``).
    chord_starts (n_bars, K), chord_rows (n_bars, K, n_chord), metric (twelfths, n_metric): a
    progression's ``features.SoloTables``; end_twelfth (twelfths, n_values): where a value
    starting at each twelfth of a bar ends (``line.element_end``, in twelfths; the bar's length
    when it reaches the bar line). n_bars: bars to fill.
    out, out_bar (max_steps,) int64: receive each chosen value and the bar it is played in.

    Before each step it finds the features of the onset the next value will have, bar b and
    twelfth p (the chord in force: the last chord of the bar starting at or before p, else the
    first), adds their rows of Wd to the bias (so the step itself is ``cell_step``), steps,
    chooses, and moves p to the chosen value's end; a full bar starts the next. It stops when
    n_bars bars are full or max_steps values are chosen. Returns how many values were chosen,
    or -WEIGHTS_CHANGED / -STATE_NOT_FINITE without running a step (see ``sample_kernel``).
    """
    for k in range(len(weights)):
        if not same_values(weights[k], source[k]):
            return -WEIGHTS_CHANGED
    if not (all_finite(a) and all_finite(c)):
        return -STATE_NOT_FINITE
    n_a = a.shape[1]
    n4 = 4 * n_a
    n_values = weights[8].shape[0]
    n_chord = chord_rows.shape[2]
    twelfths = metric.shape[0]
    z = aligned_empty(a, 1, n4)
    b_step = aligned_empty(a, 1, n4)[0]
    logits = aligned_empty(a, 1, b_y.shape[0])
    draw_weights = np.empty(n_values)
    draw_allowed = np.empty(n_values, dtype=np.bool_)
    inv_temperature = 1.0 / temperature if temperature > 0.0 else 0.0
    a_state, c_state = a, c
    a_next, c_next = aligned_empty(a, 1, n_a), aligned_empty(c, 1, n_a)
    bar, p, step = 0, 0, 0
    while bar < n_bars and step < out.shape[0]:
        chord = 0
        for k in range(chord_starts.shape[1]):
            if chord_starts[bar, k] <= p:
                chord = k
        for q in range(n4):
            b_step[q] = b[q]
        for k in range(n_chord):
            v = chord_rows[bar, chord, k]
            if v != 0:
                for q in range(n4):
                    b_step[q] += v * Wd[k, q]
        for k in range(metric.shape[1]):
            v = metric[p, k]
            if v != 0:
                for q in range(n4):
                    b_step[q] += v * Wd[n_chord + k, q]
        cell_step(x, a, c, Wa, Wx, b_step, a_next, c_next, z)
        a, a_next = a_next, a
        c, c_next = c_next, c
        affine(a, Wy_t, b_y, logits)
        if temperature == 0.0:
            best = 0
            for v in range(1, n_values):
                if logits[0, v] > logits[0, best]:
                    best = v
            x[0] = best
        else:
            x[0] = draw(logits[0, :n_values], inv_temperature, top_k, uniforms[step],
                        draw_weights, draw_allowed)
        out[step] = x[0]
        out_bar[step] = bar
        p = end_twelfth[p, x[0]]
        if p >= twelfths:
            bar += 1
            p = 0
        step += 1
    if step % 2 == 1:  # the final state is in the second pair
        for q in range(n_a):
            a_state[0, q] = a[0, q]
            c_state[0, q] = c[0, q]
    return step


# --------------------------------------------------------------------------------------------
# The optimizer's step (optim.Adam)
# --------------------------------------------------------------------------------------------

@njit(cache=True, nogil=True, fastmath={"reassoc"}, error_model="numpy")
def sum_of_squares(arrays):
    """The sum of the squares of every entry of a tuple of 2-d arrays, added in float64.

    Only "reassoc" among the fast-math flags: it lets the sum run as SIMD code, and a NaN or an
    infinity still comes out as one (the caller tests for them).
    """
    total = 0.0
    for a in range(len(arrays)):
        x = arrays[a]
        for r in range(x.shape[0]):
            row = x[r]
            for k in range(x.shape[1]):
                total += np.float64(row[k]) * np.float64(row[k])
    return total


@njit(cache=True, nogil=True, error_model="numpy")
def adam_update(ps, gs, ms, vs, shrinks, norm, clip_norm, alpha, beta1, beta2, eps):
    """One Adam update of several 2-d arrays, each in one pass: the formulas of ``optim.py``'s
    docstring. Returns the gradients' global norm (before clipping).

    ps, gs, ms, vs: tuples of the parameters, their gradients and the two running means, all
    2-d arrays of one dtype and layout; shrinks (len(ps),): lr_t * weight_decay for a weight,
    0 for a bias (then p - 0 * p is p, exactly). All arrays of a model go in one call: a call
    per array cost about 4 us each from Python, ten times per batch.
    norm: the global norm of the gradients, or -1 to compute it here, from gs. When it is not
    finite, nothing is updated. clip_norm: gradients are scaled down to this norm when theirs
    is larger; 0 for no clipping.

    The scalars arrive in the arrays' dtype, so float32 stays float32. error_model="numpy":
    numba's default checks every division for a zero divisor, and that branch kept the loop
    from becoming SIMD code (17 us instead of 2 for the course's Wf); eps > 0 rules zero out.
    """
    if norm < 0:
        norm = np.sqrt(sum_of_squares(gs))
    if not np.isfinite(norm):
        return norm
    one = shrinks.dtype.type(1.0)
    scale = shrinks.dtype.type(clip_norm / norm if 0 < clip_norm < norm else 1.0)
    for a in range(len(ps)):
        p, g, m, v, shrink = ps[a], gs[a], ms[a], vs[a], shrinks[a]
        for r in range(p.shape[0]):
            pr, gr, mr, vr = p[r], g[r], m[r], v[r]
            for k in range(p.shape[1]):
                gk = gr[k] * scale
                mr[k] = beta1 * mr[k] + (one - beta1) * gk
                vr[k] = beta2 * vr[k] + (one - beta2) * (gk * gk)
                pk = pr[k]
                pr[k] = pk - shrink * pk - alpha * mr[k] / (np.sqrt(vr[k]) + eps)
    return norm
