"""Hear and see a solo: a WAV from a tiny NumPy synthesizer, a piano roll, and the loss curve.

The synthesizer needs no soundfont and no download: the melody is an electric-piano-like tone
(a few harmonics, the higher ones dying away faster, as on a struck string or tine) and the chords
are a soft organ-like pad underneath. It is meant for listening to what the model made, not for
beauty. When a SoundFont is at hand (``lstm_numpy/soundfont.py`` says where it looks), the same
solo is played by recorded instruments instead: a tenor saxophone over a piano, and on request a
walking bass (``lstm_numpy/bass.py``). :func:`render_audio` makes that choice for every WAV and
player of this module.

The pictures are SVG, which is text: the rectangles, lines and labels are written with the small
kit in ``lstm_numpy/svg.py``, so no plotting library is needed (and none is imported, which keeps
the commands quick). Any browser opens the files. In a notebook, ``listen(solo)`` plays the sound
in the page, and the plotting functions given ``path=None`` return a
:class:`~lstm_numpy.svg.Picture`, which the notebook shows.

Every file is written atomically: into a temporary file in the same folder, then renamed.
"""

from __future__ import annotations

import io
import math
import wave
from fractions import Fraction
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np

from .changes import chord_symbol
from .errors import LstmNumpyError
from .files import write_atomically, written_together
from .limits import MAX_WAV_SECONDS
from .notes import Chord, Note
from .svg import (GRID, Axes, Canvas, Picture, draw_frame, draw_grid, draw_legend, linear_ticks, log_ticks,
                  number)

TAIL_SECONDS = 1.0  # silence after the last note, so its release is not cut off

ChordsLike = Union[Sequence[Chord], Sequence[Sequence[Chord]]]


def flatten_chords(chords: Optional[ChordsLike]) -> List[Chord]:
    """A flat list of Chord, whether given flat or as one list per bar."""
    flat: List[Chord] = []
    for item in chords or []:
        if isinstance(item, Chord):
            flat.append(item)
        else:
            flat.extend(item)
    return flat


def melody_and_chords(solo, chords: Optional[ChordsLike] = None):
    """(melody, flat chords) from an improvise.Solo, or from a list of Note and its chords."""
    if chords is None and hasattr(solo, "melody"):
        return list(solo.melody), flatten_chords(solo.chords)
    return list(solo), flatten_chords(chords)


def music_end(melody: Iterable[Note], chords: ChordsLike) -> Fraction:
    """Where the music stops, in quarter notes: the latest end of any note or chord (0 if none)."""
    ends = [n.offset + n.duration for n in melody if not n.is_rest]
    ends += [c.offset + c.duration for c in flatten_chords(chords)]
    return max(ends, default=Fraction(0))


# ------------------------------------------------------------------------------------------ sound

def midi_to_hz(pitch: int) -> float:
    """Equal temperament with A4 (MIDI 69) at 440 Hz."""
    return 440.0 * 2.0 ** ((pitch - 69) / 12)


# The instruments: harmonic amplitudes, how fast the k-th harmonic fades (decay_per_s * k per
# second), and the attack and release in seconds.
LEAD = dict(harmonics=(1.0, 0.45, 0.2, 0.1), decay_per_s=1.5, attack_s=0.004, release_s=0.06)
PAD = dict(harmonics=(1.0, 0.25), decay_per_s=0.4, attack_s=0.03, release_s=0.15)


