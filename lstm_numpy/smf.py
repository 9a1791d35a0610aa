"""The Standard MIDI File format, read for what training needs: each track's notes, name,
programs and time signatures.

mido reads a file into one Python object per event, checked field by field: a third of a second
for the course file's 29,500 events, nearly all of them notes. Training needs only the note
events and a few meta events, so ``read`` walks the bytes itself and keeps just those, about
five times faster. mido stays the reference: for anything this walk does not handle exactly as
mido does (a damaged or unusual file: running status after a system message, a message running
past its chunk's end, a data byte above 127, a message longer than mido reads, a chunk that is
not a track), the file is read by mido instead, which accepts it or raises its own error, and
meta events are always decoded by mido's own function. So both ways give the same tracks, and a
damaged file the same error. The tests hold them equal on every file they build, the default
corpus, the course file and a thousand damaged files.

The layout: a header chunk ``MThd`` (format type, number of tracks, ticks per beat, as signed
16-bit numbers), then one ``MTrk`` chunk per track: events, each a variable-length delta time in
ticks (7 bits a byte, high bit set on all but the last) and a message. A channel message is a
status byte (kind in the high 4 bits, channel in the low 4) and one or two data bytes below 128;
a message may leave out its status byte when it repeats the previous channel message's
("running status"). 0xFF starts a meta event (type, length, data), 0xF0 and 0xF7 a system
exclusive one (length, data); meta events leave the running status as it was.
"""

from __future__ import annotations

import io
import struct
from typing import List, NamedTuple, Tuple

import mido
from mido.midifiles.meta import build_meta_message  # how mido decodes a meta event

NOTE_OFF, NOTE_ON, PROGRAM_CHANGE = 0x80, 0x90, 0xC0
META, SYSEX, SYSEX_ESCAPE = 0xFF, 0xF0, 0xF7
TRACK_NAME, TIME_SIGNATURE = 0x03, 0x58
ONE_DATA_BYTE = (0xC0, 0xD0)  # program change and channel pressure; the other channel messages have two
MAX_LENGTH = 1_000_000  # mido refuses a meta or system exclusive event longer than this


class Track(NamedTuple):
    """What training reads from one track, in file order.

    notes: (absolute tick, channel 0-15, pitch, velocity) of every note event; velocity is 0
        for every event that cannot start a note (a note-off, or a note-on of velocity 0).
    name: the first track name that is not blank, without surrounding spaces ('' when none).
    programs: (channel, program 0-127) of every program change.
    meters: (absolute tick, numerator, denominator) of every time signature.
    """

    notes: List[Tuple[int, int, int, int]]
    name: str
    programs: List[Tuple[int, int]]
    meters: List[Tuple[int, int, int]]


class MidiData(NamedTuple):
    type: int
    ticks_per_beat: int
    tracks: List[Track]


class _LeftToMido(Exception):
    """The bytes hold something the walk leaves to mido."""


def read(data: bytes) -> MidiData:
    """The tracks of a MIDI file's bytes, walked here when the file is plain, else read by mido.

    Raises whatever mido raises for a file it cannot read.
    """
    try:
        return _walk(data)
    except (_LeftToMido, IndexError):  # IndexError: the bytes end inside an event
        return read_with_mido(data)


def read_with_mido(data: bytes) -> MidiData:
    """The same tracks, from mido's reading of the file."""
    midi = mido.MidiFile(file=io.BytesIO(data))
    tracks = []
    for track in midi.tracks:
        notes, name, programs, meters = [], "", [], []
        tick = 0
        for msg in track:
            tick += msg.time
            if msg.type in ("note_on", "note_off"):
                notes.append(note_event(tick, msg))
            elif msg.type == "track_name" and not name:
                name = str(msg.name).strip()
            elif msg.type == "program_change":
                programs.append((msg.channel, msg.program))
            elif msg.type == "time_signature":
                meters.append((tick, msg.numerator, msg.denominator))
        tracks.append(Track(notes, name, programs, meters))
    return MidiData(midi.type, midi.ticks_per_beat, tracks)


