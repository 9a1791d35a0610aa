"""The value grammar: measures -> values (checked against the reference run), values -> notes
(checked against the course's logged random choices and by properties), and the course's
post-processing."""

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lstm_numpy import grammar, theory
from lstm_numpy.errors import LstmNumpyError
from lstm_numpy.notes import Chord, Note


def exact(x: float) -> Fraction:
    """Reference times are floats of multiples of 1/12 (the 1/4 and 1/3 grids)."""
    return Fraction(round(x * 12), 12)


chord_sets = st.lists(st.integers(40, 80), min_size=2, max_size=5, unique=True)


def measure_notes(reference, k):
    return [Note(exact(e["offset_abs"]), exact(e["quarterLength"]), e["midi"])
            for e in reference["melody_measures"][k] if e["class"] == "Note"]


def measure_chords(reference, k, relative=False):
    key = "offset_in_measure" if relative else "offset_abs"
    return [Chord(exact(c[key]), exact(c["quarterLength"]), tuple(c["midi"]))
            for c in reference["chords_per_measure"][k]["chords"]]


# ---------------------------------------------------------------------------- value strings

def test_parse_value_examples():
    assert grammar.parse_value("C,0.500") == grammar.Value("C", Fraction(1, 2))
    value = grammar.parse_value("S,0.333,<m2,P-4>")
    assert value == ("S", Fraction(333, 1000), "m2", "P-4")
    assert value.grid_duration == Fraction(1, 3)
    assert grammar.parse_value("C,0.5,<d1,P-5>").duration == Fraction(1, 2)  # after pruning
    assert grammar.parse_value("C,0.667").grid_duration == Fraction(2, 3)
    assert grammar.parse_value("C,0.125").grid_duration == Fraction(1, 8)  # not a twelfth: kept


@pytest.mark.parametrize("bad", [
    "", "C", "C,", "Q,0.250", "C,-0.25", "C,abc", "C,0.250,<m2>", "C,0.250,m2,P-4",
    "C,0.250,<m4,P-4>", "CC,0.250", "C,0.250,<m2,P-4>,x", "C,nan"])
def test_malformed_values_raise_the_package_error(bad):
    with pytest.raises(LstmNumpyError):
        grammar.parse_value(bad)


@given(st.sampled_from("CSAXR"), st.integers(0, 48).map(lambda k: Fraction(k, 12)))
def test_format_then_parse(kind, duration):
    value = grammar.parse_value(grammar.format_value(kind, duration))
    assert value.kind == kind
    assert abs(value.duration - duration) <= Fraction(1, 2000)
    assert value.grid_duration == duration


# ---------------------------------------------------------------------------- measures -> values

@pytest.mark.parametrize("k", range(1, 19))
def test_every_reference_measure(reference, k):
    values = grammar.parse_measure(measure_notes(reference, k), measure_chords(reference, k))
    assert values == reference["abstract_grammars"][k - 1]


def test_corpus_is_the_reference_corpus(reference):
    corpus = []
    for k in range(1, 19):
        measure_start = Fraction(reference["chords_per_measure"][k]["measure_start_abs"])
        corpus += grammar.parse_measure(measure_notes(reference, k),
                                        measure_chords(reference, k), measure_start).split(" ")
    assert corpus == reference["corpus"]
    assert len(corpus) == 193


def test_per_note_chord_and_type(reference):
    """grammar_trace: the chord in force for each note and the type it gets against it."""
    for k, trace in enumerate(reference["grammar_trace"], start=1):
        chords = measure_chords(reference, k)
        for step in trace:
            chord = grammar.chord_in_force(chords, exact(step["offset_abs"]))
            assert chord == chords[step["last_chord_index_in_measure"]]
            assert grammar.tone_type(step["midi"], chord.pitches) == step["type"]


def test_type_of_every_pitch_name_against_every_reference_chord(reference):
    for k in range(1, 19):
        for chord in reference["chords_per_measure"][k]["chords"]:
            for name, kind in chord["class_by_pitchname"].items():
                assert grammar.tone_type(theory.parse_pitch(name), chord["midi"]) == kind


@settings(max_examples=60, deadline=None)
@given(melody=st.lists(st.integers(48, 84), min_size=1, max_size=8), chord=chord_sets,
       steps=st.lists(st.sampled_from([1, 2, 3, 4]), min_size=8, max_size=8))