def _tone(pitch: int, n_held: int, sample_rate: int, harmonics: Sequence[float], decay_per_s: float,
          attack_s: float, release_s: float) -> np.ndarray:
    """One note: additive harmonics under an attack / decay / release envelope.

    n_held: samples from the attack to the release (the note's written length).
    Returns n_held + release samples as float32, peak amplitude about 1.

    Sound needs no more than float32, where NumPy's sin and exp run many times faster than in
    float64. Only the phase needs care: counted in radians it grows into the thousands, where
    float32 would blur it. So it is counted in cycles of the fundamental, in float64, and only
    the fraction of the current cycle is kept; the k-th harmonic is then k times that fraction.
    """
    n = np.arange(n_held + int(release_s * sample_rate))
    t = (n / sample_rate).astype(np.float32)
    f0 = midi_to_hz(pitch)
    cycles = n * (f0 / sample_rate)
    radians = np.float32(2 * np.pi) * (cycles - np.floor(cycles)).astype(np.float32)  # in [0, 2 pi)
    wave_ = np.zeros(len(n), dtype=np.float32)
    for k, amplitude in enumerate(harmonics, start=1):
        if f0 * k >= sample_rate / 2:  # above Nyquist it would fold back as a wrong pitch
            break
        # Higher harmonics fade sooner, which is what makes a struck tone sound struck.
        fading = np.exp(np.float32(-decay_per_s * k) * t)
        wave_ += np.float32(amplitude) * fading * np.sin(np.float32(k) * radians)
    envelope = np.minimum(np.float32(1.0), t / np.float32(attack_s))
    envelope[n_held:] *= np.linspace(1.0, 0.0, len(n) - n_held, endpoint=False, dtype=np.float32)
    return wave_ * envelope / np.float32(sum(harmonics))


SAMPLE_RATE = 22050  # the NumPy synthesizer's: plenty for its few harmonics
SOUNDFONT_SAMPLE_RATE = 44100  # recorded instruments have overtones up to the top of hearing
PEAK = 0.9  # every rendering is scaled so that its loudest sample is this (a little headroom)


def frame_timing(melody: Sequence[Note], chords: ChordsLike, tempo_bpm: float, sample_rate: int,
                 tail_seconds: float = TAIL_SECONDS) -> Tuple[float, int]:
    """(samples per beat, n_frames) of a rendering, after checking the tempo, the sample rate and
    the length (at most limits.MAX_WAV_SECONDS of music).

    n_frames = round((music_end * 60 / tempo_bpm + tail_seconds) * sample_rate).
    """
    if not tempo_bpm > 0 or not math.isfinite(tempo_bpm):
        raise LstmNumpyError(f"the tempo must be a positive number of beats per minute, got {tempo_bpm!r}.")
    if not isinstance(sample_rate, int) or sample_rate < 1000:
        raise LstmNumpyError(f"the sample rate must be a whole number of at least 1000 Hz, got {sample_rate!r}.")
    seconds = float(music_end(melody, chords)) * 60.0 / tempo_bpm
    if seconds > MAX_WAV_SECONDS:
        raise LstmNumpyError(f"the music lasts {seconds / 60:.0f} minutes at {tempo_bpm:g} beats per minute, longer "
                             f"than the {MAX_WAV_SECONDS // 60} minutes a WAV file may hold here; ask for fewer bars "
                             f"or a faster tempo.")
    n_frames = int(round((seconds + tail_seconds) * sample_rate))
    return 60.0 / tempo_bpm * sample_rate, n_frames


def normalized(stereo: np.ndarray) -> np.ndarray:
    """Scale audio in place so that its loudest sample is PEAK (silence stays silent)."""
    peak = np.max(np.abs(stereo), initial=0.0)
    if peak > 0:
        stereo *= np.float32(PEAK / peak)
    return stereo


