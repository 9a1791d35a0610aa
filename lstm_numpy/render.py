"""Hear and see a solo: a WAV from a tiny NumPy synthesizer, a piano roll, and the loss curve.

The synthesizer needs no soundfont and no download: the melody is an electric-piano-like tone
(a few harmonics, the higher ones dying away faster, as on a struck string or tine) and the chords
are a soft organ-like pad underneath. It is meant for listening to what the model made, not for
beauty.

In a notebook, ``listen(solo)`` plays the same sound in the page, and the plotting functions
given ``path=None`` return the Figure for the notebook to show.

Pictures use matplotlib, an optional extra (``pip install "lstm_numpy[plot]"``). It is imported
only when a picture is asked for; without it the plotting functions raise an LstmNumpyError that
says what to install, and everything else still works. Figures are drawn with the Agg canvas
directly, so no window opens and a notebook's own matplotlib settings are left alone.

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

from .errors import LstmNumpyError
from .files import write_atomically
from .notes import Chord, Note

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


def _tone(pitch: int, n_held: int, sample_rate: int, harmonics: Sequence[float], decay_per_s: float,
          attack_s: float, release_s: float) -> np.ndarray:
    """One note: additive harmonics under an attack / decay / release envelope.

    n_held: samples from the attack to the release (the note's written length).
    Returns n_held + release samples, peak amplitude about 1.
    """
    n_release = int(release_s * sample_rate)
    t = np.arange(n_held + n_release) / sample_rate
    f0 = midi_to_hz(pitch)
    wave_ = np.zeros_like(t)
    for k, amplitude in enumerate(harmonics, start=1):
        if f0 * k >= sample_rate / 2:  # above Nyquist it would fold back as a wrong pitch
            break
        # Higher harmonics fade sooner, which is what makes a struck tone sound struck.
        wave_ += amplitude * np.exp(-decay_per_s * k * t) * np.sin(2 * np.pi * f0 * k * t)
    envelope = np.minimum(1.0, t / attack_s)
    envelope[n_held:] *= np.linspace(1.0, 0.0, n_release, endpoint=False)
    return wave_ * envelope / sum(harmonics)


def synthesize(melody: Sequence[Note], chords: ChordsLike, tempo_bpm: float = 130,
               sample_rate: int = 22050, tail_seconds: float = TAIL_SECONDS) -> np.ndarray:
    """Render melody and chords to audio.

    Returns (n_frames, 2) float64 samples in [-1, 1] (left, right), where
    n_frames = round((music_end * 60 / tempo_bpm + tail_seconds) * sample_rate).
    """
    if not tempo_bpm > 0 or not math.isfinite(tempo_bpm):
        raise LstmNumpyError(f"the tempo must be a positive number of beats per minute, got {tempo_bpm!r}.")
    if not isinstance(sample_rate, int) or sample_rate < 1000:
        raise LstmNumpyError(f"the sample rate must be a whole number of at least 1000 Hz, got {sample_rate!r}.")
    samples_per_beat = 60.0 / tempo_bpm * sample_rate
    n_frames = int(round((float(music_end(melody, chords)) * 60.0 / tempo_bpm + tail_seconds) * sample_rate))
    lead = np.zeros(n_frames)
    pad = np.zeros(n_frames)

    def add(track: np.ndarray, start_beats: Fraction, sound: np.ndarray, gain: float) -> None:
        start = int(round(float(start_beats) * samples_per_beat))
        stop = min(n_frames, start + len(sound))
        if stop > start:
            track[start:stop] += gain * sound[: stop - start]

    for note in melody:
        if note.is_rest:
            continue
        n_held = max(0, int(round(float(note.duration) * samples_per_beat)))
        sound = _tone(note.pitch, n_held, sample_rate, harmonics=(1.0, 0.45, 0.2, 0.1),
                      decay_per_s=1.5, attack_s=0.004, release_s=0.06)
        add(lead, note.offset, sound, note.velocity / 127)
    pad_tones: Dict[Tuple[int, int], np.ndarray] = {}  # chords repeat bar after bar: make each sound once
    for chord in flatten_chords(chords):
        n_held = max(0, int(round(float(chord.duration) * samples_per_beat)))
        for pitch in chord.pitches:
            sound = pad_tones.get((pitch, n_held))
            if sound is None:
                sound = pad_tones[pitch, n_held] = _tone(pitch, n_held, sample_rate, harmonics=(1.0, 0.25),
                                                         decay_per_s=0.4, attack_s=0.03, release_s=0.15)
            # Quieter per voice, so a five-note chord does not bury the melody.
            add(pad, chord.offset, sound, 0.35 * chord.velocity / 127 / math.sqrt(len(chord.pitches)))

    # The melody leans right and the chords left, as if two players sat side by side.
    stereo = np.stack([0.7 * lead + 1.0 * pad, 1.0 * lead + 0.7 * pad], axis=1)
    peak = np.max(np.abs(stereo), initial=0.0)
    return stereo * (0.9 / peak) if peak > 0 else stereo


def write_wav(path, melody, chords: Optional[ChordsLike] = None, tempo_bpm: float = 130,
              sample_rate: int = 22050) -> Path:
    """Write melody and chords as a 16-bit stereo WAV file, readable by any player and ``wave``.

    melody: a list of Note with ``chords``, or an improvise.Solo on its own.
    Length: the music plus TAIL_SECONDS of decay (see :func:`synthesize`). Returns the path.
    """
    melody, chords = melody_and_chords(melody, chords)
    audio = synthesize(melody, chords, tempo_bpm=tempo_bpm, sample_rate=sample_rate)
    pcm = np.round(audio * 32767).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(pcm.tobytes())
    return write_atomically(Path(path), buffer.getvalue())


def listen(solo, chords: Optional[ChordsLike] = None, tempo_bpm: float = 130, sample_rate: int = 22050):
    """A player for a Jupyter notebook: ``listen(solo)`` as the last line of a cell plays it.

    solo: an improvise.Solo, or a list of Note with ``chords``. Returns an IPython Audio object.
    """
    try:
        from IPython.display import Audio
    except ImportError:
        raise LstmNumpyError('listening inside Python needs IPython; run pip install "lstm_numpy[notebook]", '
                             'or write a file with write_wav.') from None
    melody, chords = melody_and_chords(solo, chords)
    audio = synthesize(melody, chords, tempo_bpm=tempo_bpm, sample_rate=sample_rate)
    return Audio(audio.T, rate=sample_rate, normalize=False)


# --------------------------------------------------------------------------------------- pictures

def _figure(width: float, height: float):
    """A matplotlib Figure on the Agg canvas, or a clear error when matplotlib is missing."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise LstmNumpyError(
            'drawing pictures needs matplotlib, which is not installed; run pip install "lstm_numpy[plot]".'
        ) from None
    figure = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(figure)
    return figure


