"""Train the course model: ``python -m lstm_numpy.train``.

With no arguments it trains on the project's own corpus in ``data/`` with the course's settings
(n_a = 64, Tx = 30, 100 epochs, batch 32, Adam with lr 0.01 and decay 0.01) plus Adam's weight
decay (1, none with the course preset; the conditioned model also trains half its windows without
their chords, ``features.hide_chords``), and writes, into the output folder it prints:

    checkpoint/      weights, optimizer state, configuration, vocabulary, chords and the
                     training values (as indices, with the part held out for validation)
    best/            the checkpoint of the epoch with the lowest validation loss (with validation)
    history.json     {"loss": [one per epoch], "accuracy": [per epoch, one per time step],
                      "val_loss": [one per epoch, with validation]}
    loss.svg         the loss and accuracy curves (SVG: any browser opens it)
    solo.mid/.wav/.svg   a first improvised solo over the training chords, and its piano roll

Every setting lives in one plain object, :class:`TrainConfig`; each field is a command-line
option of the same name, and the whole object is saved with the checkpoint, so a run can be
resumed (``--resume DIR``) or repeated exactly. Ctrl-C saves the last finished epoch and exits
with status 130; ``--resume`` then carries on and ends with the same weights as an uninterrupted
run with the same seed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np

from . import cli, kernels, midi_io
from .checkpoint import load_training_state, save_checkpoint
from .corpus import CHORD_DROPOUT_STREAM, Corpus, epoch_window_indices, make_corpus, split
from .dataset import (data_processing, default_corpus_paths, get_corpus_data, musical_data, read_corpus,
                      window_starts)
from .errors import CheckpointError, LstmNumpyError, MidiError
from .features import hide_chords, measure_features, window_features
from .files import locked, write_atomically
from .improvise import generate_music
from .layout import sparse_width
from .limits import MAX_BARS, MAX_WINDOW_BYTES, gigabytes
from .line import register_of
from .model import fit, init_model
from .optim import Adam
from .render import plot_loss, prepare_audio, write_solo

# The course's training windows: m examples of Tx values each.
COURSE_M = 60
DEFAULT_VAL_FRACTION = 0.1
# Adam's decoupled weight decay on the automatic path, chosen by measuring held-out fit (README).
DEFAULT_WEIGHT_DECAY = 1.0
# The share of the conditioned model's training windows that do not hear their chords, chosen by
# held-out fit on validation splits of the training music (README).
DEFAULT_CHORD_DROPOUT = 0.5


@dataclass
class TrainConfig:
    """Everything that defines a training run (saved with each checkpoint)."""

    # data
    midi: List[str] = field(default_factory=list)  # empty: the default corpus in data/
    preset: Optional[str] = None  # "course": the course file's choices
    melody: Optional[str] = None  # melody source: track index, track name or channel
    chords: Optional[str] = None  # chord source, same syntax
    changes: Optional[str] = None  # chord symbols for a single melody-only file: "Dm7 G7 | Cmaj7"
    skip_bad: bool = False  # leave out the files that cannot be used, instead of stopping
    Tx: int = 30
    m: Optional[int] = None  # training windows; None: 60 (the course), more for a larger corpus
    val_fraction: Optional[float] = None  # values held out; None: a tenth (the course preset: none)
    # model and optimizer
    model: str = "course"  # "conditioned": also reads each value's chord and place in the bar
    n_a: int = 64
    epochs: int = 100
    batch_size: int = 32
    lr: float = 0.01
    beta1: float = 0.9
    beta2: float = 0.999
    decay: float = 0.01
    clip_norm: Optional[float] = None
    weight_decay: Optional[float] = None  # None: DEFAULT_WEIGHT_DECAY (the course preset: none)
    chord_dropout: Optional[float] = None  # conditioned model: None: DEFAULT_CHORD_DROPOUT (course preset: none)
    dtype: str = "float32"
    seed: int = 0
    threads: int = 1  # threads sharing each batch; more threads change only rounding
    patience: Optional[int] = None  # stop after this many epochs without a better validation loss
    # the first solo written after training
    bars: int = 16
    temperature: float = cli.DEFAULT_TEMPERATURE
    top_k: int = cli.DEFAULT_TOP_K or 0  # 0: among all values
    tempo: float = 130.0


def validation_fraction(config: TrainConfig) -> float:
    """The share of values held out: as given, else a tenth, or none for the course preset."""
    if config.val_fraction is not None:
        return config.val_fraction
    return 0.0 if config.preset == "course" else DEFAULT_VAL_FRACTION


def weight_decay(config: TrainConfig) -> float:
    """Adam's weight decay: as given, else the default, or none for the course preset."""
    if config.weight_decay is not None:
        return config.weight_decay
    return 0.0 if config.preset == "course" else DEFAULT_WEIGHT_DECAY


