"""Choosing a file's melody and chord parts: instruments, coverage, solo piano, melody-only files.

Each file is built here with mido, part by part, so what the reader chooses is checked against
what was written: the parts' General MIDI programs, track names, registers and lengths are the
evidence the choice must weigh.
"""

import subprocess
import sys
from dataclasses import asdict
from fractions import Fraction
from types import SimpleNamespace

import mido
import pytest

from lstm_numpy import dataset, evaluate, midi_io, train
from lstm_numpy.changes import chord_pitches
from lstm_numpy.errors import LstmNumpyError, MidiError

TPQ = 480


def midi_file(path, parts, meter=(4, 4), bars_of_silence=0):
    """Write parts as a type 1 file: a meta track, then one track per part.

    parts: (name or None, program or None, channel counted 1..16, notes), notes being
    (offset in beats, duration in beats, pitch) tuples.
    """
    midi = mido.MidiFile(type=1, ticks_per_beat=TPQ)
    midi.tracks.append(mido.MidiTrack([
        mido.MetaMessage("time_signature", numerator=meter[0], denominator=meter[1], time=0)]))
    for name, program, channel, notes in parts:
        events = []
        for offset, duration, pitch in notes:
            events.append((round(offset * TPQ), 1, mido.Message(
                "note_on", channel=channel - 1, note=pitch, velocity=90)))
            events.append((round((offset + duration) * TPQ), 0, mido.Message(
                "note_off", channel=channel - 1, note=pitch, velocity=0)))
        events.sort(key=lambda e: e[:2])
        track = mido.MidiTrack()
        if name is not None:
            track.append(mido.MetaMessage("track_name", name=name, time=0))
        if program is not None:
            track.append(mido.Message("program_change", channel=channel - 1, program=program))
        now = 0
        for tick, _, msg in events:
            track.append(msg.copy(time=tick - now))
            now = tick
        midi.tracks.append(track)
    midi.save(str(path))
    return path


def line(first_bar, bars, low, step=Fraction(1, 2), beats=4):
    """A monophonic line of even notes climbing and falling over an octave from ``low``."""
    shape = [0, 2, 4, 5, 7, 9, 11, 12, 11, 9, 7, 5, 4, 2]
    count = int(bars * beats / step)
    return [(first_bar * beats + k * step, step, low + shape[k % len(shape)])
            for k in range(count)]


def comping(bars, voicing=(48, 52, 55, 59), beats=4):
    """A voicing struck on every other beat, held two beats (one beat for the last of a bar)."""
    return [(bar * beats + beat, min(2, beats - beat), pitch)
            for bar in range(bars) for beat in range(0, beats, 2) for pitch in voicing]


def chosen(path):
    """(melody, chords) chosen automatically, as (track, channel 1..16, layer) each."""
    melody, chords = midi_io.choose_sources(midi_io.read_midi(path))
    return [(s.track, s.channel + 1, s.layer) for s in (melody, chords)]


# ---------------------------------------------------------------- what the file says about parts

def test_instrument_kind_from_names_and_programs():
    assert midi_io.instrument_kind("", 66) == "winds"  # Tenor Sax
    assert midi_io.instrument_kind("", 11) == "mallets"  # Vibraphone
    assert midi_io.instrument_kind("", 89) == "pad"  # Warm Pad
    assert midi_io.instrument_kind("", 33) == "bass"  # Finger Bass
    assert midi_io.instrument_kind("", None) == "other"
    # a name says more than a program, and the first matching name wins
    assert midi_io.instrument_kind("Electric Bass", 0) == "bass"
    assert midi_io.instrument_kind("Bassoon", None) == "other"
    assert midi_io.instrument_kind("Piano Solo", None) == "keyboard"
    assert midi_io.instrument_kind("Melody", 0) == "lead"


