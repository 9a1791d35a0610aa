"""Checkpoints: exact round trips, byte-identical saves, atomic replacement, and every corrupt case."""

import hashlib
import io
import json
import subprocess
import sys
import zipfile
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lstm_numpy import checkpoint as ckpt
from lstm_numpy.checkpoint import load_checkpoint, load_training_state, save_checkpoint
from lstm_numpy.errors import CheckpointError
from lstm_numpy.lstm import parameter_shapes
from lstm_numpy.model import Model
from lstm_numpy.notes import Chord


def make_model(n_a=5, n_values=7, dtype=np.float64, seed=0) -> Model:
    rng = np.random.default_rng(seed)
    parameters = {name: rng.standard_normal(shape).astype(dtype)
                  for name, shape in parameter_shapes(n_a, n_values).items()}
    vocabulary = [f"{'CSAX'[i % 4]},{0.25 * (i // 4 + 1):.3f}" for i in range(n_values)]
    chords = [
        [Chord(Fraction(476), Fraction(1, 3), (55, 59, 62)), Chord(Fraction(1435, 3), Fraction(0), (48, 52))],
        [],
        [Chord(Fraction(480), Fraction(4), (50, 53, 57, 60), velocity=64)],
    ]
    config = {"n_a": n_a, "lr": 0.01, "midi": ["a.mid"], "clip_norm": None, "dtype": np.dtype(dtype).name}
    return Model(parameters=parameters, indices_values=vocabulary, chords=chords, config=config,
                 register=(50, 81))


def adam_like_state(model: Model) -> dict:
    return {
        "lr": 0.01, "beta1": 0.9, "t": 7, "decay": np.float64(0.01),
        "m": {k: np.full_like(v, 0.5) for k, v in model.parameters.items()},
        "v": {k: np.full_like(v, 0.25) for k, v in model.parameters.items()},
        "betas": (0.9, 0.999),
    }


class FakeOptimizer:
    def __init__(self, state):
        self.state = state

    def state_dict(self):
        return self.state


def files_of(folder: Path) -> dict:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


# ------------------------------------------------------------------------------------ round trips

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_round_trip_is_exact(tmp_path, dtype):
    model = make_model(dtype=dtype)
    state = adam_like_state(model)
    history = {"loss": [126.1, 50.5, np.float32(5.25)], "accuracy": [[0.1, 0.5], [0.2, 1.0], np.array([0.3, 1.0])]}
    save_checkpoint(tmp_path / "ck", model, FakeOptimizer(state), epoch=3, history=history)

    loaded = load_training_state(tmp_path / "ck")
    for name, value in model.parameters.items():
        got = loaded.model.parameters[name]
        assert got.dtype == value.dtype and got.shape == value.shape
        assert got.tobytes() == value.tobytes(), f"{name} changed in the round trip"
    assert loaded.model.indices_values == model.indices_values
    assert loaded.model.chords == model.chords
    assert isinstance(loaded.model.chords[0][1].offset, Fraction)
    assert loaded.model.config == model.config
    assert loaded.config == model.config
    assert loaded.model.register == (50, 81)
    assert loaded.epoch == 3
    assert loaded.history == {"loss": [126.1, 50.5, 5.25], "accuracy": [[0.1, 0.5], [0.2, 1.0], [0.3, 1.0]]}
    opt = loaded.optimizer_state
    assert opt["lr"] == 0.01 and opt["t"] == 7 and opt["decay"] == 0.01 and list(opt["betas"]) == [0.9, 0.999]
    for name, value in state["m"].items():
        assert np.array_equal(opt["m"][name], value) and opt["m"][name].dtype == value.dtype
        assert np.array_equal(opt["v"][name], state["v"][name])
    assert load_checkpoint(tmp_path / "ck").n_values == 7


def test_a_vocabulary_dict_is_saved_in_index_order(tmp_path):
    model = make_model()
    vocabulary = list(model.indices_values)
    model.indices_values = {i: v for i, v in reversed(list(enumerate(vocabulary)))}
    save_checkpoint(tmp_path / "ck", model)
    assert load_checkpoint(tmp_path / "ck").indices_values == vocabulary


def test_optimizer_state_can_be_passed_directly_and_is_optional(tmp_path):
    model = make_model()
    save_checkpoint(tmp_path / "a", model, optimizer_state=adam_like_state(model), epoch=1)
    assert load_training_state(tmp_path / "a").optimizer_state["t"] == 7
    save_checkpoint(tmp_path / "b", model)
    state = load_training_state(tmp_path / "b")
    assert state.optimizer_state is None and state.epoch is None and state.history is None


