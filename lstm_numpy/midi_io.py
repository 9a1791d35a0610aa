"""MIDI files in and out: from mido's messages to exact Notes and Chords, and back.

Reading follows what music21 5.x did to the course file (see the specification of the original
pipeline), so that the course's corpus comes out identical, but works on any file:

1. every message gets its absolute tick time;
2. note-ons are paired with their ends (``pair_notes``);
3. notes that start and end together (within ``ticks_per_beat / 16``) become a Chord
   (``group_chords``);
4. offsets and durations snap to the nearest point of the 1/4 or 1/3 beat grid (``quantize``);
5. overlapping elements are dealt into voices (``split_voices``), which a flat view merges back.

A *source* is where a melody or chords come from: a track, a channel, or both. The user names one
with a short string (``parse_selector``), or lets ``choose_sources`` pick. Channel 10 (mido's
channel 9) is General MIDI's drum kit and is never used as melody or harmony.

Every problem with a file is raised as :class:`~lstm_numpy.errors.MidiError`, whose message names
the file; no other exception escapes ``read_midi``, whatever bytes the file holds.
"""

from __future__ import annotations

import functools
import io
import math
import numbers
import os
import re
from collections import defaultdict
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Dict, Iterable, List, NamedTuple, Optional, Sequence, Tuple, Union

import mido

from .errors import MidiError
from .files import write_atomically
from .notes import Chord, Note

PathLike = Union[str, os.PathLike]
Element = Union[Note, Chord]

DRUM_CHANNEL = 9  # mido counts channels from 0; General MIDI's drums are "channel 10"
MAX_FILE_BYTES = 16 * 2**20  # real MIDI files are kilobytes; refuse anything absurd before parsing
GRID_DIVISORS = (4, 3)  # quarter-note subdivisions of the course's grid: sixteenths and triplets
MAX_TEMPO = 2**24 - 1  # microseconds per beat: the largest tempo value a MIDI file holds


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------

class RawNote(NamedTuple):
    """One paired note, still in ticks.

    start, end: absolute ticks of the note-on and of the event that ends it.
    track, channel: where it was found (channel as mido counts it, 0..15).
    order: position of the note-on among its track's note events; notes are kept in this order.

    (A NamedTuple rather than a frozen dataclass: a file holds tens of thousands of notes, and a
    tuple is made several times faster.)
    """

    start: int
    end: int
    pitch: int
    velocity: int
    channel: int
    track: int
    order: int


@dataclass(frozen=True)
class TimeSignature:
    """A time signature taking effect at ``tick``: ``numerator`` beats of 1/``denominator``."""

    tick: int
    numerator: int
    denominator: int

    @property
    def bar_length(self) -> Fraction:
        """Length of one bar in quarter notes (3/4 -> 3, 6/8 -> 3, 4/4 -> 4)."""
        return Fraction(4 * self.numerator, self.denominator)


@dataclass
class MidiScore:
    """Everything the data pipeline needs from one MIDI file.

    notes: every paired note of every track, grouped by track, each track in note-on order.
    track_names: the first track_name of each track ('' when it has none).
    time_signatures: in tick order; a 4/4 at tick 0 is assumed when the file gives none there.
    """

    path: Path
    type: int
    ticks_per_beat: int
    track_names: List[str]
    notes: List[RawNote]
    time_signatures: List[TimeSignature]


