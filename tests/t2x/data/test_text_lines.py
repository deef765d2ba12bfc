"""Users' text files read line by line: every way a file can be wrong is one line."""

import gzip

import pytest

from t2x.data.text_lines import check_readable, read_lines
from t2x.errors import DataError, DataMissingError


def test_lines_numbers_gzip_and_crlf(tmp_path):
    plain = tmp_path / "a.txt"
    plain.write_bytes(b"one\r\ntwo\n\nthree")
    assert list(read_lines(str(plain), "--x")) == [(1, "one"), (2, "two"), (3, ""), (4, "three")]
    packed = tmp_path / "a.txt.gz"
    packed.write_bytes(gzip.compress("eins\nzwei\n".encode()))
    assert list(read_lines(str(packed), "--x")) == [(1, "eins"), (2, "zwei")]


def test_each_bad_file_is_one_line_naming_it(tmp_path):
    with pytest.raises(DataMissingError, match=rf"^--reference={tmp_path}/none.txt: no such file: set --reference"):
        check_readable(str(tmp_path / "none.txt"), "--reference")
    with pytest.raises(DataError, match=rf"^{tmp_path} is a directory, not a text file"):
        check_readable(str(tmp_path), "")
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"ok\n\xff\xfe\n")
    with pytest.raises(DataError, match=rf"^{bad}:2: not UTF-8 \(invalid start byte: byte 0xff at byte 0"):
        list(read_lines(str(bad), "--translation"))
    cut = tmp_path / "cut.txt.gz"
    cut.write_bytes(gzip.compress(("line\n" * 1000).encode())[:-20])
    with pytest.raises(DataError, match=r"cut.txt.gz: not a complete gzip file after line \d+"):
        list(read_lines(str(cut), "--translation"))
    fake = tmp_path / "plain.gz"
    fake.write_text("not gzip\n")
    with pytest.raises(DataError, match=r"plain.gz: not a complete gzip file after line 0.*drop the .gz suffix"):
        list(read_lines(str(fake), "--translation"))
