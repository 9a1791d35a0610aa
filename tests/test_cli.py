"""End-to-end runs of the two commands, on one small file of the default corpus."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import mido
import pytest

REPO = Path(__file__).resolve().parents[1]
SMALL = str(REPO / "data" / "blues_in_f_1.mid")
# A tiny model so that each run takes a second or two.
TINY = ["--midi", SMALL, "--n-a", "8", "--m", "24", "--batch-size", "8", "--bars", "2", "--quiet"]


def run(module, *args, timeout=300):
    return subprocess.run([sys.executable, "-m", f"lstm_numpy.{module}", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=timeout)


def folder_bytes(folder: Path):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def train_tiny(tmp_path_factory, name, *options):
    """A 3-epoch training run on the tiny settings (plus options) in a fresh folder; its path."""
    out = tmp_path_factory.mktemp(name)
    result = run("train", *TINY, *options, "--epochs", "3", "--out", str(out))
    assert result.returncode == 0, result.stderr
    return out


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return train_tiny(tmp_path_factory, "run")


def test_train_writes_everything(trained):
    history = json.loads((trained / "history.json").read_text())
    assert len(history["loss"]) == 3
    assert all(len(step_acc) == 30 for step_acc in history["accuracy"])
    assert {"checkpoint.json", "weights.npz"} <= {p.name for p in (trained / "checkpoint").iterdir()}
    midi = mido.MidiFile(trained / "solo.mid")
    assert sum(1 for track in midi.tracks for msg in track if msg.type == "note_on" and msg.velocity) > 0
    assert (trained / "solo.wav").stat().st_size > 44
    for picture in ("loss.svg", "solo.svg"):
        assert (trained / picture).read_text(encoding="utf-8").startswith("<svg"), picture


def test_the_checkpoint_keeps_the_melodys_register(trained):
    from lstm_numpy.dataset import get_measures

    pitches = [n.pitch for m in get_measures(SMALL) for n in m.melody if not n.is_rest]
    meta = json.loads((trained / "checkpoint" / "checkpoint.json").read_text())
    assert max(pitches) - min(pitches) >= 12, "a span the register takes as it is"
    assert meta["register"] == [min(pitches), max(pitches)]
    midi = mido.MidiFile(trained / "solo.mid")
    played = [msg.note for msg in midi.tracks[1] if msg.type == "note_on" and msg.velocity]
    assert played and min(pitches) <= min(played) and max(played) <= max(pitches)


def test_same_seed_same_bytes(trained, tmp_path):
    result = run("train", *TINY, "--epochs", "3", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    for name in ["checkpoint", "history.json", "loss.svg", "solo.mid", "solo.wav", "solo.svg"]:
        a, b = trained / name, tmp_path / name
        assert (folder_bytes(a) == folder_bytes(b)) if a.is_dir() else (a.read_bytes() == b.read_bytes()), name


def test_resume_equals_uninterrupted(trained, tmp_path):
    assert run("train", *TINY, "--epochs", "1", "--out", str(tmp_path)).returncode == 0
    result = run("train", "--resume", str(tmp_path), "--epochs", "3", "--quiet")
    assert result.returncode == 0, result.stderr
    assert folder_bytes(tmp_path / "checkpoint") == folder_bytes(trained / "checkpoint")
    assert folder_bytes(tmp_path / "best") == folder_bytes(trained / "best")  # the best validation epoch's
    assert (tmp_path / "history.json").read_bytes() == (trained / "history.json").read_bytes()
    assert (tmp_path / "solo.mid").read_bytes() == (trained / "solo.mid").read_bytes()


def test_weight_decay_is_saved_and_a_resumed_run_keeps_it(trained, tmp_path):
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    assert run("train", *TINY, "--weight-decay", "0.5", "--epochs", "3", "--out", str(straight)).returncode == 0
    assert run("train", *TINY, "--weight-decay", "0.5", "--epochs", "1", "--out", str(resumed)).returncode == 0
    result = run("train", "--resume", str(resumed), "--epochs", "3", "--quiet")  # the setting comes from the checkpoint
    assert result.returncode == 0, result.stderr
    assert json.loads((straight / "checkpoint" / "checkpoint.json").read_text())["config"]["weight_decay"] == 0.5
    assert folder_bytes(resumed / "checkpoint") == folder_bytes(straight / "checkpoint")
    assert folder_bytes(straight / "checkpoint")["weights.npz"] != folder_bytes(trained / "checkpoint")["weights.npz"]


def test_weight_decay_is_the_default_except_on_the_course_path_and_in_older_runs(tmp_path):
    from lstm_numpy.train import DEFAULT_WEIGHT_DECAY, TrainConfig, saved_config, weight_decay

    assert weight_decay(TrainConfig()) == DEFAULT_WEIGHT_DECAY > 0
    assert weight_decay(TrainConfig(preset="course")) == 0  # the course's Adam
    assert weight_decay(TrainConfig(weight_decay=0.0)) == 0
    assert weight_decay(TrainConfig(preset="course", weight_decay=0.2)) == 0.2
    # a run saved before the setting existed trained without weight decay: resuming must not add it
    assert weight_decay(saved_config({"n_a": 8}, tmp_path)) == 0


def test_ctrl_c_saves_last_epoch_and_resume_matches(tmp_path):
    interrupted, straight = tmp_path / "interrupted", tmp_path / "straight"
    args = ["--midi", SMALL, "--n-a", "16", "--m", "200", "--batch-size", "8", "--bars", "1"]
    proc = subprocess.Popen([sys.executable, "-m", "lstm_numpy.train", *args, "--epochs", "100000",
                             "--out", str(interrupted)], cwd=REPO, stderr=subprocess.PIPE, text=True)
    # Wait until at least two epochs are done (the progress bar shows a loss), then press Ctrl-C.
    seen = ""
    deadline = time.monotonic() + 240
    while "2/100000" not in seen and time.monotonic() < deadline:
        seen += proc.stderr.read(1)
    proc.send_signal(signal.SIGINT)
    _, rest = proc.communicate(timeout=120)
    assert proc.returncode == 130, seen + rest
    assert "Traceback" not in rest
    saved = json.loads((interrupted / "checkpoint" / "checkpoint.json").read_text())
    epochs_done = saved["epoch"]
    assert epochs_done >= 2 and len(saved["history"]["loss"]) == epochs_done

    final = str(epochs_done + 1)
    assert run("train", "--resume", str(interrupted), "--epochs", final, "--quiet").returncode == 0
    assert run("train", *args, "--epochs", final, "--quiet", "--out", str(straight)).returncode == 0
    assert folder_bytes(interrupted / "checkpoint") == folder_bytes(straight / "checkpoint")


def test_generate_over_changes(trained, tmp_path):
    out = tmp_path / "solo.mid"
    result = run("generate", "--checkpoint", str(trained / "checkpoint"), "--changes", "Dm7 G7 | Cmaj7 | A7 | Dm7 G7",
                 "--temperature", "1.2", "--top-k", "5", "--seed", "3", "--tempo", "120", "--out", str(out))
    assert result.returncode == 0, result.stderr
    midi = mido.MidiFile(out)
    tempos = [msg.tempo for track in midi.tracks for msg in track if msg.type == "set_tempo"]
    assert tempos == [mido.bpm2tempo(120)]
    # 4 bars at 120 bpm: 8 s of music; the MIDI may not run past the last bar.
    assert 0 < midi.length <= 8.0 + 1e-6
    assert out.with_suffix(".wav").exists() and out.with_suffix(".svg").exists()
    again = tmp_path / "again.mid"
    run("generate", "--checkpoint", str(trained / "checkpoint"), "--changes", "Dm7 G7 | Cmaj7 | A7 | Dm7 G7",
        "--temperature", "1.2", "--top-k", "5", "--seed", "3", "--tempo", "120", "--out", str(again))
    assert again.read_bytes() == out.read_bytes()


def _corrupt_checkpoint(trained, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    for name in ["checkpoint.json", "weights.npz"]:
        data = (trained / "checkpoint" / name).read_bytes()
        (bad / name).write_bytes(data[: len(data) // 2] if name == "weights.npz" else data)
    return bad


@pytest.mark.parametrize("case", ["missing midi", "bad midi", "bad option", "bad value", "bad tempo", "unknown chord",
                                  "corrupt checkpoint", "missing checkpoint", "nothing to resume", "bad out",
                                  "negative seed", "seed above 32 bits", "generate seed", "empty out", "root out",
                                  "out is a file", "generate out is a folder", "generate wav is a folder",
                                  "weight decay too large"])
def test_user_errors_are_one_sentence_and_exit_2(case, trained, tmp_path):
    not_midi = tmp_path / "notes.mid"
    not_midi.write_text("this is not a MIDI file")
    ckpt = str(trained / "checkpoint")
    (tmp_path / "dir.mid").mkdir()
    if case == "generate wav is a folder":
        (tmp_path / "x.wav").mkdir()
    commands = {
        "missing midi": ("train", "--midi", str(tmp_path / "nope.mid"), "--out", str(tmp_path)),
        "bad midi": ("train", "--midi", str(not_midi), "--out", str(tmp_path)),
        "bad option": ("train", "--no-such-option"),
        "bad value": ("train", "--epochs", "-3"),
        "bad tempo": ("generate", "--checkpoint", ckpt, "--tempo", "3", "--out", str(tmp_path / "x.mid")),
        "unknown chord": ("generate", "--checkpoint", ckpt, "--changes", "Dm7 H7", "--out", str(tmp_path / "x.mid")),
        "corrupt checkpoint": ("generate", "--checkpoint", str(_corrupt_checkpoint(trained, tmp_path)),
                               "--out", str(tmp_path / "x.mid")),
        "missing checkpoint": ("generate", "--checkpoint", str(tmp_path / "none")),
        "nothing to resume": ("train", "--resume", str(tmp_path / "none")),
        "bad out": ("generate", "--checkpoint", ckpt, "--out", str(tmp_path / "x.txt")),
        "negative seed": ("train", *TINY, "--seed", "-1", "--out", str(tmp_path)),
        "seed above 32 bits": ("train", *TINY, "--seed", str(2**32), "--out", str(tmp_path)),
        "generate seed": ("generate", "--checkpoint", ckpt, "--seed", "-1", "--out", str(tmp_path / "x.mid")),
        "empty out": ("train", *TINY, "--out", ""),
        "root out": ("train", *TINY, "--out", "/"),
        "out is a file": ("train", *TINY, "--out", str(not_midi)),
        "weight decay too large": ("train", *TINY, "--weight-decay", "100", "--out", str(tmp_path / "wd")),
        "generate out is a folder": ("generate", "--checkpoint", ckpt, "--out", str(tmp_path / "dir.mid")),
        "generate wav is a folder": ("generate", "--checkpoint", ckpt, "--out", str(tmp_path / "x.mid")),
    }
    result = run(*commands[case])
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].rstrip().endswith("."), result.stderr
    assert not (tmp_path / "x.mid").exists()


def test_error_leaves_existing_output_alone(trained, tmp_path):
    out = tmp_path / "keep"
    assert run("train", *TINY, "--epochs", "1", "--out", str(out)).returncode == 0
    before = folder_bytes(out)
    result = run("train", "--midi", str(tmp_path / "nope.mid"), "--out", str(out))
    assert result.returncode == 2
    assert folder_bytes(out) == before


def test_resume_to_fewer_epochs_than_saved_is_refused(trained):
    before = folder_bytes(trained)
    result = run("train", "--resume", str(trained), "--epochs", "2", "--quiet")
    assert result.returncode == 2 and "already trained 3 epochs" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert folder_bytes(trained) == before


def test_training_again_into_a_run_folder_asks_for_force(trained, tmp_path):
    before = folder_bytes(trained)
    result = run("train", *TINY, "--epochs", "1", "--out", str(trained))
    assert result.returncode == 2 and "--force" in result.stderr, result.stderr
    assert folder_bytes(trained) == before
    out = tmp_path / "again"
    assert run("train", *TINY, "--epochs", "1", "--out", str(out)).returncode == 0
    result = run("train", *TINY, "--epochs", "3", "--out", str(out), "--force")
    assert result.returncode == 0, result.stderr
    assert folder_bytes(out / "checkpoint") == folder_bytes(trained / "checkpoint")


def in_process(main, argv, capsys):
    """Run a command's main as the command line does; returns (exit status, stderr)."""
    from lstm_numpy import cli

    with pytest.raises(SystemExit) as exit_:
        cli.run(main, argv)
    return exit_.value.code, capsys.readouterr().err


