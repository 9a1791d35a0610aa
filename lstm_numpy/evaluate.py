"""Measure solos: how much they sound like the music they learned from.

``python -m lstm_numpy.evaluate --checkpoint DIR`` improvises N solos with the checkpoint's model
over the chords of its training pieces, computes the statistics below for them, for the training
pieces and for any reference files, and prints them side by side; ``--json OUT`` writes them.

Like is compared with like. The solos start at bars spread evenly over the whole form
(``solo_starts``: the training pieces' bars laid end to end, solo k from bar k B / N of the B),
each playing on over its piece's changes and wrapping round, so that together they are heard over
the same changes as the training figures. A piece's music differs from one stretch of its form to
another (a soloist may play the chords plainly at the top and move away from them later), so the
command also measures the training music over exactly the bars the solos were played over, each
bar as often as a solo played over it (``training_over_solo_bars``, the "solos' bars" column):
that column, not the whole pieces', is what the solos are held to.

The music is *pieces*: a melody (notes, rests left out) over chords, cut into bars. A piece comes
from a MIDI file (read as training reads it: ``dataset.get_measures``), or from an
``improvise.Solo``. Times are in quarter notes (beats); a note's *onset* is its offset, and its
*bar position* is the onset counted from its bar's line. Notes are taken in onset order within a
piece; nothing is ever counted across two pieces. Percentages are shares of the notes (or
intervals, or bars) they name, over all pieces together.

Pitch
    ``range``: highest minus lowest pitch of a piece, in semitones, averaged over the pieces.
    ``mean_interval``: the mean of |p2 - p1| over consecutive notes of a piece (across rests and
    bar lines), in semitones. ``repeats``/``steps``/``skips``/``leaps``: the shares of those
    intervals of 0, 1-2, 3-4 and more than 4 semitones. ``bar_entry``: the mean |interval| into
    the first note of each bar from the note before it (bars whose first note has one).
    ``pc_entropy``: the entropy, in bits, of the pitch classes of the notes (0 for one pitch class,
    log2 12 = 3.58 for all twelve equally often).

Harmony (the chord *in force* at a note is the last chord of its bar starting at or before its
onset, or the bar's first chord if none has started yet)
    ``chord_tones``: notes whose pitch class is one of the chord's pitch classes (the voicing's
    notes, in any octave); ``chord_tones_13``: the same among notes with bar position 0 or 2
    (beats 1 and 3); ``chord_tones_other``: among the other notes. ``scale_tones``: notes that
    are chord tones or in the chord's scale (``theory.is_scale_tone``: Major over a major chord,
    Dorian over the others).

Rhythm
    ``dur_16th``, ``dur_triplet``, ``dur_8th``: notes lasting exactly 1/4, 1/3 and 1/2 beat;
    ``dur_longer``: more than 1/2; ``dur_other``: any other length (under 1/2 beat and neither a
    sixteenth nor a triplet eighth). ``rest_time``: the share of the bars' time in which no note
    sounds. ``onsets_per_bar``: notes per bar. ``syncopation``: notes with an onset on the grid
    but not on a beat (bar position a multiple of 1/4 or 1/3, not whole) still sounding at the
    next beat. ``off_grid``: notes whose bar position is no multiple of 1/4 or 1/3.
    ``overlaps``: notes starting before an earlier note has ended (two melody notes at once).

Phrases and repetition
    ``phrase_length``: the mean number of notes per phrase, phrases being cut by silences of a
    beat or more (from the end of every earlier note to the next onset). ``motifs``: the share of
    runs of 5 consecutive notes whose 4 signed intervals (a shape, in any transposition) occur
    again elsewhere in the same piece.

Values (the model's words, ``grammar``), when the pieces have them
    ``copy_4``, ``copy_8``, ``copy_16``: the share of a piece's runs of 4, 8, 16 consecutive
    values found verbatim in the training values; ``longest_copy``: the longest run of
    consecutive values of any piece found verbatim there. For a training piece, "the training
    values" are the *other* training pieces' (so the training column says how much the pieces
    share among themselves; with one training piece these are not defined).
"""

from __future__ import annotations

import bisect
import json
import math
import sys
from collections import Counter
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from . import cli, grammar, layout, passes, theory
from .checkpoint import Checkpoint, read_checkpoint
from .dataset import default_corpus_paths, get_measures, read_corpus
from .errors import LstmNumpyError
from .features import measure_features
from .files import write_atomically
from .improvise import generate_music, shifted
from .notes import Chord, Note
from .render import plot_distributions

DEFAULT_SOLOS = 6
DEFAULT_BARS = 16
NGRAMS = (4, 8, 16)
MOTIF_INTERVALS = 4
PHRASE_BREAK = Fraction(1)  # a silence of a beat or more ends a phrase
STRONG_BEATS = (Fraction(0), Fraction(2))  # bar positions of beats 1 and 3


@dataclass(frozen=True)
class Bar:
    """One bar of a piece. start, length: in beats; notes: its pitched notes (absolute offsets,
    onset order); chords: the chords under it (absolute offsets)."""

    start: Fraction
    length: Fraction
    notes: Tuple[Note, ...]
    chords: Tuple[Chord, ...]


