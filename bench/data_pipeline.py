"""Time the data pipeline: the course file read into measures, values and the arrays X, Y.

    python bench/data_pipeline.py                       # the course file, beside the checkout
    python bench/data_pipeline.py path/to/file.mid --preset none

``bench_data_pipeline`` is what the benchmark runner calls. The original pipeline (music21 5.7.2)
took 7.3 s for ``get_musical_data`` on its first run and 2.7 s once music21 had cached the parse;
``data_processing`` took about 15 ms.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Callable, Dict, Optional

COURSE_MIDI = Path(__file__).resolve().parents[2] / "shared" / "data" / "original_metheny.mid"


def median_seconds(run: Callable[[], object], repeats: int) -> float:
    """The median wall-clock seconds of ``repeats`` calls of run()."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_data_pipeline(path=COURSE_MIDI, preset: Optional[str] = "course",
                        repeats: int = 5) -> Dict[str, float]:
    """Seconds for each stage on ``path`` (a file or a list of files): the first full run, then
    medians of ``repeats`` runs.

    Keys: first_load_music_utils (in this process, imports included), read_midi,
    get_musical_data, get_corpus_data, data_processing, load_music_utils.
    """
    start = time.perf_counter()
    from lstm_numpy import dataset, midi_io

    dataset.load_music_utils(path, preset=preset)
    first = time.perf_counter() - start

    paths = [path] if isinstance(path, (str, Path)) else list(path)
    _, grammars = dataset.get_musical_data(path, preset=preset)
    corpus, _, val_indices, _ = dataset.get_corpus_data(grammars)
    return {
        "first_load_music_utils": first,
        "read_midi": median_seconds(lambda: [midi_io.read_midi(p) for p in paths],
                                     repeats),
        "get_musical_data": median_seconds(lambda: dataset.get_musical_data(path, preset=preset),
                                            repeats),
        "get_corpus_data": median_seconds(lambda: dataset.get_corpus_data(grammars), repeats),
        "data_processing": median_seconds(lambda: dataset.data_processing(corpus, val_indices),
                                           repeats),
        "load_music_utils": median_seconds(lambda: dataset.load_music_utils(path, preset=preset),
                                            repeats),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("midi", nargs="*", default=[str(COURSE_MIDI)])
    parser.add_argument("--preset", default="course", help="a preset name, or 'none'")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    preset = None if args.preset.lower() == "none" else args.preset
    for stage, seconds in bench_data_pipeline(args.midi, preset, args.repeats).items():
        print(f"{stage:24s} {seconds * 1000:9.2f} ms")
