"""The course's data pipeline: from MIDI files to the one-hot arrays X and Y the LSTM trains on.

The four functions keep the course's names and return values::

    chords, abstract_grammars = get_musical_data(path)          # MIDI -> one string per measure
    corpus, values, val_indices, indices_val = get_corpus_data(abstract_grammars)
    X, Y, n_values = data_processing(corpus, val_indices, m=60, Tx=30)
    X, Y, n_values, indices_values = load_music_utils(path)     # all of the above

Between the MIDI file and the strings sit *measures*: the melody notes of one bar with the chords
played under them (``get_measures``). The value grammar (``lstm_numpy.grammar``) turns each
measure into space-separated values such as ``"C,0.250,<m2,P-4>"``.

Two ways of cutting a piece into measures exist:

- the ``"course"`` preset reproduces the course exactly on its file, ``original_metheny.mid``:
  melody from track 11 (the guitar), chords from track 6 (the piano), only what starts in the
  solo window of beats 476..548, and measures formed as the course formed them (runs of equal
  ``int(offset / 4)``; the chord runs cut to as many as the melody has);
- without a preset, any file: the whole piece, bars laid out by its time signatures, melody and
  chords chosen automatically (see ``midi_io.choose_sources``) or by the caller. A file whose
  melody comes without chords takes them from chord symbols instead: a progression given with
  the file (``changes``), or a lead sheet beside it, ``NAME.changes.txt`` for ``NAME.mid``,
  laid over the file's bars from its first bar and repeated while the melody lasts.

The MIDI reader, like music21 5.x, makes no rests: a file only says when notes start and stop. The
course's file and its reference have none, so the course preset adds none. Elsewhere the silences
are written into the measures as rests (``rests=True``, see ``with_rests``), so that a measure's
values cover its bar and a model trained on them learns to breathe between phrases.
"""

from __future__ import annotations

import bisect
import os
from dataclasses import dataclass, replace
from fractions import Fraction
from itertools import accumulate, groupby
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from . import changes as chord_symbols, midi_io
from .errors import ChordSymbolError, LstmNumpyError, MidiError
from .notes import Chord, Note

PathLike = Union[str, os.PathLike]
Source = Union[int, str, midi_io.Selector, None]

MIN_NOTE = Fraction(1, 4)  # the course lengthened notes quantized to zero to a sixteenth
MIN_REST = Fraction(1, 4)  # a shorter silence is the note's release, not a rest
TWELFTH = Fraction(1, 12)  # quarters and thirds of a beat meet on a grid of twelfths
LEAD_SHEET_SUFFIX = ".changes.txt"  # NAME.changes.txt holds the changes of NAME.mid
MAX_LEAD_SHEET_BYTES = 2**20  # a lead sheet is a few lines of chord symbols


@dataclass(frozen=True)
class Preset:
    """Fixed choices for one known file.

    melody, chords: sources as ``midi_io.parse_selector`` reads them.
    window: (first, last) beat; only elements *starting* in this closed interval are kept.
    grouping: "course" (runs of ``int(offset / 4)``, as the course did) or "bars" (bar lines from
    the file's time signatures).
    rests: whether the silences in a measure's melody become rests (see ``with_rests``).
    """

    melody: Source
    chords: Source
    window: Optional[Tuple[Fraction, Fraction]]
    grouping: str
    rests: bool = True


PRESETS: Dict[str, Preset] = {
    # The course's hard-coded choices for original_metheny.mid: music21's part 5 is track 11
    # (Guitar, Pat Metheny's solo), part 0 is track 6 (Piano), the solo spans beats 476..548.
    # music21 5.x made no rests in this solo, so its 193 values have none: neither do ours.
    "course": Preset(melody=11, chords=6, window=(Fraction(476), Fraction(548)), grouping="course",
                     rests=False),
}


