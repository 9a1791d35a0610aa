"""Write the project's own jazz corpus: every ``*.mid`` file in this folder.

Nothing here is transcribed. A small rule-based improviser, driven by a seeded random generator,
plays swing and bebop lines over standard chord changes (and one bossa nova), with a few
hand-written licks (written for this project) and motifs of its own. Run it again with the same
seed and you get the same bytes::

    python data/make_corpus.py                 # rewrite the files in data/
    python data/make_corpus.py --out /tmp/x    # or somewhere else

The rules, in the words a teacher would use. The rhythm of the whole solo comes first, then its
pitches:

* Phrases of one to five bars, separated by real breaths (one to six beats), start on a beat or on
  an "and" and end on a longer note, now and then on an "and" held over the beat.
* Rhythm: eighth notes (written straight, played swung), triplets, sixteenth-note runs and
  eighth-plus-sixteenths beside them, an eighth's breath before an "and", a few quarters.
  Syncopation on the grid: anticipations (the next bar's chord sounded on the last "and" of the
  bar, held over the bar line) and two-beat figures whose middle note rings over a beat.
* Motifs: when a chord arrives, a short figure is often stated; when the next chord arrives it
  comes back moved to that chord's root, and a second time varied.
* Contour: each phrase climbs to a peak, a long note at its highest point, and falls away; how high
  the peaks reach grows through the solo to a climax about two thirds in, then settles.
* Heads on the beat: on beats 1 and 3 a chord tone or, nearly as often, a tension (9, 11, 13, b9
  or b13, by chord), which the next note resolves by step to a chord tone.
* Notes between the heads lead from one to the next: passing tones, chromatic passing and
  approach tones, neighbours, enclosures (diatonic or chromatic), scale and bebop runs, turns and
  arpeggios.

Each file is type-1 MIDI at 480 ticks per quarter: track 0 holds the title, tempo and 4/4 time
signature, track 1 the "Tenor Sax" solo (channel 0), track 2 the "Piano" comping (channel 1) and
track 3 the "Bass" (channel 2), walking, or in the bossa playing root and fifth.
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

# The package sits beside this folder: the script reads chord symbols with it, and measures the
# files with it, from a checkout whether or not the package is installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from lstm_numpy.changes import chord_pitches  # noqa: E402  (after the path is set)

SEED = 5  # the number of the issue that asked for this corpus
TICKS_PER_BEAT = 480
MELODY_RANGE = (53, 77)  # F3..F5, where a tenor saxophone sounds comfortable
BASS_RANGE = (31, 50)  # G1..D3

# A beat is a quarter note; all times below are exact fractions of a beat.
HALF = Fraction(1, 2)


# --------------------------------------------------------------------------------------------
# Harmony: chord symbols such as "Bb7" or "Dm7b5"
# --------------------------------------------------------------------------------------------

# The symbols are read by the package's own chord reader (lstm_numpy.changes), which also gives
# the piano's voicings; what it does not know, the soloist's scales and tensions, is here.

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

# suffix: the tensions a soloist leans on at a strong beat before resolving them, in semitones
# above the root: 9 and 13 over major chords, 9, 13, b9 and b13 over dominants (#9 and b13 over
# a dominant of a minor key, whose piano voicing already holds the b9), 9 and 11 over minor
# chords, 11 and b13 over a half-diminished chord
TENSIONS: Dict[str, Tuple[int, ...]] = {
    "maj7": (2, 9), "6": (2, 11), "7": (2, 9, 1, 8), "7b9": (3, 8),
    "m7": (2, 5), "m6": (2, 11), "m7b5": (5, 8),
}


@dataclass(frozen=True)
class Harmony:
    """A chord: root pitch class 0..11, a kind from KINDS, and the pitch classes the piano voices
    (root first), as the package reads its symbol."""

    root: int
    kind: str
    voiced: Tuple[int, ...]

    @classmethod
    def parse(cls, symbol: str) -> "Harmony":
        pitches = chord_pitches(symbol)  # a root-position voicing: the root is its lowest note
        kind = symbol[2:] if symbol[1:2] in ("b", "#") else symbol[1:]
        return cls(pitches[0] % 12, kind, tuple(p % 12 for p in pitches))

    def transposed(self, semitones: int) -> "Harmony":
        return Harmony((self.root + semitones) % 12, self.kind,
                       tuple((pc + semitones) % 12 for pc in self.voiced))

    @property
    def tones(self) -> Tuple[int, ...]:
        """Chord tones as pitch classes, root first."""
        return tuple((self.root + step) % 12 for step in KINDS[self.kind][0])

    @property
    def scale(self) -> Tuple[int, ...]:
        return tuple((self.root + step) % 12 for step in KINDS[self.kind][1])

    @property
    def tensions(self) -> Tuple[int, ...]:
        return tuple((self.root + step) % 12 for step in TENSIONS[self.kind])


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
# A 32-bar song form, AABA, written for this project: the A sections in Eb, the bridge in Ab.
SONG_A1 = "Ebmaj7 | Cm7 | Fm7 | Bb7 | Gm7 | C7 | Fm7 | Bb7"
SONG_A2 = "Ebmaj7 | Cm7 | Fm7 | Bb7 | Gm7 C7 | Fm7 Bb7 | Eb6 | Eb6"
SONG_B = "Bbm7 | Eb7 | Abmaj7 | Abmaj7 | Am7b5 | D7b9 | Gm7 C7 | Fm7 Bb7"
# A 16-bar bossa nova in D minor, also written for this project.
BOSSA_DM = ("Dm7 | Dm7 | Em7b5 | A7b9 | Dm7 | Dm7 | Gm7 | C7 | Fmaj7 | Fmaj7 | Bbmaj7 | "
            "Em7b5 A7b9 | Dm7 | Gm7 C7 | Fmaj7 | Em7b5 A7b9")


def keys_from_c(names: Sequence[str]) -> List[int]:
    """Key names ("Bb") as semitones above C."""
    return [Harmony.parse(name + "7").root for name in names]


@dataclass(frozen=True)
class Tune:
    stem: str  # file name without ".mid"
    title: str
    bars: Changes
    tempo: int  # beats per minute
    style: str = "swing"  # "swing", or "bossa": straight eighths, a bossa's bass and comping


def tunes() -> List[Tune]:
    """The corpus: what each file plays. Adding a tune at the end leaves the others unchanged."""
    blues_f, blues_bb, blues_eb = (changes(JAZZ_BLUES_F, k) for k in (0, 5, 10))
    minor_c, minor_f, minor_g = (changes(MINOR_BLUES_C, k) for k in (0, 5, 7))
    rhythm = changes(RHYTHM_A_BB)
    song, song_f = ([bar for section in (SONG_A1, SONG_A2, SONG_B, SONG_A2)
                     for bar in changes(section, k)] for k in (0, 2))

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
        Tune("song_aaba_in_eb", "A 32-bar AABA song in Eb, two choruses",
             song * 2 + changes("Eb6"), 168),
        Tune("bossa_in_dm", "A bossa nova in D minor, three choruses",
             changes(BOSSA_DM) * 3 + changes("Dm6"), 132, "bossa"),
        Tune("song_aaba_in_f", "A 32-bar AABA song in F, two choruses",
             song_f * 2 + changes("F6"), 200),
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
    lick("sixteenths down from the ninth", "1/4 1/4 1/4 1/4 1", "9 8 7 6 5", "maj7 6 7 m7"),
    lick("ninth held, then the third and the root", "1 1/2 1/2", "9 10 8", "maj7 6 7 m7 m6"),
    lick("flat nine down to the fifth", "1/3 1/3 1/3 1/2 1/2", "9 8 7 5 3", "7b9"),
    lick("eleventh resolving down the scale", "1/2 1/4 1/4 1", "11 10 9 8", "m7 m6"),
]


def degree_semitones(degree: str, harmony: Harmony) -> int:
    """Semitones above the chord's root for a lick degree such as "3", "9" or "5-"."""
    shift = {"-": -1, "+": 1}.get(degree[-1], 0)
    octave, step = divmod(int(degree.rstrip("+-")) - 1, 7)
    tones, scale = KINDS[harmony.kind]
    semis = tones[step // 2] if step % 2 == 0 else scale[step]
    return semis + 12 * octave + shift


# --------------------------------------------------------------------------------------------
# Rhythm: the solo as a list of slots, phrase by phrase
# --------------------------------------------------------------------------------------------

@dataclass
class Slot:
    """One note of the solo: its rhythm comes first, its pitch from the line-drawing pass.

    role: "head" (a note on a beat, or a phrase's first note, given a pitch of its own), "fill"
    (a note between heads, leading from one to the next), "peak" (the long note at a phrase's
    highest point), "push" (a note off the beat ringing over the next one, whose chord it already
    plays: the anticipation of a new bar's chord, or a syncopation), "end" (a phrase's last note),
    or a group's note: "lick" (a hand-written lick), "motif" (a motif being stated) or "echo" (a
    motif restated).
    """

    start: Fraction  # in beats from the start of the piece
    length: Fraction
    role: str = "fill"
    group: Optional[int] = None  # for a group's notes: the index of the group's first note
    degree: Optional[str] = None  # a lick note's scale degree
    source: Optional[int] = None  # an echo note: the index of the motif note it restates
    shift: int = 0  # an echo note: semitones from the motif's chord root to the echo's
    pitch: int = 0
    tension: bool = False  # set for a head that is a tension of its chord (9, 11, 13, b9 ...)

    @property
    def on_beat(self) -> bool:
        return self.start.denominator == 1


@dataclass
class Phrase:
    """Where a phrase sits in the solo's list of slots, and the height it climbs to."""

    first: int
    peak: int
    last: int
    height: int  # the pitch its peak aims at, from the solo's climax curve


@dataclass(frozen=True)
class Style:
    """How a tune's solo moves: its one-beat rhythms (note lengths in beats, a negative length
    being a rest) and how often each is chosen."""

    cells: Tuple[Tuple[Tuple[Fraction, ...], float], ...]

    @property
    def dense(self) -> Tuple[Tuple[Tuple[Fraction, ...], float], ...]:
        """The busier cells, of two notes or more and no rest: motifs are stated in these."""
        return tuple((r, w) for r, w in self.cells if len(r) >= 2 and min(r) > 0)


def cells(*pairs) -> Tuple[Tuple[Tuple[Fraction, ...], float], ...]:
    return tuple((tuple(Fraction(x) for x in rhythm.split()), weight) for rhythm, weight in pairs)


# Eighths are written straight, as jazz is notated, and played swung.
SWING = Style(cells(
    ("1/2 1/2", 3.0),  # two eighths
    ("1/3 1/3 1/3", 4.5),  # a triplet
    ("1/4 1/4 1/4 1/4", 1.7),  # a sixteenth-note run
    ("1/2 1/4 1/4", 1.0),  # an eighth and two sixteenths
    ("1/4 1/4 1/2", 0.8),  # two sixteenths and an eighth
    ("-1/2 1/2", 1.2),  # an eighth's breath, then an eighth on the "and"
    ("1", 0.15),  # a quarter
))
BOSSA = Style(cells(  # straight eighths and sixteenths, no triplets, more long notes
    ("1/2 1/2", 5.0),
    ("-1/2 1/2", 1.0),
    ("1/4 1/4 1/4 1/4", 1.4),
    ("1/2 1/4 1/4", 1.2),
    ("1/4 1/4 1/2", 1.0),
    ("1", 2.2),
))
STYLES = {"swing": SWING, "bossa": BOSSA}  # by Tune.style
# two-beat figures with a note ringing over the middle beat: an eighth, a triplet, a sixteenth
SYNCOPATIONS = cells(("1/2 1 1/2", 1), ("1/3 1/3 2/3 1/3 1/3", 1), ("1/4 1/4 1/4 1/2 1/4 1/2", 1))

PHRASE_BEATS = ([2, 3, 4, 6, 7, 8, 10, 12, 14, 16, 18], [1, 2, 3, 3, 3, 3, 3, 2, 2, 1, 0.5])
FINAL_LENGTHS = ([Fraction(1), Fraction(3, 2), Fraction(2)], [3, 3, 2])
BREATHS = ([Fraction(1), Fraction(3, 2), Fraction(2), Fraction(3), Fraction(4), Fraction(5),
            Fraction(6)], [1, 1, 2, 2, 3, 4, 5])
LICK_CHANCE = 0.12  # on each strong beat of a phrase
STATE_CHANCE = 0.7  # that a chord's arrival is met with a new motif
ECHO_CHANCE = 0.9  # that the next chord's arrival restates it, transposed
ECHOES = 2  # a motif is restated at most this often; the second time, varied
PUSH_CHANCE = 0.9  # an anticipation on the last "and" of a bar before a new chord
SYNCOPATION_CHANCE = 0.45  # at any other beat: a two-beat figure whose middle note rings over a beat
LATE_END_CHANCE = 0.35  # that a phrase's last note comes an eighth early, on an "and"
CLIMAX = 0.7  # where in the solo its highest phrases come


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


@dataclass
class Motif:
    """A motif stated in the solo: its notes' indices, its chord, and how often it came back."""

    notes: List[int]
    harmony: Harmony
    beats: Fraction
    ends: Fraction
    echoes: int = 0


def chord_arrives(bars: Changes, t: Fraction) -> bool:
    return t % 4 == 0 or harmony_at(bars, t - 1) != harmony_at(bars, t)


def phrase_rhythm(solo: List[Slot], start: Fraction, end: Fraction, final: Fraction,
                  bars: Changes, style: Style, motif: Optional[Motif], last: bool,
                  rng: np.random.Generator) -> Tuple[int, Optional[Motif]]:
    """Append a phrase's slots to `solo`: from `start` (a beat or an "and") to a last note at beat
    `end` (an eighth earlier now and then, unless it is the solo's `last`), held `final`. Returns
    the index of its peak note and the motif to remember."""
    t = start
    if t.denominator != 1:  # a pickup: an eighth, or a note held over the beat
        if rng.random() < 0.65:
            solo.append(Slot(t, HALF, "head"))
            t += HALF
        else:
            solo += [Slot(t, Fraction(1), "push"), Slot(t + 1, HALF)]
            t += 3 * HALF
    beats = int(end - t)
    peak_at = t + int(beats * (0.45 + 0.4 * rng.random())) if beats >= 3 else None
    peak = len(solo)
    late_end = not last and end - t >= 2 and rng.random() < LATE_END_CHANCE
    stop = end - 1 if late_end else end
    while t < stop:
        harmony = harmony_at(bars, t)
        arrival = chord_arrives(bars, t)
        room = stop - t
        fitting = [lk for lk in LICKS if harmony.kind in lk.kinds and lk.beats <= room
                   and harmony_at(bars, t + lk.beats - HALF) == harmony]
        if t == peak_at and room >= 2:  # the peak: a long note, an eighth to leave it
            peak = len(solo)
            length = pick(rng, [Fraction(1), Fraction(3, 2)], [1, 1])
            solo += [Slot(t, length, "peak"), Slot(t + length, 2 - length)]
            t += 2
        elif (motif is not None and arrival and motif.echoes < ECHOES and motif.beats <= room
              and t - motif.ends <= 6 and rng.random() < ECHO_CHANCE):
            shift = (harmony.root - motif.harmony.root) % 12
            first = len(solo)
            for source in motif.notes:
                s = solo[source]
                solo.append(Slot(t + s.start - solo[motif.notes[0]].start, s.length, "echo",
                                 group=first, source=source, shift=shift))
            motif.echoes += 1
            if motif.echoes == ECHOES:  # the second echo is varied: its last note is free
                solo[-1].role, solo[-1].group, solo[-1].source = "fill", None, None
            motif.ends = t + motif.beats
            t += motif.beats
        elif arrival and room >= 2 and rng.random() < STATE_CHANCE:
            first = len(solo)
            length = pick(rng, [Fraction(1), Fraction(2)], [1, 2])
            at = t
            while at < t + length:
                for d in pick(rng, *zip(*style.dense)):
                    solo.append(Slot(at, d, "motif", group=first))
                    at += d
            motif = Motif(list(range(first, len(solo))), harmony, length, at)
            t = at
        elif t % 2 == 0 and fitting and rng.random() < LICK_CHANCE:
            chosen = fitting[int(rng.random() * len(fitting))]
            first = len(solo)
            for length, degree in chosen.notes:
                solo.append(Slot(t, length, "lick", group=first, degree=degree))
                t += length
        elif (t % 4 == 3 and room >= 2 and harmony_at(bars, t + 1) != harmony
              and rng.random() < PUSH_CHANCE):
            # an eighth on the beat, then the next chord's note on the "and", over the bar line
            length = pick(rng, [Fraction(1), Fraction(3, 2)], [1, 1])
            solo += [Slot(t, HALF, "head"), Slot(t + HALF, length, "push")]
            if length == 1:
                solo.append(Slot(t + 3 * HALF, HALF))
            t += 2
        elif room >= 2 and rng.random() < SYNCOPATION_CHANCE:
            # the note ringing over the beat is sounded early: it belongs to that beat's chord
            for i, d in enumerate(pick(rng, *zip(*SYNCOPATIONS))):
                rings = t.denominator != 1 and t + d > math.ceil(t)
                solo.append(Slot(t, d, "head" if i == 0 else "push" if rings else "fill"))
                t += d
        else:
            rhythm = pick(rng, *zip(*style.cells))
            for i, d in enumerate(rhythm):
                if d > 0:  # a negative length is a rest
                    solo.append(Slot(t, d, "head" if i == 0 else "fill"))
                t += abs(d)
    if late_end:  # an eighth on the beat, then the last note on its "and", held over the beat
        solo.append(Slot(t, HALF, "head"))
        solo.append(Slot(t + HALF, min(final, Fraction(3, 2)) + HALF, "end"))
    else:
        solo.append(Slot(end, final, "end"))
    return peak, motif


def climax(position: float) -> float:
    """How high the solo's phrases reach, 0..1, at `position` (0 start .. 1 end): building to a
    climax at CLIMAX, then settling."""
    if position <= CLIMAX:
        return (position / CLIMAX) ** 1.5
    return 1 - 0.6 * (position - CLIMAX) / (1 - CLIMAX)


def solo_rhythm(bars: Changes, style: Style, rng: np.random.Generator
                ) -> Tuple[List[Slot], List[Phrase]]:
    """The solo's slots, without pitches, and its phrases. Every bar gets at least one note, and
    the last note falls on the last bar's downbeat."""
    last_downbeat = Fraction(4 * (len(bars) - 1))
    solo: List[Slot] = []
    phrases: List[Phrase] = []
    motif: Optional[Motif] = None
    t = pick(rng, [Fraction(0), HALF, Fraction(1), Fraction(2)], [2, 2, 1, 1])
    while True:
        end = math.ceil(t) + pick(rng, *PHRASE_BEATS)
        end -= end % 4 == 3  # not on beat 4, where the breath after it could not be long
        last = end >= last_downbeat - 2
        if last:
            end, final = last_downbeat, Fraction(4)
        else:
            final = pick(rng, *FINAL_LENGTHS)
        first = len(solo)
        peak, motif = phrase_rhythm(solo, t, end, final, bars, style, motif, last, rng)
        low, high = 62, MELODY_RANGE[1] - 1
        height = low + (high - low) * climax(float(t / last_downbeat)) + 4 * (rng.random() - 0.5)
        phrases.append(Phrase(first, peak, len(solo) - 1, int(round(min(high, height)))))
        if last:
            return solo, phrases
        # A breath, short enough that the next bar still gets a note and the last phrase has room.
        finish = solo[-1].start + solo[-1].length
        next_bar_end = 4 * (int(solo[-1].start // 4) + 2) - HALF
        t = finish + max(HALF, min(pick(rng, *BREATHS), next_bar_end - finish,
                                   last_downbeat - 2 - finish))
        t = Fraction(math.floor(t * 2), 2)  # on a beat or an "and"


# --------------------------------------------------------------------------------------------
# Pitches: heads on the beat, chord tones or tensions, connected by passing and approach tones
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


def nearest(classes: Sequence[int], target: float, avoid: int, direction: int) -> int:
    """The pitch of one of the pitch `classes`, within the range, nearest to `target` (not
    `avoid`); on a tie, the one in the line's direction."""
    low, high = MELODY_RANGE
    candidates = [p for p in range(low, high + 1) if p % 12 in classes and p != avoid]
    return min(candidates, key=lambda p: (abs(p - target), -direction * p))


# How a head's pitch is chosen, by where it falls: (chord tone, tension, other scale tone)
HEAD_KINDS = {
    "strong": (0.42, 0.46, 0.12),  # beats 1 and 3
    "weak": (0.33, 0.3, 0.37),  # beats 2 and 4, a phrase's first note
    "peak": (0.7, 0.3, 0.0),
    "end": (0.7, 0.3, 0.0),
    "push": (0.65, 0.35, 0.0),
}


def head_pitch(harmony: Harmony, where: str, target: float, avoid: int, direction: int,
               rng: np.random.Generator) -> Tuple[int, bool]:
    """A head's pitch near `target`, and whether it is a tension."""
    kind = pick(rng, ["chord", "tension", "scale"], HEAD_KINDS[where])
    if kind == "tension":
        return nearest(harmony.tensions, target, avoid, direction), True
    if kind == "scale":
        others = [pc for pc in harmony.scale if pc not in harmony.tones + harmony.tensions]
        if others:
            return nearest(others, target, avoid, direction), False
    return nearest(harmony.tones, target, avoid, direction), False


def resolution(tension: int, harmony: Harmony) -> int:
    """Where a tension resolves: the chord tone a step away, below when there are two."""
    # Every chord here has its tones at most four semitones apart, so a note that is not one of
    # them always has one within a whole step.
    return next(tension + d for d in (-1, -2, 1, 2) if (tension + d) % 12 in harmony.tones)


def connect(a: int, b: int, k: int, harmony: Harmony, rng: np.random.Generator) -> List[int]:
    """k pitches leading from pitch `a` (sounding now) to pitch `b` (the next head)."""
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
            "chromatic passing tone": [a + toward] if abs(b - a) == 2 else None,
            "chromatic approach": [b - toward if b - toward != a else b + toward],
            "neighbour from beyond": [scale_step(b, scale, toward)],
        }
        weights = {"passing tone": 3, "chromatic passing tone": 2, "chromatic approach": 2,
                   "neighbour from beyond": 1}
    else:
        # a scale run toward b, used when it arrives within a step of b without passing it
        run = [a]
        for _ in range(k):
            run.append(scale_step(run[-1], scale, toward))
        run = run[1:]
        if len(between) == k - 1:  # one step too many: the last note becomes a half step approach
            run[-1] = b - toward if b - toward != run[-2] else b + toward
        fits = k - 1 <= len(between) <= k + 1
        # a bebop run: the same, with a chromatic passing tone between its last two scale tones
        bebop = None
        if fits and k >= 3 and abs(run[-2] - run[-3]) == 2:
            bebop = run[:-2] + [run[-3] + toward, run[-2]]
        walk = [a]
        for _ in range(k - 2):
            walk.append(scale_step(walk[-1], scale, toward))
        enclosure = walk[1:] + [above_b, from_below]
        chromatic = walk[1:] + [b + 1, b - 1]
        options = {
            "scale run": run if fits else None,
            "bebop run": bebop,
            "enclosure": enclosure if abs(above_b - walk[-1]) <= 5 else None,
            "chromatic enclosure": chromatic if abs(b + 1 - walk[-1]) <= 5 else None,
            "turn": (([scale_step(a, scale, +1), a, scale_step(a, scale, -1)])[:k] + [a] * (k - 3)
                     if abs(b - a) <= 3 else None),
            # chord tones spread evenly between a and b, for a gap too wide for steps
            "arpeggio": [min((p for p in range(a - 12, a + 13) if p % 12 in harmony.tones),
                             key=lambda p: abs(p - a - (b - a) * (j + 1) / (k + 1)))
                         for j in range(k)] if abs(b - a) > 2 * k else None,
        }
        if all(notes is None for notes in options.values()):  # nothing fits: a turn around b
            options["turn"] = [scale_step(b, scale, +1), b, scale_step(b, scale, -1)][:k] + [b] * (k - 3)
        weights = {"scale run": 3, "bebop run": 2, "enclosure": 2, "chromatic enclosure": 1.5,
                   "turn": 1, "arpeggio": 0.5}
    names = [name for name, notes in options.items() if notes is not None]
    return options[pick(rng, names, [weights[n] for n in names])]


def octave_nearest(pitches: List[int], target: float) -> List[int]:
    """`pitches` moved by whole octaves to stay in the range with the first nearest `target`."""
    low, high = MELODY_RANGE

    def cost(shift: int) -> float:
        outside = max(0, low - min(pitches) - shift) + max(0, max(pitches) + shift - high)
        return 100 * outside + abs(pitches[0] + shift - target)

    shift = min(range(-120, 121, 12), key=cost)
    return [p + shift for p in pitches]


def group_pitches(solo: List[Slot], members: List[int], bars: Changes, target: float,
                  line: Line, rng: np.random.Generator) -> None:
    """Pitches for a lick, a motif's statement or its echo, starting near `target`."""
    head = solo[members[0]]
    harmony = harmony_at(bars, head.start)
    if head.role == "lick":
        pitches = [harmony.root + degree_semitones(solo[i].degree, harmony) for i in members]
    elif head.role == "echo":  # the motif moved to this chord's root, in the nearest octave
        pitches = [solo[solo[i].source].pitch + head.shift for i in members]
    else:  # a new motif: a head, then a figure toward a chord tone a few steps on
        first, _ = head_pitch(harmony, "strong", target, line.pitch, line.direction, rng)
        goal = nearest(harmony.tones, first + line.direction * 2 * len(members), first,
                       line.direction)
        pitches = [first] + connect(first, goal, len(members) - 1, harmony, rng)
    for i, p in zip(members, octave_nearest(pitches, target)):
        solo[i].pitch = p


TURN_CHANCE = 0.2  # that a line reverses its direction at a head


def head_target(line: Line, phrase: Phrase, i: int, k: int, start: Fraction,
                rng: np.random.Generator) -> int:
    """Where the line heads for at slot `i` (starting at beat `start`, `k` fills after the last
    head): up toward the phrase's height until its peak, down after it, turning now and then and
    at the edges of the range. Updates the line's direction."""
    low, high = MELODY_RANGE
    if i > phrase.peak:
        line.direction = -1
    if rng.random() < TURN_CHANCE:
        line.direction = -line.direction
    if k > 0:  # the fills between cover about a whole step each
        step = 2 * (k + 1)
    elif start % 4 == 0:  # a new bar may open with a leap
        step = pick(rng, [3, 4, 5, 7, 8], [1, 2, 2, 3, 2])
    else:
        step = pick(rng, [2, 3, 4, 5, 7], [1, 2, 2, 2, 2])
    if i <= phrase.peak and line.pitch + step > phrase.height:
        line.direction = -1 if line.pitch > phrase.height else 1
    if not low + 3 <= line.pitch + line.direction * step <= high - 3:
        line.direction = -line.direction
    return line.pitch + line.direction * step


def draw_line(solo: List[Slot], phrases: List[Phrase], bars: Changes,
              rng: np.random.Generator) -> None:
    """Give every slot a pitch: heads by the phrase's contour, groups as a whole, and the fills
    between them leading from one to the next."""
    line = Line(pitch=60, direction=1)
    for phrase in phrases:
        line.direction = 1
        # a phrase starts some way below the height it climbs to, but no more than a sixth away
        # from where the last one stopped
        below = phrase.height - 6 - int(6 * rng.random())
        start = line.pitch + max(-9, min(9, below - line.pitch))
        previous_end = phrase.first - 1  # the last slot with a pitch
        resolve = False  # whether the last head was a tension still to resolve
        i = phrase.first
        while i <= phrase.last:
            slot = solo[i]
            if slot.role == "fill" or (slot.group is not None and slot.group != i):
                i += 1
                continue
            fillers = list(range(previous_end + 1, i))
            k = len(fillers)
            harmony = harmony_at(bars, slot.start)
            if i == phrase.first:
                target = start
            else:
                target = head_target(line, phrase, i, k, slot.start, rng)
            end = i
            if slot.group is not None:
                members = [j for j in range(i, phrase.last + 1) if solo[j].group == i]
                group_pitches(solo, members, bars, target, line, rng)
                end = members[-1]
            elif resolve and k == 0 and line.pitch % 12 not in harmony.tones:
                slot.pitch = resolution(line.pitch, harmony)
            else:
                if slot.role == "push":
                    harmony = harmony_at(bars, slot.start + HALF)
                where = ("peak" if slot.role == "peak" else "end" if slot.role == "end"
                         else "push" if slot.role == "push"
                         else "strong" if slot.on_beat and slot.start % 2 == 0 and i != phrase.first
                         else "weak")
                if slot.role == "peak":  # toward the height, by a step or a skip
                    target = line.pitch + max(-3, min(5, phrase.height - line.pitch))
                if slot.role in ("peak", "end", "push") and k == 0:
                    target = line.pitch + 2 * line.direction  # a long note is reached by step
                slot.pitch, slot.tension = head_pitch(harmony, where, target, line.pitch,
                                                      line.direction, rng)
            if fillers:
                a = line.pitch
                filler_harmony = harmony_at(bars, solo[fillers[0]].start)
                if resolve and a % 12 not in filler_harmony.tones:
                    # the tension before them steps to a chord tone first (unless the chord has
                    # changed under it and made it a chord tone)
                    first = resolution(a, filler_harmony)
                    pitches = [first] + connect(first, solo[i].pitch, k - 1, filler_harmony, rng)
                else:
                    pitches = connect(a, solo[i].pitch, k, filler_harmony, rng)
                for j, p in zip(fillers, pitches):
                    solo[j].pitch = p
            resolve = solo[end].tension
            line.pitch = solo[end].pitch
            previous_end = end
            i = end + 1


# --------------------------------------------------------------------------------------------
# The solo
# --------------------------------------------------------------------------------------------

def improvise(bars: Changes, rng: np.random.Generator, style: Style = SWING) -> List[Slot]:
    """The whole solo: its rhythm phrase by phrase, then its pitches, ending at rest on the
    root, third or fifth of the last chord."""
    solo, phrases = solo_rhythm(bars, style, rng)
    draw_line(solo, phrases, bars, rng)
    home = harmony_at(bars, solo[-1].start)
    before = solo[-2].pitch
    low, high = MELODY_RANGE
    solo[-1].pitch = min((p for p in range(low, high + 1)
                          if p % 12 in home.tones[:3] and p != before),
                         key=lambda p: (abs(p - before), p))
    solo[-1].tension = False
    return solo


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
BOSSA_ONE_CHORD = [  # a bossa's comping: short chords on and off the beat, two bars alike
    ([(0, 1.5, 0), (1.5, 1, 0), (3, 1, 0)], 3),
    ([(0, 1, 0), (1.5, 1, 0), (3.5, 0.5, 2)], 2),
]
BOSSA_TWO_CHORDS = [
    ([(0, 1.5, 0), (1.5, 0.5, 0), (2, 1.5, 1), (3.5, 0.5, 1)], 1),
]


def voicing(harmony: Harmony, previous: Sequence[int]) -> List[int]:
    """Root in the left hand, third, fifth and seventh (and a flat nine) close to the last chord."""
    root = 36 + harmony.root  # C2..B2
    upper_classes = harmony.voiced[1:]
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


def comp(bars: Changes, rng: np.random.Generator, style: str = "swing"
         ) -> List[Tuple[Fraction, Fraction, List[int]]]:
    """Piano chords as (start, length, pitches)."""
    one, two = ((BOSSA_ONE_CHORD, BOSSA_TWO_CHORDS) if style == "bossa"
                else (COMPING_ONE_CHORD, COMPING_TWO_CHORDS))
    hits = []
    upper: List[int] = []
    for n, chords in enumerate(bars):
        last_bar = n == len(bars) - 1
        if last_bar:
            pattern = [(0, 4, 0)]
        elif len(chords) == 1:
            pattern = pick(rng, *zip(*one))
        else:
            pattern = pick(rng, *zip(*two))
        for start, length, which in pattern:
            harmony = bars[n + 1][0] if which == 2 else chords[which]
            notes = voicing(harmony, upper)
            upper = notes[1:]
            hits.append((4 * n + Fraction(start), Fraction(length), notes))
    return hits


def bossa_bass(bars: Changes) -> List[Tuple[Fraction, Fraction, int]]:
    """A bossa's bass, (start, length, pitch): the root, then the fifth an eighth before the
    half bar, held; with two chords in a bar, each chord's root and fifth in its half."""
    low, high = BASS_RANGE
    notes = []
    for n, chords in enumerate(bars[:-1]):  # the last bar gets one long root
        halves = [chords[0], chords[0]] if len(chords) == 1 else chords
        for half, harmony in enumerate(halves):
            root = low + (harmony.root - low) % 12
            fifth = root + 7 if root + 7 <= high else root - 5
            start = Fraction(4 * n + 2 * half)
            if len(chords) == 1 and half == 1:
                notes.append((start, Fraction(2), fifth))
            else:
                notes += [(start, Fraction(3, 2), root), (start + Fraction(3, 2), HALF, fifth)]
    return notes


def walk(bars: Changes, rng: np.random.Generator) -> List[Tuple[Fraction, Fraction, int]]:
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
        notes.append((Fraction(beat), Fraction(1), pitch))
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
    solo = improvise(tune.bars, rng, STYLES[tune.style])
    piano = comp(tune.bars, rng, tune.style)
    bass = bossa_bass(tune.bars) if tune.style == "bossa" else walk(tune.bars, rng)

    melody = [(s.start, s.length, s.pitch, 96 if s.on_beat else 84) for s in solo]
    chords = [(start, length, p, 64) for start, length, notes in piano for p in notes]
    end = Fraction(4 * len(tune.bars))
    walking = [(start, length, p, 88) for start, length, p in bass]
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
    ("rare", "distinct values that occur fewer than three times"),
    ("C", "chord tones"),
    ("S", "scale tones"),
    ("A", "approach tones"),
    ("X", "other tones"),
    ("R", "rests"),
]


def statistics(folder: Path) -> str:
    """The Markdown table of data/README.md, measured by the package's own data pipeline."""
    from lstm_numpy.dataset import get_corpus_data, get_musical_data

    _, grammars = get_musical_data(sorted(folder.glob("*.mid")))
    corpus, values, _, _ = get_corpus_data(grammars)
    counts = Counter(corpus)
    found = {"measures": len(grammars), "values": len(corpus), "distinct": len(values),
             "once": sum(n == 1 for n in counts.values()),
             "rare": sum(n < 3 for n in counts.values())}
    found.update({letter: sum(v[0] == letter for v in corpus) for letter in "CSAXR"})
    rows = [(key, found[key], meaning) for key, meaning in STATISTICS]
    durations = Counter(v.split(",")[1] for v in corpus)
    rows += [(d, durations[d], f"values lasting {d} quarter notes") for d in sorted(durations, key=float)]
    rests = Counter(v for v in corpus if v.startswith("R,"))
    rows += [(r, rests[r], f"rests of {r[2:]} quarter notes") for r in sorted(rests, key=lambda r: float(r[2:]))]
    lines = ["| statistic | count | meaning |", "|---|---:|---|"]
    lines += [f"| `{key}` | {count} | {meaning} |" for key, count, meaning in rows]
    return "\n".join(lines)


# The habits of real improvisers, as the issue that asked for them measured seven real jazz solo
# transcriptions with chords: (statistic of lstm_numpy.evaluate, label, low, high), one figure
# where low == high. "phrase_bars" is the mean length of a phrase (evaluate's phrases) in bars.
REAL_SOLOS = [
    ("chord_tones_13", "chord tones on beats 1 and 3 (%)", 53, 53),
    ("chord_tones", "chord tones (%)", 50, 50),
    ("scale_tones", "chord or scale tones (%)", 81, 81),
    ("dur_16th", "16ths (%)", 22, 22),
    ("dur_triplet", "triplet 8ths (%)", 25, 25),
    ("dur_8th", "8ths (%)", 30, 30),
    ("dur_longer", "longer than an 8th (%)", 14, 14),
    ("syncopation", "on-grid syncopation (%)", 10, 10),
    ("rest_time", "rest time (%)", 24, 32),
    ("phrase_bars", "phrase length (bars)", 2, 5),
    ("motifs", "4-interval shapes restated (%)", 12, 14),
    ("mean_interval", r"mean \|interval\| (semitones)", 2.5, 2.9),
    ("leaps", "leaps, > 4 semitones (%)", 12, 16),
]


def style_statistics(folder: Path) -> Dict[str, float]:
    """The statistics of lstm_numpy.evaluate for the files in `folder`, with "phrase_bars"."""
    from lstm_numpy import evaluate

    pieces = evaluate.pieces_from_midi(sorted(folder.glob("*.mid")))
    found = evaluate.solo_statistics(pieces)
    spans = [max(n.offset + n.duration for n in phrase) - phrase[0].offset
             for piece in pieces for phrase in evaluate.phrases(piece.notes)]
    found["phrase_bars"] = float(sum(spans) / len(spans) / 4)  # every bar here is 4 beats
    return found


def style_table(found: Dict[str, float]) -> str:
    """The Markdown table of data/README.md that sets the corpus beside the real solos."""
    lines = ["| statistic | real solos | this corpus |", "|---|---:|---:|"]
    for key, label, low, high in REAL_SOLOS:
        real = f"{low:g}" if low == high else f"{low:g}-{high:g}"
        digits = 1 if label.endswith("(%)") else 2
        lines.append(f"| {label} | {real} | {found[key]:.{digits}f} |")
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent,
                        help="folder to write the MIDI files into (default: this script's folder)")
    parser.add_argument("--seed", type=int, default=SEED, help=f"random seed (default {SEED})")
    parser.add_argument("--stats", action="store_true",
                        help="write nothing; print the statistics tables of the files in --out")
    args = parser.parse_args(argv)
    if args.stats:
        print(statistics(args.out) + "\n\n" + style_table(style_statistics(args.out)))
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    for number, tune in enumerate(tunes()):
        path = args.out / f"{tune.stem}.mid"
        save_atomically(tune_to_midi(tune, args.seed, number), path)
        print(f"{path}  {len(tune.bars)} bars, {tune.tempo} BPM: {tune.title}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
