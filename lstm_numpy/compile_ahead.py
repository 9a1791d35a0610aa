"""On a fresh clone, compile the kernels a training command needs last in a second process.

A training command on a fresh clone (or after ``kernels.py`` changed) compiles every kernel before
it runs them, about ten seconds on one core: the passes through time, then Adam's update on the
first batch, and after the last epoch the sampling kernel for the first solo, the largest of them
(3-4 s). The machines this runs on have two cores or more, and a compiling process uses one. So
the command starts a second Python process (``start``) that compiles Adam's update and the
sampling kernel into numba's on-disk cache while this one compiles and runs training; when this
process first calls one of them, it waits until the other reports it compiled, and numba reads
it from the cache. Once the cache holds the kernels, nothing here runs: ``train`` asks
``kernels.compiled_on_disk`` first, as it did before.

numba's cache has no lock, so the two processes must never write one function's entries at the
same time. Saving an entry, numba reads the function's index, adds the entry with the first data
file number free in what it read, and writes the index back: two processes saving two entries of
one function at once could both take number 1, and the index would then send one signature to
the other's code. So each function's cache is written by one process at a time:

* the second process saves only the kernels it was given (``KERNELS``). The kernels they call
  (``all_finite``, ``aligned_empty``, ``same_values`` ...) are compiled there into memory only:
  their code is part of each caller's compiled code, so nothing is lost;
* this process, at its first call of one of those kernels, waits until the second process has
  reported it done, or has ended (it failed: this process then compiles the kernel itself, as
  it would have without the second process), or has taken ``TIMEOUT`` seconds, when it is
  stopped first. Only then is the kernel compiled or read here, so never by both at once.

Nothing can be lost but time: whatever goes wrong in the second process (it cannot start, it
fails, the cache cannot be written, it compiled for other argument types), this process finds
no entry it can use in the cache and compiles the kernel itself, as before. The second process
ends with the command: the command stops it on exit, and it ends itself when the command is
gone (killed outright, so that no later process finds it still writing).
"""

from __future__ import annotations

import argparse
import atexit
import functools
import os
import subprocess
import sys
import threading
import time
from typing import Callable, Dict, Iterable, List, Optional, Sequence

import numpy as np

from . import kernels

# The kernels compiled in the second process, by model kind, in the order the command needs them.
KERNELS = {"course": ("adam_update", "sample_kernel"), "conditioned": ("adam_update", "sample_solo_kernel")}

# Seconds from the second process's start after which this process stops waiting for it, stops
# it and compiles on its own. Generous: on a loaded machine compiling is slow in either process.
TIMEOUT = 120.0