@dataclass(frozen=True)
class Measure:
    """One measure of a piece: the melody and the chords played under it.

    start: the measure's first beat, in quarter notes from the start of the piece;
    length: its length in quarter notes (4 in 4/4, 3 in 3/4 and in 6/8).
    melody, chords: with absolute offsets, in stream order (by offset, ties in file order); the
        melody's rests, if any, are Notes with ``pitch=None``.
    """

    start: Fraction
    length: Fraction
    melody: Tuple[Note, ...]
    chords: Tuple[Chord, ...]


@dataclass(frozen=True)
class Reading:
    """What was taken from one file, as the train command reports it.

    melody, chords: the sources as ``midi_io.describe_source`` words them (the source, as
    --melody and --chords take it, and its notes), or where the changes came from;
    remark: why, when the reader did something a user should know (such as splitting a part).
    """

    path: Path
    melody: str
    chords: str
    remark: str = ""

    def __str__(self) -> str:
        text = f"{self.path}: melody {self.melody}, chords {self.chords}"
        return f"{text}; {self.remark}" if self.remark else text


@dataclass(frozen=True)
class Pieces:
    """What ``read_corpus`` read: each usable file's measures, what was taken from it, and the
    files left out.

    pieces[k]: the measures of the file readings[k] describes;
    skipped: one sentence per file left out (``skip_bad``), naming the file and the reason.
    """

    pieces: List[List[Measure]]
    readings: List[Reading]
    skipped: List[str]

    @property
    def measures(self) -> List[Measure]:
        """Every piece's measures, one after the other."""
        return [measure for piece in self.pieces for measure in piece]


# --------------------------------------------------------------------------------------------
# MIDI -> measures -> grammar strings
# --------------------------------------------------------------------------------------------

def get_measures(path_or_paths: Union[PathLike, Sequence[PathLike]], preset: Optional[str] = None,
                 melody: Source = None, chords: Source = None,
                 window: Optional[Tuple[float, float]] = None,
                 rests: Optional[bool] = None, changes: Optional[str] = None) -> List[Measure]:
    """Read one or several MIDI files into measures of melody notes and chords.

    path_or_paths: a file, or a list of files whose measures are concatenated in order.
    preset: None, or the name of a preset (``"course"``); explicit arguments override it.
    melody, chords: where each comes from; a track index (``11`` or ``"11"``), a track name
        (``"Guitar"``, any case), a channel counted 1..16 (``"ch6"``), or both
        (``"Piano/ch2"``), optionally one layer of it (``"Piano/top"``, ``"Piano/below"``).
        None lets ``midi_io.choose_sources`` pick.
    window: (first, last) beat; keep only what starts in this closed interval.
    rests: True writes every silence of a quarter beat or more in a measure's melody as rests
        (see ``with_rests``); None leaves it to the preset: True without one, False for
        ``"course"``, whose reference has no rests.
    changes: chord symbols for a single file, bar by bar (``"Dm7 G7 | Cmaj7"``, see
        ``changes.parse_changes``), used as its chords. Without them, a lead sheet beside a file
        (``NAME.changes.txt``, see ``lead_sheet_path``) gives that file's chords, unless
        ``chords`` names a part; the course preset reads none.

    Without a preset, measures follow the file's bar lines; bars without melody are skipped, and
    a bar where no chord starts takes the chord in force at its bar line (lasting the bar). Bars
    before the first chord are skipped, since their notes cannot be classified. Changes are laid
    over the bars from the file's first bar (bar k takes the changes' bar k modulo their length,
    so they repeat while the melody lasts), each bar's chords sharing it evenly.

    A bar without melody is skipped even with rests: the measure before it ends in a rest and
    the one after it starts with one, so the pause is in the values, while a run of whole-bar
    rests (an intro, another player's solo) would teach the model to lay out for bars.
    """
    return read_corpus(path_or_paths, preset, melody, chords, window, rests, changes).measures


