"""Choosing a file's melody and chord parts: instruments, coverage, solo piano, melody-only files.

Each file is built here with mido, part by part, so what the reader chooses is checked against
what was written: the parts' General MIDI programs, track names, registers and lengths are the
evidence the choice must weigh.
"""

from fractions import Fraction

import mido
import pytest

from lstm_numpy import midi_io
from lstm_numpy.errors import MidiError

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
