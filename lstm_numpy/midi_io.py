"""MIDI files in and out: from the file's note events to exact Notes and Chords, and back.

The bytes are read by ``lstm_numpy.smf`` (mido's reading, made faster for plain files), and files
are written with mido. Reading follows what music21 5.x did to the course file (see the
specification of the original pipeline), so that the course's corpus comes out identical, but
works on any file:

1. every message gets its absolute tick time;
2. note-ons are paired with their ends (``pair_notes``);
3. notes that start and end together (within ``ticks_per_beat / 16``) become a Chord
   (``group_chords``);
4. offsets and durations snap to the nearest point of the 1/4 or 1/3 beat grid (``quantize``);
5. overlapping elements are dealt into voices (``split_voices``), which a flat view merges back.

A *source* is where a melody or chords come from: a track, a channel, or both, and optionally
one layer of it, its top line or what plays below that (``split_top_line``). The user names one
with a short string (``parse_selector``), or lets ``choose_sources`` pick, by what the file says
about each part: its General MIDI program and track name (``instrument_kind``), how much of the
piece it covers and how it plays (``source_stats``). Channel 10 (mido's channel 9) is General
MIDI's drum kit and is never used as melody or harmony.

Every problem with a file is raised as :class:`~lstm_numpy.errors.MidiError`, whose message names
the file; no other exception escapes ``read_midi``, whatever bytes the file holds.
"""

from __future__ import annotations

import bisect
import functools
import heapq
import io
import math
import numbers
import os
import re
import statistics
from collections import defaultdict
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Dict, Iterable, List, NamedTuple, Optional, Sequence, Tuple, Union

import mido

from . import smf
from .errors import MidiError
from .files import write_atomically
from .limits import MAX_MIDI_BYTES, MAX_NOTES
from .notes import Chord, Note

PathLike = Union[str, os.PathLike]
Element = Union[Note, Chord]

DRUM_CHANNEL = 9  # mido counts channels from 0; General MIDI's drums are "channel 10"
MAX_FILE_BYTES = MAX_MIDI_BYTES  # real MIDI files are kilobytes; refuse anything absurd before parsing
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
    programs: (track, channel) -> the first General MIDI program (0..127, as mido counts) that
        track sets on that channel; see ``program_of``.
    """

    path: Path
    type: int
    ticks_per_beat: int
    track_names: List[str]
    notes: List[RawNote]
    time_signatures: List[TimeSignature]
    programs: Dict[Tuple[int, int], int] = field(default_factory=dict)

    def program_of(self, track: int, channel: int) -> Optional[int]:
        """The program a part plays with: its own track's, else the channel's first in any track
        (a type 1 file may set every program in its first track); None when the file sets none."""
        if (track, channel) in self.programs:
            return self.programs[(track, channel)]
        return next((p for (_, c), p in sorted(self.programs.items()) if c == channel), None)


def read_midi(path: PathLike) -> MidiScore:
    """Read a type 0, 1 or 2 MIDI file into paired notes and time signatures.

    Times stay in ticks here; tempo changes do not matter, since the pipeline counts in beats.
    (The tracks of a type 2 file are read as if they played together.)

    Raises MidiError (naming the file) for a missing, oversized, truncated or malformed file, a
    ticks-per-beat header that is zero, negative or SMPTE-based, and a file with no notes at all.
    """
    path = Path(path)
    midi = _parse(path)
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
    programs: Dict[Tuple[int, int], int] = {}
    for index, track in enumerate(midi.tracks):
        for channel, program in track.programs:
            programs.setdefault((index, channel), program)
        signatures += [TimeSignature(tick, numerator, denominator) for tick, numerator, denominator in track.meters
                       if 1 <= numerator <= 64 and 1 <= denominator <= 64]
        names.append(track.name)
        notes.extend(pair_notes(track.notes, track=index))
        if len(notes) > MAX_NOTES:
            raise MidiError(f"{path}: the file holds more than {MAX_NOTES:,} notes, more than this "
                            f"program learns from one file; split it into shorter pieces.")

    if not notes:
        raise MidiError(f"{path}: the file contains no notes (no note-on with a matching end); "
                        "check that it is the right file and that it is not a silent template.")
    signatures.sort(key=lambda s: s.tick)  # stable: within a tick the last one wins (below)
    latest: Dict[int, TimeSignature] = {s.tick: s for s in signatures}
    if 0 not in latest:
        latest[0] = TimeSignature(0, 4, 4)  # the MIDI standard's default
    return MidiScore(path, midi.type, tpq, names, notes, [latest[t] for t in sorted(latest)],
                     programs)


def _parse(path: Path) -> smf.MidiData:
    """The file's tracks (``smf.read``), with every way a file can fail turned into one MidiError."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise MidiError(f"{path}: the file is {size:,} bytes, larger than this program reads "
                            f"(limit {MAX_FILE_BYTES:,}); check that it is a MIDI file, or split it "
                            f"into shorter pieces.")
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
        return smf.read(data)
    except EOFError:
        raise MidiError(f"{path}: the file ends in the middle of the MIDI data (truncated); "
                        "download or export it again.") from None
    except Exception as exc:  # noqa: BLE001 - see the comment above
        raise MidiError(f"{path}: the MIDI data is malformed ({type(exc).__name__}: {exc}); "
                        "re-export the file from a sequencer.") from None


