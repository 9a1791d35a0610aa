"""The evaluation's statistics on small hand-made pieces, and the evaluate command end to end.

Every expected figure below is worked out from the piece's construction (written out in the
comments), never taken from a run of the code.
"""

import json
import math
import subprocess
import xml.etree.ElementTree as ET
import sys
from fractions import Fraction as F
from pathlib import Path

import numpy as np
import pytest

from lstm_numpy.evaluate import (STATISTICS, Bar, Piece, generated_pieces, piece_from_solo, pieces_from_midi,
                                 solo_starts, solo_statistics, training_over_solo_bars)
from lstm_numpy.improvise import Solo
from lstm_numpy.midi_io import write_midi
from lstm_numpy.notes import Chord, Note

REPO = Path(__file__).resolve().parents[1]
SMALL = str(REPO / "data" / "blues_in_f_1.mid")

C_MAJOR = Chord(F(0), F(4), (60, 64, 67))


def piece_a() -> Piece:
    """One bar over C major: C D E | B(16th), a rest of 3/4 beat, then triplets G G Bb.

    intervals 2, 2, 7, 4, 0, 3 (sum 18); pitch classes C D E B G G Bb; chord tones C E G G.
    """
    notes = (Note(F(0), F(1, 2), 60), Note(F(1, 2), F(1, 2), 62), Note(F(1), F(1), 64),
             Note(F(2), F(1, 4), 71),
             Note(F(3), F(1, 3), 67), Note(F(10, 3), F(1, 3), 67), Note(F(11, 3), F(1, 3), 70))
    return Piece([Bar(F(0), F(4), notes, (C_MAJOR,))])


def piece_b() -> Piece:
    """Two bars: Dm7 | G7 then Cmaj7 on beat 3, with a syncopation, an off-grid onset, an overlap.

    bar 1: C(0, 1/2) D(1/2, 1: rings over beat 2) E(3/2, 1/2) D(2, 1/2) C(5/2, 1/2), then silence
    from beat 3 to beat 5 (two beats: a new phrase);
    bar 2: G(5, 1/2) A(11/2, 1/2) B(6, 5/12) A(77/12, 1/2: off the grid) G(27/4, 1/4: starts
    before the A's end at 83/12).
    signed intervals +2 +2 -2 -2 +7 +2 +2 -2 -2: the shape (+2 +2 -2 -2) comes twice.
    """
    dm7 = Chord(F(0), F(4), (50, 53, 57, 60))
    g7 = Chord(F(4), F(2), (43, 47, 50, 53))
    cmaj7 = Chord(F(6), F(2), (48, 52, 55, 59))
    bar1 = (Note(F(0), F(1, 2), 60), Note(F(1, 2), F(1), 62), Note(F(3, 2), F(1, 2), 64),
            Note(F(2), F(1, 2), 62), Note(F(5, 2), F(1, 2), 60))
    bar2 = (Note(F(5), F(1, 2), 67), Note(F(11, 2), F(1, 2), 69), Note(F(6), F(5, 12), 71),
            Note(F(77, 12), F(1, 2), 69), Note(F(27, 4), F(1, 4), 67))
    return Piece([Bar(F(0), F(4), bar1, (dm7,)), Bar(F(4), F(4), bar2, (g7, cmaj7))])


def test_piece_a_by_construction():
    s = solo_statistics([piece_a()])
    assert s["notes"] == 7 and s["pieces"] == 1
    assert s["range"] == 71 - 60
    assert s["mean_interval"] == pytest.approx(18 / 6)
    assert s["repeats"] == pytest.approx(100 / 6)          # G G
    assert s["steps"] == pytest.approx(200 / 6)            # 2, 2
    assert s["skips"] == pytest.approx(200 / 6)            # 4, 3
    assert s["leaps"] == pytest.approx(100 / 6)            # 7
    assert s["bar_entry"] is None                          # the only bar's first note has no predecessor
    # one pitch class twice, five once: -(5/7 log2 1/7 + 2/7 log2 2/7) = log2 7 - 2/7
    assert s["pc_entropy"] == pytest.approx(math.log2(7) - 2 / 7)
    assert s["chord_tones"] == pytest.approx(400 / 7)
    assert s["chord_tones_13"] == pytest.approx(50)        # C on beat 1 yes, B on beat 3 no
    assert s["chord_tones_other"] == pytest.approx(60)     # D no, E yes, G yes, G yes, Bb no
    assert s["scale_tones"] == pytest.approx(600 / 7)      # all but Bb are in C major
    assert s["dur_16th"] == pytest.approx(100 / 7)
    assert s["dur_triplet"] == pytest.approx(300 / 7)
    assert s["dur_8th"] == pytest.approx(200 / 7)
    assert s["dur_longer"] == pytest.approx(100 / 7)
    assert s["dur_other"] == 0
    assert s["rest_time"] == pytest.approx(100 * 0.75 / 4)  # silent from 2.25 to 3
    assert s["onsets_per_bar"] == 7
    assert s["syncopation"] == 0 and s["off_grid"] == 0 and s["overlaps"] == 0
    assert s["phrase_length"] == 7                         # the 3/4-beat rest does not cut it
    assert s["motifs"] == 0                                # three different 4-interval shapes


