"""Chord symbols against a music-theory table written out here, and progressions bar by bar."""

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lstm_numpy.changes import PROGRESSIONS, chord_pitches, chord_symbol, chord_symbol_root, parse_changes, supported_qualities
from lstm_numpy.errors import ChordSymbolError, LstmNumpyError

# Pitch classes of each root spelling, counted by hand from C.
ROOTS = {
    "C": 0, "C#": 1, "Db": 1, "D": 2, "D#": 3, "Eb": 3, "E": 4, "F": 5, "F#": 6, "Gb": 6,
    "G": 7, "G#": 8, "Ab": 8, "A": 9, "A#": 10, "Bb": 10, "B": 11, "Cb": 11, "E#": 5,
}

# Chord tones as (third, fifth, ...) in semitones above the root, from a harmony textbook.
QUALITIES = {
    "": {0, 4, 7},            # major triad: major third, perfect fifth
    "m": {0, 3, 7},           # minor triad: minor third, perfect fifth
    "-": {0, 3, 7},
    "7": {0, 4, 7, 10},       # dominant seventh: major triad + minor seventh
    "maj7": {0, 4, 7, 11},    # major seventh
    "M7": {0, 4, 7, 11},
    "Δ7": {0, 4, 7, 11},
    "m7": {0, 3, 7, 10},      # minor seventh
    "-7": {0, 3, 7, 10},
    "m7b5": {0, 3, 6, 10},    # half-diminished
    "ø": {0, 3, 6, 10},
    "dim7": {0, 3, 6, 9},     # fully diminished: stacked minor thirds
    "o7": {0, 3, 6, 9},
    "dim": {0, 3, 6},
    "aug": {0, 4, 8},
    "6": {0, 4, 7, 9},        # major sixth
    "m6": {0, 3, 7, 9},       # minor sixth
    "9": {0, 4, 7, 10, 14},   # dominant ninth: a major ninth is 14 semitones
    "maj9": {0, 4, 7, 11, 14},
    "m9": {0, 3, 7, 10, 14},
    "sus4": {0, 5, 7},
    "7sus4": {0, 5, 7, 10},
    "7b9": {0, 4, 7, 10, 13},
    "7#9": {0, 4, 7, 10, 15},
    "7#11": {0, 4, 7, 10, 18},
    "7b5": {0, 4, 6, 10},     # the flat five replaces the fifth
    "7#5": {0, 4, 8, 10},
    "m7(b5)": {0, 3, 6, 10},
}


@pytest.mark.parametrize("quality", sorted(QUALITIES))
@pytest.mark.parametrize("root", sorted(ROOTS))
def test_every_quality_on_every_root_matches_the_interval_table(root, quality):
    pitches = chord_pitches(root + quality)
    low = pitches[0]
    assert low % 12 == ROOTS[root], "the lowest note is the root (root position)"
    assert 48 <= low <= 59, "the root sits between C3 and B3"
    assert {p - low for p in pitches} == QUALITIES[quality]
    assert list(pitches) == sorted(set(pitches)), "close voicing, low to high, no doubled notes"


def test_unicode_accidentals_read_like_ascii():
    assert chord_pitches("B♭7") == chord_pitches("Bb7")
    assert chord_pitches("F♯m7") == chord_pitches("F#m7")
    assert chord_pitches("C°7") == chord_pitches("Cdim7")


def test_slash_bass_is_the_lowest_note():
    pitches = chord_pitches("C7/E")
    assert pitches[0] % 12 == 4 and pitches[0] < pitches[1]
    assert set(pitches[1:]) == set(chord_pitches("C7"))


@pytest.mark.parametrize("symbol", ["H7", "Cxyz", "C7b10", "c7", "", "Dm7/Q", "C##",
                                    "C5", "C7(5)"])
def test_an_unknown_symbol_is_a_clear_error_naming_it(symbol):
    with pytest.raises(ChordSymbolError) as caught:
        chord_pitches(symbol)
    message = str(caught.value)
    assert repr(symbol) in message
    assert "'maj7'" in message and "'m7b5'" in message, "the message lists what is supported"
    assert isinstance(caught.value, LstmNumpyError)


def test_unknown_symbol_inside_changes_is_named():
    with pytest.raises(ChordSymbolError, match="'Gfoo'"):
        parse_changes("Dm7 Gfoo | Cmaj7")


def test_bars_are_split_evenly_and_offsets_count_from_the_start():
    bars = parse_changes("Dm7 G7 | Cmaj7 | F Bb Eb")
    assert [len(bar) for bar in bars] == [2, 1, 3]
    assert [(c.offset, c.duration) for c in bars[0]] == [(0, 2), (2, 2)]
    assert [(c.offset, c.duration) for c in bars[1]] == [(4, 4)]
    third = Fraction(4, 3)
    assert [(c.offset, c.duration) for c in bars[2]] == [(8, third), (8 + third, third),
                                                         (8 + 2 * third, third)]
    assert bars[0][0].pitches == chord_pitches("Dm7")
    assert bars[2][1].pitches == chord_pitches("Bb")


