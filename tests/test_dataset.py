"""Tests of the course's data pipeline (lstm_numpy.dataset).

Expected values come from the reference run of the original code (metheny_reference.json), from
the files built here with mido, or from properties that hold for any input.
"""

from fractions import Fraction

import mido
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lstm_numpy
from lstm_numpy import dataset
from lstm_numpy.errors import LstmNumpyError, MidiError
from lstm_numpy.notes import Chord, Note


# ---------------------------------------------------------------- the course file, exactly

@pytest.fixture(scope="module")
def course_measures(course_midi):
    return dataset.get_measures(course_midi, preset="course")


def test_course_measures_equal_the_reference(course_measures, reference):
    # entry 0 of the reference is the course's offset-0 metadata pseudo-measure, not music
    melody_ref, chords_ref = reference["melody_measures"][1:], reference["chords_per_measure"][1:]
    assert len(course_measures) == len(melody_ref) == len(chords_ref) == 18
    for measure, melody, chords in zip(course_measures, melody_ref, chords_ref):
        assert float(measure.start) == chords["measure_start_abs"] and measure.length == 4
        assert [(float(n.offset), float(n.duration), n.pitch) for n in measure.melody] == [
            (x["offset_abs"], x["quarterLength"], x["midi"]) for x in melody]
        assert [(float(c.offset), float(c.duration), list(c.pitches)) for c in measure.chords] == [
            (x["offset_abs"], x["quarterLength"], x["midi"]) for x in chords["chords"]]


def test_course_measures_are_exact_fractions_on_the_grid(course_measures):
    for measure in course_measures:
        for element in measure.melody + measure.chords:
            assert isinstance(element.offset, Fraction) and isinstance(element.duration, Fraction)
            for x in (element.offset, element.duration):
                assert (4 * x).denominator == 1 or (3 * x).denominator == 1
            assert measure.start <= element.offset <= measure.start + 4


def test_course_tokens_per_measure(course_measures, reference):
    # one value per melody note: as many notes per measure as the original pipeline's values,
    # and as the specification lists ("Tokens per measure", SPEC section 4)
    sizes = [len(m.melody) for m in course_measures]
    assert sizes == [len(g.split(" ")) for g in reference["abstract_grammars"]]
    assert sizes == [12, 12, 15, 12, 12, 8, 11, 7, 6, 12, 10, 11, 10, 8, 12, 19, 8, 8]


def test_get_musical_data_reproduces_the_course(course_midi, reference):
    chords, abstract_grammars = lstm_numpy.get_musical_data(course_midi, preset="course")
    assert abstract_grammars == reference["abstract_grammars"]
    assert len(chords) == len(abstract_grammars) == 18
    assert all(isinstance(c, Chord) for measure in chords for c in measure)

    corpus, values, val_indices, indices_val = lstm_numpy.get_corpus_data(abstract_grammars)
    assert corpus == reference["corpus"] and len(corpus) == 193
    assert values == reference["values_sorted"] and len(values) == 78


def test_course_preset_can_be_overridden(course_midi):
    by_name = dataset.get_measures(course_midi, preset="course", melody="guitar", chords="Piano")
    assert by_name == dataset.get_measures(course_midi, preset="course")
    shorter = dataset.get_measures(course_midi, preset="course", window=(476, 495.9))
    assert [m.start for m in shorter] == [476, 480, 484, 488, 492]


def test_course_file_without_preset_reads_the_whole_piece(course_midi):
    measures = dataset.get_measures(course_midi)
    starts = [m.start for m in measures]
    assert len(measures) > 100 and starts == sorted(set(starts))
    assert all(m.length == 4 and m.start % 4 == 0 for m in measures)
    solo = {m.start: m for m in measures}
    course = dataset.get_measures(course_midi, preset="course")
    assert not any(n.is_rest for m in course for n in m.melody)
    # inside the solo the bar lines agree with the course's grouping; notes sounding as guitar
    # double-stops elsewhere are the only possible difference, and there are none in the solo;
    # without the preset the silences between them are rests
    assert [notes_of(solo[m.start]) for m in course] == [m.melody for m in course]
    assert any(n.is_rest for m in course for n in solo[m.start].melody)
    plain = {m.start: m for m in dataset.get_measures(course_midi, rests=False)}
    assert [plain[m.start].melody for m in course] == [m.melody for m in course]