def read_corpus(path_or_paths: Union[PathLike, Sequence[PathLike]], preset: Optional[str] = None,
                melody: Source = None, chords: Source = None,
                window: Optional[Tuple[float, float]] = None, rests: Optional[bool] = None,
                changes: Optional[str] = None, skip_bad: bool = False) -> Pieces:
    """``get_measures``, piece by piece, also saying what was taken from each file (``Pieces``).

    skip_bad: a file that cannot be used (unreadable, no melody, no chords ...) is left out and
    listed in ``Pieces.skipped`` instead of stopping the reading; if every file is left out,
    MidiError says why the first one was.
    """
    melody, chords, window, grouping, rests = _settings(preset, melody, chords, window, rests)
    paths = [Path(p) for p in _as_paths(path_or_paths)]
    given = None
    if changes is not None:
        given = _given_changes(changes, paths, preset, chords)
    pieces: List[List[Measure]] = []
    readings: List[Reading] = []
    skipped: List[str] = []
    for path in paths:
        try:
            sheet = given
            if sheet is None and grouping != "course" and chords is None:
                sheet = _lead_sheet(path)
            file_measures, reading = _file_measures(path, melody, chords, window, grouping,
                                                    rests, sheet)
        except MidiError as error:
            if not skip_bad:
                raise
            skipped.append(str(error))
            continue
        pieces.append(file_measures)
        readings.append(reading)
    if not readings:
        raise MidiError(f"None of the {len(paths)} files can be used; the first: {skipped[0]}")
    return Pieces(pieces, readings, skipped)


def get_musical_data(path_or_paths: Union[PathLike, Sequence[PathLike]],
                     preset: Optional[str] = None, melody: Source = None, chords: Source = None,
                     window: Optional[Tuple[float, float]] = None, rests: Optional[bool] = None,
                     changes: Optional[str] = None) -> Tuple[List[List[Chord]], List[str]]:
    """The course's ``get_musical_data``: MIDI file(s) -> (chords, abstract_grammars).

    Arguments as for ``get_measures``. Returns one entry per measure in each list:
    chords[k], the Chords (absolute offsets) played under measure k, and abstract_grammars[k],
    its melody as space-separated grammar values (a rest is ``R,<duration>``, such as
    ``R,0.500``; the next note's interval is counted from the note before the rest).

    (The course returned ``chords`` as a dict with an extra entry 0 holding the file's
    offset-0 metadata; here the lists are aligned, chords[k] belongs to abstract_grammars[k].)
    """
    return musical_data(get_measures(path_or_paths, preset, melody, chords, window, rests, changes))


def musical_data(measures: Sequence[Measure]) -> Tuple[List[List[Chord]], List[str]]:
    """``get_musical_data`` for measures already read: (chords, abstract_grammars)."""
    from . import grammar  # imported on use: only this step needs the value grammar

    abstract_grammars = [grammar.parse_measure(m.melody, m.chords, m.start) for m in measures]
    return [list(m.chords) for m in measures], abstract_grammars


def _settings(preset, melody, chords, window, rests):
    if preset is None:
        base = Preset(None, None, None, "bars", rests=True)
    elif preset in PRESETS:
        base = PRESETS[preset]
    else:
        raise LstmNumpyError(f"Unknown preset {preset!r}; the presets are "
                             f"{', '.join(sorted(PRESETS))}, or None for any file.")
    if window is not None:
        try:
            first, last = (Fraction(x).limit_denominator(10**6) for x in window)
        except (TypeError, ValueError, OverflowError):
            raise LstmNumpyError(f"window must be two beats (first, last), not {window!r}."
                                 ) from None
        if first > last:
            raise LstmNumpyError(f"window {window!r} ends before it starts; give (first, last).")
        window = (first, last)
    if rests is not None and not isinstance(rests, (bool, np.bool_)):
        raise LstmNumpyError(f"rests must be True, False or None (the preset decides), not "
                             f"{rests!r}.")
    return (melody if melody is not None else base.melody,
            chords if chords is not None else base.chords,
            window if window is not None else base.window,
            base.grouping,
            bool(rests) if rests is not None else base.rests)


def _as_paths(path_or_paths) -> List[PathLike]:
    if isinstance(path_or_paths, (str, os.PathLike)):
        return [path_or_paths]
    paths = list(path_or_paths)
    if not paths:
        raise MidiError("No MIDI files were given; pass a file or a list of files.")
    return paths


