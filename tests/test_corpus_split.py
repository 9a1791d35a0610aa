"""The training values kept as indices, the validation split, and each epoch's fresh windows."""

import numpy as np
import pytest

from lstm_numpy.checkpoint import read_checkpoint, save_checkpoint
from lstm_numpy.corpus import Corpus, epoch_windows, make_corpus, split
from lstm_numpy.errors import CheckpointError
from lstm_numpy.model import init_model
from lstm_numpy.train import TrainConfig, stopped_early, validation_fraction

VOCABULARY = ["C,0.250", "C,0.500", "R,0.500", "S,0.250"]
INDEX = {v: i for i, v in enumerate(VOCABULARY)}


def pieces(lengths):
    """Pieces of the given lengths whose values cycle through the vocabulary."""
    return [[VOCABULARY[(k + i) % 4] for i in range(n)] for k, n in enumerate(lengths)]


def test_make_corpus_keeps_pieces_apart():
    corpus = make_corpus(pieces([3, 5, 2]), INDEX)
    assert corpus.starts.tolist() == [0, 3, 8]
    assert [p.tolist() for p in corpus.pieces()] == [[0, 1, 2], [1, 2, 3, 0, 1], [2, 3]]
    assert len(corpus.validation) == 0
    assert corpus.training_values().tolist() == corpus.values.tolist()


def test_one_piece_holds_out_its_end():
    corpus = split(make_corpus(pieces([20]), INDEX), 0.1, seed=0)
    assert corpus.validation.tolist() == [[18, 20]]       # ceil(0.1 * 20) = 2 values
    assert [p.tolist() for p in corpus.parts(held_out=True)] == [corpus.values[18:].tolist()]
    assert corpus.training_values().tolist() == corpus.values[:18].tolist()


def test_several_pieces_hold_out_whole_pieces_chosen_by_the_seed():
    base = make_corpus(pieces([10] * 10), INDEX)
    chosen = {}
    for seed in range(5):
        corpus = split(base, 0.25, seed)
        ranges = corpus.validation.tolist()
        # whole pieces, at least a quarter of the 100 values: three pieces of ten
        assert len(ranges) == 3 and all(b - a == 10 and a % 10 == 0 for a, b in ranges)
        held = sum(len(p) for p in corpus.parts(held_out=True))
        assert held + len(corpus.training_values()) == 100
        chosen[seed] = tuple(a for a, _ in ranges)
        assert split(base, 0.25, seed).validation.tolist() == ranges  # the same seed, the same pieces
    assert len(set(chosen.values())) > 1


def test_one_piece_is_always_left_to_train_on():
    corpus = split(make_corpus(pieces([5, 5]), INDEX), 0.9, seed=0)
    assert len(corpus.validation) == 1 and len(corpus.training_values()) == 5


def test_nothing_held_out_with_fraction_zero_and_the_course_preset_has_none():
    base = make_corpus(pieces([10, 10]), INDEX)
    assert split(base, 0.0, 0) is base
    assert validation_fraction(TrainConfig(preset="course")) == 0
    assert validation_fraction(TrainConfig()) == 0.1
    assert validation_fraction(TrainConfig(val_fraction=0.3)) == 0.3


def test_epoch_windows_are_fresh_each_epoch_and_repeatable():
    training = np.arange(40) % 4
    X0, Y0 = epoch_windows(training, 4, m=8, Tx=5, seed=3, epoch=0)
    X1, _ = epoch_windows(training, 4, m=8, Tx=5, seed=3, epoch=1)
    again, _ = epoch_windows(training, 4, m=8, Tx=5, seed=3, epoch=0)
    assert X0.shape == (8, 5, 4) and Y0.shape == (5, 8, 4)
    assert np.array_equal(X0, again) and not np.array_equal(X0, X1)
    assert not X0[:, 0].any()                              # the course's zero first input
    assert np.array_equal(Y0[:-1], X0[:, 1:].transpose(1, 0, 2))


@pytest.mark.parametrize("epoch", [0, 5])
def test_epoch_window_indices_are_the_one_hot_windows(epoch):
    """Training takes each epoch's windows as value indices: exactly what epoch_windows holds
    one-hot, -1 for its all-zero x<1> and y<Tx>, from the same starts."""
    from lstm_numpy.corpus import epoch_window_indices
    from lstm_numpy.layout import one_hot_indices

    training = np.random.default_rng(epoch).integers(0, 7, 50)
    X, Y = epoch_windows(training, 7, m=9, Tx=6, seed=4, epoch=epoch)
    x, y, starts = epoch_window_indices(training, m=9, Tx=6, seed=4, epoch=epoch)
    assert np.array_equal(x, one_hot_indices(X, axis=2)) and np.array_equal(y, one_hot_indices(Y, axis=2).T)
    assert np.array_equal(starts, _starts(epoch, m=9, n=50, Tx=6, seed=4))


def test_every_value_becomes_a_target_over_epochs():
    training = np.arange(60) % 4
    targeted = np.zeros(60, bool)
    for epoch in range(30):
        # windows are read back from X: each window's values follow the corpus's cycle of four,
        # so find the starts by drawing them the same way data_processing does
        X, _ = epoch_windows(training, 4, m=4, Tx=6, seed=0, epoch=epoch)
        starts = _starts(epoch, m=4, n=60, Tx=6)
        for s in starts:
            targeted[s + 1 : s + 6] = True
        assert all((X[i, 1:].argmax(axis=1) == training[s + 1 : s + 6]).all() for i, s in enumerate(starts))
    assert targeted[1:-1].all()


def _starts(epoch, m, n, Tx, seed=0):
    from lstm_numpy.corpus import WINDOW_STREAM

    seed = int(np.random.SeedSequence([seed, WINDOW_STREAM, epoch]).generate_state(1)[0])
    rng = np.random.RandomState(seed)
    return [rng.choice(n - Tx) for _ in range(m)]


@pytest.mark.parametrize("history, patience, stop", [
    ({"val_loss": [3.0, 2.0, 2.5, 2.6]}, 2, True),     # best at epoch 2, two worse since
    ({"val_loss": [3.0, 2.0, 2.5, 2.6]}, 3, False),
    ({"val_loss": [3.0, 2.0, 2.5, 2.0]}, 2, False),    # a tie with the best counts as the best
    ({"val_loss": [3.0, 2.0]}, None, False),
    ({"loss": [3.0, 2.0]}, 1, False),                  # no validation, no early stopping
])
def test_stopped_early(history, patience, stop):
    assert stopped_early(history, patience) is stop


def test_checkpoint_keeps_the_corpus(tmp_path):
    model = init_model(VOCABULARY, n_a=4)
    corpus = split(make_corpus(pieces([6, 7, 8]), INDEX), 0.3, seed=1)
    save_checkpoint(tmp_path / "c", model, corpus=corpus)
    back = read_checkpoint(tmp_path / "c").corpus
    for name in ("values", "starts", "validation"):
        assert np.array_equal(getattr(back, name), getattr(corpus, name)), name
    save_checkpoint(tmp_path / "none", model)
    assert read_checkpoint(tmp_path / "none").corpus is None


def test_a_corpus_outside_the_vocabulary_is_a_corrupt_checkpoint(tmp_path):
    model = init_model(VOCABULARY, n_a=4)
    bad = Corpus(np.array([0, 1, 7]), np.array([0]), np.zeros((0, 2), np.int64))
    save_checkpoint(tmp_path / "c", model, corpus=bad)
    with pytest.raises(CheckpointError, match="corrupt"):
        read_checkpoint(tmp_path / "c")
