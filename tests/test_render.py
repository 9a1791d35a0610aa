"""The WAV synthesizer, the SVG pictures and write_solo: readable files of the expected length."""

import wave
from fractions import Fraction
from types import SimpleNamespace
from xml.etree import ElementTree

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from lstm_numpy import files
from lstm_numpy.changes import parse_changes
from lstm_numpy.errors import LstmNumpyError
from lstm_numpy.notes import Chord, Note
from lstm_numpy.render import (Picture, flatten_chords, listen, music_end, plot_loss,
                               plot_piano_roll, synthesize, write_solo, write_wav)
from lstm_numpy.svg import linear_ticks, log_ticks


def read_wav(path):
    with wave.open(str(path), "rb") as w:
        frames = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
        return w.getnchannels(), w.getsampwidth(), w.getframerate(), frames.reshape(-1, w.getnchannels())


def small_solo():
    chords = parse_changes("Dm7 G7 | Cmaj7")
    melody = [Note(Fraction(k, 2), Fraction(1, 2), 62 + k % 7) for k in range(14)]
    melody.append(Note(Fraction(7), Fraction(1, 3), None))  # a rest
    return melody, chords


@pytest.mark.parametrize("tempo", [130, 60, 200.5])
def test_wav_is_readable_with_the_expected_length(tmp_path, tempo):
    melody, chords = small_solo()
    write_wav(tmp_path / "solo.wav", melody, chords, tempo_bpm=tempo, sample_rate=8000)
    channels, width, rate, frames = read_wav(tmp_path / "solo.wav")
    assert (channels, width, rate) == (2, 2, 8000)
    # two bars of 4/4 = 8 beats, each 60/tempo seconds, then one second of tail
    expected = round((8 * 60 / tempo + 1.0) * 8000)
    assert len(frames) == expected
    assert 0 < np.abs(frames).max() <= 32767


def test_length_follows_the_latest_note_or_chord():
    melody = [Note(Fraction(0), Fraction(1), 60), Note(Fraction(10), Fraction(3, 2), 64)]
    chords = [Chord(Fraction(0), Fraction(4), (48, 52, 55))]
    assert music_end(melody, chords) == Fraction(23, 2)
    audio = synthesize(melody, chords, tempo_bpm=120, sample_rate=1000)
    assert audio.shape == (round((11.5 * 0.5 + 1.0) * 1000), 2)
    assert music_end([Note(Fraction(20), Fraction(1), None)], []) == 0, "rests do not extend the music"


def test_nothing_sounds_before_the_first_onset_and_something_after():
    melody = [Note(Fraction(2), Fraction(1), 67)]
    audio = synthesize(melody, [], tempo_bpm=120, sample_rate=8000)  # beat 2 is at 1 s
    assert np.all(audio[:8000] == 0)
    assert np.abs(audio[8000:12000]).max() > 0.5


def test_a_single_a4_sounds_at_440_hz():
    rate = 16000
    audio = synthesize([Note(Fraction(0), Fraction(4), 69)], [], tempo_bpm=60, sample_rate=rate)
    mono = audio[: 4 * rate].mean(axis=1)
    spectrum = np.abs(np.fft.rfft(mono * np.hanning(len(mono))))
    peak_hz = np.argmax(spectrum) * rate / len(mono)
    assert abs(peak_hz - 440) < 1


def test_a_long_note_keeps_a_clean_waveform_and_its_pitch_to_the_end():
    """An A4 held for 8 seconds, near its start and near its end: over a few cycles it is a sum
    of harmonics of 440 Hz with smoothly changing amplitudes (a least-squares fit leaves less
    than 1e-4 of it; 3e-7 measured), and its fundamental's phase has not moved (a pitch off by
    1/100 000 turns it by 0.2 radians). A phase counted in float32 radians, about 22 000 of them
    by the end and held only to 0.002, left 5e-4 there."""
    rate = 22050
    audio = synthesize([Note(Fraction(0), Fraction(8), 69)], [], tempo_bpm=60, sample_rate=rate)
    left = audio[:, 0].astype(np.float64)

    def window(start_s, seconds):
        n = np.arange(round(start_s * rate), round((start_s + seconds) * rate))
        return n / rate, left[n]

    for start_s in (0.5, 7.9):  # the release begins at 8 s
        t, x = window(start_s, 0.02)
        s = t - t[0]
        basis = [f(2 * np.pi * 440.0 * k * t) * s**p
                 for k in range(1, int(rate / 2 / 440) + 1) for f in (np.sin, np.cos) for p in range(3)]
        fit = np.linalg.lstsq(np.array(basis).T, x, rcond=None)[0] @ np.array(basis)
        assert np.linalg.norm(x - fit) < 1e-4 * np.linalg.norm(x), start_s

    def fundamental(start_s):
        """The complex amplitude at 440 Hz over 44 whole cycles; its angle is the phase."""
        t, x = window(start_s, 0.1)
        return np.sum(x * np.exp(-2j * np.pi * 440.0 * t))

    assert abs(np.angle(fundamental(7.8) / fundamental(0.5))) < 0.01


