"""On a fresh clone, compile the kernels a training command needs last in a second process.

A training command on a fresh clone (or after ``kernels.py`` changed) compiles every kernel before
it runs them, about ten seconds on one core: the passes through time, then on the first batch
the gradients' return to the course's layout and Adam's update, and after the last epoch the
sampling kernel for the first solo, the largest of them (3-4 s). The machines this runs on have
two cores or more, and a compiling process uses one. So the command starts a second Python
process (``start``) that compiles the last three into numba's on-disk cache, in that order,
while this one compiles the passes and runs training; when this process first calls one of
them, numba reads it from the cache. Once the cache holds the kernels, nothing here runs:
``train`` asks ``kernels.compiled_on_disk`` first, as it did before.

Each of those kernels has a lock (a file in a folder of the command's own), and whichever process
takes it first compiles the kernel:

* numba's cache has no lock of its own, and two processes must never write one function's
  entries at the same time: saving an entry, numba reads the function's index, adds the entry
  with the first data file number free in what it read, and writes the index back, so two
  entries saved at once could both take number 1 and one signature would be sent to the other's
  code. The second process compiles a kernel only while it holds the kernel's lock, and saves
  nothing else (the kernels it calls, ``all_finite``, ``aligned_empty``, ``same_values`` ...,
  compile into its memory only: their code is part of each caller's compiled code). This
  process takes the lock at its first call of the kernel, and keeps it: it waits while the
  second process is compiling that kernel, then reads it from the cache; when the second
  process has not got to it yet, it compiles the kernel itself, and the second process, finding
  the lock taken, leaves it out.
* So nothing is ever compiled twice at once, and waiting happens only for work under way.

The second process pays off only on a free core: where the command's processes share one core,
its own start-up, numba's set-up and the small kernels it compiles again (about 1.3 s of CPU)
come out of the command's time. So it first watches the machine for a quarter of a second
(Linux's ``/proc/stat``), while the command compiles, and ends at once unless half a core or
more stood idle (``MIN_IDLE_CORES``); and none is started where the command may use one core
only.

Nothing can be lost but time: whatever goes wrong in the second process (it cannot start, it
fails, the cache cannot be written, it compiled for other argument types), this process finds no
entry it can use in the cache and compiles the kernel itself. A second process holding a lock for
``TIMEOUT`` seconds is stopped. It ends with the command: the command stops it on exit, and it ends
itself when the command is gone (killed outright, so that no later process finds it still
writing). Without file locks (Windows) there is no second process.
"""

from __future__ import annotations

import argparse
import atexit
import functools
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Callable, Dict, Optional, Sequence

from . import files

# The kernels compiled in the second process, by model kind, in the order the command needs them.
KERNELS = {model: ("course_gradients_kernel", "adam_update", sampler)
           for model, sampler in (("course", "sample_kernel"), ("conditioned", "sample_solo_kernel"))}

# Seconds this process waits for a kernel the second process is compiling before it stops that
# process and compiles the kernel itself. Generous: on a loaded machine compiling is slow anywhere.
TIMEOUT = 120.0

# The idle cores, on average over IDLE_WATCH seconds while the command compiles, below which the
# second process ends without compiling anything.
MIN_IDLE_CORES = 0.5
IDLE_WATCH = 0.25


class CompileAhead:
    """The second process, and the hooks that make this one take a kernel's lock at its first call.

    process: the running second process; locks: the folder of the kernels' lock files;
    dispatchers: the kernels, by name. numba calls a dispatcher's ``_compile_for_args`` when no
    compiled version fits the arguments: the lock is taken there, and the hook removed.
    """

    def __init__(self, process: subprocess.Popen, locks: Path, dispatchers: Dict[str, object],
                 timeout: float = TIMEOUT):
        self.process = process
        self.locks = locks
        self.timeout = timeout
        self._held = ExitStack()  # the locks taken, kept until the second process has ended
        self._taken = set()  # their kernels' names
        self._taking = threading.Lock()  # two threads may call a kernel first together (--threads 2)
        self._hooked = dict(dispatchers)
        for name, dispatcher in self._hooked.items():
            dispatcher._compile_for_args = functools.partial(self._first_call, name, dispatcher)
        atexit.register(self.stop)

    def take(self, name: str) -> None:
        """Take `name`'s lock and keep it, so that the second process leaves `name` alone from now
        on: at once when that process has not started on `name`, else once it has finished it or
        ended (or been stopped, after `timeout` seconds); when it has ended, no lock is needed."""
        with self._taking:  # this process's lock on the file would keep out its other threads too
            deadline = time.monotonic() + self.timeout
            while name not in self._taken and self.process.poll() is None:
                try:
                    self._held.enter_context(files.locked(self.locks / name, wait=False))
                    self._taken.add(name)
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        self.stop()
                    else:
                        time.sleep(0.01)

    def stop(self) -> None:
        """End the second process if it still runs (a kernel it was writing is simply missing
        from the cache: numba replaces files whole), and remove the locks."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self._held.close()
        shutil.rmtree(self.locks, ignore_errors=True)

    def _first_call(self, name: str, dispatcher, *args):
        self.take(name)
        if self._hooked.pop(name, None) is not None:
            del dispatcher._compile_for_args
        return type(dispatcher)._compile_for_args(dispatcher, *args)  # numba's own, reading the cache first


def start(model: str, dtype, command: Optional[Sequence[str]] = None,
          timeout: float = TIMEOUT) -> Optional[CompileAhead]:
    """Start compiling the kernels of KERNELS[model] for `dtype` in a second process; None if there
    are no file locks or it cannot start (this process then compiles everything itself).
    command: what to run instead of ``python -m lstm_numpy.compile_ahead`` (tests); the folder
    of the locks is appended to it."""
    import numpy as np

    from . import kernels, machine

    if files.fcntl is None or machine.usable_cores() < 2:
        return None
    names = KERNELS[model]
    if command is None:
        command = [sys.executable, "-m", __name__, "--model", model, "--dtype", np.dtype(dtype).name,
                   "--parent", str(os.getpid()), *names, "--locks"]
    try:
        locks = Path(tempfile.mkdtemp(prefix="lstm_numpy-compiling-"))
    except OSError:  # no writable temporary folder
        return None
    try:
        process = subprocess.Popen([*command, str(locks)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
    except OSError:
        shutil.rmtree(locks, ignore_errors=True)
        return None
    return CompileAhead(process, locks, {name: getattr(kernels, name) for name in names}, timeout)


# --------------------------------------------------------------------------------------------
# The second process
# --------------------------------------------------------------------------------------------


def idle_cores(seconds: float = IDLE_WATCH) -> Optional[float]:
    """How many of the machine's cores stood idle, on average, over the next `seconds` (from
    Linux's /proc/stat); None where that cannot be read."""
    def idle_and_total():
        with open("/proc/stat") as stat:
            ticks = [int(n) for n in stat.readline().split()[1:9]]  # user nice system idle iowait irq softirq steal
        return ticks[3] + ticks[4], sum(ticks)

    try:
        idle, total = idle_and_total()
        time.sleep(seconds)
        idle_after, total_after = idle_and_total()
    except (OSError, ValueError, IndexError):
        return None
    if total_after <= total:
        return None
    return (idle_after - idle) / (total_after - total) * (os.cpu_count() or 1)