# --------------------------------------------------------------------------------------------
# Changes given with a file: chord symbols instead of a chord part
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Sheet:
    """Chord symbols for one file: where they came from (for the report), and each bar's
    voicings (``changes.bar_voicings``)."""

    source: str
    bars: List[List[Tuple[int, ...]]]


def lead_sheet_path(midi_path: PathLike) -> Path:
    """Where the lead sheet of a MIDI file lies: ``NAME.changes.txt`` beside ``NAME.mid``."""
    midi_path = Path(midi_path)
    return midi_path.with_name(midi_path.stem + LEAD_SHEET_SUFFIX)


def _given_changes(changes: str, paths: List[Path], preset, chords) -> _Sheet:
    if not isinstance(changes, str):
        raise LstmNumpyError(f"The changes must be chord symbols in a string such as "
                             f"'Dm7 G7 | Cmaj7', not {changes!r}.")
    if len(paths) != 1:
        raise LstmNumpyError(f"--changes gives the chords of a single file, but {len(paths)} "
                             "were given; put a lead sheet NAME.changes.txt beside each file "
                             "instead.")
    if preset is not None or chords is not None:
        raise LstmNumpyError("--changes replaces the file's chord part, so it cannot be "
                             f"combined with {'--preset' if preset else '--chords'}; leave "
                             "that option out.")
    return _Sheet("--changes", chord_symbols.bar_voicings(changes))


def _lead_sheet(midi_path: Path) -> Optional[_Sheet]:
    """The lead sheet beside a MIDI file, read; None when there is none."""
    path = lead_sheet_path(midi_path)
    if not path.is_file():
        return None
    try:
        if path.stat().st_size > MAX_LEAD_SHEET_BYTES:
            raise MidiError(f"{path}: the lead sheet is {path.stat().st_size} bytes, far more "
                            "than chord symbols take; check that it is the right file.")
        text = path.read_bytes().decode("utf-8-sig")
        return _Sheet(path.name, chord_symbols.lead_sheet_bars(text))
    except OSError as error:
        raise MidiError(f"{path}: the lead sheet cannot be read ({error.strerror or error}); "
                        "check its permissions.") from None
    except UnicodeDecodeError:
        raise MidiError(f"{path}: the lead sheet is not UTF-8 text; save it as plain text."
                        ) from None
    except ChordSymbolError as error:
        raise MidiError(f"{path}: {error}") from None


def _sheet_chords(sheet: _Sheet, notes: Sequence[Note], bars: "_BarLines") -> List[Chord]:
    """The changes laid over the bars the melody plays in: bar k takes the sheet's bar k modulo
    its length (the changes repeat while the melody lasts), its chords sharing the bar evenly.
    Only bars with melody get chords, so a damaged file's far-off note costs one bar, not a
    count of every bar up to it."""
    chords: List[Chord] = []
    for bar in sorted({bars.index(n.offset) for n in notes}):
        start, length = bars.span(bar)
        chords.extend(chord_symbols.place_bar(sheet.bars[bar % len(sheet.bars)], start, length))
    return chords


# --------------------------------------------------------------------------------------------
# One file's measures
# --------------------------------------------------------------------------------------------

SPLIT_REMARK = ("no other part plays chords, so its part is split into the top line (the "
                "melody) and what it plays below (the chords)")