def test_chords_sound_their_own_pitches():
    rate = 16000
    chord = Chord(Fraction(0), Fraction(8), (48, 52, 55))  # C3 E3 G3
    audio = synthesize([], [chord], tempo_bpm=60, sample_rate=rate)
    mono = audio[: 8 * rate].mean(axis=1)
    spectrum = np.abs(np.fft.rfft(mono * np.hanning(len(mono))))
    freqs = np.fft.rfftfreq(len(mono), 1 / rate)
    strongest = sorted(freqs[np.argsort(spectrum)[-60:]])
    for pitch in (48, 52, 55):
        hz = 440 * 2 ** ((pitch - 69) / 12)
        assert any(abs(f - hz) < 1.5 for f in strongest), f"no energy at {hz:.1f} Hz"


def test_wav_bytes_are_reproducible_and_no_temporary_file_is_left(tmp_path):
    melody, chords = small_solo()
    write_wav(tmp_path / "a.wav", melody, chords, sample_rate=8000)
    write_wav(tmp_path / "b.wav", melody, chords, sample_rate=8000)
    assert (tmp_path / "a.wav").read_bytes() == (tmp_path / "b.wav").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.wav", "b.wav"]


def test_empty_music_is_just_the_tail(tmp_path):
    write_wav(tmp_path / "quiet.wav", [], [], sample_rate=8000)
    _, _, _, frames = read_wav(tmp_path / "quiet.wav")
    assert len(frames) == 8000 and not frames.any()


@pytest.mark.parametrize("tempo", [0, -10, float("nan"), float("inf")])
def test_bad_tempo_is_a_clear_error(tempo):
    with pytest.raises(LstmNumpyError, match="tempo"):
        synthesize([Note(Fraction(0), Fraction(1), 60)], [], tempo_bpm=tempo)


@pytest.mark.parametrize("rate", [0, 999, 22050.0])
def test_bad_sample_rate_is_a_clear_error(rate):
    with pytest.raises(LstmNumpyError, match="sample rate"):
        synthesize([Note(Fraction(0), Fraction(1), 60)], [], sample_rate=rate)


def test_zero_length_notes_and_chords_still_render():
    audio = synthesize([Note(Fraction(1), Fraction(0), 60)], [Chord(Fraction(0), Fraction(0), (48, 52))],
                       tempo_bpm=120, sample_rate=8000)
    assert audio.shape == (round((1 * 0.5 + 1.0) * 8000), 2) and np.isfinite(audio).all()


def test_chords_may_be_flat_or_per_bar():
    bars = parse_changes("C | F G")
    assert flatten_chords(bars) == bars[0] + bars[1]
    assert flatten_chords(bars[0] + bars[1]) == bars[0] + bars[1]
    assert flatten_chords(None) == []


# ---------------------------------------------------------------------------------------- pictures

SVG = "{http://www.w3.org/2000/svg}"


def parse_svg(text: str):
    root = ElementTree.fromstring(text)
    assert root.tag == SVG + "svg"
    return root


def boxes(root, css_class: str):
    """(x, y, width, height) of every rect of a class, in document order."""
    return [tuple(float(r.get(k)) for k in ("x", "y", "width", "height"))
            for r in root.iter(SVG + "rect") if r.get("class") == css_class]


def curve(root, css_class: str):
    (line,) = [p for p in root.iter(SVG + "polyline") if p.get("class") == css_class]
    return [tuple(map(float, point.split(","))) for point in line.get("points").split()]


def texts(root, css_class=None):
    return [t.text for t in root.iter(SVG + "text") if css_class is None or t.get("class") == css_class]


grid_times = st.integers(0, 12 * 40).map(lambda k: Fraction(k, 12))  # the 1/4 and 1/3 grid
lengths = st.integers(1, 12 * 4).map(lambda k: Fraction(k, 12))
melodies = st.lists(st.builds(Note, grid_times, lengths, st.integers(21, 108)), min_size=2, max_size=30)


