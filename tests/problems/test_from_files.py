"""*_from_files problems through t2x-datagen with gin paths (subprocess, no network)."""

import os
import subprocess
import sys

from conftest import REPO_ROOT


def datagen(*args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", T2X_OFFLINE="1")
    return subprocess.run([sys.executable, "-m", "t2x.scripts.t2x_datagen", *args],
                          capture_output=True, text=True, env=env, timeout=120, cwd=REPO_ROOT)


def test_translate_from_files_with_gin_paths(tmp_path):
    for name, lines in {"train.en": ["a b c", "b c d"] * 10, "train.de": ["x y z", "y z w"] * 10,
                        "dev.en": ["a b"], "dev.de": ["x y"]}.items():
        (tmp_path / name).write_text("\n".join(lines) + "\n")
    args = ["--problem=translate_from_files", f"--data_dir={tmp_path / 'data'}"]
    gin = [f"--gin_param=TranslateFromFiles.{k}='{tmp_path / v}'" for k, v in
           (("train_inputs", "train.en"), ("train_targets", "train.de"),
            ("dev_inputs", "dev.en"), ("dev_targets", "dev.de"))]
    result = datagen(*args, *gin, "--gin_param=TranslateFromFiles.vocab_type='token'",
                     "--gin_param=TranslateFromFiles.train_shards=2")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "translate_from_files train: 2 shard(s)" in result.stdout and "20 examples" in result.stdout
    assert "translate_from_files dev: 1 shard(s)" in result.stdout
    vocab = (tmp_path / "data" / "vocab.translate_from_files.8192.token").read_text().split("\n")
    assert {"a", "x", "w"} <= set(vocab)

    missing = datagen(*args[:1], f"--data_dir={tmp_path / 'other'}")
    assert missing.returncode == 1
    assert "TranslateFromFiles.train_inputs is not set; pass --gin_param=" in missing.stderr


def test_text_classification_from_files_rejects_bad_lines(tmp_path):
    (tmp_path / "train.tsv").write_text("pos\tgood film\nmaybe\tno tab label\n")
    (tmp_path / "dev.tsv").write_text("neg\tbad film\n")
    result = datagen("--problem=text_classification_from_files", f"--data_dir={tmp_path / 'd'}",
                     f"--gin_param=TextClassificationFromFiles.train='{tmp_path / 'train.tsv'}'",
                     f"--gin_param=TextClassificationFromFiles.dev='{tmp_path / 'dev.tsv'}'",
                     "--gin_param=TextClassificationFromFiles.vocab_type='character'")
    assert result.returncode == 1
    assert "train.tsv:2: expected 'label<TAB>text'" in result.stderr


def test_bytes_that_are_not_utf8_name_file_and_line(tmp_path):
    import pytest

    from t2x.errors import DataError
    from t2x.problems.from_files import read_lines

    path = tmp_path / "latin1.txt"
    path.write_bytes("ok\nstill ok\ncaf\xe9\n".encode("latin-1"))
    with pytest.raises(DataError, match=rf"{path}:3: not UTF-8 .*iconv"):
        list(read_lines(str(path)))


def test_parallel_files_of_different_lengths_are_an_error(tmp_path):
    import pytest

    from t2x.errors import DataError
    from t2x.problems.from_files import read_parallel

    (tmp_path / "a.en").write_text("one\ntwo\nthree\n")
    (tmp_path / "a.de").write_text("eins\nzwei\n")
    with pytest.raises(DataError, match=r"not line-aligned: .*a.de ends after 2 lines, .*a.en goes on"):
        list(read_parallel(str(tmp_path / "a.en"), str(tmp_path / "a.de")))


def test_a_class_label_outside_the_range_is_an_error():
    import pytest

    from t2x import registry
    from t2x.data.text_encoder import ByteTextEncoder
    from t2x.errors import DataError

    problem = registry.problem("text_classification_from_files")
    encoders = {"inputs": ByteTextEncoder()}
    assert problem.encode_sample({"inputs": "good", "label": 1}, encoders)["targets"] == [1]
    with pytest.raises(DataError, match=r"label 2 is outside \[0, 2\)"):
        problem.encode_sample({"inputs": "odd", "label": 2}, encoders)


def test_a_directory_a_missing_or_unreadable_file_names_its_gin_binding(tmp_path, monkeypatch):
    import pytest

    from t2x import registry
    from t2x.data import text_lines
    from t2x.data.problem import DatasetSplit
    from t2x.errors import DataError, DataMissingError

    ok = tmp_path / "ok.txt"
    ok.write_text("a b\nc d\n")
    problem = registry.problem("translate_from_files")
    problem.train_inputs, problem.train_targets = str(tmp_path), str(ok)  # a directory
    with pytest.raises(DataError, match=rf"^TranslateFromFiles.train_inputs={tmp_path} is a directory, not a text "
                                        r"file: pass a text file, one example a line: --gin_param="):
        problem.vocab_source_files(str(tmp_path), str(tmp_path))  # the subword vocabulary's path
    with pytest.raises(DataError, match="train_inputs=.* is a directory"):
        next(problem.generate_samples(str(tmp_path), str(tmp_path), DatasetSplit.TRAIN))
    assert problem.num_samples(str(tmp_path), str(tmp_path), DatasetSplit.TRAIN) is None  # no crash counting
    problem.train_inputs = str(tmp_path / "none.txt")
    with pytest.raises(DataMissingError, match=r"train_inputs=.*none.txt: no such file"):
        next(problem.generate_samples(str(tmp_path), str(tmp_path), DatasetSplit.TRAIN))
    problem.train_inputs = str(ok)

    def denied(path, *args, **kwargs):  # root reads any file: the permission error is simulated
        raise PermissionError(13, "Permission denied", path)

    monkeypatch.setattr(text_lines, "open", denied, raising=False)
    with pytest.raises(DataError, match=r"train_inputs=.*ok.txt cannot be read \(permission denied\): make it "
                                        r"readable \(chmod a\+r"):
        next(problem.generate_samples(str(tmp_path), str(tmp_path), DatasetSplit.TRAIN))
