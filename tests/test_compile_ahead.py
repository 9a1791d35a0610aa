"""The fresh clone's second compiling process (``compile_ahead``): what it writes into numba's
cache, that the command then reads its kernels from there, and that whatever becomes of it the
command compiles for itself."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from numba import njit

from lstm_numpy import compile_ahead

REPO = Path(__file__).resolve().parents[1]


def python(code: str, cache: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "NUMBA_CACHE_DIR": str(cache)}, timeout=300)


# What the command's own calls find in the cache: Adam's update as fit makes it, and the first solo
# as train's generate_music samples it, on a model of another size than the second process's.
COMMANDS_CALLS = """
import numpy as np
from lstm_numpy import kernels
from lstm_numpy.improvise import generate_music
from lstm_numpy.model import init_model
from lstm_numpy.optim import Adam
model = init_model([f"C,0.{k}50" for k in range(1, 8)], n_a=16, dtype=np.float32)
Adam(lr=0.005).step(model.parameters, {"d" + k: np.ones_like(p) for k, p in model.parameters.items()})
generate_music(model, changes="F7 | Bb7", n_bars=2, temperature=1.0, seed=3)
for name in ("adam_update", "sample_kernel"):
    stats = getattr(kernels, name).stats
    print(name, sum(stats.cache_hits.values()), sum(stats.cache_misses.values()))
"""


def test_the_second_process_fills_the_cache_with_its_kernels_only_and_the_command_reads_them(tmp_path):
    cache = tmp_path / "numba-cache"
    ahead = subprocess.run([sys.executable, "-m", "lstm_numpy.compile_ahead", *compile_ahead.KERNELS["course"]],
                           cwd=REPO, capture_output=True, text=True, env={**os.environ, "NUMBA_CACHE_DIR": str(cache)},
                           timeout=300)
    assert ahead.returncode == 0, ahead.stderr
    assert ahead.stdout.split() == ["adam_update", "sample_kernel"]
    # the kernels they call (all_finite, aligned_empty, same_values ...) compiled in memory only,
    # so that the command may save those at the same time
    indexes = sorted(p.name.split("-")[0] for p in cache.rglob("*.nbi"))
    assert indexes == ["kernels.adam_update", "kernels.sample_kernel"]
    found = python(COMMANDS_CALLS, cache)
    assert found.returncode == 0, found.stderr
    # each read from the cache once, never compiled
    assert found.stdout.split("\n")[:2] == ["adam_update 1 0", "sample_kernel 1 0"]


@njit
def plus_one(x):
    return x + 1


def fake_second_process(code: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)


def test_a_first_call_waits_until_the_second_process_reports_the_kernel():
    # the report comes late: the call must not go ahead before it
    process = fake_second_process("import time; time.sleep(0.3); print('plus_one', flush=True); time.sleep(0.3)")
    ahead = compile_ahead.CompileAhead(process, {"plus_one": plus_one})
    assert plus_one(np.int64(1)) == 2
    assert ahead.reported == ["plus_one"]
    assert "_compile_for_args" not in vars(plus_one)  # the hook is gone: numba's own again
    ahead.stop()


def test_a_failed_second_process_leaves_the_kernel_to_this_one():
    process = fake_second_process("import sys; print('something else', flush=True); sys.exit(1)")
    ahead = compile_ahead.CompileAhead(process, {"plus_one": plus_one})
    assert plus_one(2.5) == 3.5  # compiled here
    assert process.returncode == 1 and ahead.reported == ["something else"]
    assert "_compile_for_args" not in vars(plus_one)


def test_a_second_process_that_takes_too_long_is_stopped_before_this_one_compiles():
    process = fake_second_process("import time; time.sleep(60)")
    ahead = compile_ahead.CompileAhead(process, {"plus_one": plus_one}, timeout=0.2)
    assert plus_one(np.float32(1)) == 2
    assert process.returncode is not None and process.returncode != 0  # killed, not finished
    assert ahead.reported == []


def test_no_second_process_when_it_cannot_start():
    assert compile_ahead.start("course", np.float32, command=[str(REPO / "no-such-program")]) is None


def test_the_second_process_ends_when_its_command_has_ended(tmp_path):
    # a command killed outright cannot stop it, so it watches the command itself: here the command
    # named has ended already, and another process (this one) has taken its place as the parent
    command = subprocess.Popen([sys.executable, "-c", "pass"])
    command.wait()
    ended = subprocess.run([sys.executable, "-m", "lstm_numpy.compile_ahead", "--parent", str(command.pid), "adam_update"],
                           cwd=REPO, capture_output=True, text=True, env={**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)},
                           timeout=300)
    assert ended.returncode == 1 and ended.stdout == ""
    assert not list(tmp_path.rglob("*.nbi"))
