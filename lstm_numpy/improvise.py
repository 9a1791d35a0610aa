"""From sampled values to music: a solo that follows the chord changes.

A trained model speaks in values ("C,0.250,<m2,P-4>": a chord tone, a sixteenth long, a small
step from the last note). :func:`generate_music` asks it for values and decodes them into notes
over chords, in one of two ways.

``mode="bars"`` (the default) plays one continuing solo. For each bar of the progression it keeps
sampling values from the *same* LSTM state, carried over from the bar before, until they fill
the bar on the 1/4-and-1/3 grid; then ``line.decode_bar`` turns them into notes over that bar's
chords, carrying the line on from the last note of the bar before, inside the model's register
(see ``lstm_numpy.line``). A note that would ring past the bar line is cut at it, so bars never
overlap.

``mode="course"`` is the assignment's own procedure, kept for comparison (SPEC section 8): the same
50 greedy values (temperature 0 from zero input and zero state) are decoded again and again, once
over each of the first chord sets, with "C,0.25" put in front and the course's post-processing
(A and X turned into C, durations rounded at random, repeated notes pruned). Each set starts 4
beats after the previous one although its notes last much longer, so the sets overlap heavily,
exactly as in the course. ``temperature`` and ``top_k`` are ignored in this mode, as the course
ignored its own diversity argument.

One NumPy Generator, made from ``seed``, drives both the sampling and the decoding, so the same
seed gives the same solo.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from fractions import Fraction
from typing import List, Optional, Sequence, Union

import numpy as np

from . import grammar, line
from .changes import parse_changes
from .cli import DEFAULT_TEMPERATURE, DEFAULT_TOP_K
from .errors import LstmNumpyError
from .limits import MAX_BARS
from .model import Model
from .notes import Chord, Note
from .sampling import predict_and_sample, sample_steps

MODES = ("bars", "course")
COURSE_TY = 50          # values the course's inference model sampled
COURSE_PREFIX = "C,0.25"  # the value the course put in front of them
COURSE_SET_STEP = 4     # beats between the course's chord sets
COURSE_SETS = 5         # chord sets the course played over (see _course_set_count)

Progression = List[List[Chord]]


@dataclass
class Solo:
    """An improvised solo and the chords under it, on one time axis in quarter notes.

    bars:   the notes made for each bar (course mode: for each chord set), already in place.
    chords: the chords under each bar (course mode: each set's chords), in place.
    values: the values decoded in each bar (course mode: "C,0.25" and the 50 greedy values).
    mode:   "bars" or "course".
    beats_per_bar: quarter notes per bar (course mode: 4, the distance between chord sets).
    temperature, seed: as given to generate_music (seed None when a Generator was passed).
    """

    bars: List[List[Note]]
    chords: List[List[Chord]]
    values: List[List[str]]
    mode: str
    beats_per_bar: int = 4
    temperature: Optional[float] = None
    seed: Optional[int] = None

    @property
    def melody(self) -> List[Note]:
        """All notes, by start time (notes starting together keep the order of their bars)."""
        return sorted((note for bar in self.bars for note in bar), key=lambda note: note.offset)

    @property
    def end(self) -> Fraction:
        """Where the last note or chord stops."""
        ends = [n.offset + n.duration for bar in self.bars for n in bar]
        ends += [c.offset + c.duration for bar in self.chords for c in bar]
        return max(ends, default=Fraction(0))


def generate_music(
    model: Model,
    chords: Optional[Progression] = None,
    changes: Union[str, Progression, None] = None,
    n_bars: Optional[int] = None,
    mode: str = "bars",
    temperature: float = DEFAULT_TEMPERATURE,
    top_k: Optional[int] = DEFAULT_TOP_K,
    seed: Union[int, np.random.Generator, None] = None,
    beats_per_bar: int = 4,
    primer: Optional[Sequence[str]] = None,
    start_bar: int = 0,
) -> Solo:
    """Improvise a solo with ``model`` over a chord progression.

    model:       a trained Model (for instance from load_checkpoint).
    chords:      the progression as one list of Chord per bar; default: the chords the model was
                 trained over (model.chords).
    changes:     instead of ``chords``, chord symbols such as "Dm7 G7 | Cmaj7" (see
                 changes.parse_changes), or their parsed bars.
    n_bars:      how many bars to play; the progression repeats (chorus after chorus) or is cut
                 short to fit; at most limits.MAX_BARS. Default: the whole progression once
                 (course mode: the course's five chord sets, fewer for a piece shorter than the
                 course's, see _course_set_count).
    mode:        "bars" (one continuing solo, the default) or "course" (the course's procedure).
    temperature: 0 picks the likeliest value at each step; higher draws bolder ones (bars mode).
    top_k:       draw only among the k likeliest values (bars mode); None, or a k at or above
                 the vocabulary's size, draws among all of them.
    seed:        an int or a numpy Generator; the same seed gives the same solo.
    beats_per_bar: quarter notes per bar.
    primer:      values fed to the LSTM before the solo starts, to set its mood (bars mode).
    start_bar:   the bar of the progression the solo starts at (counted from 0); it plays on from
                 there and wraps round to the progression's first bar, so a solo can be heard
                 over any stretch of a form. 0, the default, starts at the top.
    """
    if mode not in MODES:
        raise LstmNumpyError(f"mode must be one of {', '.join(MODES)}, got {mode!r}.")
    if not isinstance(beats_per_bar, int) or beats_per_bar <= 0:
        raise LstmNumpyError(f"beats_per_bar must be a whole number above 0, got {beats_per_bar!r}.")
    if n_bars is not None and (not isinstance(n_bars, int) or isinstance(n_bars, bool) or not 0 < n_bars <= MAX_BARS):
        raise LstmNumpyError(f"n_bars must be a whole number from 1 to {MAX_BARS}, got {n_bars!r}.")
    progression = _progression(model, chords, changes, beats_per_bar)
    if not _is_count(start_bar) or start_bar < 0:
        raise LstmNumpyError(f"start_bar must be a whole number from 0 up, got {start_bar!r}.")
    # rotated after the empty bars are filled, so a bar keeps the chord held from the one before it
    start_bar %= len(progression)
    progression = progression[start_bar:] + progression[:start_bar]
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    label = seed if not isinstance(seed, np.random.Generator) else None

    if mode == "course":
        if model.n_features:
            raise LstmNumpyError("--mode course replays the course's greedy sequence without chords, which "
                                 "the conditioned model cannot play; use --mode bars.")
        from_training = chords is None and changes is None
        if n_bars is None:
            # the course's five sets, also over a corpus of hundreds of measures
            n_bars = min(_course_set_count(len(progression)), COURSE_SETS) if from_training else len(progression)
        sets = [_bar_relative(bar, COURSE_SET_STEP) for bar in _cycle(progression, _within_limit(n_bars))]
        return _course_solo(model, sets, rng, label)

    n_bars = _within_limit(n_bars or len(progression))
    bars = [_bar_relative(bar, beats_per_bar) for bar in _cycle(progression, n_bars)]
    if _is_count(top_k) and top_k > model.n_values:
        top_k = model.n_values  # a k above the vocabulary's size: every value
    return _bars_solo(model, bars, beats_per_bar, temperature, top_k, rng, primer, label)


# ------------------------------------------------------------------------------------ progression

def _progression(model: Model, chords, changes, beats_per_bar: int) -> Progression:
    if chords is not None and changes is not None:
        raise LstmNumpyError("give either chords or changes, not both.")
    if isinstance(changes, str):
        progression = parse_changes(changes, beats_per_bar)
    elif changes is not None:
        progression = changes
    elif chords is not None:
        progression = chords
    else:
        progression = model.chords
    progression = [list(bar) for bar in progression]
    if not progression or not any(progression):
        raise LstmNumpyError("there are no chords to improvise over: this model has none from its "
                             "training pieces, so pass changes such as 'Dm7 G7 | Cmaj7'.")
    return _fill_empty_bars(progression, beats_per_bar)


def _fill_empty_bars(progression: Progression, beats_per_bar: int) -> Progression:
    """Give a bar without chords the chord still sounding from the bar before.

    A piece can leave a bar without a new chord (the harmony simply goes on), but every bar needs
    one to decode values over. Empty bars at the very start take the first chord there is.
    """
    first = next(bar for bar in progression if bar)[0]
    held = replace(first, offset=Fraction(0), duration=Fraction(beats_per_bar))
    filled = []
    for bar in progression:
        if bar:
            # the latest in the bar; between equal offsets the later one in the list, as in decoding
            last = sorted(bar, key=lambda chord: Fraction(chord.offset) % beats_per_bar)[-1]
            filled.append(bar)
            held = replace(last, offset=Fraction(0), duration=Fraction(beats_per_bar))
        else:
            filled.append([held])
    return filled


def _within_limit(n_bars: int) -> int:
    if n_bars > MAX_BARS:
        raise LstmNumpyError(f"the chords run for {n_bars} bars, more than the {MAX_BARS} a solo may have; "
                             f"ask for fewer bars (n_bars).")
    return n_bars


def _is_count(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _cycle(progression: Progression, n_bars: int) -> Progression:
    return [progression[k % len(progression)] for k in range(n_bars)]


def _course_set_count(n_measures: int) -> int:
    """How many chord sets the course played over, for a piece of n_measures measures.

    The course's chord list had one more entry than ours, a group 0 holding only the file's
    metadata, and looped ``for i in range(1, int(len(chords) / 3))``: with its 18 measures that is
    int(19 / 3) = 6, so sets 1..5. Its set i is our measure i - 1, so the sets are our first
    int((n_measures + 1) / 3) - 1 measures.
    """
    return max(1, (n_measures + 1) // 3 - 1)


def _bar_relative(bar: Sequence[Chord], beats_per_bar: int) -> List[Chord]:
    """A bar's chords with offsets counted from the bar line (the course's ``offset mod 4``).

    Chords read from a piece carry absolute offsets, chords from parse_changes count from the
    progression's start; both reduce to the same thing.
    """
    return [replace(chord, offset=Fraction(chord.offset) % beats_per_bar) for chord in bar]


def shifted(items, by: Fraction):
    """Notes or chords moved later in time by ``by`` quarter notes."""
    return [replace(item, offset=item.offset + by) for item in items]


# ------------------------------------------------------------------------------------ course mode

def _course_solo(model: Model, sets: Progression, rng: np.random.Generator, label) -> Solo:
    _, indices = predict_and_sample(model, Ty=COURSE_TY, temperature=0.0)
    values = [model.indices_values[int(i)] for i in indices[:, 0]]
    bars, chords, decoded = [], [], []
    for k, set_chords in enumerate(sets):
        start = Fraction(COURSE_SET_STEP * k)
        notes = grammar.course_postprocess(values, set_chords, rng)  # puts "C,0.25" in front itself
        bars.append(shifted(notes, start))
        chords.append(shifted(set_chords, start))
        decoded.append([COURSE_PREFIX] + values)
    return Solo(bars=bars, chords=chords, values=decoded, mode="course", beats_per_bar=COURSE_SET_STEP,
                temperature=0.0, seed=label)


# -------------------------------------------------------------------------------------- bars mode

def _bars_solo(model: Model, bars: Progression, beats_per_bar: int, temperature: float,
               top_k: Optional[int], rng: np.random.Generator, primer, label) -> Solo:
    beats = Fraction(beats_per_bar)
    register = line.Register(*(model.register or line.DEFAULT_REGISTER))
    state, prev_pitch = None, None
    played, chords, decoded = [], [], []
    # the conditioned model samples the whole solo at once, knowing each value's chord and beat
    sampled = _conditioned_bars(model, bars, beats_per_bar, temperature, top_k, rng, primer) \
        if model.n_features else None
    for k, bar_chords in enumerate(bars):
        if sampled is not None:
            values = sampled[k]
        else:
            values, state = _fill_bar(model, beats, state, temperature, top_k, rng,
                                      primer if k == 0 else None)
        notes = line.decode_bar(values, bar_chords, beats, prev_pitch, register)
        pitches = [n.pitch for n in notes if not n.is_rest]
        if pitches:
            prev_pitch = pitches[-1]
        start = k * beats
        played.append(shifted(notes, start))
        chords.append(shifted(_held_until_next(bar_chords, beats), start))
        decoded.append(values)
    return Solo(bars=played, chords=chords, values=decoded, mode="bars", beats_per_bar=beats_per_bar,
                temperature=temperature, seed=label)


def _conditioned_bars(model, bars: Progression, beats_per_bar: int, temperature, top_k, rng,
                      primer) -> List[List[str]]:
    """The conditioned model's values for every bar, sampled in one call
    (``sampling_conditioned.sample_solo``), cut into bars as ``_fill_bar`` cuts them."""
    from .features import solo_tables
    from .sampling_conditioned import sample_solo

    if primer is not None:
        raise LstmNumpyError("the conditioned model takes no primer: every value it reads sounds over the "
                             "changes; leave primer out.")
    values, where = sample_solo(model, solo_tables(bars, beats_per_bar), len(bars), temperature, top_k, rng)
    by_bar: List[List[str]] = [[] for _ in bars]
    for value, bar in zip(values.tolist(), where.tolist()):
        by_bar[bar].append(model.indices_values[value])
    return by_bar


def _fill_bar(model, beats: Fraction, state, temperature, top_k, rng, primer):
    """Sample values one at a time, from one continuing state, until they fill a bar.

    Each value takes its place on the grid as line.decode_bar will place it (line.element_end),
    which moves on by a twelfth of a beat at least, so the loop ends.
    """
    values: List[str] = []
    filled = Fraction(0)
    while filled < beats:
        index, state = sample_steps(model, 1, state, temperature=temperature, top_k=top_k, rng=rng,
                                    primer=primer)
        primer = None
        value = model.indices_values[int(index[0, 0])]
        values.append(value)
        filled = line.element_end(filled, value_duration(value), beats)
    return values, state


def value_duration(value: str) -> Fraction:
    """How long a value lasts in the clean decoding, in quarter notes ("0.333" -> 1/3)."""
    return grammar.parse_value(value).grid_duration


def _held_until_next(bar_chords: Sequence[Chord], beats: Fraction) -> List[Chord]:
    """Each chord sounds until the next one starts or the bar ends: the chord "in force".

    Chords read from a piano part can be staccato, zero-length after quantization, or ring into
    the next bar; under a solo they are meant as the harmony of their stretch of the bar.
    """
    ordered = sorted(bar_chords, key=lambda chord: chord.offset)
    held = []
    for k, chord in enumerate(ordered):
        until = ordered[k + 1].offset if k + 1 < len(ordered) else beats
        held.append(replace(chord, duration=until - chord.offset))
    return held
