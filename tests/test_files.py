"""Atomic writes: the whole file or the old one, with the permissions a plain write would give."""

import os
import stat

import pytest

from lstm_numpy.files import write_atomically


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_new_files_get_the_permissions_of_a_plain_write(tmp_path, umask):
    old = os.umask(umask)
    try:
        plain = tmp_path / "plain.bin"
        with open(plain, "wb") as f:
            f.write(b"x")
        atomic = write_atomically(tmp_path / "atomic.bin", b"x")
    finally:
        os.umask(old)
    assert stat.S_IMODE(atomic.stat().st_mode) == stat.S_IMODE(plain.stat().st_mode)


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = write_atomically(tmp_path / "f.bin", b"old")
    with pytest.raises(TypeError):
        write_atomically(target, "not bytes")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]
