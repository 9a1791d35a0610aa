"""Chord symbols: from a lead sheet's "Dm7 G7 | Cmaj7 | ..." to the Chord objects a solo is played over.

A progression is written bar by bar, bars separated by ``|``, chords inside a bar separated by
spaces. The chords of one bar share it evenly: ``"Dm7 G7"`` in 4/4 gives two beats each, three
chords give 4/3 of a beat each. ``%`` repeats the previous bar, as on a lead sheet.

A symbol is a root (``C``, ``F#``, ``Bb``), a quality (``m7``, ``maj7``, ``7``, ...), optional
alterations (``b9``, ``#11``, ...) and an optional slash bass (``C7/E``). Each becomes a close,
root-position voicing with its root between C3 and B3 (MIDI 48..59), so every chord sounds in the
middle register where the melody can sit above it; a slash bass goes in the octave below.

The other way round, :func:`chord_symbol` names a voicing (``(46, 50, 53, 56)`` is ``"Bb7"``) in
the same vocabulary, so that the name read back gives the voicing's pitch classes again.

Offsets are measured in quarter notes from the start of the progression (bar ``k`` starts at
``k * beats_per_bar``), the same convention as the chords read from the training pieces.
"""

from __future__ import annotations

import functools
import re
from fractions import Fraction
from typing import Dict, List, Optional, Sequence, Tuple

from .errors import ChordSymbolError
from .limits import MAX_BARS, MAX_CHORDS_PER_BAR
from .notes import Chord

# Semitones above C of each letter; an accidental moves it by one.
_LETTERS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_ACCIDENTALS = {"": 0, "#": 1, "♯": 1, "b": -1, "♭": -1}

# Quality suffix -> semitones above the root.  Several spellings of one quality are common on
# lead sheets (C-7, Cm7, Cmi7), so each is listed.
_MAJOR = (0, 4, 7)
_MINOR = (0, 3, 7)
_QUALITIES: Dict[str, Tuple[int, ...]] = {
    "": _MAJOR, "maj": _MAJOR, "M": _MAJOR,
    "m": _MINOR, "-": _MINOR, "min": _MINOR, "mi": _MINOR,
    "7": (0, 4, 7, 10), "dom7": (0, 4, 7, 10),
    "maj7": (0, 4, 7, 11), "M7": (0, 4, 7, 11), "Δ7": (0, 4, 7, 11), "Δ": (0, 4, 7, 11),
    "ma7": (0, 4, 7, 11),
    "m7": (0, 3, 7, 10), "-7": (0, 3, 7, 10), "min7": (0, 3, 7, 10), "mi7": (0, 3, 7, 10),
    "m7b5": (0, 3, 6, 10), "-7b5": (0, 3, 6, 10), "ø": (0, 3, 6, 10), "ø7": (0, 3, 6, 10),
    "dim7": (0, 3, 6, 9), "o7": (0, 3, 6, 9), "°7": (0, 3, 6, 9),
    "dim": (0, 3, 6), "o": (0, 3, 6), "°": (0, 3, 6),
    "aug": (0, 4, 8), "+": (0, 4, 8),
    "6": (0, 4, 7, 9), "m6": (0, 3, 7, 9), "-6": (0, 3, 7, 9),
    "9": (0, 4, 7, 10, 14), "maj9": (0, 4, 7, 11, 14), "m9": (0, 3, 7, 10, 14),
    "-9": (0, 3, 7, 10, 14),
    "11": (0, 7, 10, 14, 17), "m11": (0, 3, 7, 10, 14, 17),
    "13": (0, 4, 7, 10, 14, 21),
    "mMaj7": (0, 3, 7, 11), "mM7": (0, 3, 7, 11), "-Δ7": (0, 3, 7, 11),
    "sus4": (0, 5, 7), "sus": (0, 5, 7), "sus2": (0, 2, 7), "7sus4": (0, 5, 7, 10),
    "7sus": (0, 5, 7, 10),
}

# Alterations: (semitones above the root, the chord tone it replaces or None to add).
_ALTERATIONS: Dict[str, Tuple[int, int | None]] = {
    "b5": (6, 7), "#5": (8, 7),
    "b9": (13, None), "9": (14, None), "#9": (15, None),
    "11": (17, None), "#11": (18, None),
    "b13": (20, None), "13": (21, None),
}