@pytest.mark.parametrize("named", [False, True])
def test_a_synth_pad_above_a_sax_is_not_the_melody(tmp_path, named):
    # the pad holds a high line (monophonic, far above the sax): pitch alone would take it
    pad = [(4 * bar, 4, 84 + bar % 3) for bar in range(8)]
    path = midi_file(tmp_path / "pad.mid", [
        ("Warm Pad" if named else None, None if named else 89, 1, pad),
        ("Tenor" if named else None, None if named else 66, 2, line(0, 8, 55)),
        ("Piano" if named else None, None if named else 0, 3, comping(8))])
    assert chosen(path) == [(2, 2, None), (3, 3, None)]


@pytest.mark.parametrize("named", [False, True])
def test_a_bass_riff_above_c3_is_not_the_melody(tmp_path, named):
    riff = [(k, Fraction(1, 2), 55 + (k % 4) * 2) for k in range(32)]  # G3..D4, mean above C3
    path = midi_file(tmp_path / "riff.mid", [
        ("Bass" if named else None, None if named else 33, 1, riff),
        ("Guitar" if named else None, None if named else 26, 2, line(0, 8, 50)),
        ("Piano" if named else None, None if named else 0, 3, comping(8))])
    assert chosen(path) == [(2, 2, None), (3, 3, None)]


def test_a_short_piano_line_beside_a_vibraphone_covering_the_piece(tmp_path):
    path = midi_file(tmp_path / "vibes.mid", [
        (None, 0, 1, line(0, 4, 76)),  # the piano: four bars of sixteen, high
        (None, 11, 2, line(0, 16, 60)),  # the vibraphone plays the whole head
        (None, 26, 3, comping(16))])  # a guitar comps
    assert chosen(path) == [(2, 2, None), (3, 3, None)]


def test_of_two_saxophones_the_one_covering_the_piece_wins(tmp_path):
    path = midi_file(tmp_path / "saxes.mid", [
        ("Alto Sax", 65, 1, line(12, 4, 72)),  # the last four bars only, higher
        ("Tenor Sax", 66, 2, line(0, 16, 55)),
        ("Piano", 0, 3, comping(16))])
    assert chosen(path)[0] == (2, 2, None)


def test_chords_come_from_the_piano_rather_than_a_thicker_string_pad(tmp_path):
    path = midi_file(tmp_path / "strings.mid", [
        ("Flute", 73, 1, line(0, 8, 72)),
        ("Strings", 48, 2, comping(8, voicing=(48, 52, 55, 59, 62))),
        ("Piano", 0, 3, comping(8))])
    assert chosen(path) == [(1, 1, None), (3, 3, None)]


def test_the_drum_channel_is_never_chosen(tmp_path):
    hits = [(k / 2, Fraction(1, 4), 81) for k in range(64)]  # a high, monophonic 'line'
    path = midi_file(tmp_path / "drums.mid", [
        ("Kit", None, 10, hits),
        ("Congas", None, 4, [(k, Fraction(1, 4), 90) for k in range(32)]),  # not channel 10
        (None, None, 1, line(0, 8, 60)),
        (None, None, 2, comping(8))])
    assert chosen(path) == [(3, 1, None), (4, 2, None)]


# ---------------------------------------------------------------- a solo piano: melody on top

def solo_piano(tmp_path, bars=8):
    melody = line(0, bars, 72)  # the right hand, C5 and up, in eighths
    chords = comping(bars)  # the left hand under it
    return midi_file(tmp_path / "solo_piano.mid", [("Piano", 0, 1, melody + chords)]), melody


def test_solo_piano_is_split_into_its_top_line_and_the_chords_below(tmp_path):
    path, melody = solo_piano(tmp_path)
    assert chosen(path) == [(1, 1, "top"), (1, 1, "below")]
    score = midi_io.read_midi(path)
    top = midi_io.select_notes(score, "1/ch1/top", "melody")
    below = midi_io.select_notes(score, "1/ch1/below", "chords")
    assert sorted((n.start, n.pitch) for n in top) == sorted(
        (round(o * TPQ), p) for o, _, p in melody)
    assert sorted(n.pitch for n in below) == sorted(p for _, _, p in comping(8))