@settings(max_examples=15, deadline=None)
@given(n_a=st.integers(1, 9), n_values=st.integers(1, 12), seed=st.integers(0, 2**32 - 1))
def test_round_trip_any_size(tmp_path_factory, n_a, n_values, seed):
    folder = tmp_path_factory.mktemp("ck") / "checkpoint"
    model = make_model(n_a, n_values, seed=seed)
    save_checkpoint(folder, model)
    loaded = load_checkpoint(folder)
    assert loaded.n_a == n_a and loaded.n_values == n_values
    for name in model.parameters:
        assert np.array_equal(loaded.parameters[name], model.parameters[name])


def test_weights_file_is_an_ordinary_npz(tmp_path):
    model = make_model()
    save_checkpoint(tmp_path / "ck", model)
    with np.load(tmp_path / "ck" / "weights.npz") as npz:
        assert np.array_equal(npz["parameters/Wy"], model.parameters["Wy"])
    meta = json.loads((tmp_path / "ck" / "checkpoint.json").read_text())
    assert meta["vocabulary"] == model.indices_values
    assert meta["chords"][0][1]["offset"] == "1435/3"
    assert meta["weights_sha256"] == hashlib.sha256((tmp_path / "ck" / "weights.npz").read_bytes()).hexdigest()


# ------------------------------------------------------------------------------- reading weights

@st.composite
def some_arrays(draw):
    """A few named arrays of the kinds a checkpoint can hold, some in Fortran order or big-endian."""
    arrays = {}
    for i in range(draw(st.integers(1, 4))):
        shape = tuple(draw(st.lists(st.integers(0, 5), max_size=3)))
        dtype = np.dtype(draw(st.sampled_from(["<f4", "<f8", ">f8", "<i8", "|b1", "<u2"])))
        values = np.abs(np.random.default_rng(draw(st.integers(0, 2**32 - 1))).standard_normal(shape)) * 50
        array = values.astype(dtype)
        if draw(st.booleans()):
            array = np.asfortranarray(array)
        arrays[f"group/{i}"] = array
    return arrays


@settings(max_examples=30, deadline=None)
@given(arrays=some_arrays())
def test_weights_are_read_as_numpy_reads_them(arrays):
    data = ckpt._npz_bytes(arrays)
    ours = ckpt._npz_arrays(data)
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        assert sorted(ours) == sorted(npz.files)
        for name in npz.files:
            theirs = npz[name]
            assert ours[name].dtype == theirs.dtype and ours[name].shape == theirs.shape
            assert ours[name].tobytes() == theirs.tobytes()
            assert ours[name].flags.writeable and ours[name].flags.aligned


def test_a_checkpoint_is_read_without_numpys_reader(tmp_path, monkeypatch):
    # the arrays we write (C order, plain numbers) are slices of the file, copied
    model = make_model(dtype=np.float32)
    save_checkpoint(tmp_path / "ck", model, FakeOptimizer(adam_like_state(model)))

    def refuse(*args, **kwargs):
        raise AssertionError("NumPy's reader was used")

    monkeypatch.setattr(np.lib.format, "read_array", refuse)
    state = load_training_state(tmp_path / "ck")
    for name, value in model.parameters.items():
        loaded = state.model.parameters[name]
        assert loaded.tobytes() == value.tobytes() and loaded.dtype == value.dtype
        assert loaded.flags.owndata and loaded.flags.writeable  # not a view of the file's bytes


def test_a_vocabulary_value_is_checked_in_every_load(tmp_path):
    # the check remembers values it has parsed; a bad value must still be refused every time
    folder = saved(tmp_path)
    load_checkpoint(folder)
    for _ in range(2):
        damage_vocabulary_not_of_the_grammar(folder)
        with pytest.raises(CheckpointError, match="not a value of the grammar"):
            load_checkpoint(folder)


# ------------------------------------------------------------------------------ reproducible bytes

def test_same_inputs_give_byte_identical_files(tmp_path):
    model = make_model()
    save_checkpoint(tmp_path / "one", model, FakeOptimizer(adam_like_state(model)), epoch=2, history={"loss": [1.0]})
    save_checkpoint(tmp_path / "two", make_model(), FakeOptimizer(adam_like_state(model)), epoch=2, history={"loss": [1.0]})
    assert files_of(tmp_path / "one") == files_of(tmp_path / "two")