@dataclass
class Piece:
    """A melody over chords, cut into bars, with its values if known (one string per value)."""

    bars: List[Bar]
    values: List[str] = field(default_factory=list)
    name: str = ""

    @property
    def notes(self) -> List[Note]:
        """The piece's notes in onset order (notes starting together keep their bars' order)."""
        return sorted((n for bar in self.bars for n in bar.notes), key=lambda n: n.offset)


# ------------------------------------------------------------------------------------- pieces

def piece_from_measures(measures, name: str = "", values: Optional[Sequence[str]] = None) -> Piece:
    """A Piece from ``dataset.Measure``s; its values are parsed from them unless given."""
    bars = [Bar(m.start, m.length, tuple(n for n in m.melody if not n.is_rest), tuple(m.chords))
            for m in measures]
    if values is None:
        values = [v for m in measures
                  for v in grammar.parse_measure(m.melody, m.chords, m.start).split(" ") if v]
    return Piece(bars, list(values), name)


def piece_from_solo(solo, name: str = "") -> Piece:
    """A Piece from an ``improvise.Solo``: bar k starts at k * beats_per_bar."""
    beats = Fraction(solo.beats_per_bar)
    bars = [Bar(k * beats, beats, tuple(n for n in notes if not n.is_rest), tuple(chords))
            for k, (notes, chords) in enumerate(zip(solo.bars, solo.chords))]
    return Piece(bars, [v for bar in solo.values for v in bar], name)


def pieces_from_midi(paths: Sequence, preset: Optional[str] = None, melody=None, chords=None,
                     changes: Optional[str] = None, skip_bad: bool = False) -> List[Piece]:
    """One Piece per MIDI file, read as training reads it (melody and chords chosen alike, the
    same changes given; with skip_bad, the files training left out are left out here too)."""
    if not paths:
        return []
    for path in paths:
        if not Path(path).is_file() and not skip_bad:
            raise LstmNumpyError(f"{path}: no such file; check the path.")
    read = read_corpus(paths, preset=preset, melody=melody, chords=chords, changes=changes,
                       skip_bad=skip_bad)
    return [piece_from_measures(measures, name=reading.path.name)
            for measures, reading in zip(read.pieces, read.readings)]


# --------------------------------------------------------------------------------- statistics

# name -> (label in the table, format); the order of the table and of the JSON
STATISTICS = {
    "pieces": ("pieces", "{:.0f}"),
    "notes": ("notes", "{:.0f}"),
    "range": ("range of a piece (semitones)", "{:.1f}"),
    "mean_interval": ("mean |interval| (semitones)", "{:.2f}"),
    "repeats": ("repeated notes (%)", "{:.1f}"),
    "steps": ("steps, 1-2 semitones (%)", "{:.1f}"),
    "skips": ("skips, 3-4 semitones (%)", "{:.1f}"),
    "leaps": ("leaps, > 4 semitones (%)", "{:.1f}"),
    "bar_entry": ("|interval| into a bar's first note", "{:.2f}"),
    "pc_entropy": ("pitch-class entropy (bits)", "{:.2f}"),
    "chord_tones": ("chord tones (%)", "{:.1f}"),
    "chord_tones_13": ("chord tones on beats 1 and 3 (%)", "{:.1f}"),
    "chord_tones_other": ("chord tones elsewhere (%)", "{:.1f}"),
    "scale_tones": ("chord or scale tones (%)", "{:.1f}"),
    "dur_16th": ("16ths (%)", "{:.1f}"),
    "dur_triplet": ("triplet 8ths (%)", "{:.1f}"),
    "dur_8th": ("8ths (%)", "{:.1f}"),
    "dur_longer": ("longer than an 8th (%)", "{:.1f}"),
    "dur_other": ("other durations (%)", "{:.1f}"),
    "rest_time": ("rest time (%)", "{:.1f}"),
    "onsets_per_bar": ("onsets per bar", "{:.2f}"),
    "syncopation": ("on-grid syncopation (%)", "{:.1f}"),
    "off_grid": ("onsets off the 1/4 and 1/3 grid (%)", "{:.1f}"),
    "overlaps": ("overlapping notes (%)", "{:.1f}"),
    "phrase_length": ("notes per phrase", "{:.1f}"),
    "motifs": ("4-interval shapes restated (%)", "{:.1f}"),
    "copy_4": ("4-grams of values in training (%)", "{:.1f}"),
    "copy_8": ("8-grams of values in training (%)", "{:.1f}"),
    "copy_16": ("16-grams of values in training (%)", "{:.1f}"),
    "longest_copy": ("longest copy of training values", "{:.0f}"),
}


def _pct(count: int, total: int) -> Optional[float]:
    return 100.0 * count / total if total else None


def _mean(values: Sequence[float]) -> Optional[float]:
    return sum(values) / len(values) if values else None