def test_a_held_melody_note_keeps_a_chord_struck_under_it_below():
    def raw(start, end, pitch, order):
        return midi_io.RawNote(start, end, pitch, 90, 0, 0, order)
    notes = [raw(0, 1920, 76, 0),  # a whole note on top
             raw(960, 1900, 60, 1), raw(960, 1900, 64, 2),  # a chord on beat 3, under it
             raw(1920, 2400, 67, 3), raw(1920, 2400, 55, 4)]  # then the line goes on
    top, below = midi_io.split_top_line(notes, TPQ)
    assert [n.pitch for n in top] == [76, 67]
    assert [n.pitch for n in below] == [60, 64, 55]


def test_a_chord_spread_by_the_hand_gives_the_line_one_note():
    def raw(start, end, pitch, order):
        return midi_io.RawNote(start, end, pitch, 90, 0, 0, order)
    # the melody rests; the left hand strikes a chord from the bottom up, 15 ticks (a 32nd of a
    # beat, 16 ms at 120 bpm) between its notes: one onset, so only its top can fill the line
    chord = [raw(15 * k, 960, pitch, k) for k, pitch in enumerate((48, 52, 55, 59))]
    melody = [raw(960, 1200, 76, 4), raw(1200, 1440, 74, 5)]  # sixteenths a quarter beat apart
    top, below = midi_io.split_top_line(chord + melody, TPQ)
    assert [n.pitch for n in top] == [59, 76, 74]
    assert [n.pitch for n in below] == [48, 52, 55]


def test_a_part_without_a_clear_top_line_is_not_split(tmp_path):
    clusters = comping(8, voicing=(60, 62, 64))  # the top is no line above the others
    path = midi_file(tmp_path / "clusters.mid", [("Piano", 0, 1, clusters)])
    with pytest.raises(MidiError, match="top line is not clearly above") as info:
        midi_io.choose_sources(midi_io.read_midi(path))
    assert "clusters.mid" in str(info.value) and "\n" not in str(info.value)


def test_a_melody_only_file_asks_for_the_changes(tmp_path):
    path = midi_file(tmp_path / "solo.mid", [("Tenor Sax", 66, 1, line(0, 8, 55))])
    with pytest.raises(MidiError, match="no chords") as info:
        midi_io.choose_sources(midi_io.read_midi(path))
    assert "--changes" in str(info.value) and "solo.changes.txt" in str(info.value)
    assert midi_io.choose_melody(midi_io.read_midi(path)) == midi_io.Selector(track=1, channel=0)


@pytest.mark.parametrize("text, expected", [
    ("Piano/top", midi_io.Selector(name="Piano", layer="top")),
    ("0/ch2/below", midi_io.Selector(track=0, channel=1, layer="below")),
    ("ch3/Top", midi_io.Selector(channel=2, layer="top")),
])
def test_selectors_name_a_layer(text, expected):
    selector = midi_io.parse_selector(text)
    assert selector == expected
    assert midi_io.parse_selector(selector.spec) == selector


# ---------------------------------------------------------------- from parts to measures

def pitches_of(chord_list):
    return [c.pitches for c in chord_list]


def test_a_solo_piano_trains_on_its_top_line_over_the_chords_below(tmp_path):
    path, melody = solo_piano(tmp_path)
    corpus = dataset.read_corpus(path)
    assert [n.pitch for m in corpus.measures for n in m.melody if n.pitch is not None] == [
        p for _, _, p in melody]
    assert {c.pitches for m in corpus.measures for c in m.chords} == {(48, 52, 55, 59)}
    reading = str(corpus.readings[0])
    assert reading == (f"{path}: melody 1/ch1/top 'Piano' (64 notes), chords 1/ch1/below 'Piano' "
                       f"(64 notes); {dataset.SPLIT_REMARK}")


