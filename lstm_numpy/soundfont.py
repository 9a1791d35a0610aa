"""Play a solo through a SoundFont: a tenor saxophone over a piano, and a walking bass if asked.

A SoundFont (``.sf2``, or ``.sf3`` with compressed samples) is a bank of recorded instruments. A
General MIDI SoundFont such as FluidR3_GM (Debian's ``fluid-soundfont-gm``, MIT-licensed) holds
the 128 instruments of the General MIDI list, numbered as programs; the melody plays program 66
(tenor sax, counting from 0 as MIDI files do; General MIDI's printed list says 67), the chords
program 0 (acoustic grand piano) and the bass program 32 (acoustic bass).

The synthesizer is tinysoundfont, the optional extra ``pip install -e ".[audio]"`` (a wheel with
its C core inside; the README says why this one). It is given only the instruments played, cut
out of the SoundFont by ``lstm_numpy/sf2.py``, which makes loading many times quicker. The notes
are sent to it in time order, and between two events it renders exactly the samples up to the
next one, so every note starts on its own sample, as in the MIDI file.

Which sound a rendering uses (:func:`choose_soundfont`):

1. the SoundFont given (``--soundfont PATH``, ``soundfont=``), or "none" for the NumPy synthesizer;
2. else the environment variable ``LSTM_NUMPY_SOUNDFONT``, with the same meaning;
3. else the first of :data:`SYSTEM_SOUNDFONTS` that exists, when the extra is installed;
4. else the small NumPy synthesizer of ``render.py``, which needs nothing.

The commands say once on stderr which one they used.
"""

from __future__ import annotations

import functools
import os
import struct
import sys
import threading
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from . import sf2
from .errors import SoundFontError
from .notes import Chord, Note

ENVIRONMENT_VARIABLE = "LSTM_NUMPY_SOUNDFONT"
NONE = "none"  # --soundfont none: the NumPy synthesizer even when a SoundFont is installed
# Where Linux distributions install a General MIDI SoundFont, most common first.
SYSTEM_SOUNDFONTS = (
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",  # Debian and Ubuntu: apt-get install fluid-soundfont-gm
    "/usr/share/soundfonts/FluidR3_GM.sf2",  # Fedora and Arch: fluid-soundfont-gm, soundfont-fluid
    "/usr/share/sounds/sf2/default-GM.sf2",  # Debian's link to whichever General MIDI font is installed
    "/usr/share/sounds/sf3/default-GM.sf3",
    "/usr/share/soundfonts/default.sf2",
)
INSTALL_HINT = 'apt-get install fluid-soundfont-gm and pip install -e ".[audio]"'

MELODY_PROGRAM, CHORD_PROGRAM, BASS_PROGRAM = 66, 0, 32  # tenor sax, grand piano, acoustic bass
# Channel, MIDI volume (controller 7) and pan (controller 10, 64 is the middle) of each part: the
# saxophone a little right and in front, the piano a little left, the bass in the middle. The
# volumes were chosen by measurement on FluidR3_GM over the 32-bar solo of bench/sound.py: the
# piano's RMS is about 7 dB and the bass's about 6 dB below the saxophone's.
PARTS = {"melody": (0, 110, 76), "chords": (1, 115, 48), "bass": (2, 80, 64)}
Part = Tuple[str, int, Sequence[Tuple[float, float, int, int]]]  # name, program, (on, off, pitch, velocity)


def programs_played(melody_program: Optional[int] = None, bass: bool = False) -> Tuple[int, ...]:
    """The programs a rendering plays, in the order of its parts: melody, chords, and the bass
    when there is one (melody_program None: the tenor sax)."""
    melody = MELODY_PROGRAM if melody_program is None else int(melody_program)
    return (melody, CHORD_PROGRAM) + ((BASS_PROGRAM,) if bass else ())


# ------------------------------------------------------------------------------- choosing one

def synthesizer_installed() -> bool:
    """Whether the extra ``audio`` (tinysoundfont) can be imported."""
    try:
        import tinysoundfont  # noqa: F401
    except ImportError:
        return False
    return True


def choose_soundfont(soundfont: Union[str, os.PathLike, None] = None) -> Tuple[Optional[Path], str]:
    """(the SoundFont to play, why), or (None, why) for the NumPy synthesizer; see the module's list.

    A SoundFont that is named (argument or environment) must exist, be a SoundFont, and the extra
    must be installed: otherwise SoundFontError says which and what to do. One that is only found
    in a system folder is used when the extra is installed, and skipped otherwise.
    """
    named, source = soundfont, "as asked"
    if named is None and os.environ.get(ENVIRONMENT_VARIABLE):
        named, source = os.environ[ENVIRONMENT_VARIABLE], f"from {ENVIRONMENT_VARIABLE}"
    if named is not None:
        if str(named).strip().lower() == NONE:
            return None, f"the NumPy synthesizer ({source})"
        path = check_soundfont(named)
        if not synthesizer_installed():
            raise SoundFontError(f'{path}: playing a SoundFont needs the extra "audio"; run pip install -e '
                                 f'".[audio]" (or pip install tinysoundfont), or choose --soundfont {NONE}.')
        return path, f"SoundFont {path}" + (f" ({source})" if source != "as asked" else "")
    found = next((Path(p) for p in SYSTEM_SOUNDFONTS if Path(p).is_file()), None)
    if found is None:
        return None, f"the NumPy synthesizer (no SoundFont found; for a saxophone over a piano, {INSTALL_HINT})"
    if not synthesizer_installed():
        return None, (f'the NumPy synthesizer ({found} is installed, but playing it needs pip install -e '
                      f'".[audio]")')
    try:
        return check_soundfont(found), f"SoundFont {found}"
    except SoundFontError as error:  # the user asked for none, so a broken one is skipped, with why
        return None, f"the NumPy synthesizer (skipped the system's SoundFont: {error})"


