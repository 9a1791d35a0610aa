"""Writing files so that a crash or Ctrl-C never leaves half a file behind.

The bytes go to a temporary file in the same folder, which then takes the final name in one
``os.replace`` (atomic on POSIX and Windows within one file system). A reader sees either the old
file or the new one, never a mixture; on any error the temporary file is removed and the old file
stays as it was. The new file gets the permissions a plain ``open(path, "wb")`` would give it
(0666 less the process's umask): the temporary file starts readable by its owner only.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Union


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
