"""The fast MIDI reader (lstm_numpy.smf) against mido's reading of the same bytes.

Whatever the bytes, ``smf.read`` must give exactly the tracks mido's reading gives, or raise
exactly mido's error. Plain files are walked by ``smf`` itself (checked: the walk does not hand
them to mido); anything unusual goes to mido, which the damaged files below exercise.
"""

from pathlib import Path

import mido
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_midi_io import FUZZ, default_layout, four_four, mutate, notes_events, on, save, track

from lstm_numpy import midi_io, smf

REPO = Path(__file__).resolve().parents[1]


def outcome(read, data: bytes):
    """("read", tracks) or ("refused", the exception's type and message)."""
    try:
        return "read", read(data)
    except Exception as error:  # noqa: BLE001 - the point is to compare whatever is raised
        return "refused", type(error).__name__, str(error)


def assert_walked_as_mido_reads(data: bytes):
    walked = smf._walk(data)  # raises _LeftToMido if the walk handed the file over
    assert walked == smf.read_with_mido(data)
    assert smf.read(data) == walked


def test_the_default_corpus_is_walked_exactly_as_mido_reads_it():
    files = sorted((REPO / "data").glob("*.mid"))
    assert len(files) >= 10
    for path in files:
        assert_walked_as_mido_reads(path.read_bytes())


def test_the_course_file_is_walked_exactly_as_mido_reads_it(course_midi):
    data = course_midi.read_bytes()
    assert_walked_as_mido_reads(data)
    tracks = smf.read(data).tracks
    assert sum(len(t.notes) for t in tracks) == 25_924  # every note event, none lost


def test_every_kind_of_event_a_file_holds(tmp_path):
    """Channel messages of every kind on several channels (mido writes them with running
    status), note-offs both ways, meta events of many kinds (a blank first track name, Latin-1
    text, time signatures mid-track), system exclusive events, type 0 and type 1."""
    events = [on(0, 60), on(0, 64, channel=3), (10, mido.Message("note_off", note=60, velocity=40)),
              (12, mido.Message("note_on", note=64, velocity=0, channel=3)),
              (12, mido.Message("control_change", control=7, value=100, channel=3)),
              (14, mido.Message("pitchwheel", pitch=-8192, channel=2)),
              (14, mido.Message("pitchwheel", pitch=8191, channel=2)),
              (15, mido.Message("aftertouch", value=5, channel=1)),
              (16, mido.Message("polytouch", note=61, value=9, channel=1)),
              (17, mido.Message("program_change", program=66, channel=1)),
              (17, mido.Message("program_change", program=0, channel=1)),
              (18, mido.Message("sysex", data=[0x41, 0x10, 0x42, 0x12])),
              (18, mido.Message("sysex", data=[])),
              (20, mido.MetaMessage("key_signature", key="Bb")),
              (20, mido.MetaMessage("time_signature", numerator=3, denominator=8)),
              (21, mido.MetaMessage("text", text="Caf\xe9 \xe0 deux")),
              (22, mido.MetaMessage("track_name", name="  Tenor Sax  ")),
              (22, mido.MetaMessage("marker", text="A")),
              (23, mido.MetaMessage("set_tempo", tempo=400_000)),
              (30, mido.MetaMessage("sequencer_specific", data=[1, 2, 3])),
              ] + notes_events([(k, 1, 40 + k % 60) for k in range(200)], 96, channel=5)
    blank_name = mido.MetaMessage("track_name", name="   ", time=0)
    first = track(None, events, meta=four_four())
    first.insert(0, blank_name)
    layouts = {"type1.mid": [track(None, meta=four_four()), first, track("Piano", events[:5])],
               "type0.mid": [first]}
    for name, tracks in layouts.items():
        path = save(tmp_path / name, tracks, tpq=96, type=0 if name == "type0.mid" else 1)
        data = path.read_bytes()
        assert_walked_as_mido_reads(data)
    walked = smf.read(data)
    assert walked.tracks[0].name == "Tenor Sax"  # the first name that is not blank
    assert walked.tracks[0].programs == [(1, 66), (1, 0)]
    assert (20, 3, 8) in walked.tracks[0].meters


