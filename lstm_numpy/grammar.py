"""The value grammar: a melody over chords becomes a list of "values", and values become notes.

A value describes one note relative to the harmony and to the note before it, for example
``"S,0.250,<m2,P-4>"``:

* the **type** letter: ``C`` chord tone, ``S`` scale tone, ``A`` approach tone (a semitone from a
  chord tone), ``X`` anything else, ``R`` rest (see :func:`tone_type`);
* the **duration** in quarter notes, printed with three decimals;
* from the second note of a measure on, the **bounds** ``<UP,LOW>``: the interval from the
  previous note, plus and minus a minor third, written as interval names (``theory``).

:func:`parse_measure` is the course's ``parse_melody`` (measure -> values) and
:func:`unparse_values` its ``unparse_grammar`` (values + chords -> notes), whose random choices
come from a NumPy ``Generator``. :func:`prune_grammar`, :func:`prune_notes` and
:func:`clean_up_notes` are the course's post-processing, and :func:`course_postprocess` chains
them exactly as its ``generate_music`` did for one set of chords.
"""

from __future__ import annotations

import re
from dataclasses import replace
from fractions import Fraction
from typing import List, NamedTuple, Optional, Sequence

import numpy as np

from . import theory
from .errors import LstmNumpyError
from .notes import Chord, Note
from .theory import SpelledPitch

TYPES = "CSAXR"
_DURATION_RE = re.compile(r"^\d+(\.\d*)?$|^\.\d+$")


class Value(NamedTuple):
    """One parsed value: ``kind`` letter, ``duration`` and interval names (or None).

    duration: the printed decimal as an exact Fraction ("0.333" -> 333/1000, as the course's
              ``float`` read it); :attr:`grid_duration` gives the triplet it stands for (1/3).
    upper, lower: the two interval names in the order written, or None for a value without
              bounds (the first note of a measure, or a rest).
    """

    kind: str
    duration: Fraction
    upper: Optional[str] = None
    lower: Optional[str] = None

    @property
    def has_bounds(self) -> bool:
        return self.upper is not None

    @property
    def grid_duration(self) -> Fraction:
        """The exact length the printed decimal stands for: "0.333" -> 1/3, "0.667" -> 2/3.

        Quarters and thirds of a beat meet on a grid of twelfths, and three decimals are enough
        to tell every twelfth apart, so a duration within 1/1000 of a twelfth is snapped to it;
        any other (such as 0.125) is kept as written.
        """
        twelfths = round(self.duration * 12)
        snapped = Fraction(twelfths, 12)
        return snapped if abs(snapped - self.duration) <= Fraction(1, 1000) else self.duration


def parse_value(value: str) -> Value:
    """Split a value string ``TYPE,DUR[,<UP,LOW>]`` into a :class:`Value`.

    >>> parse_value("C,0.250,<m2,P-4>")
    Value(kind='C', duration=Fraction(1, 4), upper='m2', lower='P-4')
    """
    terms = value.strip().split(",")
    problem = None
    if len(terms) not in (2, 4):
        problem = "it needs 2 or 4 comma-separated fields"
    elif terms[0] not in TYPES or len(terms[0]) != 1:
        problem = f"its type must be one of {', '.join(TYPES)}"
    elif not _DURATION_RE.match(terms[1]):
        problem = "its duration must be a non-negative decimal number such as 0.250"
    elif len(terms) == 4 and not (terms[2].startswith("<") and terms[3].endswith(">")):
        problem = "its bounds must be written <UP,LOW>"
    if problem:
        raise LstmNumpyError(
            f"Malformed value {value!r}: {problem}, as in 'C,0.250' or 'S,0.500,<m2,P-4>'.")
    if len(terms) == 2:
        return Value(terms[0], Fraction(terms[1]))
    upper, lower = terms[2][1:], terms[3][:-1]
    for name in (upper, lower):
        try:
            theory.parse_interval(name)
        except LstmNumpyError:
            raise LstmNumpyError(
                f"Malformed value {value!r}: {name!r} is not an interval name such as 'm2', "
                f"'P-4' or 'dd5'.") from None
    return Value(terms[0], Fraction(terms[1]), upper, lower)


def format_value(kind: str, duration, upper: Optional[str] = None,
                 lower: Optional[str] = None) -> str:
    """Write a value as the course printed it: ``format_value("C", Fraction(1, 3))`` is "C,0.333"."""
    text = f"{kind},{float(duration):.3f}"
    return text if upper is None else f"{text},<{upper},{lower}>"


# --------------------------------------------------------------------------------------------
# Melody -> values
# --------------------------------------------------------------------------------------------

