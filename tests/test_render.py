"""The WAV synthesizer, the pictures and write_solo: readable files of the expected length."""

import sys
import wave
from fractions import Fraction
from types import SimpleNamespace

import numpy as np
import pytest

from lstm_numpy.changes import parse_changes
from lstm_numpy.errors import LstmNumpyError
from lstm_numpy.notes import Chord, Note
from lstm_numpy.render import (SoloFiles, flatten_chords, listen, music_end, plot_loss, plot_piano_roll,
                               synthesize, write_solo, write_wav)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


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

def test_piano_roll_and_loss_curve_are_png_files(tmp_path):
    pytest.importorskip("matplotlib")
    melody, chords = small_solo()
    plot_piano_roll(tmp_path / "roll.png", melody, chords)
    plot_loss(tmp_path / "loss.png", {"loss": [126.0, 60.0, 7.5], "accuracy": [[0.1] * 30, [0.5] * 30, [0.9] * 30]})
    plot_loss(tmp_path / "loss_only.png", {"loss": [1.0, 0.0, -0.5]})  # not positive: no log scale
    for name in ("roll.png", "loss.png", "loss_only.png"):
        assert (tmp_path / name).read_bytes().startswith(PNG_SIGNATURE)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["loss.png", "loss_only.png", "roll.png"]


def test_piano_roll_of_nothing_still_draws(tmp_path):
    pytest.importorskip("matplotlib")
    plot_piano_roll(tmp_path / "empty.png", [], [])
    assert (tmp_path / "empty.png").read_bytes().startswith(PNG_SIGNATURE)


def test_loss_curve_needs_a_loss(tmp_path):
    pytest.importorskip("matplotlib")
    with pytest.raises(LstmNumpyError, match="no loss"):
        plot_loss(tmp_path / "loss.png", {"loss": []})


@pytest.fixture
def no_matplotlib(monkeypatch):
    """Make `import matplotlib...` fail, as on a machine without the plot extra."""
    for name in list(sys.modules):
        if name == "matplotlib" or name.startswith("matplotlib."):
            monkeypatch.delitem(sys.modules, name)
    for name in ("matplotlib", "matplotlib.figure", "matplotlib.backends.backend_agg"):
        monkeypatch.setitem(sys.modules, name, None)


def test_without_matplotlib_the_error_says_what_to_install(tmp_path, no_matplotlib):
    melody, chords = small_solo()
    for draw in (lambda: plot_piano_roll(tmp_path / "r.png", melody, chords),
                 lambda: plot_loss(tmp_path / "l.png", {"loss": [1.0]})):
        with pytest.raises(LstmNumpyError, match=r'pip install "lstm_numpy\[plot\]"'):
            draw()
    assert list(tmp_path.iterdir()) == []


# -------------------------------------------------------------------------------------- write_solo

def test_write_solo_writes_midi_wav_and_png(tmp_path):
    import mido

    melody, chords = small_solo()
    files = write_solo(tmp_path / "out" / "solo", SimpleNamespace(melody=melody, chords=chords), tempo_bpm=130)
    assert isinstance(files, SoloFiles)
    names = [p.name for p in files]
    assert names[:2] == ["solo.mid", "solo.wav"]
    midi = mido.MidiFile(str(tmp_path / "out" / "solo.mid"))
    pitches = [m.note for t in midi.tracks for m in t if m.type == "note_on" and m.velocity > 0]
    assert sorted(set(pitches)) == sorted({n.pitch for n in melody if n.pitch is not None}
                                          | {p for bar in chords for c in bar for p in c.pitches})
    # the MIDI lasts as long as the music: 8 beats at 130 bpm
    assert midi.length == pytest.approx(8 * 60 / 130, abs=0.05)
    _, _, rate, frames = read_wav(tmp_path / "out" / "solo.wav")
    assert len(frames) == round((8 * 60 / 130 + 1.0) * rate)
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert "solo.png" not in names and files.skipped
    else:
        assert names[2] == "solo.png" and not files.skipped


def test_write_solo_without_matplotlib_skips_only_the_picture(tmp_path, no_matplotlib):
    melody, chords = small_solo()
    files = write_solo(tmp_path / "solo", melody, chords)
    assert [p.name for p in files] == ["solo.mid", "solo.wav"]
    assert len(files.skipped) == 1 and "lstm_numpy[plot]" in files.skipped[0]


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


def test_pictures_without_a_path_are_returned_as_figures(tmp_path):
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    melody, chords = small_solo()
    assert isinstance(plot_piano_roll(None, SimpleNamespace(melody=melody, chords=chords)), Figure)
    assert isinstance(plot_loss(None, {"loss": [2.0, 1.0]}), Figure)
    assert list(tmp_path.iterdir()) == []
