"""Tests of the MIDI reader and writer (lstm_numpy.midi_io).

Small files are built here with mido directly, message by message, so the reader is checked
against what was written, not against itself.
"""

from fractions import Fraction
from pathlib import Path

import mido
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lstm_numpy import dataset, midi_io, smf
from lstm_numpy.errors import MidiError
from lstm_numpy.notes import Chord, Note

FUZZ = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


# ---------------------------------------------------------------- building files with mido

def on(tick, pitch, velocity=90, channel=0):
    return tick, mido.Message("note_on", note=pitch, velocity=velocity, channel=channel)


def off(tick, pitch, channel=0, as_note_on=False):
    if as_note_on:
        return tick, mido.Message("note_on", note=pitch, velocity=0, channel=channel)
    return tick, mido.Message("note_off", note=pitch, velocity=0, channel=channel)


def track(name=None, events=(), meta=()):
    """A mido track from (absolute tick, message) pairs, sorted stably by tick."""
    timed = sorted(list(meta) + list(events), key=lambda e: e[0])
    out = mido.MidiTrack()
    if name is not None:
        out.append(mido.MetaMessage("track_name", name=name, time=0))
    now = 0
    for tick, msg in timed:
        out.append(msg.copy(time=tick - now))
        now = tick
    return out


def notes_events(notes, tpq, channel=0):
    """(offset, duration, pitch) in beats -> note_on / note_off events."""
    events = []
    for offset, duration, pitch in notes:
        events.append(on(int(offset * tpq), pitch, channel=channel))
        events.append(off(int((offset + duration) * tpq), pitch, channel=channel))
    # at one tick, ends before starts (a repeated pitch must end before it starts again)
    return sorted(events, key=lambda e: (e[0], e[1].type == "note_on"))


def save(path, tracks, tpq=480, type=1):
    midi = mido.MidiFile(type=type, ticks_per_beat=tpq)
    midi.tracks.extend(tracks)
    midi.save(str(path))
    return path


def four_four(bpm=120):
    """Tempo and a 4/4 time signature at tick 0 (meta events do not depend on the resolution)."""
    return [(0, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm))),
            (0, mido.MetaMessage("time_signature", numerator=4, denominator=4))]


def voicings(bars, tpq, channel=1):
    """Four-note voicings on beats 1 and 3 of each bar."""
    events = []
    for bar in range(bars):
        for beat in (0, 2):
            start = (4 * bar + beat) * tpq
            for pitch in (48, 52, 55, 59):
                events += [on(start, pitch, channel=channel),
                           off(start + 2 * tpq - 1, pitch, channel=channel)]
    return sorted(events, key=lambda e: (e[0], e[1].type == "note_on"))


def scale_line(bars, tpq, low=67, channel=0, step=Fraction(1, 2)):
    notes, t, k = [], Fraction(0), 0
    while t < 4 * bars:
        notes.append((t, step, low + (k % 8)))
        t += step
        k += 1
    return notes_events(notes, tpq, channel)


def default_layout(path, tpq=480, bars=4, with_bass=True):
    """The layout of the project's corpus: meta, 'Melody' ch0, 'Piano' ch1, optional 'Bass' ch2."""
    tracks = [track(None, meta=four_four()),
              track("Melody", scale_line(bars, tpq)),
              track("Piano", voicings(bars, tpq))]
    if with_bass:
        bass = notes_events([(Fraction(b), Fraction(1), 36 + b % 5) for b in range(4 * bars)],
                            tpq, channel=2)
        tracks.append(track("Bass", bass))
    return save(path, tracks, tpq)


# ---------------------------------------------------------------- quantization