def tone_type(pitch: theory.PitchLike, chord_pitches: Sequence[theory.PitchLike]) -> str:
    """Classify a pitch against the chord in force, testing in the course's order.

    ``C`` if its name is a chord tone, else ``S`` if it is in the chord's scale (Major for a
    major chord, otherwise Dorian), else ``A`` if it lies a semitone from a chord tone, else ``X``.
    """
    if theory.is_chord_tone(pitch, chord_pitches):
        return "C"
    if theory.is_scale_tone(pitch, chord_pitches):
        return "S"
    if theory.is_approach_tone(pitch, chord_pitches):
        return "A"
    return "X"


def _sorted_chords(chords: Sequence[Chord]) -> List[Chord]:
    if not chords:
        raise LstmNumpyError(
            "The grammar needs at least one chord per measure; give the measure its harmony.")
    return sorted(chords, key=lambda c: c.offset)  # stable: equal offsets keep their order


def chord_in_force(chords: Sequence[Chord], offset) -> Chord:
    """The last chord starting at or before ``offset``; if none has started yet, the first one.

    (The course moved the first chord back to the start of the measure in that case.)
    Equal offsets: the later chord in the list wins. ``chords`` must be sorted by offset.
    """
    started = [c for c in chords if c.offset <= offset]
    return started[-1] if started else chords[0]


def parse_measure(melody: Sequence[Note], chords: Sequence[Chord],
                  measure_start: Optional[Fraction] = None) -> str:
    """The values of one measure, space-joined: the course's ``parse_melody``.

    melody: the measure's notes and rests in order, with absolute offsets.
    chords: the measure's chords, absolute offsets.
    measure_start: where the measure begins (by default, as the course computed it, the first
        note's offset rounded down to a multiple of 4). The course used it only to move the
        first chord back to the start of the measure when a note came before every chord; the
        chord in force is then the first chord, which :func:`chord_in_force` returns directly,
        so the values never depend on it. It is kept for the course's signature.

    For each element: its type (:func:`tone_type` against the chord in force at its start, ``R``
    for a rest), its own duration, and for the second and later *notes* of the measure the
    interval ``d`` from the previous note, written as ``<d + m3, d - m3>``. Rests do not reset
    or update the previous note; a new measure does.
    """
    if not melody:
        raise LstmNumpyError("A measure needs at least one note or rest to be parsed.")
    ordered = _sorted_chords(chords)
    values, previous = [], None
    for element in melody:
        if element.is_rest:
            values.append(format_value("R", element.duration))
            continue
        chord = chord_in_force(ordered, element.offset)
        kind = tone_type(element.pitch, chord.pitches)
        if previous is None:
            values.append(format_value(kind, element.duration))
        else:
            step = theory.interval_between(previous, element.pitch)
            upper = theory.add_intervals(step, theory.MINOR_THIRD).name
            lower = theory.subtract_intervals(step, theory.MINOR_THIRD).name
            values.append(format_value(kind, element.duration, upper, lower))
        previous = element.pitch
    return " ".join(values)


# --------------------------------------------------------------------------------------------
# Values -> notes
# --------------------------------------------------------------------------------------------

def _pick(rng: np.random.Generator, options: Sequence):
    """Every random choice of the decoder goes through here: one uniform draw from ``options``."""
    return options[int(rng.integers(len(options)))]


def _has_kind(kind: str, pitch: SpelledPitch, chord_pitches: Sequence[int]) -> bool:
    if kind == "C":
        return theory.is_chord_tone(pitch, chord_pitches)
    if kind == "S":
        return theory.is_scale_tone(pitch, chord_pitches)
    return theory.is_approach_tone(pitch, chord_pitches)  # A and X alike, as in the course


def candidate_pitches(kind: str, previous: theory.PitchLike, upper: str, lower: str,
                      chord_pitches: Sequence[int]) -> List[SpelledPitch]:
    """All pitches a bounded value may decode to, lowest first (the course's candidate list).

    The two interval names are applied to the previous pitch; the one with more semitones gives
    the top of the range. Every semitone from bottom to top inclusive, in default spelling, is
    kept if it passes the value's test: chord tone for C, scale tone (Major/Dorian) for S,
    approach tone for A and X.
    """
    start = theory.as_spelled(previous).midi
    ends = sorted(theory.parse_interval(name).semitones for name in (upper, lower))
    spelled = (theory.spell(m) for m in range(start + ends[0], start + ends[1] + 1))
    return [pitch for pitch in spelled if _has_kind(kind, pitch, chord_pitches)]