# ---------------------------------------------------------------- corpus and windows

def test_get_corpus_data_sorted_and_consistent(reference):
    corpus, values, val_indices, indices_val = dataset.get_corpus_data(
        reference["abstract_grammars"])
    assert values == sorted(set(corpus))
    assert all(values[val_indices[v]] == v == indices_val[val_indices[v]] for v in values)
    counts = {v: corpus.count(v) for v in values}
    assert counts == reference["value_counts"]


def test_data_processing_windows_equal_the_reference(reference):
    corpus, values, val_indices, _ = dataset.get_corpus_data(reference["abstract_grammars"])
    X, Y, n_values = lstm_numpy.data_processing(corpus, val_indices, m=60, Tx=30)
    assert X.shape == tuple(reference["X_shape"]) and Y.shape == tuple(reference["Y_shape"])
    assert n_values == reference["n_values"] == 78
    starts = reference["data_processing"]["corpus_starts_all60"]
    for i, s in enumerate(starts):
        assert not X[i, 0].any()
        assert [values[k] for k in X[i, 1:].argmax(axis=1)] == corpus[s + 1:s + 30]
    for example in reference["data_processing"]["first3"]:
        i = example["example"]
        assert [values[k] for k in X[i, 1:].argmax(axis=1)] == example["values"][1:]
        assert [values[k] for k in Y[:29, i].argmax(axis=1)] == example["values"][1:]
    assert not Y[29].any()


def test_data_processing_leaves_global_random_state_alone(reference):
    corpus, _, val_indices, _ = dataset.get_corpus_data(reference["abstract_grammars"])
    np.random.seed(123)
    expected = np.random.random()
    np.random.seed(123)
    dataset.data_processing(corpus, val_indices)
    assert np.random.random() == expected


@given(st.lists(st.sampled_from("abcdefgh"), min_size=2, max_size=80), st.integers(1, 12),
       st.integers(1, 40), st.integers(0, 2**31 - 1))
@settings(max_examples=60, deadline=None)
def test_one_hot_properties(corpus, m, Tx, seed):
    if len(corpus) < Tx + 1:
        with pytest.raises(LstmNumpyError, match="too few"):
            dataset.data_processing(corpus, {v: i for i, v in enumerate(sorted(set(corpus)))},
                                    m=m, Tx=Tx, seed=seed)
        return
    _, values, val_indices, _ = dataset.get_corpus_data([" ".join(corpus)])
    X, Y, n_values = dataset.data_processing(corpus, val_indices, m=m, Tx=Tx, seed=seed)
    assert n_values == len(values)
    assert X.shape == (m, Tx, n_values) and Y.shape == (Tx, m, n_values)
    assert X.dtype == Y.dtype == np.float32
    assert set(np.unique(X)) <= {0.0, 1.0}
    assert (X[:, 0].sum(axis=1) == 0).all() and (X[:, 1:].sum(axis=2) == 1).all()
    assert (Y[:-1].sum(axis=2) == 1).all() and not Y[-1].any()
    for t in range(Tx - 1):
        assert np.array_equal(Y[t], X[:, t + 1])
    # every window is a stretch of the corpus
    joined = [values[k] for k in X[0, 1:].argmax(axis=1)]
    assert any(corpus[s + 1:s + Tx] == joined for s in range(len(corpus) - Tx))


def test_data_processing_rejects_bad_input():
    with pytest.raises(LstmNumpyError, match="not in values_indices"):
        dataset.data_processing(list("abcd"), {"a": 0, "b": 1}, m=2, Tx=2)
    with pytest.raises(LstmNumpyError, match="positive"):
        dataset.data_processing(list("abcd"), {"a": 0, "b": 1, "c": 2, "d": 3}, m=0, Tx=2)


# ---------------------------------------------------------------- any file: bars, sources

def on(tick, pitch, channel):
    return tick, mido.Message("note_on", note=pitch, velocity=80, channel=channel)


def off(tick, pitch, channel):
    return tick, mido.Message("note_off", note=pitch, velocity=0, channel=channel)


def events_of(notes, tpq, channel):
    """(offset beats, length beats, pitches) -> note events, ends first at equal ticks."""
    events = []
    for offset, length, pitches in notes:
        for p in pitches:
            events += [on(int(offset * tpq), p, channel), off(int((offset + length) * tpq), p,
                                                             channel)]
    return sorted(events, key=lambda e: (e[0], e[1].type == "note_on"))