def test_the_original_note_is_among_the_candidates_of_its_value(melody, chord, steps):
    """Parsing then decoding with the true previous note can give back the true note: the bounds
    d + m3 and d - m3 bracket the interval d, and C, S, A are the decoder's own tests. (An X note
    decodes like an A, so it is left out.)"""
    offsets = [sum(Fraction(s, 4) for s in steps[:i]) for i in range(len(melody))]
    notes = [Note(o, Fraction(1, 4), p) for o, p in zip(offsets, melody)]
    chords = [Chord(Fraction(0), Fraction(4), tuple(chord))]
    values = [grammar.parse_value(v) for v in grammar.parse_measure(notes, chords).split(" ")]
    assert len(values) == len(melody) and not values[0].has_bounds
    for previous, pitch, value in zip(melody, melody[1:], values[1:]):
        assert value.kind == grammar.tone_type(pitch, chord)
        if value.kind != "X":
            candidates = grammar.candidate_pitches(value.kind, previous, value.upper, value.lower,
                                                   chord)
            assert pitch in [c.midi for c in candidates]


def test_rests_get_R_and_do_not_move_the_previous_note():
    chords = [Chord(Fraction(0), Fraction(4), (60, 64, 67))]
    melody = [Note(Fraction(0), Fraction(1), 64), Note(Fraction(1), Fraction(1), None),
              Note(Fraction(2), Fraction(1, 2), 67)]
    # E4 -> G4 is a minor third: bounds m3 + m3 = d5 and m3 - m3 = P1.
    assert grammar.parse_measure(melody, chords) == "C,1.000 R,1.000 C,0.500,<d5,P1>"


def test_parse_measure_needs_chords_and_notes():
    with pytest.raises(LstmNumpyError):
        grammar.parse_measure([Note(Fraction(0), Fraction(1), 60)], [])
    with pytest.raises(LstmNumpyError):
        grammar.parse_measure([], [Chord(Fraction(0), Fraction(4), (60, 64))])


# ---------------------------------------------------------------------------- values -> notes

def replay(log, monkeypatch):
    """Make the decoder's random choices those the course logged, checking each option set."""
    log = list(log)

    def pick(rng, options):
        entry = log.pop(0)
        shown = [o.name_with_octave if isinstance(o, theory.SpelledPitch) else o for o in options]
        if all(isinstance(o, str) for o in entry["options"]) and all(
                isinstance(o, int) for o in shown):
            shown = [theory.pitch_name(o) for o in shown]  # chord pitches given as MIDI numbers
        assert shown == entry["options"]
        return options[shown.index(entry["chosen"])]

    monkeypatch.setattr(grammar, "_pick", pick)
    return log


@pytest.mark.parametrize("i", range(5))
def test_unparse_replays_the_course(reference, monkeypatch, i):
    """Same candidate set at every random choice, and, given the same choices, the same notes."""
    run = reference["unparse_first5"][i]
    chords = measure_chords(reference, run["measure_index"], relative=True)
    assert [float(c.offset) for c in chords] == run["chords_relative_offsets"]
    log = replay(run["random_choice_log"], monkeypatch)
    notes = grammar.unparse_values(run["grammar"].split(" "), chords, np.random.default_rng(0))
    assert log == []  # every logged choice was made, no more
    expected = [(n["offset"], n["quarterLength"], n["midi"]) for n in run["notes"]]
    assert [(round(float(n.offset), 3), round(float(n.duration), 3), n.pitch)
            for n in notes] == expected


def test_same_seed_same_notes():
    chords = [Chord(Fraction(0), Fraction(2), (60, 63, 67, 70)),
              Chord(Fraction(2), Fraction(2), (58, 62, 65))]
    values = "S,0.250 S,0.250,<m2,P-4> X,0.333,<M2,d-4> A,0.500 C,0.250,<P4,m-2>".split()
    runs = [grammar.unparse_values(values, chords, np.random.default_rng(seed))
            for seed in (7, 7, 8)]
    assert runs[0] == runs[1]
    many = {tuple(n.pitch for n in grammar.unparse_values(values, chords,
                                                          np.random.default_rng(s)))
            for s in range(20)}
    assert len(many) > 1  # the seed matters


def test_offsets_course_and_clean():
    chords = [Chord(Fraction(0), Fraction(4), (60, 64, 67))]
    values = ["C,0.500", "C,0.333,<P1,d-5>", "C,0.333,<P1,d-5>", "R,0.333", "C,0.500"]
    course = grammar.unparse_values(values, chords, np.random.default_rng(1))
    # Course: each element placed at the END of its own running duration.
    assert [n.offset for n in course] == [Fraction(x) for x in
                                          ("0.5", "0.833", "1.166", "1.499", "1.999")]
    clean = grammar.unparse_values(values, chords, np.random.default_rng(1),
                                   course_offsets=False)
    assert [n.offset for n in clean] == [0, Fraction(1, 2), Fraction(5, 6), Fraction(7, 6),
                                         Fraction(3, 2)]
    assert [n.duration for n in clean] == [Fraction(1, 2)] + [Fraction(1, 3)] * 3 + [
        Fraction(1, 2)]
    assert clean[3].is_rest and course[3].is_rest