def _free_scale_tone(chord_pitches: Sequence[int], rng: np.random.Generator) -> SpelledPitch:
    """A scale tone of the chord with no previous note to lean on (the course's S case).

    The name is drawn from the generation scale: Major for a major chord, else the course's
    randomly realised hexatonic blues (``theory.weighted_blues_scale``). Like the course, which
    realised one octave tonic to tonic, the tonic is listed twice, or beside its respelling at
    the top (``DerivedScale.octave_names``). The course drew from a set whose order followed
    memory addresses, so no seed could reproduce it; we draw from the sorted list. The octave
    is drawn from the chord's pitches, lowest first, one per pitch.
    """
    names = sorted(theory.generation_scale(chord_pitches, rng).octave_names)
    name = _pick(rng, names)
    octave = _pick(rng, [theory.spell(p).octave for p in sorted(chord_pitches)])
    return theory.parse_pitch(name, octave)


def _free_tone(kind: str, chord_pitches: Sequence[int], rng: np.random.Generator
               ) -> SpelledPitch:
    """Decode a value without bounds: any tone of its kind, raised to octave 4 at least."""
    if kind == "C":
        pitch = theory.spell(_pick(rng, list(chord_pitches)))
    elif kind == "S":
        pitch = _free_scale_tone(chord_pitches, rng)
    else:  # A and X: a scale tone moved a semitone, in default spelling
        pitch = theory.spell(_free_scale_tone(chord_pitches, rng).midi + _pick(rng, [1, -1]))
    return pitch if pitch.octave >= 4 else pitch._replace(octave=4)


def _bounded_tone(value: Value, previous: SpelledPitch, chord_pitches: Sequence[int],
                  rng: np.random.Generator) -> SpelledPitch:
    """Decode a value with bounds, with the course's rules and fallback.

    Several candidates: a random one that differs from the previous note (by spelled name and
    octave). One: that one. None: the previous note a whole tone up or down, at random.
    The result is raised to octave 3 at least.
    """
    candidates = candidate_pitches(value.kind, previous, value.upper, value.lower, chord_pitches)
    if len(candidates) > 1:
        pitch = _pick(rng, [c for c in candidates
                            if c.name_with_octave != previous.name_with_octave])
    elif len(candidates) == 1:
        pitch = candidates[0]
    else:
        pitch = theory.spell(previous.midi + _pick(rng, [-2, 2]))
    return pitch if pitch.octave >= 3 else pitch._replace(octave=3)


def _in_midi_range(pitch: SpelledPitch) -> SpelledPitch:
    # Wide bounds can leave 0..127, which the course never met; move by octaves back inside.
    while pitch.midi > 127:
        pitch = pitch._replace(octave=pitch.octave - 1)
    while pitch.midi < 0:
        pitch = pitch._replace(octave=pitch.octave + 1)
    return pitch


def unparse_values(values: Sequence[str], chords: Sequence[Chord], rng: np.random.Generator,
                   prev_pitch: Optional[int] = None, course_offsets: bool = True) -> List[Note]:
    """Turn values back into notes over one set of chords: the course's ``unparse_grammar``.

    values: value strings such as "C,0.250" or "S,0.5,<m2,P-4>".
    chords: the harmony, offsets relative to the start of the set (0..4), in any order.
    rng: every random choice is drawn from it, so a seed reproduces the notes.
    prev_pitch: MIDI number of the note before the first value, if any; a value with bounds
        and no previous note is decoded as if it had none (the course would crash there).
    course_offsets: True reproduces the course's placement, False the clean one:

        * course (True): a running offset grows by each value's printed duration *before* the
          element is placed, so every element sits at the *end* of its own duration (the first
          note at its duration, not at 0) and the chord in force is looked up there. Durations
          are the printed decimals (0.333 stays 333/1000); a rest of length 0 (prune_grammar
          can round one down to 0) lasts one quarter, as music21 made it.
        * clean (False): each element starts where the previous one ended, the first at 0, its
          chord is the one sounding at its start, and durations are snapped to the 1/4 and 1/3
          grid (0.333 -> 1/3), so triplets add up to whole beats.

    Returns one Note per value, offsets relative to the same origin as the chords; rests are
    ``Note(pitch=None)``. A bounded value keeps the previous note within its interval range;
    see :func:`candidate_pitches`, :func:`_bounded_tone` and :func:`_free_tone` for the rules
    and fallbacks. (One addition: a pitch outside MIDI's 0..127 is moved back by octaves.)
    """
    return _unparse(values, chords, rng, prev_pitch, course_offsets)[0]