def chord_dropout(config: TrainConfig) -> float:
    """The share of the conditioned model's windows trained without their chords
    (``features.hide_chords``): as given, else the default, or none for the course preset."""
    if config.chord_dropout is not None:
        return config.chord_dropout
    return 0.0 if config.preset == "course" else DEFAULT_CHORD_DROPOUT


def windows_for(corpus_length: int, Tx: int) -> int:
    """How many training windows to draw when ``m`` is not given.

    The course drew 60 windows from its 193 values, so each value was seen about 60*30/193 = 9
    times. A larger corpus keeps the course's 60 as a floor and otherwise draws enough windows to
    cover every value about twice.
    """
    return max(COURSE_M, (2 * corpus_length) // Tx)


def build_parser() -> cli.ArgumentParser:
    p = cli.ArgumentParser(
        prog="python -m lstm_numpy.train",
        description="Train the jazz LSTM on MIDI solos and write a checkpoint and a first solo.",
    )
    d = TrainConfig()
    data = p.add_argument_group("data")
    data.add_argument("--midi", nargs="+", metavar="FILE", help="MIDI files to learn from (default: the corpus in data/)")
    data.add_argument("--preset", choices=["course"], help="'course': original_metheny.mid's melody, chords and solo window")
    data.add_argument("--melody", metavar="SOURCE", help="melody source: a track index, a track name or a channel (e.g. ch5)")
    data.add_argument("--chords", metavar="SOURCE", help="chord source, same syntax as --melody")
    data.add_argument("--changes", metavar="CHORDS", help='the chords of a single melody-only file, bar by bar: "Dm7 G7 | Cmaj7" (for many files, put NAME.changes.txt beside each)')
    data.add_argument("--skip-bad", action="store_true", default=None, help="leave out the files that cannot be used, and list them, instead of stopping")
    data.add_argument("--list-parts", nargs="+", metavar="FILE", help="list every part of these MIDI files and what training would take from each, and exit")
    data.add_argument("--Tx", type=cli.positive_int, help=f"values per training window (default {d.Tx})")
    data.add_argument("--m", type=cli.positive_int, help="number of training windows (default: 60, more for a larger corpus)")
    data.add_argument("--val-fraction", dest="val_fraction", type=cli.fraction,
                      help=f"share of the values held out for validation, 0 for none (default {DEFAULT_VAL_FRACTION:g}; "
                           "whole pieces when there are several, else the end; none with --preset course)")
    model = p.add_argument_group("model and training")
    model.add_argument("--model", choices=["course", "conditioned"],
                       help=f"'conditioned' also reads the chord and the beat of every value (default {d.model})")
    model.add_argument("--n-a", dest="n_a", type=cli.positive_int, help=f"LSTM hidden units (default {d.n_a})")
    model.add_argument("--epochs", type=cli.positive_int, help=f"epochs (default {d.epochs})")
    model.add_argument("--batch-size", type=cli.positive_int, help=f"mini-batch size (default {d.batch_size})")
    model.add_argument("--lr", type=cli.positive_float, help=f"Adam learning rate (default {d.lr})")
    model.add_argument("--decay", type=cli.non_negative_float, help=f"learning-rate time decay per update (default {d.decay})")
    model.add_argument("--weight-decay", dest="weight_decay", type=cli.non_negative_float,
                       help=f"Adam's decoupled weight decay of the weights, 0 for none (default {DEFAULT_WEIGHT_DECAY:g}; "
                            "none with --preset course)")
    model.add_argument("--chord-dropout", dest="chord_dropout", type=cli.fraction,
                       help=f"share of the conditioned model's training windows that do not hear their chords, 0 for "
                            f"none (default {DEFAULT_CHORD_DROPOUT:g}; none with --preset course)")
    model.add_argument("--clip-norm", type=cli.positive_float, help="clip the gradient's global norm to this value")
    model.add_argument("--dtype", choices=["float32", "float64"], help=f"floating-point type (default {d.dtype})")
    model.add_argument("--threads", type=cli.positive_int, help=f"threads sharing each batch (default {d.threads})")
    model.add_argument("--patience", type=cli.positive_int,
                       help="stop when the validation loss has not improved for this many epochs")
    model.add_argument("--seed", type=cli.seed, help=f"seed for windows, weights, shuffling and the solo (default {d.seed})")
    solo = p.add_argument_group("the first solo")
    solo.add_argument("--bars", type=cli.bar_count, help=f"bars to improvise, at most {MAX_BARS} (default {d.bars})")
    solo.add_argument("--temperature", type=cli.non_negative_float, help=f"0 is greedy; higher is bolder (default {d.temperature})")
    solo.add_argument("--top-k", dest="top_k", type=cli.non_negative_int,
                      help="sample only among the k likeliest values; 0, the default, samples among all")
    solo.add_argument("--tempo", type=cli.tempo, help=f"beats per minute, {cli.MIN_TEMPO} to {cli.MAX_TEMPO} (default {d.tempo:g})")
    cli.add_sound_options(solo)
    run = p.add_argument_group("output")
    run.add_argument("--out", metavar="DIR", type=cli.output_path, default="output", help="output folder (default: output)")
    run.add_argument("--resume", metavar="DIR", type=cli.output_path, help="continue the run saved in this output folder")
    run.add_argument("--force", action="store_true", help="train anew into an --out folder that holds an earlier run, replacing it")
    run.add_argument("--save-every", metavar="N", type=cli.positive_int,
                     help="also save the checkpoint every N epochs, so that a crash loses at most N (default: only at the end)")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def config_from_args(args, base: Optional[TrainConfig] = None) -> TrainConfig:
    """The configuration: ``base`` (defaults, or a resumed run's) overridden by the given options."""
    values = asdict(base or TrainConfig())
    for f in fields(TrainConfig):
        given = getattr(args, f.name, None)
        if given is not None:
            values[f.name] = given
    return TrainConfig(**values)


def saved_config(saved: dict, folder: Path) -> TrainConfig:
    """The configuration a checkpoint holds, checked setting by setting as the options are checked.

    A hand-edited checkpoint.json (its checksum fixed up) could otherwise hold an unknown setting,
    a window of 0 values or a negative seed, and fail deep inside training.
    """
    def corrupt(what: str) -> CheckpointError:
        return CheckpointError(f"checkpoint {folder} is corrupt: its configuration {what}; train again "
                               f"or restore the folder from a backup.")

    defaults = asdict(TrainConfig())
    # a run saved before weight decay or chord dropout existed trained without them, and resumes so
    saved = {"weight_decay": 0.0, "chord_dropout": 0.0, **saved}
    unknown = sorted(set(saved) - set(defaults))
    if unknown:
        raise corrupt(f"has the unknown setting(s) {', '.join(unknown)}")
    options = {action.dest: action for action in build_parser()._actions}
    for name, value in saved.items():
        problem = _setting_problem(value, defaults[name], options.get(name))
        if problem:
            raise corrupt(f"gives {name} = {value!r}: {problem}")
    return TrainConfig(**{**defaults, **saved})


def _setting_problem(value, default, option: Optional[argparse.Action]) -> Optional[str]:
    """What is wrong with a saved setting, judged as its command-line option judges it (None: fine)."""
    if value is None:
        return None if default is None else "it must be given"
    if isinstance(default, list):  # --midi
        return None if isinstance(value, list) and all(isinstance(v, str) for v in value) else "it must be a list of file names"
    if isinstance(default, bool):  # --skip-bad
        return None if isinstance(value, bool) else "it must be true or false"
    if option is None:  # beta1, beta2: Adam's decay rates, set only from Python
        return None if _is_real(value) and 0 <= value < 1 else "it must be a number from 0 up to 1"
    if option.choices is not None:
        return None if value in option.choices else f"it must be one of {', '.join(option.choices)}"
    if option.type is None:  # a name, such as a track's
        return None if isinstance(value, str) else "it must be text"
    if isinstance(default, int) or option.type is cli.positive_int:
        if not isinstance(value, int) or isinstance(value, bool):
            return "it must be a whole number"
    elif not _is_real(value):
        return "it must be a number"
    try:
        option.type(str(value))
    except argparse.ArgumentTypeError as error:
        return str(error)
    return None


def _is_real(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _write_json_atomically(path: Path, obj) -> None:
    # keys sorted, as in checkpoint.json, so a resumed run writes the same bytes
    write_atomically(path, (json.dumps(obj, indent=1, sort_keys=True) + "\n").encode())


@dataclass
class TrainingData:
    """The music a run learns from, as training uses it.

    corpus: every value read, as indices, by piece, with the validation part (``corpus.Corpus``).
    indices_values: the vocabulary; chords: the chords of every measure read.
    register: the melody's lowest and highest pitch, which the solos keep to (``line.register_of``).
    m: windows per epoch. fixed: the course's windows (X, Y), drawn once from all the values as
    ``data_processing`` draws them; None when they are drawn afresh every epoch from the training
    part (``corpus.epoch_window_indices``), so that every value gets to be a target.
    features: for the conditioned model, (n, n_d) the features of every value of the corpus
    (``features.measure_features``, aligned with corpus.values); None for the course model.
    """

    corpus: Corpus
    indices_values: List[str]
    chords: list
    m: int
    fixed: Optional[tuple]
    register: Tuple[int, int]
    features: Optional[np.ndarray] = None

    def windows(self, config: TrainConfig, epoch: int):
        """This epoch's windows as ``fit`` takes them: X (m, Tx, n_values), Y (Tx, m, n_values)
        one-hot in the config's dtype (the course's fixed windows), or both as value indices
        (m, Tx) (windows drawn afresh, ``corpus.epoch_window_indices``); and for the
        conditioned model D (m, Tx, n_d), their features (else None), the chords of a share of
        the windows hidden (``chord_dropout``)."""
        if self.fixed is not None:
            (X, Y), features = self.fixed, self.features
            starts = window_starts(len(self.corpus.values), self.m, config.Tx, config.seed) if features is not None else None
            X, Y = X.astype(config.dtype, copy=False), Y.astype(config.dtype, copy=False)
        else:
            X, Y, starts = epoch_window_indices(self.corpus.training_values(), self.m, config.Tx, config.seed, epoch)
            features = None if self.features is None else self.part_features(held_out=False)
        D = None
        if features is not None:  # the same starts as the windows' own draw
            D = window_features(features, starts, config.Tx)
            # which windows train without their chords: drawn from (seed, epoch) alone, as the windows
            hidden = np.random.default_rng([config.seed, CHORD_DROPOUT_STREAM, epoch])
            D = hide_chords(D.astype(config.dtype, copy=False), chord_dropout(config), hidden)
        return X, Y, D

    def part_features(self, held_out: bool):
        """The features of the training part, its pieces joined (held_out False), or a list of
        the features of each validation range (held_out True)."""
        parts = [self.features[a:b] for a, b in self.corpus.ranges(held_out)]
        return parts if held_out else np.concatenate(parts)


def load_training_data(config: TrainConfig, report: Optional[Callable[[str], None]] = None) -> TrainingData:
    """MIDI -> values -> the corpus and its windows, as the config says.

    The course preset trains on the course's fixed windows with nothing held out, exactly as the
    course did; otherwise ``validation_fraction`` of the values is held out and the windows are
    drawn afresh every epoch. report, if given, is called with one line per file saying which
    melody and chords were taken and how many notes each has; files left out by ``skip_bad`` are
    listed on stderr in any case.
    """
    fraction = validation_fraction(config)
    if config.preset == "course" and fraction:
        raise LstmNumpyError("--preset course trains on the course's fixed windows with nothing held out; "
                             "drop --val-fraction, or train without the preset.")
    paths = config.midi or [str(p) for p in default_corpus_paths()]
    for path in paths:
        if not config.skip_bad:
            _check_midi_path(Path(path))
    pieces = read_corpus(paths, preset=config.preset, melody=config.melody, chords=config.chords,
                         changes=config.changes, skip_bad=config.skip_bad)
    for reading in pieces.readings if report is not None else []:
        report(str(reading))
    for why in pieces.skipped:
        print(f"skipped {why}", file=sys.stderr)
    chords, grammars_by_piece, pitches, features = [], [], [], []
    for measures in pieces.pieces:  # piece by piece, to know where each starts
        piece_chords, grammars = musical_data(measures)
        chords += piece_chords
        grammars_by_piece.append(grammars)
        pitches += [note.pitch for measure in measures for note in measure.melody]
        if config.model == "conditioned":
            features.append(measure_features(measures))
    features = np.concatenate(features) if features else None
    register = tuple(register_of(pitches))
    all_values, _, values_indices, indices_values = get_corpus_data([g for p in grammars_by_piece for g in p])
    corpus = make_corpus([get_corpus_data(p)[0] for p in grammars_by_piece], values_indices)
    vocabulary = [indices_values[i] for i in range(len(indices_values))]
    if config.preset == "course":
        m = config.m or windows_for(len(all_values), config.Tx)
        _check_window_memory(m, config, len(vocabulary), features)
        X, Y, _ = data_processing(all_values, values_indices, m=m, Tx=config.Tx, seed=config.seed)
        return TrainingData(corpus, vocabulary, chords, m, (X, Y), register, features)
    corpus = split(corpus, fraction, config.seed)
    n_training = len(corpus.training_values())
    if n_training < config.Tx + 1:
        raise LstmNumpyError(f"after holding out {fraction:g} of the values for validation, {n_training} are left to train "
                             f"on, too few for windows of Tx={config.Tx}; use more music, a smaller --val-fraction or a smaller --Tx.")
    m = config.m or windows_for(n_training, config.Tx)
    _check_window_memory(m, config, len(vocabulary), features)
    return TrainingData(corpus, vocabulary, chords, m, None, register, features)


def validation_loss(model, data: TrainingData, Tx: int) -> Optional[float]:
    """The loss on the validation part, on the scale of the training loss (None without one).

    It is the mean cross-entropy per validation value (``evaluate.model_cross_entropy``: each
    held-out stretch read from its start, in one pass) times Tx - 1, the targets a training
    window has, so that the two curves can be drawn together.
    """
    parts = data.corpus.parts(held_out=True)
    if not parts:
        return None
    from .evaluate import model_cross_entropy  # here: a run without validation does without its import

    features = data.part_features(held_out=True) if data.features is not None else None
    nats, count = model_cross_entropy(model, parts, features)
    return nats / count * (Tx - 1)


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr)


def list_parts(paths: Sequence[str], config: TrainConfig) -> int:
    """``--list-parts``: every part of each file, and what training would take from it."""
    for number, path in enumerate(paths):
        score = midi_io.read_midi(path)
        print(("\n" if number else "") + f"{path}: MIDI type {score.type}, {score.ticks_per_beat} ticks per beat")
        for line in midi_io.part_table(score):
            print("  " + line)
        try:
            reading = read_corpus([path], preset=config.preset, melody=config.melody, chords=config.chords,
                                  changes=config.changes).readings[0]
            print(f"  training takes: melody {reading.melody}, chords {reading.chords}" +
                  (f"; {reading.remark}" if reading.remark else ""))
        except MidiError as error:
            print(f"  training cannot use it: {error}")
    return 0


def _check_midi_path(path: Path) -> None:
    """A path given to --midi names a file, and the message says what it names instead."""
    if path.is_file():
        return
    if path.is_dir():
        raise LstmNumpyError(f"--midi {path}: this is a folder, not a MIDI file; name the files in it, "
                             f"such as {path / '*.mid'}.")
    if path.exists():
        raise LstmNumpyError(f"--midi {path}: this is a device or a pipe, not a MIDI file; name a .mid file.")
    raise LstmNumpyError(f"{path}: no such file; check the path given to --midi.")


def _check_window_memory(m: int, config: TrainConfig, n_values: int, features: Optional[np.ndarray] = None) -> None:
    """An epoch's windows must fit in memory (limits.MAX_WINDOW_BYTES): the one-hot X and Y, and
    for the conditioned model (features: (n, n_d) those of every value) their features D, fit's
    time-major copy of D, and the look-ups fit makes of it (``layout.SparseFeatures``: the K set
    columns of a step, an int64 index and a value each). Windows drawn afresh every epoch are
    kept as value indices (``corpus.epoch_window_indices``), far smaller than one-hot; they are
    counted as one-hot all the same, the measure the limit was set in."""
    itemsize = np.dtype(config.dtype).itemsize
    per_step = 2 * n_values * itemsize
    if features is not None:
        per_step += 2 * features.shape[1] * itemsize + sparse_width(features) * (8 + itemsize)
    needed = m * config.Tx * per_step
    if needed > MAX_WINDOW_BYTES:
        raise LstmNumpyError(f"{m} windows of {config.Tx} values over {n_values} distinct values"
                             f"{'' if features is None else ', with their features,'} would take "
                             f"{gigabytes(needed)} of memory, more than the {gigabytes(MAX_WINDOW_BYTES)} allowed; "
                             f"lower --m or --Tx, or train on less music.")


def _optimizer(config: TrainConfig):
    return Adam(lr=config.lr, beta1=config.beta1, beta2=config.beta2, decay=config.decay, clip_norm=config.clip_norm,
                weight_decay=weight_decay(config))


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    if args.list_parts:
        return list_parts(args.list_parts, config_from_args(args))
    with ExitStack() as locks:  # the output folder's lock, from when it is taken until the run ends
        return _run(args, locks)


def _run(args, locks: ExitStack) -> int:
    out = Path(args.resume or args.out)
    sound = cli.sound_options(args)
    report = None if args.quiet else _to_stderr

    if args.resume:
        if not (out / "checkpoint").is_dir():
            raise LstmNumpyError(f"--resume {out}: no checkpoint folder in it; pass the output folder (--out) of an earlier run.")
        state = load_training_state(out / "checkpoint")
        config = config_from_args(args, saved_config(state.config, out / "checkpoint"))
        model, history, start_epoch = state.model, state.history, state.epoch
        if config.epochs < start_epoch:
            raise LstmNumpyError(f"--resume {out}: the run has already trained {start_epoch} epochs, more than "
                                 f"--epochs {config.epochs}; pass --epochs {start_epoch} or more.")
        if model.kind != config.model:
            raise LstmNumpyError(f"--resume {out}: the run trained the {model.kind} model; resume it with "
                                 f"--model {model.kind}, or start a new run with --out.")
        optimizer = _optimizer(config)
        optimizer.load_state_dict(state.optimizer_state)
        data = load_training_data(config, report)
        if data.indices_values != model.indices_values:
            raise LstmNumpyError(f"{out}: the training data no longer gives the checkpoint's vocabulary; resume with the same --midi files.")
        if model.register is None:  # saved before registers were kept
            model.register = data.register
    else:
        if not args.force and _holds_a_run(out):
            raise LstmNumpyError(f"--out {out} already holds a training run; continue it with --resume {out}, "
                                 f"replace it with --force, or choose another folder with --out.")
        config = config_from_args(args)
        if config.preset == "course" and not config.midi:
            raise LstmNumpyError("--preset course needs the course file: add --midi path/to/original_metheny.mid.")
        data = load_training_data(config, report)
        model = init_model(data.indices_values, n_a=config.n_a, seed=config.seed, dtype=np.dtype(config.dtype),
                           chords=data.chords, config=asdict(config), register=data.register,
                           model=config.model)
        optimizer = _optimizer(config)
        history, start_epoch = None, 0
    # The SoundFont loads in a thread meanwhile, mostly while the epochs' kernels run without
    # Python's lock; started after the data, whose reading needs that lock throughout. Not when
    # two threads train: no core is left to spare, and the first batches time the split between
    # them (machine.split_pays), a decision kept on disk that the loading must not sway.
    if config.threads == 1:
        prepare_audio(**sound)
    model.config = asdict(config)
    validating = bool(len(data.corpus.validation))
    history = history or {"loss": [], "accuracy": []}
    if validating:
        history.setdefault("val_loss", [])

    cli.writable_folder(out, "--resume" if args.resume else "--out")
    try:
        locks.enter_context(locked(out / RUN_LOCK, wait=False))
    except BlockingIOError:
        raise LstmNumpyError(f"{out} is in use by another training right now; wait for it to finish, "
                             f"or choose another folder with --out.") from None
    if not args.quiet:
        held = f", {sum(len(p) for p in data.corpus.parts(held_out=True))} values held out for validation" if validating else ""
        drawn = "drawn afresh each epoch" if data.fixed is None else "drawn once"
        print(f"training on {data.m} windows of {config.Tx} values, {drawn} ({len(data.indices_values)} distinct values{held}); "
              f"writing to {out}/", file=sys.stderr)

    # Ctrl-C may land in the middle of an epoch, when the weights are half updated: keep a copy of
    # the weights and optimizer state as they were after the last finished epoch. The best
    # validation epoch's weights are kept too, and written to best/ when the run ends.
    last = {"epoch": start_epoch, "parameters": None, "optimizer": None, "history": history}
    best = {"epoch": None, "parameters": None, "history": None}
    if args.resume and validating and (out / BEST).is_dir():
        # The earlier run's best epoch stays the best unless this run beats it; it is written
        # again with this run's settings, as an uninterrupted run would have written it.
        earlier = load_training_state(out / BEST)
        best.update(epoch=earlier.epoch, parameters=earlier.model.parameters, history=earlier.history)

    bar = None
    if config.epochs > start_epoch and not kernels.compiled_on_disk():
        # a fresh clone: the kernels needed after the passes through time compile in a second
        # process meanwhile (imported here: a filled cache does without it)
        from . import compile_ahead

        compile_ahead.start(config.model, config.dtype)
        if not args.quiet:
            print("compiling the kernels once (about 10 s)", file=sys.stderr)
    if not args.quiet and config.epochs > start_epoch:
        from tqdm import tqdm  # here: a --quiet run does without its import

        bar = tqdm(total=config.epochs, initial=start_epoch, unit="epoch", file=sys.stderr)

    def on_epoch_end(epoch: int, hist) -> None:
        if validating:
            hist["val_loss"].append(validation_loss(model, data, config.Tx))
            if hist["val_loss"][-1] <= min(hist["val_loss"]):
                best.update(epoch=epoch + 1, parameters={k: v.copy() for k, v in model.parameters.items()},
                            history={key: list(values) for key, values in hist.items()})
        last.update(epoch=epoch + 1, history={key: list(values) for key, values in hist.items()},
                    parameters={k: v.copy() for k, v in model.parameters.items()},
                    optimizer=optimizer.state_dict())
        if bar is not None:
            shown = {"loss": f"{hist['loss'][-1]:.3f}"}
            if validating:
                shown["val_loss"] = f"{hist['val_loss'][-1]:.3f}"
            bar.set_postfix(**shown)
            bar.update(1)
        if args.save_every and (epoch + 1) % args.save_every == 0 and epoch + 1 < config.epochs:
            save(epoch + 1)

    def save(epoch: int) -> None:
        # The loss curve and the solo of an earlier save do not belong to the new checkpoint: they
        # go first, and the run's end writes them again.
        for name in STALE_AFTER_SAVE:
            (out / name).unlink(missing_ok=True)
        finished = model if last["parameters"] is None else replace(model, parameters=last["parameters"])
        save_checkpoint(out / "checkpoint", finished, optimizer_state=last["optimizer"] or optimizer.state_dict(),
                        epoch=epoch, history=last["history"], corpus=data.corpus)
        if best["parameters"] is not None:
            best_model = replace(model, parameters=best["parameters"])
            save_checkpoint(out / BEST, best_model, epoch=best["epoch"], history=best["history"], corpus=data.corpus)
        _write_json_atomically(out / "history.json", last["history"])

    try:
        # one fit for the whole run, so that its scratch memory and threads last from epoch to epoch
        if data.fixed is not None:  # the course's windows, drawn once
            X, Y, D = data.windows(config, start_epoch)
            drawn = {"X": X, "Y": Y, "D": D}
        else:  # drawn afresh for every epoch
            drawn = {"windows": lambda epoch: data.windows(config, epoch)}
        history = fit(model, epochs=config.epochs, batch_size=config.batch_size, optimizer=optimizer,
                      seed=config.seed, start_epoch=start_epoch, history=history, on_epoch_end=on_epoch_end,
                      threads=config.threads, stop=lambda hist: stopped_early(hist, config.patience), **drawn)
    except KeyboardInterrupt:
        if bar is not None:
            bar.close()
        if last["parameters"] is not None:
            save(last["epoch"])
            print(f"interrupted: saved epoch {last['epoch']} in {out}/checkpoint; continue with --resume {out}", file=sys.stderr)
        else:
            print("interrupted before the first epoch finished: nothing was saved.", file=sys.stderr)
        raise
    if bar is not None:
        bar.close()
    if last["epoch"] < config.epochs and not args.quiet:
        print(f"stopped early after epoch {last['epoch']}: the validation loss has not improved for "
              f"{config.patience} epochs.", file=sys.stderr)

    save(last["epoch"])
    if not validating and not args.resume and (out / BEST).is_dir():
        shutil.rmtree(out / BEST)  # an earlier run's (replaced with --force): not this run's best
    written = [out / "checkpoint"] + ([out / BEST] if (out / BEST).is_dir() else []) + [out / "history.json"]
    written += _pictures_and_solo(model, history, config, out, sound)
    print(f"wrote {len(written)} outputs to {out}/: " + ", ".join(p.name for p in written))
    return 0


def stopped_early(history, patience: Optional[int]) -> bool:
    """Whether the last ``patience`` epochs of the history brought no better validation loss."""
    val_loss = history.get("val_loss") or []
    if patience is None or not val_loss:
        return False
    best_epoch = min(range(len(val_loss)), key=lambda k: (val_loss[k], -k))  # ties: the latest
    return len(val_loss) - 1 - best_epoch >= patience


# Held by the training writing into a folder, so that a second one cannot mix its files in.
RUN_LOCK = ".lock"
# What a run writes into its folder; any of them there means the folder holds an earlier run.
RUN_FILES = ("checkpoint", "best", "history.json", "loss.svg", "solo.mid", "solo.wav", "solo.svg")
BEST = "best"  # the checkpoint of the best validation epoch, beside the last one
STALE_AFTER_SAVE = ("loss.svg", "solo.mid", "solo.wav", "solo.svg")


def _holds_a_run(out: Path) -> bool:
    return out.is_dir() and any((out / name).exists() for name in RUN_FILES)


def _pictures_and_solo(model, history, config: TrainConfig, out: Path, sound: Optional[dict] = None) -> List[Path]:
    """The loss curve, and a first solo as MIDI, WAV and piano roll (``sound``: write_solo's sound arguments)."""
    others = {"validation": history["val_loss"]} if history.get("val_loss") else None
    loss_path = plot_loss(out / "loss.svg", history, others=others, label="training")
    solo = generate_music(model, n_bars=config.bars, temperature=config.temperature, top_k=config.top_k or None,
                          seed=config.seed)
    return [loss_path] + write_solo(out / "solo", solo, tempo_bpm=config.tempo, **(sound or {}))


if __name__ == "__main__":
    cli.run(main)
