"""What the two command-line tools share: argument errors and user errors as one sentence.

A user mistake (a missing file, a bad option value, a corrupt checkpoint) is not a crash: the tools
print one sentence on stderr and exit with status 2, with no traceback. Ctrl-C exits with 130, the
shell's convention for "interrupted".
"""

from __future__ import annotations

import argparse
import sys
from typing import Callable, Optional, Sequence

from .errors import LstmNumpyError

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a bad option is reported in one sentence instead of the usage block."""

    def error(self, message: str):  # noqa: D401 - argparse's hook
        self.exit(EXIT_USER_ERROR, f"{self.prog}: error: {message}; run with --help to see the options.\n")


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
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


def tempo(text: str) -> float:
    """Beats per minute, within what a MIDI file can hold and a listener can follow."""
    value = positive_float(text)
    if not 10 <= value <= 1000:
        raise argparse.ArgumentTypeError(f"expected a tempo from 10 to 1000 beats per minute, got {text!r}")
    return value


def run(main: Callable[[Optional[Sequence[str]]], int], argv: Optional[Sequence[str]] = None) -> None:
    """Run a tool's ``main(argv)`` and turn user errors and Ctrl-C into exit codes."""
    try:
        code = main(argv)
    except LstmNumpyError as error:
        print(f"error: {error}", file=sys.stderr)
        code = EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("interrupted.", file=sys.stderr)
        code = EXIT_INTERRUPTED
    sys.exit(code or 0)
