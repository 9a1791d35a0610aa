"""Write the project's own jazz corpus: every ``*.mid`` file in this folder.

Nothing here is transcribed. A small rule-based improviser, driven by a seeded random generator,
plays swing and bebop lines over standard chord changes, and a few hand-written licks (written for
this project) season the lines. Run it again with the same seed and you get the same bytes::

    python data/make_corpus.py                 # rewrite the files in data/
    python data/make_corpus.py --out /tmp/x    # or somewhere else

The rules, in the words a teacher would use:

* Chord tones on the beat, passing tones between. Every note that starts on a beat is a chord tone
  of the chord sounding there; the notes between two beats lead from one chord tone to the next by
  scale steps, chromatic approach tones, neighbours or enclosures.
* Lines move in one direction and turn at the edges of the instrument's range, or now and then.
* Phrases of one to three bars, separated by rests, start on a beat or on an "and".
* Rhythm: eighth notes (written straight, played swung), swung pairs written as a triplet
  quarter plus eighth, triplets, quarter notes, a rare sixteenth turn, and a long note at the end
  of each phrase.

Each file is type-1 MIDI at 480 ticks per quarter: track 0 holds the title, tempo and 4/4 time
signature, track 1 the "Tenor Sax" solo (channel 0), track 2 the "Piano" comping (channel 1) and
track 3 a walking "Bass" (channel 2).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import mido
import numpy as np

SEED = 5  # the number of the issue that asked for this corpus
TICKS_PER_BEAT = 480
MELODY_RANGE = (53, 77)  # F3..F5, where a tenor saxophone sounds comfortable
BASS_RANGE = (31, 50)  # G1..D3

# A beat is a quarter note; all times below are exact fractions of a beat.
HALF = Fraction(1, 2)
THIRD = Fraction(1, 3)


# --------------------------------------------------------------------------------------------
# Harmony: chord symbols such as "Bb7" or "Dm7b5"
# --------------------------------------------------------------------------------------------

ROOTS = {"C": 0, "Db": 1, "D": 2, "Eb": 3, "E": 4, "F": 5, "Gb": 6,
         "G": 7, "Ab": 8, "A": 9, "Bb": 10, "B": 11}
NAMES = ["C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B"]

# suffix: (chord tones in semitones above the root, the seven-note scale the passing tones use)
KINDS: Dict[str, Tuple[Tuple[int, ...], Tuple[int, ...]]] = {
    "maj7": ((0, 4, 7, 11), (0, 2, 4, 5, 7, 9, 11)),  # Ionian
    "6": ((0, 4, 7, 9), (0, 2, 4, 5, 7, 9, 11)),  # Ionian
    "7": ((0, 4, 7, 10), (0, 2, 4, 5, 7, 9, 10)),  # Mixolydian
    "7b9": ((0, 4, 7, 10), (0, 1, 4, 5, 7, 8, 10)),  # dominant of a minor key
    "m7": ((0, 3, 7, 10), (0, 2, 3, 5, 7, 9, 10)),  # Dorian
    "m6": ((0, 3, 7, 9), (0, 2, 3, 5, 7, 9, 11)),  # melodic minor
    "m7b5": ((0, 3, 6, 10), (0, 1, 3, 5, 6, 8, 10)),  # Locrian
}


@dataclass(frozen=True)
class Harmony:
    """A chord symbol: root pitch class 0..11 and a kind from KINDS."""

    root: int
    kind: str

    @classmethod
    def parse(cls, symbol: str) -> "Harmony":
        name = symbol[:2] if symbol[1:2] == "b" else symbol[:1]
        return cls(ROOTS[name], symbol[len(name):])

    def transposed(self, semitones: int) -> "Harmony":
        return Harmony((self.root + semitones) % 12, self.kind)

    @property
    def symbol(self) -> str:
        return NAMES[self.root] + self.kind

    @property
    def tones(self) -> Tuple[int, ...]:
        """Chord tones as pitch classes, root first."""
        return tuple((self.root + step) % 12 for step in KINDS[self.kind][0])

    @property
    def scale(self) -> Tuple[int, ...]:
        return tuple((self.root + step) % 12 for step in KINDS[self.kind][1])


Changes = List[List[Harmony]]  # one list per bar: one chord for the bar, or two of two beats


def changes(text: str, transpose: int = 0) -> Changes:
    """'F7 | Bb7 | Cm7 F7' -> one list of Harmony per bar."""
    return [[Harmony.parse(s).transposed(transpose) for s in bar.split()] for bar in text.split("|")]


def harmony_at(bars: Changes, beat: Fraction) -> Harmony:
    chords = bars[int(beat // 4)]
    return chords[int((beat % 4) * len(chords) // 4)]


# The forms, written in one key each and transposed below.
JAZZ_BLUES_F = "F7 | Bb7 | F7 | Cm7 F7 | Bb7 | Bb7 | F7 | Am7b5 D7b9 | Gm7 | C7 | F7 D7b9 | Gm7 C7"
MINOR_BLUES_C = "Cm7 | Fm7 | Cm7 | Cm7 | Fm7 | Fm7 | Cm7 | Cm7 | Ab7 | G7b9 | Cm6 | Dm7b5 G7b9"
RHYTHM_A_BB = "Bb6 G7 | Cm7 F7 | Dm7 G7 | Cm7 F7 | Fm7 Bb7 | Ebmaj7 Ab7 | Dm7 G7 | Cm7 F7"
II_V_I_C = "Dm7 | G7 | Cmaj7 | Cmaj7"
MINOR_II_V_I_C = "Dm7b5 | G7b9 | Cm6 | Cm6"


def keys_from_c(names: Sequence[str]) -> List[int]:
    return [ROOTS[name] for name in names]


@dataclass(frozen=True)
class Tune:
    stem: str  # file name without ".mid"
    title: str
    bars: Changes
    tempo: int  # beats per minute


def tunes() -> List[Tune]:
    """The corpus: what each file plays. Adding a tune at the end leaves the others unchanged."""
    blues_f, blues_bb, blues_eb = (changes(JAZZ_BLUES_F, k) for k in (0, 5, 10))
    minor_c, minor_f, minor_g = (changes(MINOR_BLUES_C, k) for k in (0, 5, 7))
    rhythm = changes(RHYTHM_A_BB)

    def cadences(form: str, keys: Sequence[str]) -> Changes:
        return [bar for key in keys_from_c(keys) for bar in changes(form, key)]

    return [
        Tune("blues_in_f_1", "Blues in F, three choruses", blues_f * 3 + changes("F7"), 152),
        Tune("blues_in_f_2", "Blues in F, three choruses", blues_f * 3 + changes("F7"), 184),
        Tune("blues_in_bb_1", "Blues in Bb, three choruses", blues_bb * 3 + changes("Bb7"), 132),
        Tune("blues_in_bb_2", "Blues in Bb, three choruses", blues_bb * 3 + changes("Bb7"), 168),
        Tune("blues_in_eb", "Blues in Eb, three choruses", blues_eb * 3 + changes("Eb7"), 116),
        Tune("minor_blues_in_c", "Minor blues in C, three choruses", minor_c * 3 + changes("Cm6"), 144),
        Tune("minor_blues_in_f", "Minor blues in F, three choruses", minor_f * 3 + changes("Fm6"), 126),
        Tune("minor_blues_in_g", "Minor blues in G, three choruses", minor_g * 3 + changes("Gm6"), 156),
        Tune("rhythm_a_in_bb_1", "Rhythm changes A section in Bb, four times",
             rhythm * 4 + changes("Bb6"), 192),
        Tune("rhythm_a_in_bb_2", "Rhythm changes A section in Bb, four times",
             rhythm * 4 + changes("Bb6"), 160),
        Tune("rhythm_a_in_bb_3", "Rhythm changes A section in Bb, four times",
             rhythm * 4 + changes("Bb6"), 220),
        Tune("ii_v_i_major_1", "ii-V-I cadences down in fourths: C F Bb Eb Ab Db Gb B",
             cadences(II_V_I_C, ["C", "F", "Bb", "Eb", "Ab", "Db", "Gb", "B"]), 138),
        Tune("ii_v_i_major_2", "ii-V-I cadences up in fifths: G D A E B Gb Db Ab",
             cadences(II_V_I_C, ["G", "D", "A", "E", "B", "Gb", "Db", "Ab"]), 176),
        Tune("ii_v_i_minor_1", "minor ii-V-i cadences in C F Bb Eb G D",
             cadences(MINOR_II_V_I_C, ["C", "F", "Bb", "Eb", "G", "D"]), 120),
        Tune("ii_v_i_minor_2", "minor ii-V-i cadences in A E B Gb Db Ab",
             cadences(MINOR_II_V_I_C, ["A", "E", "B", "Gb", "Db", "Ab"]), 144),
    ]


# --------------------------------------------------------------------------------------------
# Hand-written licks
# --------------------------------------------------------------------------------------------
# A lick is a list of (length in beats, degree). Degrees count up the chord's scale from the
# root: odd numbers 1 3 5 7 are chord tones (for a sixth chord "7" is its sixth), even numbers
# 2 4 6 are scale tones, 8..14 the same an octave up, and a trailing "-" or "+" a semitone below
# or above. A lick starts on a beat and stays on one chord; the line places it in an octave.

@dataclass(frozen=True)
class Lick:
    name: str
    notes: Tuple[Tuple[Fraction, str], ...]
    kinds: Tuple[str, ...]  # chord kinds it suits

    @property
    def beats(self) -> Fraction:
        return sum((length for length, _ in self.notes), Fraction(0))


def lick(name: str, rhythm: str, degrees: str, kinds: str) -> Lick:
    lengths = [Fraction(x) for x in rhythm.split()]
    return Lick(name, tuple(zip(lengths, degrees.split())), tuple(kinds.split()))


ALL = "maj7 6 7 7b9 m7 m6 m7b5"
MAJOR_AND_DOMINANT = "maj7 6 7"

LICKS = [
    lick("up the chord", "1/2 1/2 1/2 1/2", "1 3 5 7", ALL),
    lick("from the third up to the ninth", "1/2 1/2 1/2 1/2", "3 5 7 9", "maj7 6 7 m7 m6"),
    lick("down the scale from the seventh", "1/2 1/2 1/2 1/2", "7 6 5 4", ALL),
    lick("down from the root with a chromatic passing tone", "1/2 1/2 1/2 1/2", "8 8- 7 6", "7 m7"),
    lick("into the third from the second", "1/2 1/2 1/2 1/2 1", "5 4 2 3- 3", MAJOR_AND_DOMINANT),
    lick("triplet turn on the root", "1/3 1/3 1/3 1/2 1/2", "8 9 8 7 5", ALL),
    lick("triplet arpeggio", "1/3 1/3 1/3 1", "1 3 5 7", ALL),
    lick("up to the fifth by half step", "1/2 1/2 1/2 1/2", "3 4 5- 5", MAJOR_AND_DOMINANT + " m7"),
    lick("swung pairs down from the ninth", "2/3 1/3 2/3 1/3", "9 8 7 5", "maj7 6 7 m7"),
    lick("from the third up to the flat nine", "1/2 1/2 1/2 1/2", "3 5 7 9", "7b9"),
    lick("blue third", "1/3 1/3 1/3 1", "3- 3 5 8", "7"),
    lick("minor enclosure of the fifth", "1/2 1/2 1/2 1/2 1", "3 4 6 5+ 5", "m7 m6"),
]


def degree_semitones(degree: str, harmony: Harmony) -> int:
    """Semitones above the chord's root for a lick degree such as "3", "9" or "5-"."""
    shift = {"-": -1, "+": 1}.get(degree[-1], 0)
    octave, step = divmod(int(degree.rstrip("+-")) - 1, 7)
    tones, scale = KINDS[harmony.kind]
    semis = tones[step // 2] if step % 2 == 0 else scale[step]
    return semis + 12 * octave + shift


# --------------------------------------------------------------------------------------------
# Rhythm: a phrase as a list of slots
# --------------------------------------------------------------------------------------------

@dataclass
class Slot:
    """One note of the solo; its pitch is filled in by the line-drawing pass."""

    start: Fraction  # in beats from the start of the piece
    length: Fraction
    degree: Optional[str] = None  # set for a lick's notes
    lick_start: Optional[Fraction] = None  # where the lick this note belongs to began
    pitch: int = 0

    @property
    def on_beat(self) -> bool:
        return self.start.denominator == 1


# The rhythm of one beat, as note lengths, and how often each is chosen.
BEAT_CELLS = [
    ((HALF, HALF), 6.0),  # two eighths, written straight and played swung
    ((Fraction(1),), 1.5),  # a quarter
    ((THIRD, THIRD, THIRD), 1.2),  # a triplet
    ((2 * THIRD, THIRD), 1.0),  # a swung pair written out
    ((Fraction(1, 4),) * 4, 0.25),  # a sixteenth-note turn
]
PHRASE_BEATS = ([3, 4, 5, 6, 7, 8, 10], [1, 2, 2, 3, 2, 3, 2])  # length before the final note
FINAL_LENGTHS = ([Fraction(1), Fraction(3, 2), Fraction(2)], [3, 2, 2])
RESTS = ([HALF, Fraction(1), Fraction(3, 2), Fraction(2), Fraction(5, 2), Fraction(3)],
         [3, 3, 3, 2, 1, 1])
LICK_CHANCE = 0.3  # on each strong beat of a phrase
TURN_CHANCE = 0.2  # that a line reverses its direction at a beat


def pick(rng: np.random.Generator, options: Sequence, weights: Sequence[float]):
    """A weighted choice. It uses only rng.random(), the plainest draw there is, so that the
    files do not depend on how a NumPy version implements Generator.choice."""
    total = float(sum(weights))
    x = rng.random() * total
    for option, weight in zip(options, weights):
        x -= weight
        if x < 0:
            return option
    return options[-1]


def phrase_rhythm(start: Fraction, end: Fraction, final: Fraction, bars: Changes,
                  rng: np.random.Generator) -> List[Slot]:
    """Slots from `start` (a beat or an "and") up to a final note at beat `end`, held `final`."""
    slots: List[Slot] = []
    t = start
    if t.denominator != 1:  # a pickup eighth
        slots.append(Slot(t, HALF))
        t += HALF
    while t < end:
        strong = t % 2 == 0
        harmony = harmony_at(bars, t)
        fitting = [lk for lk in LICKS if harmony.kind in lk.kinds and t + lk.beats <= end
                   and harmony_at(bars, t + lk.beats - HALF) == harmony]
        if strong and fitting and rng.random() < LICK_CHANCE:
            chosen = fitting[int(rng.random() * len(fitting))]
            begin = t
            for length, degree in chosen.notes:
                slots.append(Slot(t, length, degree, lick_start=begin))
                t += length
            continue
        cell = pick(rng, *zip(*BEAT_CELLS))
        for length in cell:
            slots.append(Slot(t, length))
            t += length
    slots.append(Slot(end, final))
    return slots


# --------------------------------------------------------------------------------------------
# Pitches: chord tones on the beat, connected by passing, approach and neighbour tones
# --------------------------------------------------------------------------------------------

@dataclass
class Line:
    """Where the soloist's line is: its last pitch and the direction it is heading (+1 / -1)."""

    pitch: int
    direction: int


def sign(x: int) -> int:
    return (x > 0) - (x < 0)


def scale_step(pitch: int, scale: Sequence[int], direction: int) -> int:
    """The nearest pitch of `scale` strictly above (direction +1) or below (-1) `pitch`."""
    p = pitch + direction
    while p % 12 not in scale:
        p += direction
    return p


def nearest_chord_tone(harmony: Harmony, target: float, avoid: int, direction: int) -> int:
    low, high = MELODY_RANGE
    candidates = [p for p in range(low, high + 1) if p % 12 in harmony.tones and p != avoid]
    # the nearest; on a tie, the one in the line's direction
    return min(candidates, key=lambda p: (abs(p - target), -direction * p))


def connect(a: int, b: int, k: int, harmony: Harmony, rng: np.random.Generator) -> List[int]:
    """k pitches leading from pitch `a` (sounding now) to pitch `b` (the next beat's chord tone)."""
    if k == 0:
        return []
    scale = harmony.scale
    toward = sign(b - a) or (1 if rng.random() < 0.5 else -1)
    from_below = b - 1 if b - 1 != a else b + 1  # a chromatic approach tone
    above_b = scale_step(b, scale, +1)
    between = [p for p in range(min(a, b) + 1, max(a, b)) if p % 12 in scale]
    if k == 1:
        options = {
            "passing tone": [min(between, key=lambda p: abs(2 * p - a - b))] if between else None,
            "chromatic approach": [b - toward if b - toward != a else b + toward],
            "neighbour from beyond": [scale_step(b, scale, toward)],
        }
        weights = {"passing tone": 3, "chromatic approach": 2, "neighbour from beyond": 1}
    else:
        # a scale run toward b, used when it arrives within a step of b without passing it
        run = [a]
        for _ in range(k):
            run.append(scale_step(run[-1], scale, toward))
        run = run[1:]
        if len(between) == k - 1:  # one step too many: the last note becomes a half step approach
            run[-1] = b - toward if b - toward != run[-2] else b + toward
        fits = k - 1 <= len(between) <= k + 1
        walk = [a]
        for _ in range(k - 2):
            walk.append(scale_step(walk[-1], scale, toward))
        enclosure = walk[1:] + [above_b, from_below]
        options = {
            "scale run": run if fits else None,
            "enclosure": enclosure if abs(above_b - walk[-1]) <= 5 else None,
            "turn": ([scale_step(a, scale, +1), a, scale_step(a, scale, -1)])[:k] + [a] * (k - 3),
        }
        weights = {"scale run": 3, "enclosure": 2, "turn": 1}
    names = [name for name, notes in options.items() if notes is not None]
    return options[pick(rng, names, [weights[n] for n in names])]


def place_lick(slots: List[Slot], harmony: Harmony, target: float) -> None:
    """Give a lick's notes their pitches, in the octave that keeps it in the range and puts its
    first note nearest to `target`."""
    low, high = MELODY_RANGE
    pitches = [harmony.root + degree_semitones(s.degree, harmony) for s in slots]

    def cost(shift: int) -> float:
        outside = max(0, low - min(pitches) - shift) + max(0, max(pitches) + shift - high)
        return 100 * outside + abs(pitches[0] + shift - target)

    shift = min(range(0, 121, 12), key=cost)
    for slot, pitch in zip(slots, pitches):
        slot.pitch = pitch + shift


def draw_line(slots: List[Slot], bars: Changes, line: Line, rng: np.random.Generator) -> None:
    """Give every slot of a phrase a pitch, continuing from `line` (which is updated)."""
    low, high = MELODY_RANGE
    # A head is a free note on a beat or the first note of a lick; the free notes between
    # heads are fillers.
    heads = [i for i, s in enumerate(slots)
             if (s.degree is None and s.on_beat) or (s.degree is not None and s.start == s.lick_start)]
    previous_end = -1  # index of the last slot with a pitch
    for h in heads:
        head = slots[h]
        fillers = list(range(previous_end + 1, h))
        k = len(fillers)
        if rng.random() < TURN_CHANCE:
            line.direction = -line.direction
        leap = pick(rng, [3, 4, 5], [2, 2, 1]) if k == 0 else round(1.8 * (k + 1))
        if not low + 4 <= line.pitch + line.direction * leap <= high - 4:
            line.direction = -line.direction
        target = line.pitch + line.direction * leap
        harmony = harmony_at(bars, head.start)
        a = line.pitch
        end = h  # the head's last slot: itself, or the lick's last note
        if head.degree is None:
            head.pitch = nearest_chord_tone(harmony, target, a, line.direction)
        else:
            while end + 1 < len(slots) and slots[end + 1].lick_start == head.start:
                end += 1
            place_lick(slots[h:end + 1], harmony, target)
        if fillers:
            filler_harmony = harmony_at(bars, slots[fillers[0]].start)
            for i, p in zip(fillers, connect(a, head.pitch, k, filler_harmony, rng)):
                slots[i].pitch = p
        line.pitch = slots[end].pitch
        previous_end = end


# --------------------------------------------------------------------------------------------
# The solo: phrases and rests over the whole form
# --------------------------------------------------------------------------------------------

def improvise(bars: Changes, rng: np.random.Generator) -> List[Slot]:
    """The whole solo. Every bar gets at least one note, and the last note falls on the last bar."""
    last_downbeat = Fraction(4 * (len(bars) - 1))
    line = Line(pitch=65, direction=1)
    solo: List[Slot] = []
    t = pick(rng, [Fraction(0), HALF, Fraction(1)], [2, 2, 1])
    while True:
        body = Fraction(pick(rng, *PHRASE_BEATS))
        end = math.ceil(t) + body
        last = end >= last_downbeat - 2
        if last:
            end, final = last_downbeat, Fraction(2)
        else:
            final = pick(rng, *FINAL_LENGTHS)
        phrase = phrase_rhythm(t, end, final, bars, rng)
        draw_line(phrase, bars, line, rng)
        solo += phrase
        if last:
            # end at rest: on the root, third or fifth nearest the note before
            home = harmony_at(bars, end)
            before = solo[-2].pitch
            low, high = MELODY_RANGE
            solo[-1].pitch = min((p for p in range(low, high + 1)
                                  if p % 12 in home.tones[:3] and p != before),
                                 key=lambda p: (abs(p - before), p))
            return solo
        # A rest, short enough that the next bar still gets a note and the last phrase has room.
        finish = end + final
        next_bar_end = 4 * (int(phrase[-1].start // 4) + 2) - HALF
        rest = pick(rng, *RESTS)
        t = finish + max(HALF, min(rest, next_bar_end - finish, last_downbeat - finish))


# --------------------------------------------------------------------------------------------
# The rhythm section: piano comping and a walking bass
# --------------------------------------------------------------------------------------------

# (start, length, which chord of the bar: 0 first, 1 second, 2 the next bar's first)
COMPING_ONE_CHORD = [
    ([(0, 1.5, 0), (1.5, 1, 0)], 3),  # the Charleston
    ([(0, 2, 0), (2, 2, 0)], 2),  # half notes
    ([(1, 0.5, 0), (3, 0.5, 0)], 1),  # on two and four
    ([(0, 1, 0), (2.5, 1, 0)], 2),  # a push on the "and" of three
    ([(0, 2, 0), (3.5, 0.5, 2)], 2),  # anticipating the next bar's chord
]
COMPING_TWO_CHORDS = [
    ([(0, 1.5, 0), (2, 1.5, 1)], 3),
    ([(0, 1, 0), (1.5, 1, 1)], 2),  # the second chord pushed an eighth early
]


def voicing(harmony: Harmony, previous: Sequence[int]) -> List[int]:
    """Root in the left hand, third, fifth and seventh (and a flat nine) close to the last chord."""
    root = 36 + harmony.root  # C2..B2
    upper_classes = harmony.tones[1:] + ((harmony.root + 1) % 12,) * (harmony.kind == "7b9")
    options = []
    for bottom in upper_classes:  # each inversion, with its lowest note in E3..D#4
        start = 52 + (bottom - 52) % 12
        notes = [start + (pc - start) % 12 for pc in upper_classes]
        options.append(sorted(notes))
    if not previous:
        chosen = min(options, key=lambda v: abs(v[0] - 55))
    else:
        chosen = min(options, key=lambda v: (sum(abs(x - y) for x, y in zip(v, previous)), v))
    return [root] + chosen


def comp(bars: Changes, rng: np.random.Generator) -> List[Tuple[Fraction, Fraction, List[int]]]:
    """Piano chords as (start, length, pitches)."""
    hits = []
    upper: List[int] = []
    for n, chords in enumerate(bars):
        last_bar = n == len(bars) - 1
        if last_bar:
            pattern = [(0, 4, 0)]
        elif len(chords) == 1:
            pattern = pick(rng, *zip(*COMPING_ONE_CHORD))
        else:
            pattern = pick(rng, *zip(*COMPING_TWO_CHORDS))
        for start, length, which in pattern:
            harmony = bars[n + 1][0] if which == 2 else chords[which]
            notes = voicing(harmony, upper)
            upper = notes[1:]
            hits.append((4 * n + Fraction(start), Fraction(length), notes))
    return hits


def walk(bars: Changes, rng: np.random.Generator) -> List[Tuple[Fraction, int]]:
    """Walking bass, one quarter note a beat: the root when a chord arrives, then steps of its
    scale or its chord tones in one direction, and on the beat before the next chord a note a
    half step (or a scale step) away from that chord's root."""
    low, high = BASS_RANGE
    notes = []
    pitch, direction = 41, 1  # F2, walking up
    total = 4 * len(bars)
    for beat in range(total - 4):  # the last bar gets one long root
        harmony = harmony_at(bars, Fraction(beat))
        arriving = beat % 4 == 0 or harmony_at(bars, Fraction(beat - 1)) != harmony
        leaving = (beat + 1) % 4 == 0 or harmony_at(bars, Fraction(beat + 1)) != harmony
        if arriving:
            pitch = min(range(low, high + 1), key=lambda p: (p % 12 != harmony.root, abs(p - pitch)))
            direction = 1 if pitch < (low + high) // 2 else -1
        elif leaving:
            next_root = harmony_at(bars, Fraction(beat + 1)).root
            goal = min(range(low + 2, high - 1), key=lambda p: (p % 12 != next_root, abs(p - pitch)))
            approach = goal + pick(rng, [-1, 1, 2, -2], [3, 2, 1, 1])
            pitch = approach if approach != pitch else 2 * goal - approach
        else:
            pool = harmony.scale if rng.random() < 0.5 else harmony.tones
            pitch = scale_step(pitch, pool, direction)
        notes.append((Fraction(beat), pitch))
    return notes


# --------------------------------------------------------------------------------------------
# MIDI
# --------------------------------------------------------------------------------------------

def ticks(beats: Fraction) -> int:
    value = beats * TICKS_PER_BEAT
    assert value.denominator == 1, beats
    return int(value)


def note_track(name: str, channel: int, program: int,
               notes: List[Tuple[Fraction, Fraction, int, int]]) -> mido.MidiTrack:
    """A track from (start, length, pitch, velocity); note-offs before note-ons at equal times."""
    events = []
    for start, length, pitch, velocity in notes:
        events.append((ticks(start), 1, pitch, mido.Message("note_on", channel=channel, note=pitch,
                                                            velocity=velocity)))
        events.append((ticks(start + length), 0, pitch, mido.Message("note_off", channel=channel,
                                                                     note=pitch, velocity=0)))
    events.sort(key=lambda e: e[:3])
    track = mido.MidiTrack([mido.MetaMessage("track_name", name=name),
                            mido.Message("program_change", channel=channel, program=program)])
    now = 0
    for tick, _, _, message in events:
        track.append(message.copy(time=tick - now))
        now = tick
    track.append(mido.MetaMessage("end_of_track", time=0))
    return track


def tune_to_midi(tune: Tune, seed: int, number: int) -> mido.MidiFile:
    # One generator per tune, so that each file depends only on the seed and its own number.
    rng = np.random.default_rng([seed, number])
    solo = improvise(tune.bars, rng)
    piano = comp(tune.bars, rng)
    bass = walk(tune.bars, rng)

    melody = [(s.start, s.length, s.pitch, 96 if s.on_beat else 84) for s in solo]
    chords = [(start, length, p, 64) for start, length, notes in piano for p in notes]
    end = Fraction(4 * len(tune.bars))
    walking = [(start, Fraction(1), p, 88) for start, p in bass]
    walking.append((end - 4, Fraction(4), 36 + tune.bars[-1][0].root, 88))  # a long root to end

    meta = mido.MidiTrack([
        mido.MetaMessage("track_name", name=tune.title),
        mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(tune.tempo)),
        mido.MetaMessage("time_signature", numerator=4, denominator=4),
        mido.MetaMessage("end_of_track", time=ticks(end)),
    ])
    midi = mido.MidiFile(type=1, ticks_per_beat=TICKS_PER_BEAT)
    midi.tracks += [meta,
                    note_track("Tenor Sax", 0, 66, melody),
                    note_track("Piano", 1, 0, chords),
                    note_track("Bass", 2, 32, walking)]
    return midi


def save_atomically(midi: mido.MidiFile, path: Path) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.stem, suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            midi.save(file=file)
        os.chmod(temporary, 0o644)  # mkstemp makes it private; these files are for everyone
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


# --------------------------------------------------------------------------------------------
# Statistics, as the training command sees the corpus
# --------------------------------------------------------------------------------------------

STATISTICS = [  # (key, meaning) in the order of the table in data/README.md
    ("measures", "bars with melody"),
    ("values", "values in the corpus (its length)"),
    ("distinct", "distinct values: the vocabulary, n_values"),
    ("once", "distinct values that occur only once"),
    ("C", "chord tones"),
    ("S", "scale tones"),
    ("A", "approach tones"),
    ("X", "other tones"),
    ("R", "rests"),
]


def statistics(folder: Path) -> str:
    """The Markdown table of data/README.md, measured by the package's own data pipeline."""
    # The package sits beside this folder: make it importable even when it is not installed.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from lstm_numpy.dataset import get_corpus_data, get_musical_data

    _, grammars = get_musical_data(sorted(folder.glob("*.mid")))
    corpus, values, _, _ = get_corpus_data(grammars)
    counts = Counter(corpus)
    found = {"measures": len(grammars), "values": len(corpus), "distinct": len(values),
             "once": sum(n == 1 for n in counts.values())}
    found.update({letter: sum(v[0] == letter for v in corpus) for letter in "CSAXR"})
    rows = [(key, found[key], meaning) for key, meaning in STATISTICS]
    durations = Counter(v.split(",")[1] for v in corpus)
    rows += [(d, durations[d], f"values lasting {d} quarter notes") for d in sorted(durations, key=float)]
    rests = Counter(v for v in corpus if v.startswith("R,"))
    rows += [(r, rests[r], f"rests of {r[2:]} quarter notes") for r in sorted(rests, key=lambda r: float(r[2:]))]
    lines = ["| statistic | count | meaning |", "|---|---:|---|"]
    lines += [f"| `{key}` | {count} | {meaning} |" for key, count, meaning in rows]
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent,
                        help="folder to write the MIDI files into (default: this script's folder)")
    parser.add_argument("--seed", type=int, default=SEED, help=f"random seed (default {SEED})")
    parser.add_argument("--stats", action="store_true",
                        help="write nothing; print the statistics table of the files in --out")
    args = parser.parse_args(argv)
    if args.stats:
        print(statistics(args.out))
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    for number, tune in enumerate(tunes()):
        path = args.out / f"{tune.stem}.mid"
        save_atomically(tune_to_midi(tune, args.seed, number), path)
        print(f"{path}  {len(tune.bars)} bars, {tune.tempo} BPM: {tune.title}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
