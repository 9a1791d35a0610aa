"""The fresh clone's second compiling process (``compile_ahead``): what it writes into numba's
cache, that the command then reads its kernels from there, that the two never compile one kernel
at once, and that whatever becomes of the second process the command compiles for itself."""

import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from numba import njit

from lstm_numpy import compile_ahead, files

REPO = Path(__file__).resolve().parents[1]


def python(code: str, cache: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "NUMBA_CACHE_DIR": str(cache)}, timeout=300)


# What the command's own calls find in the cache: the gradients put back into the course's layout
# and Adam's update as fit makes them, and the first solo as train's generate_music samples it, on
# a model of another size than the second process's.
COMMANDS_CALLS = """
import numpy as np
from lstm_numpy import kernels, passes
from lstm_numpy.improvise import generate_music
from lstm_numpy.layout import course_gradients_compiled
from lstm_numpy.model import init_model
from lstm_numpy.optim import Adam
model = init_model([f"C,0.{k}50" for k in range(1, 8)], n_a=16, dtype=np.float32)
work = passes.Workspace()  # where the backward pass leaves them
dW, dWx = work.array("dW", (16, 80), np.float32), work.array("dWx", (7, 64), np.float32)
dW[...], dWx[...] = 1, 2
course_gradients_compiled(dW, dWx, np.ones(64, np.float32), np.ones(7, np.float32))
Adam(lr=0.005).step(model.parameters, {"d" + k: np.ones_like(p) for k, p in model.parameters.items()})
generate_music(model, changes="F7 | Bb7", n_bars=2, temperature=1.0, seed=3)
for name in ("course_gradients_kernel", "adam_update", "sample_kernel"):
    stats = getattr(kernels, name).stats
    print(name, sum(stats.cache_hits.values()), sum(stats.cache_misses.values()))
"""


def second_process(cache: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lstm_numpy.compile_ahead", *args], cwd=REPO, capture_output=True,
                          text=True, env={**os.environ, "NUMBA_CACHE_DIR": str(cache)}, timeout=300)


def test_the_second_process_fills_the_cache_with_its_kernels_only_and_the_command_reads_them(tmp_path):
    cache = tmp_path / "numba-cache"
    ahead = second_process(cache, *compile_ahead.KERNELS["course"], "--locks", str(tmp_path), "--min-idle", "0")
    assert ahead.returncode == 0, ahead.stderr
    assert ahead.stdout.split() == ["course_gradients_kernel", "adam_update", "sample_kernel"]
    # the kernels they call (all_finite, aligned_empty, same_values ...) compiled in memory only,
    # so that the command may save those at the same time
    indexes = sorted(p.name.split("-")[0] for p in cache.rglob("*.nbi"))
    assert indexes == ["kernels.adam_update", "kernels.course_gradients_kernel", "kernels.sample_kernel"]
    found = python(COMMANDS_CALLS, cache)
    assert found.returncode == 0, found.stderr
    # each read from the cache once, never compiled
    assert found.stdout.split("\n")[:3] == ["course_gradients_kernel 1 0", "adam_update 1 0", "sample_kernel 1 0"]


def test_the_conditioned_models_sampler_from_the_second_process_is_the_one_its_solo_reads(tmp_path):
    cache = tmp_path / "numba-cache"
    ahead = second_process(cache, "sample_solo_kernel", "--model", "conditioned", "--locks", str(tmp_path),
                           "--min-idle", "0")
    assert ahead.returncode == 0 and ahead.stdout.split() == ["sample_solo_kernel"], ahead.stderr
    found = python("""
import numpy as np
from lstm_numpy import kernels
from lstm_numpy.improvise import generate_music
from lstm_numpy.model import init_model
model = init_model([f"C,0.{k}50" for k in range(1, 8)], n_a=16, dtype=np.float32, model="conditioned")
generate_music(model, changes="F7 | Bb7", n_bars=2, temperature=1.0, seed=3)
stats = kernels.sample_solo_kernel.stats
print(sum(stats.cache_hits.values()), sum(stats.cache_misses.values()))
""", cache)
    assert found.returncode == 0, found.stderr
    assert found.stdout.split() == ["1", "0"]


def test_the_second_process_leaves_out_a_kernel_whose_lock_the_command_holds(tmp_path):
    with files.locked(tmp_path / "course_gradients_kernel"):
        ahead = second_process(tmp_path / "numba-cache", "course_gradients_kernel", "--locks", str(tmp_path),
                               "--min-idle", "0")
    assert ahead.returncode == 0 and ahead.stdout == "", ahead.stderr
    assert not list(tmp_path.rglob("*.nbi"))


@pytest.mark.skipif(not Path("/proc/stat").exists(), reason="idle cores are read from Linux's /proc/stat")
def test_the_second_process_compiles_nothing_without_idle_cores(tmp_path):
    # more idle cores asked for than any machine has: as on one whose cores are all busy
    ahead = second_process(tmp_path / "numba-cache", "adam_update", "--locks", str(tmp_path), "--min-idle", "1000")
    assert ahead.returncode == 0 and ahead.stdout == "", ahead.stderr
    assert not list(tmp_path.rglob("*.nbi"))


