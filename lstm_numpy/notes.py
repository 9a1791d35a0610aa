"""The musical events every module speaks in: notes, rests and chords.

Times are measured in quarter notes ("quarterLength", as music21 calls it) and kept as exact
``Fraction`` values, because the course's grid mixes quarters and thirds of a beat (1/4 and 1/3),
and a float such as 184/3 would not compare equal to itself after a round trip.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Optional, Tuple


@dataclass(frozen=True)
class Note:
    """One melody event.

    offset:   start, in quarter notes from the start of the piece.
    duration: length, in quarter notes.
    pitch:    MIDI note number 0..127, or ``None`` for a rest.
    velocity: MIDI velocity 1..127 (ignored by the value grammar).
    """

    offset: Fraction
    duration: Fraction
    pitch: Optional[int]
    velocity: int = 100

    @property
    def is_rest(self) -> bool:
        return self.pitch is None


@dataclass(frozen=True)
class Chord:
    """Several pitches sounding together.

    offset, duration: as for :class:`Note`.
    pitches: MIDI note numbers, in the order the file (or the chord symbol) gave them.
    """

    offset: Fraction
    duration: Fraction
    pitches: Tuple[int, ...]
    velocity: int = 80
