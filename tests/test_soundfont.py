"""SoundFont rendering, how a SoundFont is chosen, and the walking bass.

Nothing is downloaded: the SoundFont is the one ``tiny_soundfont.py`` writes byte by byte (a
440 Hz sine recorded as A4, one instrument, one preset). The tests that play it need the extra
``audio`` (tinysoundfont); where it is not installed they skip with a reason, except under
``CI=true``, where ``.ci/run`` installs it and a missing extra is a failure.
"""

import os
import wave
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lstm_numpy import sf2
from lstm_numpy import soundfont as sf
from lstm_numpy.bass import HIGH, LOW, walking_bass
from lstm_numpy.changes import ROOT_NAMES, chord_pitches, chord_symbol_root, parse_changes
from lstm_numpy.errors import LstmNumpyError, SoundFontError
from lstm_numpy.notes import Chord, Note
from lstm_numpy.render import PEAK, flatten_chords, prepare_audio, render_audio, write_solo, write_wav
from test_cli import SMALL, TINY, run
from tiny_soundfont import (FREQUENCY, ROOT_KEY, chunk, riff_list, sine_points, tiny_soundfont_bytes,
                            write_tiny_soundfont)

@pytest.fixture
def extra():
    """The extra "audio" (tinysoundfont) must be importable for these tests."""
    if not sf.synthesizer_installed():
        message = 'tinysoundfont is not installed (pip install -e ".[audio]")'
        if os.environ.get("CI") == "true":
            pytest.fail(message + "; .ci/run installs it, so under CI=true it is required")
        pytest.skip(message)


@pytest.fixture
def tiny(tmp_path) -> Path:
    return write_tiny_soundfont(tmp_path / "tiny.sf2")


def read_wav(path):
    with wave.open(str(path), "rb") as f:
        frames = np.frombuffer(f.readframes(f.getnframes()), dtype="<i2").reshape(-1, f.getnchannels())
        return f.getnchannels(), f.getsampwidth(), f.getframerate(), frames


def frequency(signal: np.ndarray, rate: int) -> float:
    """Hz from the upward zero crossings of a steady tone."""
    ups = np.flatnonzero((signal[:-1] <= 0) & (signal[1:] > 0))
    return (len(ups) - 1) * rate / (ups[-1] - ups[0])


# ---------------------------------------------------------------------------- playing a SoundFont

@pytest.mark.parametrize("rate", [None, 22050])
def test_a_held_note_plays_at_its_pitch_length_and_loudness(extra, tiny, tmp_path, rate):
    # A4 for two beats at 60 bpm (2 s), a rest while its release dies away, then A5 for one beat:
    # 4 s of music and 1 s of tail.
    melody = [Note(Fraction(0), Fraction(2), ROOT_KEY), Note(Fraction(3), Fraction(1), ROOT_KEY + 12)]
    path = write_wav(tmp_path / "a.wav", melody, [], tempo_bpm=60, sample_rate=rate, soundfont=tiny)
    channels, width, got_rate, frames = read_wav(path)
    expected_rate = rate or 44100
    assert (channels, width, got_rate) == (2, 2, expected_rate)
    assert len(frames) == round((4 + 1.0) * expected_rate)
    assert np.abs(frames).max() == pytest.approx(PEAK * 32767, abs=1)
    louder = frames[:, np.argmax(np.abs(frames).max(axis=0))].astype(float) / 32767
    held = louder[int(0.5 * expected_rate):int(1.9 * expected_rate)]
    # A steady sine: its RMS is its peak over root two, and here its peak is the file's.
    assert np.sqrt(np.mean(held ** 2)) == pytest.approx(PEAK / np.sqrt(2), rel=0.03)
    assert frequency(held, expected_rate) == pytest.approx(FREQUENCY, rel=0.005)
    octave = louder[int(3.2 * expected_rate):int(3.9 * expected_rate)]
    assert frequency(octave, expected_rate) == pytest.approx(2 * FREQUENCY, rel=0.005)
    # The sample's release is a quarter of a second: the end of the tail is silent.
    assert np.abs(frames[-int(0.5 * expected_rate):]).max() <= 1


