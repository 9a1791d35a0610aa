"""What the command-line tools share: argument errors and user errors as one sentence, and the
sampling defaults of the solos they improvise.

A user mistake (a missing file, a bad option value, a corrupt checkpoint) is not a crash: the tools
print one sentence on stderr and exit with status 2, with no traceback. Ctrl-C exits with 130, the
shell's convention for "interrupted".
"""

from __future__ import annotations

import argparse
import errno
import gc
import sys
import tempfile
from pathlib import Path
from typing import Callable, Optional, Sequence

from .errors import LstmNumpyError
from .limits import MAX_BARS

# A command's own process (``python -m lstm_numpy.train``, ``generate``, ``evaluate``) goes on to
# import numba and the package, a few hundred thousand objects that live until it exits, and the
# garbage collector would walk them again and again while they are made (about 40 ms). So in such
# a process it is off from here until ``run`` has frozen them, and then on again (every module of
# the package that runs as a program imports this one only to end in ``run``).
if getattr(sys.modules.get("__main__"), "__spec__", None) is not None \
        and sys.modules["__main__"].__spec__.name.startswith(__package__ + "."):
    gc.disable()

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130
MIN_TEMPO, MAX_TEMPO = 10, 1000  # beats per minute: what a listener can follow
SEED_MAX = 2**32 - 1  # NumPy's seeds for the windows, weights and shuffling are 32-bit words


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a bad option is reported in one sentence instead of the usage block."""

    def error(self, message: str):  # noqa: D401 - argparse's hook
        self.exit(EXIT_USER_ERROR, f"{self.prog}: error: {message}; run with --help to see the options.\n")


# How the default mode samples, for generate_music and every command that improvises: the model's
# own probabilities (temperature 1), drawn among all values. Chosen by measuring solos against
# their training music (README, "Improvising"): the greedy choice loops and low temperatures copy
# the training values; keeping only the 20 likeliest values restates more shapes, but once training
# had weight decay it pushed the Metheny model's chord tones and rests past their targets.
DEFAULT_TEMPERATURE = 1.0
DEFAULT_TOP_K = None  # None: among all values


def top_k(option: Optional[int]) -> Optional[int]:
    """A --top-k option as generate_music takes it: not given is the default, 0 is None (all)."""
    if option is None:
        return DEFAULT_TOP_K
    return option or None


def _whole_number(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


def non_negative_int(text: str) -> int:
    value = _whole_number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number of 0 or more, got {text!r}")
    return value


def positive_int(text: str) -> int:
    value = _whole_number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number above 0, got {text!r}")
    return value


def non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a finite number of 0 or more, got {text!r}")
    return value


def positive_float(text: str) -> float:
    value = non_negative_float(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"expected a number above 0, got {text!r}")
    return value


def fraction(text: str) -> float:
    """A share from 0 up to (not including) 1."""
    value = non_negative_float(text)
    if value >= 1:
        raise argparse.ArgumentTypeError(f"expected a number from 0 up to 1 (not 1 itself), got {text!r}")
    return value


def tempo(text: str) -> float:
    """Beats per minute, within what a MIDI file can hold and a listener can follow."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not MIN_TEMPO <= value <= MAX_TEMPO:
        raise argparse.ArgumentTypeError(f"expected a tempo from {MIN_TEMPO} to {MAX_TEMPO} beats per minute, got {text!r}")
    return value


def bar_count(text: str) -> int:
    value = positive_int(text)
    if value > MAX_BARS:
        raise argparse.ArgumentTypeError(f"expected at most {MAX_BARS} bars, got {text!r}")
    return value


def seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if not 0 <= value <= SEED_MAX:
        raise argparse.ArgumentTypeError(f"expected a seed from 0 to {SEED_MAX}, got {text!r}")
    return value


def output_path(text: str) -> str:
    """An output folder or file name: not empty, and not the file system's root."""
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a folder or file name, got an empty one")
    if Path(text).resolve() == Path(Path(text).resolve().anchor):
        raise argparse.ArgumentTypeError(f"{text!r} is the root of the file system; name a folder of its own")
    return text


def writable_folder(folder: Path, option: str) -> None:
    """Create ``folder`` if needed and prove that a file can be written in it, before any long work.

    A read-only disk, a missing permission or a file standing where the folder should be would
    otherwise show only when the results are saved, after every epoch has run.
    """
    if folder.exists() and not folder.is_dir():
        raise LstmNumpyError(f"{option} {folder}: this is a file, not a folder; choose a folder with {option}.")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise LstmNumpyError(f"{option} {folder}: cannot write there ({_reason(error)}); "
                             f"choose another folder with {option}.") from None


def _reason(error: OSError) -> str:
    if error.errno is not None and error.strerror:
        return error.strerror[0].lower() + error.strerror[1:]
    return str(error) or type(error).__name__


def describe_os_error(error: OSError) -> str:
    """One sentence for a failed read or write that the system reported (a full disk, say)."""
    where = f"{error.filename}: " if error.filename else ""
    advice = {errno.ENOSPC: "free some space or choose another folder",
              errno.EDQUOT: "free some space or choose another folder",
              errno.EROFS: "choose a writable folder"}.get(error.errno, "check the path and its permissions")
    return f"{where}{_reason(error)}; {advice}, and run the command again."