_announced: set = set()


def announce(description: str) -> None:
    """Say on stderr which sound was used, once per process for each distinct choice."""
    if description not in _announced:
        _announced.add(description)
        print(f"sound: {description}", file=sys.stderr)


# ------------------------------------------------------------------------------ checking a file

def check_soundfont(path: Union[str, os.PathLike]) -> Path:
    """Raise SoundFontError unless ``path`` holds a whole RIFF ``sfbk`` file; returns the Path.

    Only the chunk headers are read (a few hundred bytes even of a 150 MB SoundFont), so a
    command can check its ``--soundfont`` before any long work. The file must start with
    ``RIFF``, a size that matches the file and the form ``sfbk``, and hold the three lists a
    SoundFont is made of: ``INFO``, ``sdta`` (the samples) and ``pdta`` (the instruments).
    Deeper damage shows when the synthesizer loads the file (:func:`render_with_soundfont`).
    """
    path = Path(path)
    advice = f"give a .sf2 or .sf3 SoundFont, or --soundfont {NONE} for the built-in synthesizer"
    if not path.exists():
        raise SoundFontError(f"{path}: no such SoundFont file; {advice}.")
    if not path.is_file():
        raise SoundFontError(f"{path} is a folder, not a SoundFont file; {advice}.")
    size = path.stat().st_size
    try:
        with open(path, "rb") as f:
            head = f.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"sfbk":
                raise SoundFontError(f"{path} is not a SoundFont (it does not start with a RIFF 'sfbk' "
                                     f"header); {advice}.")
            riff_end = 8 + struct.unpack("<I", head[4:8])[0]
            if riff_end > size:
                raise SoundFontError(f"{path} is cut short: its header promises {riff_end} bytes but the "
                                     f"file has {size}; download or copy it again, or {advice}.")
            lists, position = set(), 12
            while position + 12 <= riff_end:
                f.seek(position)
                chunk_id, chunk_size, list_type = struct.unpack("<4sI4s", f.read(12))
                if chunk_id == b"LIST":
                    lists.add(list_type)
                position += 8 + chunk_size + chunk_size % 2
            if position > riff_end:
                raise SoundFontError(f"{path} is damaged: a chunk runs past the end of the file; "
                                     f"download or copy it again, or {advice}.")
    except OSError as error:
        raise SoundFontError(f"{path}: cannot be read ({error.strerror or error}); {advice}.") from None
    missing = [name.decode() for name in (b"INFO", b"sdta", b"pdta") if name not in lists]
    if missing:
        raise SoundFontError(f"{path} is not a whole SoundFont: it has no {' or '.join(missing)} list; "
                             f"{advice}.")
    return path


# --------------------------------------------------------------------------------- playing one

def _damaged(path) -> SoundFontError:
    return SoundFontError(f"{path} is damaged inside: the synthesizer could not read its instruments or "
                          f"samples; download or copy it again, or choose --soundfont {NONE}.")


def _preset(available: Sequence[Tuple[int, int, str]], program: int) -> Tuple[int, int, str]:
    """(bank, program, name) to play ``program`` with: its own in bank 0, else the lowest-numbered
    instrument of the SoundFont.

    Bank 128 holds General MIDI drum kits, which never stand in for an instrument.
    """
    instruments = sorted(p for p in available if p[0] != 128)
    own = [p for p in instruments if p[:2] == (0, program)]
    if own or instruments:
        return (own or instruments)[0]
    raise SoundFontError("the SoundFont holds no instrument presets; choose a General MIDI SoundFont "
                         f"such as FluidR3_GM.sf2, or --soundfont {NONE}.")


