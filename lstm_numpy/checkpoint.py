"""Checkpoints: a trained model saved to a folder, and read back exactly.

A checkpoint is a folder of two files::

    weights.npz       every array: the LSTM and Dense parameters ("parameters/Wf", ...), the
                      optimizer's moment estimates ("optimizer/...") and, when training gave it,
                      the training music as value indices ("corpus/values", "corpus/starts",
                      "corpus/validation": see ``corpus.Corpus``)
    checkpoint.json   everything else: format version, training configuration, vocabulary (the
                      values, in index order), the chords trained over, the register of the
                      training melody (its lowest and highest pitch; absent in older
                      checkpoints), the epoch reached, the training history, the optimizer's
                      scalars, the SHA-256 of weights.npz, and the SHA-256 of everything else
                      in the JSON (content_sha256), so that an edit or a damaged byte anywhere,
                      two vocabulary entries swapped say, is found

Saving is atomic: both files are written and flushed to disk in a hidden folder beside the
target, which then takes the target's name, so a crash leaves either the old checkpoint or the new
one, never half of each. The old one steps aside first (to ``.NAME.old-*``): a process killed
between the two renames leaves it there, and loading reads it from there until the next save puts
things in order, which also removes what a killed save left behind. A lock file beside the folder
(``.NAME.lock``) makes saves take turns and lets readers wait while a save is under way. Saving is also reproducible: the same model gives byte-identical files
(``np.savez`` would stamp each zip entry with the current time, so the zip is written here with a
fixed date and a fixed order).

Loading checks everything it can before any number is used (files present, JSON readable,
checksums, the vocabulary, chords, epoch and history, parameter shapes and types) and reports a problem as a CheckpointError of
one sentence naming the folder.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import re
import secrets
import shutil
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import numpy as np

from .corpus import Corpus, check as corpus_holds_together
from .errors import CheckpointError, LstmNumpyError
from .features import N_FEATURES
from .files import locked
from .lstm import PARAMETER_NAMES, parameter_shapes
from .model import Model
from .notes import Chord

FORMAT = "lstm_numpy checkpoint"
VERSION = 2  # 2: checkpoint.json carries content_sha256
WEIGHTS = "weights.npz"
META = "checkpoint.json"
CORPUS_ARRAYS = ("values", "starts", "validation")

# A zip entry's timestamp cannot be earlier than 1980; any fixed value makes the bytes repeatable.
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


@dataclass
class Checkpoint:
    """Everything a checkpoint holds: the model, and what ``--resume`` needs to carry on training.

    optimizer_state: the optimizer's ``state_dict()`` as saved (None if none was saved).
    epoch: epochs finished when it was saved (None if not given).
    history: the training history, e.g. {"loss": [...], "accuracy": [[...], ...]} (None if not given).
    path: the folder it was read from (None for a checkpoint not read from disk).
    corpus: the values the model was trained on, and the part held out (None if not saved).
    """

    model: Model
    optimizer_state: Optional[Dict[str, Any]] = None
    epoch: Optional[int] = None
    history: Optional[Dict[str, Any]] = None
    path: Optional[Path] = field(default=None, compare=False)
    corpus: Optional[Corpus] = field(default=None, compare=False)

    @property
    def config(self) -> Dict[str, Any]:
        """The training configuration saved with the model."""
        return self.model.config


# --------------------------------------------------------------------------------------- saving

def save_checkpoint(
    path,
    model: Model,
    optimizer=None,
    epoch: Optional[int] = None,
    history: Optional[Dict[str, Any]] = None,
    *,
    optimizer_state: Optional[Dict[str, Any]] = None,
    corpus: Optional[Corpus] = None,
) -> Path:
    """Write ``model`` (and optionally the optimizer, epoch and history) to the folder ``path``.

    optimizer: an object with ``state_dict()`` (such as lstm_numpy.Adam); or pass its state dict
        directly as ``optimizer_state``. Arrays in the state go to weights.npz, the rest to JSON.
    corpus: the training values (``corpus.Corpus``), kept so that the fit can be measured later.
    An existing checkpoint at ``path`` is replaced only once the new one is complete on disk.
    Returns the folder's path.
    """
    target = Path(path)
    _check_replaceable(target)
    if optimizer is not None and optimizer_state is not None:
        raise TypeError("pass either optimizer or optimizer_state, not both")
    if optimizer is not None:
        optimizer_state = optimizer.state_dict() if hasattr(optimizer, "state_dict") else optimizer

    arrays: Dict[str, np.ndarray] = {f"parameters/{name}": np.asarray(value)
                                     for name, value in model.parameters.items()}
    optimizer_tree = None
    if optimizer_state is not None:
        optimizer_tree = _split_arrays(optimizer_state, "optimizer", arrays)
    if corpus is not None:
        for name in CORPUS_ARRAYS:
            arrays[f"corpus/{name}"] = np.asarray(getattr(corpus, name), dtype=np.int64)
    weights = _npz_bytes(arrays)
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "config": model.config,
        "vocabulary": _vocabulary_list(model.indices_values),
        "chords": [[_chord_to_json(chord) for chord in bar] for bar in model.chords],
        "register": None if model.register is None else [int(p) for p in model.register],
        "epoch": epoch,
        "history": history,
        "optimizer": optimizer_tree,
        "weights_sha256": hashlib.sha256(weights).hexdigest(),
    }
    meta = json.loads(json.dumps(meta, default=_to_json))  # plain JSON types, as a reader sees them
    meta["content_sha256"] = _content_sha256(meta)
    text = json.dumps(meta, indent=1, sort_keys=True) + "\n"

    target.parent.mkdir(parents=True, exist_ok=True)
    with _save_lock(target):
        _put_in_order(target)
        _swap_in(target, weights, text)
    return target


def _content_sha256(meta: Dict[str, Any]) -> str:
    """SHA-256 of every field of checkpoint.json but this one, written out in one fixed way."""
    rest = {key: value for key, value in meta.items() if key != "content_sha256"}
    return hashlib.sha256(json.dumps(rest, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _lock_file(target: Path) -> Path:
    return target.with_name(f".{target.name}.lock")


def _save_lock(target: Path):
    return locked(_lock_file(target))


def _leftovers(target: Path, kind: str) -> List[Path]:
    """What interrupted saves left beside ``target``: kind "old" (retired) or "tmp" (staging)."""
    return sorted(target.parent.glob(f".{glob_escape(target.name)}.{kind}-*"), key=lambda p: p.stat().st_mtime)


def glob_escape(name: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", name)


def _put_in_order(target: Path) -> None:
    """Undo what a save killed half-way left behind (called under the save lock).

    Killed between its two renames, a save leaves no ``target`` but the old checkpoint retired
    beside it: that one is put back. Staging folders of killed saves are removed.
    """
    for retired in reversed(_leftovers(target, "old")):
        if not target.exists():
            os.replace(retired, target)
        else:
            shutil.rmtree(retired, ignore_errors=True)
    for staging in _leftovers(target, "tmp"):
        shutil.rmtree(staging, ignore_errors=True)


def _swap_in(target: Path, weights: bytes, text: str) -> None:
    staging = target.with_name(f".{target.name}.tmp-{secrets.token_hex(4)}")
    retired = target.with_name(f".{target.name}.old-{secrets.token_hex(4)}")
    staging.mkdir()
    try:
        _write_synced(staging / WEIGHTS, weights)
        _write_synced(staging / META, text.encode("ascii"))
        _fsync_folder(staging)
        if target.exists():
            # Two renames: the old checkpoint steps aside, the new one takes its name.  If we are
            # stopped in between, the except clause below puts the old one back.
            os.replace(target, retired)
        os.replace(staging, target)
        _fsync_folder(target.parent)
    except BaseException:
        if retired.exists() and not target.exists():
            os.replace(retired, target)
        shutil.rmtree(staging, ignore_errors=True)
        raise
    shutil.rmtree(retired, ignore_errors=True)


def _vocabulary_list(indices_values) -> List[str]:
    # The course kept its vocabulary as a dict index -> value; a list in index order says the same.
    if isinstance(indices_values, dict):
        return [indices_values[i] for i in range(len(indices_values))]
    return list(indices_values)


def _check_replaceable(target: Path) -> None:
    # Replacing the folder deletes what was in it, so only ever replace a checkpoint.
    if target.exists() and not target.is_dir():
        raise CheckpointError(f"{target} exists and is not a folder; save the checkpoint under another name.")
    if target.is_dir():
        extra = sorted(p.name for p in target.iterdir() if p.name not in (WEIGHTS, META))
        if extra:
            raise CheckpointError(
                f"{target} already holds other files ({', '.join(extra[:3])}); save the checkpoint "
                f"into a new folder or an existing checkpoint folder."
            )


def _split_arrays(tree, prefix: str, arrays: Dict[str, np.ndarray]):
    """JSON-able copy of ``tree`` with every array moved into ``arrays`` and left as a reference."""
    if isinstance(tree, np.ndarray):
        arrays[prefix] = tree
        return {"__array__": prefix}
    if isinstance(tree, dict):
        for key in tree:
            if not isinstance(key, str) or "/" in key:
                raise TypeError(f"optimizer state keys must be strings without '/', got {key!r}")
        return {key: _split_arrays(value, f"{prefix}/{key}", arrays) for key, value in tree.items()}
    if isinstance(tree, (list, tuple)):
        return [_split_arrays(value, f"{prefix}/{i}", arrays) for i, value in enumerate(tree)]
    if isinstance(tree, np.generic):
        return tree.item()
    return tree


def _join_arrays(tree, arrays: Dict[str, np.ndarray]):
    if isinstance(tree, dict):
        if set(tree) == {"__array__"}:
            return arrays[tree["__array__"]]
        return {key: _join_arrays(value, arrays) for key, value in tree.items()}
    if isinstance(tree, list):
        return [_join_arrays(value, arrays) for value in tree]
    return tree


def _npz_bytes(arrays: Dict[str, np.ndarray]) -> bytes:
    """An .npz archive (readable by np.load) whose bytes depend only on the arrays."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name in sorted(arrays):
            entry = zipfile.ZipInfo(name + ".npy", date_time=_ZIP_DATE)
            entry.create_system = 3  # as written on Unix, whichever system writes it
            entry.external_attr = 0o644 << 16
            array_bytes = io.BytesIO()
            np.lib.format.write_array(array_bytes, arrays[name], allow_pickle=False)
            archive.writestr(entry, array_bytes.getvalue())
    return buffer.getvalue()


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _fsync_folder(folder: Path) -> None:
    # Makes the renames themselves durable; not every system can open a folder, which is harmless.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _chord_to_json(chord: Chord) -> Dict[str, Any]:
    return {"offset": str(chord.offset), "duration": str(chord.duration),
            "pitches": [int(p) for p in chord.pitches], "velocity": int(chord.velocity)}