def note_event(tick: int, msg: mido.Message) -> Tuple[int, int, int, int]:
    """A mido note_on or note_off message at ``tick`` as ``Track.notes`` holds it."""
    return tick, msg.channel, msg.note, msg.velocity if msg.type == "note_on" else 0


def _walk(data: bytes) -> MidiData:
    if len(data) < 14 or not data.startswith(b"MThd"):
        raise _LeftToMido
    header_size = struct.unpack_from(">L", data, 4)[0]
    if header_size < 6 or 8 + header_size > len(data):
        raise _LeftToMido
    file_type, n_tracks, ticks_per_beat = struct.unpack_from(">hhh", data, 8)
    position = 8 + header_size
    tracks = []
    for _ in range(n_tracks):
        if data[position:position + 4] != b"MTrk" or position + 8 > len(data):
            raise _LeftToMido
        size = struct.unpack_from(">L", data, position + 4)[0]
        position += 8
        end = position + size
        if end > len(data):
            raise _LeftToMido
        tracks.append(_walk_track(data, position, end))
        position = end
    return MidiData(file_type, ticks_per_beat, tracks)


def _walk_track(data: bytes, position: int, end: int) -> Track:
    """One track's events, from ``position`` up to ``end``. Written for speed: this loop runs
    once per event of the file, so it reads the bytes by index and builds only a note's tuple."""
    notes, name, programs, meters = [], "", [], []
    append_note = notes.append
    tick = 0
    running = None  # the last channel message's status byte
    while position < end:
        byte = data[position]
        position += 1
        delta = byte & 0x7F
        while byte & 0x80:
            byte = data[position]
            position += 1
            delta = (delta << 7) | (byte & 0x7F)
        tick += delta
        status = data[position]
        position += 1
        if status < 0x80:  # running status: this is already the first data byte
            if running is None or running >= 0xF0:
                raise _LeftToMido  # none yet (mido refuses it), or a system message's (its own rules)
            first, status = status, running
        elif status < 0xF0:
            running = status
            first = data[position]
            position += 1
        else:
            if status == META:
                kind = data[position]
                length, position = _variable_length(data, position + 1)
                body = data[position:position + length]
                position += length
                if position > end:
                    raise _LeftToMido
                try:
                    meta = build_meta_message(kind, list(body), delta)
                except Exception:  # noqa: BLE001 - mido refuses it: let mido read the file and say why
                    raise _LeftToMido from None
                if kind == TRACK_NAME and not name:
                    name = str(meta.name).strip()
                elif kind == TIME_SIGNATURE:
                    meters.append((tick, meta.numerator, meta.denominator))
                continue
            if status not in (SYSEX, SYSEX_ESCAPE):
                raise _LeftToMido  # a system message in a file: rare, and mido's rules for it are its own
            length, position = _variable_length(data, position)
            body = data[position:position + length]
            position += length
            # mido drops a leading 0xF0 and a final 0xF7, and refuses any other byte above 127
            body = body[1:] if body[:1] == b"\xf0" else body
            body = body[:-1] if body[-1:] == b"\xf7" else body
            if position > end or (body and max(body) > 0x7F):
                raise _LeftToMido
            running = status  # mido takes it as the running status, so a data byte next is left to mido
            continue
        kind = status & 0xF0
        if kind in ONE_DATA_BYTE:
            if first > 0x7F:
                raise _LeftToMido
            if kind == PROGRAM_CHANGE:
                programs.append((status & 0x0F, first))
            continue
        second = data[position]
        position += 1
        if first > 0x7F or second > 0x7F:
            raise _LeftToMido
        if kind == NOTE_ON:
            append_note((tick, status & 0x0F, first, second))
        elif kind == NOTE_OFF:
            append_note((tick, status & 0x0F, first, 0))
    if position != end:
        raise _LeftToMido  # the last event ran past the chunk's end, where mido reads on
    return Track(notes, name, programs, meters)


def _variable_length(data: bytes, position: int) -> Tuple[int, int]:
    """(the variable-length number at ``position``, the position after it); a length longer
    than mido reads is left to mido."""
    value = 0
    while True:
        byte = data[position]
        position += 1
        value = (value << 7) | (byte & 0x7F)
        if byte < 0x80:
            break
    if value > MAX_LENGTH:
        raise _LeftToMido
    return value, position