def _file_measures(path: Path, melody: Source, chords: Source, window, grouping: str,
                   rests: bool, sheet: Optional[_Sheet]) -> Tuple[List[Measure], Reading]:
    score = midi_io.read_midi(path)
    remark = ""
    if sheet is not None:
        melody = midi_io.choose_melody(score) if melody is None else melody
    elif melody is None or chords is None:
        split_by_us = chords is None
        melody, chords = midi_io.choose_sources(score, melody, chords)
        if split_by_us and chords.layer == "below":
            remark = SPLIT_REMARK
    melody = midi_io.parse_selector(melody)
    tpq = score.ticks_per_beat
    melody_notes = midi_io.select_notes(score, melody, "melody")
    melody_part = midi_io.part_elements(melody_notes, tpq)
    chord_part: List[Union[Note, Chord]] = []
    if sheet is None:
        chords = midi_io.parse_selector(chords)
        chord_notes = midi_io.select_notes(score, chords, "chords")
        chord_part = midi_io.part_elements(chord_notes, tpq)

    if window is not None:
        first, last = window
        melody_part = [e for e in melody_part if first <= e.offset <= last]
        chord_part = [e for e in chord_part if first <= e.offset <= last]
    if grouping == "course":
        # the course's melody keeps single notes only (parse_melody ignored chords)
        notes = [_min_length(e) for e in melody_part if isinstance(e, Note)]
    else:
        # elsewhere a double-stop in the melody counts as its top note
        notes = [_min_length(_top_note(e)) for e in melody_part]
    where = " in the window" if window else ""
    if not notes:
        raise MidiError(f"{path}: the melody ({melody}) has no notes{where}; choose another "
                        "melody source.")
    bars = _BarLines(score) if grouping != "course" else None
    if sheet is not None:
        chord_stream = _sheet_chords(sheet, notes, bars)
        played = bars.index(notes[-1].offset) + 1
        chords_text = (f"from {sheet.source} ({len(sheet.bars)} bars, laid over the melody's "
                       f"{played} bars)")
    else:
        chord_stream = [e for e in chord_part if isinstance(e, Chord)]
        chords_text = midi_io.describe_source(score, chords, len(chord_notes))
    if not chord_stream:
        raise MidiError(f"{path}: the chord source ({chords}) never plays two or more notes at "
                        f"once{where}, so there are no chords; choose another chord source.")
    if grouping == "course":
        measures = _course_measures(notes, chord_stream, path)
    else:
        measures = _bar_measures(notes, chord_stream, bars)
    if not measures:
        raise MidiError(f"{path}: no measure has both melody and chords; choose other sources.")
    reading = Reading(path, midi_io.describe_source(score, melody, len(melody_notes)),
                      chords_text, remark)
    return (with_rests(measures, notes) if rests else measures), reading


def _min_length(note: Note) -> Note:
    if note.duration > 0:
        return note
    return Note(note.offset, MIN_NOTE, note.pitch, note.velocity)


def _top_note(element: Union[Note, Chord]) -> Note:
    if isinstance(element, Note):
        return element
    return Note(element.offset, element.duration, max(element.pitches), element.velocity)


