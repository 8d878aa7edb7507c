"""atomic_write (training checkpoints, exported weights, run configs): durable and readable like a plain file."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from spectraframe.paths import atomic_write, current_umask


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_written_files_get_the_usual_permissions(tmp_path, umask):
    previous = os.umask(umask)
    try:
        assert current_umask() == umask
        path = atomic_write(tmp_path / "weights.safetensors", lambda tmp: Path(tmp).write_bytes(b"data"))
    finally:
        os.umask(previous)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask  # not mkstemp's owner-only 0o600
    assert path.read_bytes() == b"data"


def test_data_is_fsynced_before_the_rename_and_the_folder_after(tmp_path, monkeypatch):
    events = []
    fsync, replace = os.fsync, os.replace

    def recording_fsync(fd):
        events.append(("fsync", "dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else os.fstat(fd).st_size))
        fsync(fd)

    def recording_replace(src, dst):
        events.append(("replace", os.path.basename(dst)))
        replace(src, dst)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    monkeypatch.setattr(os, "replace", recording_replace)
    atomic_write(tmp_path / "last.pt", lambda tmp: Path(tmp).write_bytes(b"12345"))
    assert events == [("fsync", 5), ("replace", "last.pt"), ("fsync", "dir")]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("old")

    def failing(tmp):
        Path(tmp).write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        atomic_write(path, failing)
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["config.yaml"]
