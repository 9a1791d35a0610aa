"""The conditioned model around its math: the features of a bar (answers known by construction),
its sampling kernel against the plain formulas, and the commands with ``--model conditioned``."""

import json
from fractions import Fraction

import numpy as np
import pytest

from lstm_numpy import features as F
from lstm_numpy.changes import parse_changes
from lstm_numpy.dataset import Measure
from lstm_numpy.lstm import conditioned_input, reference_cell_forward
from lstm_numpy.model import init_model
from lstm_numpy.notes import Chord, Note
from lstm_numpy.sampling_conditioned import end_twelfths, sample_solo

from test_cli import TINY, folder_bytes, run, train_tiny

C7 = (48, 52, 55, 58)  # C E G Bb
F7 = (53, 57, 60, 63)  # F A C Eb
Bb = (46, 50, 53)  # Bb D F


def columns(row):
    """The set columns of a feature row, by group: (chord tones, root move, beat, place)."""
    return (set(np.flatnonzero(row[F.CHORD_TONES])), set(np.flatnonzero(row[F.ROOT_MOVE])),
            set(np.flatnonzero(row[F.BEAT])), set(np.flatnonzero(row[F.SUBBEAT])))


def test_the_features_of_a_bar_are_its_chords_and_beats():
    # bar 1 (beats 8..12): C7, then F7 from beat 2; bar 2: Bb. The piece repeats: after Bb, C7.
    bar1 = Measure(Fraction(8), Fraction(4),
                   (Note(Fraction(8), Fraction(1, 3), 60), Note(Fraction(25, 3), Fraction(2, 3), 62),
                    Note(Fraction(9), Fraction(3, 2), None), Note(Fraction(21, 2), Fraction(1, 4), 65),
                    Note(Fraction(43, 4), Fraction(5, 4), 67)),
                   (Chord(Fraction(8), Fraction(2), C7), Chord(Fraction(10), Fraction(2), F7)))
    bar2 = Measure(Fraction(12), Fraction(4), (Note(Fraction(12), Fraction(4), 70),),
                   (Chord(Fraction(12), Fraction(4), Bb),))
    rows = F.measure_features([bar1, bar2])
    assert rows.shape == (6, F.N_FEATURES)
    dominant = {0, 4, 7, 10}
    assert columns(rows[0]) == (dominant, {5}, {0}, {0})  # C7 -> F7 a fourth up; beat 1, on it
    assert columns(rows[1]) == (dominant, {5}, {0}, {2})  # a third of a beat in
    assert columns(rows[2]) == (dominant, {5}, {1}, {0})  # the rest, on beat 2
    assert columns(rows[3]) == (dominant, {5}, {2}, {3})  # F7 (its own root) -> Bb; beat 3 and a half
    assert columns(rows[4]) == (dominant, {5}, {2}, {5})  # three quarters of beat 3 in
    assert columns(rows[5]) == ({0, 4, 7}, {2}, {0}, {0})  # Bb -> C7, a whole tone up


def test_a_chord_starting_mid_bar_is_in_force_from_its_onset():
    measure = Measure(Fraction(0), Fraction(4),
                      (Note(Fraction(1), Fraction(1), 60), Note(Fraction(2), Fraction(1), 65),
                       Note(Fraction(13, 4), Fraction(3, 4), 65)),
                      (Chord(Fraction(0), Fraction(2), C7), Chord(Fraction(2), Fraction(2), F7)))
    rows = F.measure_features([measure])
    assert columns(rows[0]) == ({0, 4, 7, 10}, {5}, {1}, {0})
    assert columns(rows[1]) == ({0, 4, 7, 10}, {7}, {2}, {0})  # F7, then C7 again: a fifth up
    assert columns(rows[2]) == ({0, 4, 7, 10}, {7}, {3}, {1})


def test_solo_tables_give_the_features_measure_features_gives():
    bars = parse_changes("C7 F7 | Bb")
    tables = F.solo_tables(bars, 4)
    offsets = [Fraction(p, 12) for p in range(48)]
    for b, bar in enumerate(bars):
        measure = Measure(Fraction(4 * b), Fraction(4),
                          tuple(Note(Fraction(4 * b) + o, Fraction(1, 12), 60) for o in offsets),
                          tuple(Chord(Fraction(4 * b) + c.offset % 4, c.duration, c.pitches) for c in bar))
        expected = F.measure_features([measure])
        # within one bar the progression's next chord is the next bar's; compare the metric and tones
        for p in range(48):
            got = F.solo_features(tables, b, p)
            assert np.array_equal(got[F.CHORD_TONES], expected[p][F.CHORD_TONES])
            assert np.array_equal(got[F.N_CHORD:], expected[p][F.N_CHORD:])
    assert columns(F.solo_features(tables, 0, 0))[1] == {5}  # C7 -> F7
    assert columns(F.solo_features(tables, 1, 0))[1] == {2}  # Bb -> C7: the progression repeats