def synthesize(melody: Sequence[Note], chords: ChordsLike, tempo_bpm: float = 130,
               sample_rate: int = SAMPLE_RATE, tail_seconds: float = TAIL_SECONDS,
               bass: Sequence[Note] = ()) -> np.ndarray:
    """Render melody and chords (and a bass line, if given) to audio with the NumPy synthesizer.

    Returns (n_frames, 2) float32 samples in [-1, 1] (left, right), where
    n_frames = round((music_end * 60 / tempo_bpm + tail_seconds) * sample_rate).
    """
    samples_per_beat, n_frames = frame_timing(melody, chords, tempo_bpm, sample_rate, tail_seconds)
    tracks = np.zeros((3, n_frames), dtype=np.float32)  # the melody, the chords, the bass
    tones: Dict[Tuple[int, int, int], np.ndarray] = {}  # a solo repeats notes, chords repeat bar after bar

    def add(column: int, element: Union[Note, Chord], pitch: int, gain: float) -> None:
        n_held = max(0, int(round(float(element.duration) * samples_per_beat)))
        sound = tones.get((column, pitch, n_held))
        if sound is None:
            sound = tones[column, pitch, n_held] = _tone(pitch, n_held, sample_rate, **(PAD if column == 1 else LEAD))
        start = int(round(float(element.offset) * samples_per_beat))
        stop = min(n_frames, start + len(sound))
        if stop > start:
            tracks[column, start:stop] += np.float32(gain) * sound[: stop - start]

    for note in melody:
        if not note.is_rest:
            add(0, note, note.pitch, note.velocity / 127)
    for chord in flatten_chords(chords):
        for pitch in chord.pitches:
            # Quieter per voice, so a five-note chord does not bury the melody.
            add(1, chord, pitch, 0.35 * chord.velocity / 127 / math.sqrt(len(chord.pitches)))
    for note in bass:
        if not note.is_rest:
            add(2, note, note.pitch, 0.6 * note.velocity / 127)

    # The melody leans right and the chords left, as if two players sat side by side; the bass
    # stands between them.
    stereo = np.empty((n_frames, 2), dtype=np.float32)
    stereo[:, 0] = np.float32(0.7) * tracks[0] + tracks[1] + np.float32(0.85) * tracks[2]
    stereo[:, 1] = tracks[0] + np.float32(0.7) * tracks[1] + np.float32(0.85) * tracks[2]
    return normalized(stereo)


def render_audio(melody: Sequence[Note], chords: ChordsLike, tempo_bpm: float = 130,
                 sample_rate: Optional[int] = None, soundfont=None, program: Optional[int] = None,
                 bass: bool = False, beats_per_bar: int = 4) -> Tuple[np.ndarray, int]:
    """The music as audio, through a SoundFont when there is one, else the NumPy synthesizer.

    soundfont: a .sf2/.sf3 path, "none" for the NumPy synthesizer, or None to look for one
        (``lstm_numpy.soundfont.choose_soundfont`` lists where); which was used is said once on
        stderr.
    program: the melody's General MIDI program, counted from 0 as in MIDI files (None: 66, the
        tenor sax; General MIDI's printed list counts from 1 and calls it 67). SoundFonts only.
    bass: add a walking bass from the chord roots (one note a beat; ``lstm_numpy.bass``).
    sample_rate: None takes 22050 Hz for the NumPy synthesizer and 44100 Hz for a SoundFont.
    Returns ((n_frames, 2) float32 audio with its loudest sample at PEAK, the sample rate); the
    length is the same for both renderers (see :func:`frame_timing`).
    """
    from .bass import walking_bass
    from .soundfont import announce, choose_soundfont, note_frames, programs_played, render_with_soundfont

    if program is not None and not (isinstance(program, (int, np.integer)) and 0 <= program <= 127):
        raise LstmNumpyError(f"the melody's program must be a whole number from 0 to 127 (General MIDI's "
                             f"1 to 128, less one), got {program!r}.")
    flat = flatten_chords(chords)
    bass_line = walking_bass(flat, beats_per_bar) if bass else []
    soundfont_path, description = choose_soundfont(soundfont)
    if soundfont_path is None:
        rate = sample_rate or SAMPLE_RATE
        audio = synthesize(melody, flat, tempo_bpm=tempo_bpm, sample_rate=rate, bass=bass_line)
    else:
        rate = sample_rate or SOUNDFONT_SAMPLE_RATE
        samples_per_beat, n_frames = frame_timing(melody, flat, tempo_bpm, rate)
        programs = programs_played(program, bool(bass_line))
        parts = [("melody", programs[0], note_frames(melody, samples_per_beat)),
                 ("chords", programs[1], note_frames(flat, samples_per_beat))]
        if bass_line:
            parts.append(("bass", programs[2], note_frames(bass_line, samples_per_beat)))
        audio, played = render_with_soundfont(soundfont_path, parts, n_frames, rate)
        audio = normalized(audio)
        description += ": " + " over ".join(played[:2]) + (f", with {played[2]}" if bass_line else "")
    announce(description)
    return audio, rate