def test_loading_and_saving_again_changes_no_byte(tmp_path):
    model = make_model(dtype=np.float32)
    save_checkpoint(tmp_path / "one", model, FakeOptimizer(adam_like_state(model)), epoch=5, history={"loss": [3.5]})
    state = load_training_state(tmp_path / "one")
    save_checkpoint(tmp_path / "two", state.model, optimizer_state=state.optimizer_state, epoch=state.epoch,
                    history=state.history)
    assert files_of(tmp_path / "one") == files_of(tmp_path / "two")


def test_zip_entries_carry_a_fixed_date(tmp_path):
    save_checkpoint(tmp_path / "ck", make_model())
    with zipfile.ZipFile(tmp_path / "ck" / "weights.npz") as archive:
        names = archive.namelist()
        assert names == sorted(names)
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}


# ---------------------------------------------------------------------------------------- atomicity

def test_saving_over_a_checkpoint_replaces_it_and_leaves_nothing_behind(tmp_path):
    save_checkpoint(tmp_path / "ck", make_model(seed=1))
    save_checkpoint(tmp_path / "ck", make_model(seed=2))
    loaded = load_checkpoint(tmp_path / "ck")
    assert np.array_equal(loaded.parameters["Wf"], make_model(seed=2).parameters["Wf"])
    assert sorted(p.name for p in tmp_path.iterdir()) == [".ck.lock", "ck"]


def test_a_crash_while_writing_keeps_the_old_checkpoint(tmp_path, monkeypatch):
    save_checkpoint(tmp_path / "ck", make_model(seed=1))
    before = files_of(tmp_path / "ck")
    real_write = ckpt._write_synced

    def fail_on_json(path, data):
        if path.name == "checkpoint.json":
            raise KeyboardInterrupt
        real_write(path, data)

    monkeypatch.setattr(ckpt, "_write_synced", fail_on_json)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(tmp_path / "ck", make_model(seed=2))
    assert files_of(tmp_path / "ck") == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [".ck.lock", "ck"]


def test_a_crash_between_the_renames_puts_the_old_checkpoint_back(tmp_path, monkeypatch):
    save_checkpoint(tmp_path / "ck", make_model(seed=1))
    before = files_of(tmp_path / "ck")
    real_replace = ckpt.os.replace
    calls = []

    def second_rename_fails(src, dst):
        calls.append((src, dst))
        if len(calls) == 2:
            raise OSError("disk gone")
        real_replace(src, dst)

    monkeypatch.setattr(ckpt.os, "replace", second_rename_fails)
    with pytest.raises(OSError):
        save_checkpoint(tmp_path / "ck", make_model(seed=2))
    monkeypatch.undo()
    assert files_of(tmp_path / "ck") == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [".ck.lock", "ck"]


def test_never_replaces_a_folder_holding_other_files(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "solo.mid").write_bytes(b"precious")
    with pytest.raises(CheckpointError, match="other files"):
        save_checkpoint(tmp_path / "out", make_model())
    assert (tmp_path / "out" / "solo.mid").read_bytes() == b"precious"
    (tmp_path / "file").write_text("x")
    with pytest.raises(CheckpointError, match="not a folder"):
        save_checkpoint(tmp_path / "file", make_model())


# ----------------------------------------------------------------------------------- corrupt cases

def saved(tmp_path) -> Path:
    folder = tmp_path / "ck"
    model = make_model()
    save_checkpoint(folder, model, FakeOptimizer(adam_like_state(model)), epoch=1)
    return folder


def rewrite_meta(folder: Path, change, fix_checksum=True) -> None:
    """Edit checkpoint.json; by default its checksum is made to fit, so that only the content is wrong."""
    meta = json.loads((folder / "checkpoint.json").read_text())
    change(meta)
    if fix_checksum:
        meta["content_sha256"] = ckpt._content_sha256(meta)
    (folder / "checkpoint.json").write_text(json.dumps(meta))


def rewrite_weights(folder: Path, arrays: dict) -> None:
    """Replace weights.npz and update its checksum, so that only the content is wrong."""
    data = ckpt._npz_bytes(arrays)
    (folder / "weights.npz").write_bytes(data)
    rewrite_meta(folder, lambda meta: meta.update(weights_sha256=hashlib.sha256(data).hexdigest()))


def all_arrays(folder: Path) -> dict:
    with np.load(folder / "weights.npz") as npz:
        return {name: npz[name] for name in npz.files}


def damage_missing_json(folder):
    (folder / "checkpoint.json").unlink()