def _save_figure(figure, path):
    if path is None:
        return figure
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return write_atomically(Path(path), buffer.getvalue())


def _pitch_name(pitch: int) -> str:
    names = ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"]
    return f"{names[pitch % 12]}{pitch // 12 - 1}"


def plot_piano_roll(path, melody, chords: Optional[ChordsLike] = None, beats_per_bar: int = 4,
                    title: Optional[str] = None):
    """Draw the solo over its chords as a piano roll (time across, pitch up).

    path: the PNG file to write; None returns the matplotlib Figure instead (a notebook shows it).
    melody: a list of Note with ``chords``, or an improvise.Solo on its own.
    """
    melody, flat = melody_and_chords(melody, chords)
    notes = [n for n in melody if not n.is_rest]
    end = float(music_end(notes, flat)) or float(beats_per_bar)
    figure = _figure(width=min(24.0, max(6.0, end / 4)), height=4.5)
    from matplotlib.collections import PatchCollection  # safe now: _figure found matplotlib
    from matplotlib.patches import Patch, Rectangle

    axes = figure.add_subplot()

    chord_boxes = [Rectangle((float(c.offset), p - 0.5), float(c.duration), 1.0)
                   for c in flat for p in c.pitches]
    note_boxes = [Rectangle((float(n.offset), n.pitch - 0.5), float(n.duration), 1.0) for n in notes]
    axes.add_collection(PatchCollection(chord_boxes, facecolor="#9ec5e8", edgecolor="none", alpha=0.6))
    axes.add_collection(PatchCollection(note_boxes, facecolor="#e8743b", edgecolor="#8a3a12", linewidth=0.5))

    for bar_line in range(0, int(math.ceil(end)) + 1, beats_per_bar):
        axes.axvline(bar_line, color="#bbbbbb", linewidth=0.6, zorder=0)
    pitches = [n.pitch for n in notes] + [p for c in flat for p in c.pitches] or [60]
    low, high = min(pitches) - 2, max(pitches) + 2
    axes.set_xlim(0, end)
    axes.set_ylim(low, high)
    c_notes = [p for p in range(low, high + 1) if p % 12 == 0]
    axes.set_yticks(c_notes, [_pitch_name(p) for p in c_notes])
    axes.set_xlabel(f"quarter notes (bar lines every {beats_per_bar})")
    axes.set_ylabel("pitch")
    axes.set_title(title or f"solo: {len(notes)} notes over {len(flat)} chords")
    axes.legend(handles=[Patch(color="#e8743b", label="melody"), Patch(color="#9ec5e8", label="chords")],
                loc="upper right", fontsize="small")
    figure.tight_layout()
    return _save_figure(figure, path)