def _on_grid(position: Fraction) -> bool:
    """Whether a bar position is a multiple of 1/4 or of 1/3 of a beat."""
    return (position * 4).denominator == 1 or (position * 3).denominator == 1


def chord_in_force(bar: Bar, onset: Fraction) -> Optional[Chord]:
    """The bar's last chord starting at or before ``onset``, else its first chord (None: no chord)."""
    ordered = sorted(bar.chords, key=lambda c: c.offset)
    started = [c for c in ordered if c.offset <= onset]
    return started[-1] if started else (ordered[0] if ordered else None)


def _covered(intervals: List[Tuple[Fraction, Fraction]]) -> List[Tuple[Fraction, Fraction]]:
    """The union of [start, end) intervals as disjoint sorted intervals."""
    merged: List[Tuple[Fraction, Fraction]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        elif end > start:
            merged.append((start, end))
    return merged


def _overlap(a: List[Tuple[Fraction, Fraction]], b: List[Tuple[Fraction, Fraction]]) -> Fraction:
    """The total length of the intersection of two unions of disjoint sorted intervals."""
    total, i, j = Fraction(0), 0, 0
    while i < len(a) and j < len(b):
        low, high = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if high > low:
            total += high - low
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return total


def _melodic(pieces: Sequence[Piece], out: Dict[str, Optional[float]]) -> None:
    intervals, entries, ranges, classes = [], [], [], Counter()
    for piece in pieces:
        notes = piece.notes
        pitches = [n.pitch for n in notes]
        if pitches:
            ranges.append(max(pitches) - min(pitches))
        classes.update(p % 12 for p in pitches)
        intervals += [abs(b - a) for a, b in zip(pitches, pitches[1:])]
        onsets = [n.offset for n in notes]
        for bar in piece.bars:
            if bar.notes:
                first = min(bar.notes, key=lambda n: n.offset)
                before = bisect.bisect_left(onsets, first.offset)  # notes starting earlier
                if before:
                    entries.append(abs(first.pitch - notes[before - 1].pitch))
    total = len(intervals)
    out["range"] = _mean(ranges)
    out["mean_interval"] = _mean(intervals)
    out["repeats"] = _pct(sum(i == 0 for i in intervals), total)
    out["steps"] = _pct(sum(1 <= i <= 2 for i in intervals), total)
    out["skips"] = _pct(sum(3 <= i <= 4 for i in intervals), total)
    out["leaps"] = _pct(sum(i > 4 for i in intervals), total)
    out["bar_entry"] = _mean(entries)
    n = sum(classes.values())
    out["pc_entropy"] = max(0.0, -sum(c / n * math.log2(c / n) for c in classes.values())) if n else None


def _harmonic(pieces: Sequence[Piece], out: Dict[str, Optional[float]]) -> None:
    counts = Counter()
    for piece in pieces:
        for bar in piece.bars:
            for note in bar.notes:
                chord = chord_in_force(bar, note.offset)
                if chord is None:
                    continue
                strong = (note.offset - bar.start) in STRONG_BEATS
                is_chord_tone = note.pitch % 12 in {p % 12 for p in chord.pitches}
                counts["notes"] += 1
                counts["strong" if strong else "other"] += 1
                counts["chord"] += is_chord_tone
                counts["chord_strong" if strong else "chord_other"] += is_chord_tone
                counts["scale"] += is_chord_tone or theory.is_scale_tone(note.pitch, chord.pitches)
    out["chord_tones"] = _pct(counts["chord"], counts["notes"])
    out["chord_tones_13"] = _pct(counts["chord_strong"], counts["strong"])
    out["chord_tones_other"] = _pct(counts["chord_other"], counts["other"])
    out["scale_tones"] = _pct(counts["scale"], counts["notes"])


def duration_class(duration: Fraction) -> str:
    """"16th", "triplet", "8th", "longer" or "other" (see the module docstring)."""
    if duration == Fraction(1, 4):
        return "16th"
    if duration == Fraction(1, 3):
        return "triplet"
    if duration == Fraction(1, 2):
        return "8th"
    return "longer" if duration > Fraction(1, 2) else "other"


def _rhythmic(pieces: Sequence[Piece], out: Dict[str, Optional[float]]) -> None:
    counts = Counter()
    bar_time = rest = Fraction(0)
    n_bars = 0
    for piece in pieces:
        bars = _covered([(b.start, b.start + b.length) for b in piece.bars])
        sounding = _covered([(n.offset, n.offset + n.duration) for n in piece.notes])
        span = sum((end - start for start, end in bars), Fraction(0))
        bar_time += span
        rest += span - _overlap(bars, sounding)
        n_bars += len(piece.bars)
        for bar in piece.bars:
            for note in bar.notes:
                position = note.offset - bar.start
                counts[duration_class(note.duration)] += 1
                on_grid = _on_grid(position)
                counts["off_grid"] += not on_grid
                next_beat = math.floor(position) + 1
                counts["syncopated"] += (on_grid and position.denominator != 1
                                         and position + note.duration > next_beat)
        latest_end = None
        for note in piece.notes:
            counts["overlap"] += latest_end is not None and note.offset < latest_end
            end = note.offset + note.duration
            latest_end = end if latest_end is None else max(latest_end, end)
    n = sum(len(b.notes) for p in pieces for b in p.bars)
    for name in ("16th", "triplet", "8th", "longer", "other"):
        out["dur_" + name] = _pct(counts[name], n)
    out["rest_time"] = float(100 * rest / bar_time) if bar_time else None
    out["onsets_per_bar"] = n / n_bars if n_bars else None
    out["syncopation"] = _pct(counts["syncopated"], n)
    out["off_grid"] = _pct(counts["off_grid"], n)
    out["overlaps"] = _pct(counts["overlap"], n)


def phrases(notes: Sequence[Note]) -> List[List[Note]]:
    """Notes in onset order cut into phrases at every silence of a beat or more."""
    out: List[List[Note]] = []
    latest_end = None
    for note in notes:
        if latest_end is None or note.offset - latest_end >= PHRASE_BREAK:
            out.append([])
        out[-1].append(note)
        end = note.offset + note.duration
        latest_end = end if latest_end is None else max(latest_end, end)
    return out


def _phrases_and_motifs(pieces: Sequence[Piece], out: Dict[str, Optional[float]]) -> None:
    lengths, restated, shapes_seen = [], 0, 0
    for piece in pieces:
        notes = piece.notes
        lengths += [len(p) for p in phrases(notes)]
        steps = [b.pitch - a.pitch for a, b in zip(notes, notes[1:])]
        shapes = [tuple(steps[i : i + MOTIF_INTERVALS]) for i in range(len(steps) - MOTIF_INTERVALS + 1)]
        counts = Counter(shapes)
        restated += sum(counts[s] > 1 for s in shapes)
        shapes_seen += len(shapes)
    out["phrase_length"] = _mean(lengths)
    out["motifs"] = _pct(restated, shapes_seen)


INTERVAL_BINS = 13  # |interval| 0, 1, ..., 11 semitones, and 12 or more


def interval_histogram(pieces: Sequence[Piece]) -> List[Optional[float]]:
    """The share (%) of the |intervals| between consecutive notes of 0, 1, ..., 11 and 12 or more
    semitones (as for ``mean_interval``)."""
    counts = [0] * INTERVAL_BINS
    for piece in pieces:
        pitches = [n.pitch for n in piece.notes]
        for a, b in zip(pitches, pitches[1:]):
            counts[min(abs(b - a), INTERVAL_BINS - 1)] += 1
    return [_pct(c, sum(counts)) for c in counts]


# ------------------------------------------------------------------------------ value copies

def _ngrams(codes: bytes, n: int) -> set:
    """Every run of n consecutive values of a sequence coded as 4 bytes per value."""
    return {codes[4 * i : 4 * (i + n)] for i in range(len(codes) // 4 - n + 1)}


def _coded(sequences: Sequence[Sequence[str]], numbering: Dict[str, int]) -> List[bytes]:
    """Each value sequence as bytes, 4 per value, so that a run of values is a slice of bytes."""
    return [b"".join(numbering.setdefault(v, len(numbering)).to_bytes(4, "little") for v in seq)
            for seq in sequences]


def longest_copy(sequence: bytes, others: Sequence[bytes]) -> int:
    """The longest run of consecutive values of ``sequence`` found verbatim in one of ``others``.

    A binary search on the length: a run found in the others has every shorter run found too.
    """
    low, high = 0, len(sequence) // 4  # the answer is at least low and at most high
    while low < high:
        n = (low + high + 1) // 2
        theirs = set().union(*(_ngrams(o, n) for o in others)) if others else set()
        if _ngrams(sequence, n) & theirs:
            low = n
        else:
            high = n - 1
    return low


def _copies(pieces: Sequence[Piece], training: Optional[Sequence[Sequence[str]]],
            out: Dict[str, Optional[float]]) -> None:
    """The copy statistics; training None: the pieces are the training pieces themselves."""
    numbering: Dict[str, int] = {}
    mine = _coded([p.values for p in pieces], numbering)
    theirs = None if training is None else _coded(training, numbering)
    found = Counter()
    longest = []
    for k, codes in enumerate(mine):
        if not codes:
            continue
        others = theirs if theirs is not None else mine[:k] + mine[k + 1 :]
        if not others:
            continue
        for n in NGRAMS:
            grams = [codes[4 * i : 4 * (i + n)] for i in range(len(codes) // 4 - n + 1)]
            known = set().union(*(_ngrams(o, n) for o in others))
            found[n] += sum(g in known for g in grams)
            found[-n] += len(grams)
        longest.append(longest_copy(codes, others))
    for n in NGRAMS:
        out[f"copy_{n}"] = _pct(found[n], found[-n])
    out["longest_copy"] = max(longest) if longest else None


def solo_statistics(pieces: Sequence[Piece], training_values: Optional[Sequence[Sequence[str]]] = None
                    ) -> Dict[str, Optional[float]]:
    """Every statistic of the module docstring for ``pieces``, by name (None where undefined).

    training_values: the training pieces' value sequences, for the copy statistics; None when
    ``pieces`` are the training pieces themselves (each is then compared with the others).
    """
    pieces = list(pieces)
    out: Dict[str, Optional[float]] = {
        "pieces": len(pieces), "notes": sum(len(b.notes) for p in pieces for b in p.bars)}
    _melodic(pieces, out)
    _harmonic(pieces, out)
    _rhythmic(pieces, out)
    _phrases_and_motifs(pieces, out)
    _copies(pieces, training_values, out)
    return {name: (None if out[name] is None else float(out[name])) for name in STATISTICS}


# ---------------------------------------------------------------------------------------- fit

def model_cross_entropy(model, sequences: Sequence[np.ndarray], features=None) -> Tuple[float, int]:
    """The model's cross-entropy on value sequences: (total nats, number of values scored).

    sequences: value indices, -1 for a value outside the vocabulary. Each sequence is read as
    generation reads a solo: one pass from the zero state, the first value predicted from the
    all-zero input, every later one from the values before it. A value outside the vocabulary
    is not scored, and goes in as the all-zero input.
    features: for the conditioned model, one (len(s), n_d) array per sequence, row t the
    features of value t (``features.measure_features``), read at the step that predicts it.
    """
    if model.n_features and features is None:
        raise LstmNumpyError("the conditioned model is measured on music with its chords and beats: "
                             "pass the features of the values.")
    if features is not None:
        features = [np.asarray(f) for s, f in zip(sequences, features) if len(s)]
    sequences = [np.asarray(s, np.int64) for s in sequences if len(s)]
    if not sequences:
        return 0.0, 0
    T, m = max(len(s) for s in sequences), len(sequences)
    x = np.full((T, m), -1, np.int64)  # time-major inputs: the value before each target
    y = np.full((T, m), -1, np.int64)  # targets; -1: nothing to score
    for k, s in enumerate(sequences):
        y[: len(s), k] = s
        x[1 : len(s), k] = s[:-1]
    joined = layout.join_compiled(model.parameters, n_features=model.n_features)
    if joined is None:
        raise LstmNumpyError("the model's weights are not all finite numbers, so it cannot be "
                             "measured; use a checkpoint saved before training diverged.")
    d = None
    if model.n_features:
        d = np.zeros((T, m, model.n_features), joined.W_ay.dtype)
        for k, f in enumerate(features):
            d[: len(f), k] = f
    zeros = np.zeros((m, model.n_a), joined.W_ay.dtype)
    with passes.one_blas_thread():
        cache = passes.sequence_forward(x, zeros, zeros, joined, passes.Targets(y, 1.0), features=d)
    return float(cache.loss), int((y >= 0).sum())


# the add-k smoothing constants tried for the unigram and bigram (each keeps its best)
SMOOTHING = (10.0, 5.0, 2.0, 1.0, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01, 0.005, 0.002, 0.001)


def ngram_cross_entropies(training: Sequence[np.ndarray], heldout: Sequence[np.ndarray],
                          n_values: int) -> Dict[str, float]:
    """Unigram and add-k bigram cross-entropies (nats per value) of held-out value sequences.

    Both are counted on ``training`` (index sequences; pairs never span two sequences):
    unigram p(v) = (c(v) + k) / (N + k V), bigram p(v | u) = (c(u v) + k) / (c(u .) + k V),
    with V = n_values. The bigram predicts a value with no scored value before it (the first
    of a sequence, or one after a value outside the vocabulary) with the unigram. Scored are the
    held-out values inside the vocabulary (indices >= 0), as for the model. Each k is the one of
    ``SMOOTHING`` that fits the held-out values best, so the model is compared with the
    strongest add-k unigram and bigram.
    """
    unigram = np.zeros(n_values)
    bigram = np.zeros((n_values, n_values))
    for s in training:
        s = np.asarray(s, np.int64)
        pair = (s[:-1] >= 0) & (s[1:] >= 0)
        np.add.at(unigram, s[s >= 0], 1)
        np.add.at(bigram, (s[:-1][pair], s[1:][pair]), 1)
    previous, targets = [], []
    for s in heldout:
        s = np.asarray(s, np.int64)
        before = np.concatenate([[-1], s[:-1]])
        keep = s >= 0
        previous.append(before[keep])
        targets.append(s[keep])
    previous, targets = np.concatenate(previous), np.concatenate(targets)
    if not len(targets):
        raise LstmNumpyError("none of the held-out values is in the model's vocabulary, so its fit "
                             "cannot be measured; hold out music closer to the training music.")

    def unigram_logp(k):
        return np.log((unigram[targets] + k) / (unigram.sum() + k * n_values))

    best_unigram = max(SMOOTHING, key=lambda k: unigram_logp(k).sum())
    base = unigram_logp(best_unigram)
    context = previous >= 0

    def bigram_logp(k):
        rows = previous[context]
        logp = base.copy()
        logp[context] = np.log((bigram[rows, targets[context]] + k) / (bigram[rows].sum(axis=1) + k * n_values))
        return logp

    best_bigram = max(SMOOTHING, key=lambda k: bigram_logp(k).sum())
    return {"unigram_nats": float(-base.mean()), "bigram_nats": float(-bigram_logp(best_bigram).mean()),
            "unigram_k": best_unigram, "bigram_k": best_bigram}


def fit(model, training: Sequence[np.ndarray], heldout_values: Sequence[Sequence[str]],
        heldout_features=None) -> Dict:
    """The model's fit on held-out values beside a unigram and a bigram counted on ``training``.

    training: index sequences the model learned from; heldout_values: value strings by piece;
    heldout_features: their features by piece, for the conditioned model (else None).
    Returns {"heldout_values", "oov_pct", "model_nats", "unigram_nats", "bigram_nats",
    "unigram_k", "bigram_k"}: nats per value, over the held-out values inside the vocabulary.
    """
    index = {v: i for i, v in enumerate(model.indices_values)}
    heldout = [np.array([index.get(v, -1) for v in piece], np.int64) for piece in heldout_values]
    total = sum(len(s) for s in heldout)
    outside = sum(int((s < 0).sum()) for s in heldout)
    result = {"heldout_values": total, "oov_pct": _pct(outside, total)}
    baselines = ngram_cross_entropies(training, heldout, model.n_values)
    nats, count = model_cross_entropy(model, heldout, heldout_features)
    result["model_nats"] = nats / count
    result.update(baselines)
    return result


# ---------------------------------------------------------------------------------- the table

def format_table(columns: Dict[str, Dict[str, Optional[float]]]) -> str:
    """The statistics side by side, one column per set of pieces ("-": not defined)."""
    width = max(len(label) for label, _ in STATISTICS.values())
    names = list(columns)
    widths = [max(10, len(name)) for name in names]
    lines = ["statistic".ljust(width) + "".join(f"  {n:>{w}}" for n, w in zip(names, widths))]
    for key, (label, fmt) in STATISTICS.items():
        cells = []
        for name, w in zip(names, widths):
            value = columns[name].get(key)
            cells.append(f"  {'-' if value is None else fmt.format(value):>{w}}")
        lines.append(label.ljust(width) + "".join(cells))
    return "\n".join(lines)


# -------------------------------------------------------------------------------- the command

def build_parser() -> cli.ArgumentParser:
    p = cli.ArgumentParser(prog="python -m lstm_numpy.evaluate",
                           description="Measure a model's solos against its training music.")
    p.add_argument("--checkpoint", required=True, metavar="DIR",
                   help="a checkpoint folder written by lstm_numpy.train (or its output folder)")
    p.add_argument("--heldout", nargs="+", metavar="FILE", default=[],
                   help="MIDI files the model did not learn from: measure its fit on them")
    p.add_argument("--reference", nargs="+", metavar="FILE", default=[],
                   help="MIDI files to show beside the solos (real solos over chords, say)")
    p.add_argument("--solos", type=cli.positive_int, default=DEFAULT_SOLOS,
                   help=f"solos to improvise (default {DEFAULT_SOLOS})")
    p.add_argument("--bars", type=cli.bar_count, default=DEFAULT_BARS,
                   help=f"bars per solo (default {DEFAULT_BARS})")
    p.add_argument("--seed", type=int, default=0, help="solo k uses seed + k (default 0)")
    p.add_argument("--temperature", type=cli.non_negative_float, default=cli.DEFAULT_TEMPERATURE,
                   help=f"sampling temperature of the solos (default {cli.DEFAULT_TEMPERATURE:g})")
    p.add_argument("--top-k", type=cli.non_negative_int,
                   help="sample only among the k likeliest values; 0, the default, samples among all")
    p.add_argument("--json", metavar="OUT", help="also write every figure to this JSON file")
    p.add_argument("--svg", metavar="OUT", help="also draw the distributions side by side in this SVG file")
    return p


def features_of_files(paths: Sequence, preset: Optional[str] = None, melody=None, chords=None
                      ) -> List[np.ndarray]:
    """Per MIDI file, (n, n_d) the features of its values (``features.measure_features``), the
    files read as ``pieces_from_midi`` reads them."""
    return [measure_features(get_measures(path, preset=preset, melody=melody, chords=chords))
            for path in paths]


def training_features(config: Dict) -> List[np.ndarray]:
    """Per training piece, the features of its values, the files read exactly as training read
    them (so that they line up with the checkpoint's corpus)."""
    pieces = read_corpus(config.get("midi") or _default_paths(), preset=config.get("preset"),
                         melody=config.get("melody"), chords=config.get("chords"),
                         changes=config.get("changes"), skip_bad=bool(config.get("skip_bad")))
    return [measure_features(measures) for measures in pieces.pieces]


def _default_paths() -> List[str]:
    return [str(p) for p in default_corpus_paths()]


def training_pieces(model) -> List[Piece]:
    """The pieces a model was trained on, read again as its configuration says."""
    config = model.config or {}
    paths = config.get("midi") or _default_paths()
    for path in paths:
        if not Path(path).is_file() and not config.get("skip_bad"):
            raise LstmNumpyError(f"{path}: this training file of the checkpoint is not there; run from the "
                                 f"folder training ran in, or put the file back.")
    return pieces_from_midi(paths, preset=config.get("preset"), melody=config.get("melody"),
                            chords=config.get("chords"), changes=config.get("changes"),
                            skip_bad=bool(config.get("skip_bad")))


def same_values(model, training: Sequence[Piece], corpus) -> bool:
    """Whether the training files, read again, give the values the checkpoint kept."""
    index = {v: i for i, v in enumerate(model.indices_values)}
    again = [index.get(v, -1) for p in training for v in p.values]
    return again == corpus.values.tolist()


def solo_starts(bar_counts: Sequence[int], n_solos: int) -> List[Tuple[int, int]]:
    """Where each of n_solos solos starts: (piece, bar), spread evenly over the form.

    bar_counts: the number of bars of each training piece. The pieces' bars are laid end to end
    (B bars in all) and solo k starts at bar floor(k B / n_solos) of that line, so the solos'
    starts are spread over every piece's changes in proportion to its length, not bunched at the
    tops of the pieces. Pieces without bars are passed over.
    """
    total = sum(bar_counts)
    if total <= 0:
        raise LstmNumpyError("the training pieces have no bars to improvise over; train on music with bars.")
    ends = np.cumsum(bar_counts)
    starts = []
    for k in range(n_solos):
        bar = k * total // n_solos
        piece = int(np.searchsorted(ends, bar, side="right"))  # the piece whose bars hold this one
        starts.append((piece, bar - int(ends[piece] - bar_counts[piece])))
    return starts


def generated_pieces(model, training: Sequence[Piece], n_solos: int, n_bars: int, seed: int,
                     temperature: float, top_k: Optional[int] = cli.DEFAULT_TOP_K) -> List[Piece]:
    """n_solos solos of n_bars bars, with seeds seed + k. Solo k starts where ``solo_starts``
    puts it and plays on over its piece's changes, wrapping round to the piece's first bar, so
    the solos together are heard over the whole form, as the training figures are."""
    pieces = []
    for k, (index, bar) in enumerate(solo_starts([len(p.bars) for p in training], n_solos)):
        chords = [list(b.chords) for b in training[index].bars]
        solo = generate_music(model, chords=chords, n_bars=n_bars, temperature=temperature,
                              top_k=top_k, seed=seed + k, start_bar=bar)
        pieces.append(piece_from_solo(solo, name=f"solo {k + 1}"))
    return pieces


def training_over_solo_bars(training: Sequence[Piece], n_solos: int, n_bars: int) -> List[Piece]:
    """The training music over exactly the bars the solos were played over: per solo, the
    n_bars bars of its piece from its start (``solo_starts``), wrapping round as the solo does,
    laid one after another from time 0 (so a bar heard twice counts twice). Values are left out:
    the copies of values are measured on the whole pieces only."""
    pieces = []
    for k, (index, bar) in enumerate(solo_starts([len(p.bars) for p in training], n_solos)):
        source = training[index].bars
        bars, start = [], Fraction(0)
        for j in range(n_bars):
            old = source[(bar + j) % len(source)]
            by = start - old.start
            bars.append(Bar(start, old.length, tuple(shifted(old.notes, by)), tuple(shifted(old.chords, by))))
            start += old.length
        pieces.append(Piece(bars, name=f"bars of solo {k + 1}"))
    return pieces


def evaluate(checkpoint, heldout: Sequence = (), reference: Sequence = (), n_solos: int = DEFAULT_SOLOS,
             n_bars: int = DEFAULT_BARS, seed: int = 0, temperature: float = cli.DEFAULT_TEMPERATURE,
             top_k: Optional[int] = cli.DEFAULT_TOP_K) -> Dict:
    """Everything the command prints: {"fit"?, "generated", "training", "training_solo_bars",
    "reference"?, "intervals", "settings"}; "training_solo_bars" is the training music over the
    solos' own bars (``training_over_solo_bars``), "intervals" holds each column's
    ``interval_histogram``, "settings" where each solo started ("solo_starts": [file, bar]).

    checkpoint: a ``checkpoint.Checkpoint`` (``read_checkpoint``), or a Model. The fit is
    measured on the ``heldout`` files (read in automatic mode), or else on the part of the
    training music the checkpoint held out for validation, if any; its unigram and bigram are
    counted on the training values the checkpoint keeps (for an older checkpoint without them,
    on the training files read again).
    """
    state = checkpoint if isinstance(checkpoint, Checkpoint) else Checkpoint(model=checkpoint)
    model = state.model
    config = model.config or {}
    training = training_pieces(model)
    if state.corpus is not None and not same_values(model, training, state.corpus):
        print("note: the training files no longer give the values this checkpoint learned from; the "
              "training column describes the files as they are now.", file=sys.stderr)
    reference_pieces = pieces_from_midi(reference) if reference else []
    heldout_pieces = pieces_from_midi(heldout) if heldout else []
    result: Dict = {}
    corpus = state.corpus
    if heldout_pieces or (corpus is not None and len(corpus.validation)):
        if corpus is not None:
            training_indices = corpus.parts(held_out=False)
        else:
            index = {v: i for i, v in enumerate(model.indices_values)}
            training_indices = [np.array([index.get(v, -1) for v in p.values], np.int64) for p in training]
        heldout_features = None
        if heldout_pieces:
            heldout_values, source = [p.values for p in heldout_pieces], "heldout files"
            if model.n_features:
                heldout_features = features_of_files(heldout)
        else:
            heldout_values = [[model.indices_values[i] for i in part] for part in corpus.parts(held_out=True)]
            source = "validation part of the training music"
            if model.n_features:
                every = np.concatenate(training_features(config))
                heldout_features = [every[a:b] for a, b in corpus.ranges(held_out=True)]
        result["fit"] = dict(fit(model, training_indices, heldout_values, heldout_features), source=source)
    generated = generated_pieces(model, training, n_solos, n_bars, seed, temperature, top_k)
    training_values = [p.values for p in training]
    result["generated"] = solo_statistics(generated, training_values)
    result["training"] = solo_statistics(training)
    # the training music over exactly the solos' bars: what the solos are fairly held to
    same_bars = training_over_solo_bars(training, n_solos, n_bars)
    result["training_solo_bars"] = solo_statistics(same_bars)
    result["intervals"] = {"generated": interval_histogram(generated), "training": interval_histogram(training),
                           "training_solo_bars": interval_histogram(same_bars)}
    if reference_pieces:
        result["reference"] = solo_statistics(reference_pieces, training_values)
        result["intervals"]["reference"] = interval_histogram(reference_pieces)
    result["settings"] = {"solos": n_solos, "bars": n_bars, "seed": seed, "temperature": temperature, "top_k": top_k,
                          "training_files": [p.name for p in training],
                          "solo_starts": [[training[i].name, bar] for i, bar in
                                          solo_starts([len(p.bars) for p in training], n_solos)],
                          "heldout_files": [str(p) for p in heldout],
                          "reference_files": [str(p) for p in reference],
                          "preset": config.get("preset"), "epoch": state.epoch}
    return result


def picture(result: Dict, path=None):
    """The distributions side by side (``render.plot_distributions``): the |interval| histogram,
    the durations and the chord-tone shares of every column of ``result``."""
    names = [name for name in ("generated", "training", "training_solo_bars", "reference") if name in result]
    bins = [str(k) for k in range(INTERVAL_BINS - 1)] + [f"{INTERVAL_BINS - 1}+"]
    durations = ["16th", "triplet", "8th", "longer", "other"]
    tones = [("chord_tones", "chord tones"), ("chord_tones_13", "on 1 and 3"),
             ("chord_tones_other", "elsewhere"), ("scale_tones", "chord or scale")]
    return plot_distributions(path, [
        ("|interval| between notes (semitones)", bins, {n: result["intervals"][n] for n in names}),
        ("durations", durations, {n: [result[n]["dur_" + d] for d in durations] for n in names}),
        ("chord tones", [label for _, label in tones], {n: [result[n][k] for k, _ in tones] for n in names}),
    ])


def format_fit(fit: Dict) -> str:
    """The fit as a few lines of text."""
    return "\n".join([
        f"fit on {fit['heldout_values']} held-out values ({fit['source']}), "
        f"{fit['oov_pct']:.1f}% of them outside the vocabulary; nats per value:",
        f"  model    {fit['model_nats']:.3f}",
        f"  unigram  {fit['unigram_nats']:.3f}  (add-k, k = {fit['unigram_k']:g})",
        f"  bigram   {fit['bigram_nats']:.3f}  (add-k, k = {fit['bigram_k']:g})",
    ])


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    for path in list(args.heldout) + list(args.reference):
        if not Path(path).is_file():
            raise LstmNumpyError(f"{path}: no such file; check the paths given to --heldout and --reference.")
    for option, given in (("--json", args.json), ("--svg", args.svg)):
        if given is not None and Path(given).is_dir():
            raise LstmNumpyError(f"{option} {given} is a folder; give the name of the file to write.")
    state = read_checkpoint(args.checkpoint)
    result = evaluate(state, args.heldout, args.reference, args.solos, args.bars, args.seed,
                      args.temperature, cli.top_k(args.top_k))
    columns = {"generated": result["generated"], "training": result["training"],
               "solos' bars": result["training_solo_bars"]}
    if "reference" in result:
        columns["reference"] = result["reference"]
    print(format_table(columns))
    if "fit" in result:
        print()
        print(format_fit(result["fit"]))
    if args.json is not None:
        write_atomically(args.json, (json.dumps(result, indent=1) + "\n").encode())
        print(f"wrote {args.json}", file=sys.stderr)
    if args.svg is not None:
        picture(result, args.svg)
        print(f"wrote {args.svg}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    cli.run(main)