@settings(max_examples=40, deadline=None)
@given(melody=melodies)
def test_each_note_is_one_box_where_and_as_long_as_the_note(melody):
    chord = Chord(Fraction(0), Fraction(4), (48, 52, 55))
    root = parse_svg(plot_piano_roll(None, melody, [chord]).svg)
    notes, tones = boxes(root, "note"), boxes(root, "chord")
    assert len(notes) == len(melody) and len(tones) == 3
    # the chord's tones lie under the melody: drawn first
    kinds = [r.get("class") for r in root.iter(SVG + "rect") if r.get("class") in ("note", "chord")]
    assert kinds == ["chord"] * 3 + ["note"] * len(melody)

    # One time scale for every box: x grows with the onset and the width with the duration, by
    # the same pixels per beat; one row height per semitone, higher pitches higher up. The scales
    # are measured between the outermost boxes (coordinates are written to 0.01 px).
    events = [(float(n.offset), float(n.duration), n.pitch) for n in melody]
    events += [(0.0, 4.0, pitch) for pitch in chord.pitches]
    drawn = np.array(notes + tones)
    starts, ends, pitches = (np.array(column, dtype=float)
                             for column in zip(*[(s, s + d, p) for s, d, p in events]))
    first, last = np.argmin(starts), np.argmax(ends)
    per_beat = (drawn[last, 0] + drawn[last, 2] - drawn[first, 0]) / (ends[last] - starts[first])
    low, high = np.argmin(pitches), np.argmax(pitches)
    row = (drawn[low, 1] - drawn[high, 1]) / (pitches[high] - pitches[low])
    assert per_beat > 0 and row > 0
    beat_0 = drawn[first, 0] - starts[first] * per_beat
    for (x, y, width, height), (start, duration, pitch) in zip(drawn, events):
        assert x == pytest.approx(beat_0 + start * per_beat, abs=0.03)
        assert width == pytest.approx(duration * per_beat, abs=0.03)
        assert height == pytest.approx(row, abs=0.01)
        assert y == pytest.approx(drawn[high, 1] + (pitches[high] - pitch) * row, abs=0.03)


def test_piano_roll_leaves_out_rests_and_labels_its_axes():
    melody, chords = small_solo()
    picture = plot_piano_roll(None, melody, chords)
    root = parse_svg(str(picture))
    assert len(boxes(root, "note")) == 14  # 15 events, one of them a rest
    assert len(boxes(root, "chord")) == sum(len(c.pitches) for bar in chords for c in bar)
    ticks = texts(root, "tick")
    assert {"0", "4", "8"} <= set(ticks), "bar lines every 4 quarter notes, 8 in all"
    assert "C4" in ticks  # the solo's D4..G#4 and the chords' C3..B4 span C4
    assert texts(root, "symbol") == ["Dm7", "G7", "Cmaj7"], "the changes as they were typed"
    assert "melody" in texts(root) and "chords" in texts(root)
    assert texts(root, "title") == ["solo: 14 notes over 3 chords"]


def test_bar_lines_follow_beats_per_bar():
    melody = [Note(Fraction(k), Fraction(1), 60 + k % 5) for k in range(12)]
    root = parse_svg(plot_piano_roll(None, melody, [], beats_per_bar=3).svg)
    assert [t for t in texts(root, "tick") if t.isdigit()] == ["0", "3", "6", "9", "12"]
    with pytest.raises(LstmNumpyError, match="beats_per_bar"):
        plot_piano_roll(None, melody, [], beats_per_bar=0)


def test_piano_roll_of_nothing_still_draws(tmp_path):
    path = plot_piano_roll(tmp_path / "empty.svg", [], [])
    root = parse_svg(path.read_text(encoding="utf-8"))
    assert boxes(root, "note") == [] and boxes(root, "chord") == []


@settings(max_examples=40, deadline=None)
@given(title=st.text(max_size=40))
def test_any_title_is_escaped_into_well_formed_xml(title):
    assume(title)  # an empty title asks for the default one
    root = parse_svg(plot_piano_roll(None, [Note(Fraction(0), Fraction(1), 60)], [], title=title).svg)
    # XML cannot hold control characters; they become spaces (a title is one line anyway)
    expected = "".join(" " if ord(c) < 32 else c for c in title).replace("\ufffe", "").replace("\uffff", "")
    assert root.find(SVG + "title").text == texts(root, "title")[0] == (expected or None)


def test_markup_in_text_is_escaped():
    svg = plot_loss(None, {"loss": [3.0, 2.0]}, others={"<Keras> & co": [3.5, 2.5]}).svg
    assert "&lt;Keras&gt; &amp; co" in svg and "<Keras>" not in svg
    assert "<Keras> & co" in texts(parse_svg(svg))