def make_track(events, name=None, meta=()):
    out = mido.MidiTrack()
    if name:
        out.append(mido.MetaMessage("track_name", name=name))
    now = 0
    for tick, msg in sorted(list(meta) + list(events), key=lambda e: e[0]):
        out.append(msg.copy(time=tick - now))
        now = tick
    return out


def write(path, tracks, tpq=480, type=1):
    midi = mido.MidiFile(type=type, ticks_per_beat=tpq)
    midi.tracks.extend(tracks)
    midi.save(str(path))
    return path


def sig(tick, numerator, denominator):
    return tick, mido.MetaMessage("time_signature", numerator=numerator, denominator=denominator)


VOICING = (48, 52, 55, 59)


def notes_of(measure):
    return tuple(n for n in measure.melody if not n.is_rest)


def rests_of(measure):
    return [(n.offset, n.duration) for n in measure.melody if n.is_rest]


def test_bars_follow_a_three_four_time_signature(tmp_path):
    tpq = 120
    melody = [(Fraction(b), Fraction(1, 2), (70,)) for b in range(12)]
    chords = [(Fraction(3 * k), Fraction(3), VOICING) for k in range(4)]
    path = write(tmp_path / "waltz.mid", [
        make_track([], meta=[sig(0, 3, 4)]),
        make_track(events_of(melody, tpq, 0), "Melody"),
        make_track(events_of(chords, tpq, 1), "Piano")], tpq)
    measures = dataset.get_measures(path)
    assert [(m.start, m.length, len(notes_of(m)), len(m.chords)) for m in measures] == [
        (0, 3, 3, 1), (3, 3, 3, 1), (6, 3, 3, 1), (9, 3, 3, 1)]
    # each beat is an eighth note and an eighth rest
    assert rests_of(measures[1]) == [(Fraction(k, 2), Fraction(1, 2)) for k in (7, 9, 11)]


def test_time_signature_change_and_an_empty_bar(tmp_path):
    tpq = 96
    # two bars of 4/4, then 3/4 from beat 8; bar 1 (beats 4..8) has no melody
    melody = [(Fraction(0), Fraction(1), (72,)), (Fraction(8), Fraction(1), (74,)),
              (Fraction(11), Fraction(1), (76,))]
    chords = [(Fraction(0), Fraction(2), VOICING), (Fraction(8), Fraction(1), VOICING)]
    path = write(tmp_path / "change.mid", [
        make_track(events_of(melody, tpq, 0) + events_of(chords, tpq, 1), "Both",
                   meta=[sig(0, 4, 4), sig(8 * tpq, 3, 4)])], tpq, type=0)
    measures = dataset.get_measures(path, melody="ch1", chords="ch2")
    assert [(m.start, m.length) for m in measures] == [(0, 4), (8, 3), (11, 3)]
    # beat 11 starts no chord: the chord sounding at its bar line is carried into it
    assert measures[2].chords == (Chord(Fraction(11), Fraction(3), VOICING, 80),)
    assert measures[1].melody == (Note(Fraction(8), Fraction(1), 74, 80),
                                  Note(Fraction(9), Fraction(2), None))


def test_type0_file_with_two_channels_needs_no_options(tmp_path):
    tpq = 384
    melody = [(Fraction(k, 2), Fraction(1, 2), (65 + k % 7,)) for k in range(16)]
    chords = [(Fraction(2 * k), Fraction(2), VOICING) for k in range(4)]
    path = write(tmp_path / "type0.mid", [make_track(
        events_of(melody, tpq, 3) + events_of(chords, tpq, 7), "Song",
        meta=[(0, mido.MetaMessage("set_tempo", tempo=400000)),
              (4 * tpq, mido.MetaMessage("set_tempo", tempo=700000))])], tpq, type=0)
    measures = dataset.get_measures(path)
    assert [len(m.melody) for m in measures] == [8, 8]
    assert [n.pitch for m in measures for n in m.melody] == [65 + k % 7 for k in range(16)]
    assert [len(m.chords) for m in measures] == [2, 2]