def test_melody_chords_and_bass_all_sound_and_renderings_repeat_exactly(extra, tiny, tmp_path):
    melody = [Note(Fraction(k), Fraction(1), 72 + k % 3) for k in range(8)]
    chords = parse_changes("Dm7 G7 | Cmaj7")
    a = write_solo(tmp_path / "a", melody, chords, soundfont=tiny, bass=True)
    b = write_solo(tmp_path / "b", melody, chords, soundfont=tiny, bass=True)
    assert a[1].read_bytes() == b[1].read_bytes(), "the same music gives the same WAV"
    without_bass = write_wav(tmp_path / "c.wav", melody, chords, soundfont=tiny)
    assert without_bass.read_bytes() != a[1].read_bytes()
    only_chords = render_audio([], chords, soundfont=tiny)[0]
    assert np.abs(only_chords).max() == pytest.approx(PEAK, abs=1e-6), "the piano part sounds on its own"


def test_a_soundfont_loaded_ahead_in_a_thread_plays_the_same_audio(extra, tiny):
    """A command starts loading the SoundFont before it trains (prepare_audio); the rendering then
    takes what the thread loaded, and the audio is the same as when it loads the SoundFont itself."""
    melody = [Note(Fraction(k, 2), Fraction(1, 2), 69 + k % 5) for k in range(12)]
    chords = parse_changes("Dm7 G7 | Cmaj7")
    sf._loaded.cache_clear()
    itself = render_audio(melody, chords, soundfont=tiny, bass=True)[0]
    sf._loaded.cache_clear()
    prepare_audio(soundfont=tiny, bass=True)
    assert len(sf._loading) == 1
    ahead = render_audio(melody, chords, soundfont=tiny, bass=True)[0]
    assert not sf._loading and sf._loaded.cache_info().misses == 1, "loaded once, in the thread"
    np.testing.assert_array_equal(ahead, itself)
    prepare_audio(soundfont="none")
    assert not sf._loading, "nothing to load for the NumPy synthesizer"


def test_a_soundfont_that_fails_to_load_ahead_fails_at_the_rendering_as_before(extra, tmp_path):
    broken = tmp_path / "broken.sf2"
    broken.write_bytes(damaged_inside())
    prepare_audio(soundfont=broken)  # its headers are whole: the thread's loading fails, silently
    with pytest.raises(SoundFontError, match=r"damaged inside.*--soundfont none\.$"):
        render_audio([Note(Fraction(0), Fraction(1), 60)], [], soundfont=broken)
    assert not sf._loading


@pytest.mark.parametrize("threads, loaded_ahead", [(1, True), (2, False)])
def test_training_loads_the_soundfont_ahead_only_on_one_thread(extra, tiny, tmp_path, monkeypatch, capsys,
                                                              threads, loaded_ahead):
    """With two training threads no core is left to spare, and the first batches time the split
    between them (a decision kept on disk), so the SoundFont is then loaded when the solo is played."""
    from lstm_numpy import train
    from test_cli import in_process

    started = []
    monkeypatch.setattr(sf, "load_soon", lambda *args: started.append(args))
    code, err = in_process(train.main, [*TINY, "--epochs", "2", "--threads", str(threads), "--soundfont", str(tiny),
                                        "--out", str(tmp_path / "run")], capsys)
    assert code == 0, err
    assert bool(started) == loaded_ahead
    assert (tmp_path / "run" / "solo.wav").exists()


def test_a_missing_program_falls_back_to_the_lowest_numbered_preset_and_is_named(extra, tiny, capsys):
    # The tiny SoundFont has program 0 only; the tenor sax (66) is not in it.
    render_audio([Note(Fraction(0), Fraction(1), 69)], [], soundfont=tiny, program=66)
    err = capsys.readouterr().err
    assert f"sound: SoundFont {tiny}: sine over sine" in err
    render_audio([Note(Fraction(0), Fraction(1), 69)], [], soundfont=tiny, program=66)
    assert capsys.readouterr().err == "", "which sound was used is said once"


def test_the_program_goes_into_the_midi_file_too(extra, tiny, tmp_path):
    import mido

    paths = write_solo(tmp_path / "s", [Note(Fraction(0), Fraction(1), 69)], [], soundfont=tiny, program=65)
    programs = [m.program for t in mido.MidiFile(paths[0]).tracks for m in t if m.type == "program_change"]
    assert programs[0] == 65
    with pytest.raises(LstmNumpyError, match="from 0 to 127"):
        render_audio([], [], soundfont=tiny, program=128)


