"""Keeping the line: the default decoder, from sampled values to one continuing melody.

The course decoded each value by drawing a pitch at random anywhere inside its ``<UP,LOW>``
bounds and started every measure afresh (``grammar.unparse_values``, kept exactly for the
course's mode). Heard as a whole, that breaks the line: intervals come out half again as large
as the ones the model learned, a bar's first note lands anywhere, and nothing stops the melody
from climbing out of the instrument. This module decodes values the way they were made:

* **Pitch.** A value's bounds are its interval from the previous note plus and minus a minor
  third, so their midpoint *is* the interval the training melody played. The note is decoded at
  that interval when the pitch there has the value's type (chord, scale, approach or other tone
  over the chord in force, ``grammar.tone_type``, the very test that wrote the value); otherwise
  at the pitch of that type nearest to it (:func:`decode_pitch`).
* **Across bar lines.** A value without bounds (in the training music, every measure's first
  note) is played at the pitch of its type nearest the last note played (other than that note
  itself), so the line goes on over the bar line instead of starting again. A value with bounds keeps its interval wherever
  the bar line falls. Rests do not break the line: the next note counts from the note before.
* **Register.** Every note lies within a register, by default the training melody's own lowest
  to highest pitch (:class:`Register`). An interval that would leave it is turned back: the same
  interval is played the other way, towards the middle.
* **Time.** Every element starts on the 1/4-and-1/3 grid of the beat (0, 1/4, 1/3, 1/2, 2/3, 3/4)
  and ends where the next one starts, so notes never overlap. An element whose end would fall off
  the grid ends at the nearest grid point after its start instead (on a tie, the one of its own
  kind: thirds for a triplet duration, quarters otherwise); one that would ring past the bar line
  is cut there (:func:`element_end`).

The decoding draws nothing at random: given the values, the chords and the last note, the notes
follow. All the chance is in the sampling of the values.
"""

from __future__ import annotations

import math
from fractions import Fraction
from functools import lru_cache
from typing import List, NamedTuple, Optional, Sequence, Tuple

from . import grammar, theory
from .notes import Chord, Note

# Where an element may start within a beat: the quarters and the thirds (the corpus's grid).
BEAT_GRID = (Fraction(0), Fraction(1, 4), Fraction(1, 3), Fraction(1, 2), Fraction(2, 3),
             Fraction(3, 4))
QUARTERS = frozenset({Fraction(0), Fraction(1, 4), Fraction(1, 2), Fraction(3, 4)})
THIRDS = frozenset({Fraction(0), Fraction(1, 3), Fraction(2, 3)})


class Register(NamedTuple):
    """The lowest and highest MIDI pitch the line may use, both included."""

    low: int
    high: int

    @property
    def middle(self) -> float:
        return (self.low + self.high) / 2


# For a model saved before registers were kept: G3 to G5, two octaves in the middle of where
# jazz solos on guitar, saxophone or trumpet mostly lie (the default corpus spans E-3 to F5).
DEFAULT_REGISTER = Register(55, 79)


def register_of(pitches: Sequence[Optional[int]]) -> Register:
    """The register a melody spans: its lowest and highest pitch (rests, None, are skipped).

    A melody of less than an octave's span is widened evenly to an octave (kept inside MIDI's
    0..127), so that every type of tone can be found in it.
    """
    played = [int(p) for p in pitches if p is not None]
    if not played:
        return DEFAULT_REGISTER
    low, high = min(played), max(played)
    short = max(0, 12 - (high - low))
    low, high = low - short // 2, high + (short - short // 2)
    shift = max(0, -low) - max(0, high - 127)  # near either end of MIDI, the octave moves inside
    return Register(low + shift, high + shift)


# ----------------------------------------------------------------------------------------- time

def on_grid(offset: Fraction) -> bool:
    """True when ``offset`` (in quarter notes) falls on a quarter or a third of a beat."""
    return offset - math.floor(offset) in BEAT_GRID


@lru_cache(maxsize=4096)  # a solo asks again and again for the same few ends (16 bars: 458 calls, 43 distinct)
def element_end(start: Fraction, duration: Fraction, bar_length: Fraction) -> Fraction:
    """Where an element that starts at ``start`` (on the grid) and lasts ``duration`` ends.

    start, duration, bar_length: quarter notes from the bar line. The end is the grid point
    nearest ``start + duration`` that lies after ``start``; between two equally near, the one on
    the duration's own subdivision (thirds for a duration made of thirds and not of quarters,
    quarters otherwise), then the earlier. It is never past the bar line.
    """
    target = start + duration
    own = THIRDS if (duration * 3).denominator == 1 and (duration * 4).denominator != 1 else QUARTERS
    beat = math.floor(start)
    points = [beat + k + point for k in range(max(1, math.ceil(target - beat)) + 1)
              for point in BEAT_GRID]
    later = [point for point in points if point > start]
    end = min(later, key=lambda p: (abs(p - target), p - math.floor(p) not in own, p))
    return min(end, bar_length)