def pair_notes(events: Sequence[Tuple[int, int, int, int]], track: int = 0) -> List[RawNote]:
    """Pair each note-on with the event that ends it, as music21 5.x did.

    events: (absolute tick, channel, pitch, velocity) of one track's note-ons and note-offs, in
        file order (``smf.Track.notes``); velocity 0 for a note-off.

    A note-on with velocity > 0 ends at the next *note event* of the same channel and pitch, where
    a note event is any note_off or note_on, even one with velocity > 0 (a music21 quirk: a
    repeated key-press ends the previous note and is then used up). An event used as an end never
    starts a note. A note-on that is never ended is dropped.

    Returns the notes in note-on order. Linear time: within one (channel, pitch) the rule above
    pairs each unused start with the very next event of that key.
    """
    by_key: Dict[Tuple[int, int], List[int]] = defaultdict(list)
    for i, (_, channel, pitch, _) in enumerate(events):
        by_key[(channel, pitch)].append(i)

    notes = []
    for (channel, pitch), positions in by_key.items():
        k = 0
        while k < len(positions):
            tick, _, _, velocity = events[positions[k]]
            if velocity > 0 and k + 1 < len(positions):
                end_tick = events[positions[k + 1]][0]
                notes.append(RawNote(tick, end_tick, pitch, velocity, channel, track, positions[k]))
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

LAYERS = ("top", "below")  # a part's top line, and everything it plays below that line


@dataclass(frozen=True)
class Selector:
    """Which notes of a file to use: every field that is set must match.

    track: track index (0-based, as mido lists them); name: track name, any letter case;
    channel: 0..15 as mido counts (``parse_selector`` takes the 1-based numbers of sequencers);
    layer: None for every note, "top" for the part's top line, "below" for the rest of it
    (``split_top_line``), as when melody and chords share one piano part.
    """

    track: Optional[int] = None
    name: Optional[str] = None
    channel: Optional[int] = None
    layer: Optional[str] = None

    def __str__(self) -> str:
        parts = []
        if self.track is not None:
            parts.append(f"track {self.track}")
        if self.name is not None:
            parts.append(f"track '{self.name}'")
        if self.channel is not None:
            parts.append(f"channel {self.channel + 1}")
        text = " ".join(parts) or "every track"
        if self.layer == "top":
            return f"the top line of {text}"
        if self.layer == "below":
            return f"what {text} plays below its top line"
        return text

    @property
    def spec(self) -> str:
        """The selector as --melody and --chords take it, such as ``1/ch2/top``."""
        parts = [str(self.track) if self.track is not None else self.name]
        if self.channel is not None:
            parts.append(f"ch{self.channel + 1}")
        parts.append(self.layer)
        return "/".join(p for p in parts if p is not None)


_CHANNEL = re.compile(r"^ch(?:annel)?\s*[:=]?\s*(\d+)$", re.IGNORECASE)