def test_loss_curve_has_one_point_per_epoch_and_falls_down_the_page():
    loss = [126.0, 80.0, 41.0, 22.5, 9.0, 6.1]
    root = parse_svg(plot_loss(None, {"loss": loss}).svg)
    points = curve(root, "loss")
    assert len(points) == len(loss)
    xs, ys = zip(*points)
    assert all(b - a == pytest.approx(xs[1] - xs[0], abs=0.02) for a, b in zip(xs, xs[1:])), "epochs evenly spaced"
    assert all(b > a for a, b in zip(ys, ys[1:])), "a falling loss is drawn lower (SVG's y grows downward)"


def test_positive_loss_is_drawn_on_a_log_scale_and_other_loss_on_a_linear_one():
    halving = [100 * 0.5 ** k for k in range(6)]  # equal ratios: equal steps on a log scale
    ys = [y for _, y in curve(parse_svg(plot_loss(None, {"loss": halving}).svg), "loss")]
    steps = [b - a for a, b in zip(ys, ys[1:])]
    assert steps == pytest.approx([steps[0]] * 5, abs=0.03)
    ys = [y for _, y in curve(parse_svg(plot_loss(None, {"loss": [1.0, 0.0, -0.5]}).svg), "loss")]
    assert (ys[1] - ys[0]) == pytest.approx(2 * (ys[2] - ys[1]), abs=0.03)  # equal differences, equal steps


def test_accuracy_is_drawn_beside_the_loss_as_its_mean():
    history = {"loss": [126.0, 60.0, 7.5], "accuracy": [[0.1] * 30, [0.2, 0.8] * 15, [0.9] * 30]}
    root = parse_svg(plot_loss(None, history).svg)
    assert len(curve(root, "loss")) == 3
    ys = [y for _, y in curve(root, "accuracy")]
    assert ys[0] > ys[1] > ys[2]
    # the axis runs from 0 to 1, so the means 0.1, 0.5 and 0.9 are evenly spaced
    assert ys[0] - ys[1] == pytest.approx(ys[1] - ys[2], abs=0.02)
    assert "accuracy: 0.90 at the end" in texts(root)


def test_other_runs_are_drawn_with_a_legend():
    root = parse_svg(plot_loss(None, {"loss": [5.0, 4.0, 3.0]}, others={"Keras": [6.0, 4.5]},
                               label="numpy").svg)
    assert len(curve(root, "loss")) == 3 and len(curve(root, "other")) == 2
    assert {"numpy", "Keras"} <= set(texts(root))


@pytest.mark.parametrize("history", [{"loss": []}, {}, {"loss": [float("nan")]}])
def test_loss_curve_needs_a_loss(tmp_path, history):
    with pytest.raises(LstmNumpyError, match="no loss"):
        plot_loss(tmp_path / "loss.svg", history)
    assert list(tmp_path.iterdir()) == []


def test_loss_values_must_be_numbers():
    with pytest.raises(LstmNumpyError, match="one number"):
        plot_loss(None, {"loss": ["high", "low"]})