# ---------------------------------------------------------------------------------------- pitch

@lru_cache(maxsize=1024)
def _types_by_pitch_class(chord_pitches: Tuple[int, ...]) -> Tuple[str, ...]:
    """grammar.tone_type of each pitch class 0..11 over a chord (it does not depend on octave)."""
    return tuple(grammar.tone_type(60 + pc, chord_pitches) for pc in range(12))


def admissible_pitches(kind: str, chord_pitches: Sequence[int], register: Register) -> List[int]:
    """The pitches of the register, lowest first, that have the type ``kind`` over the chord.

    When no pitch of the register has that type (a chord can leave no room for an approach tone
    that is not also a scale tone, say), every pitch of the register is admissible.
    """
    types = _types_by_pitch_class(tuple(int(p) for p in chord_pitches))
    pitches = range(register.low, register.high + 1)
    fitting = [p for p in pitches if types[p % 12] == kind]
    return fitting or list(pitches)


def interval_of(value: grammar.Value) -> float:
    """A bounded value's own interval in semitones: the midpoint of its bounds.

    The encoder wrote the interval d it heard as <d + m3, d - m3> (``grammar.parse_measure``).
    """
    ends = [theory.parse_interval(name).semitones for name in (value.upper, value.lower)]
    return (ends[0] + ends[1]) / 2


def target_pitch(value: grammar.Value, previous: Optional[int], register: Register) -> float:
    """Where a value's note would go before its type is looked at.

    No previous note: the middle of the register. A value without bounds: the previous note.
    With bounds: the previous note moved by the value's interval, or by the same interval the
    other way when the first would leave the register.
    """
    if previous is None:
        return register.middle
    if not value.has_bounds:
        return float(previous)
    step = interval_of(value)
    if not register.low <= previous + step <= register.high:
        step = -step  # turned back inward
    return previous + step


def decode_pitch(value: grammar.Value, previous: Optional[int], chord_pitches: Sequence[int],
                 register: Register) -> int:
    """The MIDI pitch of a (non-rest) value: the admissible pitch nearest its target.

    For a value without bounds the previous note itself is not admissible: it is the target, and
    the training melodies almost never repeat a note. Between two equally near pitches, the one
    that is not a repeat of the previous note wins, then the one nearer the previous note (the
    smaller leap), then the one nearer the middle of the register.
    """
    target = target_pitch(value, previous, register)
    anchor = register.middle if previous is None else previous
    candidates = admissible_pitches(value.kind, chord_pitches, register)
    if not value.has_bounds and previous is not None:
        candidates = [p for p in candidates if p != previous] or candidates
    return min(candidates, key=lambda p: (abs(p - target), p == previous, abs(p - anchor),
                                          abs(p - register.middle)))


# ------------------------------------------------------------------------------------------ bar

def decode_bar(values: Sequence[str], chords: Sequence[Chord], bar_length: Fraction,
               previous: Optional[int], register: Register) -> List[Note]:
    """Decode one bar's values into notes and rests that fill it exactly.

    values: value strings, as sampled; the bar takes as many as fit (``element_end``), and any
            after the bar is full are left out.
    chords: the bar's chords, offsets from the bar line; each note is judged against the chord
            sounding where it starts (``grammar.chord_in_force``).
    previous: the MIDI pitch of the last note played before the bar, or None.
    Returns Notes (rests with pitch None) with offsets from the bar line, each starting where the
    one before ended, the first at 0; the last ends at the bar line when the values reach it.
    """
    ordered = sorted(chords, key=lambda chord: chord.offset)
    notes: List[Note] = []
    start = Fraction(0)
    for text in values:
        if start >= bar_length:
            break
        value = grammar.parse_value(text)
        end = element_end(start, value.grid_duration, bar_length)
        pitch = None
        if value.kind != "R":
            chord = grammar.chord_in_force(ordered, start)
            pitch = decode_pitch(value, previous, chord.pitches, register)
            previous = pitch
        notes.append(Note(start, end - start, pitch))
        start = end
    return notes