def damaged_inside() -> bytes:
    """RIFF, 'sfbk' and the three lists are there, but the preset table is 37 bytes of nothing."""
    return chunk(b"RIFF", b"sfbk" + riff_list(b"INFO", chunk(b"ifil", b"\2\0\1\0"))
                 + riff_list(b"sdta", chunk(b"smpl", b"\0" * 100)) + riff_list(b"pdta", chunk(b"phdr", b"x" * 37)))


def test_a_soundfont_damaged_inside_is_one_sentence_and_writes_nothing(extra, tmp_path):
    broken = tmp_path / "broken.sf2"
    broken.write_bytes(damaged_inside())
    sf.check_soundfont(broken)  # its headers are whole
    with pytest.raises(SoundFontError, match=r"damaged inside.*--soundfont none\.$"):
        write_solo(tmp_path / "out" / "solo", [Note(Fraction(0), Fraction(1), 60)], [], soundfont=broken)
    assert not (tmp_path / "out").exists(), "the audio is rendered before any file is written"


def test_each_program_plays_its_own_preset(extra, tmp_path):
    # Programs 0, 32 and 66 sound 440, 880 and 1320 Hz: the right one must sound after the
    # SoundFont is cut down to the presets played and renumbered.
    font = write_tiny_soundfont(tmp_path / "three.sf2", programs=(0, 32, 66))
    for program, harmonic in ((66, 3), (32, 2), (0, 1)):
        audio, rate = render_audio([Note(Fraction(0), Fraction(2), ROOT_KEY)], [], tempo_bpm=60,
                                   soundfont=font, program=program)
        held = audio[int(0.5 * rate):int(1.5 * rate), 1]
        assert frequency(held, rate) == pytest.approx(harmonic * FREQUENCY, rel=0.005), program


# ------------------------------------------------------------------------------ cutting a SoundFont

def test_a_cut_soundfont_keeps_only_the_presets_asked_for(tmp_path):
    font = write_tiny_soundfont(tmp_path / "three.sf2", programs=(0, 32, 66))
    tables = sf2.read_tables(font)
    assert sf2.presets(tables) == [(0, 0, "sine"), (0, 32, "sine 2"), (0, 66, "sine 3")]
    cut_font = tmp_path / "cut.sf2"
    cut_font.write_bytes(sf2.subset(font, tables, [(0, 66)]))
    sf.check_soundfont(cut_font)
    cut_tables = sf2.read_tables(cut_font)
    assert sf2.presets(cut_tables) == [(0, 66, "sine 3")]
    rows = cut_tables.records
    assert [len(rows[name]) for name in ("phdr", "inst", "shdr")] == [2, 2, 2], "one each, and the terminal"
    name, start, end, loop_start, loop_end, rate, key, *_ = rows["shdr"][0]
    assert (start, end, loop_start, loop_end, rate, key) == (0, 880, 20, 860, 3 * 8800, ROOT_KEY)
    assert cut_tables.smpl_points == 880 + 46
    assert sine_points().tobytes() + bytes(2 * 46) in cut_font.read_bytes(), "the points, then the padding"
    assert cut_font.stat().st_size < font.stat().st_size


def test_a_cut_soundfont_plays_like_the_whole_one(extra, tmp_path):
    import tinysoundfont

    font = write_tiny_soundfont(tmp_path / "three.sf2", programs=(0, 32, 66))
    played = []
    for data in (str(font), sf2.subset(font, sf2.read_tables(font), [(0, 32)])):
        synth = tinysoundfont.Synth(samplerate=22050)
        sfid = synth.sfload(data)
        synth.program_select(0, sfid, 0, 32)
        synth.noteon(0, 60, 100)
        played.append(np.frombuffer(synth.generate(11025), dtype=np.float32).copy())
    assert np.abs(played[0]).max() > 0.1
    np.testing.assert_allclose(played[1], played[0], atol=1e-5)


def test_compressed_samples_are_not_cut(tmp_path):
    data = bytearray(tiny_soundfont_bytes())
    at = data.index(b"sine A4") + 20 + 4 * 5 + 1 + 1 + 2  # the sample type of the first sample
    data[at:at + 2] = (1 | sf2.COMPRESSED).to_bytes(2, "little")
    font = tmp_path / "ogg.sf3"
    font.write_bytes(bytes(data))
    with pytest.raises(sf2.FormatError, match="compressed"):
        sf2.subset(font, sf2.read_tables(font), [(0, 0)])


# ------------------------------------------------------------------------------ checking a file

def cut(data: bytes, n: int) -> bytes:
    return data[:n]