def _to_json(obj):
    """json.dumps's fallback for NumPy values, Fractions and paths that configs and histories hold."""
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Fraction):
        return str(obj)
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot save a {type(obj).__name__} in checkpoint.json")


# -------------------------------------------------------------------------------------- loading

def load_checkpoint(path) -> Model:
    """The Model saved in the checkpoint folder ``path``, ready for predict_and_sample."""
    return read_checkpoint(path).model


def load_training_state(path) -> Checkpoint:
    """Model, optimizer state, epoch and history of a checkpoint, for resuming training."""
    return read_checkpoint(path)


def read_checkpoint(path) -> Checkpoint:
    """Read and check the checkpoint folder ``path`` (see the module docstring for its layout).

    ``path`` may also be a training run's output folder holding the checkpoint as ``checkpoint/``.
    A save under way is waited for.
    """
    folder = Path(path)
    inner = folder / "checkpoint"
    if not (folder / META).exists() and ((inner / META).is_file() or _lock_file(inner).exists()):
        # The output folder of a training run was given; its checkpoint lives inside. (Its lock
        # file stays there even while a save has the checkpoint itself renamed.)
        folder = inner
    with _read_lock(folder):
        return _read_folder(folder, _recovered(folder))


@contextmanager
def _read_lock(folder: Path) -> Iterator[None]:
    if folder.parent.is_dir():
        with locked(_lock_file(folder), shared=True):
            yield
    else:
        yield