def prepare_audio(soundfont=None, program: Optional[int] = None, bass: bool = False,
                  sample_rate: Optional[int] = None) -> None:
    """Start loading, in the background, the SoundFont that render_audio with these arguments will
    play (nothing for the NumPy synthesizer); a command calls it before its long work, so that the
    loading overlaps that work (``soundfont.load_soon``). The audio is the same either way."""
    from .soundfont import choose_soundfont, load_soon, programs_played

    path, _ = choose_soundfont(soundfont)
    if path is not None:
        load_soon(path, sample_rate or SOUNDFONT_SAMPLE_RATE, programs_played(program, bass))


def wav_bytes(audio: np.ndarray, sample_rate: int) -> bytes:
    """(n_frames, 2) audio in [-1, 1] as the bytes of a 16-bit stereo WAV file."""
    pcm = np.round(audio * 32767).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(pcm.tobytes())
    return buffer.getvalue()


def write_wav(path, melody, chords: Optional[ChordsLike] = None, tempo_bpm: float = 130,
              sample_rate: Optional[int] = None, soundfont=None, program: Optional[int] = None,
              bass: bool = False) -> Path:
    """Write melody and chords as a 16-bit stereo WAV file, readable by any player and ``wave``.

    melody: a list of Note with ``chords``, or an improvise.Solo on its own.
    soundfont, program, bass, sample_rate: as for :func:`render_audio`.
    Length: the music plus TAIL_SECONDS of decay (see :func:`frame_timing`). Returns the path.
    """
    audio, rate = render_audio(*melody_and_chords(melody, chords), tempo_bpm=tempo_bpm, sample_rate=sample_rate,
                               soundfont=soundfont, program=program, bass=bass,
                               beats_per_bar=getattr(melody, "beats_per_bar", 4))
    return write_atomically(Path(path), wav_bytes(audio, rate))


def listen(solo, chords: Optional[ChordsLike] = None, tempo_bpm: float = 130, sample_rate: Optional[int] = None,
           soundfont=None, program: Optional[int] = None, bass: bool = False):
    """A player for a Jupyter notebook: ``listen(solo)`` as the last line of a cell plays it.

    solo: an improvise.Solo, or a list of Note with ``chords``.
    soundfont, program, bass, sample_rate: as for :func:`render_audio`; by default a SoundFont
    found on the system plays it, else the NumPy synthesizer. Returns an IPython Audio object.
    """
    try:
        from IPython.display import Audio
    except ImportError:
        raise LstmNumpyError('listening inside Python needs IPython; run pip install "lstm_numpy[notebook]", '
                             'or write a file with write_wav.') from None
    audio, rate = render_audio(*melody_and_chords(solo, chords), tempo_bpm=tempo_bpm, sample_rate=sample_rate,
                               soundfont=soundfont, program=program, bass=bass,
                               beats_per_bar=getattr(solo, "beats_per_bar", 4))
    return Audio(audio.T, rate=rate, normalize=False)


# --------------------------------------------------------------------------------------- pictures
#
# The pictures are SVG, drawn with the small kit in lstm_numpy/svg.py. Nothing needs to be
# installed for them, any browser opens the files, and a notebook shows them inline.

MELODY_FILL, MELODY_EDGE, CHORD_FILL, CHORD_TEXT = "#e8743b", "#8a3a12", "#9ec5e8", "#2f5f8a"
LOSS_COLOR, ACCURACY_COLOR, OTHER_COLOR = "#1f5fa8", "#2a8a3e", "#999999"
BLACK_KEYS = {1, 3, 6, 8, 10}  # pitch classes of C#, Eb, F#, Ab, Bb