def read_midi(path: PathLike) -> MidiScore:
    """Read a type 0, 1 or 2 MIDI file into paired notes and time signatures.

    Times stay in ticks here; tempo changes do not matter, since the pipeline counts in beats.
    (The tracks of a type 2 file are read as if they played together.)

    Raises MidiError (naming the file) for a missing, oversized, truncated or malformed file, a
    ticks-per-beat header that is zero, negative or SMPTE-based, and a file with no notes at all.
    """
    path = Path(path)
    midi = _parse_with_mido(path)
    tpq = midi.ticks_per_beat
    if not isinstance(tpq, int) or tpq <= 0:
        raise MidiError(f"{path}: the header gives {tpq} ticks per beat (zero, negative or SMPTE "
                        "timing), which this reader cannot use; re-export the file with musical "
                        "(ticks-per-quarter) timing.")
    if midi.type not in (0, 1, 2):
        raise MidiError(f"{path}: the header declares MIDI file type {midi.type}, but only types "
                        "0, 1 and 2 exist; the file is damaged, so re-export it.")

    names: List[str] = []
    notes: List[RawNote] = []
    signatures: List[TimeSignature] = []
    for index, track in enumerate(midi.tracks):
        name, events = "", []
        tick = 0
        for msg in track:
            tick += msg.time
            if msg.type in ("note_on", "note_off"):
                events.append((tick, msg))
            elif msg.type == "track_name" and not name:
                name = str(msg.name).strip()
            elif msg.type == "time_signature":
                if 1 <= msg.numerator <= 64 and 1 <= msg.denominator <= 64:
                    signatures.append(TimeSignature(tick, msg.numerator, msg.denominator))
        names.append(name)
        notes.extend(pair_notes(events, track=index))

    if not notes:
        raise MidiError(f"{path}: the file contains no notes (no note-on with a matching end); "
                        "check that it is the right file and that it is not a silent template.")
    signatures.sort(key=lambda s: s.tick)  # stable: within a tick the last one wins (below)
    latest: Dict[int, TimeSignature] = {s.tick: s for s in signatures}
    if 0 not in latest:
        latest[0] = TimeSignature(0, 4, 4)  # the MIDI standard's default
    return MidiScore(path, midi.type, tpq, names, notes, [latest[t] for t in sorted(latest)])