def _recovered(folder: Path) -> Path:
    """Where the checkpoint ``folder`` is: itself, or its old copy if a save was killed mid-swap."""
    if not folder.exists() and folder.parent.is_dir():
        retired = _leftovers(folder, "old")
        if retired:
            return retired[-1]
    return folder


def _read_folder(given: Path, folder: Path) -> Checkpoint:
    """Read the checkpoint ``given``, whose files are in ``folder`` (the same, unless recovered)."""
    if not folder.exists():
        raise CheckpointError(f"checkpoint folder {folder} does not exist; pass the folder that "
                              f"lstm_numpy.train wrote (it holds {META} and {WEIGHTS}).")
    if not folder.is_dir():
        raise CheckpointError(f"{folder} is a file, not a checkpoint folder; pass the folder holding "
                              f"{META} and {WEIGHTS}.")
    for name in (META, WEIGHTS):
        if not (folder / name).is_file():
            raise CheckpointError(f"{folder} has no {name}, so it is not a complete checkpoint; "
                                  f"pass the folder that lstm_numpy.train wrote, or train again.")
    meta = _read_meta(folder)
    arrays = _read_weights(folder, meta["weights_sha256"])
    folder = given  # files read: messages name the checkpoint as the user knows it

    vocabulary = meta["vocabulary"]
    if (not isinstance(vocabulary, list) or not vocabulary
            or not all(isinstance(v, str) for v in vocabulary) or len(set(vocabulary)) != len(vocabulary)):
        raise _corrupt(folder, "its vocabulary is not a list of distinct value strings")
    _check_vocabulary(folder, vocabulary)
    parameters = {key.split("/", 1)[1]: value for key, value in arrays.items()
                  if key.startswith("parameters/")}
    _check_parameters(folder, parameters, len(vocabulary))
    chords = _read_chords(folder, meta["chords"])
    register = _read_register(folder, meta.get("register"))  # absent from older checkpoints
    config = meta["config"] if meta["config"] is not None else {}
    if not isinstance(config, dict):
        raise _corrupt(folder, "its configuration is not a JSON object")
    _check_config_fits(folder, config, parameters)

    optimizer_state = None
    if meta["optimizer"] is not None:
        try:
            optimizer_state = _join_arrays(meta["optimizer"], arrays)
        except KeyError as missing:
            raise _corrupt(folder, f"the optimizer array {missing} is missing from {WEIGHTS}") from None
    epoch = meta["epoch"]
    if epoch is not None and (not isinstance(epoch, int) or isinstance(epoch, bool) or epoch < 0):
        raise _corrupt(folder, f"its epoch {epoch!r} is not a whole number of 0 or more")
    _check_history(folder, meta["history"])

    corpus = None
    if "corpus/values" in arrays:
        try:
            corpus = Corpus(*(arrays[f"corpus/{name}"] for name in CORPUS_ARRAYS))
        except KeyError as missing:
            raise _corrupt(folder, f"the corpus array {missing} is missing from {WEIGHTS}") from None
        if not corpus_holds_together(corpus, len(vocabulary)):
            raise _corrupt(folder, "its training corpus does not fit its vocabulary")

    model = Model(parameters=parameters, indices_values=vocabulary, chords=chords, config=config,
                  register=register)
    return Checkpoint(model=model, optimizer_state=optimizer_state, epoch=epoch,
                      history=meta["history"], path=folder, corpus=corpus)