def test_hidden_chords_are_zero_for_whole_windows_and_the_heard_ones_scaled():
    D = np.ones((400, 5, F.N_FEATURES))
    out = F.hide_chords(D, 0.25, np.random.default_rng(3))
    chords, metric = out[:, :, :F.N_CHORD], out[:, :, F.N_CHORD:]
    assert np.array_equal(metric, D[:, :, F.N_CHORD:])  # the beat is always heard
    heard = chords[:, 0, 0] > 0
    # a window hears all its chord columns at every step, scaled by 1 / (1 - 0.25), or none
    assert np.array_equal(chords[heard], np.full((heard.sum(), 5, F.N_CHORD), 4 / 3))
    assert not chords[~heard].any()
    assert 0.15 < 1 - heard.mean() < 0.35  # about a quarter hidden
    assert np.array_equal(F.hide_chords(D, 0.25, np.random.default_rng(3)), out)  # the seed decides
    assert F.hide_chords(D, 0.0, np.random.default_rng(3)) is D
    assert np.array_equal(D, np.ones_like(D))  # the windows given are left alone


def test_chord_dropout_is_the_conditioned_default_except_on_the_course_path_and_in_older_runs(tmp_path):
    from lstm_numpy.train import DEFAULT_CHORD_DROPOUT, TrainConfig, chord_dropout, saved_config

    assert 0 < chord_dropout(TrainConfig(model="conditioned")) == DEFAULT_CHORD_DROPOUT < 1
    assert chord_dropout(TrainConfig(model="conditioned", preset="course")) == 0
    assert chord_dropout(TrainConfig(model="conditioned", chord_dropout=0.2)) == 0.2
    # a run saved before the setting existed trained without it: resuming must not add it
    assert chord_dropout(saved_config({"model": "conditioned"}, tmp_path)) == 0


def test_training_windows_hide_the_chords_of_some_windows_only():
    from dataclasses import replace

    from lstm_numpy.train import TrainConfig, load_training_data

    config = TrainConfig(midi=[TINY[1]], model="conditioned", chord_dropout=0.5, dtype="float64", m=64)
    data = load_training_data(config)
    D = data.windows(config, epoch=2)[2]
    plain = data.windows(replace(config, chord_dropout=0.0), epoch=2)[2]
    assert np.array_equal(D[:, :, F.N_CHORD:], plain[:, :, F.N_CHORD:])
    heard = D[:, :, :F.N_CHORD].any(axis=(1, 2))
    assert 0 < heard.sum() < len(heard)
    assert np.array_equal(D[heard, :, :F.N_CHORD], 2 * plain[heard, :, :F.N_CHORD])
    assert np.array_equal(data.windows(config, epoch=2)[2], D)  # (seed, epoch) decide, as for a resumed run


def test_sampling_kernel_finds_the_features_the_plain_formulas_use():
    """Greedy sampling in one compiled call equals stepping the reference cell in Python with
    the features found by the plain definitions (float64)."""
    vocabulary = ["C,0.250", "S,0.333", "C,0.500,<m2,P-4>", "R,1.000", "X,0.750", "A,0.667,<M2,m-3>"]
    model = init_model(vocabulary, n_a=8, seed=4, dtype=np.float64, model="conditioned")
    rng = np.random.default_rng(0)
    for name, w in model.parameters.items():  # large weights, so that the choices vary
        model.parameters[name] = 2 * rng.standard_normal(w.shape)
    bars = parse_changes("Dm7 G7 | Cmaj7 | A7 | Dm7 G7")
    tables = F.solo_tables(bars, 4)
    values, where = sample_solo(model, tables, 4, temperature=0.0)

    ends = end_twelfths(vocabulary, 4)
    p = model.parameters
    a = np.zeros((8, 1))
    c = np.zeros((8, 1))
    x = np.zeros((len(vocabulary), 1))
    bar, twelfth, expected, expected_bars = 0, 0, [], []
    while bar < 4:
        d = F.solo_features(tables, bar, twelfth)[:, None]
        a, c, y, _ = reference_cell_forward(conditioned_input(x, d), a, c, p)
        v = int(np.argmax(y[:, 0]))
        expected.append(v)
        expected_bars.append(bar)
        x = np.zeros_like(x)
        x[v] = 1
        twelfth = ends[twelfth, v]
        if twelfth >= 48:
            bar, twelfth = bar + 1, 0
    assert len(set(expected)) > 1, "a test of one repeated value would prove little"
    assert values.tolist() == expected and where.tolist() == expected_bars