def parse_selector(text: Union[str, int, Selector]) -> Selector:
    """Read a melody or chord source as a user (or the command line) writes it.

    - ``11`` or ``"11"``: the track with that index (0-based, as mido and most tools list them);
    - ``"ch6"``, ``"channel 6"`` or ``"channel:6"``: MIDI channel 6, counted 1..16 as sequencers
      show them (so the drums are ``ch10``), in whichever tracks it appears;
    - ``"Piano/ch2"`` or ``"0/ch2"``: that channel within that track (type 0 files keep every
      part in track 0, one channel each);
    - any of these followed by ``/top`` or ``/below``: only the part's top line, or only what it
      plays below that line (``"Piano/top"``, ``"0/ch1/below"``);
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
    layer = None
    head, sep, tail = text.rpartition("/")
    if sep and tail.strip().casefold() in LAYERS:
        text, layer = head.strip(), tail.strip().casefold()
    channel = None
    head, sep, tail = text.rpartition("/")
    if sep and _CHANNEL.match(tail.strip()):
        text, channel = head.strip(), _channel_number(tail.strip())
    elif _CHANNEL.match(text):
        return Selector(channel=_channel_number(text), layer=layer)
    if not text:
        raise MidiError("An empty source was given; pass a track index, a track name or a "
                        "channel such as 'ch6' (before any '/top' or '/below').")
    if text.isdigit():
        return Selector(track=int(text), channel=channel, layer=layer)
    return Selector(name=text, channel=channel, layer=layer)


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
    if notes and selector.layer is not None:
        top, below = split_top_line(notes, score.ticks_per_beat)
        notes = top if selector.layer == "top" else below
    if not notes:
        raise MidiError(f"{score.path}: {selector} has no (non-drum) notes for the {role}; "
                        f"{_track_list(score)}")
    return notes


def split_top_line(notes: Sequence[RawNote], ticks_per_beat: int
                   ) -> Tuple[List[RawNote], List[RawNote]]:
    """Split one part into its top line and what it plays below it (a pianist's two hands).

    Notes starting less than an eighth of a beat after a group's first count as one onset: a
    player's hands do not strike a chord's notes at one instant (a spread of 10 to 40 ms is usual;
    an eighth of a beat is 62 ms at 120 beats per minute), while a melody's sixteenths lie a
    quarter of a beat apart. The highest note of each onset joins the top line when no note of an
    earlier onset still sounds above or at its pitch; every other note is the accompaniment. So a
    left-hand chord struck under a held melody note stays below, and the line takes the highest
    voice whenever it moves. (When the melody rests, the accompaniment's highest note fills the
    line: a part whose top line is not clearly above the rest is not split automatically, see
    ``top_line_is_clear``.)

    Returns (top line, below), each in the order of ``notes``.
    """
    tol = ticks_per_beat // 16  # a note ending this close to an onset has ended, as for chords
    order = sorted(range(len(notes)), key=lambda i: (notes[i].start, i))
    on_top = [False] * len(notes)
    # the notes of earlier onsets as (-pitch, end): the highest on top of the heap; one that has
    # ended is dropped when it reaches the top, so the whole split takes O(n log n) steps
    sounding: List[Tuple[int, int]] = []
    k = 0
    while k < len(order):
        first = notes[order[k]].start
        group = k
        while group < len(order) and 8 * (notes[order[group]].start - first) < ticks_per_beat:
            group += 1
        members = order[k:group]
        highest = max(members, key=lambda i: (notes[i].pitch, -i))
        while sounding and sounding[0][1] - first <= tol:
            heapq.heappop(sounding)
        if not sounding or -sounding[0][0] < notes[highest].pitch:
            on_top[highest] = True
        for i in members:
            heapq.heappush(sounding, (-notes[i].pitch, notes[i].end))
        k = group
    top = [n for n, flag in zip(notes, on_top) if flag]
    below = [n for n, flag in zip(notes, on_top) if not flag]
    return top, below


CLEAR_GAP = 5  # semitones (a fourth) between a clear top line's median pitch and the rest's


def top_line_is_clear(top: Sequence[RawNote], below: Sequence[RawNote],
                      ticks_per_beat: int) -> bool:
    """Whether a split part has a melody on top and chords below it.

    Clear when the accompaniment sounds two or more notes together at least once (so it can
    give chords) and the top line's median pitch lies at least a fourth above the
    accompaniment's, as a melody over comping does; a part whose voices cross all the time, or
    block chords whose top is no line above the rest, fails.
    """
    if not top or not below or _mean_onset_size(below, ticks_per_beat) <= 1.0:
        return False
    return statistics.median(n.pitch for n in top) >= (statistics.median(n.pitch for n in below)
                                                        + CLEAR_GAP)


def _onset_sizes(notes: Sequence[RawNote], ticks_per_beat: int) -> List[int]:
    """How many notes start together at each onset (within ticks_per_beat / 16 of its first)."""
    tol = ticks_per_beat // 16
    sizes, first = [], None
    for t in sorted(n.start for n in notes):
        if first is None or t - first > tol:
            sizes.append(0)
            first = t
        sizes[-1] += 1
    return sizes


def _mean_onset_size(notes: Sequence[RawNote], ticks_per_beat: int) -> float:
    sizes = _onset_sizes(notes, ticks_per_beat)
    return sum(sizes) / len(sizes) if sizes else 0.0


def _track_list(score: MidiScore) -> str:
    counts: Dict[int, int] = defaultdict(int)
    for n in score.notes:
        counts[n.track] += 1
    listed = ", ".join(f"{t} '{score.track_names[t]}' ({counts[t]} notes)" for t in sorted(counts))
    return f"tracks with notes: {listed}."


# General MIDI's 128 programs, numbered 0..127 here as mido counts (the standard counts 1..128).
GM_PROGRAMS = (
    "Acoustic Grand Piano", "Bright Acoustic Piano", "Electric Grand Piano", "Honky-tonk Piano",
    "Electric Piano 1", "Electric Piano 2", "Harpsichord", "Clavinet",
    "Celesta", "Glockenspiel", "Music Box", "Vibraphone", "Marimba", "Xylophone",
    "Tubular Bells", "Dulcimer",
    "Drawbar Organ", "Percussive Organ", "Rock Organ", "Church Organ", "Reed Organ",
    "Accordion", "Harmonica", "Tango Accordion",
    "Nylon Guitar", "Steel Guitar", "Jazz Guitar", "Clean Guitar", "Muted Guitar",
    "Overdriven Guitar", "Distortion Guitar", "Guitar Harmonics",
    "Acoustic Bass", "Finger Bass", "Pick Bass", "Fretless Bass", "Slap Bass 1", "Slap Bass 2",
    "Synth Bass 1", "Synth Bass 2",
    "Violin", "Viola", "Cello", "Contrabass", "Tremolo Strings", "Pizzicato Strings",
    "Orchestral Harp", "Timpani",
    "String Ensemble 1", "String Ensemble 2", "Synth Strings 1", "Synth Strings 2", "Choir Aahs",
    "Voice Oohs", "Synth Voice", "Orchestra Hit",
    "Trumpet", "Trombone", "Tuba", "Muted Trumpet", "French Horn", "Brass Section",
    "Synth Brass 1", "Synth Brass 2",
    "Soprano Sax", "Alto Sax", "Tenor Sax", "Baritone Sax", "Oboe", "English Horn", "Bassoon",
    "Clarinet",
    "Piccolo", "Flute", "Recorder", "Pan Flute", "Blown Bottle", "Shakuhachi", "Whistle",
    "Ocarina",
    "Square Lead", "Sawtooth Lead", "Calliope Lead", "Chiff Lead", "Charang Lead", "Voice Lead",
    "Fifths Lead", "Bass and Lead",
    "New Age Pad", "Warm Pad", "Polysynth Pad", "Choir Pad", "Bowed Pad", "Metallic Pad",
    "Halo Pad", "Sweep Pad",
    "Rain", "Soundtrack", "Crystal", "Atmosphere", "Brightness", "Goblins", "Echoes", "Sci-fi",
    "Sitar", "Banjo", "Shamisen", "Koto", "Kalimba", "Bagpipe", "Fiddle", "Shanai",
    "Tinkle Bell", "Agogo", "Steel Drums", "Woodblock", "Taiko Drum", "Melodic Tom",
    "Synth Drum", "Reverse Cymbal",
    "Guitar Fret Noise", "Breath Noise", "Seashore", "Bird Tweet", "Telephone Ring", "Helicopter",
    "Applause", "Gunshot",
)

# What kind of instrument each program is, for choosing parts: (first program, kind), the kind
# holding up to the next entry's program.
_PROGRAM_KINDS = (
    (0, "keyboard"), (8, "mallets"), (16, "keyboard"), (22, "winds"), (23, "keyboard"),
    (24, "guitar"), (32, "bass"), (40, "solo strings"), (42, "other"), (43, "bass"),
    (44, "pad"), (46, "other"), (47, "percussion"), (48, "pad"), (56, "winds"), (58, "bass"),
    (59, "winds"), (62, "other"), (64, "winds"), (70, "other"), (71, "winds"), (80, "other"),
    (88, "pad"), (104, "other"), (110, "solo strings"), (111, "winds"), (112, "percussion"),
)
_PROGRAM_STARTS = [start for start, _ in _PROGRAM_KINDS]

# A track name says more than a program (many files never set one): the first pattern that
# matches the lower-cased name wins, so "Bass" is a bass but "Piano Solo" a keyboard.
_NAME_KINDS = tuple((kind, re.compile(pattern)) for kind, pattern in (
    ("percussion", r"drum|\bkit\b|perc|cymbal|hi-?hat|snare|kick|conga|shaker|tambourine"),
    ("bass", r"\bbass\b|contrabass|\btuba"),
    ("pad", r"\bpads?\b|\bstrings?\b|\bchoir|\bensemble"),
    ("winds", r"sax|trumpet|\btpt|trombone|\btbn|flugel|cornet|horn|clarinet|flute|piccolo|oboe"
              r"|harmonica|tenor|alto|soprano|baritone"),
    ("guitar", r"guitar|\bgtr|\bgt\b"),
    ("mallets", r"vib|marimba|xylo"),
    ("solo strings", r"violin|fiddle"),
    ("keyboard", r"piano|\bpno|keys|rhodes|wurli|organ|clav"),
    ("lead", r"melody|\blead\b|solo|vocal|voice"),
))

# How strongly each kind suggests a role: higher first. Lead instruments play the melody over
# keyboards; basses, pads and percussion never while another part is left. Keyboards, guitars and
# vibraphones comp.
MELODY_RANK = {"winds": 2, "guitar": 2, "mallets": 2, "solo strings": 2, "lead": 2,
               "keyboard": 1, "other": 1, "pad": 0, "bass": 0, "percussion": 0, "drums": 0}
CHORD_RANK = {"keyboard": 2, "guitar": 2, "mallets": 2, "winds": 1, "solo strings": 1,
              "lead": 1, "other": 1, "pad": 1, "bass": 0, "percussion": 0, "drums": 0}


def instrument_kind(name: str, program: Optional[int]) -> str:
    """The kind of instrument a part is, from its track name or else its General MIDI program.

    One of "winds" (saxophones, brass, flutes), "guitar", "mallets" (vibraphone), "solo strings",
    "lead" (a track named Melody or Solo), "keyboard", "bass", "pad" (pads, string sections,
    choirs), "percussion" or "other" (anything else, or nothing known).
    """
    lowered = name.casefold()
    for kind, pattern in _NAME_KINDS:
        if pattern.search(lowered):
            return kind
    if program is None or not 0 <= program <= 127:
        return "other"
    return _PROGRAM_KINDS[bisect.bisect_right(_PROGRAM_STARTS, program) - 1][1]


@dataclass(frozen=True)
class SourceStats:
    """How a (track, channel) source plays: the numbers ``choose_sources`` decides by.

    monophony: fraction of its onsets (notes starting within ticks_per_beat/16 of each other
    count as one onset) that sound a single note; polyphony: mean notes per onset.
    name, program (None when the file sets none), kind: see ``instrument_kind``.
    low, high: its lowest and highest pitch.
    coverage: the share of the piece's four-beat spans, from the first note of any pitched part
    to the last, in which this part starts a note.
    """

    selector: Selector
    n_notes: int
    monophony: float
    polyphony: float
    mean_pitch: float
    name: str
    program: Optional[int]
    kind: str
    low: int
    high: int
    coverage: float


def source_stats(score: MidiScore, drums: bool = False) -> List[SourceStats]:
    """One SourceStats per (track, channel) that has notes; the drum channel only if ``drums``
    (its kind is then "drums"; its coverage counts against the pitched parts' span)."""
    by_source: Dict[Tuple[int, int], List[RawNote]] = defaultdict(list)
    for n in score.notes:
        if drums or n.channel != DRUM_CHANNEL:
            by_source[(n.track, n.channel)].append(n)
    span = 4 * score.ticks_per_beat
    pitched = [n.start // span for n in score.notes if n.channel != DRUM_CHANNEL]
    first, n_spans = (min(pitched), max(pitched) - min(pitched) + 1) if pitched else (0, 1)
    stats = []
    for (track, channel), notes in sorted(by_source.items()):
        sizes = _onset_sizes(notes, score.ticks_per_beat)
        pitches = [n.pitch for n in notes]
        name = score.track_names[track]
        program = score.program_of(track, channel)
        kind = "drums" if channel == DRUM_CHANNEL else instrument_kind(name, program)
        spans = {n.start // span for n in notes if 0 <= n.start // span - first < n_spans}
        stats.append(SourceStats(Selector(track=track, channel=channel), len(notes),
                                 sum(s == 1 for s in sizes) / len(sizes),
                                 len(notes) / len(sizes), sum(pitches) / len(notes), name,
                                 program, kind, min(pitches), max(pitches),
                                 len(spans) / n_spans))
    return stats


MONOPHONY_TIE = 0.02  # melody candidates this close in monophony are told apart by pitch
MIN_SHARE = 0.10  # a part needs at least this share of the busiest part's notes to be preferred
BASS_REGISTER = 48  # C3: a part whose mean pitch lies below is a bass line, not a melody
LINE_MONOPHONY = 0.6  # a part sounding one note at most of its onsets plays a line
COVERAGE_SHARE = 0.5  # a part covering under half of what the widest candidate covers is a cameo


def choose_sources(score: MidiScore, melody: Union[str, int, Selector, None] = None,
                   chords: Union[str, int, Selector, None] = None) -> Tuple[Selector, Selector]:
    """Pick the melody and the chord source of a file automatically (those not given).

    Candidates are the (track, channel) pairs with notes; channel 10 (drums) never counts, nor
    does a part the caller already chose for the other role. See ``choose_melody`` for the
    melody. The chords come from the other parts that ever sound two or more notes at once,
    preferring, in turn: parts with at least 10% as many notes as the busiest part, parts
    covering at least half as much of the piece as the widest, keyboards, guitars and
    vibraphones over other instruments and basses (``CHORD_RANK``), and the most notes per onset.

    When no other part plays chords but the melody's own part does (a solo piano), that part is
    split (``split_top_line``): the melody is its top line and the chords what it plays below,
    provided the top line is clear (``top_line_is_clear``); the returned selectors then carry
    ``layer="top"`` and ``layer="below"``.

    Raises MidiError when the file has only drums or no chord source; the message says how to
    choose the sources by hand or give the changes.
    """
    stats = _pitched_stats(score)
    if melody is None:
        melody = _choose_melody(stats, _matching(score, stats, chords)).selector
    melody = parse_selector(melody)
    if chords is not None:
        return melody, parse_selector(chords)
    taken = _matching(score, stats, melody)
    comping = [s for s in stats if s not in taken and s.polyphony > 1.0]
    if comping:
        busiest = max(s.n_notes for s in stats)
        widest = max(s.coverage for s in comping)
        best = max(comping, key=lambda s: (s.n_notes >= MIN_SHARE * busiest,
                                           s.coverage >= COVERAGE_SHARE * widest,
                                           CHORD_RANK[s.kind], s.polyphony))
        return melody, best.selector
    chordal = any(s.polyphony > 1.0 for s in taken)
    if melody.layer is None and chordal:
        top, below = split_top_line(select_notes(score, melody, "melody"), score.ticks_per_beat)
        if not top_line_is_clear(top, below, score.ticks_per_beat):
            raise MidiError(f"{score.path}: only the melody's own part ({melody}) plays chords, "
                            "and its top line is not clearly above the rest, so it cannot be "
                            "split into melody and chords; name them with --melody and --chords "
                            "(such as 'Piano/top' and 'Piano/below'), or give the changes with "
                            f"--changes; {_track_list(score)}")
    if melody.layer == "top" or melody.layer is None and chordal:
        return replace(melody, layer="top"), replace(melody, layer="below")
    raise MidiError(f"{score.path}: no part besides the melody ({melody}) plays two or more "
                    "notes at once, so there are no chords; give the changes with --changes "
                    f"\"Dm7 G7 | Cmaj7\" or a lead sheet {score.path.stem}.changes.txt beside "
                    "the file, or name a part that plays chords with --chords; "
                    f"{_track_list(score)}")


def choose_melody(score: MidiScore, chords: Union[str, int, Selector, None] = None) -> Selector:
    """The melody ``choose_sources`` would pick, for a file whose chords come from elsewhere."""
    stats = _pitched_stats(score)
    return _choose_melody(stats, _matching(score, stats, chords)).selector


def _pitched_stats(score: MidiScore) -> List[SourceStats]:
    stats = source_stats(score)
    if not stats:
        raise MidiError(f"{score.path}: the file has only drum notes (channel 10), so there is "
                        "no melody or harmony to learn from; use a file with pitched parts.")
    return stats


def _choose_melody(stats: List[SourceStats], taken: List[SourceStats]) -> SourceStats:
    """The melody among ``stats`` (not ``taken`` while others are left).

    Each step keeps the parts that pass it, unless none does:
    1. parts with at least 10% as many notes as the busiest part, so a few stray notes do not win;
    2. no basses (by instrument, or a mean pitch below C3, MIDI 48), pads or percussion;
    3. lines: parts sounding one note at most (60%) of their onsets; among them, those covering
       at least half as much of the piece as the widest line, and of these the lead instruments
       (saxophones, brass, flutes, guitars, vibraphones; ``MELODY_RANK``) over keyboards and
       the unknown;
    4. the most monophonic part; parts within 0.02 of it count as tied, and the highest mean
       pitch wins.
    """
    busiest = max(s.n_notes for s in stats)
    pool = [s for s in stats if s not in taken] or stats
    pool = [s for s in pool if s.n_notes >= MIN_SHARE * busiest] or pool
    pool = [s for s in pool if MELODY_RANK[s.kind] > 0 and s.mean_pitch >= BASS_REGISTER] or pool
    lines = [s for s in pool if s.monophony >= LINE_MONOPHONY]
    if lines:
        widest = max(s.coverage for s in lines)
        pool = [s for s in lines if s.coverage >= COVERAGE_SHARE * widest]
        first = max(MELODY_RANK[s.kind] for s in pool)
        pool = [s for s in pool if MELODY_RANK[s.kind] == first]
    best = max(s.monophony for s in pool)
    return max((s for s in pool if s.monophony >= best - MONOPHONY_TIE),
               key=lambda s: s.mean_pitch)


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


def describe_source(score: MidiScore, selector: Selector, n_notes: int) -> str:
    """A chosen source as the per-file report prints it: ``1/ch2 'Tenor Sax' (540 notes)``."""
    name = score.track_names[selector.track] if selector.track is not None and \
        0 <= selector.track < len(score.track_names) else ""
    named = f" '{name}'" if name else ""
    return f"{selector.spec}{named} ({n_notes} notes)"


def part_table(score: MidiScore) -> List[str]:
    """Every part of a file, one line each, for ``train --list-parts``: the source to pass to
    --melody or --chords, name, channel (1..16), program (numbered 1..128 as General MIDI
    numbers them), kind, notes, range, polyphony (mean notes per onset) and coverage."""
    from .theory import pitch_name  # imported on use: only the listing names pitches

    rows = [("source", "name", "channel", "program", "kind", "notes", "range", "polyphony",
             "covers")]
    for s in source_stats(score, drums=True):
        program = "-" if s.program is None else f"{s.program + 1} {GM_PROGRAMS[s.program]}"
        if s.kind == "drums":
            program = "drum kit"  # on channel 10 a program chooses a kit, not an instrument
        low, high = (pitch_name(p).replace("-", "b") for p in (s.low, s.high))  # B-3 -> Bb3
        rows.append((s.selector.spec, s.name or "-", str(s.selector.channel + 1), program,
                     s.kind, str(s.n_notes), f"{low}-{high}",
                     f"{s.polyphony:.2f}", f"{100 * s.coverage:.0f}%"))
    widths = [max(len(row[k]) for row in rows) for k in range(len(rows[0]))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]


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