def test_a_run_trains_in_one_fit_and_stops_where_patience_says(tmp_path, monkeypatch, capsys):
    """The whole run is one call of fit (its scratch memory and threads last from epoch to
    epoch), and --patience still ends it after the first epoch that brought no better
    validation loss for that many epochs."""
    from lstm_numpy import train

    calls = []
    real_fit = train.fit
    monkeypatch.setattr(train, "fit", lambda *a, **k: calls.append(k.get("start_epoch")) or real_fit(*a, **k))
    code, err = in_process(train.main, [*TINY, "--epochs", "8", "--patience", "1", "--bars", "1",
                                        "--out", str(tmp_path / "run")], capsys)
    assert code == 0, err
    assert calls == [0]
    val_loss = json.loads((tmp_path / "run" / "history.json").read_text())["val_loss"]
    stops = [k for k in range(1, 9) if train.stopped_early({"val_loss": val_loss[:k]}, 1)]
    assert len(val_loss) == (stops[0] if stops else 8)


def test_an_unwritable_out_is_found_before_training(tmp_path, monkeypatch, capsys):
    import errno
    import tempfile

    from lstm_numpy import train

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    def never(*args, **kwargs):
        raise AssertionError("training started before the output folder was checked")

    # (the tests may run as root, for whom a read-only permission does not stop a write)
    monkeypatch.setattr(tempfile, "TemporaryFile", read_only)
    monkeypatch.setattr(train, "fit", never)
    code, err = in_process(train.main, [*TINY, "--out", str(tmp_path / "out")], capsys)
    assert code == 2 and "Traceback" not in err
    assert err.strip() == f"error: --out {tmp_path / 'out'}: cannot write there (read-only file system); choose another folder with --out."


