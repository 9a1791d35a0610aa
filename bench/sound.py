"""Time the WAV rendering of a 32-bar solo: through a SoundFont, and with the NumPy synthesizer.

    python bench/sound.py                                # the first SoundFont the package finds
    python bench/sound.py --soundfont path/to/font.sf2

``bench_sound`` is what the benchmark runner calls. The solo is made here, the same every time: 32
bars at 130 bpm (59 s of music) over two choruses of the F blues and the A section of rhythm
changes, eighth notes with rests between (176 notes: about 3 eighths in 4 played), 4 chords a bar
at most, and the walking bass. "First" is what a command pays, the SoundFont read from the disk
cache and loaded (the file's cache in the package is emptied before each run); "again" is what a
notebook pays for its next rendering, with the SoundFont kept loaded.
"""

from __future__ import annotations

import argparse
import statistics
import time
from fractions import Fraction
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np

BARS = 32
TEMPO = 130


def solo_32_bars():
    """(melody, flat chords) of the benchmark's 32-bar solo."""
    from lstm_numpy.changes import PROGRESSIONS, parse_changes
    from lstm_numpy.notes import Note
    from lstm_numpy.render import flatten_chords

    text = " | ".join([PROGRESSIONS["blues in F"]] * 2 + [PROGRESSIONS["rhythm changes A"]])
    chords = flatten_chords(parse_changes(text))
    assert chords[-1].offset + chords[-1].duration == 4 * BARS
    rng = np.random.default_rng(0)
    melody: List[Note] = []
    for eighth in range(8 * BARS):
        if rng.random() < 0.75:
            melody.append(Note(Fraction(eighth, 2), Fraction(1, 2), int(rng.integers(62, 80)), 100))
    return melody, chords


def _median_wall_and_cpu(run, repeats: int) -> Tuple[float, float]:
    """Median wall-clock and CPU seconds of ``repeats`` runs.

    The rendering runs on one thread, so on an idle machine the two agree; on a shared one the
    wall clock also counts the time other processes held the cores, and CPU time does not.
    """
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        run()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def bench_sound(soundfont: Optional[str] = None, repeats: int = 5) -> Dict[str, object]:
    """Median seconds: "first" (SoundFont loaded and played), "again" (kept loaded), "numpy".

    "first_cpu" and "again_cpu" are the same renderings' CPU seconds. Also "soundfont" (the path
    played, or None when the package finds none or the extra ``audio`` is missing: then only
    "numpy" is timed), "seconds_of_music" and "notes".
    """
    from bench.data_pipeline import median_seconds
    from lstm_numpy import soundfont as sf
    from lstm_numpy.render import render_audio

    melody, chords = solo_32_bars()
    figures: Dict[str, object] = {"notes": len(melody), "seconds_of_music": 4 * BARS * 60 / TEMPO}
    figures["numpy"] = median_seconds(
        lambda: render_audio(melody, chords, TEMPO, soundfont=sf.NONE, bass=True), repeats)
    path, _ = sf.choose_soundfont(soundfont)
    figures["soundfont"] = None if path is None else str(path)
    if path is not None:
        def first():
            sf._loaded.cache_clear()
            render_audio(melody, chords, TEMPO, soundfont=path, bass=True)

        figures["first"], figures["first_cpu"] = _median_wall_and_cpu(first, repeats)
        figures["again"], figures["again_cpu"] = _median_wall_and_cpu(
            lambda: render_audio(melody, chords, TEMPO, soundfont=path, bass=True), repeats)
    return figures


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Time the WAV rendering of a 32-bar solo.")
    parser.add_argument("--soundfont", help="a .sf2/.sf3 file (default: the one the package finds)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    figures = bench_sound(args.soundfont, args.repeats)
    for key, value in figures.items():
        print(f"{key}: {value:.3f} s" if isinstance(value, float) and key != "seconds_of_music" else f"{key}: {value}")
    return 0


if __name__ == "__main__":
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    raise SystemExit(main())