def _calls(model: str, dtype) -> Dict[str, Callable[[], object]]:
    """For each kernel, a call that compiles it through the code path training takes, so that it
    is compiled for the argument types the command will pass (a model's size does not matter:
    numba compiles for types, not sizes)."""
    import numpy as np

    from .improvise import generate_music
    from .layout import course_gradients_compiled, padded
    from .model import init_model
    from .optim import Adam

    tiny = init_model(["C,0.250", "R,0.500"], n_a=4, dtype=dtype, model=model)
    zeros = {"d" + name: np.zeros_like(p) for name, p in tiny.parameters.items()}
    n4, n_x = 4 * tiny.n_a, tiny.parameters["Wf"].shape[1] - tiny.n_a
    solo = functools.partial(generate_music, tiny, changes="C7", n_bars=1, temperature=1.0, seed=0)
    return {"course_gradients_kernel": functools.partial(  # the passes' gradients, as fit hands them on
                course_gradients_compiled, np.zeros((tiny.n_a, padded(n4 + tiny.n_values)), dtype),
                np.zeros((n_x, n4), dtype), np.zeros(n4, dtype), np.zeros(tiny.n_values, dtype)),
            "adam_update": functools.partial(Adam().step, tiny.parameters, zeros),
            "sample_kernel": solo, "sample_solo_kernel": solo}


def save_only(names: Sequence[str]) -> None:
    """Keep numba from writing any kernel's cache but those named: the others compile into this
    process's memory (see the module's docstring)."""
    from numba.core.caching import NullCache
    from numba.core.dispatcher import Dispatcher

    from . import kernels

    for name, value in vars(kernels).items():
        if isinstance(value, Dispatcher) and name not in names:
            value._cache = NullCache()


def _end_with(parent: int) -> None:
    """End this process as soon as `parent` has ended (its children are then adopted by another)."""
    def watch():
        while os.getppid() == parent:
            time.sleep(0.1)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lstm_numpy.compile_ahead",
                                     description="Compile kernels into numba's on-disk cache, each while holding "
                                                 "its lock, and print each name when done; a kernel whose lock "
                                                 "is taken is left out.")
    parser.add_argument("kernels", nargs="+", choices=sorted(set().union(*KERNELS.values())))
    parser.add_argument("--locks", type=Path, required=True, help="the folder of the kernels' lock files")
    parser.add_argument("--model", choices=sorted(KERNELS), default="course")
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    parser.add_argument("--parent", type=int, help="the process id of the command: end when it ends")
    parser.add_argument("--min-idle", type=float, default=MIN_IDLE_CORES, metavar="CORES",
                        help="end at once unless this many cores stand idle meanwhile (0: do not watch)")
    args = parser.parse_args(argv)
    if args.parent is not None:
        _end_with(args.parent)
    if args.min_idle > 0:  # before the imports, which alone take a few tenths of a second of CPU
        idle = idle_cores()
        if idle is not None and idle < args.min_idle:
            return 0  # no core to spare: the command compiles every kernel itself
    save_only(args.kernels)
    calls = _calls(args.model, args.dtype)
    for name in args.kernels:
        with ExitStack() as held:
            try:
                held.enter_context(files.locked(args.locks / name, wait=False))
            except BlockingIOError:
                continue  # the command has taken it
            calls[name]()
        print(name, flush=True)
    return 0


if __name__ == "__main__":
    from . import cli

    cli.run(main)