def test_a_lead_sheet_beside_a_melody_only_file_gives_its_chords(tmp_path):
    # a waltz: 16 bars of melody in 3/4, a lead sheet of 4 bars that repeats under it
    path = midi_file(tmp_path / "waltz.mid", [("Tenor Sax", 66, 1, line(0, 12, 55))],
                     meter=(3, 4))
    dataset.lead_sheet_path(path).write_text(
        "# the changes, bar by bar\n| Dm7 G7 | Cmaj7 |\n\n| A7 | % |   # the last bar again\n")
    corpus = dataset.read_corpus(path)
    bars = [[chord_pitches(s) for s in bar] for bar in (["Dm7", "G7"], ["Cmaj7"], ["A7"], ["A7"])]
    assert len(corpus.measures) == 16
    for k, measure in enumerate(corpus.measures):
        assert (measure.start, measure.length) == (3 * k, 3)
        assert pitches_of(measure.chords) == bars[k % 4]
        length = Fraction(3, len(bars[k % 4]))
        assert [(c.offset, c.duration) for c in measure.chords] == [
            (3 * k + i * length, length) for i in range(len(bars[k % 4]))]
    assert str(corpus.readings[0]).endswith(
        "chords from waltz.changes.txt (4 bars, laid over the melody's 16 bars)")


def test_changes_given_for_one_file(tmp_path):
    path = midi_file(tmp_path / "solo.mid", [("Flute", 73, 1, line(0, 3, 72))])
    measures = dataset.get_measures(path, changes="Dm7 G7 | Cmaj7")
    assert [pitches_of(m.chords) for m in measures] == [
        [chord_pitches("Dm7"), chord_pitches("G7")], [chord_pitches("Cmaj7")],
        [chord_pitches("Dm7"), chord_pitches("G7")]]
    # --changes names one file's chords: not several files', nor beside a chord part or preset
    for options in ({"path_or_paths": [path, path]}, {"chords": "ch1"}, {"preset": "course"}):
        with pytest.raises(LstmNumpyError, match="--changes"):
            dataset.get_measures(**{"path_or_paths": path, "changes": "C", **options})


def test_a_bad_lead_sheet_names_itself(tmp_path):
    path = midi_file(tmp_path / "solo.mid", [("Flute", 73, 1, line(0, 3, 72))])
    sheet = dataset.lead_sheet_path(path)
    for text, words in (("Dm7 | H7", "unknown chord symbol 'H7'"), ("# none\n", "no chord"),
                        (b"\xff\xfe C", "not UTF-8")):
        sheet.write_bytes(text if isinstance(text, bytes) else text.encode())
        with pytest.raises(MidiError, match=words) as info:
            dataset.get_measures(path)
        assert str(info.value).startswith(str(sheet))


def test_the_course_preset_reads_no_lead_sheet(tmp_path, course_midi):
    beside = tmp_path / "original_metheny.mid"
    beside.write_bytes(course_midi.read_bytes())
    dataset.lead_sheet_path(beside).write_text("C | F7")
    assert dataset.get_measures(beside, preset="course") == dataset.get_measures(
        course_midi, preset="course")


def test_skip_bad_reads_the_rest_and_says_why(tmp_path):
    good, _ = solo_piano(tmp_path)
    lonely = midi_file(tmp_path / "lonely.mid", [("Flute", 73, 1, line(0, 4, 72))])
    missing = tmp_path / "missing.mid"
    with pytest.raises(MidiError, match="lonely.mid"):
        dataset.read_corpus([good, lonely, missing])
    corpus = dataset.read_corpus([good, lonely, missing], skip_bad=True)
    assert corpus.measures == dataset.get_measures(good)
    assert [why.split(":")[0] for why in corpus.skipped] == [str(lonely), str(missing)]
    assert "no chords" in corpus.skipped[0] and "no such file" in corpus.skipped[1]
    with pytest.raises(MidiError, match="None of the 2 files can be used; the first: .*lonely"):
        dataset.read_corpus([lonely, missing], skip_bad=True)


# ---------------------------------------------------------------- the train command

def run_train(*args):
    return subprocess.run([sys.executable, "-m", "lstm_numpy.train", *map(str, args)],
                          capture_output=True, text=True, timeout=300)