def _corrupt(folder: Path, what: str) -> CheckpointError:
    return CheckpointError(f"checkpoint {folder} is corrupt: {what}; train again or restore the folder from a backup.")


def _read_meta(folder: Path) -> Dict[str, Any]:
    try:
        meta = json.loads((folder / META).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise _corrupt(folder, f"{META} is not valid JSON ({error})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{folder / META} is not an lstm_numpy checkpoint; pass the folder "
                              f"that lstm_numpy.train wrote.")
    version = meta.get("version")
    if version != VERSION:
        raise CheckpointError(f"checkpoint {folder} has format version {version!r} but this lstm_numpy "
                              f"reads version {VERSION}; use the lstm_numpy that wrote it, or train again.")
    missing = [key for key in ("config", "vocabulary", "chords", "epoch", "history", "optimizer",
                               "weights_sha256", "content_sha256") if key not in meta]
    if missing:
        raise _corrupt(folder, f"{META} lacks the field(s) {', '.join(missing)}")
    if meta["content_sha256"] != _content_sha256(meta):
        raise CheckpointError(
            f"{folder / META} does not match its own checksum: it was edited or damaged (its "
            f"vocabulary, configuration, chords or history may be wrong); train again or restore "
            f"the folder from a backup."
        )
    return meta


def _read_weights(folder: Path, expected_sha256: str) -> Dict[str, np.ndarray]:
    data = (folder / WEIGHTS).read_bytes()
    if hashlib.sha256(data).hexdigest() != expected_sha256:
        raise CheckpointError(
            f"{folder / WEIGHTS} does not match the checksum in {META}: the file is damaged or "
            f"belongs to another checkpoint; train again or restore the folder from a backup."
        )
    try:
        return _npz_arrays(data)
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as error:
        raise _corrupt(folder, f"{WEIGHTS} cannot be read ({error})") from None


# The header _npz_bytes writes for a C-ordered array of plain numbers (np.lib.format's own
# layout, then spaces up to a multiple of 64 bytes, then a newline).
_NPY_MAGIC = b"\x93NUMPY\x01\x00"
_NPY_HEADER = re.compile(r"\{'descr': '([<>|][biuf][0-9]+)', 'fortran_order': False, "
                         r"'shape': \(((?:[0-9]+, ?)*[0-9]*)\), \} *\n")


def _npz_arrays(data: bytes) -> Dict[str, np.ndarray]:
    """The arrays of an .npz archive (the bytes of the whole file), by name, as np.load gives them.

    np.load reads each array through a file object and parses its header as Python code, which
    took 350 us for a course model, most of loading a checkpoint. The archives _npz_bytes writes
    are simpler: every entry stored uncompressed, with a fixed header, so an array is a slice of
    the file, copied. Anything else (compressed entries, Fortran order, other dtypes) is read by
    NumPy's own reader, which raises ValueError for what it cannot read. The entries' CRC-32s are
    not checked again: the caller has checked the whole file's SHA-256.
    """
    arrays = {}
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for info in archive.infolist():
            name = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
            array = _stored_npy(data, info) if info.compress_type == zipfile.ZIP_STORED else None
            if array is None:
                with archive.open(info) as entry:
                    array = np.lib.format.read_array(entry, allow_pickle=False)
            arrays[name] = array
    return arrays


def _stored_npy(data: bytes, info: zipfile.ZipInfo) -> Optional[np.ndarray]:
    """The array in an uncompressed entry with _npz_bytes's header; None for any other entry."""
    local = info.header_offset  # the entry's local header: 30 bytes, its name, an extra field
    if data[local : local + 4] != b"PK\x03\x04":
        return None
    start = (local + 30 + int.from_bytes(data[local + 26 : local + 28], "little")
             + int.from_bytes(data[local + 28 : local + 30], "little"))
    end = start + info.file_size
    header_length = int.from_bytes(data[start + 8 : start + 10], "little")
    body = start + 10 + header_length
    if data[start : start + 8] != _NPY_MAGIC or not body <= end <= len(data):
        return None
    match = _NPY_HEADER.fullmatch(data[start + 10 : body].decode("latin1"))
    if match is None:
        return None
    dtype = np.dtype(match[1])
    shape = tuple(int(n) for n in match[2].split(",") if n.strip())
    count = math.prod(shape)
    if count * dtype.itemsize != end - body:
        return None
    # a copy: a view would keep the whole file alive, and be read-only and possibly misaligned
    return np.frombuffer(data, dtype, count, offset=body).reshape(shape).copy()


def _check_vocabulary(folder: Path, vocabulary: List[str]) -> None:
    for value in vocabulary:
        if not _is_value(value):
            raise _corrupt(folder, f"its vocabulary holds {value!r}, which is not a value of the grammar")


@lru_cache(maxsize=4096)
def _is_value(value: str) -> bool:
    """Whether value is a value of the grammar. Remembered: parsing the course's 78 values takes
    about 190 us, which a program reading the same checkpoint (or a later one) again need not repeat."""
    from .grammar import parse_value  # imported on use: only this check needs the grammar

    try:
        parse_value(value)
    except LstmNumpyError:
        return False
    return True


def _check_parameters(folder: Path, parameters: Dict[str, np.ndarray], n_values: int) -> None:
    missing = [name for name in PARAMETER_NAMES if name not in parameters]
    if missing:
        raise _corrupt(folder, f"{WEIGHTS} lacks the parameter(s) {', '.join(missing)}")
    n_a = parameters["Wf"].shape[0] if parameters["Wf"].ndim == 2 else -1
    # the conditioned model's gates read its features too, n_d more input columns
    n_features = N_FEATURES if parameters["Wf"].shape[1:] == (n_a + n_values + N_FEATURES,) else 0
    for name, shape in parameter_shapes(n_a, n_values, n_features).items():
        value = parameters[name]
        if value.shape != shape:
            raise CheckpointError(
                f"checkpoint {folder} does not fit together: {name} has shape {value.shape} but "
                f"{n_values} values and n_a = {n_a} need {shape}; the weights and the vocabulary "
                f"come from different runs, so train again."
            )
        if value.dtype.kind != "f" or not np.all(np.isfinite(value)):
            raise _corrupt(folder, f"{name} holds values that are not finite floating-point numbers")
        if value.dtype not in (np.float32, np.float64) or value.dtype != parameters["Wf"].dtype:
            raise _corrupt(folder, f"{name} is {value.dtype.name}, but the weights must all be float32 "
                                   f"or all float64")


def _check_config_fits(folder: Path, config: Dict[str, Any], parameters: Dict[str, np.ndarray]) -> None:
    """The configuration's n_a and dtype, where it gives them, are those of the weights.

    (Whether each setting is one training accepts is for training to check when it resumes.)
    """
    weights = parameters["Wf"]
    kind = "conditioned" if weights.shape[1] > weights.shape[0] + parameters["Wy"].shape[0] else "course"
    for key, actual in (("n_a", weights.shape[0]), ("dtype", weights.dtype.name), ("model", kind)):
        if key in config and config[key] != actual:
            raise _corrupt(folder, f"its configuration says {key} = {config[key]!r} but the weights have {actual!r}")


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _check_history(folder: Path, history) -> None:
    """The history is None or {"loss": [a number per epoch], "accuracy": [a list of numbers per
    epoch]}; other keys hold lists too, as training adds them."""
    if history is None:
        return
    if not isinstance(history, dict) or not all(isinstance(v, list) for v in history.values()):
        raise _corrupt(folder, "its history is not a JSON object of lists")
    if not all(_is_number(x) for x in history.get("loss", [])) or not all(
            isinstance(row, list) and all(_is_number(x) for x in row) for row in history.get("accuracy", [])):
        raise _corrupt(folder, "its history's loss or accuracy holds something other than finite numbers")


def _read_register(folder: Path, register) -> Optional[tuple]:
    if register is None:
        return None
    if (not isinstance(register, list) or len(register) != 2
            or not all(type(p) is int and 0 <= p <= 127 for p in register) or register[0] > register[1]):
        raise _corrupt(folder, "its register is not two MIDI pitches [lowest, highest]")
    return tuple(register)


def _read_chords(folder: Path, bars) -> List[List[Chord]]:
    try:
        return [[Chord(offset=Fraction(c["offset"]), duration=Fraction(c["duration"]),
                       pitches=tuple(int(p) for p in c["pitches"]), velocity=int(c["velocity"]))
                 for c in bar] for bar in bars]
    except (TypeError, ValueError, KeyError, ZeroDivisionError):
        raise _corrupt(folder, "its chords are not lists of {offset, duration, pitches, velocity}") from None
