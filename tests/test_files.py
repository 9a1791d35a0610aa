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


def test_files_written_together_are_all_new_or_all_old(tmp_path):
    from lstm_numpy.files import written_together

    paths = [tmp_path / name for name in ("x.mid", "x.wav", "x.svg")]
    for path in paths:
        path.write_bytes(b"old")
    with pytest.raises(KeyboardInterrupt):
        with written_together(paths) as temporary:
            temporary[0].write_bytes(b"new")
            raise KeyboardInterrupt  # Ctrl-C while the second file is being made
    assert [p.read_bytes() for p in paths] == [b"old"] * 3
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paths)
    with written_together(paths) as temporary:
        for path in temporary:
            path.write_bytes(b"new")
    assert [p.read_bytes() for p in paths] == [b"new"] * 3
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paths)


def test_ctrl_c_during_the_renames_waits_until_they_are_done(tmp_path, monkeypatch):
    import signal

    from lstm_numpy import files

    paths = [tmp_path / "a", tmp_path / "b"]
    real_replace = os.replace

    def replace_and_press_ctrl_c(src, dst):
        real_replace(src, dst)
        if dst == paths[0]:
            signal.raise_signal(signal.SIGINT)

    monkeypatch.setattr(files.os, "replace", replace_and_press_ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        with files.written_together(paths) as temporary:
            for path in temporary:
                path.write_bytes(b"new")
    assert [p.read_bytes() for p in paths] == [b"new", b"new"]