def test_list_parts_lists_every_part_and_exits(tmp_path):
    path = midi_file(tmp_path / "band.mid", [
        ("Tenor Sax", 66, 1, line(0, 8, 55)),
        ("Piano", 0, 2, comping(8)),
        ("Kit", None, 10, [(k, Fraction(1, 4), 42) for k in range(32)])])
    result = run_train("--list-parts", path, "--out", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"{path}: MIDI type 1, 480 ticks per beat"
    assert lines[1].split() == ["source", "name", "channel", "program", "kind", "notes", "range",
                                "polyphony", "covers"]
    assert lines[2].split() == ["1/ch1", "Tenor", "Sax", "1", "67", "Tenor", "Sax", "winds",
                                "64", "G3-G4", "1.00", "100%"]
    assert lines[3].split() == ["2/ch2", "Piano", "2", "1", "Acoustic", "Grand", "Piano",
                                "keyboard", "64", "C3-B3", "4.00", "100%"]
    assert lines[4].split() == ["3/ch10", "Kit", "10", "drum", "kit", "drums", "32", "F#2-F#2",
                                "1.00", "100%"]
    assert lines[5] == ("  training takes: melody 1/ch1 'Tenor Sax' (64 notes), "
                        "chords 2/ch2 'Piano' (64 notes)")
    assert not (tmp_path / "out").exists()


def test_train_prints_its_choices_and_skip_bad_leaves_out_what_it_cannot_use(tmp_path):
    good, _ = solo_piano(tmp_path)
    lonely = midi_file(tmp_path / "lonely.mid", [("Flute", 73, 1, line(0, 4, 72))])
    tiny = ["--n-a", "8", "--m", "8", "--batch-size", "8", "--epochs", "1", "--bars", "1"]
    stopped = run_train("--midi", good, lonely, *tiny, "--out", tmp_path / "stopped")
    assert stopped.returncode == 2 and "Traceback" not in stopped.stderr
    [sentence] = stopped.stderr.strip().splitlines()  # one sentence, and no choice lines
    assert sentence.startswith(f"error: {lonely}: no part besides the melody")
    result = run_train("--midi", good, lonely, *tiny, "--skip-bad", "--out", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert lines[0].startswith(f"{good}: melody 1/ch1/top 'Piano' (64 notes), chords 1/ch1/below")
    assert lines[1].startswith(f"skipped {lonely}: no part besides the melody")
    quiet = run_train("--midi", good, lonely, *tiny, "--skip-bad", "--quiet",
                      "--out", tmp_path / "quiet")
    assert quiet.returncode == 0 and lines[1] in quiet.stderr.splitlines()  # skips still listed
    assert not any(line.startswith(str(good)) for line in quiet.stderr.splitlines())


def test_a_run_with_changes_and_skip_bad_keeps_them_in_its_checkpoint(tmp_path):
    config = asdict(train.TrainConfig(changes="Dm7 G7 | Cmaj7", skip_bad=True))
    assert train.saved_config(config, tmp_path) == train.TrainConfig(**config)
    with pytest.raises(LstmNumpyError, match="skip_bad"):
        train.saved_config({**config, "skip_bad": "yes"}, tmp_path)


def test_evaluate_reads_the_training_files_as_training_did(tmp_path):
    good, _ = solo_piano(tmp_path)
    lonely = midi_file(tmp_path / "lonely.mid", [("Flute", 73, 1, line(0, 4, 72))])
    config = asdict(train.TrainConfig(midi=[str(good), str(lonely)], skip_bad=True))
    pieces = evaluate.training_pieces(SimpleNamespace(config=config))
    assert [p.name for p in pieces] == ["solo_piano.mid"]  # the flute was left out in training
    config = asdict(train.TrainConfig(midi=[str(lonely)], changes="Dm7 G7 | Cmaj7"))
    [piece] = evaluate.training_pieces(SimpleNamespace(config=config))
    assert piece.bars[1].chords[0].pitches == chord_pitches("Cmaj7")