def test_idle_cores_are_counted_where_the_system_tells_them():
    idle = compile_ahead.idle_cores(0.2)
    if Path("/proc/stat").exists():
        assert 0 <= idle <= os.cpu_count()
    else:
        assert idle is None


def test_the_second_process_ends_when_its_command_has_ended(tmp_path):
    # a command killed outright cannot stop it, so it watches the command itself: here the command
    # named has ended already, and another process (this one) has taken its place as the parent
    command = subprocess.Popen([sys.executable, "-c", "pass"])
    command.wait()
    ended = second_process(tmp_path, "--parent", str(command.pid), "adam_update", "--locks", str(tmp_path))
    assert ended.returncode == 1 and ended.stdout == ""
    assert not list(tmp_path.rglob("*.nbi"))


@njit
def plus_one(x):
    return x + 1


@pytest.fixture
def locks(tmp_path):
    folder = tmp_path / "locks"
    folder.mkdir()
    return folder


def fake_second_process(locks: Path, code: str) -> subprocess.Popen:
    """A process running `code` with ``locked`` (files.locked) and ``lock`` (plus_one's lock file) at hand."""
    setup = f"import time; from lstm_numpy.files import locked; lock = {str(locks / 'plus_one')!r}\n"
    return subprocess.Popen([sys.executable, "-c", setup + code], stdout=subprocess.PIPE, text=True)


def test_a_first_call_waits_while_the_second_process_compiles_the_kernel(tmp_path, locks):
    done = tmp_path / "compiled"
    process = fake_second_process(locks, f"""
with locked(lock):
    print("compiling", flush=True)
    time.sleep(0.3)
    open({str(done)!r}, "w").close()
time.sleep(60)""")
    assert process.stdout.readline() == "compiling\n"
    ahead = compile_ahead.CompileAhead(process, locks, {"plus_one": plus_one})
    assert plus_one(np.int64(1)) == 2
    assert done.exists()  # the call went on only after the other had finished
    assert "_compile_for_args" not in vars(plus_one)  # the hook is gone: numba's own again
    assert process.poll() is None
    ahead.stop()
    assert process.returncode is not None and not locks.exists()


def test_a_first_call_before_the_second_process_got_to_the_kernel_compiles_it_here_and_keeps_the_lock(locks):
    process = fake_second_process(locks, "time.sleep(60)")
    ahead = compile_ahead.CompileAhead(process, locks, {"plus_one": plus_one})
    assert plus_one(np.int16(1)) == 2  # no waiting for work not begun
    assert process.poll() is None
    with pytest.raises(BlockingIOError):  # so the second process would leave it out
        with files.locked(locks / "plus_one", wait=False):
            pass
    ahead.stop()


def test_two_threads_calling_a_kernel_first_together_both_go_on(locks):
    # training with --threads 2 puts both parts' gradients back into the course's layout at once,
    # here while the second process compiles: once it is done, this process's lock on the
    # kernel's file must not keep its other thread waiting
    process = fake_second_process(locks, """
with locked(lock):
    print("compiling", flush=True)
    time.sleep(0.3)
time.sleep(60)""")
    assert process.stdout.readline() == "compiling\n"
    ahead = compile_ahead.CompileAhead(process, locks, {"plus_one": plus_one}, timeout=5)
    together = threading.Barrier(2)
    results = []

    def call():
        together.wait()
        results.append(plus_one(np.uint8(3)))

    threads = [threading.Thread(target=call) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [4, 4]
    assert process.poll() is None  # not stopped: neither call waited out the time limit
    ahead.stop()


def test_a_failed_second_process_leaves_the_kernel_to_this_one(locks):
    process = fake_second_process(locks, "import sys; sys.exit(1)")
    process.wait()
    ahead = compile_ahead.CompileAhead(process, locks, {"plus_one": plus_one})
    assert plus_one(2.5) == 3.5  # compiled here
    assert "_compile_for_args" not in vars(plus_one)
    ahead.stop()


def test_a_second_process_that_takes_too_long_is_stopped_before_this_one_compiles(locks):
    process = fake_second_process(locks, """
with locked(lock):
    print("compiling", flush=True)
    time.sleep(60)""")
    assert process.stdout.readline() == "compiling\n"
    ahead = compile_ahead.CompileAhead(process, locks, {"plus_one": plus_one}, timeout=0.2)
    assert plus_one(np.float32(1)) == 2
    assert process.returncode is not None and process.returncode != 0  # killed, not finished
    ahead.stop()


def test_no_second_process_when_it_cannot_start(monkeypatch):
    assert compile_ahead.start("course", np.float32, command=[str(REPO / "no-such-program")]) is None

    def no_temporary_folder(**kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(compile_ahead.tempfile, "mkdtemp", no_temporary_folder)  # nowhere for the locks
    assert compile_ahead.start("course", np.float32, command=[sys.executable, "-c", "pass"]) is None
