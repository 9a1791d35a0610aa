"""The default decoder (lstm_numpy.line): on the grid, no overlaps, in the register, the line kept.

The expected pitches are found here by brute force over the register with grammar.tone_type (the
test the encoder writes values with), not with line's own helpers.
"""

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lstm_numpy import grammar, theory
from lstm_numpy.line import (DEFAULT_REGISTER, Register, decode_bar, decode_pitch, element_end,
                             on_grid, register_of)
from lstm_numpy.notes import Chord

IN_BEAT = {Fraction(0), Fraction(1, 4), Fraction(1, 3), Fraction(1, 2), Fraction(2, 3),
           Fraction(3, 4)}

# ------------------------------------------------------------------------------------------ time


@pytest.mark.parametrize("start, duration, expected", [
    (Fraction(0), Fraction(1, 4), Fraction(1, 4)),         # on the grid already
    (Fraction(1, 3), Fraction(1, 3), Fraction(2, 3)),
    (Fraction(1, 4), Fraction(1, 3), Fraction(2, 3)),      # 7/12: a tie, the triplet goes to thirds
    (Fraction(1, 3), Fraction(1, 4), Fraction(1, 2)),      # 7/12: a tie, the sixteenth to quarters
    (Fraction(0), Fraction(1, 8), Fraction(1, 4)),         # never at or before its start
    (Fraction(0), Fraction(0), Fraction(1, 4)),
    (Fraction(2), Fraction(3, 8), Fraction(2) + Fraction(1, 3)),   # 3/8 is nearer 1/3 than 1/2
    (Fraction(2), Fraction(5, 12), Fraction(5, 2)),        # a tie; not a triplet, so to quarters
    (Fraction(7, 2), Fraction(1), Fraction(4)),            # cut at the bar line
    (Fraction(11, 3), Fraction(1, 3), Fraction(4)),
])
def test_element_end_by_hand(start, duration, expected):
    assert element_end(start, duration, Fraction(4)) == expected


grid_points = st.builds(lambda beat, point: beat + point, st.integers(0, 6), st.sampled_from(sorted(IN_BEAT)))
durations = st.one_of(st.fractions(0, 5, max_denominator=1000),
                      st.sampled_from([Fraction(1, 3), Fraction(2, 3), Fraction(1, 4), Fraction(1, 12)]))


@settings(max_examples=300, deadline=None)
@given(start=grid_points, duration=durations, beats=st.integers(1, 7))
def test_every_end_is_on_the_grid_after_the_start_and_within_the_bar(start, duration, beats):
    if start >= beats:
        start = start % beats
    end = element_end(start, duration, Fraction(beats))
    assert start < end <= beats
    assert end - int(end) in IN_BEAT and on_grid(end)
    # nothing on the grid between start and end is nearer the intended end than end is
    wanted = start + duration
    twelfths = [Fraction(k, 12) for k in range(1, 12 * beats + 1)]
    better = [p for p in twelfths if start < p <= beats and p - int(p) in IN_BEAT
              and abs(p - wanted) < abs(end - wanted)]
    assert not better


def test_on_grid():
    assert on_grid(Fraction(7, 3)) and on_grid(Fraction(13, 4)) and on_grid(Fraction(5))
    assert not on_grid(Fraction(5, 6)) and not on_grid(Fraction(7, 12)) and not on_grid(Fraction(1, 8))


# -------------------------------------------------------------------------------------- register

def test_register_of_a_melody():
    assert register_of([60, None, 74, 65, 58]) == Register(58, 74)
    assert register_of([60, 62]) == Register(55, 67), "widened evenly to an octave"
    assert register_of([None]) == DEFAULT_REGISTER
    assert register_of([2, 3]) == Register(0, 12), "kept inside MIDI"
    assert register_of([127]) == Register(115, 127)


# ----------------------------------------------------------------------------------------- pitch

def tone_types(chord):
    return {p: grammar.tone_type(p, chord) for p in range(128)}


def admissible(kind, chord, register):
    types = tone_types(chord)
    fitting = [p for p in range(register.low, register.high + 1) if types[p] == kind]
    return fitting or list(range(register.low, register.high + 1))


C7 = (48, 52, 55, 58)


def test_a_value_is_decoded_at_its_own_interval_when_that_pitch_has_its_type():
    # from E4 (64) up a minor third is G4 (67), a chord tone of C7; the bounds <d + m3, d - m3>
    # are <d5, P1> (6 and 0 semitones), where the course's decoder could also draw B-4 (70)
    value = grammar.parse_value("C,0.250,<d5,P1>")
    assert decode_pitch(value, 64, C7, Register(48, 84)) == 67


def test_otherwise_the_nearest_pitch_of_its_type():
    # from E4 (64) up a whole tone is F#4 (66), not a chord tone of C7: the nearest is G4 (67)
    value = grammar.parse_value("C,0.250,<A4,M-2>")
    assert decode_pitch(value, 64, C7, Register(48, 84)) == 67


def test_a_value_without_bounds_goes_to_the_nearest_other_pitch_of_its_type():
    value = grammar.parse_value("C,0.500")
    assert decode_pitch(value, 64, C7, Register(48, 84)) == 67  # G4 is 3 away, C4 4
    assert decode_pitch(value, 65, C7, Register(48, 84)) == 64  # E4, one semitone below F4