def test_melody_double_stops_count_as_their_top_note(tmp_path):
    tpq = 96
    melody = [(Fraction(0), Fraction(1), (64, 67)), (Fraction(1), Fraction(1), (69,))]
    chords = [(Fraction(0), Fraction(4), VOICING)]
    path = write(tmp_path / "stops.mid", [make_track(events_of(melody, tpq, 0), "Guitar"),
                                          make_track(events_of(chords, tpq, 1), "Piano")], tpq)
    measures = dataset.get_measures(path, melody="Guitar", chords="Piano")
    assert [n.pitch for n in measures[0].melody] == [67, 69, None]


def test_several_files_make_one_corpus(tmp_path):
    tpq = 96
    paths = []
    for k, pitch in enumerate((60, 62)):
        melody = [(Fraction(b), Fraction(1), (pitch + b % 3,)) for b in range(8)]
        chords = [(Fraction(4 * b), Fraction(4), VOICING) for b in range(2)]
        paths.append(write(tmp_path / f"f{k}.mid", [
            make_track(events_of(melody, tpq, 0), "Melody"),
            make_track(events_of(chords, tpq, 1), "Piano")], tpq))
    one = [dataset.get_measures(p) for p in paths]
    both = dataset.get_measures(paths)
    assert both == one[0] + one[1] and len(both) == 4
    chords, grammars = dataset.get_musical_data(paths)
    assert len(chords) == len(grammars) == 4
    assert grammars[:2] == dataset.get_musical_data(paths[0])[1]


def test_load_music_utils_on_given_files(tmp_path):
    tpq = 96
    melody = [(Fraction(k, 2), Fraction(1, 2), (60 + (k * 5) % 12,)) for k in range(64)]
    chords = [(Fraction(4 * b), Fraction(4), VOICING) for b in range(8)]
    path = write(tmp_path / "song.mid", [make_track(events_of(melody, tpq, 0), "Melody"),
                                         make_track(events_of(chords, tpq, 1), "Piano")], tpq)
    X, Y, n_values, indices_values = dataset.load_music_utils(path, m=7, Tx=10, seed=3)
    assert X.shape == (7, 10, n_values) and Y.shape == (10, 7, n_values)
    assert sorted(indices_values) == list(range(n_values))
    assert np.array_equal(Y[:-1], X[:, 1:].transpose(1, 0, 2))


def test_load_music_utils_course(course_midi, reference):
    X, Y, n_values, indices_values = lstm_numpy.load_music_utils(course_midi, preset="course")
    assert n_values == 78 and X.shape == (60, 30, 78) and Y.shape == (30, 60, 78)
    assert [indices_values[i] for i in range(78)] == reference["values_sorted"]
    s = reference["data_processing"]["corpus_starts_all60"][0]
    assert [indices_values[k] for k in X[0, 1:].argmax(axis=1)] == reference["corpus"][s + 1:s + 30]


def test_default_corpus(monkeypatch, tmp_path):
    assert dataset.default_corpus_dir().name == "data"
    monkeypatch.setattr(dataset, "default_corpus_dir", lambda: tmp_path / "nowhere")
    with pytest.raises(MidiError, match="nowhere"):
        dataset.default_corpus_paths()
    with pytest.raises(MidiError, match="default corpus"):
        dataset.load_music_utils()


def test_default_corpus_loads_when_present():
    if not list(dataset.default_corpus_dir().glob("*.mid")):
        pytest.skip("the default corpus in data/ has not been written")
    X, Y, n_values, indices_values = dataset.load_music_utils(m=8, Tx=30)
    assert X.shape == (8, 30, n_values) and len(indices_values) == n_values


# ---------------------------------------------------------------- rests

F = Fraction
REST_LENGTHS = {F(1, 4), F(1, 3), F(1, 2), F(2, 3), F(3, 4)}  # the grid's durations under a beat


def one_bar_file(path, melody, tpq=480, bars=1):
    """A 4/4 file: the melody (offset, length, pitch) on channel 1, a C major 7 held every bar."""
    notes = [(offset, length, (pitch,)) for offset, length, pitch in melody]
    chords = [(F(4 * b), F(4), VOICING) for b in range(bars)]
    return write(path, [make_track(events_of(notes, tpq, 0), "Melody"),
                        make_track(events_of(chords, tpq, 1), "Piano")], tpq)


def rest_measures(path, **options):
    return dataset.get_measures(path, melody="Melody", chords="Piano", **options)