_SYMBOL = re.compile(r"^([A-G])([#b♯♭]?)(.*?)(?:/([A-G])([#b♯♭]?))?$")
# A fifth is only ever altered (b5, #5); a bare "5" is no alteration.
_ALTERATION = re.compile(r"\(?([b#♭♯]5|[b#♭♯]?(?:9|11|13))\)?")

ROOT_LOW = 48  # C3: the lowest root of a voicing

# Progressions a user can ask for by name (any letter case) instead of writing them out.
PROGRESSIONS: Dict[str, str] = {
    "ii-V-I in C": "Dm7 | G7 | Cmaj7 | Cmaj7",
    "minor ii-V-i in A": "Bm7b5 | E7b9 | Am6 | Am6",
    "blues in F": "F7 | Bb7 | F7 | Cm7 F7 | Bb7 | Bdim7 | F7 | Am7 D7 | Gm7 | C7 | F7 D7 | Gm7 C7",
    "blues in Bb": "Bb7 | Eb7 | Bb7 | Fm7 Bb7 | Eb7 | Edim7 | Bb7 | Dm7 G7 | Cm7 | F7 | Bb7 G7 | Cm7 F7",
    "rhythm changes A": "Bb6 G7 | Cm7 F7 | Bb6 G7 | Cm7 F7 | Fm7 Bb7 | Eb6 Edim7 | Bb6 F7 | Bb6",
    "autumn leaves A": "Cm7 | F7 | Bbmaj7 | Ebmaj7 | Am7b5 | D7 | Gm6 | Gm6",
}


def supported_qualities() -> List[str]:
    """The quality suffixes the parser knows, as a user would type them after a root."""
    return sorted(_QUALITIES, key=lambda q: (len(q), q))


def chord_pitches(symbol: str) -> Tuple[int, ...]:
    """MIDI pitches of one chord symbol, low to high, e.g. ``"Dm7" -> (50, 53, 57, 60)``.

    Raises ChordSymbolError naming the symbol when it cannot be read.
    """
    match = _SYMBOL.match(symbol)
    if match is None:
        raise _unknown(symbol)
    letter, accidental, rest, bass_letter, bass_accidental = match.groups()
    root_class = (_LETTERS[letter] + _ACCIDENTALS[accidental]) % 12
    intervals = _quality_intervals(symbol, rest)
    root = ROOT_LOW + root_class
    pitches = [root + i for i in intervals]
    if bass_letter is not None:
        bass_class = (_LETTERS[bass_letter] + _ACCIDENTALS[bass_accidental]) % 12
        # The octave below the root register, so the named bass really is the lowest note.
        pitches.insert(0, ROOT_LOW - 12 + bass_class)
    return tuple(pitches)


def _quality_intervals(symbol: str, rest: str) -> Tuple[int, ...]:
    # The longest known quality that starts the suffix wins ("m7b5" before "m7" before "m"),
    # and whatever follows it must be a chain of alterations.
    for length in range(len(rest), -1, -1):
        base = _QUALITIES.get(rest[:length])
        if base is None:
            continue
        alterations = _parse_alterations(rest[length:])
        if alterations is None:
            continue
        tones = list(base)
        for name in alterations:
            semitones, replaces = _ALTERATIONS[name]
            if replaces is not None and replaces in tones:
                tones.remove(replaces)
            if semitones not in tones:
                tones.append(semitones)
        return tuple(sorted(tones))
    raise _unknown(symbol)


def _parse_alterations(text: str) -> List[str] | None:
    names, position = [], 0
    while position < len(text):
        match = _ALTERATION.match(text, position)
        if match is None or match.end() == position:
            return None
        name = match.group(1).replace("♭", "b").replace("♯", "#")
        names.append(name)
        position = match.end()
    return names


# The qualities named in the error message; supported_qualities() lists every spelling.
_COMMON = ("m", "7", "maj7", "m7", "m7b5", "dim7", "dim", "aug", "6", "m6", "9", "13", "sus4")


def _unknown(symbol: str) -> ChordSymbolError:
    return ChordSymbolError(
        f"unknown chord symbol {symbol!r}: write a root A-G with an optional # or b, then nothing "
        f"(major) or a quality such as {', '.join(repr(q) for q in _COMMON)} (every spelling is "
        f"listed by lstm_numpy.changes.supported_qualities()), optional alterations such as 'b9' "
        f"or '#11', and an optional '/bass'."
    )