def test_the_course_sampler_and_mode_refuse_the_conditioned_model():
    from lstm_numpy import LstmNumpyError, generate_music, predict_and_sample

    model = init_model(["C,0.250", "S,0.500"], n_a=4, model="conditioned")
    with pytest.raises(LstmNumpyError, match="conditioned model"):
        predict_and_sample(model, Ty=5)
    with pytest.raises(LstmNumpyError, match="conditioned model"):
        generate_music(model, changes="C7 | F7", mode="course")
    solo = generate_music(model, changes="C7 | F7 | C7 | G7", seed=1)
    assert len(solo.bars) == 4 and all(solo.values)


CONDITIONED = TINY + ["--model", "conditioned"]


@pytest.fixture(scope="module")
def conditioned_run(tmp_path_factory):
    return train_tiny(tmp_path_factory, "conditioned", "--model", "conditioned")


def test_train_generate_and_evaluate_the_conditioned_model(conditioned_run, tmp_path):
    meta = json.loads((conditioned_run / "checkpoint" / "checkpoint.json").read_text())
    assert meta["config"]["model"] == "conditioned"
    history = json.loads((conditioned_run / "history.json").read_text())
    assert len(history["loss"]) == 3 and len(history["val_loss"]) == 3
    result = run("generate", "--checkpoint", str(conditioned_run / "checkpoint"),
                 "--changes", "Dm7 G7 | Cmaj7", "--out", str(tmp_path / "g.mid"))
    assert result.returncode == 0, result.stderr
    result = run("evaluate", "--checkpoint", str(conditioned_run / "checkpoint"), "--solos", "2",
                 "--bars", "4", "--json", str(tmp_path / "e.json"))
    assert result.returncode == 0, result.stderr
    figures = json.loads((tmp_path / "e.json").read_text())
    assert figures["fit"]["model_nats"] > 0 and figures["generated"]["off_grid"] == 0


def test_resumed_conditioned_run_is_bit_identical(conditioned_run, tmp_path):
    assert run("train", *CONDITIONED, "--epochs", "1", "--out", str(tmp_path)).returncode == 0
    result = run("train", "--resume", str(tmp_path), "--epochs", "3", "--quiet")
    assert result.returncode == 0, result.stderr
    assert folder_bytes(tmp_path / "checkpoint") == folder_bytes(conditioned_run / "checkpoint")
    assert (tmp_path / "solo.mid").read_bytes() == (conditioned_run / "solo.mid").read_bytes()


def test_resuming_as_the_other_model_is_one_sentence(conditioned_run):
    result = run("train", "--resume", str(conditioned_run), "--model", "course", "--epochs", "4", "--quiet")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "--model conditioned" in result.stderr and result.stderr.count("\n") == 1


def test_the_conditioned_models_features_count_in_the_window_memory(monkeypatch):
    """Windows whose one-hot X and Y just fit are refused when their features would not."""
    from dataclasses import replace

    from lstm_numpy import train
    from lstm_numpy.errors import LstmNumpyError

    config = train.TrainConfig(midi=[TINY[1]], m=100)
    n_values = len(train.load_training_data(config).indices_values)
    monkeypatch.setattr(train, "MAX_WINDOW_BYTES", 2 * 100 * config.Tx * n_values * 4)  # X and Y, float32
    train.load_training_data(config)  # the course model's windows fit
    with pytest.raises(LstmNumpyError, match="with their features, would take"):
        train.load_training_data(replace(config, model="conditioned"))


def test_end_twelfths_follow_the_vocabulary_even_when_changed_in_place():
    """The table is kept per vocabulary, but checked by its values: a list changed in place, or
    an equal list, gets the table of its values."""
    vocabulary = ["C,0.250", "R,1.000"]
    first = end_twelfths(vocabulary, 4).copy()
    assert first[0].tolist() == [3, 12]  # a sixteenth from the bar line ends at twelfth 3; a quarter at 12
    vocabulary[0] = "C,0.500"
    assert end_twelfths(vocabulary, 4)[0].tolist() == [6, 12]
    np.testing.assert_array_equal(end_twelfths(["C,0.250", "R,1.000"], 4), first)