@pytest.mark.parametrize("make, words", [
    (lambda good: b"", "does not start with a RIFF 'sfbk'"),
    (lambda good: b"MThd" + good[4:], "does not start with a RIFF 'sfbk'"),
    (lambda good: good[:8] + b"WAVE" + good[12:], "does not start with a RIFF 'sfbk'"),
    (lambda good: cut(good, len(good) - 10), "cut short"),
    (lambda good: chunk(b"RIFF", b"sfbk" + riff_list(b"INFO") + riff_list(b"sdta")), "no pdta list"),
    (lambda good: good[:12] + b"LIST\xff\xff\x00\x00" + good[20:], "runs past the end"),
])
def test_a_broken_file_is_one_sentence(tmp_path, make, words):
    path = tmp_path / "broken.sf2"
    path.write_bytes(make(tiny_soundfont_bytes()))
    with pytest.raises(SoundFontError) as raised:
        sf.check_soundfont(path)
    message = str(raised.value)
    assert words in message and str(path) in message
    assert message.endswith(".") and "\n" not in message


def test_missing_and_folder_are_named(tmp_path):
    with pytest.raises(SoundFontError, match="no such SoundFont file"):
        sf.check_soundfont(tmp_path / "nothing.sf2")
    with pytest.raises(SoundFontError, match="is a folder"):
        sf.check_soundfont(tmp_path)


def test_the_tiny_soundfont_passes_the_check(tiny):
    assert sf.check_soundfont(tiny) == tiny


# ------------------------------------------------------------------------------ choosing one

@pytest.fixture
def system(monkeypatch, tmp_path):
    """No environment setting; the system folders are a list the test chooses."""
    monkeypatch.delenv(sf.ENVIRONMENT_VARIABLE, raising=False)

    def place(*paths):
        monkeypatch.setattr(sf, "SYSTEM_SOUNDFONTS", tuple(str(p) for p in paths))
    return place


def test_none_given_or_in_the_environment_is_the_numpy_synthesizer(tiny, monkeypatch):
    assert sf.choose_soundfont("none")[0] is None
    monkeypatch.setenv(sf.ENVIRONMENT_VARIABLE, "none")
    path, why = sf.choose_soundfont(None)
    assert path is None and sf.ENVIRONMENT_VARIABLE in why


def test_a_system_soundfont_is_found_when_the_extra_is_there(system, tiny, tmp_path, monkeypatch):
    system(tmp_path / "absent.sf2", tiny)
    monkeypatch.setattr(sf, "synthesizer_installed", lambda: True)
    assert sf.choose_soundfont(None)[0] == tiny
    monkeypatch.setattr(sf, "synthesizer_installed", lambda: False)
    path, why = sf.choose_soundfont(None)
    assert path is None and str(tiny) in why and "pip install" in why


def test_without_any_soundfont_the_numpy_synthesizer_says_how_to_get_one(system, tmp_path):
    system(tmp_path / "absent.sf2")
    path, why = sf.choose_soundfont(None)
    assert path is None and "apt-get install fluid-soundfont-gm" in why


def test_a_broken_system_soundfont_is_skipped_not_fatal(system, tmp_path, monkeypatch):
    broken = tmp_path / "broken.sf2"
    broken.write_bytes(b"not a soundfont")
    system(broken)
    monkeypatch.setattr(sf, "synthesizer_installed", lambda: True)
    path, why = sf.choose_soundfont(None)
    assert path is None and str(broken) in why


def test_a_named_soundfont_without_the_extra_is_an_error(tiny, monkeypatch):
    monkeypatch.setattr(sf, "synthesizer_installed", lambda: False)
    with pytest.raises(SoundFontError, match=r'pip install -e "\.\[audio\]"'):
        sf.choose_soundfont(tiny)


def test_the_numpy_synthesizer_is_said_once_and_gives_the_same_length(capsys, monkeypatch):
    monkeypatch.setattr(sf, "_announced", set())
    melody = [Note(Fraction(0), Fraction(2), 69)]
    audio, rate = render_audio(melody, [], tempo_bpm=60, soundfont="none")
    assert rate == 22050 and audio.shape == (round(3.0 * 22050), 2)
    assert capsys.readouterr().err == "sound: the NumPy synthesizer (as asked)\n"
    render_audio(melody, [], tempo_bpm=60, soundfont="none")
    assert capsys.readouterr().err == ""


# --------------------------------------------------------------------------------- the commands

