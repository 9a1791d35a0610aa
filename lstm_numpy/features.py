"""Where a value will sound: the dense features the conditioned model reads beside each value.

The course's LSTM sees only the previous value. A value such as ``C,0.250,<m2,P-4>`` says "a
chord tone, a sixteenth, a step down", but not *which* chord it is sounding over, nor where in
the bar it falls; the decoder finds those out only after the model has chosen. The conditioned
model (``--model conditioned``) is told both at every step. Beside the one-hot previous value it
reads a vector d<t> of ``N_FEATURES`` = 35 numbers describing the onset of the value it is about
to predict:

=========  ======  ==========================================================================
columns    width   what they say
=========  ======  ==========================================================================
0 .. 11    12      **the chord in force**, as pitch classes relative to its root: column k is
                   1 when the chord holds the pitch k semitones above its root (C E G Bb over
                   root C gives columns 0, 4, 7, 10). Relative, because the values themselves
                   are relative (tone types and intervals): a ii-V in any key looks the same.
12 .. 23   12      **where the harmony goes next**: one-hot of the interval, in semitones 0..11,
                   from this chord's root up to the root of the chord after it (G7 -> Cmaj7
                   is 5, a fourth up; a chord followed by itself is 0). The piece, or the solo's
                   progression, is taken to repeat: after its last chord comes its first.
24 .. 27   4       **the beat of the bar** the onset falls in, one-hot: beats 1, 2, 3, and
                   4 or later (a 5/4 bar's fifth beat shares the last column).
28 .. 34   7       **the place within the beat**, one-hot, on the grid of quarters and thirds:
                   0, 1/4, 1/3, 1/2, 2/3, 3/4 of a beat, and a seventh column for any other
                   place (an onset off the grid, which the grid-keeping decoder never makes).
=========  ======  ==========================================================================

The chord in force at an onset is the one the value grammar judges the note against
(``grammar.chord_in_force``: the last chord starting at or before it, else the bar's first); its
root is the one its chord symbol names (``changes.chord_symbol_root``). Beats are quarter notes
counted from the bar line.

Which value's onset: at step t the model's input is value t and it predicts value t + 1, so
d<t> describes the onset of value t + 1, the value it is choosing; that is what it needs to know.
For training, the onsets are read from the pieces (``measure_features``: every value is a note
or rest of a measure, so its onset is known); for generation, from the changes and the
durations sampled so far, inside the sampling kernel (``SoloTables`` holds what it reads).
Training hides the chords of some windows (``hide_chords``), so that the model learns to predict
without them too.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import List, NamedTuple, Optional, Sequence

import numpy as np

from .changes import chord_symbol_root
from .notes import Chord

CHORD_TONES = slice(0, 12)
ROOT_MOVE = slice(12, 24)
BEAT = slice(24, 28)
SUBBEAT = slice(28, 35)
N_CHORD = 24  # the chord's columns: tones and root move
N_METRIC = 11  # the onset's columns: beat and place within it
N_FEATURES = N_CHORD + N_METRIC

# places within a beat, in twelfths, -> their column within SUBBEAT (6: off the grid)
_SUBBEAT_OF_TWELFTH = np.array([0, 6, 6, 1, 2, 6, 3, 6, 4, 5, 6, 6], np.int64)


# --------------------------------------------------------------------------------------------
# The two halves of a feature vector
# --------------------------------------------------------------------------------------------

def chord_features(chord: Chord, next_chord: Chord) -> np.ndarray:
    """(24,) the chord's tones relative to its root, and the root's move to ``next_chord``."""
    out = np.zeros(N_CHORD)
    root = chord_symbol_root(chord.pitches)
    if root is None:  # a chord without pitches says nothing
        return out
    for pitch in chord.pitches:
        out[(pitch - root) % 12] = 1.0
    following = chord_symbol_root(next_chord.pitches)
    out[12 + ((following if following is not None else root) - root) % 12] = 1.0
    return out


def metric_features(position: Fraction) -> np.ndarray:
    """(11,) the beat of the bar and the place within the beat of an onset ``position`` beats
    after the bar line."""
    out = np.zeros(N_METRIC)
    beat = math.floor(position)
    out[min(beat, 3)] = 1.0
    within = position - beat
    twelfths = within * 12
    place = int(_SUBBEAT_OF_TWELFTH[int(twelfths)]) if twelfths.denominator == 1 else 6
    out[4 + place] = 1.0
    return out


def metric_table(n_twelfths: int) -> np.ndarray:
    """(n_twelfths, 11) metric_features of every onset on the twelfths of a bar, row p for p/12."""
    return np.stack([metric_features(Fraction(p, 12)) for p in range(n_twelfths)])


# --------------------------------------------------------------------------------------------
# Training: the features of every value of a piece
# --------------------------------------------------------------------------------------------

def measure_features(measures: Sequence) -> np.ndarray:
    """(n, 35) the features of the onset of every value of these measures (``dataset.Measure``),
    in the order ``dataset.musical_data`` writes the values: each melody element (note or rest)
    of each measure is one value.

    The measures are one piece: the chord after the piece's last one is its first.
    """
    from .grammar import chord_in_force

    ordered = [sorted(m.chords, key=lambda c: c.offset) for m in measures]
    sequence = [(k, i) for k, chords in enumerate(ordered) for i in range(len(chords))]
    after = {place: sequence[(n + 1) % len(sequence)] for n, place in enumerate(sequence)}
    rows = []
    for k, measure in enumerate(measures):
        chords = ordered[k]
        for element in measure.melody:
            chord = chord_in_force(chords, element.offset)
            i = len(chords) - 1 - chords[::-1].index(chord)  # the in-force chord's place
            nk, ni = after[(k, i)]
            rows.append(np.concatenate([chord_features(chord, ordered[nk][ni]),
                                        metric_features(element.offset - measure.start)]))
    return np.array(rows).reshape(-1, N_FEATURES)


# --------------------------------------------------------------------------------------------
# Generation: what the sampling kernel reads to find the features itself
# --------------------------------------------------------------------------------------------

class SoloTables(NamedTuple):
    """A progression's features, in the form the sampling kernel reads (``kernels``).

    chord_starts: (n_bars, K) int64 the twelfth of the bar from which each chord is in force
        (a chord at offset o is in force at twelfth p when ceil(12 o) <= p); unused places hold
        a large number, so they are never in force;
    chord_rows: (n_bars, K, 24) chord_features of each chord, with the chord after it;
    metric: (12 beats_per_bar, 11) metric_features of every twelfth of a bar;
    twelfths: twelfths in a bar (12 beats_per_bar).
    The kernel's chord in force at twelfth p of bar b is the last k with chord_starts[b, k] <= p,
    else k = 0: ``grammar.chord_in_force`` on the bar's chords sorted by offset.
    """

    chord_starts: np.ndarray
    chord_rows: np.ndarray
    metric: np.ndarray
    twelfths: int


_NEVER = np.iinfo(np.int64).max // 2


def solo_tables(bars: Sequence[Sequence[Chord]], beats_per_bar: int) -> SoloTables:
    """The SoloTables of a progression (one list of Chord per bar, offsets from the bar line).

    The chord after the last bar's last is the first bar's first: the progression repeats.
    """
    ordered = [sorted(bar, key=lambda c: c.offset) for bar in bars]
    K = max(1, max(len(bar) for bar in ordered))
    starts = np.full((len(bars), K), _NEVER, np.int64)
    rows = np.zeros((len(bars), K, N_CHORD))
    sequence = [chord for bar in ordered for chord in bar]
    n = 0
    for b, bar in enumerate(ordered):
        for k, chord in enumerate(bar):
            starts[b, k] = math.ceil(Fraction(chord.offset) * 12)
            rows[b, k] = chord_features(chord, sequence[(n + 1) % len(sequence)])
            n += 1
    twelfths = 12 * beats_per_bar
    return SoloTables(starts, rows, metric_table(twelfths), twelfths)


def solo_features(tables: SoloTables, bar: int, twelfth: int) -> np.ndarray:
    """(35,) the features the kernel finds at twelfth ``twelfth`` of bar ``bar`` (the plain
    definition, which the tests hold the kernel to)."""
    started = [k for k in range(tables.chord_starts.shape[1]) if tables.chord_starts[bar, k] <= twelfth]
    k = started[-1] if started else 0
    return np.concatenate([tables.chord_rows[bar, k], tables.metric[twelfth]])


def hide_chords(D: np.ndarray, share: float, rng: np.random.Generator) -> np.ndarray:
    """D (m, Tx, n_d) with the chord columns of a random ``share`` of its windows set to zero,
    and those of the other windows scaled by 1 / (1 - share): training's chord dropout.

    A window either hears its chords or does not; the beat and the place in it are always kept.
    Why: without it the conditioned model learns where it is in the form from the chords (a
    piece's run of voicings is a fingerprint of the bar) and recalls the training values there,
    so music over chords it has not met, or voiced otherwise, misleads it. A model that must
    also predict without the chords keeps to what they say about the value in general. The scale
    keeps each chord column's mean input what generation gives it (the chords always heard).
    One draw per window from ``rng``, so a seeded generator gives the same windows again.
    """
    if not share:
        return D
    heard = (rng.random(D.shape[0]) >= share) / (1.0 - share)
    D = D.copy()
    D[:, :, :N_CHORD] *= heard.astype(D.dtype)[:, None, None]
    return D


def window_features(features: np.ndarray, starts: np.ndarray, Tx: int) -> np.ndarray:
    """(m, Tx, 35) the features of training windows: step t of the window starting at value s
    predicts value s + t + 1, so it reads that value's features.

    features: (n, 35) aligned with the values windows are drawn from; starts: (m,) the windows'
    first values (at most n - Tx - 1, as ``dataset.window_starts`` draws them).
    """
    return features[np.asarray(starts)[:, None] + 1 + np.arange(Tx)]