def test_piece_b_by_construction():
    s = solo_statistics([piece_b()])
    assert s["notes"] == 10 and s["range"] == 11
    assert s["mean_interval"] == pytest.approx(23 / 9)
    assert s["steps"] == pytest.approx(800 / 9) and s["leaps"] == pytest.approx(100 / 9)
    assert s["bar_entry"] == 7                             # C at 5/2 -> G at 5
    # Dm7 (D F A C): C D - D C; G7 (G B D F) until beat 6: G -; Cmaj7 (C E G B): B - G
    assert s["chord_tones"] == pytest.approx(70)
    assert s["chord_tones_13"] == 100                      # C at 0, D at 2, B at 6 (beat 3)
    assert s["chord_tones_other"] == pytest.approx(400 / 7)
    assert s["dur_8th"] == pytest.approx(70)
    assert s["dur_longer"] == pytest.approx(10) and s["dur_16th"] == pytest.approx(10)
    assert s["dur_other"] == pytest.approx(10) and s["dur_triplet"] == 0   # the 5/12
    assert s["rest_time"] == pytest.approx(100 * 3 / 8)    # sounding [0, 3) and [5, 7) of [0, 8)
    assert s["onsets_per_bar"] == 5
    assert s["syncopation"] == pytest.approx(10)           # the D at 1/2 ringing to 3/2
    assert s["off_grid"] == pytest.approx(10)              # 77/12 is 2 + 5/12 into bar 2
    assert s["overlaps"] == pytest.approx(10)              # G at 27/4 < 83/12
    assert s["phrase_length"] == 5
    assert s["motifs"] == pytest.approx(100 * 2 / 6)       # 6 shapes, the first and last alike


def test_pieces_are_pooled_but_never_joined():
    s = solo_statistics([piece_a(), piece_b()])
    assert s["range"] == 11
    assert s["mean_interval"] == pytest.approx((18 + 23) / 15)  # no interval from A's last to B's first
    assert s["phrase_length"] == pytest.approx(17 / 3)
    assert s["onsets_per_bar"] == pytest.approx(17 / 3)


def test_value_copies_by_construction():
    training = [list("abcdefgh"), list("xyabcz")]
    generated = Piece([], list("abcdeqabczy"))
    s = solo_statistics([generated], training)
    # 4-grams: abcd bcde (first piece), abcz (second) found; cdeq deqa eqab qabc bczy not
    assert s["copy_4"] == pytest.approx(100 * 3 / 8)
    assert s["copy_8"] == 0 and s["copy_16"] is None       # no 16 values in a row to look at
    assert s["longest_copy"] == 5                          # a b c d e
    # the training pieces among themselves: they share only "a b c"
    own = solo_statistics([Piece([], v) for v in training])
    assert own["longest_copy"] == 3 and own["copy_4"] == 0
    alone = solo_statistics([Piece([], training[0])])
    assert alone["longest_copy"] is None                   # nothing else to compare with


def test_piece_from_solo_places_bars():
    notes = [[Note(F(0), F(2), 60), Note(F(2), F(2), 64)], [Note(F(4), F(4), 67)]]
    chords = [[Chord(F(0), F(4), (60, 64, 67))], [Chord(F(4), F(4), (60, 64, 67))]]
    solo = Solo(bars=notes, chords=chords, values=[["C,2.000", "C,2.000"], ["C,4.000"]], mode="bars")
    piece = piece_from_solo(solo)
    assert [b.start for b in piece.bars] == [0, 4]
    assert piece.values == ["C,2.000", "C,2.000", "C,4.000"]
    s = solo_statistics([piece])
    assert s["bar_entry"] == 3 and s["chord_tones"] == 100 and s["rest_time"] == 0