def gm_program(text: str) -> int:
    """A General MIDI instrument as its list numbers them, 1 to 128; returned counted from 0, as in MIDI files."""
    value = positive_int(text)
    if value > 128:
        raise argparse.ArgumentTypeError(f"expected a General MIDI program from 1 to 128, got {text!r}")
    return value - 1


def add_sound_options(group) -> None:
    """--soundfont, --program and --bass: how the solo's WAV sounds (both commands have them)."""
    group.add_argument("--soundfont", metavar="PATH",
                       help="a .sf2 or .sf3 SoundFont to play the WAV with, or 'none' for the built-in synthesizer "
                            "(default: a General MIDI SoundFont installed on the system, with the extra 'audio')")
    group.add_argument("--program", type=gm_program, metavar="N",
                       help="the melody's General MIDI instrument, 1-128 (default 67, tenor sax; 66 alto sax, "
                            "57 trumpet, 12 vibraphone, 27 jazz guitar); also written in the MIDI file")
    group.add_argument("--bass", action="store_true", help="add a walking bass from the chord roots to the WAV")


def sound_options(args) -> dict:
    """write_solo's sound arguments from the options, with the SoundFont checked now, before any long
    work. (The commands then start loading it in the background, ``render.prepare_audio``.)"""
    from .soundfont import choose_soundfont

    choose_soundfont(args.soundfont)  # a missing or broken SoundFont is an error before training
    return {"soundfont": args.soundfont, "program": args.program, "bass": args.bass}


def _load_cached_kernels_without_registries() -> None:
    """Let numba read kernels back from its disk cache without first setting up its whole compiler.

    Before reading a cached kernel numba "refreshes" its compiler: it imports and registers the
    implementation of everything it can compile (lists, strings, dicts, linalg, random...) and
    starts its runtime, about 0.12 s, of which reading machine code back needs only the runtime
    (the memory functions the kernels call). So a command's process starts the runtime alone there.
    A kernel that is not in the cache is still compiled as usual: numba's compiler refreshes
    everything itself before it compiles. (numba holds its compiler lock while it reads a kernel,
    so no other thread sees the context in between.) These are numba's internals, not its public
    interface: where they differ (another version), or reading a kernel back fails this way,
    numba's own way is taken, so the shortcut can cost time but never a run.
    """
    import functools

    try:
        from numba.core.caching import Cache
        from numba.core.runtime import rtsys

        load = Cache.load_overload
    except (ImportError, AttributeError):
        return  # a numba laid out otherwise: it sets up its whole compiler, as it always did
    if getattr(load, "runtime_only", False):
        return  # already done in this process

    def load_overload(cache, signature, target_context):
        target_context.refresh = functools.partial(rtsys.initialize, target_context)
        try:
            return load(cache, signature, target_context)
        except Exception:
            pass  # this numba needs more than its runtime to read a kernel back: the usual way, below
        finally:
            del target_context.refresh
        return load(cache, signature, target_context)

    load_overload.runtime_only = True
    Cache.load_overload = load_overload


def run(main: Callable[[Optional[Sequence[str]]], int], argv: Optional[Sequence[str]] = None) -> None:
    """Run a tool's ``main(argv)`` and turn user errors and Ctrl-C into exit codes.

    ``argv`` None: the arguments are the command line's, and this process is the command's own.
    """
    if argv is None:
        # numba, setting up its compiler (even only to load cached kernels), imports SciPy's BLAS
        # module to learn whether it may compile np.dot: 0.15-0.3 s where SciPy is installed,
        # which lstm_numpy does not need. No kernel uses np.dot (kernels.py writes its own
        # products), so a command's process tells numba there is none, as on a machine without
        # SciPy. A notebook importing lstm_numpy does not come here and keeps numba's np.dot.
        # (In a command's process scipy.linalg cannot be imported either: nothing here needs it.)
        sys.modules.setdefault("scipy.linalg.cython_blas", None)
        _load_cached_kernels_without_registries()
        # The modules imported so far (NumPy's, numba's, ours: a few hundred thousand objects)
        # live until the process ends. Frozen, they are left out of the garbage collector's full
        # passes, which otherwise walk them all whenever the command has made enough new objects
        # (20-30 ms a pass, once or twice a run).
        gc.freeze()
        gc.enable()
    try:
        code = main(argv)
    except LstmNumpyError as error:
        print(f"error: {error}", file=sys.stderr)
        code = EXIT_USER_ERROR
    except OSError as error:
        # The system refused a read or a write (a full disk, a file removed meanwhile): the
        # user's machine, not a bug. Files are written atomically, so nothing is half written.
        print(f"error: {describe_os_error(error)}", file=sys.stderr)
        code = EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("interrupted.", file=sys.stderr)
        code = EXIT_INTERRUPTED
    if argv is None:
        # Read from the command line, so the process ends here. Python's last garbage collection
        # would walk every object numba made (about 0.2 s) only to free memory the operating
        # system takes back anyway; frozen objects are skipped. Every file is written and closed.
        gc.freeze()
    sys.exit(code or 0)