def _unparse(values, chords, rng, prev_pitch, course_offsets):
    """:func:`unparse_values`, also returning each note's spelled name (None for a rest)."""
    ordered = _sorted_chords(chords)
    previous = None if prev_pitch is None else theory.spell(int(prev_pitch))
    notes, names, offset = [], [], Fraction(0)
    for text in values:
        value = parse_value(text)
        duration = value.duration if course_offsets else value.grid_duration
        start = offset + duration if course_offsets else offset
        offset += duration
        if value.kind == "R":
            if course_offsets and duration == 0:
                duration = Fraction(1)  # music21 gave a rest made with length 0 its default, 1
            notes.append(Note(start, duration, None))
            names.append(None)
            continue
        chord_pitches = chord_in_force(ordered, start).pitches
        if value.has_bounds and previous is not None:
            pitch = _bounded_tone(value, previous, chord_pitches, rng)
        else:
            pitch = _free_tone(value.kind, chord_pitches, rng)
        previous = _in_midi_range(pitch)
        notes.append(Note(start, duration, previous.midi))
        names.append(previous.name_with_octave)
    return notes, names


# --------------------------------------------------------------------------------------------
# The course's post-processing
# --------------------------------------------------------------------------------------------

def prune_grammar(values: Sequence[str], rng: np.random.Generator) -> List[str]:
    """Round every duration to a multiple of 0.25, down or up at random (the course's smoothing).

    "Down" is the floor; "up" is the floor + 0.25, so exact values are lengthened too
    (0.25 -> 0.5, 0.5 -> 0.75): half of all notes grow. The course wrote the result with
    Python's ``str(float)``, so durations read "0.25", "0.5", "1.0" afterwards.
    """
    pruned = []
    for text in values:
        parse_value(text)  # only to refuse a malformed value with a clear message
        terms = text.split(",")
        duration = float(terms[1])
        down = duration - duration % 0.25
        terms[1] = str(down if _pick(rng, [-1, 1]) < 0 else down + 0.25)
        pruned.append(",".join(terms))
    return pruned


def prune_notes(notes: Sequence[Note], names: Optional[Sequence[Optional[str]]] = None
                ) -> List[Note]:
    """Drop repeated notes, looking only at the disjoint pairs (0, 1), (2, 3), ... (course quirk).

    When both members of a pair are notes (not rests) of the same pitch, the second goes. A
    repeat across pairs, (1, 2) say, survives. The course compared spelled names with octave
    (G#4 and A-4 are no repeat); pass those ``names`` (one per note) to do the same, otherwise
    MIDI numbers are compared.
    """
    keys = [n.pitch for n in notes] if names is None else list(names)
    dropped = {i + 1 for i in range(0, len(notes) - 1, 2)
               if not notes[i].is_rest and not notes[i + 1].is_rest and keys[i] == keys[i + 1]}
    return [n for i, n in enumerate(notes) if i not in dropped]


def clean_up_notes(notes: Sequence[Note]) -> List[Note]:
    """The course's last check: no zero-length element, no two notes starting together.

    A zero duration becomes 0.25. When an element is followed by a note (not a rest) with the
    same offset, that following note is dropped.
    """
    cleaned = [replace(n, duration=Fraction(1, 4)) if n.duration == 0 else n for n in notes]
    dropped = {i + 1 for i in range(len(cleaned) - 1)
               if cleaned[i].offset == cleaned[i + 1].offset and not cleaned[i + 1].is_rest}
    return [n for i, n in enumerate(cleaned) if i not in dropped]


def course_postprocess(values: Sequence[str], chords: Sequence[Chord], rng: np.random.Generator,
                       lead_in: bool = True) -> List[Note]:
    """The course's whole generate-time pipeline for one set of chords, quirks included.

    1. ``"C,0.25"`` is put in front of the sampled values (``lead_in``), as ``generate_music``
       did, so every set starts on a chord tone.
    2. In the space-joined string, every " A" and " X" becomes " C": only C and S values survive
       (a first value without a space before it is left alone).
    3. :func:`prune_grammar`, 4. :func:`unparse_values` with the course's offsets,
       5. :func:`prune_notes` on the spelled names, 6. :func:`clean_up_notes`.

    chords: offsets are reduced modulo 4, as the course did, so absolute offsets work too.
    Notes come back relative to the start of the set.
    """
    if not values and not lead_in:
        return []
    text = " ".join((["C,0.25"] if lead_in else []) + list(values))
    text = text.replace(" A", " C").replace(" X", " C")
    pruned = prune_grammar(text.split(" "), rng)
    local = [replace(c, offset=Fraction(c.offset) % 4) for c in chords]
    notes, names = _unparse(pruned, local, rng, None, course_offsets=True)
    return clean_up_notes(prune_notes(notes, names))