def _course_measures(notes: List[Note], chords: List[Chord], path: Path) -> List[Measure]:
    """The course's measures: runs of equal int(offset / 4), paired run by run.

    Bar numbers are not used, so a bar without melody shifts the pairing, as in the course. The
    chord runs are cut to the melody's count (the course deleted its last chord run, the piano
    chord exactly on beat 548).
    """
    melody_runs = [list(run) for _, run in groupby(notes, key=lambda n: n.offset // 4)]
    chord_runs = [list(run) for _, run in groupby(chords, key=lambda c: c.offset // 4)]
    if len(chord_runs) < len(melody_runs):
        raise MidiError(f"{path}: the course grouping found {len(melody_runs)} measures of "
                        f"melody but only {len(chord_runs)} of chords, so it is not laid out like "
                        "the course file; train on it without --preset course.")
    return [Measure(Fraction(4 * (run[0].offset // 4)), Fraction(4), tuple(run), tuple(chord_run))
            for run, chord_run in zip(melody_runs, chord_runs)]


def _bar_measures(notes: List[Note], chords: List[Chord], bars: "_BarLines") -> List[Measure]:
    """Measures at the file's bar lines; see ``get_measures`` for the rules."""
    melody_by_bar: Dict[int, List[Note]] = {}
    for note in notes:
        melody_by_bar.setdefault(bars.index(note.offset), []).append(note)
    chords_by_bar: Dict[int, List[Chord]] = {}
    for chord in chords:
        chords_by_bar.setdefault(bars.index(chord.offset), []).append(chord)

    chord_offsets = [c.offset for c in chords]  # sorted: chords come in stream order
    measures = []
    for bar in sorted(melody_by_bar):
        start, length = bars.span(bar)
        under = chords_by_bar.get(bar)
        if not under:
            # the chord in force is the last one before the bar line; a search, not a scan of
            # every chord, so that a long file with many chordless bars stays linear
            before = bisect.bisect_left(chord_offsets, start)
            if not before:
                continue
            held = chords[before - 1]
            under = [Chord(start, length, held.pitches, held.velocity)]
        measures.append(Measure(start, length, tuple(melody_by_bar[bar]), tuple(under)))
    return measures


# --------------------------------------------------------------------------------------------
# Rests: the silences between the notes
# --------------------------------------------------------------------------------------------

def with_rests(measures: Sequence[Measure], notes: Sequence[Note]) -> List[Measure]:
    """The measures with every silence of their melody written as rests.

    measures: as cut from ``notes``; notes: the whole melody in stream order (by offset), so
    that a note ringing over a bar line keeps the next bar from starting with a rest.

    A silence runs from where every earlier note has stopped (a later note starting before an
    earlier one ends leaves none) to the next note's start, or to the end of the bar; the first
    one of a bar starts at the bar line at the earliest. Each silence of a quarter beat or more
    becomes rests, ``Note(offset, duration, pitch=None)``, laid out by ``rest_durations``. When
    the notes sit on the grid and do not overlap, a measure's durations then add up to its bar.
    """
    ends = list(accumulate((n.offset + n.duration for n in notes), max))
    starts = [n.offset for n in notes]
    out = []
    for measure in measures:
        before = bisect.bisect_left(starts, measure.start)
        silent_from = max(measure.start, ends[before - 1]) if before else measure.start
        bar_end = measure.start + measure.length
        melody: List[Note] = []
        for note in measure.melody:
            melody.extend(_rests(silent_from, min(note.offset, bar_end), measure.start))
            melody.append(note)
            silent_from = max(silent_from, note.offset + note.duration)
        melody.extend(_rests(silent_from, bar_end, measure.start))
        out.append(replace(measure, melody=tuple(melody)))
    return out


def _rests(begin: Fraction, end: Fraction, bar_start: Fraction) -> List[Note]:
    """Rests filling the silence from ``begin`` to ``end`` (nothing if under a quarter beat)."""
    if end - begin < MIN_REST:
        return []
    rests, at = [], end
    for duration in reversed(rest_durations(begin - bar_start, end - bar_start)):
        at -= duration
        rests.append(Note(at, duration, None))
    return rests[::-1]


def rest_durations(begin: Fraction, end: Fraction) -> List[Fraction]:
    """The rests, in order, that write a silence from beat ``begin`` to beat ``end`` of a bar.

    As notation shows the beat, the silence is cut at the beat lines: the whole beats inside it
    make one rest (1, 2, 3 ... beats), and each part shorter than a beat, before the first beat
    line or after the last, is written with the grid's own durations (1/4, 1/3, 1/2, 2/3, 3/4):
    one of them, or two when its length is a sum of two (7/12 = 1/3 + 1/4, 5/6 = 1/2 + 1/3,
    11/12 = 2/3 + 1/4). Such odd lengths follow a note that ends off the grid, as a sixteenth
    after a triplet does, or lie between a sixteenth and a triplet point (5/12). What no grid
    durations make is left out, so rests may fall short of the silence by at most a sixth of a
    beat: a sliver under a quarter beat (the note's release), or the twelfth by which 5/12 exceeds
    the 1/3 it is written as. This keeps the rests' vocabulary small: a grid duration under a
    beat, or whole beats. Beats are counted from the bar line, in quarter notes.
    """
    first_line, last_line = -(-begin // 1), end // 1  # the beat lines inside, if any
    if first_line > last_line:  # within one beat
        return _part_durations(end - begin)
    whole = [Fraction(last_line - first_line)] if last_line > first_line else []
    return _part_durations(first_line - begin) + whole + _part_durations(end - last_line)


def _part_durations(length: Fraction) -> List[Fraction]:
    """Grid durations, longest first, writing a silence shorter than a beat (see above)."""
    twelfths = int(length // TWELFTH)
    return [Fraction(t, 12) for t in _TWELFTHS[twelfths]]


# silence in twelfths of a beat (0..11) -> the rests written for it, in twelfths:
# 3, 4, 6, 8, 9 are the grid's durations 1/4, 1/3, 1/2, 2/3, 3/4
_TWELFTHS = {0: (), 1: (), 2: (), 3: (3,), 4: (4,), 5: (4,), 6: (6,), 7: (4, 3), 8: (8,), 9: (9,),
             10: (6, 4), 11: (8, 3)}


class _BarLines:
    """Bar numbers and bar spans from a file's time signatures, computed, never enumerated.

    (A damaged file can put an event billions of beats in; counting bars one by one would hang.)
    Each time signature starts a new bar where it stands.
    """

    def __init__(self, score: midi_io.MidiScore):
        tpq = score.ticks_per_beat
        self.starts: List[Fraction] = []
        self.lengths: List[Fraction] = []
        self.first_bars: List[int] = []
        for sig in score.time_signatures:
            start = midi_io.quantize(sig.tick, tpq)
            if self.starts:
                if start == self.starts[-1]:  # two signatures snap to one point: the later wins
                    self.lengths[-1] = sig.bar_length
                    continue
                span = start - self.starts[-1]
                bars = -(-span // self.lengths[-1])  # ceiling: a cut-short bar still counts
                self.first_bars.append(self.first_bars[-1] + int(bars))
            else:
                self.first_bars.append(0)
            self.starts.append(start)
            self.lengths.append(sig.bar_length)

    def index(self, offset: Fraction) -> int:
        k = max(bisect.bisect_right(self.starts, offset) - 1, 0)
        return self.first_bars[k] + int((offset - self.starts[k]) // self.lengths[k])

    def span(self, bar: int) -> Tuple[Fraction, Fraction]:
        k = bisect.bisect_right(self.first_bars, bar) - 1
        start = self.starts[k] + (bar - self.first_bars[k]) * self.lengths[k]
        length = self.lengths[k]
        if k + 1 < len(self.starts):
            length = min(length, self.starts[k + 1] - start)
        return start, length


# --------------------------------------------------------------------------------------------
# Grammar strings -> corpus -> one-hot arrays
# --------------------------------------------------------------------------------------------

def get_corpus_data(abstract_grammars: Sequence[str]
                    ) -> Tuple[List[str], List[str], Dict[str, int], Dict[int, str]]:
    """The course's ``get_corpus_data``: measure strings -> (corpus, values, val_indices,
    indices_val).

    corpus: every value of every measure, in order; values: the distinct values, *sorted*;
    val_indices: value -> index into values; indices_val: index -> value.

    (The course kept ``values`` as a Python set and numbered it in iteration order, so its
    numbering changed with PYTHONHASHSEED; sorting makes it the same on every run.)
    """
    corpus = [value for measure in abstract_grammars for value in measure.split(" ") if value]
    values = sorted(set(corpus))
    val_indices = {v: i for i, v in enumerate(values)}
    indices_val = {i: v for i, v in enumerate(values)}
    return corpus, values, val_indices, indices_val


def data_processing(corpus: Sequence[str], values_indices: Dict[str, int], m: int = 60,
                    Tx: int = 30, seed: int = 0) -> Tuple[np.ndarray, np.ndarray, int]:
    """The course's ``data_processing``: m windows of Tx values -> (X, Y, n_values).

    Window i is corpus[s_i : s_i + Tx], its start drawn uniformly (with replacement) from
    0 .. len(corpus) - Tx - 1. n_values = len(values_indices).

    X: (m, Tx, n_values) float32, X[i, t] = one-hot of window i's value t, except that X[i, 0]
       stays all zeros (the course drops each window's first value: the model starts from x = 0);
    Y: (Ty, m, n_values) float32 with Ty = Tx, Y[t] = X[:, t + 1], the value to predict after
       step t; Y[Tx - 1] is all zeros (nothing follows the window).

    The starts come from NumPy's legacy ``RandomState(seed).choice``, the very generator the
    course seeded with ``np.random.seed(0)``, so seed=0 gives the course's 60 windows. It is a
    private generator: the global random state is left alone. (The course's arrays were bool;
    float32 is what the LSTM multiplies.)
    """
    corpus = list(corpus)
    if not (isinstance(m, (int, np.integer)) and m >= 1 and isinstance(Tx, (int, np.integer))
            and Tx >= 1):
        raise LstmNumpyError(f"m and Tx must be positive integers, not m={m!r}, Tx={Tx!r}.")
    if len(corpus) < Tx + 1:
        raise LstmNumpyError(f"The corpus has {len(corpus)} values, too few for windows of "
                             f"Tx={Tx} (at least {Tx + 1} needed); use more music or a smaller Tx.")
    missing = sorted(set(corpus) - set(values_indices))
    if missing:
        raise LstmNumpyError(f"{len(missing)} corpus values (first {missing[0]!r}) are not in "
                             "values_indices; build both with get_corpus_data.")
    n_values = len(values_indices)
    indices = np.array([values_indices[v] for v in corpus], dtype=np.int64)

    starts = window_starts(len(corpus), m, Tx, seed)
    windows = indices[starts[:, None] + np.arange(Tx)]  # (m, Tx) value indices

    X = np.zeros((m, Tx, n_values), dtype=np.float32)
    rows, steps = np.meshgrid(np.arange(m), np.arange(1, Tx), indexing="ij")
    X[rows, steps, windows[:, 1:]] = 1.0
    Y = np.zeros((Tx, m, n_values), dtype=np.float32)
    Y[:-1] = X[:, 1:].transpose(1, 0, 2)
    return X, Y, n_values


def window_starts(n: int, m: int, Tx: int, seed: int) -> np.ndarray:
    """(m,) int64 the first value of each of ``data_processing``'s windows over n values.

    Drawn uniformly with replacement from 0 .. n - Tx - 1 by NumPy's legacy
    ``RandomState(seed).choice``, one draw per window, as the course drew them. Also what the
    conditioned model's windows read their features with (``features.window_features``).
    """
    rng = np.random.RandomState(seed)
    return np.array([rng.choice(n - Tx) for _ in range(m)], dtype=np.int64)


# --------------------------------------------------------------------------------------------
# Everything at once
# --------------------------------------------------------------------------------------------

def default_corpus_dir() -> Path:
    """The project's own corpus: the ``data/`` folder beside the package."""
    return Path(__file__).resolve().parents[1] / "data"


def default_corpus_paths() -> List[Path]:
    """Every ``*.mid`` file of the default corpus, sorted by name."""
    folder = default_corpus_dir()
    paths = sorted(folder.glob("*.mid")) if folder.is_dir() else []
    if not paths:
        raise MidiError(f"{folder}: the default corpus has no .mid files; run "
                        "'python data/make_corpus.py' to write it, or pass a MIDI file.")
    return paths


def load_music_utils(path: Union[PathLike, Sequence[PathLike], None] = None,
                     preset: Optional[str] = None, m: int = 60, Tx: int = 30,
                     melody: Source = None, chords: Source = None,
                     window: Optional[Tuple[float, float]] = None, seed: int = 0,
                     rests: Optional[bool] = None
                     ) -> Tuple[np.ndarray, np.ndarray, int, Dict[int, str]]:
    """The course's ``load_music_utils``: MIDI -> (X, Y, n_values, indices_values).

    path: a file, a list of files, or None for the default corpus (``default_corpus_paths``).
    The other arguments go to ``get_musical_data`` and ``data_processing``.

    X: (m, Tx, n_values) and Y: (Ty, m, n_values) with Ty = Tx, float32 one-hot windows as
    ``data_processing`` makes them; indices_values: index -> value string, for all n_values.
    """
    paths = default_corpus_paths() if path is None else path
    _, abstract_grammars = get_musical_data(paths, preset, melody, chords, window, rests)
    corpus, _, val_indices, indices_val = get_corpus_data(abstract_grammars)
    X, Y, n_values = data_processing(corpus, val_indices, m=m, Tx=Tx, seed=seed)
    return X, Y, n_values, indices_val