class CompileAhead:
    """The second process, and the hooks that make this one wait for its kernels.

    process: a running process that prints each kernel's name on a line of its own once that
    kernel is in numba's cache; dispatchers: the kernels it compiles, by those names. Until a
    kernel is reported, or the process has ended, the kernel's first call waits (numba calls a
    dispatcher's ``_compile_for_args`` when no compiled version fits the arguments: that is
    where the wait is hooked in, and removed again after it).
    """

    def __init__(self, process: subprocess.Popen, dispatchers: Dict[str, object], timeout: float = TIMEOUT):
        self.process = process
        self.timeout = timeout
        self.reported: List[str] = []
        self._ended = False
        self._changed = threading.Condition()
        self._hooked = dict(dispatchers)
        for name, dispatcher in self._hooked.items():
            dispatcher._compile_for_args = functools.partial(self._first_call, name, dispatcher)
        threading.Thread(target=self._read, name="compile-ahead", daemon=True).start()
        atexit.register(self.stop)

    def _read(self) -> None:
        try:
            for line in self.process.stdout:
                with self._changed:
                    self.reported.append(line.strip())
                    self._changed.notify_all()
        finally:
            self.process.wait()
            with self._changed:
                self._ended = True
                self._changed.notify_all()

    def wait_for(self, name: str) -> bool:
        """Wait until the second process has compiled `name` (True) or will not (False: it
        ended without it, or took too long and is stopped). Either way it no longer touches
        `name`'s cache afterwards."""
        with self._changed:
            self._changed.wait_for(lambda: name in self.reported or self._ended, self.timeout)
            if name in self.reported:
                return True
        self.stop()
        return False

    def stop(self) -> None:
        """End the second process if it still runs (a kernel it was writing is simply missing
        from the cache: numba replaces files whole) and wait for it."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()

    def _first_call(self, name: str, dispatcher, *args):
        self.wait_for(name)
        self._unhook(name)
        return dispatcher._compile_for_args(*args)  # numba's own, reading the cache first

    def _unhook(self, name: str) -> None:
        dispatcher = self._hooked.pop(name, None)
        if dispatcher is not None:
            del dispatcher._compile_for_args


def start(model: str, dtype, command: Optional[Sequence[str]] = None,
          timeout: float = TIMEOUT) -> Optional[CompileAhead]:
    """Start compiling the kernels of KERNELS[model] for `dtype` in a second process; None if it
    cannot start (this process then compiles everything itself). command: the process to run
    instead of ``python -m lstm_numpy.compile_ahead`` (tests)."""
    names = KERNELS[model]
    if command is None:
        command = [sys.executable, "-m", __name__, "--model", model, "--dtype", np.dtype(dtype).name,
                   "--parent", str(os.getpid()), *names]
    try:
        process = subprocess.Popen(list(command), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.DEVNULL, text=True)
    except OSError:
        return None
    return CompileAhead(process, {name: getattr(kernels, name) for name in names}, timeout)


# --------------------------------------------------------------------------------------------
# The second process
# --------------------------------------------------------------------------------------------


def _calls(model: str, dtype) -> Dict[str, Callable[[], object]]:
    """For each kernel, a call that compiles it through the code path training takes, so that it
    is compiled for the argument types the command will pass (a model's size does not matter:
    numba compiles for types, not sizes)."""
    from .improvise import generate_music
    from .model import init_model
    from .optim import Adam

    tiny = init_model(["C,0.250", "R,0.500"], n_a=4, dtype=dtype, model=model)
    zeros = {"d" + name: np.zeros_like(p) for name, p in tiny.parameters.items()}
    solo = functools.partial(generate_music, tiny, changes="C7", n_bars=1, temperature=1.0, seed=0)
    return {"adam_update": functools.partial(Adam().step, tiny.parameters, zeros),
            "sample_kernel": solo, "sample_solo_kernel": solo}


def save_only(names: Iterable[str]) -> None:
    """Keep numba from writing any kernel's cache but those named: the others compile into this
    process's memory (see the module's docstring)."""
    from numba.core.caching import NullCache
    from numba.core.dispatcher import Dispatcher

    keep = set(names)
    for name, value in vars(kernels).items():
        if isinstance(value, Dispatcher) and name not in keep:
            value._cache = NullCache()


def _end_with(parent: int) -> None:
    """End this process as soon as `parent` has ended (its children are then adopted by another).

    A command killed outright cannot stop its second process, which would otherwise go on
    writing the cache while a later process compiles the same kernels."""
    def watch():
        while os.getppid() == parent:
            time.sleep(0.1)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lstm_numpy.compile_ahead",
                                     description="Compile kernels into numba's on-disk cache, printing each name when done.")
    parser.add_argument("kernels", nargs="+", choices=sorted(set().union(*KERNELS.values())))
    parser.add_argument("--model", choices=sorted(KERNELS), default="course")
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    parser.add_argument("--parent", type=int, help="the process id of the command: end when it ends")
    args = parser.parse_args(argv)
    if args.parent is not None:
        _end_with(args.parent)
    save_only(args.kernels)
    calls = _calls(args.model, np.dtype(args.dtype))
    for name in args.kernels:
        calls[name]()
        print(name, flush=True)
    return 0


if __name__ == "__main__":
    from . import cli

    cli.run(main)