# ----------------------------------------------------------------------------------- piano roll

PITCH_CLASS_NAMES = ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"]
def _pitch_name(pitch: int) -> str:
    return f"{PITCH_CLASS_NAMES[pitch % 12]}{pitch // 12 - 1}"


def _beats(value: Fraction) -> str:
    """A time in quarter notes for a tooltip: 12, 12.25, 12.33."""
    return number(float(value))


def plot_piano_roll(path, melody, chords: Optional[ChordsLike] = None,
                    beats_per_bar: Optional[int] = None, title: Optional[str] = None) -> Union[Path, Picture]:
    """Draw the solo over its chords as a piano roll: time across, pitch up, one box per note.

    path: the SVG file to write (atomically; returns the path), or None to return the Picture
        (a notebook shows it when it is a cell's last value).
    melody: a list of Note with ``chords``, or an improvise.Solo on its own.
    beats_per_bar: quarter notes between bar lines; None takes the solo's own, or 4.
    title: the heading; None says how many notes and chords there are.

    The melody's notes are orange boxes, the chord tones pale blue ones behind them, each box as
    long as the note; hovering over one in a browser names it. Rows of the black keys are shaded,
    the C of each octave is labelled, and each change of chord is named above the roll with its
    seventh and alterations (``Bb7``, ``Cm7``, ``F7b9``: :func:`lstm_numpy.changes.chord_symbol`).
    """
    if beats_per_bar is None:
        beats_per_bar = getattr(melody, "beats_per_bar", 4)
    if not isinstance(beats_per_bar, (int, np.integer)) or beats_per_bar < 1:
        raise LstmNumpyError(f"beats_per_bar must be a positive whole number, got {beats_per_bar!r}.")
    melody, flat = melody_and_chords(melody, chords)
    notes = [n for n in melody if not n.is_rest]
    end = float(music_end(notes, flat)) or float(beats_per_bar)
    pitches = [n.pitch for n in notes] + [p for c in flat for p in c.pitches] or [60]
    low, high = min(pitches) - 2, max(pitches) + 2

    # About 24 px per beat and 6 px per semitone, within bounds that fit a page or a screen.
    plot_width = min(2200.0, max(560.0, 24.0 * end))
    plot_height = min(480.0, max(240.0, 6.0 * (high - low + 1)))
    axes = Axes(left=60, top=64, width=plot_width, height=plot_height, x_range=(0.0, end),
                y_range=(low - 0.5, high + 0.5))
    canvas = Canvas(axes.right + 20, axes.bottom + 52,
                    title or f"solo: {len(notes)} notes over {len(flat)} chords")
    per_beat, row = axes.width / end, axes.height / (high - low + 1)

    for pitch in range(low, high + 1):
        if pitch % 12 in BLACK_KEYS:
            canvas.rect(axes.left, axes.y(pitch + 0.5), axes.width, row, fill="#f3f3f3")
        elif pitch % 12 == 0:  # the line under each C separates the octaves
            canvas.line(axes.left, axes.y(pitch - 0.5), axes.right, axes.y(pitch - 0.5), stroke=GRID)
    if per_beat >= 10:  # beat lines, unless they would crowd together
        for beat in range(1, int(end) + 1):
            if beat % beats_per_bar:
                canvas.line(axes.x(beat), axes.top, axes.x(beat), axes.bottom, stroke="#f0f0f0")
    bar_lines = range(0, int(end) + 1, beats_per_bar)
    for beat in bar_lines:
        canvas.line(axes.x(beat), axes.top, axes.x(beat), axes.bottom, stroke="#b8b8b8")

    shown_until, shown_symbol = -math.inf, None
    for chord in flat:
        x, width = axes.x(float(chord.offset)), float(chord.duration) * per_beat
        symbol = chord_symbol(chord.pitches)
        names = " ".join(_pitch_name(p) for p in chord.pitches)
        tooltip = f"{symbol} ({names}): beat {_beats(chord.offset)}, {_beats(chord.duration)} beats"
        for pitch in chord.pitches:
            canvas.rect(x, axes.y(pitch + 0.5), width, row, tooltip, class_="chord", fill=CHORD_FILL,
                        fill_opacity="0.7")
        if symbol != shown_symbol and x >= shown_until:  # a new chord, with room for its name
            canvas.text(x + 2, axes.top - 6, symbol, font_size=11, fill=CHORD_TEXT, class_="symbol")
            shown_until, shown_symbol = x + 8 + 7 * len(symbol), symbol
    for note in notes:
        tooltip = f"{_pitch_name(note.pitch)}: beat {_beats(note.offset)}, {_beats(note.duration)} beats"
        canvas.rect(axes.x(float(note.offset)), axes.y(note.pitch + 0.5), float(note.duration) * per_beat,
                    row, tooltip, class_="note", fill=MELODY_FILL, stroke=MELODY_EDGE, stroke_width="0.6")

    # Label every bar line when they are far enough apart, else every second, fourth, ...
    every = 1
    while len(bar_lines) > 1 and every * beats_per_bar * per_beat < 36:
        every *= 2
    x_ticks = [(float(beat), str(beat)) for beat in bar_lines[::every]]
    # The C of each octave; in a range too narrow to hold two, the Cs, Es and Gs.
    labelled = (0,) if sum(p % 12 == 0 for p in range(low, high + 1)) >= 2 else (0, 4, 7)
    y_ticks = [(float(p), _pitch_name(p)) for p in range(low, high + 1) if p % 12 in labelled]
    # The chord names use the space just over the roll, the title the space above them.
    draw_frame(canvas, axes, x_ticks, y_ticks, f"quarter notes (bar lines every {beats_per_bar})",
               "pitch", canvas.title, title_gap=30)
    draw_legend(canvas, axes, [("melody", {"fill": MELODY_FILL, "stroke": MELODY_EDGE}),
                               ("chords", {"fill": CHORD_FILL})], below=True)
    picture = canvas.picture()
    return picture if path is None else picture.save(path)