def test_a_failed_write_is_one_sentence_and_keeps_the_old_checkpoint(trained, tmp_path, monkeypatch, capsys):
    import errno
    import shutil

    from lstm_numpy import checkpoint, train

    out = tmp_path / "run"
    shutil.copytree(trained, out)
    before = folder_bytes(out / "checkpoint")

    def disk_full(path, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(checkpoint, "_write_synced", disk_full)
    code, err = in_process(train.main, ["--resume", str(out), "--epochs", "4", "--quiet"], capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "no space left on device; free some space" in lines[0], err
    assert folder_bytes(out / "checkpoint") == before


@pytest.mark.parametrize("edit, words", [
    ({"colour": "blue"}, "unknown setting(s) colour"),
    ({"Tx": 0}, "Tx = 0: expected a number above 0"),
    ({"seed": -5}, "seed = -5: expected a seed from 0 to 4294967295"),
    ({"batch_size": 8.5}, "batch_size = 8.5: it must be a whole number"),
    ({"lr": "fast"}, "lr = 'fast': it must be a number"),
    ({"beta1": 1.5}, "beta1 = 1.5: it must be a number from 0 up to 1"),
    ({"preset": "jazz"}, "preset = 'jazz': it must be one of course"),
    ({"midi": "blues.mid"}, "it must be a list of file names"),
])
def test_resuming_checks_every_saved_setting(trained, tmp_path, edit, words):
    import shutil

    from lstm_numpy import checkpoint

    out = tmp_path / "run"
    shutil.copytree(trained, out)
    path = out / "checkpoint" / "checkpoint.json"
    meta = json.loads(path.read_text())
    meta["config"].update(edit)
    meta["content_sha256"] = checkpoint._content_sha256(meta)  # a careful hand edit
    path.write_text(json.dumps(meta))
    result = run("train", "--resume", str(out), "--epochs", "4", "--quiet")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1 and words in result.stderr, result.stderr


def test_a_second_training_into_a_folder_in_use_is_refused(tmp_path):
    from lstm_numpy.files import locked

    out = tmp_path / "busy"
    out.mkdir()
    with locked(out / ".lock"):  # as a training running there holds it
        result = run("train", *TINY, "--epochs", "1", "--out", str(out))
    assert result.returncode == 2 and "in use by another training" in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1
    assert sorted(p.name for p in out.iterdir()) == [".lock"]


def test_ctrl_c_while_the_solo_is_written_leaves_no_older_solo(trained, tmp_path, monkeypatch, capsys):
    import shutil

    from lstm_numpy import render, train

    out = tmp_path / "run"
    shutil.copytree(trained, out)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(render, "plot_piano_roll", interrupted)  # .mid and .wav written, then Ctrl-C
    code, _ = in_process(train.main, ["--resume", str(out), "--epochs", "4", "--quiet"], capsys)
    assert code == 130
    assert json.loads((out / "checkpoint" / "checkpoint.json").read_text())["epoch"] == 4
    assert not [p.name for p in out.iterdir() if p.name.startswith(("solo", ".solo"))]


def test_generate_replaces_a_solo_as_a_whole(trained, tmp_path, monkeypatch, capsys):
    from lstm_numpy import generate, render

    out = tmp_path / "x.mid"
    args = ["--checkpoint", str(trained / "checkpoint"), "--bars", "2", "--out", str(out)]
    assert run("generate", *args).returncode == 0
    before = folder_bytes(tmp_path)
    monkeypatch.setattr(render, "plot_piano_roll", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt))
    code, _ = in_process(generate.main, [*args[:-1], str(out), "--seed", "5"], capsys)
    assert code == 130
    assert folder_bytes(tmp_path) == before


def test_save_every_survives_a_kill_and_resumes_exactly(tmp_path):
    killed, straight = tmp_path / "killed", tmp_path / "straight"
    args = ["--midi", SMALL, "--n-a", "16", "--m", "200", "--batch-size", "8", "--bars", "1"]
    proc = subprocess.Popen([sys.executable, "-m", "lstm_numpy.train", *args, "--epochs", "100000",
                             "--save-every", "2", "--out", str(killed)], cwd=REPO, stderr=subprocess.PIPE, text=True)
    seen = ""
    deadline = time.monotonic() + 240
    while "5/100000" not in seen and time.monotonic() < deadline:
        character = proc.stderr.read(1)
        assert character, seen  # the training ended by itself
        seen += character
    proc.kill()  # SIGKILL: no chance to save anything more
    proc.wait(timeout=60)
    saved = json.loads((killed / "checkpoint" / "checkpoint.json").read_text())["epoch"]
    assert saved >= 4 and saved % 2 == 0, seen
    final = str(saved + 1)
    assert run("train", "--resume", str(killed), "--epochs", final, "--quiet").returncode == 0
    assert run("train", *args, "--epochs", final, "--quiet", "--out", str(straight)).returncode == 0
    assert folder_bytes(killed / "checkpoint") == folder_bytes(straight / "checkpoint")


# ---------------------------------------------------------------- how many windows without --m


def test_without_m_every_training_value_is_a_target_about_twice_an_epoch():
    """The default corpus, as the train command reads it when --m is not given."""
    from lstm_numpy.train import TrainConfig, load_training_data

    data = load_training_data(TrainConfig())
    n_training = len(data.corpus.training_values())
    assert data.m > 60  # more than the course's windows: this corpus is far longer
    # m windows of Tx values cover 2 n_training values, to within one window
    assert 2 * n_training - 30 < data.m * 30 <= 2 * n_training


def test_without_m_the_course_file_gets_the_courses_60_windows(course_midi):
    from lstm_numpy.train import TrainConfig, load_training_data

    data = load_training_data(TrainConfig(midi=[str(course_midi)], preset="course"))
    assert data.m == 60 and data.fixed[0].shape[0] == 60


def test_a_cold_kernel_cache_is_announced_before_the_first_epoch_and_compiled_on_two_cores(tmp_path, monkeypatch, capsys):
    from lstm_numpy import compile_ahead, kernels, train

    started = []
    monkeypatch.setattr(compile_ahead, "start", lambda *args: started.append(args))
    quiet_free = [arg for arg in TINY if arg != "--quiet"]
    for cached in (False, True):
        monkeypatch.setattr(kernels, "compiled_on_disk", lambda: cached)
        code, err = in_process(train.main, [*quiet_free, "--epochs", "1", "--out", str(tmp_path / str(cached))], capsys)
        assert code == 0
        assert ("compiling the kernels once (about 10 s)" in err) == (not cached), err
    assert started == [("course", "float32")]  # the second process, with the cold cache only
    monkeypatch.setattr(kernels, "compiled_on_disk", lambda: False)
    code, err = in_process(train.main, [*TINY, "--epochs", "1", "--model", "conditioned", "--out", str(tmp_path / "quiet")],
                           capsys)
    assert code == 0 and "compiling" not in err  # quiet, and the second process all the same
    assert started[1:] == [("conditioned", "float32")]


def test_compiled_on_disk_tells_an_empty_cache_from_a_filled_one(tmp_path):
    ask = [sys.executable, "-c", "from lstm_numpy import kernels; print(kernels.compiled_on_disk())"]
    empty = subprocess.run(ask, env={**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}, capture_output=True, text=True)
    assert empty.stdout.strip() == "False", empty.stderr
    assert run("train", *TINY, "--epochs", "1", "--out", str(tmp_path / "run")).returncode == 0  # fills the cache
    filled = subprocess.run(ask, capture_output=True, text=True, cwd=REPO)
    assert filled.stdout.strip() == "True", filled.stderr


@pytest.mark.parametrize("case, words", [
    ("bars above the limit", "expected at most 1000 bars"),
    ("changes above the limit", "1001 bars, more than the 1000"),
    ("chords in a bar above the limit", "17 chords, more than the 16"),
    ("wav above the limit", "longer than the 20 minutes a WAV file may hold"),
    ("midi is a folder", "is a folder, not a MIDI file"),
    ("midi is a device", "is a device or a pipe"),
    ("course mode with a temperature", "drop --temperature and --top-k"),
    ("course mode with top-k", "drop --temperature and --top-k"),
    ("top-k above the vocabulary", "more than the model's"),
    ("tempo zero", "expected a tempo from 10 to 1000 beats per minute, got '0'"),
])
def test_limits_and_mistakes_are_named_in_the_command_lines_words(case, words, trained, tmp_path):
    ckpt = str(trained / "checkpoint")
    out = ["--out", str(tmp_path / "x.mid")]
    commands = {
        "bars above the limit": ("generate", "--checkpoint", ckpt, "--bars", "1001", *out),
        "changes above the limit": ("generate", "--checkpoint", ckpt, "--changes", " | ".join(["C7"] * 1001), *out),
        "chords in a bar above the limit": ("generate", "--checkpoint", ckpt, "--changes", "C7 " * 17, *out),
        "wav above the limit": ("generate", "--checkpoint", ckpt, "--bars", "1000", "--tempo", "10", *out),
        "midi is a folder": ("train", "--midi", str(tmp_path), "--out", str(tmp_path / "run")),
        "midi is a device": ("train", "--midi", os.devnull, "--out", str(tmp_path / "run")),
        "course mode with a temperature": ("generate", "--checkpoint", ckpt, "--mode", "course", "--temperature", "0.5", *out),
        "course mode with top-k": ("generate", "--checkpoint", ckpt, "--mode", "course", "--top-k", "3", *out),
        "top-k above the vocabulary": ("generate", "--checkpoint", ckpt, "--top-k", "100000", *out),
        "tempo zero": ("generate", "--checkpoint", ckpt, "--tempo", "0", *out),
    }
    result = run(*commands[case])
    assert result.returncode == 2 and "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip() and not line.startswith("sound:")]
    assert len(lines) == 1 and words in lines[0], result.stderr
    assert not list(tmp_path.glob("x.*")) and not (tmp_path / "run").exists()


def test_the_readmes_course_mode_example_runs_clean(trained, tmp_path):
    result = run("generate", "--checkpoint", str(trained / "checkpoint"), "--mode", "course", "--temperature", "0",
                 "--out", str(tmp_path / "course.mid"))
    assert result.returncode == 0, result.stderr
    assert not [line for line in result.stderr.splitlines() if not line.startswith("sound:")], result.stderr


def test_training_windows_beyond_memory_are_refused_before_training(tmp_path, monkeypatch, capsys):
    from lstm_numpy import train

    monkeypatch.setattr(train, "MAX_WINDOW_BYTES", 2**20)
    monkeypatch.setattr(train, "fit", lambda *a, **k: pytest.fail("training started"))
    code, err = in_process(train.main, [*TINY, "--m", "5000", "--out", str(tmp_path / "run")], capsys)
    assert code == 2 and "lower --m or --Tx" in err and "GB of memory" in err, err


COMMAND_PROCESS = """
import atexit, gc, sys
import numpy as np
from lstm_numpy import cli, kernels

def main(argv):
    print(gc.get_freeze_count() > 0)  # the imports' objects, frozen before main runs
    kernels.all_finite(np.zeros(3, np.float32))  # numba sets its compiler up here
    from numba.np import arraymath
    print(arraymath._HAVE_BLAS, "scipy.linalg" in sys.modules)
    atexit.register(lambda: print(gc.get_freeze_count() > 0))  # runs after cli.run's exit
    return 0

cli.run(main)
"""


def test_a_command_process_skips_scipys_blas_and_the_last_garbage_collection():
    """A command's process keeps numba from importing SciPy's BLAS module (no kernel uses
    np.dot), freezes the objects its imports made before main runs, and its objects again before
    exiting; all three only cost time."""
    pytest.importorskip("scipy")  # without SciPy there is nothing to skip
    result = subprocess.run([sys.executable, "-c", COMMAND_PROCESS], cwd=REPO, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "False", "False", "True"]


GC_PROCESS = """
import gc, sys, types
if sys.argv[1] == "command":  # as under python -m lstm_numpy.train
    sys.modules["__main__"].__spec__ = types.SimpleNamespace(name="lstm_numpy.train")
from lstm_numpy import cli
print(gc.isenabled())

def main(argv):
    print(gc.isenabled(), gc.get_freeze_count() > 0)
    return 0

cli.run(main)
"""


def test_a_command_process_imports_with_the_garbage_collector_off_and_turns_it_on_to_run():
    """In a command's process the collector is off while the imports make their long-lived
    objects, and on again, with those frozen, when the command runs; in any other process
    (a notebook, a script) importing the package leaves it alone."""
    outputs = {}
    for kind in ("command", "script"):
        result = subprocess.run([sys.executable, "-c", GC_PROCESS, kind], cwd=REPO, capture_output=True, text=True,
                                timeout=300)
        assert result.returncode == 0, result.stderr
        outputs[kind] = result.stdout.split()
    assert outputs["command"] == ["False", "True", "True"]
    assert outputs["script"] == ["True", "True", "True"]


CACHED_KERNEL_PROCESS = """
import sys
import numpy as np
from numba import njit
from lstm_numpy import cli, kernels

def main(argv):
    finite = kernels.all_finite(np.zeros(3, np.float32))  # compiled, or read back from the cache
    registries = "numba.np.linalg" in sys.modules  # imported when numba sets up its whole compiler
    twice = njit(lambda x: 2 * x)(np.arange(3.0))  # never cached: compiled here
    print(finite, registries, twice.tolist())
    return 0

cli.run(main)
"""


def test_a_command_process_reads_cached_kernels_without_setting_up_numbas_compiler(tmp_path):
    """A kernel read back from numba's cache needs only numba's runtime, not the registration of
    everything numba can compile; a kernel compiled afterwards in the same process still compiles."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}
    outputs = []
    for _ in range(2):  # the first run compiles all_finite into the empty cache, the second reads it back
        result = subprocess.run([sys.executable, "-c", CACHED_KERNEL_PROCESS], cwd=REPO, env=env,
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr
        outputs.append(result.stdout.strip().split(maxsplit=2))
    assert outputs[0] == ["True", "True", "[0.0, 2.0, 4.0]"]
    assert outputs[1] == ["True", "False", "[0.0, 2.0, 4.0]"]


def test_a_cached_kernel_is_read_the_usual_way_when_the_runtime_alone_fails(tmp_path):
    """If reading a kernel back with numba's runtime alone fails (another numba version could need
    more), the command reads it numba's usual way rather than failing."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}
    failing_once = (
        "from numba.core.runtime import rtsys\n"
        "initialize = rtsys.initialize\n"
        "calls = []\n"
        "def fail_once(ctx):\n"
        "    calls.append(ctx)\n"
        "    if len(calls) == 1:\n"
        "        raise RuntimeError('the runtime alone is not enough here')\n"
        "    return initialize(ctx)\n"
        "rtsys.initialize = fail_once\n"
    )
    outputs = []
    for prelude in ("", failing_once):  # fill the cache, then read it back with the first attempt failing
        result = subprocess.run([sys.executable, "-c", prelude + CACHED_KERNEL_PROCESS], cwd=REPO, env=env,
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr
        outputs.append(result.stdout.strip().split(maxsplit=2))
    assert outputs[1] == ["True", "True", "[0.0, 2.0, 4.0]"]  # read back after numba set up its compiler