def test_without_a_path_a_picture_is_returned_for_a_notebook(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    melody, chords = small_solo()
    picture = plot_piano_roll(None, SimpleNamespace(melody=melody, chords=chords))
    assert isinstance(picture, Picture) and picture._repr_svg_() == picture.svg == str(picture)
    assert plot_loss(None, {"loss": [2.0, 1.0]})._repr_svg_().startswith("<svg")
    assert list(tmp_path.iterdir()) == []
    formatters = pytest.importorskip("IPython.core.formatters")
    shown, _ = formatters.DisplayFormatter().format(picture)
    assert shown["image/svg+xml"] == picture.svg


def test_a_written_picture_is_the_returned_one(tmp_path):
    melody, chords = small_solo()
    assert plot_piano_roll(tmp_path / "roll.svg", melody, chords) == tmp_path / "roll.svg"
    assert (tmp_path / "roll.svg").read_text(encoding="utf-8") == plot_piano_roll(None, melody, chords).svg
    history = {"loss": [3.0, 1.0]}
    assert plot_loss(tmp_path / "loss.svg", history) == tmp_path / "loss.svg"
    assert (tmp_path / "loss.svg").read_bytes() == plot_loss(None, history).svg.encode("utf-8")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["loss.svg", "roll.svg"]


def test_a_failed_write_leaves_the_old_file_and_no_partial_one(tmp_path, monkeypatch):
    old = tmp_path / "loss.svg"
    old.write_text("the old picture")

    def refuse(*args):
        raise OSError("disk full")

    monkeypatch.setattr(files.os, "replace", refuse)
    with pytest.raises(OSError, match="disk full"):
        plot_loss(old, {"loss": [3.0, 1.0]})
    assert old.read_text() == "the old picture"
    assert [p.name for p in tmp_path.iterdir()] == ["loss.svg"]


@settings(max_examples=60, deadline=None)
@given(low=st.floats(-1e6, 1e6), span=st.floats(1e-3, 1e6))
def test_linear_ticks_are_round_evenly_spaced_and_inside_the_range(low, span):
    high = low + span
    ticks = linear_ticks(low, high, count=6)
    values = [v for v, _ in ticks]
    assert 2 <= len(values) <= 13
    assert all(low - 1e-9 * span <= v <= high + 1e-9 * span for v in values)
    step = (values[-1] - values[0]) / (len(values) - 1)
    assert [b - a for a, b in zip(values, values[1:])] == pytest.approx([step] * (len(values) - 1), rel=1e-6)
    mantissa = step / 10 ** np.floor(np.log10(step))
    assert min(abs(mantissa - m) for m in (1, 2, 5, 10)) < 1e-5, "a step of 1, 2 or 5 times a power of ten"
    labels = [label for _, label in ticks]
    assert len(set(labels)) == len(labels), "neighbouring ticks are labelled apart"
    assert all(float(label) == pytest.approx(v, abs=0.01 * step) for v, label in ticks)


def test_log_ticks_are_powers_of_ten_and_their_doubles_and_fives():
    assert [label for _, label in log_ticks(5.5, 130.0)] == ["10", "20", "50", "100"]
    assert [label for _, label in log_ticks(0.003, 2e6)] == ["0.01", "0.1", "1", "10", "100", "1000", "10000",
                                                             "100000", "1e+06"]
    assert len(log_ticks(2.1, 4.9)) >= 2  # no 1, 2 or 5 inside: round linear values instead


# -------------------------------------------------------------------------------------- write_solo

def test_write_solo_writes_midi_wav_and_svg(tmp_path):
    import mido

    melody, chords = small_solo()
    files_written = write_solo(tmp_path / "out" / "solo", SimpleNamespace(melody=melody, chords=chords), tempo_bpm=130)
    assert [p.name for p in files_written] == ["solo.mid", "solo.wav", "solo.svg"]
    midi = mido.MidiFile(str(tmp_path / "out" / "solo.mid"))
    pitches = [m.note for t in midi.tracks for m in t if m.type == "note_on" and m.velocity > 0]
    assert sorted(set(pitches)) == sorted({n.pitch for n in melody if n.pitch is not None}
                                          | {p for bar in chords for c in bar for p in c.pitches})
    # the MIDI lasts as long as the music: 8 beats at 130 bpm
    assert midi.length == pytest.approx(8 * 60 / 130, abs=0.05)
    _, _, rate, frames = read_wav(tmp_path / "out" / "solo.wav")
    assert len(frames) == round((8 * 60 / 130 + 1.0) * rate)
    root = parse_svg((tmp_path / "out" / "solo.svg").read_text(encoding="utf-8"))
    assert len(boxes(root, "note")) == 14
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["solo.mid", "solo.svg", "solo.wav"]

# -------------------------------------------------------------------------------------- notebooks

def test_a_solo_object_can_be_given_instead_of_melody_and_chords(tmp_path):
    melody, chords = small_solo()
    write_wav(tmp_path / "a.wav", melody, chords, sample_rate=8000)
    write_wav(tmp_path / "b.wav", SimpleNamespace(melody=melody, chords=chords), sample_rate=8000)
    assert (tmp_path / "a.wav").read_bytes() == (tmp_path / "b.wav").read_bytes()


def test_listen_gives_a_notebook_player_of_the_whole_solo():
    pytest.importorskip("IPython")
    melody, chords = small_solo()
    player = listen(SimpleNamespace(melody=melody, chords=chords), tempo_bpm=120, sample_rate=8000)
    with wave.open(__import__("io").BytesIO(player.data)) as w:
        assert w.getnchannels() == 2 and w.getframerate() == 8000
        assert w.getnframes() == round((8 * 0.5 + 1.0) * 8000)


@pytest.mark.parametrize("given, written", [("take.mid", ["take.mid", "take.wav", "take.svg"]),
                                            ("Take.MIDI", ["Take.MIDI", "Take.wav", "Take.svg"]),
                                            ("take.v2", ["take.v2.mid", "take.v2.wav", "take.v2.svg"])])
def test_write_solo_keeps_a_midi_name_as_given(tmp_path, given, written):
    melody, chords = small_solo()
    assert [p.name for p in write_solo(tmp_path / given, melody, chords, sample_rate=8000)] == written
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(written)