def test_an_interval_leaving_the_register_is_turned_back():
    value = grammar.parse_value("C,0.250,<A4,M-2>")  # up a whole tone
    # from 66 up 2 is 68, past the top (67): turned back, down 2 to 64 (E, a chord tone)
    assert decode_pitch(value, 66, C7, Register(55, 67)) == 64


def bounded_value(kind, duration, step):
    """A value of the given type and duration whose interval is step semitones (as the encoder
    spells a MIDI step)."""
    interval = theory.interval_between(60, 60 + step)
    upper = theory.add_intervals(interval, theory.MINOR_THIRD).name
    lower = theory.subtract_intervals(interval, theory.MINOR_THIRD).name
    return grammar.format_value(kind, duration, upper, lower)


DURATIONS = [Fraction(1, 4), Fraction(1, 3), Fraction(1, 2), Fraction(2, 3), Fraction(3, 4),
             Fraction(1), Fraction(3, 2), Fraction(1, 8), Fraction(5, 12), Fraction(0)]

values_st = st.lists(
    st.one_of(
        st.builds(lambda kind, d: grammar.format_value(kind, d), st.sampled_from("CSAX"), st.sampled_from(DURATIONS)),
        st.builds(bounded_value, st.sampled_from("CSAX"), st.sampled_from(DURATIONS), st.integers(-14, 14)),
        st.builds(lambda d: grammar.format_value("R", d), st.sampled_from(DURATIONS)),
    ),
    min_size=1, max_size=24)


@st.composite
def chords_st(draw, beats):
    n = draw(st.integers(1, 3))
    offsets = sorted(draw(st.lists(st.sampled_from([Fraction(k, 2) for k in range(2 * beats)]),
                                   min_size=n, max_size=n)))
    offsets[0] = Fraction(0)
    return [Chord(offset, Fraction(1), tuple(draw(st.lists(st.integers(36, 84), min_size=3, max_size=5))))
            for offset in offsets]


@settings(max_examples=200, deadline=None)
@given(data=st.data(), values=values_st, beats=st.integers(2, 7), low=st.integers(40, 70),
       span=st.integers(12, 30), previous=st.one_of(st.none(), st.integers(30, 100)))
def test_any_values_over_any_chords_keep_every_guarantee(data, values, beats, low, span, previous):
    chords = data.draw(chords_st(beats))
    register = Register(low, low + span)
    notes = decode_bar(values, chords, Fraction(beats), previous, register)

    # time: from the bar line on, each element where the one before ended, all on the grid
    assert notes and notes[0].offset == 0
    for before, after in zip(notes, notes[1:]):
        assert after.offset == before.offset + before.duration, "no gap, no overlap"
    assert all(n.duration > 0 and n.offset - int(n.offset) in IN_BEAT for n in notes)
    assert notes[-1].offset + notes[-1].duration <= beats
    assert len(notes) <= len(values)
    # the values that were used, in order, and each value's type and pitch rules
    last = previous
    for k, note in enumerate(notes):
        value = grammar.parse_value(values[k])
        assert note.is_rest == (value.kind == "R")
        if note.is_rest:
            continue
        assert register.low <= note.pitch <= register.high
        chord = grammar.chord_in_force(sorted(chords, key=lambda c: c.offset), note.offset).pitches
        allowed = admissible(value.kind, chord, register)
        assert note.pitch in allowed
        if last is None:
            target = (register.low + register.high) / 2
        elif not value.has_bounds:
            # the bar's first note (or any value without bounds): nearest the last note played
            others = [p for p in allowed if p != last] or allowed
            assert note.pitch != last or others == allowed == [last]
            assert abs(note.pitch - last) == min(abs(p - last) for p in others)
            target = None
        else:
            ends = [theory.parse_interval(n).semitones for n in (value.upper, value.lower)]
            step = (ends[0] + ends[1]) / 2
            target = last + step if register.low <= last + step <= register.high else last - step
            if target in allowed:
                assert note.pitch == target, "the value's own interval when it is admissible"
        if target is not None:
            assert abs(note.pitch - target) == min(abs(p - target) for p in allowed)
        last = note.pitch


def test_a_bar_is_filled_to_its_line_and_the_rest_of_the_values_left_out():
    values = ["C,0.250", bounded_value("S", Fraction(1), 1), "R,0.500", bounded_value("C", Fraction(5, 2), 0),
              "C,0.250"]
    notes = decode_bar(values, [Chord(Fraction(0), Fraction(4), C7)], Fraction(4), 62, Register(48, 84))
    assert [(n.offset, n.duration) for n in notes] == [
        (0, Fraction(1, 4)), (Fraction(1, 4), 1), (Fraction(5, 4), Fraction(1, 2)), (Fraction(7, 4), Fraction(9, 4))]
    assert notes[2].is_rest
    # 1. a chord tone nearest D4 (62) other than itself: C4 (60) and E4 (64) tie, and E4 is nearer
    #    the middle of the register (66); 2. up a semitone, F4, a scale tone; 3. across the rest,
    #    the same pitch again, but F is not a chord tone: the nearest one, E4
    assert [n.pitch for n in notes if not n.is_rest] == [64, 65, 64]
