"""Writing files so that a crash or Ctrl-C never leaves half a file behind, and locks on folders.

The bytes go to a temporary file in the same folder, which then takes the final name in one
``os.replace`` (atomic on POSIX and Windows within one file system). A reader sees either the old
file or the new one, never a mixture; on any error the temporary file is removed and the old file
stays as it was. The new file gets the permissions a plain ``open(path, "wb")`` would give it
(0666 less the process's umask): the temporary file starts readable by its owner only.

Two programs writing one folder at once would mix their files, and a program reading a
checkpoint while another replaces it could see the old half of one and the new half of the other.
:func:`locked` takes an advisory lock (``flock``) on a small lock file, so writers take turns and
readers wait for a write to finish. Where ``fcntl`` does not exist (Windows) it does nothing.

Files that belong together (a solo's .mid, .wav and .svg) are written with
:func:`written_together`: each to a temporary name first, then all renamed into place in one
stretch during which Ctrl-C waits, so that the set is never half old and half new.
"""

from __future__ import annotations

import os
import secrets
import signal
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, List, Sequence, Union

try:
    import fcntl
except ImportError:  # Windows: no flock; the locks below do nothing there
    fcntl = None


def write_atomically(path: Union[str, Path], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (creating its folder); returns the path."""
    path = Path(path)
    folder = path.parent
    folder.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(handle, "wb") as f:
            f.write(data)
        os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    return path


def _umask() -> int:
    """The process's umask (reading it means setting it, so it is set straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextmanager
def locked(path: Union[str, Path], *, shared: bool = False, wait: bool = True) -> Iterator[None]:
    """Hold a lock on the lock file ``path`` (created if missing) for the ``with`` block.

    shared: a reader's lock; any number of readers hold it together, but never with a writer.
    wait:   False raises BlockingIOError at once when another process holds the lock.
    A reader that cannot create the lock file (a read-only folder, where nobody can be writing)
    goes on without a lock. The lock ends with the block, or with the process however it ends.
    """
    if fcntl is None:
        yield
        return
    try:
        handle = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError:
        if not shared:
            raise
        try:
            handle = os.open(path, os.O_RDONLY)
        except OSError:
            yield
            return
    try:
        fcntl.flock(handle, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | (0 if wait else fcntl.LOCK_NB))
        yield
    finally:
        os.close(handle)  # closing the file releases the lock


@contextmanager
def written_together(paths: Sequence[Union[str, Path]]) -> Iterator[List[Path]]:
    """Write files that belong together: the block writes to the temporary paths this yields
    (hidden names beside the real ones); once it succeeds, all take their real names at once.

    If the block fails or is interrupted, the temporary files are removed and the old files stay
    as they were, every one of them. The renames themselves run with Ctrl-C held back (see
    :func:`interrupts_deferred`).
    """
    paths = [Path(p) for p in paths]
    tag = secrets.token_hex(4)
    temporary = [p.with_name(f".{p.name}.{tag}.tmp") for p in paths]
    try:
        yield temporary
        with interrupts_deferred():
            for source, target in zip(temporary, paths):
                os.replace(source, target)
    finally:
        for source in temporary:
            if source.exists():
                source.unlink()


@contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Hold back Ctrl-C (SIGINT) for a short block, and deliver it when the block ends.

    Only the main thread receives signals, so elsewhere this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(frame))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if caught and callable(previous):
            previous(signal.SIGINT, caught[0])