def test_files_written_by_the_package_are_walked(tmp_path):
    for k, path in enumerate((default_layout(tmp_path / "a.mid"), default_layout(tmp_path / "b.mid", tpq=96, bars=2),
                              default_layout(tmp_path / "c.mid", tpq=1000, bars=1, with_bass=False))):
        assert_walked_as_mido_reads(path.read_bytes())
        assert midi_io.read_midi(path).notes  # and the reader takes its notes from the walk


def chunk(name: bytes, body: bytes) -> bytes:
    return name + len(body).to_bytes(4, "big") + body


def one_track(body: bytes) -> bytes:
    return chunk(b"MThd", b"\x00\x00\x00\x01\x00\x60") + chunk(b"MTrk", body + b"\x00\xff\x2f\x00")


@pytest.mark.parametrize("body", [
    b"\x00\xf8",                          # a system real-time message inside a file
    b"\x00\xf0\x02\x01\xf7\x00\x05",      # running status after a system exclusive event: mido's own rule
    b"\x00\x40\x40",                      # running status before any status byte
    b"\x00\x90\x3c\x90",                  # a data byte above 127
    b"\x00\xff\x51\x02\x07\xa1",          # a tempo two bytes long: mido cannot decode it
    b"\x00\xff\x59\x02\x10\x00",          # a key signature mido does not know
    b"\x00\xf0\x03\x01\x80\xf7",          # a system exclusive byte above 127
    b"\x00\xff\x01\x84\x80\x80\x00",      # a text longer than mido reads
])
def test_what_the_walk_leaves_to_mido_gives_mido_s_outcome(body):
    data = one_track(body)
    with pytest.raises(smf._LeftToMido):
        smf._walk(data)
    assert outcome(smf.read, data) == outcome(smf.read_with_mido, data)


def test_a_message_running_past_its_chunk_is_left_to_mido():
    good = one_track(b"\x00\x90\x3c\x40\x10\x80\x3c\x00")
    short = good[:18] + (int.from_bytes(good[18:22], "big") - 2).to_bytes(4, "big") + good[22:]
    with pytest.raises(smf._LeftToMido):
        smf._walk(short)
    assert outcome(smf.read, short) == outcome(smf.read_with_mido, short)


def test_a_thousand_damaged_files_read_as_mido_reads_them(tmp_path):
    """1,200 seeded mutants of three small files: the same tracks as mido's reading, or the same
    error. Most are refused, every refusal mido's (the walk hands over whatever it would refuse);
    of the 80 or so that mido reads, the walk reads most itself (a note changed, say)."""
    originals = [default_layout(tmp_path / "corpus.mid", tpq=96, bars=2).read_bytes(),
                 default_layout(tmp_path / "nobass.mid", tpq=480, bars=1, with_bass=False).read_bytes(),
                 save(tmp_path / "type0.mid", [track(None, notes_events([(k, 1, 60 + k % 12) for k in range(8)], 120),
                                                     meta=four_four())], 120, type=0).read_bytes()]
    rng = np.random.default_rng(7)
    counts = {"walked": 0, "read": 0, "refused": 0}
    for k in range(1200):
        data = mutate(bytearray(originals[k % 3]), rng)
        expected = outcome(smf.read_with_mido, data)
        assert outcome(smf.read, data) == expected, data
        counts[expected[0]] += 1
        walked = outcome(smf._walk, data)
        if walked[0] == "read":
            counts["walked"] += 1
            assert walked == expected
    assert counts["walked"] > 40 and counts["refused"] > 100, counts


@given(st.binary(max_size=300))
@FUZZ
def test_random_bytes_after_a_header_read_as_mido_reads_them(data):
    for candidate in (data, b"MThd" + data, b"MThd\x00\x00\x00\x06\x00\x01\x00\x01\x00\x60MTrk" + data):
        assert outcome(smf.read, candidate) == outcome(smf.read_with_mido, candidate)