# ----------------------------------------------------------------------------------- loss curve

def _history_values(history, key: str) -> List[float]:
    try:
        return [float(v) if np.ndim(v) == 0 else float(np.mean(v)) for v in history.get(key) or []]
    except (TypeError, ValueError, AttributeError):
        raise LstmNumpyError(f"the training history's {key!r} must hold one number (or one list of "
                             "numbers) per epoch; pass the history that training returned.") from None


def _value_range(values: Sequence[float], log: bool) -> Tuple[float, float]:
    """The y range showing ``values`` with a little room above and below."""
    low, high = min(values), max(values)
    if log:
        if low == high:
            return low / 2, high * 2
        room = (high / low) ** 0.05
        return low / room, high * room
    room = (high - low) * 0.05 or max(1.0, abs(high) * 0.1)
    return low - room, high + room


Curve = Tuple[str, List[float], Dict[str, str], str]  # css class, one value per epoch, style, name


def _curve_panel(canvas: Canvas, box: Tuple[float, float, float, float], curves: Sequence[Curve],
                 y_label: str, title: str, y_range: Optional[Tuple[float, float]] = None,
                 log_allowed: bool = False) -> None:
    """One panel of curves over epochs 1, 2, ...; a legend names them when there are several.

    The y axis is logarithmic when ``log_allowed`` and every value is positive. Values that are
    not finite (a diverged run) are left out of their curve.
    """
    finite = [v for _, values, _, _ in curves for v in values if math.isfinite(v)]
    log = log_allowed and all(v > 0 for v in finite)
    n_epochs = max(len(values) for _, values, _, _ in curves)
    x_range = (1.0, float(n_epochs)) if n_epochs > 1 else (0.0, 2.0)
    axes = Axes(*box, x_range=x_range, y_range=y_range or _value_range(finite, log), log_y=log)
    x_ticks = [(v, label) for v, label in linear_ticks(*x_range, count=6, whole=True) if v >= 1]
    y_ticks = log_ticks(*axes.y_range) if log else linear_ticks(*axes.y_range, count=6)
    draw_grid(canvas, axes, x_ticks, y_ticks)
    for css_class, values, style, _ in curves:
        points = [(axes.x(epoch), axes.y(v)) for epoch, v in enumerate(values, start=1)
                  if math.isfinite(v)]
        canvas.polyline(points, class_=css_class, stroke_width="2", stroke_linejoin="round", **style)
        if len(values) <= 20:  # few epochs: mark each one, or a single epoch would not show at all
            for x, y in points:
                canvas.circle(x, y, 2.5, fill=style["stroke"])
    draw_frame(canvas, axes, x_ticks, y_ticks, "epoch", y_label + (", log scale" if log else ""), title)
    if len(curves) > 1:
        draw_legend(canvas, axes, [(name, style) for _, _, style, name in curves])