def test_midi_file_read_as_training_reads_it(tmp_path):
    piece = piece_a()
    path = write_midi(tmp_path / "a.mid", piece.bars[0].notes, [C_MAJOR])
    (read,) = pieces_from_midi([path])
    s = solo_statistics([read])
    assert s["notes"] == 7
    assert s["mean_interval"] == pytest.approx(3)
    assert s["chord_tones"] == pytest.approx(400 / 7)
    assert s["rest_time"] == pytest.approx(18.75)
    assert len(read.values) == 8                           # seven notes and one rest



# ------------------------------------------------------------------- the solos' place in the form

def test_solo_starts_are_spread_over_the_whole_form():
    # pieces of 3 and 5 bars laid end to end: 8 bars, four solos start every 2 bars
    assert solo_starts([3, 5], 4) == [(0, 0), (0, 2), (1, 1), (1, 3)]
    # one piece of 162 bars, 12 solos: every 13.5 bars, rounded down
    assert solo_starts([162], 12) == [(0, b) for b in (0, 13, 27, 40, 54, 67, 81, 94, 108, 121, 135, 148)]
    assert solo_starts([0, 4], 2) == [(1, 0), (1, 2)]        # a piece without bars gets no solo
    assert solo_starts([2], 3) == [(0, 0), (0, 0), (0, 1)]   # more solos than bars


def four_bar_piece() -> Piece:
    """Four bars over C major, one whole-bar note each: C, D, E, F# (bar k from beat 4k).

    chord tones: bars 0 and 2 (C, E); intervals C-D 2, D-E 2, E-F# 2."""
    pitches = (60, 62, 64, 66)
    bars = [Bar(F(4 * k), F(4), (Note(F(4 * k), F(4), p),), (Chord(F(4 * k), F(4), (60, 64, 67)),))
            for k, p in enumerate(pitches)]
    return Piece(bars)


def test_training_figures_over_the_solos_bars_by_construction():
    piece = four_bar_piece()
    # two solos of 3 bars: starts 0 and 2, so bars 0 1 2 and 2 3 0 (wrapping round)
    pieces = training_over_solo_bars([piece], 2, 3)
    assert [[n.pitch for n in p.notes] for p in pieces] == [[60, 62, 64], [64, 66, 60]]
    assert [[b.start for b in p.bars] for p in pieces] == [[0, 4, 8], [0, 4, 8]]
    assert [n.offset for n in pieces[1].notes] == [0, 4, 8]
    assert all(c.offset == b.start for p in pieces for b in p.bars for c in b.chords)
    s = solo_statistics(pieces)
    # chord tones C D E | E F# C: 4 of 6, against 2 of 4 over the whole piece
    assert s["chord_tones"] == pytest.approx(400 / 6)
    assert solo_statistics([piece])["chord_tones"] == pytest.approx(50)
    # intervals 2 2 | 2 6 (F# down to C across the wrap): mean 3
    assert s["mean_interval"] == pytest.approx(3)
    assert s["rest_time"] == 0 and s["pieces"] == 2 and s["notes"] == 6


def test_generated_solos_play_over_the_bars_they_are_compared_with():
    from test_improvise import tiny_model
    piece = four_bar_piece()
    for k, bar in enumerate(piece.bars):                     # a chord per bar, root 60 + k
        piece.bars[k] = Bar(bar.start, bar.length, bar.notes, (Chord(bar.start, F(4), (60 + k, 64 + k)),))
    solos = generated_pieces(tiny_model(), [piece], n_solos=2, n_bars=3, seed=5, temperature=1.0)
    # solo 1 from bar 0, solo 2 from bar 2 (not both from the top), wrapping round to bar 0
    assert [[b.chords[0].pitches[0] for b in s.bars] for s in solos] == [[60, 61, 62], [62, 63, 60]]
    bars = training_over_solo_bars([piece], 2, 3)
    assert [[b.chords[0].pitches for b in p.bars] for p in bars] == \
        [[b.chords[0].pitches for b in s.bars] for s in solos]
    again = generated_pieces(tiny_model(), [piece], n_solos=2, n_bars=3, seed=5, temperature=1.0)
    assert [s.values for s in again] == [s.values for s in solos]

