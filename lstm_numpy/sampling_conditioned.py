"""Improvising with the conditioned model: a whole solo in one compiled call.

The conditioned model reads, at every step, the features of where the value it chooses will
sound (``features.py``): the chord in force at its onset and the onset's place in the bar. The
onset depends on the durations chosen so far, so the features cannot be laid out before the solo
is sampled; and leaving the compiled loop after every value to work them out in Python would
cost more than the step itself. So the kernel (``kernels.sample_solo_kernel``) finds them as it
goes, from two small tables made before it starts:

* the progression's ``features.SoloTables``: for each bar, where its chords start (in twelfths
  of a beat) and each chord's feature columns; and the metric columns of every twelfth of a bar;
* ``end_twelfths``: for every twelfth of a bar and every value of the vocabulary, where that
  value would end, placed on the grid as the decoder places it (``line.element_end``).

At each step it looks up the chord in force at the current onset, adds the rows of the features'
weights Wd that are set to the bias (a handful of rows; the step itself is ``kernels.cell_step``,
the same jitted cell the course model samples with), steps, chooses, and moves the onset to the
chosen value's end, starting the next bar when one is full. The values come out already cut into
bars, exactly as ``improvise._fill_bar`` cuts the course model's.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Dict, NamedTuple, Optional, Tuple, Union

import numpy as np

from . import grammar, line, sampling
from .errors import LstmNumpyError
from .features import SoloTables
from .kernels import STATE_NOT_FINITE, WEIGHTS_CHANGED, sample_solo_kernel
from .layout import dense_rows
from .lstm import PARAMETER_NAMES
from .model import Model
from .sampling import _check_temperature, _check_top_k, _dtype, _parameters


class Prepared(NamedTuple):
    """The conditioned model's weights laid out for the kernel: the course model's layout
    (``sampling.Prepared``, made by the same ``sampling.lay_out``) and Wd (n_d, 4 n_a), the
    features' weights fused and halved (``layout.dense_rows``), on a cache line."""

    steps: sampling.Prepared
    Wd: np.ndarray


_PREPARED: Dict[np.dtype, Prepared] = {}  # one per dtype, checked by value as in sampling.py
# the end_twelfths tables asked for last, by the vocabulary's id: (its values then, the table)
_END_TWELFTHS: Dict[Tuple[int, int], Tuple[list, np.ndarray]] = {}


def _prepare(weights: Tuple[np.ndarray, ...], n_features: int) -> Prepared:
    steps = sampling.lay_out(weights, n_features)
    Wd = dense_rows(dict(zip(PARAMETER_NAMES[:4], weights)), n_features)
    prepared = Prepared(steps, sampling._aligned(Wd))
    _PREPARED[Wd.dtype] = prepared
    return prepared


def end_twelfths(indices_values, beats_per_bar: int) -> np.ndarray:
    """(12 beats_per_bar, n_values) int64: where value v, starting at twelfth p of a bar, ends,
    in twelfths (``line.element_end``; 12 beats_per_bar when it reaches the bar line).

    Kept for the last vocabularies asked for: it depends only on the values' durations. Found
    by the vocabulary's identity and then checked by its values, which for the same list
    compares object identities only (a key of all its strings, hashed anew on every solo, cost
    4-10 us, about a tenth of a 50-step solo).
    """
    vocabulary = indices_values if isinstance(indices_values, list) else list(indices_values)
    key = (id(indices_values), beats_per_bar)
    kept = _END_TWELFTHS.get(key)
    if kept is not None and kept[0] == vocabulary:
        return kept[1]
    bar = Fraction(beats_per_bar)
    durations = [grammar.parse_value(v).grid_duration for v in vocabulary]
    ends = {}
    for duration in set(durations):
        ends[duration] = [int(line.element_end(Fraction(p, 12), duration, bar) * 12)
                          for p in range(12 * beats_per_bar)]
    table = np.array([ends[d] for d in durations], np.int64).T.copy()
    if len(_END_TWELFTHS) > 8:
        _END_TWELFTHS.clear()
    _END_TWELFTHS[key] = (list(vocabulary), table)
    return table


def sample_solo(model: Model, tables: SoloTables, n_bars: int, temperature: float = 1.0,
                top_k: Optional[int] = None, rng: Union[np.random.Generator, int, None] = None,
                max_steps: Optional[int] = None) -> Tuple[np.ndarray, np.ndarray]:
    """Sample a solo of n_bars bars over the progression ``tables`` (``features.solo_tables``
    of at least n_bars bars), from the zero input and state, in one compiled call.

    temperature, top_k, rng: as in ``sampling.sample_steps`` (rng: a Generator or a seed).
    max_steps: stop after this many values even if the bars are not full (default: enough for
    any bars, since every value moves on by a twelfth of a beat at least).
    Returns (values (n,) int64, bars (n,) int64): the chosen values and the bar of each.
    """
    if model.n_features == 0:
        raise LstmNumpyError("sample_solo samples the conditioned model; sample the course model with "
                             "sampling.sample_steps or predict_and_sample.")
    if not 1 <= n_bars <= tables.chord_starts.shape[0]:
        raise LstmNumpyError(f"n_bars must be from 1 to the {tables.chord_starts.shape[0]} bars of the progression, got {n_bars!r}.")
    temperature = _check_temperature(temperature)
    top_k = _check_top_k(top_k, model.n_values)
    dtype = _dtype(model)
    if max_steps is None:
        max_steps = n_bars * tables.twelfths
    if temperature > 0.0:
        generator = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        uniforms = generator.random(max_steps)
    else:
        uniforms = np.zeros(max_steps)
    ends = end_twelfths(model.indices_values, tables.twelfths // 12)
    weights = _parameters(model, dtype)
    x = np.full(1, -1, np.int64)
    a, c = np.zeros((1, model.n_a), dtype), np.zeros((1, model.n_a), dtype)
    out = np.empty(max_steps, np.int64)
    out_bar = np.empty(max_steps, np.int64)
    starts, rows, metric = tables.chord_starts, tables.chord_rows.astype(dtype, copy=False), tables.metric.astype(dtype, copy=False)
    prepared = _PREPARED.get(dtype) or _prepare(weights, model.n_features)
    for _ in range(2):
        n = sample_solo_kernel(x, a, c, uniforms, temperature, top_k, weights, *prepared.steps, prepared.Wd,
                               starts, rows, metric, ends, n_bars, out, out_bar)
        if n != -WEIGHTS_CHANGED:
            break
        prepared = _prepare(weights, model.n_features)  # another model, or this one trained since
    if n == -STATE_NOT_FINITE:  # pragma: no cover - the state starts at zero
        raise LstmNumpyError("the sampler's state is not finite.")
    return out[:n], out_bar[:n]
