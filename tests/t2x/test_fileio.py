"""t2x.fileio: the one atomic write."""

import os

import pytest

from t2x import fileio


def test_write_replaces_whole_files_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "sub" / "f.txt"
    fileio.write_text_atomic(str(path), "one")
    fileio.write_lines_atomic(str(path), ["a", "b"])
    assert path.read_text() == "a\nb\n"
    assert os.listdir(path.parent) == ["f.txt"]


def test_a_failed_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "f.txt"
    path.write_text("old")

    def lines():
        yield "new"
        raise RuntimeError("killed half way")

    with pytest.raises(RuntimeError):
        fileio.write_lines_atomic(str(path), lines())
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["f.txt"]


def test_stale_temporaries_of_dead_processes(tmp_path):
    path = str(tmp_path / "shard")
    dead = f"{path}{fileio.TMP_MARK}999999999"
    alive = fileio.tmp_path(path)
    for p in (dead, alive):
        open(p, "w").close()
    assert fileio.stale_temporaries([path]) == [dead]