@settings(max_examples=40, deadline=None)
@given(
    shape=st.lists(st.integers(min_value=1, max_value=5), min_size=1, max_size=12),
    beats=st.integers(min_value=2, max_value=7),
)
def test_each_bar_is_filled_exactly_without_gaps(shape, beats):
    text = " | ".join(" ".join(["G7"] * n) for n in shape)
    bars = parse_changes(text, beats_per_bar=beats)
    assert len(bars) == len(shape)
    for number, bar in enumerate(bars):
        start = number * beats
        assert bar[0].offset == start
        for before, after in zip(bar, bar[1:]):
            assert before.offset + before.duration == after.offset
        assert bar[-1].offset + bar[-1].duration == start + beats
        assert all(isinstance(c.offset, Fraction) for c in bar)


def test_percent_repeats_the_previous_bar_and_a_trailing_bar_line_is_ignored():
    bars = parse_changes("Dm7 G7 | % | Cmaj7 |")
    assert len(bars) == 3
    assert [c.pitches for c in bars[1]] == [c.pitches for c in bars[0]]
    assert bars[1][0].offset == 4


@pytest.mark.parametrize("text", ["C || D", "% | C", "| C", "   "])
def test_empty_or_dangling_bars_are_errors(text):
    with pytest.raises(ChordSymbolError):
        parse_changes(text)


def test_beats_per_bar_must_be_positive():
    with pytest.raises(ChordSymbolError):
        parse_changes("C", beats_per_bar=0)


@pytest.mark.parametrize("name", sorted(PROGRESSIONS))
def test_named_progressions_parse_and_can_be_asked_for_by_name(name):
    by_text = parse_changes(PROGRESSIONS[name])
    assert by_text == parse_changes(name.upper())
    assert len(by_text) >= 4


def test_blues_in_f_is_twelve_bars_starting_on_f7():
    bars = parse_changes("blues in F")
    assert len(bars) == 12
    assert bars[0][0].pitches == chord_pitches("F7")
    assert bars[0][0].pitches[0] % 12 == ROOTS["F"]


def test_every_quality_the_error_names_or_lists_is_accepted():
    from lstm_numpy.changes import _COMMON, supported_qualities

    for quality in set(_COMMON) | set(supported_qualities()):
        assert chord_pitches("C" + quality)[0] == 48


# ------------------------------------------------------------------------ naming voicings

# Voicings as a pianist plays them (MIDI numbers counted by hand: C4 = 60), and what a lead sheet
# prints over them.
NAMED_VOICINGS = [
    ((46, 50, 53, 56), "Bb7"),                # Bb D F Ab
    ((48, 51, 55, 58), "Cm7"),                # C Eb G Bb
    ((41, 45, 48, 51, 54), "F7b9"),           # F A C Eb Gb
    ((36, 52, 55, 59, 62), "Cmaj9"),          # C, then E G B D
    ((47, 50, 53, 57), "Bm7b5"),              # B D F A
    ((40, 56, 59, 62, 65), "E7b9"),           # E, then G# B D F
    ((45, 60, 64, 67), "Am7"),                # A under C E G: the bass decides
    ((48, 52, 55, 57), "C6"),                 # C E G A: the same notes, C in the bass
    ((52, 55, 60), "C"),                      # a triad over its third is still C
    ((43, 47, 50, 53, 57, 64), "G13"),        # G B D F A E
    ((48, 52, 56, 58, 63), "C7#5#9"),         # C E G# Bb D#
    ((49, 52, 55, 58), "Dbdim7"),             # C# E G Bb
    ((60, 64, 68), "C+"),
    ((50, 53, 57, 60, 67), "Dm7(11)"),        # D F A C G: an added eleventh, no ninth
]


@pytest.mark.parametrize("pitches, name", NAMED_VOICINGS)
def test_voicings_are_named_with_their_sevenths_and_alterations(pitches, name):
    assert chord_symbol(pitches) == name
    assert chord_symbol([p + 12 for p in reversed(pitches)]) == name, "octave and order do not matter"
    assert chord_symbol_root(pitches) == ROOTS[name[:2] if name[1:2] == "b" else name[:1]]


def pitch_classes(pitches):
    return {p % 12 for p in pitches}


ALTERATIONS = ["b5", "#5", "b9", "9", "#9", "11", "#11", "b13", "13"]


@settings(max_examples=400, deadline=None)
@given(root=st.sampled_from(sorted(ROOTS)), quality=st.sampled_from(supported_qualities()),
       alterations=st.lists(st.sampled_from(ALTERATIONS), max_size=3, unique=True),
       bass=st.none() | st.sampled_from(["C", "Eb", "F#", "A"]))
def test_naming_a_voicing_reads_back_as_the_same_pitch_classes(root, quality, alterations, bass):
    symbol = root + quality + "".join(f"({a})" for a in alterations) + (f"/{bass}" if bass else "")
    pitches = chord_pitches(symbol)
    assert pitch_classes(chord_pitches(chord_symbol(pitches))) == pitch_classes(pitches), symbol


@pytest.mark.parametrize("quality", supported_qualities())
def test_every_quality_round_trips_on_every_root(quality):
    for root in ROOTS:
        pitches = chord_pitches(root + quality)
        assert pitch_classes(chord_pitches(chord_symbol(pitches))) == pitch_classes(pitches)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 127), min_size=1, max_size=8))
def test_any_pitches_get_a_name_the_parser_reads(pitches):
    name = chord_symbol(pitches)
    chord_pitches(name)  # raises ChordSymbolError if the name were outside the vocabulary
    assert chord_symbol_root(pitches) in pitch_classes(pitches), "the root is a note that sounds"


def test_no_pitches_have_no_name():
    assert chord_symbol([]) == "?" and chord_symbol_root([]) is None
