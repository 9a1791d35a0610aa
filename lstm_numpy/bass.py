"""A walking bass line under the chords, for listening: one quarter note a beat.

A jazz bassist "walks": the root of each chord on the beat it arrives, chord tones on the beats
between, and on the last beat before a new root a note a half step away from it, which leads the
ear into the change. This module plays that recipe from the chords alone, with no randomness, so
the same chords always get the same line. It is an accompaniment for the WAV rendering only: the
model neither learns nor plays it, and the MIDI file keeps just the melody and the chords.
"""

from __future__ import annotations

from bisect import bisect_right
from fractions import Fraction
from math import ceil
from typing import List, Sequence

from .changes import chord_symbol_root
from .notes import Chord, Note

LOW, HIGH = 28, 50  # E1..D3, the range a walking double bass keeps to
START = 40  # E2: where the first root is placed, in the middle of that range
VELOCITY = 90


def _nearest(pitch_class: int, near: int) -> int:
    """The pitch of ``pitch_class`` within LOW..HIGH closest to ``near`` (the lower on a tie)."""
    return min(range(LOW, HIGH + 1), key=lambda p: (p % 12 != pitch_class, abs(p - near), p))


def walking_bass(chords: Sequence[Chord], beats_per_bar: int = 4) -> List[Note]:
    """One bass note per beat, from the first chord's beat to the end of the last chord.

    chords: a flat list of Chord (offsets and durations in quarter notes), in any order.
    beats_per_bar: the root is played again at the start of each bar of a chord that lasts longer.
    Returns Notes of one beat each (the last one ends with the music), pitches in LOW..HIGH.

    On each beat: the chord's root when the root changes or a bar starts; a half step below or
    above the next root on the beat before it changes (from below when climbing to it); else the
    next chord tone up from the root (third, fifth, seventh, ...), turning down at the top of the
    range. Roots are named by :func:`lstm_numpy.changes.chord_symbol_root`.
    """
    # The chord in force on a beat is the latest to start at or before it: a comping pianist
    # leaves gaps between chords, but the harmony lasts until the next one, and so does the walk.
    sounding = sorted((c for c in chords if c.pitches), key=lambda c: c.offset)
    if not sounding:
        return []
    starts = [c.offset for c in sounding]
    roots = [chord_symbol_root(c.pitches) for c in sounding]

    def in_force(beat: int) -> int:
        return bisect_right(starts, beat) - 1

    end = max(c.offset + c.duration for c in sounding)
    line: List[Note] = []
    pitch, root_pitch, steps, previous_root = START, START, 0, None
    for beat in range(ceil(starts[0]), ceil(end)):
        k = in_force(beat)
        root = roots[k]
        next_root = roots[in_force(beat + 1)] if beat + 1 < end else root
        if root != previous_root or beat % beats_per_bar == 0:
            pitch = root_pitch = _nearest(root, pitch)
            steps = 0
        elif next_root != root:
            target = _nearest(next_root, pitch)
            pitch = target - 1 if target >= pitch else target + 1
        else:
            steps += 1
            above = sorted({(p - root) % 12 for p in sounding[k].pitches} - {0})
            step = above[(steps - 1) % len(above)] if above else 0
            pitch = root_pitch + step if root_pitch + step <= HIGH else root_pitch + step - 12
        line.append(Note(Fraction(beat), min(Fraction(1), end - beat), pitch, VELOCITY))
        previous_root = root
    return line