@functools.lru_cache(maxsize=1)
def _loaded(path: str, modified_ns: int, size: int, sample_rate: int, programs: Tuple[int, ...]):
    """(tinysoundfont Synth, its SoundFont id, (bank, program, name) for each of ``programs``).

    Only the presets played are loaded (``lstm_numpy.sf2.subset``): loading is most of the work,
    and FluidR3_GM's tenor sax, piano and bass are 13 of its 148 MB. A file the cutting does not
    handle (compressed .sf3 samples, say) is loaded whole. The result is kept for the next
    rendering, since a notebook renders several solos in a row; the file's modification time and
    size are part of the key, so a changed file is read again.
    """
    import tinysoundfont

    try:
        tables = sf2.read_tables(path)
    except (sf2.FormatError, struct.error):
        raise _damaged(path) from None
    chosen = [_preset(sf2.presets(tables), program) for program in programs]
    try:
        data: Union[bytes, str] = sf2.subset(path, tables, [p[:2] for p in chosen])
    except sf2.FormatError:
        data = path
    synth = tinysoundfont.Synth(samplerate=sample_rate)
    try:
        sfid = synth.sfload(data)
    except (RuntimeError, ValueError, OSError, tinysoundfont.SoundFontException):
        raise _damaged(path) from None
    return synth, sfid, chosen


def _key(path: Path, sample_rate: int, programs: Tuple[int, ...]) -> tuple:
    """_loaded's arguments: the file's modification time and size are part of the key."""
    stat = path.stat()
    return str(path), stat.st_mtime_ns, stat.st_size, sample_rate, programs


# Loadings started ahead of their rendering (load_soon), each a thread, by _loaded's arguments.
_loading: Dict[tuple, threading.Thread] = {}


def load_soon(path: Union[str, os.PathLike], sample_rate: int, programs: Sequence[int]) -> None:
    """Start loading, in a thread, what rendering with these programs will need.

    A command calls this before it trains (or samples), so that the loading (reading and cutting
    out the presets, the synthesizer's own loading: about 0.1 s for FluidR3_GM) happens on the
    other core meanwhile; most of it is file reading and copying, during which the thread does
    not hold Python's lock, and the training's loops do not hold it either. The rendering then
    waits for the thread and takes its result. Nothing is reported from the thread: if the
    loading fails, the rendering loads again and raises the error itself, where it always did.
    """
    key = _key(Path(path), sample_rate, tuple(programs))
    if key in _loading:
        return

    def load() -> None:
        try:
            _loaded(*key)
        except Exception:  # noqa: BLE001 - the rendering meets the same error and reports it
            pass

    _loading[key] = threading.Thread(target=load, name="loading the SoundFont", daemon=True)
    _loading[key].start()


def render_with_soundfont(path: Union[str, os.PathLike], parts: Sequence[Part], n_frames: int,
                          sample_rate: int) -> Tuple[np.ndarray, List[str]]:
    """Play the parts through the SoundFont at ``path``.

    parts: (name, program, notes) with name one of PARTS and notes as (start frame, end frame,
        pitch, velocity); program counts from 0, and a program the SoundFont lacks is replaced by
        its lowest-numbered instrument.
    Returns ((n_frames, 2) float32 audio, left and right, not normalized; the name of the preset
    each part played).
    """
    key = _key(Path(path), sample_rate, tuple(program for _, program, _ in parts))
    started = _loading.pop(key, None)
    if started is not None:
        started.join()  # its result is now _loaded's
    synth, sfid, chosen = _loaded(*key)
    synth.sounds_off()  # a previous rendering's releases must not ring into this one
    events = []  # (frame, 0 for note-off / 1 for note-on, channel, pitch, velocity)
    for (name, _, notes), (bank, number, _) in zip(parts, chosen):
        channel, volume, pan = PARTS[name]
        synth.program_select(channel, sfid, bank, number)
        synth.control_change(channel, 7, volume)
        synth.control_change(channel, 10, pan)
        for start, end, pitch, velocity in notes:
            if end > start:
                events.append((start, 1, channel, pitch, min(max(int(velocity), 1), 127)))
                events.append((end, 0, channel, pitch, 0))
    # At one frame, note-offs go first, so a repeated pitch is ended before it starts again.
    events.sort()
    audio = np.zeros((n_frames, 2), dtype=np.float32)
    out = memoryview(audio).cast("B")
    frame_bytes = audio.itemsize * 2
    now = 0
    for frame, is_on, channel, pitch, velocity in events:
        frame = min(frame, n_frames)
        if frame > now:
            synth.generate_simple(frame - now, out[now * frame_bytes:frame * frame_bytes])
            now = frame
        if is_on:
            synth.noteon(channel, pitch, velocity)
        else:
            synth.noteoff(channel, pitch)
    if n_frames > now:
        synth.generate_simple(n_frames - now, out[now * frame_bytes:])
    synth.sounds_off()
    return audio, [preset_name for _, _, preset_name in chosen]


def note_frames(elements: Sequence[Union[Note, Chord]], samples_per_beat: float) -> List[Tuple[int, int, int, int]]:
    """(start frame, end frame, pitch, velocity) of every pitch that sounds; rests are left out."""
    frames = []
    for element in elements:
        pitches = element.pitches if isinstance(element, Chord) else () if element.is_rest else (element.pitch,)
        start = int(round(float(element.offset) * samples_per_beat))
        end = int(round(float(element.offset + element.duration) * samples_per_beat))
        frames.extend((start, end, pitch, element.velocity) for pitch in pitches)
    return frames
