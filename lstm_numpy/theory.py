"""Just enough music theory for the value grammar: spelled pitches, intervals, chords and scales.

The course computed all of this with music21. Here every rule is written out, because the grammar
depends on *spelling*, not only on pitch: a MIDI file says "note 61", and the course called it
"C#" (never "D-"), so a C# is not a member of the B- Dorian scale, whose fourth is spelled D-.

Conventions (music21's, so that names match the course's output):

* A spelled pitch is a letter ``step`` (C D E F G A B), an ``alter`` in semitones (+1 sharp "#",
  -1 flat "-") and an ``octave``; C4 is MIDI 60 and the octave number belongs to the letter, so
  B#3 is MIDI 60 and C-4 is MIDI 59.
* MIDI numbers get the *default spelling* C C# D E- E F F# G G# A B- B, octave = midi // 12 - 1.
* An interval is a pair (steps, semitones): letter steps including octaves (C4 -> E4 is 2 steps)
  and signed semitones. Its name ("M3", "P-4", "d1", "dd5") follows the rules of
  :func:`interval_name`.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Iterable, NamedTuple, Optional, Sequence, Tuple, Union

from .errors import LstmNumpyError

STEPS = "CDEFGAB"
STEP_SEMITONES = (0, 2, 4, 5, 7, 9, 11)  # semitones of each letter above C
DEFAULT_SPELLING = ("C", "C#", "D", "E-", "E", "F", "F#", "G", "G#", "A", "B-", "B")


# --------------------------------------------------------------------------------------------
# Spelled pitches
# --------------------------------------------------------------------------------------------

class SpelledPitch(NamedTuple):
    """A pitch with a spelling: letter, alteration and octave (B-3 = ("B", -1, 3) = MIDI 58)."""

    step: str
    alter: int
    octave: int

    @property
    def name(self) -> str:
        """Letter and accidental without octave, in music21's notation: "C#", "B-", "F##"."""
        accidental = "#" * self.alter if self.alter > 0 else "-" * -self.alter
        return self.step + accidental

    @property
    def name_with_octave(self) -> str:
        return f"{self.name}{self.octave}"

    @property
    def midi(self) -> int:
        return 12 * (self.octave + 1) + STEP_SEMITONES[STEPS.index(self.step)] + self.alter

    @property
    def pitch_class(self) -> int:
        return self.midi % 12

    @property
    def diatonic_number(self) -> int:
        """Letter position counted from C0: the "steps" of an interval are differences of this."""
        return 7 * self.octave + STEPS.index(self.step)


PitchLike = Union[int, SpelledPitch]

# Accidentals first: "B-4" is B flat 4. (A natural in octave -1, "C-1", reads as C flat 1, as
# in music21; MIDI 0..11 are the only names this can affect.)
_PITCH_RE = re.compile(r"^([A-Ga-g])(#+|-+)?(-?\d+)?$")


