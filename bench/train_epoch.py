"""Time one training epoch of the course model (forward, backprop through time, Adam update).

    python bench/train_epoch.py            # course sizes, batch 60 and 32, float32

``bench_train_epoch`` is what the benchmark runner calls. It trains on random one-hot windows of
the requested size (the time of an epoch does not depend on which values they hold) in one call
of ``fit``, as a user would, and times every epoch from the ``on_epoch_end`` callback.
``threads=n`` limits every thread pool to n and lets ``fit`` split each batch between n
threads. Training's time loops run in numba and use no BLAS (see ``lstm_numpy/kernels.py``), so
OpenBLAS's choice of kernels for the CPU hardly matters to these figures.
"""

from __future__ import annotations

import time
from contextlib import nullcontext
from typing import Optional

import numpy as np


def _random_windows(rng, m: int, Tx: int, n_values: int):
    """One-hot X (m, Tx, n_values) and Y (Tx, m, n_values) shaped like the course's."""
    values = rng.integers(0, n_values, size=(m, Tx + 1))
    X = np.zeros((m, Tx, n_values), np.float32)
    Y = np.zeros((Tx, m, n_values), np.float32)
    rows = np.arange(m)[:, None]
    X[rows, np.arange(1, Tx), values[:, 1:Tx]] = 1  # x<1> = 0, as in the course
    Y[np.arange(Tx - 1)[:, None], np.arange(m), values[:, 1:Tx].T] = 1  # y<Tx> = 0
    return X, Y


def conditioned_features(m: int, Tx: int, seed: int = 1) -> np.ndarray:
    """(m, Tx, 35) float32 features as the conditioned model reads them: four chord tones, one
    root move, one beat and one place in the beat set at every step, drawn at random."""
    from lstm_numpy import features as F

    rng = np.random.default_rng(seed)
    D = np.zeros((m, Tx, F.N_FEATURES), np.float32)
    rows, steps = np.meshgrid(np.arange(m), np.arange(Tx), indexing="ij")
    for group, count in ((F.CHORD_TONES, 4), (F.ROOT_MOVE, 1), (F.BEAT, 1), (F.SUBBEAT, 1)):
        width = group.stop - group.start
        for _ in range(count):
            D[rows, steps, group.start + rng.integers(0, width, size=(m, Tx))] = 1
    return D


def _thread_limit(threads: Optional[int]):
    if threads is None:
        return nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(threads)


def bench_train_epoch(n_a: int = 64, Tx: int = 30, m: int = 60, n_values: int = 78,
                      batch_size: int = 60, threads: Optional[int] = None,
                      epochs: int = 60, dtype=np.float32, model: str = "course") -> float:
    """Median seconds of one training epoch (m windows in batches of batch_size).

    model: "course", or "conditioned" with random features shaped like real ones
    (``conditioned_features``).
    """
    from lstm_numpy.model import fit, init_model

    X, Y = _random_windows(np.random.default_rng(0), m, Tx, n_values)
    D = conditioned_features(m, Tx) if model == "conditioned" else None
    net = init_model([str(i) for i in range(n_values)], n_a=n_a, seed=0, dtype=dtype, model=model)
    stamps = []
    with _thread_limit(threads):
        fit(net, X, Y, epochs=1, batch_size=batch_size, D=D)  # compile or load the kernels
        stamps.append(time.perf_counter())
        fit(net, X, Y, epochs=epochs, batch_size=batch_size, threads=threads or 1, D=D,
            on_epoch_end=lambda epoch, history: stamps.append(time.perf_counter()))
    return float(np.median(np.diff(stamps)[1:]))  # the first epoch also sets up the workspace


if __name__ == "__main__":
    for threads in (1, 2):
        for batch_size in (60, 32):
            ms = 1e3 * bench_train_epoch(batch_size=batch_size, threads=threads)
            print(f"threads={threads} batch={batch_size}: {ms:.2f} ms per epoch")