def plot_loss(path, history: Dict[str, list]):
    """Draw the training curves into a PNG file (or return the Figure when path is None).

    history: {"loss": [one per epoch], "accuracy": [per epoch, a list with one per time step]};
    "accuracy" is optional. The loss is drawn on a log scale, since it falls by orders of magnitude
    (the course's went from about 126 to 6); accuracy is the mean over time steps.
    """
    loss = list(history.get("loss") or [])
    if not loss:
        raise LstmNumpyError("the training history has no loss values to plot; train for at least one epoch.")
    accuracy = history.get("accuracy") or []
    figure = _figure(width=10.0 if accuracy else 6.0, height=4.0)
    epochs = np.arange(1, len(loss) + 1)

    axes = figure.add_subplot(1, 2 if accuracy else 1, 1)
    axes.plot(epochs, loss, color="#1f5fa8")
    if all(value > 0 for value in loss):
        axes.set_yscale("log")
    axes.set_xlabel("epoch")
    axes.set_ylabel("loss (summed over time steps)")
    axes.set_title(f"loss: {loss[0]:.3g} -> {loss[-1]:.3g}")
    axes.grid(True, which="both", alpha=0.3)

    if accuracy:
        mean = [float(np.mean(a)) for a in accuracy]
        axes = figure.add_subplot(1, 2, 2)
        axes.plot(np.arange(1, len(mean) + 1), mean, color="#2a8a3e")
        axes.set_ylim(0, 1.02)
        axes.set_xlabel("epoch")
        axes.set_ylabel("accuracy (mean over time steps)")
        axes.set_title(f"accuracy: {mean[-1]:.2f} at the end")
        axes.grid(True, alpha=0.3)
    figure.tight_layout()
    return _save_figure(figure, path)


# ----------------------------------------------------------------------------- all three at once

class SoloFiles(list):
    """The paths write_solo wrote (a list), with ``skipped``: why any file was left out."""

    def __init__(self, paths=(), skipped=()):
        super().__init__(paths)
        self.skipped: List[str] = list(skipped)


def write_solo(stem, solo, chords: Optional[ChordsLike] = None, tempo_bpm: float = 130,
               sample_rate: int = 22050) -> SoloFiles:
    """Write stem.mid (melody and chord tracks), stem.wav and stem.png (when matplotlib is there).

    solo: an improvise.Solo (its melody and chords are used), or a list of Note with ``chords``.
    Returns the paths written; a missing matplotlib only skips the picture (see ``.skipped``).
    """
    from .midi_io import write_midi

    melody, flat = melody_and_chords(solo, chords)
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    written = SoloFiles()
    midi_path = stem.with_name(stem.name + ".mid")
    write_midi(midi_path, melody, flat, tempo_bpm=tempo_bpm)
    written.append(midi_path)
    written.append(write_wav(stem.with_name(stem.name + ".wav"), melody, flat, tempo_bpm=tempo_bpm,
                             sample_rate=sample_rate))
    try:
        written.append(plot_piano_roll(stem.with_name(stem.name + ".png"), melody, flat))
    except LstmNumpyError as why:
        written.skipped.append(f"{stem.name}.png not written: {why}")
    return written