def test_rests_fill_the_gaps_of_a_bar(tmp_path):
    path = one_bar_file(tmp_path / "gaps.mid", [
        (F(1), F(1, 2), 60), (F(2), F(1, 2), 62), (F(10, 3), F(1, 3), 64)])
    (measure,) = rest_measures(path)
    # from the bar line to beat 1; the eighth after each of the first two notes, cut at beat 3
    # (an eighth, then the first triplet of the last beat); the last triplet of the bar
    assert rests_of(measure) == [(F(0), F(1)), (F(3, 2), F(1, 2)), (F(5, 2), F(1, 2)),
                                 (F(3), F(1, 3)), (F(11, 3), F(1, 3))]
    assert [n.pitch for n in measure.melody] == [None, 60, None, 62, None, None, 64, None]
    assert sum(n.duration for n in measure.melody) == measure.length
    # the elements follow one another without a hole
    for a, b in zip(measure.melody, measure.melody[1:]):
        assert a.offset + a.duration == b.offset


def test_whole_beats_of_silence_make_one_rest(tmp_path):
    path = one_bar_file(tmp_path / "long.mid", [(F(1, 2), F(1, 2), 67)])
    (measure,) = rest_measures(path)
    assert rests_of(measure) == [(F(0), F(1, 2)), (F(1), F(3))]


def test_no_rest_while_an_earlier_note_still_sounds(tmp_path):
    # 67 rings to beat 2 under the short 69; the silence starts at 2, not at 1.5
    path = one_bar_file(tmp_path / "overlap.mid", [
        (F(0), F(2), 67), (F(1), F(1, 2), 69), (F(3), F(1), 71)])
    (measure,) = rest_measures(path)
    assert [n.pitch for n in measure.melody] == [67, 69, None, 71]
    assert rests_of(measure) == [(F(2), F(1))]


def test_a_note_ringing_over_the_bar_line_delays_the_next_rest(tmp_path):
    path = one_bar_file(tmp_path / "tie.mid", [(F(0), F(3), 60), (F(3), F(2), 62),
                                               (F(11, 2), F(1, 2), 64)], bars=2)
    first, second = rest_measures(path)
    assert rests_of(first) == []  # 62 runs into the next bar
    assert rests_of(second) == [(F(5), F(1, 2)), (F(6), F(2))]


def test_silences_under_a_quarter_beat_are_no_rests(tmp_path):
    # a triplet eighth ending at 1/3, the next note at 1/2: a sixth of a beat apart
    path = one_bar_file(tmp_path / "short.mid", [(F(0), F(1, 3), 60), (F(1, 2), F(7, 2), 62)])
    (measure,) = rest_measures(path)
    assert rests_of(measure) == []


def test_a_silence_after_an_off_grid_end_keeps_to_the_grid(tmp_path):
    # a sixteenth after a triplet ends at 7/12, on neither grid: the twelfth until the next
    # triplet point is the note's release, and the rests are a triplet and a whole beat
    path = one_bar_file(tmp_path / "offgrid.mid", [(F(1, 3), F(1, 4), 60), (F(2), F(2), 62)])
    (measure,) = rest_measures(path)
    assert rests_of(measure) == [(F(0), F(1, 3)), (F(2, 3), F(1, 3)), (F(1), F(1))]


def test_bars_without_melody_stay_skipped(tmp_path):
    path = one_bar_file(tmp_path / "pause.mid", [(F(0), F(1), 60), (F(9), F(1), 62)], bars=3)
    measures = rest_measures(path)
    assert [m.start for m in measures] == [0, 8]
    assert rests_of(measures[0]) == [(F(1), F(3))]
    assert rests_of(measures[1]) == [(F(8), F(1)), (F(10), F(2))]


def test_rests_option_and_presets(tmp_path):
    path = one_bar_file(tmp_path / "option.mid", [(F(1), F(1), 60)])
    with_rests, = rest_measures(path)
    without, = rest_measures(path, rests=False)
    assert without.melody == notes_of(with_rests) and len(with_rests.melody) == 3
    assert rest_measures(path, rests=True) == [with_rests]
    assert dataset.PRESETS["course"].rests is False
    with pytest.raises(LstmNumpyError, match="rests must be True, False or None"):
        rest_measures(path, rests="yes")