def plot_loss(path, history: Dict[str, list], others: Optional[Dict[str, Sequence[float]]] = None,
              label: str = "this run") -> Union[Path, Picture]:
    """Draw the training curves: the loss per epoch, and the accuracy beside it when recorded.

    path: the SVG file to write (atomically; returns the path), or None to return the Picture
        (a notebook shows it when it is a cell's last value).
    history: {"loss": [one per epoch], "accuracy": [per epoch, a list with one per time step]};
        "accuracy" is optional and drawn as its mean over the time steps.
    others: more loss curves to compare with, {name: [loss per epoch]}, drawn dashed in grey;
        with them a legend names each curve, this history's as ``label``.

    The loss is drawn on a log scale when it is positive throughout, since it falls by orders of
    magnitude (the course's went from about 126 to 6).
    """
    loss = _history_values(history, "loss")
    if not any(math.isfinite(v) for v in loss):
        raise LstmNumpyError("the training history has no loss values to plot; train for at least one "
                             "epoch.")
    accuracy = _history_values(history, "accuracy")
    curves: List[Curve] = [("loss", loss, {"stroke": LOSS_COLOR}, label)]
    for name, values in (others or {}).items():
        curves.append(("other", _history_values({"loss": values}, "loss"),
                       {"stroke": OTHER_COLOR, "stroke_dasharray": "6 4"}, name))

    panel_width, panel_height = 540.0, 300.0
    canvas = Canvas(80 + panel_width + (90 + panel_width if accuracy else 0) + 30, panel_height + 100,
                    f"loss: {loss[0]:.3g} → {loss[-1]:.3g}")
    _curve_panel(canvas, (80, 40, panel_width, panel_height), curves, "loss: sum over the time steps",
                 canvas.title, log_allowed=True)
    if accuracy:
        _curve_panel(canvas, (170 + panel_width, 40, panel_width, panel_height),
                     [("accuracy", accuracy, {"stroke": ACCURACY_COLOR}, "accuracy")],
                     "accuracy: mean over the time steps",
                     f"accuracy: {accuracy[-1]:.2f} at the end", y_range=(0.0, 1.0))
    picture = canvas.picture()
    return picture if path is None else picture.save(path)


# ------------------------------------------------------------------------------- distributions

SET_COLORS = ("#e8743b", "#1f5fa8", "#2a8a3e", "#8a3a9e")  # one per set of pieces, in order

Panel = Tuple[str, Sequence[str], Dict[str, Sequence[float]]]  # title, bin labels, set -> shares


