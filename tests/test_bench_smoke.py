"""The benchmark's own code runs: a renamed helper once broke one row of ``python -m bench``
without any test noticing. Each check runs a row's function at its smallest size; no time is
asserted (speed is measured by the benchmark itself, never by tests)."""

from __future__ import annotations

import numpy as np

from lstm_numpy import soundfont as sf


def test_the_sound_row_renders_a_solo_with_the_numpy_synthesizer(monkeypatch):
    from bench import sound

    # the NumPy synthesizer only, so the test needs no SoundFont installed
    monkeypatch.setattr(sf, "choose_soundfont", lambda path=None: (None, "none"))
    figures = sound.bench_sound(repeats=1)
    assert figures["soundfont"] is None and figures["notes"] > 0
    assert figures["numpy"] > 0 and figures["seconds_of_music"] > 0


def test_the_training_row_times_a_tiny_epoch():
    from bench.train_epoch import bench_train_epoch

    seconds = bench_train_epoch(n_a=8, Tx=5, m=6, n_values=7, batch_size=3, epochs=3)
    assert np.isfinite(seconds) and seconds > 0