def test_rests_become_r_values_and_keep_the_interval_from_the_last_note(tmp_path):
    # C4, a beat and a half of silence, E4: the E is measured from the C (a major third, so
    # <M3 + m3, M3 - m3> = <P5,A1>), as if the rests were not there
    path = one_bar_file(tmp_path / "values.mid", [(F(0), F(1, 2), 60), (F(2), F(1, 2), 64)])
    _, (values,) = dataset.get_musical_data(path, melody="Melody", chords="Piano")
    assert values == "C,0.500 R,0.500 R,1.000 C,0.500,<P5,A1> R,0.500 R,1.000"
    _, (plain,) = dataset.get_musical_data(path, melody="Melody", chords="Piano", rests=False)
    assert plain == "C,0.500 C,0.500,<P5,A1>"


def bar_melodies(grid):
    """Bars of non-overlapping notes whose starts and ends are multiples of ``grid``."""
    steps = int(4 / grid)
    def bar(points):
        cuts = sorted(points)
        return [(F(a) * grid, F(b - a) * grid) for a, b in zip(cuts[::2], cuts[1::2])]
    one_bar = st.sets(st.integers(0, steps), min_size=2, max_size=10).map(
        lambda points: bar(points if len(points) % 2 == 0 else sorted(points)[:-1]))
    return st.lists(one_bar, min_size=1, max_size=3)