def grid_oracle(x: Fraction) -> Fraction:
    """Nearest point of the 1/4 and 1/3 grids by brute force, per the specification's rules."""
    best = None
    for d in (4, 3):
        below = Fraction(int(x * d // 1), d)
        above = below + Fraction(1, d)
        nearest = below if x - below <= above - x else above
        key = (round(float(abs(nearest - x)), 7), nearest)
        best = key if best is None or key < best else best
    return best[1]


@given(st.integers(-10_000, 100_000), st.sampled_from([1, 24, 96, 120, 480, 960, 1000]))
@settings(max_examples=200, deadline=None)
def test_quantize_matches_the_grid_rules(ticks, tpq):
    q = midi_io.quantize(ticks, tpq)
    assert q == grid_oracle(Fraction(ticks, tpq))
    assert (q * 4).denominator == 1 or (q * 3).denominator == 1
    assert abs(q - Fraction(ticks, tpq)) <= Fraction(1, 8)


def test_quantize_examples_from_the_specification():
    assert midi_io.quantize(10, 100) == 0  # durations under 1/8 beat vanish
    assert midi_io.quantize(28, 96) == Fraction(1, 4)  # 7/24: equal errors, the smaller wins
    assert midi_io.quantize(64, 96) == Fraction(2, 3)
    assert midi_io.quantize(12, 96) == 0  # exactly half-way to 1/4: the lower one


# ---------------------------------------------------------------- pairing, chords, voices

def note_events(timed):
    """(tick, mido message) pairs as the reader passes them to pair_notes."""
    return [smf.note_event(tick, msg) for tick, msg in timed]


def test_pairing_quirk_a_repeated_note_on_ends_the_previous_note():
    events = [on(0, 60), on(10, 60), off(20, 60), on(30, 60), off(40, 60, as_note_on=True)]
    notes = midi_io.pair_notes(note_events(events))
    # the second note-on is used up as an end; the note-off at 20 then ends nothing
    assert [(n.start, n.end) for n in notes] == [(0, 10), (30, 40)]


def test_pairing_respects_channels_and_drops_unended_notes():
    events = [on(0, 60, channel=0), on(5, 60, channel=1), off(10, 60, channel=1),
              on(12, 62), off(20, 60, channel=0), on(30, 64)]
    notes = midi_io.pair_notes(note_events(events))
    assert [(n.start, n.end, n.channel, n.pitch) for n in notes] == [
        (0, 20, 0, 60), (5, 10, 1, 60)]  # 62 and 64 are never ended


def raw(start, end, pitch, order):
    return midi_io.RawNote(start, end, pitch, 90, 0, 0, order)


def test_chord_grouping_tolerance_and_a_note_shared_by_two_chords():
    tpq = 96  # tolerance 6 ticks
    notes = [raw(0, 100, 60, 0), raw(6, 106, 64, 1), raw(7, 100, 67, 2),
             raw(200, 280, 50, 3), raw(200, 272, 55, 4), raw(201, 275, 57, 5),
             raw(202, 260, 59, 6)]
    elements, needs_voices = midi_io.group_chords(notes, tpq)
    # 64 starts and ends within 6 ticks of 60; 67 starts 7 ticks after 60, too far. Chord length
    # is first end - last onset: 100 - 6 = 94 ticks -> 1 beat. 57 ends within 6 ticks of both 50
    # and 55, so it joins both chords (music21 5.x did this on the course's piano); 55 (8 ticks
    # from 50's end) and 59 match no chord and stay apart, which makes the track need voices.
    assert elements == [
        Chord(Fraction(0), Fraction(1), (60, 64), 90),
        Note(Fraction(0), Fraction(1), 67, 90),  # 7 ticks -> 0; 93 ticks -> 1 beat
        Chord(Fraction(2), Fraction(3, 4), (50, 57), 90),  # 200 ticks -> 2; 280 - 201 -> 3/4
        Chord(Fraction(2), Fraction(3, 4), (55, 57), 90),  # 272 - 201 = 71 ticks -> 3/4
        Note(Fraction(2), Fraction(2, 3), 59, 90),  # 58 ticks = 0.604 -> 2/3
    ]
    assert needs_voices


def test_voices_keep_the_float_quirk_on_triplet_points():
    end = Fraction(184, 3)  # float(184/3) rounds upwards
    a = Note(Fraction(60), end - 60, 60)
    b = Note(end, Fraction(1, 3), 62)
    c = Note(Fraction(62), Fraction(1), 64)
    voices = midi_io.split_voices([a, b, c])
    assert voices == [[a, c], [b]]
    quarter = Note(Fraction(61), Fraction(1, 4), 65)  # ends on 61.25, exact in binary
    after = Note(Fraction(245, 4), Fraction(1, 4), 67)
    assert midi_io.split_voices([quarter, after]) == [[quarter, after]]


grid = st.builds(lambda k, d: Fraction(k, d), st.integers(0, 48), st.sampled_from([3, 4]))


@given(st.lists(st.tuples(grid, grid, st.integers(40, 90)), max_size=25))
@settings(max_examples=80, deadline=None)
def test_voices_merge_back_to_offset_order(items):
    elements = [Note(o, d, p) for o, d, p in items]
    voices = midi_io.split_voices(elements)
    assert sorted(map(id, elements)) == sorted(id(e) for v in voices for e in v)
    for voice in voices:  # within a voice nothing overlaps (up to the float quirk)
        for x, y in zip(voice, voice[1:]):
            assert float(x.offset + x.duration) <= y.offset or x.offset + x.duration <= y.offset
    assert midi_io.merge_voices(voices) == sorted(elements, key=lambda e: e.offset)


def test_course_file_voice_split_matches_the_specification(course_midi):
    score = midi_io.read_midi(course_midi)
    assert score.ticks_per_beat == 96 and score.track_names[11] == "Guitar"
    sizes = {}
    for number in (11, 6):
        elements, needs_voices = midi_io.group_chords(
            midi_io.select_notes(score, number, "melody"), 96)
        assert needs_voices
        sizes[number] = [len(v) for v in midi_io.split_voices(elements)]
    assert sizes == {11: [1045, 61], 6: [475, 206, 53, 31, 4]}


# ---------------------------------------------------------------- selectors and automatic choice

@pytest.mark.parametrize("text, expected", [
    (11, midi_io.Selector(track=11)),
    ("11", midi_io.Selector(track=11)),
    (" Guitar ", midi_io.Selector(name="Guitar")),
    ("ch6", midi_io.Selector(channel=5)),
    ("Channel 10", midi_io.Selector(channel=9)),
    ("channel:1", midi_io.Selector(channel=0)),
    ("Piano/ch2", midi_io.Selector(name="Piano", channel=1)),
    ("0/ch2", midi_io.Selector(track=0, channel=1)),
    ("Bach 2", midi_io.Selector(name="Bach 2")),
    ("Church Organ", midi_io.Selector(name="Church Organ")),
])
def test_parse_selector(text, expected):
    assert midi_io.parse_selector(text) == expected


@pytest.mark.parametrize("text", ["ch0", "ch17", "", "  ", -1, 2.5, None, True])
def test_parse_selector_rejects_nonsense(text):
    with pytest.raises(MidiError):
        midi_io.parse_selector(text)


def test_select_by_index_name_and_channel(tmp_path):
    path = default_layout(tmp_path / "layout.mid")
    score = midi_io.read_midi(path)
    by_index = midi_io.select_notes(score, "2", "chords")
    assert by_index == midi_io.select_notes(score, "PIANO", "chords")
    assert by_index == midi_io.select_notes(score, "ch2", "chords")
    assert {n.track for n in by_index} == {2}
    for bad in ("7", "Organ", "ch10", "ch9", "Piano/ch1"):
        with pytest.raises(MidiError, match="layout.mid"):
            midi_io.select_notes(score, bad, "chords")


@pytest.mark.parametrize("with_bass", [True, False])
def test_automatic_choice_on_the_corpus_layout(tmp_path, with_bass):
    score = midi_io.read_midi(default_layout(tmp_path / "song.mid", with_bass=with_bass))
    melody, chords = midi_io.choose_sources(score)
    assert (melody.track, melody.channel) == (1, 0)
    assert (chords.track, chords.channel) == (2, 1)


def test_automatic_choice_fills_in_only_the_missing_role(tmp_path):
    score = midi_io.read_midi(default_layout(tmp_path / "song.mid"))
    melody, chords = midi_io.choose_sources(score, chords="ch2")
    assert (melody.track, chords) == (1, midi_io.Selector(channel=1))
    melody, chords = midi_io.choose_sources(score, melody="Melody")
    assert (melody, chords.track) == (midi_io.Selector(name="Melody"), 2)
    # the only chordal part is taken: it is split into its top line and the voicing below
    melody, chords = midi_io.choose_sources(score, melody="Piano")
    assert (melody, chords) == (midi_io.Selector(name="Piano", layer="top"),
                                midi_io.Selector(name="Piano", layer="below"))


def test_automatic_choice_in_a_type0_file_and_drums_never(tmp_path):
    tpq = 96
    drums = [e for b in range(16) for e in (on(b * tpq, 42, channel=9), on(b * tpq, 36, channel=9),
                                            off(b * tpq + 10, 42, channel=9),
                                            off(b * tpq + 10, 36, channel=9))]
    events = scale_line(4, tpq, channel=3) + voicings(4, tpq, channel=4) + drums
    path = save(tmp_path / "type0.mid", [track("All", events, meta=four_four())], tpq, type=0)
    score = midi_io.read_midi(path)
    assert score.type == 0
    melody, chords = midi_io.choose_sources(score)
    assert (melody.track, melody.channel, chords.track, chords.channel) == (0, 3, 0, 4)
    assert all(s.selector.channel != 9 for s in midi_io.source_stats(score))


def test_course_file_automatic_choice_is_guitar_over_piano(course_midi):
    melody, chords = midi_io.choose_sources(midi_io.read_midi(course_midi))
    assert (melody.track, chords.track) == (11, 6)


def test_corpus_files_in_data_are_read_without_options():
    files = sorted((Path(__file__).resolve().parents[1] / "data").glob("*.mid"))
    if not files:
        pytest.skip("the default corpus in data/ has not been written")
    for path in files[:3]:
        score = midi_io.read_midi(path)
        melody, chords = midi_io.choose_sources(score)
        names = [n.casefold() for n in score.track_names]
        assert names[melody.track] not in ("piano", "bass")
        assert names[chords.track] == "piano"


# ---------------------------------------------------------------- reading real-world variations

def test_tempo_changes_and_ticks_per_beat_do_not_move_notes(tmp_path):
    notes = [(Fraction(0), Fraction(1), 60), (Fraction(4, 3), Fraction(1, 3), 62),
             (Fraction(9, 4), Fraction(3, 4), 64), (Fraction(5), Fraction(2), 65)]
    seen = []
    for tpq in (96, 120, 384, 1000):
        meta = four_four(bpm=90) + [(3 * tpq, mido.MetaMessage("set_tempo",
                                                               tempo=mido.bpm2tempo(200)))]
        path = save(tmp_path / f"t{tpq}.mid", [track(None, meta=meta),
                                               track("Line", notes_events(notes, tpq))], tpq)
        score = midi_io.read_midi(path)
        seen.append(midi_io.part_elements(midi_io.select_notes(score, 1, "melody"), tpq))
    expected = [Note(o, d, p, 90) for o, d, p in notes]
    assert all(s == expected for s in seen)


def test_time_signatures_are_read(tmp_path):
    meta = [(0, mido.MetaMessage("time_signature", numerator=3, denominator=4)),
            (12 * 96, mido.MetaMessage("time_signature", numerator=6, denominator=8))]
    path = save(tmp_path / "waltz.mid", [track(None, meta=meta),
                                         track("Line", scale_line(4, 96))], 96)
    signatures = midi_io.read_midi(path).time_signatures
    assert [(s.tick, s.bar_length) for s in signatures] == [(0, 3), (1152, 3)]


def test_no_time_signature_means_four_four(tmp_path):
    path = save(tmp_path / "plain.mid", [track("Line", scale_line(1, 96))], 96)
    assert [(s.tick, s.bar_length) for s in midi_io.read_midi(path).time_signatures] == [(0, 4)]


# ---------------------------------------------------------------- round trips

def monophonic_lines():
    """Non-overlapping notes on the 1/12-beat grid, each at least a sixteenth long."""
    step = st.tuples(st.integers(0, 24), st.integers(3, 36), st.integers(21, 108),
                     st.integers(1, 127))
    return st.lists(step, min_size=1, max_size=30)


def layout(steps):
    notes, t = [], Fraction(0)
    for gap, length, pitch, velocity in steps:
        t += Fraction(gap, 12)
        notes.append(Note(t, Fraction(length, 12), pitch, velocity))
        t += Fraction(length, 12)
    return notes


def on_grid(x):
    return (x * 4).denominator == 1 or (x * 3).denominator == 1


@given(monophonic_lines(), st.sampled_from([96, 120, 480, 960]))
@FUZZ
def test_notes_written_with_mido_read_back(tmp_path, steps, tpq):
    notes = layout(steps)
    events = []
    for n in notes:
        events += [(int(n.offset * tpq), mido.Message("note_on", note=n.pitch,
                                                       velocity=n.velocity)),
                   off(int((n.offset + n.duration) * tpq), n.pitch)]
    events.sort(key=lambda e: (e[0], e[1].type == "note_on"))
    path = save(tmp_path / "line.mid", [track("Line", events)], tpq)
    score = midi_io.read_midi(path)
    got = midi_io.part_elements(midi_io.select_notes(score, 0, "melody"), tpq)
    # on the grid a note reads back unchanged; off it, it snaps to the nearest grid point
    expected = [Note(midi_io.quantize(int(n.offset * tpq), tpq),
                     midi_io.quantize(int(n.duration * tpq), tpq), n.pitch, n.velocity)
                for n in notes]
    assert got == expected
    assert all(g == n for g, n in zip(got, notes) if on_grid(n.offset) and on_grid(n.duration))


@given(monophonic_lines(), st.integers(1, 8))
@FUZZ
def test_write_midi_round_trip(tmp_path, steps, bars):
    melody = [n for n in layout(steps) if on_grid(n.offset) and on_grid(n.duration)]
    chords = [Chord(Fraction(2 * k), Fraction(2), (48 + k % 3, 52, 55, 59), 70)
              for k in range(2 * bars)]
    path = midi_io.write_midi(tmp_path / "out" / "solo.mid", melody + [Note(Fraction(1), 1, None)],
                              chords, tempo_bpm=130)
    score = midi_io.read_midi(path)
    assert score.type == 1 and score.track_names == ["", "Melody", "Piano"]
    assert [(s.tick, s.bar_length) for s in score.time_signatures] == [(0, 4)]
    read_chords = midi_io.part_elements(midi_io.select_notes(score, "Piano", "chords"), 480)
    assert read_chords == chords
    if melody:
        read_melody = midi_io.part_elements(midi_io.select_notes(score, "melody", "melody"), 480)
        assert read_melody == melody
    assert [p.name for p in path.parent.iterdir()] == ["solo.mid"]  # no temporary file left


def test_write_midi_rejects_bad_options(tmp_path):
    for options in ({"ticks_per_beat": 0}, {"tempo_bpm": 0}, {"melody_channel": 16},
                    {"chord_program": 128}):
        with pytest.raises(MidiError):
            midi_io.write_midi(tmp_path / "x.mid", [Note(Fraction(0), Fraction(1), 60)], [],
                               **options)
    assert not (tmp_path / "x.mid").exists()


@pytest.mark.parametrize("melody, chords, options", [
    ([Note(Fraction(0), Fraction(1), 128)], [], {}),
    ([], [Chord(Fraction(0), Fraction(2), (60, -1))], {}),
    ([Note(Fraction(0), Fraction(1), 60)], [], {"time_signature": (4, 3)}),
    ([Note(Fraction(0), Fraction(1), 60)], [], {"time_signature": (0, 4)}),
])
def test_write_midi_refuses_what_a_midi_file_cannot_hold(tmp_path, melody, chords, options):
    with pytest.raises(MidiError, match="x.mid"):
        midi_io.write_midi(tmp_path / "x.mid", melody, chords, **options)
    assert not (tmp_path / "x.mid").exists()


@pytest.mark.parametrize("tempo_bpm", [3, 1e9, float("inf"), float("nan")])
def test_write_midi_refuses_a_tempo_a_midi_file_cannot_hold(tmp_path, tempo_bpm):
    # a MIDI tempo is a whole number of microseconds per beat, from 1 to 2**24 - 1: 3 bpm
    # would need 20 000 000, and 1e9 bpm rounds to 0
    with pytest.raises(MidiError, match="tempo"):
        midi_io.write_midi(tmp_path / "x.mid", [Note(Fraction(0), Fraction(1), 60)],
                           tempo_bpm=tempo_bpm)
    assert not (tmp_path / "x.mid").exists()
    assert midi_io.write_midi(tmp_path / "ok.mid", [], tempo_bpm=4).exists()  # 15 000 000 fits


# ---------------------------------------------------------------- bad input

def header(tpq_bytes: bytes) -> bytes:
    return b"MThd" + (6).to_bytes(4, "big") + b"\x00\x01\x00\x01" + tpq_bytes


def read_error(path) -> str:
    with pytest.raises(MidiError) as info:
        midi_io.read_midi(path)
    message = str(info.value)
    assert str(path) in message and message.count("\n") == 0
    return message


def test_bad_input_messages(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("C D E F G")
    assert "not a MIDI file" in read_error(text)

    good = default_layout(tmp_path / "good.mid")
    cut = tmp_path / "cut.mid"
    cut.write_bytes(good.read_bytes()[:200])
    assert "truncated" in read_error(cut)

    track_bytes = good.read_bytes()[14:]
    for name, tpq in (("zero.mid", b"\x00\x00"), ("smpte.mid", b"\xe7\x28")):
        (tmp_path / name).write_bytes(header(tpq) + track_bytes)
        assert "ticks per beat" in read_error(tmp_path / name)

    empty = save(tmp_path / "empty.mid", [track("Nothing", meta=four_four())])
    assert "no notes" in read_error(empty)

    assert "no such file" in read_error(tmp_path / "missing.mid")
    assert "cannot be read" in read_error(tmp_path)  # a folder


def test_drums_only_and_no_chords_are_explained(tmp_path):
    drums = [e for b in range(8) for e in (on(b * 480, 38, channel=9),
                                           off(b * 480 + 60, 38, channel=9))]
    path = save(tmp_path / "drums.mid", [track("Kit", drums)])
    with pytest.raises(MidiError, match="only drum notes") as info:
        midi_io.choose_sources(midi_io.read_midi(path))
    assert "drums.mid" in str(info.value)

    path = save(tmp_path / "solo.mid", [track("Sax", scale_line(2, 480)),
                                        track("Bass", scale_line(2, 480, low=36, channel=2))])
    with pytest.raises(MidiError, match="no chords") as info:
        midi_io.choose_sources(midi_io.read_midi(path))
    assert "solo.mid" in str(info.value)


# ---------------------------------------------------------------- fuzzing

def reader_survives(path):
    """Reading, choosing sources, grouping and cutting into measures fail only with MidiError."""
    try:
        score = midi_io.read_midi(path)
        for source in midi_io.choose_sources(score):
            midi_io.part_elements(midi_io.select_notes(score, source, "melody"),
                                  score.ticks_per_beat)
    except MidiError:
        pass
    try:
        dataset.get_measures(path)
    except MidiError:
        pass


@given(st.binary(max_size=400))
@FUZZ
def test_random_bytes_raise_only_midi_error(tmp_path, data):
    path = tmp_path / "random.mid"
    path.write_bytes(data)
    reader_survives(path)
    path.write_bytes(b"MThd" + data)  # get past the first check
    reader_survives(path)


@pytest.fixture(scope="module")
def valid_bytes(tmp_path_factory):
    path = default_layout(tmp_path_factory.mktemp("fuzz") / "valid.mid", tpq=96, bars=2)
    return path.read_bytes()


@given(st.data())
@FUZZ
def test_mutated_files_raise_only_midi_error(tmp_path, valid_bytes, data):
    content = bytearray(valid_bytes)
    for _ in range(data.draw(st.integers(1, 8))):
        kind = data.draw(st.sampled_from(["set", "delete", "insert", "truncate"]))
        at = data.draw(st.integers(0, max(len(content) - 1, 0)))
        if kind == "set" and content:
            content[at] = data.draw(st.integers(0, 255))
        elif kind == "delete" and content:
            del content[at]
        elif kind == "insert":
            content[at:at] = data.draw(st.binary(min_size=1, max_size=8))
        else:
            del content[at:]
    path = tmp_path / "mutated.mid"
    path.write_bytes(bytes(content))
    reader_survives(path)


def test_files_beyond_the_size_and_note_limits_are_refused_in_one_sentence(tmp_path, monkeypatch):
    path = default_layout(tmp_path / "long.mid", tpq=96, bars=2)
    monkeypatch.setattr(midi_io, "MAX_NOTES", 5)
    with pytest.raises(MidiError, match="more than 5 notes") as caught:
        midi_io.read_midi(path)
    assert str(path) in str(caught.value)
    monkeypatch.setattr(midi_io, "MAX_FILE_BYTES", 40)
    with pytest.raises(MidiError, match="limit 40"):
        midi_io.read_midi(path)


FUZZ_MUTANTS = 1200


def mutate(content: bytearray, rng: np.random.Generator) -> bytes:
    """One to eight random edits: a byte set, deleted or inserted, a run duplicated, or a cut."""
    content = bytearray(content)
    for _ in range(int(rng.integers(1, 9))):
        at = int(rng.integers(0, max(len(content), 1)))
        kind = rng.integers(0, 6)
        if kind == 0 and content:
            content[at] = int(rng.integers(0, 256))
        elif kind == 1 and content:
            content[at] ^= 1 << int(rng.integers(0, 8))  # a flipped bit: lengths, running status
        elif kind == 2 and content:
            del content[at]
        elif kind == 3:
            content[at:at] = rng.integers(0, 256, int(rng.integers(1, 9)), dtype=np.uint8).tobytes()
        elif kind == 4:
            content[at:at] = content[at : at + int(rng.integers(1, 32))]
        else:
            del content[at:]
    return bytes(content)


def test_a_thousand_seeded_mutants_raise_only_midi_error(tmp_path):
    """The reader on 1,200 damaged files, the same ones every run: each is read or refused with a
    MidiError, never another exception. The originals are small files of three layouts."""
    originals = [default_layout(tmp_path / "corpus.mid", tpq=96, bars=2).read_bytes(),
                 default_layout(tmp_path / "nobass.mid", tpq=480, bars=1, with_bass=False).read_bytes(),
                 save(tmp_path / "type0.mid", [track(None, scale_line(2, 120) + voicings(2, 120, channel=1),
                                                     meta=four_four())], 120, type=0).read_bytes()]
    rng = np.random.default_rng(2024)
    path = tmp_path / "mutant.mid"
    outcomes = {"read": 0, "refused": 0}
    for k in range(FUZZ_MUTANTS):
        path.write_bytes(mutate(bytearray(originals[k % len(originals)]), rng))
        try:
            dataset.get_measures(path)
            outcomes["read"] += 1
        except MidiError:
            outcomes["refused"] += 1
    # both kinds occur, so the mutants are neither all harmless nor all hopeless
    assert outcomes["read"] > 50 and outcomes["refused"] > 50, outcomes