def damage_missing_npz(folder):
    (folder / "weights.npz").unlink()


def damage_truncated_json(folder):
    text = (folder / "checkpoint.json").read_text()
    (folder / "checkpoint.json").write_text(text[: len(text) // 2])


def damage_binary_json(folder):
    (folder / "checkpoint.json").write_bytes(b"\xff\xfe\x00garbage")


def damage_foreign_json(folder):
    (folder / "checkpoint.json").write_text('{"hello": "world"}')


def damage_future_version(folder):
    rewrite_meta(folder, lambda meta: meta.update(version=99))


def damage_missing_field(folder):
    rewrite_meta(folder, lambda meta: meta.pop("vocabulary"))


def damage_truncated_npz(folder):
    data = (folder / "weights.npz").read_bytes()
    (folder / "weights.npz").write_bytes(data[: len(data) // 2])


def damage_flipped_byte(folder):
    data = bytearray((folder / "weights.npz").read_bytes())
    data[len(data) // 2] ^= 0x01
    (folder / "weights.npz").write_bytes(bytes(data))


def damage_not_a_zip_with_matching_checksum(folder):
    data = b"this is not a zip file at all"
    (folder / "weights.npz").write_bytes(data)
    rewrite_meta(folder, lambda meta: meta.update(weights_sha256=hashlib.sha256(data).hexdigest()))


def damage_vocabulary_longer_than_weights(folder):
    rewrite_meta(folder, lambda meta: meta["vocabulary"].append("R,2.000"))


def damage_vocabulary_with_duplicates(folder):
    rewrite_meta(folder, lambda meta: meta["vocabulary"].__setitem__(1, meta["vocabulary"][0]))


def damage_vocabulary_not_of_the_grammar(folder):
    rewrite_meta(folder, lambda meta: meta["vocabulary"].__setitem__(2, "Q,zero"))


def damage_wrong_shape(folder):
    arrays = all_arrays(folder)
    arrays["parameters/bo"] = np.zeros((5, 2))
    rewrite_weights(folder, arrays)


def damage_missing_parameter(folder):
    arrays = all_arrays(folder)
    del arrays["parameters/Wy"]
    rewrite_weights(folder, arrays)


def damage_nan_weight(folder):
    arrays = all_arrays(folder)
    arrays["parameters/Wc"][0, 0] = np.nan
    rewrite_weights(folder, arrays)


def damage_integer_weights(folder):
    arrays = all_arrays(folder)
    arrays["parameters/by"] = np.zeros((7, 1), dtype=np.int64)
    rewrite_weights(folder, arrays)


def damage_missing_optimizer_array(folder):
    arrays = all_arrays(folder)
    del arrays["optimizer/m/Wf"]
    rewrite_weights(folder, arrays)


def damage_bad_chords(folder):
    rewrite_meta(folder, lambda meta: meta["chords"][0][0].update(offset="one"))


def damage_bad_register(folder):
    rewrite_meta(folder, lambda meta: meta.update(register=[81, 50]))


def damage_bad_epoch(folder):
    rewrite_meta(folder, lambda meta: meta.update(epoch=-4))


def damage_swapped_vocabulary(folder):
    def swap(meta):
        vocabulary = meta["vocabulary"]
        vocabulary[0], vocabulary[1] = vocabulary[1], vocabulary[0]
    rewrite_meta(folder, swap, fix_checksum=False)


def damage_edited_config(folder):
    rewrite_meta(folder, lambda meta: meta["config"].update(lr=0.5), fix_checksum=False)


def damage_missing_content_checksum(folder):
    rewrite_meta(folder, lambda meta: meta.pop("content_sha256"), fix_checksum=False)


def damage_float16_weights(folder):
    rewrite_weights(folder, {name: value.astype(np.float16) if name.startswith("parameters/") else value
                             for name, value in all_arrays(folder).items()})


def damage_mixed_float_types(folder):
    arrays = all_arrays(folder)
    arrays["parameters/bf"] = arrays["parameters/bf"].astype(np.float32)
    rewrite_weights(folder, arrays)


def damage_config_dtype(folder):
    rewrite_meta(folder, lambda meta: meta["config"].update(dtype="int8"))


def damage_config_n_a(folder):
    rewrite_meta(folder, lambda meta: meta["config"].update(n_a="abc"))


def damage_string_history(folder):
    rewrite_meta(folder, lambda meta: meta.update(history="loss: 1.0"))


def damage_history_not_numbers(folder):
    rewrite_meta(folder, lambda meta: meta.update(history={"loss": [1.0, "low"], "accuracy": [[0.5], [0.6]]}))


# each damage, and words its message must contain (so that the right check caught it)
DAMAGES = {
    damage_missing_json: "has no checkpoint.json",
    damage_missing_npz: "has no weights.npz",
    damage_truncated_json: "not valid JSON",
    damage_binary_json: "not valid JSON",
    damage_foreign_json: "not an lstm_numpy checkpoint",
    damage_future_version: "version 99",
    damage_missing_field: "lacks the field(s) vocabulary",
    damage_truncated_npz: "checksum",
    damage_flipped_byte: "checksum",
    damage_not_a_zip_with_matching_checksum: "cannot be read",
    damage_vocabulary_longer_than_weights: "does not fit together",
    damage_vocabulary_with_duplicates: "distinct",
    damage_vocabulary_not_of_the_grammar: "not a value of the grammar",
    damage_wrong_shape: "bo has shape (5, 2)",
    damage_missing_parameter: "lacks the parameter(s) Wy",
    damage_nan_weight: "Wc holds values that are not finite",
    damage_integer_weights: "by holds values that are not finite floating-point",
    damage_missing_optimizer_array: "optimizer array",
    damage_bad_chords: "chords",
    damage_bad_register: "register",
    damage_bad_epoch: "epoch -4",
    damage_swapped_vocabulary: "does not match its own checksum",
    damage_edited_config: "does not match its own checksum",
    damage_missing_content_checksum: "lacks the field(s) content_sha256",
    damage_float16_weights: "is float16, but the weights must all be float32 or all float64",
    damage_mixed_float_types: "bf is float32",
    damage_config_dtype: "dtype = 'int8' but the weights have 'float64'",
    damage_config_n_a: "n_a = 'abc' but the weights have 5",
    damage_string_history: "history is not a JSON object of lists",
    damage_history_not_numbers: "loss or accuracy holds something other than finite numbers",
}


def test_every_damage_function_is_listed():
    assert set(DAMAGES) == {f for name, f in globals().items() if name.startswith("damage_")}


@pytest.mark.parametrize("damage", list(DAMAGES), ids=lambda f: f.__name__[len("damage_"):])
def test_every_damage_is_one_clear_checkpoint_error(tmp_path, damage):
    folder = saved(tmp_path)
    damage(folder)
    with pytest.raises(CheckpointError) as caught:
        load_checkpoint(folder)
    message = str(caught.value)
    assert DAMAGES[damage] in message
    assert str(folder) in message, "the message names the checkpoint"
    assert "\n" not in message and message.endswith("."), "one sentence"


def test_missing_folder_and_file_instead_of_folder(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nowhere")
    (tmp_path / "plain").write_text("x")
    with pytest.raises(CheckpointError, match="is a file"):
        load_checkpoint(tmp_path / "plain")


def test_adam_resumes_bit_for_bit_from_a_checkpoint(tmp_path):
    from lstm_numpy import optim

    rng = np.random.default_rng(3)
    model = make_model(dtype=np.float32)
    grads = [{"d" + k: rng.standard_normal(v.shape).astype(np.float32) for k, v in model.parameters.items()}
             for _ in range(4)]

    straight = make_model(dtype=np.float32)
    adam = optim.Adam()
    for g in grads:
        adam.step(straight.parameters, g)

    adam = optim.Adam()
    for g in grads[:2]:
        adam.step(model.parameters, g)
    save_checkpoint(tmp_path / "ck", model, adam, epoch=2)
    state = load_training_state(tmp_path / "ck")
    resumed = optim.Adam()
    resumed.load_state_dict(state.optimizer_state)
    for g in grads[2:]:
        resumed.step(state.model.parameters, g)
    for name, value in straight.parameters.items():
        assert state.model.parameters[name].tobytes() == value.tobytes()


def test_a_run_folder_holding_the_checkpoint_can_be_given(tmp_path):
    model = make_model()
    save_checkpoint(tmp_path / "run" / "checkpoint", model)
    (tmp_path / "run" / "history.json").write_text("{}")
    loaded = load_checkpoint(tmp_path / "run")
    assert np.array_equal(loaded.parameters["Wf"], model.parameters["Wf"])
    with pytest.raises(CheckpointError, match="has no checkpoint.json"):
        load_checkpoint(tmp_path / "run" / "checkpoint" / ".." / "..")


def test_a_checkpoint_saved_before_registers_were_kept_loads_without_one(tmp_path):
    folder = saved(tmp_path)
    rewrite_meta(folder, lambda meta: meta.pop("register"))
    assert load_checkpoint(folder).register is None
    model = make_model()
    model.register = None
    save_checkpoint(tmp_path / "none", model)
    assert load_checkpoint(tmp_path / "none").register is None


# ----------------------------------------------------------------------- concurrency and kills

HELPERS = f"""
import sys
sys.path.insert(0, {str(Path(__file__).parent)!r})
from test_checkpoint import make_model
from lstm_numpy import checkpoint
"""


def run_python(code: str, *args, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", HELPERS + code, *map(str, args)], capture_output=True,
                          text=True, timeout=300, **kwargs)


def test_readers_during_saves_see_the_old_or_the_new_checkpoint_never_damage(tmp_path):
    folder = tmp_path / "ck"
    save_checkpoint(folder, make_model(seed=0))
    firsts = {seed: make_model(seed=seed).parameters["Wf"][0, 0] for seed in (0, 1, 2)}
    writer = subprocess.Popen([sys.executable, "-c", HELPERS + """
for k in range(100):
    checkpoint.save_checkpoint(sys.argv[1], make_model(seed=1 + k % 2))
""", str(folder)], stderr=subprocess.PIPE, text=True)
    reads = 0
    while writer.poll() is None or reads == 0:
        assert load_checkpoint(folder).parameters["Wf"][0, 0] in firsts.values()
        reads += 1
    assert writer.wait() == 0, writer.stderr.read()
    assert sorted(p.name for p in tmp_path.iterdir()) == [".ck.lock", "ck"]


def test_two_processes_saving_at_once_take_turns(tmp_path):
    code = """
import os, time
real_replace = os.replace
def slow_replace(src, dst):  # widens the moments between a save's steps, where saves could collide
    time.sleep(0.002)
    real_replace(src, dst)
os.replace = slow_replace
for k in range(40):
    checkpoint.save_checkpoint(sys.argv[1], make_model(seed=int(sys.argv[2])))
"""
    writers = [subprocess.Popen([sys.executable, "-c", HELPERS + code, str(tmp_path / "ck"), str(seed)],
                                stderr=subprocess.PIPE, text=True) for seed in (1, 2)]
    for writer in writers:
        assert writer.wait(timeout=300) == 0, writer.stderr.read()
    assert not [p.name for p in tmp_path.iterdir() if ".tmp-" in p.name or ".old-" in p.name]
    load_checkpoint(tmp_path / "ck")


def test_a_save_killed_between_its_renames_is_recovered_and_cleaned(tmp_path):
    old, new = make_model(seed=1), make_model(seed=2)
    save_checkpoint(tmp_path / "run" / "checkpoint", old)
    killed = run_python("""
import os, signal
real_replace, calls = os.replace, []
def replace_then_die(src, dst):
    calls.append(src)
    if len(calls) == 2:  # the old checkpoint has stepped aside; the new one is not in place yet
        os.kill(os.getpid(), signal.SIGKILL)
    real_replace(src, dst)
os.replace = replace_then_die
checkpoint.save_checkpoint(sys.argv[1], make_model(seed=2))
""", tmp_path / "run" / "checkpoint")
    assert killed.returncode == -9
    assert not (tmp_path / "run" / "checkpoint").exists()
    hidden = sorted(p.name.split("-")[0] for p in (tmp_path / "run").iterdir())
    assert hidden == [".checkpoint.lock", ".checkpoint.old", ".checkpoint.tmp"]
    for given in (tmp_path / "run" / "checkpoint", tmp_path / "run"):
        assert np.array_equal(load_checkpoint(given).parameters["Wf"], old.parameters["Wf"])
    save_checkpoint(tmp_path / "run" / "checkpoint", new)
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [".checkpoint.lock", "checkpoint"]
    assert np.array_equal(load_checkpoint(tmp_path / "run").parameters["Wf"], new.parameters["Wf"])


def test_a_killed_saves_staging_folder_is_removed_by_the_next_save(tmp_path):
    save_checkpoint(tmp_path / "ck", make_model(seed=1))
    stale = tmp_path / ".ck.tmp-0123abcd"
    stale.mkdir()
    (stale / "weights.npz").write_bytes(b"half a file")
    save_checkpoint(tmp_path / "ck", make_model(seed=2))
    assert sorted(p.name for p in tmp_path.iterdir()) == [".ck.lock", "ck"]