def parse_changes(text: str, beats_per_bar: int = 4) -> List[List[Chord]]:
    """Read a chord progression into one list of Chord per bar.

    text: bars separated by "|", chords in a bar separated by spaces, e.g. "Dm7 G7 | Cmaj7";
        "%" repeats the previous bar; a name from PROGRESSIONS (any case) stands for its changes.
    beats_per_bar: quarter notes per bar; the chords of a bar divide it evenly.
    Returns n_bars lists of Chord; offsets count quarter notes from the start of the progression.
    """
    if not isinstance(beats_per_bar, int) or beats_per_bar <= 0:
        raise ChordSymbolError(f"beats_per_bar must be a whole number above 0, got {beats_per_bar!r}.")
    return [place_bar(voicings, number * beats_per_bar, beats_per_bar)
            for number, voicings in enumerate(bar_voicings(text))]


def bar_voicings(text: str) -> List[List[Tuple[int, ...]]]:
    """The voicings of each bar of a progression (as ``parse_changes`` reads it), not yet placed
    in time: a bar's chords are placed by ``place_bar`` once the bar's length is known."""
    named = {name.lower(): changes for name, changes in PROGRESSIONS.items()}
    text = named.get(text.strip().lower(), text)
    bars_text = text.split("|")
    # A trailing bar line ("Cmaj7 |") is common and ends the last bar rather than opening a new one.
    if len(bars_text) > 1 and not bars_text[-1].strip():
        bars_text.pop()
    if len(bars_text) > MAX_BARS:
        raise ChordSymbolError(f"the changes have {len(bars_text)} bars, more than the {MAX_BARS} a solo may "
                               f"have; give fewer bars (a progression repeats by itself when more are asked for).")
    voicings_per_bar: List[List[Tuple[int, ...]]] = []
    for number, bar_text in enumerate(bars_text):
        symbols = bar_text.split()
        if len(symbols) > MAX_CHORDS_PER_BAR:
            raise ChordSymbolError(f"bar {number + 1} of the changes has {len(symbols)} chords, more than the "
                                   f"{MAX_CHORDS_PER_BAR} a bar may hold; separate bars with '|'.")
        if not symbols:
            raise ChordSymbolError(
                f"bar {number + 1} of the changes {text.strip()!r} has no chord: write at least one "
                f"symbol between each pair of '|', or '%' to repeat the previous bar."
            )
        if symbols == ["%"]:
            if not voicings_per_bar:
                raise ChordSymbolError("the changes start with '%', which repeats the previous bar: "
                                       "begin with a chord symbol instead.")
            voicings_per_bar.append(voicings_per_bar[-1])
        else:
            voicings_per_bar.append([chord_pitches(symbol) for symbol in symbols])
    return voicings_per_bar


def lead_sheet_bars(text: str) -> List[List[Tuple[int, ...]]]:
    """The bars of a lead sheet file: ``bar_voicings``'s syntax, written over as many lines as
    the writer likes. A line's end ends a bar too, a '|' opening or closing a line is only a bar
    line, blank lines are skipped and '#' starts a comment that runs to the end of its line::

        # Autumn Leaves, A section
        | Cm7 | F7 | Bbmaj7 | Ebmaj7 |
        | Am7b5 | D7 | Gm6 | % |
    """
    lines = [line.split("#", 1)[0].strip(" \t|") for line in text.splitlines()]
    lines = [line for line in lines if line]
    if not lines:
        raise ChordSymbolError("the lead sheet holds no chord symbols: write them bar by bar, "
                               "bars separated by '|', such as 'Dm7 G7 | Cmaj7'.")
    return bar_voicings(" | ".join(lines))


def place_bar(voicings: List[Tuple[int, ...]], bar_start, beats_per_bar) -> List[Chord]:
    """Chords sharing one bar evenly: the bar starts at ``bar_start`` and lasts ``beats_per_bar``
    quarter notes (whole or fractional numbers: 7/8 lasts 7/2)."""
    length = Fraction(beats_per_bar) / len(voicings)
    return [Chord(offset=bar_start + k * length, duration=length, pitches=pitches)
            for k, pitches in enumerate(voicings)]


# ------------------------------------------------------------------------------- naming a voicing
#
# The reverse of chord_pitches: from the pitches a piano plays to the symbol a lead sheet would
# print over them. Every name is written in the vocabulary above, so chord_pitches reads it back.