def plot_distributions(path, panels: Sequence[Panel], title: str = "solos beside their training music"
                       ) -> Union[Path, Picture]:
    """Grouped bar charts side by side: in each panel, one bar per set of pieces in every bin.

    panels: (title, bin labels, {set name: one percentage per bin}); every panel names the same
        sets, in the same order, and they share a legend. Drawn by ``evaluate`` for the interval
        histogram, the durations and the chord-tone shares.
    path: the SVG file to write (atomically; returns the path), or None to return the Picture.
    """
    names = list(panels[0][2])
    colors = {name: SET_COLORS[k % len(SET_COLORS)] for k, name in enumerate(names)}
    panel_height, gap, left = 260.0, 80.0, 70.0
    # a bin is wide enough for its bars and for the longest label under it (about 7 px a letter)
    widths = [len(bins) * max(14.0 * len(names) + 10, 7.0 * max(len(b) for b in bins) + 10)
              for _, bins, _ in panels]
    canvas = Canvas(left + sum(widths) + gap * (len(panels) - 1) + 30, panel_height + 120, title)
    x0 = left
    for (panel_title, bins, shares), width in zip(panels, widths):
        top = max([v for values in shares.values() for v in values if v is not None] + [1.0])
        axes = Axes(x0, 50, width, panel_height, x_range=(0.0, float(len(bins))), y_range=(0.0, top * 1.08))
        y_ticks = linear_ticks(0.0, top * 1.08, count=5)
        draw_grid(canvas, axes, [], y_ticks)
        bar = 0.8 / len(names)
        for b, label in enumerate(bins):
            for k, name in enumerate(names):
                value = shares[name][b]
                if value is None:
                    continue
                x = axes.x(b + 0.1 + k * bar)
                canvas.rect(x, axes.y(value), axes.x(bar) - axes.x(0), axes.y(0) - axes.y(value),
                            f"{name}, {label}: {value:.1f}%", fill=colors[name], class_="bar")
        x_ticks = [(b + 0.5, label) for b, label in enumerate(bins)]
        draw_frame(canvas, axes, x_ticks, y_ticks, "", "%", panel_title)
        x0 += width + gap
    draw_legend(canvas, axes, [(name, {"fill": colors[name]}) for name in names], below=True)
    picture = canvas.picture()
    return picture if path is None else picture.save(path)


# ----------------------------------------------------------------------------- all three at once

def write_solo(stem, solo, chords: Optional[ChordsLike] = None, tempo_bpm: float = 130,
               sample_rate: Optional[int] = None, soundfont=None, program: Optional[int] = None,
               bass: bool = False) -> List[Path]:
    """Write stem.mid (melody and chord tracks), stem.wav and stem.svg (the piano roll).

    stem: the files' common name, such as ``output/solo``; a name ending in .mid or .midi (any
        letter case) is kept as it is for the MIDI file, and the others are named after it.
    solo: an improvise.Solo (its melody and chords are used), or a list of Note with ``chords``.
    soundfont, program, bass, sample_rate: how the WAV sounds, as for :func:`render_audio`. A
        ``program`` given is also the MIDI file's melody program; the bass is heard in the WAV only.
    Returns the three paths. The audio is rendered before any file is written, so a SoundFont that
    fails to load leaves no files half made.
    """
    from .midi_io import write_midi

    melody, flat = melody_and_chords(solo, chords)
    audio, rate = render_audio(melody, flat, tempo_bpm=tempo_bpm, sample_rate=sample_rate, soundfont=soundfont,
                               program=program, bass=bass, beats_per_bar=getattr(solo, "beats_per_bar", 4))
    stem = Path(stem)
    if stem.suffix.lower() in (".mid", ".midi"):
        midi_path, stem = stem, stem.with_suffix("")
    else:
        midi_path = stem.with_name(stem.name + ".mid")
    stem.parent.mkdir(parents=True, exist_ok=True)
    programs = {} if program is None else {"melody_program": int(program)}
    paths = [midi_path, stem.with_name(stem.name + ".wav"), stem.with_name(stem.name + ".svg")]
    # all three or none: never a new .mid beside an older solo's .wav
    with written_together(paths) as (midi_tmp, wav_tmp, svg_tmp):
        write_midi(midi_tmp, melody, flat, tempo_bpm=tempo_bpm, **programs)
        write_atomically(wav_tmp, wav_bytes(audio, rate))
        plot_piano_roll(svg_tmp, solo, chords)
    return paths