# ------------------------------------------------------------------------------ the command

def run(module, *args):
    return subprocess.run([sys.executable, "-m", f"lstm_numpy.{module}", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    out = tmp_path_factory.mktemp("evaluate_run")
    result = run("train", "--midi", SMALL, "--n-a", "8", "--m", "24", "--batch-size", "8",
                 "--epochs", "2", "--bars", "2", "--quiet", "--out", str(out))
    assert result.returncode == 0, result.stderr
    return out / "checkpoint"


def test_command_prints_the_table_and_writes_json(checkpoint, tmp_path):
    out = tmp_path / "figures.json"
    result = run("evaluate", "--checkpoint", str(checkpoint), "--reference", SMALL, "--solos", "2",
                 "--bars", "4", "--json", str(out), "--svg", str(tmp_path / "figures.svg"))
    assert result.returncode == 0, result.stderr
    header = result.stdout.splitlines()[0].split()
    assert header[-5:] == ["generated", "training", "solos'", "bars", "reference"]
    figures = json.loads(out.read_text())
    assert {"generated", "training", "training_solo_bars", "reference"} <= set(figures)
    for column in ("generated", "training", "training_solo_bars", "reference"):
        assert set(figures[column]) == set(STATISTICS)
    assert figures["generated"]["pieces"] == 2
    assert figures["generated"]["onsets_per_bar"] * 2 * 4 == figures["generated"]["notes"]
    # the reference is the training file itself, so its statistics are the training column's
    for key in STATISTICS:
        if not key.startswith(("copy_", "longest")):
            assert figures["reference"][key] == figures["training"][key], key
    assert figures["reference"]["copy_4"] == 100          # every run of its values is in training
    # the picture: one bar per column in each of 13 interval bins, 5 durations, 4 chord-tone shares
    svg = ET.parse(tmp_path / "figures.svg").getroot()
    bars = [e for e in svg.iter("{http://www.w3.org/2000/svg}rect") if e.get("class") == "bar"]
    assert len(bars) == 4 * (13 + 5 + 4)
    assert sum(figures["intervals"]["training"]) == pytest.approx(100)
    titles = [e.find("{http://www.w3.org/2000/svg}title").text for e in bars]
    assert f"training, 8th: {figures['training']['dur_8th']:.1f}%" in titles
    # the run held out the end of its one piece, so the fit is measured there without --heldout
    fit = figures["fit"]
    assert fit["source"] == "validation part of the training music" and fit["oov_pct"] == 0
    assert fit["model_nats"] > 0 and fit["unigram_nats"] > 0 and fit["bigram_nats"] > 0


def test_training_keeps_validation_and_the_best_epoch(checkpoint):
    run_folder = checkpoint.parent
    history = json.loads((run_folder / "history.json").read_text())
    assert len(history["val_loss"]) == len(history["loss"]) == 2
    best = json.loads((run_folder / "best" / "checkpoint.json").read_text())
    assert best["epoch"] == 1 + min(range(2), key=lambda k: (history["val_loss"][k], -k))
    assert "validation" in (run_folder / "loss.svg").read_text(encoding="utf-8")


def test_fit_on_heldout_files_and_from_the_best_checkpoint(checkpoint, tmp_path):
    out = tmp_path / "fit.json"
    other = str(REPO / "data" / "blues_in_f_2.mid")
    result = run("evaluate", "--checkpoint", str(checkpoint.parent / "best"), "--heldout", other,
                 "--solos", "1", "--bars", "2", "--json", str(out))
    assert result.returncode == 0, result.stderr
    assert "nats per value" in result.stdout
    fit = json.loads(out.read_text())["fit"]
    assert set(fit) >= {"heldout_values", "oov_pct", "model_nats", "unigram_nats", "bigram_nats"}
    (piece,) = pieces_from_midi([other])
    assert fit["heldout_values"] == len(piece.values) and fit["source"] == "heldout files"
    assert 0 < fit["oov_pct"] < 100                       # another blues shares some values, not all


@pytest.mark.parametrize("case", ["missing checkpoint", "missing heldout", "bad midi", "bad solos",
                                  "json is a folder", "course preset held out"])
def test_user_errors_are_one_sentence_and_exit_2(case, checkpoint, tmp_path):
    not_midi = tmp_path / "notes.mid"
    not_midi.write_text("this is not a MIDI file")
    args = {
        "missing checkpoint": ["--checkpoint", str(tmp_path / "none")],
        "missing heldout": ["--checkpoint", str(checkpoint), "--heldout", str(tmp_path / "nope.mid")],
        "bad midi": ["--checkpoint", str(checkpoint), "--reference", str(not_midi)],
        "bad solos": ["--checkpoint", str(checkpoint), "--solos", "0"],
        "json is a folder": ["--checkpoint", str(checkpoint), "--json", str(tmp_path)],
        "course preset held out": ["--midi", SMALL, "--preset", "course", "--val-fraction", "0.2",
                                   "--out", str(tmp_path / "run")],
    }[case]
    result = run("train" if case == "course preset held out" else "evaluate", *args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].rstrip().endswith("."), result.stderr
    if case == "course preset held out":
        assert "--val-fraction" in lines[0]


# -------------------------------------------------------------------------------------- fit

def test_unigram_and_bigram_by_construction():
    from lstm_numpy.evaluate import SMOOTHING, ngram_cross_entropies

    # counted on 0 1 0 1: c(0) = c(1) = 2, so the unigram gives 1/2 to each whatever k;
    # pairs 0->1 twice, 1->0 once: p(1 | 0) = (2 + k) / (2 + 2k), best with the smallest k
    k = min(SMOOTHING)
    fit = ngram_cross_entropies([np.array([0, 1, 0, 1])], [np.array([0, 1])], n_values=2)
    assert fit["unigram_nats"] == pytest.approx(math.log(2))
    assert fit["bigram_k"] == k
    assert fit["bigram_nats"] == pytest.approx((math.log(2) - math.log((2 + k) / (2 + 2 * k))) / 2)
    # a value outside the vocabulary (-1) is not scored, and the value after it has no context
    fit = ngram_cross_entropies([np.array([0, 1, 0, 1])], [np.array([0, -1, 1])], n_values=2)
    assert fit["bigram_nats"] == pytest.approx(math.log(2))


def test_model_cross_entropy_follows_the_formulas():
    from lstm_numpy.evaluate import model_cross_entropy
    from lstm_numpy.lstm import reference_cell_forward
    from lstm_numpy.model import init_model

    model = init_model(["C,0.250", "C,0.500", "R,0.500"], n_a=5, seed=4, dtype=np.float64)
    for p in model.parameters.values():  # move away from the initial zero biases
        p += np.random.default_rng(1).normal(0, 0.3, p.shape)
    sequences = [np.array([2, 0, 1, 1]), np.array([1, -1, 0])]
    expected, count = 0.0, 0
    for s in sequences:  # one pass from zero, the first input all zeros, -1 not scored
        a, c, xt = np.zeros((5, 1)), np.zeros((5, 1)), np.zeros((3, 1))
        for value in s:
            a, c, y, _ = reference_cell_forward(xt, a, c, model.parameters)
            if value >= 0:
                expected -= math.log(y[value, 0])
                count += 1
            xt = np.zeros((3, 1))
            if value >= 0:
                xt[value] = 1
    nats, n = model_cross_entropy(model, sequences)
    assert n == count == 6
    assert nats == pytest.approx(expected, rel=1e-9)


def test_changed_or_missing_training_files_are_reported(tmp_path):
    import shutil

    piece = tmp_path / "piece.mid"
    shutil.copy(SMALL, piece)
    out = tmp_path / "run"
    result = run("train", "--midi", str(piece), "--n-a", "8", "--m", "24", "--batch-size", "8",
                 "--epochs", "1", "--bars", "2", "--quiet", "--out", str(out))
    assert result.returncode == 0, result.stderr
    evaluate = ("evaluate", "--checkpoint", str(out), "--solos", "1", "--bars", "2")
    assert "note:" not in run(*evaluate).stderr
    shutil.copy(REPO / "data" / "blues_in_f_2.mid", piece)  # the file now holds other music
    changed = run(*evaluate)
    assert changed.returncode == 0 and "no longer give the values" in changed.stderr
    piece.unlink()
    missing = run(*evaluate)
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    assert "training file of the checkpoint is not there" in missing.stderr