def spell(midi: int) -> SpelledPitch:
    """The default spelling of a MIDI number: 61 -> C#4, 63 -> E-4, 70 -> B-4."""
    name = DEFAULT_SPELLING[midi % 12]
    return SpelledPitch(name[0], name.count("#") - name.count("-"), midi // 12 - 1)


def as_spelled(pitch: PitchLike) -> SpelledPitch:
    """Accept a MIDI number (default spelling) or an already spelled pitch."""
    return pitch if isinstance(pitch, SpelledPitch) else spell(int(pitch))


def parse_pitch(text: str, octave: int = 4) -> SpelledPitch:
    """Read a music21-style name such as "B-3", "C#" or "F##5" (octave defaults to 4)."""
    match = _PITCH_RE.match(text.strip())
    if match is None:
        raise LstmNumpyError(
            f"{text!r} is not a pitch name; write a letter A-G, then '#' or '-' signs, "
            f"then an optional octave, such as 'B-3'.")
    letter, accidental, octave_text = match.groups()
    accidental = accidental or ""
    alter = accidental.count("#") - accidental.count("-")
    return SpelledPitch(letter.upper(), alter, int(octave_text) if octave_text else octave)


def pitch_name(midi: int) -> str:
    """Default spelled name with octave: ``pitch_name(60) == "C4"``, ``pitch_name(70) == "B-4"``."""
    return spell(midi).name_with_octave


def pitch_class_name(midi: int) -> str:
    """Default spelled name without octave: ``pitch_class_name(61) == "C#"``."""
    return DEFAULT_SPELLING[midi % 12]


# --------------------------------------------------------------------------------------------
# Intervals
# --------------------------------------------------------------------------------------------

class SpelledInterval(NamedTuple):
    """A directed interval: letter ``steps`` (octaves included) and ``semitones``, both signed.

    C4 -> E-4 is (2, 3), a minor third; C4 -> B3 is (-1, -1), a descending minor second.
    """

    steps: int
    semitones: int

    @property
    def name(self) -> str:
        return interval_name(self)


MINOR_THIRD = SpelledInterval(2, 3)

# Reference sizes in semitones of the simple intervals 1..7; which of them are "perfect" (P, with
# A/d around it) and which are "major" (M, with m/d below and A above).
_REFERENCE_SEMITONES = (0, 2, 4, 5, 7, 9, 11)
_PERFECT = (True, False, False, True, True, False, False)
_PERFECT_QUALITY = {0: "P", 1: "A", 2: "AA", 3: "AAA", 4: "AAAA",
                    -1: "d", -2: "dd", -3: "ddd", -4: "dddd"}
_MAJOR_QUALITY = {0: "M", -1: "m", 1: "A", 2: "AA", 3: "AAA", 4: "AAAA",
                  -2: "d", -3: "dd", -4: "ddd", -5: "dddd"}
_INTERVAL_RE = re.compile(r"^(P|M|m|A{1,4}|d{1,4})(-?)(\d+)$")


def interval_between(first: PitchLike, second: PitchLike) -> SpelledInterval:
    """The spelled interval from ``first`` to ``second`` (MIDI numbers use default spelling)."""
    a, b = as_spelled(first), as_spelled(second)
    return SpelledInterval(b.diatonic_number - a.diatonic_number, b.midi - a.midi)


def add_intervals(a: SpelledInterval, b: SpelledInterval) -> SpelledInterval:
    return SpelledInterval(a.steps + b.steps, a.semitones + b.semitones)


def subtract_intervals(a: SpelledInterval, b: SpelledInterval) -> SpelledInterval:
    return SpelledInterval(a.steps - b.steps, a.semitones - b.semitones)


def _reference_size(simple_steps: int, octaves: int) -> int:
    return _REFERENCE_SEMITONES[simple_steps] + 12 * octaves


def interval_name(interval: SpelledInterval) -> str:
    """music21's directed name of an interval: quality letters, "-" if descending, then number.

    * number = |steps| + 1 (a unison is 1, a second 2, an octave 8, a tenth 10);
    * the quality compares the size in semitones with the reference size of that number
      (P1 0, M2 2, M3 4, P4 5, P5 7, M6 9, M7 11, plus 12 per octave). Unisons, fourths, fifths
      and octaves are "perfect": deviation 0 P, +1 A, -1 d, -2 dd. The others are "major":
      0 M, -1 m, -2 d, -3 dd, +1 A;
    * a descending interval (negative steps) gets "-" before its number and is measured by its
      absolute size; a unison never gets a sign, its quality comes from the signed size, so
      +1 semitone is "A1" and -1 is "d1".

    >>> interval_name(SpelledInterval(4, 5)), interval_name(SpelledInterval(-7, -11))
    ('dd5', 'd-8')
    """
    steps, semitones = interval
    octaves, simple = divmod(abs(steps), 7)
    if steps == 0:
        deviation = semitones
    else:
        # Opposite signs (steps up, pitch down) only arise from absurd spellings; measuring them
        # by signed size keeps the name honest instead of mirroring it.
        size = semitones if steps > 0 else -semitones
        deviation = size - _reference_size(simple, octaves)
    table = _PERFECT_QUALITY if _PERFECT[simple] else _MAJOR_QUALITY
    if deviation not in table:
        raise LstmNumpyError(
            f"The interval of {steps} letter steps and {semitones} semitones is too far from any "
            f"named quality; use intervals within four semitones of a perfect or major size.")
    sign = "-" if steps < 0 else ""
    return f"{table[deviation]}{sign}{abs(steps) + 1}"


def parse_interval(name: str) -> SpelledInterval:
    """The inverse of :func:`interval_name`: "m-3" -> (-2, -3), "A1" -> (0, 1), "d1" -> (0, -1)."""
    match = _INTERVAL_RE.match(name.strip())
    if match is None or int(match.group(3)) < 1:
        raise LstmNumpyError(
            f"{name!r} is not an interval name; write a quality (P, M, m, A, d, dd...), an "
            f"optional '-' for descending and a number from 1, such as 'M-2' or 'dd5'.")
    quality, sign, number_text = match.groups()
    number = int(number_text)
    octaves, simple = divmod(number - 1, 7)
    table = _PERFECT_QUALITY if _PERFECT[simple] else _MAJOR_QUALITY
    deviations = {q: d for d, q in table.items()}
    if quality not in deviations or (number == 1 and sign):
        raise LstmNumpyError(
            f"{name!r} is not a valid interval: P goes with 1, 4, 5, 8..., M and m with 2, 3, 6, "
            f"7..., and a unison takes no '-' sign.")
    if number == 1:
        return SpelledInterval(0, deviations[quality])
    size = _reference_size(simple, octaves) + deviations[quality]
    direction = -1 if sign else 1
    return SpelledInterval(direction * (number - 1), direction * size)


def transpose(pitch: PitchLike, interval: SpelledInterval) -> SpelledPitch:
    """Move a spelled pitch by a spelled interval, keeping the spelling: E-5 + m-3 = C5."""
    start = as_spelled(pitch)
    octave, index = divmod(start.diatonic_number + interval.steps, 7)
    natural = SpelledPitch(STEPS[index], 0, octave)
    return natural._replace(alter=start.midi + interval.semitones - natural.midi)


# --------------------------------------------------------------------------------------------
# Chords: root and quality (music21's rules)
# --------------------------------------------------------------------------------------------

def chord_step(root: SpelledPitch, pitch: SpelledPitch) -> int:
    """Which chord member ``pitch`` is above ``root``, by letters only: 1 root, 3 third, 5 fifth...

    Octaves do not matter (a pitch below the root counts upwards), accidentals do not either:
    above C, both E- and E are step 3.
    """
    return (STEPS.index(pitch.step) - STEPS.index(root.step)) % 7 + 1


def _distinct_letters(pitches: Sequence[SpelledPitch]) -> list:
    seen, kept = set(), []
    for p in pitches:
        if p.step not in seen:
            seen.add(p.step)
            kept.append(p)
    return kept


def chord_root(pitches: Sequence[PitchLike]) -> SpelledPitch:
    """The root of a chord, found as music21 does: the pitch with the most stacked thirds above.

    1. Keep the first pitch of each letter (E- and E cannot both be thirds of C).
    2. For each remaining pitch r, test whether some pitch sits at chord step 3, 5, 7, 2, 4, 6
       above r (9ths, 11ths and 13ths are steps 2, 4 and 6).
    3. If exactly one r has *all* of the first (n-1) of those steps, n = number of pitches kept,
       it is the root (a complete stack of thirds). If every r has them, the lowest pitch is the
       root. Otherwise the highest score wins, score = sum of 1/(k+6) over the present steps,
       k = 0 for the third, 1 for the fifth ... (the first maximum, in chord order).
    """
    spelled = [as_spelled(p) for p in pitches]
    if not spelled:
        raise LstmNumpyError("A chord needs at least one pitch; give it one or more MIDI numbers.")
    kept = _distinct_letters(spelled)
    if len(kept) == 1:
        return spelled[0]
    stacked, scores = [], []
    for candidate in kept:
        present_steps = {chord_step(candidate, p) for p in kept}
        present = [step in present_steps for step in (3, 5, 7, 2, 4, 6)]
        if all(present[:len(kept) - 1]):
            stacked.append(candidate)
        scores.append(sum(1 / (k + 6) for k, ok in enumerate(present) if ok))
    if len(stacked) == 1:
        return stacked[0]
    if len(stacked) == len(kept):
        return min(kept, key=lambda p: p.midi)  # the bass; first of equals
    return kept[scores.index(max(scores))]


def chord_quality(pitches: Sequence[PitchLike]) -> str:
    """The chord's quality: "major", "minor", "augmented", "diminished" or "other".

    The third (chord step 3) and fifth (step 5) are measured in semitones above the root, modulo
    12: (4, 7) major, (3, 7) minor, (4, 8) augmented, (3, 6) diminished. A third without a fifth
    is enough (4 major, 3 minor); no third, two different thirds, two different fifths, or any
    other combination is "other".
    """
    spelled = [as_spelled(p) for p in pitches]
    root = chord_root(spelled)

    def sizes(step: int) -> list:
        return [(p.midi - root.midi) % 12 for p in spelled if chord_step(root, p) == step]

    thirds, fifths = sizes(3), sizes(5)
    if not thirds or len(set(thirds)) > 1:
        return "other"
    third = thirds[0]
    if not fifths:
        return {4: "major", 3: "minor"}.get(third, "other")
    if len(set(fifths)) > 1:
        return "other"
    return {(4, 7): "major", (3, 7): "minor", (4, 8): "augmented",
            (3, 6): "diminished"}.get((third, fifths[0]), "other")


def chord_pitch_names(pitches: Iterable[PitchLike]) -> frozenset:
    """The spelled names (no octave) of a chord's pitches: what a "chord tone" must match."""
    return frozenset(as_spelled(p).name for p in pitches)


# --------------------------------------------------------------------------------------------
# Scales derived from a chord
# --------------------------------------------------------------------------------------------

# Each scale degree as an interval above the tonic (letter steps, semitones). Spelling the scale
# from its tonic this way gives B- Dorian = B- C D- E- F G A-.
SCALE_DEGREES = {
    "major": ((0, 0), (1, 2), (2, 4), (3, 5), (4, 7), (5, 9), (6, 11)),
    "dorian": ((0, 0), (1, 2), (2, 3), (3, 5), (4, 7), (5, 9), (6, 10)),
    # The course's "weighted hexatonic blues": minor pentatonic (1 b3 4 5 b7) plus the raised
    # fourth, the "blue note" (F blues = F A- B- B C E-). It is spelled by a walk, see below.
    "blues": ((0, 0), (2, 3), (3, 5), (3, 6), (4, 7), (6, 10)),
}

# music21 built the blues scale as a walk of steps from the tonic up to its octave: a minor
# third, a whole tone, then either a whole tone straight to the fifth or the blue note (an
# augmented unison, then a semitone), then a minor third and a whole tone.
_WHOLE, _HALF, _AUG_UNISON = SpelledInterval(1, 2), SpelledInterval(1, 1), SpelledInterval(0, 1)
_BLUES_STEPS = {False: (MINOR_THIRD, _WHOLE, _WHOLE, MINOR_THIRD, _WHOLE),
                True: (MINOR_THIRD, _WHOLE, _AUG_UNISON, _HALF, MINOR_THIRD, _WHOLE)}


def blues_walk(tonic: Union[str, SpelledPitch], blue_note: bool = True) -> Tuple[str, ...]:
    """The names music21 realised for a blues scale, tonic up to its octave (6 or 7 names).

    Each step is spelled from the pitch before it; a name that would need a double sharp or
    flat is respelled in the default spelling and the walk goes on from there. So D# blues is
    D# F# G# A B- D- E-: the blue note G## became A, and the rest follows A.
    """
    pitch = parse_pitch(tonic) if isinstance(tonic, str) else tonic
    walk = [pitch]
    for step in _BLUES_STEPS[blue_note]:
        pitch = transpose(pitch, step)
        if abs(pitch.alter) > 1:
            pitch = spell(pitch.midi)
        walk.append(pitch)
    return tuple(p.name for p in walk)


# The tonics music21 tries when it derives a scale from a chord, in its order.
TONIC_CANDIDATES = ("C", "C#", "D-", "D", "D#", "E-", "E", "F", "F#", "G", "G#", "A", "B-", "B",
                    "C-")


class DerivedScale(NamedTuple):
    """A scale fitted to a chord: ``kind`` ("major", "dorian" or "blues"), ``tonic`` name, the
    spelled ``names`` of its degrees, tonic first, and the name of the tonic's octave at the top
    (``top``; only a respelled blues walk makes it differ from the tonic)."""

    kind: str
    tonic: str
    names: Tuple[str, ...]
    top: Optional[str] = None

    @property
    def octave_names(self) -> Tuple[str, ...]:
        """One octave as music21 realised it, tonic to tonic: the tonic (or top) twice."""
        return self.names + (self.top or self.tonic,)


def scale_names(tonic: Union[str, SpelledPitch], kind: str) -> Tuple[str, ...]:
    """Spell a scale from its tonic: ``scale_names("B-", "dorian")`` = B- C D- E- F G A-.

    The blues scale is the full six-tone :func:`blues_walk`, without its octave.
    """
    if kind not in SCALE_DEGREES:
        raise LstmNumpyError(f"Unknown scale kind {kind!r}; use one of {sorted(SCALE_DEGREES)}.")
    start = parse_pitch(tonic) if isinstance(tonic, str) else tonic
    if kind == "blues":
        return blues_walk(start)[:-1]
    return tuple(transpose(start, SpelledInterval(*degree)).name for degree in SCALE_DEGREES[kind])


@lru_cache(maxsize=4096)
def _derive(pitch_classes: frozenset, kind: str) -> DerivedScale:
    best_key, best = None, None
    for index, tonic_name in enumerate(TONIC_CANDIDATES):
        tonic = parse_pitch(tonic_name)  # octave 4: C- is B3, the lowest candidate
        names = scale_names(tonic, kind)
        members = {parse_pitch(n).pitch_class for n in names}
        key = (len(pitch_classes & members), tonic.midi, index)
        if best_key is None or key > best_key:
            top = blues_walk(tonic)[-1] if kind == "blues" else tonic_name
            best_key, best = key, DerivedScale(kind, tonic_name, names, top)
    return best


def derive_scale(pitches: Sequence[PitchLike], kind: str) -> DerivedScale:
    """The scale of ``kind`` whose tonic best fits the chord, as music21's ``derive`` picks it.

    Each candidate tonic in :data:`TONIC_CANDIDATES` scores the number of the chord's distinct
    pitch classes that its scale contains (by pitch class, so spelling does not matter here).
    The most matches wins; ties go to the higher tonic (in octave 4, so C- counts as B3, the
    lowest), and between enharmonic equals to the later candidate: D- over C#, E- over D#.
    """
    if kind not in SCALE_DEGREES:
        raise LstmNumpyError(f"Unknown scale kind {kind!r}; use one of {sorted(SCALE_DEGREES)}.")
    classes = frozenset(as_spelled(p).pitch_class for p in pitches)
    if not classes:
        raise LstmNumpyError("A chord needs at least one pitch; give it one or more MIDI numbers.")
    return _derive(classes, kind)


def membership_scale(pitches: Sequence[PitchLike]) -> DerivedScale:
    """The scale of the course's "S" test: Major for a major chord, Dorian otherwise."""
    kind = "major" if chord_quality(pitches) == "major" else "dorian"
    return derive_scale(pitches, kind)


def weighted_blues_scale(pitches: Sequence[PitchLike], rng) -> DerivedScale:
    """The course's *weighted* hexatonic blues, derived from a chord, with its randomness.

    music21 built this scale as a network of steps in which the fourth leads either straight to
    the fifth or through the blue note, each way with probability 1/2, and it walked that
    network afresh, octave by octave, every time it needed the scale's pitches:

    * to score a candidate tonic (as in :func:`derive_scale`) it walked across the chord's
      range, lowest to highest pitch, so the blue note counts if *any* of its positions inside
      that range came up: one chance in 2 for each;
    * the winner's names come from one more walk over a single octave (five or six tones).

    The same chord can therefore give different tonics (the course's reference run shows E- and
    E for the chord B-3 A3).
    """
    midis = [as_spelled(p).midi for p in pitches]
    if not midis:
        raise LstmNumpyError("A chord needs at least one pitch; give it one or more MIDI numbers.")
    classes = {m % 12 for m in midis}
    best_key, best = None, None
    for index, tonic_name in enumerate(TONIC_CANDIDATES):
        tonic = parse_pitch(tonic_name)
        members = {(tonic.midi + d[1]) % 12 for d in SCALE_DEGREES["blues"]}
        blue = (tonic.midi + 6) % 12
        chances = sum(1 for m in range(min(midis), max(midis) + 1) if m % 12 == blue)
        if not (rng.random(chances) >= 0.5).any():
            members.discard(blue)
        key = (len(classes & members), tonic.midi, index)
        if best_key is None or key > best_key:
            best_key, best = key, tonic_name
    # At the fourth, music21 took either way with probability 1/2 (a uniform draw below 1/2
    # took the first edge it stored: straight to the fifth).
    walk = blues_walk(best, blue_note=rng.random() >= 0.5)
    return DerivedScale("blues", best, walk[:-1], walk[-1])


def generation_scale(pitches: Sequence[PitchLike], rng=None) -> DerivedScale:
    """The scale the course draws a free scale tone from: Major for a major chord, else blues.

    With a NumPy ``rng`` the blues scale is the course's random one
    (:func:`weighted_blues_scale`); without, the full hexatonic scale derived like the others.
    """
    if chord_quality(pitches) == "major":
        return derive_scale(pitches, "major")
    return derive_scale(pitches, "blues") if rng is None else weighted_blues_scale(pitches, rng)


def is_chord_tone(pitch: PitchLike, chord_pitches: Sequence[PitchLike]) -> bool:
    """True when the pitch's spelled name (no octave) is among the chord's names."""
    return as_spelled(pitch).name in chord_pitch_names(chord_pitches)


def is_scale_tone(pitch: PitchLike, chord_pitches: Sequence[PitchLike]) -> bool:
    """True when the pitch's spelled name is in the chord's :func:`membership_scale`.

    Spelled, not by pitch class: MIDI 61 is "C#", which is not in B- Dorian (it has D-).
    """
    return as_spelled(pitch).name in membership_scale(chord_pitches).names


def is_approach_tone(pitch: PitchLike, chord_pitches: Sequence[PitchLike]) -> bool:
    """True when the pitch is one semitone above or below some chord pitch (any octave).

    The course compared names *and* their enharmonic respellings, so in effect pitch classes.
    """
    pc = as_spelled(pitch).pitch_class
    return any((as_spelled(c).pitch_class - pc) % 12 in (1, 11) for c in chord_pitches)