def test_zero_length_rest_lasts_a_quarter_in_the_course_decoding():
    chords = [Chord(Fraction(0), Fraction(4), (60, 64, 67))]
    values = ["C,0.25", "R,0.0", "C,0.5,<m3,m-3>"]
    course = grammar.unparse_values(values, chords, np.random.default_rng(0))
    assert [(n.offset, n.duration) for n in course] == [
        (Fraction(1, 4), Fraction(1, 4)), (Fraction(1, 4), Fraction(1)),
        (Fraction(3, 4), Fraction(1, 2))]
    clean = grammar.unparse_values(values, chords, np.random.default_rng(0),
                                   course_offsets=False)
    assert clean[1].duration == 0


def test_first_chord_stands_in_until_a_chord_starts():
    chords = [Chord(Fraction(7, 2), Fraction(1, 2), (58, 62, 65))]
    notes = grammar.unparse_values(["C,0.250", "C,0.250,<M3,d-3>"], chords,
                                   np.random.default_rng(3))
    assert all(n.pitch % 12 in (10, 2, 5) for n in notes)


def bounds(draw_steps, draw_deviation):
    """An interval to the new note, written as the grammar does: <d + m3, d - m3>."""
    interval = theory.SpelledInterval(
        draw_steps, (1 if draw_steps >= 0 else -1) * theory._reference_size(
            abs(draw_steps) % 7, abs(draw_steps) // 7) + draw_deviation)
    upper = theory.add_intervals(interval, theory.MINOR_THIRD)
    lower = theory.subtract_intervals(interval, theory.MINOR_THIRD)
    return upper, lower


def passes(kind, midi, chord):
    if kind == "C":
        return any((midi - c) % 12 == 0 for c in chord)
    if kind == "S":
        return theory.is_scale_tone(midi, chord)
    return any((midi - c) % 12 in (1, 11) for c in chord)


@settings(max_examples=150, deadline=None)
@given(kind=st.sampled_from("CSAX"), chord=chord_sets, prev=st.integers(66, 90),
       steps=st.integers(-7, 7), deviation=st.integers(-1, 1), seed=st.integers(0, 2**32 - 1))
def test_bounded_value_decodes_inside_its_bounds_and_of_its_kind(kind, chord, prev, steps,
                                                                 deviation, seed):
    upper, lower = bounds(steps, deviation)
    value = f"{kind},0.250,<{upper.name},{lower.name}>"
    chords = [Chord(Fraction(0), Fraction(4), tuple(chord))]
    (note,) = grammar.unparse_values([value], chords, np.random.default_rng(seed),
                                     prev_pitch=prev)
    low, high = sorted((prev + upper.semitones, prev + lower.semitones))
    admitted = [m for m in range(low, high + 1) if passes(kind, m, chord)]
    if admitted:
        assert note.pitch in admitted
        if len(admitted) > 1:
            assert note.pitch != prev
    else:  # the specified fallback: a whole tone up or down from the previous note
        assert note.pitch in (prev - 2, prev + 2)


@settings(max_examples=80, deadline=None)
@given(kind=st.sampled_from("CSAX"), chord=chord_sets, seed=st.integers(0, 2**32 - 1))
def test_value_without_bounds_decodes_to_its_kind_from_octave_4(kind, chord, seed):
    used = []  # the scale the decoder derived (the blues one is random): record it
    real = theory.generation_scale

    def recording(*args, **kwargs):
        used.append(real(*args, **kwargs))
        return used[-1]

    chords = [Chord(Fraction(0), Fraction(4), tuple(chord))]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(theory, "generation_scale", recording)
        (note,) = grammar.unparse_values([f"{kind},0.500"], chords, np.random.default_rng(seed))
    classes = {c % 12 for c in chord}
    if kind == "C":
        assert note.pitch % 12 in classes and note.pitch >= 60
    else:
        (scale,) = used
        assert scale.kind == ("major" if theory.chord_quality(chord) == "major" else "blues")
        scale_classes = {theory.parse_pitch(n).pitch_class for n in scale.names}
        if kind == "S":
            assert note.pitch % 12 in scale_classes
        else:  # a scale tone moved one semitone
            assert {(note.pitch + 1) % 12, (note.pitch - 1) % 12} & scale_classes
        assert note.pitch >= 59  # octave 4 at least; C-4 (MIDI 59) is spelled in octave 4


# ---------------------------------------------------------------------------- post-processing

@settings(max_examples=60)
@given(st.lists(st.tuples(st.sampled_from("CSAX"), st.integers(1, 12)), min_size=1,
                max_size=8), st.integers(0, 2**32 - 1))
def test_prune_grammar_rounds_down_or_up_to_quarters(items, seed):
    values = [grammar.format_value(kind, Fraction(k, 12), "m2", "P-4") for kind, k in items]
    pruned = grammar.prune_grammar(values, np.random.default_rng(seed))
    assert pruned == grammar.prune_grammar(values, np.random.default_rng(seed))
    for before, after in zip(values, pruned):
        old, new = grammar.parse_value(before), grammar.parse_value(after)
        assert (new.kind, new.upper, new.lower) == (old.kind, old.upper, old.lower)
        floor = Fraction(int(old.duration * 4), 4)
        assert new.duration in (floor, floor + Fraction(1, 4))
        assert after.split(",")[1] == str(float(new.duration))  # written as str(float)


def test_prune_grammar_lengthens_exact_values_half_the_time():
    outcomes = {grammar.prune_grammar(["C,0.250"], np.random.default_rng(s))[0]
                for s in range(30)}
    assert outcomes == {"C,0.25", "C,0.5"}


def notes_of(pitches, step=Fraction(1, 4)):
    return [Note(i * step, step, p) for i, p in enumerate(pitches)]


def test_prune_notes_looks_only_at_disjoint_pairs():
    assert [n.pitch for n in grammar.prune_notes(notes_of([60, 60, 62, 62, 62, 64, 65]))] == [
        60, 62, 62, 64, 65]
    # A repeat straddling two pairs, (1, 2), survives.
    assert [n.pitch for n in grammar.prune_notes(notes_of([60, 62, 62, 64]))] == [60, 62, 62, 64]
    # Rests are never pruned.
    assert len(grammar.prune_notes(notes_of([None, None, 60, 60]))) == 3
    # With spelled names, as the course compared them, G#4 then A-4 is no repeat.
    pair = notes_of([68, 68])
    assert len(grammar.prune_notes(pair, ["G#4", "A-4"])) == 2
    assert len(grammar.prune_notes(pair, ["G#4", "G#4"])) == 1


def test_clean_up_notes():
    notes = [Note(Fraction(1), Fraction(0), 60), Note(Fraction(1), Fraction(1, 2), 62),
             Note(Fraction(2), Fraction(1, 4), 64), Note(Fraction(2), Fraction(1, 4), None),
             Note(Fraction(3), Fraction(1, 4), 65)]
    cleaned = grammar.clean_up_notes(notes)
    assert [(n.offset, n.duration, n.pitch) for n in cleaned] == [
        (1, Fraction(1, 4), 60),        # zero length became 0.25; the note at its offset went
        (2, Fraction(1, 4), 64),
        (2, Fraction(1, 4), None),      # a rest at the same offset stays
        (3, Fraction(1, 4), 65)]


def test_course_postprocess_on_the_reference_chords(reference):
    chords = measure_chords(reference, 1)  # absolute offsets: reduced modulo 4 inside
    values = reference["corpus"][:50]
    first = grammar.course_postprocess(values, chords, np.random.default_rng(11))
    assert first == grammar.course_postprocess(values, chords, np.random.default_rng(11))
    assert 0 < len(first) <= 51
    # The lead-in "C,0.25", pruned to 0.25 or 0.5, lands at the end of its own duration.
    assert first[0].offset in (Fraction(1, 4), Fraction(1, 2))
    assert first[0].pitch % 12 in {m % 12 for m in chords[0].pitches} and first[0].pitch >= 60
    offsets = [n.offset for n in first]
    assert offsets == sorted(offsets) and len(set(offsets)) == len(offsets)
    assert all(n.duration > 0 and (n.duration * 4).denominator == 1 for n in first)


def test_course_postprocess_turns_A_and_X_into_C(monkeypatch):
    seen = []
    real = grammar.prune_grammar

    def spy(values, *args, **kwargs):
        seen.extend(values)
        return real(values, *args, **kwargs)

    monkeypatch.setattr(grammar, "prune_grammar", spy)
    chords = [Chord(Fraction(0), Fraction(4), (60, 64, 67))]
    grammar.course_postprocess(["A,0.250", "X,0.500,<m2,P-4>", "S,0.250,<m2,P-4>"], chords,
                               np.random.default_rng(0))
    assert [v.split(",")[0] for v in seen] == ["C", "C", "C", "S"]