@given(st.data())
@settings(max_examples=25, deadline=None)
def test_on_one_grid_the_values_of_each_bar_cover_it(data):
    import tempfile
    from pathlib import Path

    grid = data.draw(st.sampled_from([F(1, 4), F(1, 3), F(1, 2)]))
    bars = data.draw(bar_melodies(grid))
    melody = [(4 * b + offset, length, 60 + k % 12)
              for b, notes in enumerate(bars) for k, (offset, length) in enumerate(notes)]
    with tempfile.TemporaryDirectory() as folder:
        path = one_bar_file(Path(folder) / "grid.mid", melody, bars=len(bars))
        measures = rest_measures(path)
        _, grammars = dataset.get_musical_data(path, melody="Melody", chords="Piano")
    assert len(measures) == len(grammars) == len(bars)
    for measure, notes, values in zip(measures, bars, grammars):
        assert [(n.offset - measure.start, n.duration) for n in notes_of(measure)] == notes
        # rests fill the bar exactly: every element starts where the one before it ended
        assert measure.melody[0].offset == measure.start
        for a, b in zip(measure.melody, measure.melody[1:]):
            assert a.offset + a.duration == b.offset
        assert sum(n.duration for n in measure.melody) == measure.length == 4
        for rest in measure.melody:
            if rest.is_rest:
                assert rest.duration in REST_LENGTHS or rest.duration.denominator == 1
                # a rest crosses a beat line only by whole beats
                assert rest.duration.denominator == 1 or (
                    rest.offset // 1 == (rest.offset + rest.duration - F(1, 1000)) // 1)
        # one value per element, and the values' printed durations add up to the bar
        assert len(values.split(" ")) == len(measure.melody)
        assert sum(float(v.split(",")[1]) for v in values.split(" ")) == pytest.approx(4, abs=0.01)
        assert [v.startswith("R,") for v in values.split(" ")] == [
            n.is_rest for n in measure.melody]


GRID_POINTS = st.one_of(st.integers(0, 15).map(lambda k: F(k, 4)),
                        st.integers(0, 11).map(lambda k: F(k, 3)))
GRID_LENGTHS = st.one_of(st.integers(1, 8).map(lambda k: F(k, 4)),
                         st.integers(1, 6).map(lambda k: F(k, 3)))


@given(st.lists(st.tuples(GRID_POINTS, GRID_LENGTHS), min_size=1, max_size=12))
@settings(max_examples=60, deadline=None)
def test_rests_fill_each_silence_of_a_bar_and_nothing_else(pieces):
    # notes as the reader makes them: starts and lengths on the 1/4 and 1/3 grids, so ends may
    # fall on neither (1/3 + 1/4 = 7/12); overlapping or not, some ringing past the bar line
    notes = tuple(sorted((Note(a, d, 60 + k) for k, (a, d) in enumerate(pieces)),
                         key=lambda n: n.offset))
    measure = dataset.Measure(F(0), F(4), notes, (Chord(F(0), F(4), VOICING),))
    (filled,) = dataset.with_rests([measure], list(notes))
    assert notes_of(filled) == notes
    rests = [n for n in filled.melody if n.is_rest]
    silences, silent_from = [], F(0)
    for note in notes:
        if note.offset > silent_from:
            silences.append((silent_from, note.offset))
        silent_from = max(silent_from, note.offset + note.duration)
    if silent_from < 4:
        silences.append((silent_from, F(4)))
    placed = 0
    for a, b in silences:
        inside = [r for r in rests if a <= r.offset < b]
        placed += len(inside)
        if b - a < F(1, 4):
            assert inside == []
            continue
        # rests on the grid's durations, one after another up to the end of the silence, and
        # short of its start by at most a sixth of a beat (the release of an off-grid end)
        assert all(r.duration in REST_LENGTHS or r.duration.denominator == 1 for r in inside)
        assert inside[-1].offset + inside[-1].duration == b
        for r, s in zip(inside, inside[1:]):
            assert r.offset + r.duration == s.offset
        assert a <= inside[0].offset <= a + F(1, 6)
    assert placed == len(rests)  # every rest lies in a silence


def test_the_default_corpus_has_rests():
    if not list(dataset.default_corpus_dir().glob("*.mid")):
        pytest.skip("the default corpus in data/ has not been written")
    measures = dataset.get_measures(dataset.default_corpus_paths())
    _, grammars = dataset.get_musical_data(dataset.default_corpus_paths())
    corpus, _, _, _ = dataset.get_corpus_data(grammars)
    assert sum(v.startswith("R,") for v in corpus) > 0
    # the improviser writes one note at a time on the grid, so a bar is covered exactly unless a
    # note rings into it from the bar before or out of it into the next
    exact = 0
    for measure in measures:
        rings_in = measure.melody[0].offset > measure.start  # a held note fills the bar line
        rings_out = any(n.offset + n.duration > measure.start + measure.length
                        for n in measure.melody)
        if not rings_in and not rings_out:
            assert sum(n.duration for n in measure.melody) == measure.length
            exact += 1
    assert exact > len(measures) / 2


def test_the_course_preset_still_has_no_rests(course_midi):
    _, grammars = dataset.get_musical_data(course_midi, preset="course")
    assert not any(v.startswith("R,") for g in grammars for v in g.split(" "))


# ---------------------------------------------------------------- bad input through the pipeline

def test_pipeline_errors_name_the_file(tmp_path):
    tpq = 96
    melody = [(Fraction(b), Fraction(1), (72,)) for b in range(4)]
    lone = write(tmp_path / "lone.mid", [make_track(events_of(melody, tpq, 0), "Melody")], tpq)
    with pytest.raises(MidiError, match="lone.mid.*no chords"):
        dataset.get_measures(lone)
    with pytest.raises(MidiError, match="lone.mid.*never plays two or more notes"):
        dataset.get_measures(lone, chords="Melody")
    with pytest.raises(MidiError, match="lone.mid.*no track is named 'Sax'"):
        dataset.get_measures(lone, melody="Sax", chords="Melody")
    with pytest.raises(MidiError, match="No MIDI files"):
        dataset.get_measures([])
    with pytest.raises(LstmNumpyError, match="Unknown preset"):
        dataset.get_measures(lone, preset="metheny")
    with pytest.raises(LstmNumpyError, match="window"):
        dataset.get_measures(lone, window=(8, 4))
    with pytest.raises(MidiError, match="lone.mid.*in the window"):
        dataset.get_measures(lone, melody="Melody", chords="Melody", window=(100, 200))


def test_short_corpus_is_a_clear_error(tmp_path):
    tpq = 96
    melody = [(Fraction(b), Fraction(1), (72,)) for b in range(4)]
    chords = [(Fraction(0), Fraction(4), VOICING)]
    path = write(tmp_path / "short.mid", [make_track(events_of(melody, tpq, 0), "Melody"),
                                          make_track(events_of(chords, tpq, 1), "Piano")], tpq)
    with pytest.raises(LstmNumpyError, match="4 values, too few for windows of Tx=30"):
        dataset.load_music_utils(path)


def test_the_course_grouping_refusal_speaks_the_command_lines_words():
    notes = [Note(Fraction(0), Fraction(1), 60), Note(Fraction(4), Fraction(1), 62)]
    chords = [Chord(Fraction(0), Fraction(4), (48, 52, 55))]
    with pytest.raises(MidiError, match="without --preset course") as caught:
        dataset._course_measures(notes, chords, "solo.mid")
    assert "preset=" not in str(caught.value)