# Roots as lead sheets spell them: flats, except F#.
ROOT_NAMES = ("C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
# One spelling of each quality, simplest first: on a tie the earlier one names the chord.
NAMING_QUALITIES = ("", "m", "7", "maj7", "m7", "6", "m6", "m7b5", "dim7", "dim", "+", "9",
                    "maj9", "m9", "13", "11", "m11", "mMaj7", "sus4", "7sus4", "sus2")
# A tone above a quality's own is named by the alteration that adds it, by its pitch class.
_ADDED = {_ALTERATIONS[name][0] % 12: name for name in ("b9", "9", "#9", "11", "#11", "b13", "13")}
_FIFTH = 7


@functools.lru_cache(maxsize=4096)
def _best_name(pitch_classes: frozenset, bass: int) -> Tuple[int, str, Tuple[str, ...]]:
    """(root, quality, alterations) naming a set of pitch classes with ``bass`` the lowest one.

    Every root present and every quality is tried, its fifth as written, lowered (b5) or raised
    (#5). The quality's tones must all sound (those it lacks count as misses), and each other tone
    must be one that an alteration adds (b9, 9, #9, 11, #11, b13, 13), else it too is a miss. The
    name with the fewest misses wins (none: the name is exact), then the plainest, then the
    simpler quality. Plainness counts 2 for each added tone, 3 for an altered fifth (rarer on a
    lead sheet) and 2 for a root that is not the bass: so E G C is "C" rather than "Em#5",
    A C E G is "Am7" rather than "C6", and C E G# Bb D# is "C7#5#9" rather than "Ab(9)(b13)".
    """
    best, best_key = (bass, "", ()), None
    roots = [bass] + sorted(pitch_classes - {bass})
    for root in roots:
        intervals = {(pc - root) % 12 for pc in pitch_classes}
        for rank, quality in enumerate(NAMING_QUALITIES):
            tones = {step % 12 for step in _QUALITIES[quality]}
            for fifth in (None, "b5", "#5"):
                shape = set(tones)
                if fifth is not None:
                    if _FIFTH not in shape:
                        continue
                    shape.discard(_FIFTH)
                    shape.add(_ALTERATIONS[fifth][0] % 12)
                extra = intervals - shape
                added = [_ADDED[step] for step in sorted(extra) if step in _ADDED]
                misses = len(shape - intervals) + len(extra) - len(added)
                alterations = ((fifth,) if fifth else ()) + tuple(added)
                key = (misses, 2 * len(added) + 3 * (fifth is not None) + 2 * (root != bass), rank)
                if best_key is None or key < best_key:
                    best, best_key = (root, quality, alterations), key
    return best


def _voicing_key(pitches: Sequence[int]) -> Tuple[frozenset, int]:
    return frozenset(p % 12 for p in pitches), min(pitches) % 12


def chord_symbol(pitches: Sequence[int]) -> str:
    """The chord symbol a lead sheet would print over a voicing: "Bb7", "Cm7", "F7b9".

    pitches: MIDI note numbers in any order and octave; the lowest one is the bass.
    Returns a symbol that :func:`chord_pitches` reads back with the same pitch classes whenever
    the vocabulary has one (a root, one quality, added b9/9/#9/11/#11/b13/13 and an altered fifth);
    otherwise the nearest such symbol, and "?" for no pitches at all. When two names fit, the
    plainer wins (see :func:`_best_name`): A C E G is "Am7", C E G A "C6", E G C "C".
    A bare tone that an alteration adds is written in parentheses ("C7(13)", "Cm(11)") so that it
    cannot be read as part of the quality.
    """
    if not len(pitches):
        return "?"
    root, quality, alterations = _best_name(*_voicing_key(pitches))
    # "Cb5" would read as C-flat with a fifth, and "Cm11" or "C713" as other qualities.
    written = "".join(f"({a})" if a[0].isdigit() or not quality else a for a in alterations)
    return ROOT_NAMES[root] + quality + written


def chord_symbol_root(pitches: Sequence[int]) -> Optional[int]:
    """The pitch class (0 = C) of the root that :func:`chord_symbol` names; None for no pitches."""
    if not len(pitches):
        return None
    return _best_name(*_voicing_key(pitches))[0]
