"""The training music as value indices: its pieces, the part held out for validation, its windows.

A checkpoint keeps the values it was trained on (``Corpus``), so that its fit can be measured
later from the checkpoint alone: the unigram and bigram it is compared with are counted on the
very values the model learned from.

The validation part (``split``) is a fraction of the values: whole pieces when there are several,
drawn with the run's seed; the end of the piece when there is one. The rest is the training part,
from which training draws its windows: the course's fixed windows (``data_processing`` once), or
windows drawn afresh every epoch (``epoch_windows``, one-hot; training takes the same windows as
value indices, ``epoch_window_indices``), so that over a run every value is a target.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, List, Sequence, Tuple

import numpy as np

from .errors import LstmNumpyError

SPLIT_STREAM = 1  # the seed's stream that draws the validation pieces (0 is the weights')
WINDOW_STREAM = 2  # the stream that draws each epoch's windows
CHORD_DROPOUT_STREAM = 3  # the stream that draws which windows train without their chords


@dataclass(frozen=True)
class Corpus:
    """Every value read for training, by piece, and which of them were held out.

    values: (n,) int64 indices into the vocabulary, piece after piece.
    starts: (n_pieces,) where each piece starts in ``values`` (starts[0] = 0, increasing).
    validation: (n_ranges, 2) int64 [start, stop) ranges of ``values`` held out for validation.
    """

    values: np.ndarray
    starts: np.ndarray
    validation: np.ndarray

    def pieces(self) -> List[np.ndarray]:
        """Each piece's values."""
        return np.split(self.values, self.starts[1:])

    def parts(self, held_out: bool) -> List[np.ndarray]:
        """The validation ranges (held_out True), or the training values piece by piece outside them."""
        return [self.values[a:b] for a, b in self.ranges(held_out)]

    def ranges(self, held_out: bool) -> List[Tuple[int, int]]:
        """The [start, stop) ranges of ``values`` that ``parts`` returns, for arrays aligned with
        the values (the conditioned model's features)."""
        if held_out:
            return [(int(a), int(b)) for a, b in self.validation]
        bounds = list(self.starts[1:]) + [len(self.values)]
        ranges, start = [], 0
        for end in bounds:  # each piece, less the validation ranges inside it
            at = start
            for a, b in self.validation:
                if start <= a < end:
                    if a > at:
                        ranges.append((int(at), int(a)))
                    at = b
            if end > at:
                ranges.append((int(at), int(end)))
            start = end
        return ranges

    def training_values(self) -> np.ndarray:
        """The training part, its pieces joined (what windows are drawn from)."""
        parts = self.parts(held_out=False)
        return np.concatenate(parts) if parts else np.zeros(0, np.int64)


def make_corpus(piece_values: Sequence[Sequence[str]], values_indices: Dict[str, int]) -> Corpus:
    """A Corpus of the given pieces (each a list of value strings), nothing held out yet."""
    lengths = [len(p) for p in piece_values]
    values = np.array([values_indices[v] for p in piece_values for v in p], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    return Corpus(values, starts, np.zeros((0, 2), np.int64))


def split(corpus: Corpus, fraction: float, seed: int) -> Corpus:
    """Hold out about ``fraction`` of the values for validation.

    Several pieces: whole pieces, in an order drawn with ``seed``, until they hold at least the
    fraction (but always leaving one piece to train on). One piece: its last ceil(fraction * n)
    values. fraction 0 holds out nothing.
    """
    if fraction == 0:
        return corpus
    n = len(corpus.values)
    ends = list(corpus.starts[1:]) + [n]
    if len(corpus.starts) == 1:
        held = max(1, math.ceil(fraction * n))
        ranges = [(n - held, n)]
    else:
        order = np.random.default_rng([seed, SPLIT_STREAM]).permutation(len(corpus.starts))
        ranges, held = [], 0
        for k in order[:-1]:
            if held >= fraction * n:
                break
            ranges.append((int(corpus.starts[k]), int(ends[k])))
            held += ends[k] - corpus.starts[k]
        ranges.sort()
    return Corpus(corpus.values, corpus.starts, np.array(ranges, dtype=np.int64).reshape(-1, 2))


def epoch_windows(training: np.ndarray, n_values: int, m: int, Tx: int, seed: int, epoch: int
                  ) -> Tuple[np.ndarray, np.ndarray]:
    """The windows of one epoch, drawn afresh: X (m, Tx, n_values), Y (Tx, m, n_values).

    As ``dataset.data_processing`` draws them (m starts, uniformly with replacement, the first
    value of each window dropped), from a generator seeded by (seed, epoch) alone, so a resumed
    run draws the same windows as an uninterrupted one.
    """
    from .dataset import data_processing

    identity = {i: i for i in range(n_values)}
    X, Y, _ = data_processing(training.tolist(), identity, m=m, Tx=Tx, seed=epoch_seed(seed, epoch))
    return X, Y


def epoch_window_indices(training: np.ndarray, m: int, Tx: int, seed: int, epoch: int
                         ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The windows of ``epoch_windows`` as value indices, without their one-hot arrays:
    x, y (m, Tx) int64, what X and Y hold one-hot (x[:, 0] and y[:, -1] are -1, the all-zero
    x<1> and y<Tx>), and the windows' starts (m,).

    Training uses these: the one-hot arrays of a large corpus are tens of megabytes per epoch
    (the default corpus: 262 windows x 30 x 429 values, twice), which took longer to build and
    read back than a third of the epoch's training.
    """
    from .dataset import window_starts

    starts = window_starts(len(training), m, Tx, epoch_seed(seed, epoch))
    windows = np.asarray(training, np.int64)[starts[:, None] + np.arange(Tx)]  # (m, Tx)
    x = windows.copy()
    x[:, 0] = -1  # the course drops each window's first value: the model starts from x = 0
    y = np.full_like(windows, -1)
    y[:, :-1] = windows[:, 1:]  # the value after each step; nothing follows the window
    return x, y, starts


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of one epoch's window draws (``dataset.window_starts``): (seed, epoch) alone."""
    return int(np.random.SeedSequence([seed, WINDOW_STREAM, epoch]).generate_state(1)[0])


def check(corpus: Corpus, n_values: int) -> bool:
    """Whether a Corpus read from a file holds together (indices, starts and ranges in bounds)."""
    values, starts, validation = corpus.values, corpus.starts, corpus.validation
    n = len(values)
    return bool(values.ndim == 1 and starts.ndim == 1 and len(starts) >= 1 and starts[0] == 0
                and np.all(np.diff(starts) > 0) and starts[-1] < max(n, 1)
                and np.all((values >= 0) & (values < n_values))
                and validation.ndim == 2 and validation.shape[1] == 2
                and np.all((0 <= validation[:, 0]) & (validation[:, 0] < validation[:, 1])
                           & (validation[:, 1] <= n)))