@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    result = run("train", *TINY, "--epochs", "1", "--out", str(out))
    assert result.returncode == 0, result.stderr
    return out / "checkpoint"


def one_sentence(result):
    assert result.returncode == 2 and "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].rstrip().endswith("."), result.stderr
    return lines[0]


@pytest.mark.parametrize("content", [b"", b"RIFF\x04\x00\x00\x00sfbk", b"just some text, not a SoundFont"])
def test_generate_with_a_broken_soundfont_is_one_sentence_exit_2_and_writes_nothing(checkpoint, tmp_path, content):
    broken = tmp_path / "broken.sf2"
    broken.write_bytes(content)
    out = tmp_path / "out" / "solo.mid"
    line = one_sentence(run("generate", "--checkpoint", str(checkpoint), "--soundfont", str(broken),
                            "--out", str(out)))
    assert str(broken) in line
    assert not out.parent.exists()


def test_train_checks_the_soundfont_before_training(tmp_path):
    line = one_sentence(run("train", "--midi", SMALL, "--soundfont", str(tmp_path / "missing.sf2"),
                            "--out", str(tmp_path / "run")))
    assert "no such SoundFont file" in line
    assert not (tmp_path / "run").exists()


def test_generate_plays_the_soundfont_with_a_bass_and_says_so(extra, checkpoint, tiny, tmp_path):
    out = tmp_path / "solo.mid"
    result = run("generate", "--checkpoint", str(checkpoint), "--soundfont", str(tiny), "--bass",
                 "--program", "1", "--bars", "2", "--out", str(out))
    assert result.returncode == 0, result.stderr
    sound_lines = [line for line in result.stderr.splitlines() if line.startswith("sound:")]
    assert sound_lines == [f"sound: SoundFont {tiny}: sine over sine, with sine"]
    assert read_wav(out.with_suffix(".wav"))[2] == 44100


def test_program_out_of_range_is_an_option_error(checkpoint):
    result = run("generate", "--checkpoint", str(checkpoint), "--program", "129")
    assert result.returncode == 2 and "1 to 128" in result.stderr


# ------------------------------------------------------------------------------- the walking bass

def test_walking_bass_over_a_ii_v_i_by_hand():
    # Dm7 G7 | Cmaj7, two beats each then a bar: D2, then F#2 leading a half step into G2, B2
    # leading into C3; then C3 and its chord tones E, G, B, turned down an octave above D3.
    line = walking_bass(flatten_chords(parse_changes("Dm7 G7 | Cmaj7")))
    assert [n.pitch for n in line] == [38, 42, 43, 47, 48, 40, 43, 47]
    assert [n.offset for n in line] == list(range(8)) and all(n.duration == 1 for n in line)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.tuples(st.sampled_from(ROOT_NAMES), st.sampled_from(["", "m7", "7", "maj7", "m7b5", "7b9"])),
                         min_size=1, max_size=2), min_size=1, max_size=6))
def test_walking_bass_plays_each_new_root_on_time_and_in_range(bars):
    text = " | ".join(" ".join(root + quality for root, quality in bar) for bar in bars)
    chords = flatten_chords(parse_changes(text))
    line = walking_bass(chords)
    assert len(line) == 4 * len(bars)
    assert all(LOW <= n.pitch <= HIGH for n in line)
    by_beat = {n.offset: n.pitch for n in line}
    previous = None
    for chord in chords:
        root = chord_symbol_root(chord.pitches)
        if chord.offset.denominator == 1 and (root != previous or chord.offset % 4 == 0):
            assert by_beat[chord.offset] % 12 == root, text
        previous = root


def test_walking_bass_walks_through_the_gaps_of_comping():
    # Two short stabs of Bb7 with rests between them: the harmony, and the walk, last until the end.
    bb7 = chord_pitches("Bb7")
    chords = [Chord(Fraction(0), Fraction(1, 2), bb7), Chord(Fraction(5, 2), Fraction(3, 2), bb7)]
    line = walking_bass(chords)
    assert [n.offset for n in line] == [0, 1, 2, 3] and line[0].pitch % 12 == 10
    assert walking_bass([]) == []


def test_the_numpy_synthesizer_plays_the_bass_too():
    chords = parse_changes("Cmaj7")
    plain, _ = render_audio([], chords, soundfont="none")
    with_bass, _ = render_audio([], chords, soundfont="none", bass=True)
    assert plain.shape == with_bass.shape and not np.array_equal(plain, with_bass)