def _parse_with_mido(path: Path) -> mido.MidiFile:
    """mido.MidiFile, with every way a file can fail turned into one MidiError."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise MidiError(f"{path}: the file is {size} bytes, far larger than any MIDI "
                            f"performance (limit {MAX_FILE_BYTES}); check that it is a MIDI file.")
        data = path.read_bytes()
    except MidiError:
        raise
    except FileNotFoundError:
        raise MidiError(f"{path}: no such file; check the path.") from None
    except OSError as exc:
        raise MidiError(f"{path}: cannot be read ({exc.strerror or exc}); check the path and its "
                        "permissions.") from None
    if not data.startswith(b"MThd"):
        raise MidiError(f"{path}: not a MIDI file (it does not start with 'MThd'); pass a "
                        "standard MIDI file (.mid).")
    try:
        # mido parses untrusted bytes and can fail in many ways (EOFError, OSError, KeyError,
        # ValueError, struct.error, ...): each means the same thing to a user.
        return mido.MidiFile(file=io.BytesIO(data))
    except EOFError:
        raise MidiError(f"{path}: the file ends in the middle of the MIDI data (truncated); "
                        "download or export it again.") from None
    except Exception as exc:  # noqa: BLE001 - see the comment above
        raise MidiError(f"{path}: the MIDI data is malformed ({type(exc).__name__}: {exc}); "
                        "re-export the file from a sequencer.") from None


def pair_notes(events: Sequence[Tuple[int, "mido.Message"]], track: int = 0) -> List[RawNote]:
    """Pair each note-on with the event that ends it, as music21 5.x did.

    events: (absolute tick, note_on or note_off message) of one track, in file order.

    A note-on with velocity > 0 ends at the next *note event* of the same channel and pitch, where
    a note event is any note_off or note_on, even one with velocity > 0 (a music21 quirk: a
    repeated key-press ends the previous note and is then used up). An event used as an end never
    starts a note. A note-on that is never ended is dropped.

    Returns the notes in note-on order. Linear time: within one (channel, pitch) the rule above
    pairs each unused start with the very next event of that key.
    """
    by_key: Dict[Tuple[int, int], List[int]] = defaultdict(list)
    for i, (_, msg) in enumerate(events):
        by_key[(msg.channel, msg.note)].append(i)

    notes = []
    for (channel, pitch), positions in by_key.items():
        k = 0
        while k < len(positions):
            tick, msg = events[positions[k]]
            if msg.type == "note_on" and msg.velocity > 0 and k + 1 < len(positions):
                end_tick = events[positions[k + 1]][0]
                notes.append(RawNote(tick, end_tick, pitch, msg.velocity, channel, track,
                                     positions[k]))
                k += 2  # the end event is used up
            else:
                k += 1
    notes.sort(key=lambda n: n.order)
    return notes


@functools.lru_cache(maxsize=2**16)  # note lengths recur all through a file: snap each one once
def quantize(ticks: int, ticks_per_beat: int) -> Fraction:
    """Snap a time in ticks to the nearest multiple of 1/4 or 1/3 of a beat (music21 5.x rules).

    For each grid the nearer multiple is taken, the lower one on an exact half-way tie. Of the
    two candidates the one with the smaller error wins, comparing errors rounded to 7 decimals as
    music21 did; on equal errors the smaller value wins. So 0.1 -> 0 and 7/24 -> 1/4.
    """
    best = None
    for divisor in GRID_DIVISORS:
        scaled = ticks * divisor  # in units of 1 / (divisor * ticks_per_beat) beat
        low, remainder = divmod(scaled, ticks_per_beat)
        if 2 * remainder <= ticks_per_beat:
            value, error = Fraction(low, divisor), remainder
        else:
            value, error = Fraction(low + 1, divisor), ticks_per_beat - remainder
        key = (round(error / (divisor * ticks_per_beat), 7), value)
        best = key if best is None or key < best else best
    return best[1]


def group_chords(notes: Sequence[RawNote], ticks_per_beat: int) -> Tuple[List[Element], bool]:
    """Turn one source's notes into Notes and Chords on the 1/4 and 1/3 grid.

    Each note not yet part of a chord collects the following notes whose onsets *and* ends both
    lie within ``ticks_per_beat // 16`` ticks of its own into a Chord (pitches in note-on order;
    duration from the first note's end to the last note's onset, as music21 5.x computed it). A
    note may so belong to two chords, as in music21 5.x. A note that starts with it but ends
    elsewhere stays a separate Note and flags the source as needing voices.

    A raw duration of exactly 0 ticks becomes one beat (music21's default length). Offsets and
    durations are then quantized independently; a negative chord duration counts as 0.

    Returns (elements in the order of their first note-on, needs_voices).
    """
    tol = ticks_per_beat // 16
    order = sorted(range(len(notes)), key=lambda i: (notes[i].start, notes[i].track,
                                                     notes[i].order))
    notes = [notes[i] for i in order]
    grouped = [False] * len(notes)
    elements: List[Element] = []
    needs_voices = False
    for i, first in enumerate(notes):
        if grouped[i]:
            continue
        members = [first]
        j = i + 1
        while j < len(notes) and notes[j].start - first.start <= tol:
            # an already grouped note may join a second chord: music21 only skipped grouped
            # notes as the *first* note of a chord, and the course's piano relies on it
            if abs(notes[j].end - first.end) <= tol:
                members.append(notes[j])
                grouped[j] = True
            else:
                needs_voices = True
            j += 1
        ticks = first.end - members[-1].start
        duration = Fraction(1) if ticks == 0 else max(quantize(ticks, ticks_per_beat), Fraction(0))
        offset = quantize(first.start, ticks_per_beat)
        if len(members) == 1:
            elements.append(Note(offset, duration, first.pitch, first.velocity))
        else:
            elements.append(Chord(offset, duration, tuple(n.pitch for n in members),
                                  first.velocity))
    return elements, needs_voices


def split_voices(elements: Sequence[Element]) -> List[List[Element]]:
    """Deal overlapping elements into voices, greedily, as music21 5.x's import did.

    Elements are taken by (offset, position in ``elements``); each goes into the first voice that
    has ended by its offset, or opens a new voice. A voice's end is kept as a *float*, as music21
    kept it: a voice ending on a triplet point that rounds upwards (184/3 -> 61.333333333333336)
    has not ended for a note starting exactly there, which then goes to the next voice.
    """
    voices: List[List[Element]] = []
    ends: List[float] = []
    for element in sorted(elements, key=lambda e: e.offset):  # sorted() is stable
        for v, end in enumerate(ends):
            if end <= element.offset:
                break
        else:
            v = len(voices)
            voices.append([])
            ends.append(float("-inf"))
        voices[v].append(element)
        ends[v] = max(ends[v], float(element.offset + element.duration))
    return voices


def merge_voices(voices: Sequence[Sequence[Element]]) -> List[Element]:
    """Flatten voices into one stream: by offset, equal offsets in voice order, as music21 did."""
    keyed = [(element.offset, v, k, element)
             for v, voice in enumerate(voices) for k, element in enumerate(voice)]
    keyed.sort(key=lambda t: t[:3])
    return [t[3] for t in keyed]


def part_elements(notes: Sequence[RawNote], ticks_per_beat: int) -> List[Element]:
    """One source's Notes and Chords in stream order (what music21 called a flattened Part)."""
    elements, needs_voices = group_chords(notes, ticks_per_beat)
    if needs_voices:
        return merge_voices(split_voices(elements))
    return sorted(elements, key=lambda e: e.offset)


# --------------------------------------------------------------------------------------------
# Choosing the melody and the chords
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Selector:
    """Which notes of a file to use: every field that is set must match.

    track: track index (0-based, as mido lists them); name: track name, any letter case;
    channel: 0..15 as mido counts (``parse_selector`` takes the 1-based numbers of sequencers).
    """

    track: Optional[int] = None
    name: Optional[str] = None
    channel: Optional[int] = None

    def __str__(self) -> str:
        parts = []
        if self.track is not None:
            parts.append(f"track {self.track}")
        if self.name is not None:
            parts.append(f"track '{self.name}'")
        if self.channel is not None:
            parts.append(f"channel {self.channel + 1}")
        return " ".join(parts) or "every track"


_CHANNEL = re.compile(r"^ch(?:annel)?\s*[:=]?\s*(\d+)$", re.IGNORECASE)


def parse_selector(text: Union[str, int, Selector]) -> Selector:
    """Read a melody or chord source as a user (or the command line) writes it.

    - ``11`` or ``"11"``: the track with that index (0-based, as mido and most tools list them);
    - ``"ch6"``, ``"channel 6"`` or ``"channel:6"``: MIDI channel 6, counted 1..16 as sequencers
      show them (so the drums are ``ch10``), in whichever tracks it appears;
    - ``"Piano/ch2"`` or ``"0/ch2"``: that channel within that track (type 0 files keep every
      part in track 0, one channel each);
    - any other text: the track with that name, ignoring letter case and outer spaces.
    """
    if isinstance(text, Selector):
        return text
    if isinstance(text, bool) or not isinstance(text, (int, str)):
        raise MidiError(f"A source must be a track index, a track name or a channel such as "
                        f"'ch6', not {text!r}.")
    if isinstance(text, int):
        if text < 0:
            raise MidiError(f"Track index {text} is negative; tracks are numbered from 0.")
        return Selector(track=text)
    text = text.strip()
    channel = None
    head, sep, tail = text.rpartition("/")
    if sep and _CHANNEL.match(tail.strip()):
        text, channel = head.strip(), _channel_number(tail.strip())
    elif _CHANNEL.match(text):
        return Selector(channel=_channel_number(text))
    if not text:
        raise MidiError("An empty source was given; pass a track index, a track name or a "
                        "channel such as 'ch6'.")
    if text.isdigit():
        return Selector(track=int(text), channel=channel)
    return Selector(name=text, channel=channel)


def _channel_number(text: str) -> int:
    number = int(_CHANNEL.match(text).group(1))
    if not 1 <= number <= 16:
        raise MidiError(f"Channel {number} does not exist; MIDI channels are numbered 1 to 16.")
    return number - 1


def select_notes(score: MidiScore, source: Union[str, int, Selector], role: str) -> List[RawNote]:
    """The notes of ``score`` that ``source`` names, drums excluded.

    role ('melody' or 'chords') only words the error raised when nothing matches.
    """
    selector = parse_selector(source)
    tracks = set(range(len(score.track_names)))
    if selector.track is not None:
        if selector.track not in tracks:
            raise MidiError(f"{score.path}: there is no track {selector.track} for the {role} "
                            f"(the file has tracks 0..{len(tracks) - 1}); {_track_list(score)}")
        tracks = {selector.track}
    if selector.name is not None:
        wanted = selector.name.casefold()
        tracks = {t for t in tracks if score.track_names[t].casefold() == wanted}
        if not tracks:
            raise MidiError(f"{score.path}: no track is named '{selector.name}' for the {role}; "
                            f"{_track_list(score)}")
    if selector.channel == DRUM_CHANNEL:
        raise MidiError(f"{score.path}: channel 10 is the drum kit and cannot give the {role}; "
                        "choose another channel.")
    notes = [n for n in score.notes if n.track in tracks and n.channel != DRUM_CHANNEL
             and (selector.channel is None or n.channel == selector.channel)]
    if not notes:
        raise MidiError(f"{score.path}: {selector} has no (non-drum) notes for the {role}; "
                        f"{_track_list(score)}")
    return notes


def _track_list(score: MidiScore) -> str:
    counts: Dict[int, int] = defaultdict(int)
    for n in score.notes:
        counts[n.track] += 1
    listed = ", ".join(f"{t} '{score.track_names[t]}' ({counts[t]} notes)" for t in sorted(counts))
    return f"tracks with notes: {listed}."


@dataclass(frozen=True)
class SourceStats:
    """How a (track, channel) source plays: the numbers ``choose_sources`` decides by.

    monophony: fraction of its onsets (notes starting within ticks_per_beat/16 of each other
    count as one onset) that sound a single note; polyphony: mean notes per onset.
    """

    selector: Selector
    n_notes: int
    monophony: float
    polyphony: float
    mean_pitch: float


def source_stats(score: MidiScore) -> List[SourceStats]:
    """One SourceStats per (track, channel) that has notes, the drum channel left out."""
    by_source: Dict[Tuple[int, int], List[RawNote]] = defaultdict(list)
    for n in score.notes:
        if n.channel != DRUM_CHANNEL:
            by_source[(n.track, n.channel)].append(n)
    tol = score.ticks_per_beat // 16
    stats = []
    for (track, channel), notes in sorted(by_source.items()):
        onsets = sorted(n.start for n in notes)
        sizes, first = [], None
        for t in onsets:
            if first is None or t - first > tol:
                sizes.append(0)
                first = t
            sizes[-1] += 1
        stats.append(SourceStats(Selector(track=track, channel=channel), len(notes),
                                 sum(s == 1 for s in sizes) / len(sizes),
                                 len(notes) / len(sizes),
                                 sum(n.pitch for n in notes) / len(notes)))
    return stats


MONOPHONY_TIE = 0.02  # melody candidates this close in monophony are told apart by pitch
MIN_SHARE = 0.10  # a part needs at least this share of the busiest part's notes to be preferred
BASS_REGISTER = 48  # C3: a part whose mean pitch lies below is a bass line, not a melody


def choose_sources(score: MidiScore, melody: Union[str, int, Selector, None] = None,
                   chords: Union[str, int, Selector, None] = None) -> Tuple[Selector, Selector]:
    """Pick the melody and the chord source of a file automatically (those not given).

    Candidates are the (track, channel) pairs with notes; channel 10 (drums) never counts, nor
    does a part the caller already chose for the other role. Parts with at least 10% as many
    notes as the busiest part are preferred for both roles, so a few stray notes do not win.

    - Melody: the most monophonic part (largest share of onsets that sound one note), leaving
      out bass lines (mean pitch below C3, MIDI 48) unless nothing else is left. Parts within
      0.02 of the best share count as tied, and the one with the highest mean pitch wins.
    - Chords: among the other parts that ever sound two or more notes at once, the most
      polyphonic (most notes per onset), e.g. the piano's comping.

    Raises MidiError when the file has only drums or no chord source; the message says how to
    choose the sources by hand.
    """
    stats = source_stats(score)
    if not stats:
        raise MidiError(f"{score.path}: the file has only drum notes (channel 10), so there is "
                        "no melody or harmony to learn from; use a file with pitched parts.")
    busiest = max(s.n_notes for s in stats)
    if melody is None:
        taken = _matching(score, stats, chords)
        enough = [s for s in stats if s.n_notes >= MIN_SHARE * busiest and s not in taken]
        enough = enough or [s for s in stats if s not in taken] or stats
        candidates = [s for s in enough if s.mean_pitch >= BASS_REGISTER] or enough
        best = max(s.monophony for s in candidates)
        melody = max((s for s in candidates if s.monophony >= best - MONOPHONY_TIE),
                     key=lambda s: s.mean_pitch).selector
    if chords is None:
        taken = _matching(score, stats, melody)
        comping = [s for s in stats if s not in taken and s.polyphony > 1.0]
        if not comping:
            raise MidiError(f"{score.path}: no part besides the melody ({melody}) ever plays "
                            "two or more notes at once, so there are no chords; name a part that "
                            "plays chords (chords=, or --chords on the command line), or choose "
                            f"another melody; {_track_list(score)}")
        chords = max(comping, key=lambda s: (s.n_notes >= MIN_SHARE * busiest, s.polyphony)
                     ).selector
    return parse_selector(melody), parse_selector(chords)


def _matching(score: MidiScore, stats: List[SourceStats], source) -> List[SourceStats]:
    """The parts that ``source`` (a selector, or None for none) names."""
    if source is None:
        return []
    selector = parse_selector(source)
    return [s for s in stats
            if selector.track in (None, s.selector.track)
            and selector.channel in (None, s.selector.channel)
            and (selector.name is None
                 or score.track_names[s.selector.track].casefold() == selector.name.casefold())]


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------

def write_midi(path: PathLike, melody: Iterable[Note], chords: Iterable[Chord] = (),
               tempo_bpm: float = 130, ticks_per_beat: int = 480, melody_program: int = 26,
               chord_program: int = 0, melody_channel: int = 0, chord_channel: int = 1,
               melody_name: str = "Melody", chord_name: str = "Piano",
               time_signature: Tuple[int, int] = (4, 4)) -> Path:
    """Write a melody and its chords as a type 1 MIDI file; returns the path written.

    Track 0 holds the tempo and time signature, track 1 the melody (General MIDI program 26,
    jazz guitar, by default), track 2 the chords. Programs and channels count from 0, as mido
    does. Offsets and durations are in quarter notes and are rounded to the nearest tick. Rests
    and zero-length events are not written, since they sound nothing.

    The file is written to a temporary file in the same folder and then renamed, so a reader never
    sees half a file. An option or a pitch that a MIDI file cannot hold raises MidiError before
    anything is written.
    """
    path = Path(path)
    if not (isinstance(ticks_per_beat, int) and 0 < ticks_per_beat < 2**15):
        raise MidiError(f"{path}: ticks_per_beat must be an integer from 1 to 32767, not "
                        f"{ticks_per_beat!r}.")
    # the file stores a tempo as whole microseconds per beat in three bytes
    if not (tempo_bpm > 0 and math.isfinite(tempo_bpm)
            and 1 <= mido.bpm2tempo(tempo_bpm) <= MAX_TEMPO):
        raise MidiError(f"{path}: tempo_bpm must lie between about 3.6 and 100 million beats per "
                        f"minute, the tempos a MIDI file can hold, not {tempo_bpm!r}.")
    for what, value in (("melody_channel", melody_channel), ("chord_channel", chord_channel),
                        ("melody_program", melody_program), ("chord_program", chord_program)):
        upper = 15 if what.endswith("channel") else 127
        if not (isinstance(value, int) and 0 <= value <= upper):
            raise MidiError(f"{path}: {what} must be an integer from 0 to {upper}, not {value!r}.")
    beats, note_value = time_signature
    # the limits read_midi accepts, so that the file reads back with the bars it was given
    if not (isinstance(beats, int) and 1 <= beats <= 64
            and note_value in (1, 2, 4, 8, 16, 32, 64)):
        raise MidiError(f"{path}: time_signature must be (beats, note value) with 1 to 64 beats "
                        "and a note value of 1, 2, 4 ... 64, such as (3, 4), not "
                        f"{time_signature!r}.")

    meta = mido.MidiTrack([
        mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(tempo_bpm), time=0),
        mido.MetaMessage("time_signature", numerator=beats, denominator=note_value, time=0),
    ])
    melody_events = [(n.offset, n.duration, (n.pitch,), n.velocity)
                     for n in melody if n.pitch is not None]
    chord_events = [(c.offset, c.duration, c.pitches, c.velocity) for c in chords]
    for offset, _, pitches, _ in melody_events + chord_events:
        for pitch in pitches:
            if not (isinstance(pitch, numbers.Integral) and 0 <= pitch <= 127):
                raise MidiError(f"{path}: the note at beat {float(offset):g} has pitch {pitch!r}, "
                                "but MIDI pitches are whole numbers from 0 to 127; move it by "
                                "octaves into that range.")
    midi = mido.MidiFile(type=1, ticks_per_beat=ticks_per_beat)
    midi.tracks.append(meta)
    midi.tracks.append(_note_track(melody_name, melody_program, melody_channel, melody_events,
                                   ticks_per_beat))
    midi.tracks.append(_note_track(chord_name, chord_program, chord_channel, chord_events,
                                   ticks_per_beat))

    buffer = io.BytesIO()
    midi.save(file=buffer)
    return write_atomically(path, buffer.getvalue())


def _note_track(name: str, program: int, channel: int, events, ticks_per_beat: int):
    """A named track with a program change and (offset, duration, pitches, velocity) events."""
    timed = []  # (tick, 0 for note-off / 1 for note-on, sequence, message)
    for seq, (offset, duration, pitches, velocity) in enumerate(events):
        start = round(Fraction(offset) * ticks_per_beat)
        end = round(Fraction(offset + duration) * ticks_per_beat)
        if end <= start or start < 0:
            continue
        velocity = min(max(int(velocity), 1), 127)
        for pitch in pitches:
            timed.append((start, 1, seq, mido.Message("note_on", channel=channel, note=pitch,
                                                      velocity=velocity)))
            timed.append((end, 0, seq, mido.Message("note_off", channel=channel, note=pitch,
                                                    velocity=0)))
    # at one tick, note-offs go first so a repeated pitch is ended before it starts again
    timed.sort(key=lambda t: t[:3])
    track = mido.MidiTrack([mido.MetaMessage("track_name", name=name, time=0),
                            mido.Message("program_change", channel=channel, program=program,
                                         time=0)])
    now = 0
    for tick, _, _, msg in timed:
        track.append(msg.copy(time=tick - now))
        now = tick
    return track
