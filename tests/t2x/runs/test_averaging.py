"""Checkpoint averaging's destination (``--avg_dir``): an earlier average is replaced, and
nothing else is written into -- not another run, nor a folder holding the run, nor a file."""

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from conftest import REPO_ROOT

ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", T2X_OFFLINE="1")


def _tree(path):
    return sorted(os.path.relpath(os.path.join(d, f), path) for d, _, files in os.walk(path) for f in files)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """tiny_algo, transformer_test, checkpoints 1, 2 and 3."""
    root = tmp_path_factory.mktemp("avg")
    result = subprocess.run(
        [sys.executable, "-m", "t2x.scripts.t2x_trainer", "--generate_data", "--problem=tiny_algo",
         "--model=transformer", "--hparams_set=transformer_test", f"--data_dir={root / 'data'}",
         f"--output_dir={root / 'run'}", "--train_steps=3", "--save_checkpoints_steps=1", "--schedule=train",
         "--hparams=batch_size=256,max_length=41"], capture_output=True, text=True, env=ENV, timeout=300,
        cwd=REPO_ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    return root / "run"


def test_an_earlier_average_is_replaced(run_dir, tmp_path):
    from t2x.runs.averaging import average_checkpoints

    target = tmp_path / "avg"
    first = average_checkpoints(str(run_dir), num_last=2, output_dir=str(target))
    second = average_checkpoints(str(run_dir), num_last=3, output_dir=str(target))
    assert os.path.basename(first) == os.path.basename(second) == "ckpt-3"
    assert [n for n in _tree(target) if n.startswith("ckpt-")] == ["ckpt-3.data-00000-of-00001", "ckpt-3.index"]
    name = next(n for n, _ in tf.train.list_variables(second) if n.startswith("model_weights/weights/0/"))
    expected = np.mean([tf.train.load_checkpoint(str(run_dir / f"ckpt-{s}")).get_tensor(name) for s in (1, 2, 3)],
                       axis=0)
    np.testing.assert_allclose(tf.train.load_checkpoint(second).get_tensor(name), expected, rtol=1e-6)


def test_another_run_a_folder_holding_the_run_or_a_file_is_refused(run_dir, tmp_path):
    from t2x.errors import ConfigError
    from t2x.runs.averaging import average_checkpoints

    other = tmp_path / "other_run"  # a run of the same configuration, trained on its own
    shutil.copytree(run_dir, other)
    (tmp_path / "a_file").write_text("x\n")
    before = {p: _tree(p) for p in (other, run_dir)}
    for target, message in ((other, "not an earlier average"), (run_dir.parent, "holds the run"),
                            (tmp_path / "a_file", "is a file, not a directory"),
                            (tmp_path / "a_file" / "avg", "goes through")):
        with pytest.raises(ConfigError, match=message):
            average_checkpoints(str(run_dir), num_last=2, output_dir=str(target))
    assert {p: _tree(p) for p in before} == before
    assert (tmp_path / "a_file").read_text() == "x\n"
