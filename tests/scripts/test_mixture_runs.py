"""A mixture of two problems through the binaries: trained at its rates, each child's eval
metrics in TensorBoard, bit-exact resume, each child decoded by t2x-decoder."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from conftest import REPO_ROOT

USR_CODE = textwrap.dedent('''
    from t2x import registry
    from t2x.problems.algorithmic import AlgorithmicIdentityBinary40, AlgorithmicReverseBinary40

    @registry.register_problem
    class MixRunShort(AlgorithmicIdentityBinary40):
        train_length = dev_length = 4
        train_size, dev_size, num_shards = 200, 20, 2

    @registry.register_problem
    class MixRunLong(AlgorithmicReverseBinary40):
        train_length = dev_length = 12
        train_size, dev_size, num_shards = 200, 20, 2
''')
MIXTURE = "mixture:mix_run_short+mix_run_long"


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("mixrun")
    usr = root / "usr"
    usr.mkdir()
    (usr / "__init__.py").write_text(USR_CODE)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", T2X_OFFLINE="1")

    def binary(name, *args):
        return subprocess.run([sys.executable, "-m", f"t2x.scripts.{name}", f"--t2x_usr_dir={usr}", *args],
                              capture_output=True, text=True, env=env, timeout=300, cwd=REPO_ROOT)

    def trainer(out, steps):
        return binary("t2x_trainer", f"--problem={MIXTURE}", "--model=transformer", "--hparams_set=transformer_test",
                      f"--data_dir={root / 'data'}", f"--output_dir={out}", f"--train_steps={steps}",
                      "--eval_every=4", "--save_checkpoints_steps=2", "--eval_steps=0",
                      "--gin_param=MixtureProblem.rates=[3, 1]")

    whole = trainer(root / "whole", 4)
    assert whole.returncode == 0, whole.stderr[-3000:]
    return root, binary, trainer, whole


def _weights(prefix):
    reader = tf.train.load_checkpoint(str(prefix))
    return {k: reader.get_tensor(k) for k in reader.get_variable_to_shape_map() if k.startswith("model_weights")}


def test_each_child_is_generated_and_evaluated_under_its_own_name(setup):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator, TENSORS

    root, _, _, whole = setup
    names = os.listdir(root / "data")
    assert any(n.startswith("mix_run_short-train-") for n in names)
    assert any(n.startswith("mix_run_long-dev-") for n in names)
    events = EventAccumulator(str(root / "whole" / "eval"), size_guidance={TENSORS: 0})
    events.Reload()
    tags = set(events.Tags()["tensors"])
    for name in ("loss", "accuracy", "mix_run_short/accuracy", "mix_run_long/accuracy",
                 "mix_run_short/loss", "mix_run_long/accuracy_per_sequence"):
        assert name in tags, sorted(tags)
    value = lambda tag: float(tf.make_ndarray(events.Tensors(tag)[-1].tensor_proto))  # noqa: E731
    assert 0.0 <= value("mix_run_long/accuracy") <= 1.0
    # the mixture's dev set is both children's: its loss lies between theirs
    low, high = sorted([value("mix_run_short/loss"), value("mix_run_long/loss")])
    assert low - 1e-4 <= value("loss") <= high + 1e-4
    assert "MixtureProblem.rates = [3, 1]" in (root / "whole" / "config.gin").read_text()


def test_a_stopped_and_resumed_mixture_run_equals_the_uninterrupted_one(setup):
    root, _, trainer, _ = setup
    assert trainer(root / "resumed", 2).returncode == 0
    again = trainer(root / "resumed", 4)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "Restored" in again.stderr
    a, b = _weights(root / "whole" / "ckpt-4"), _weights(root / "resumed" / "ckpt-4")
    assert a.keys() == b.keys() and a
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_the_decoder_decodes_each_child(setup, tmp_path):
    root, binary, _, _ = setup
    for child in ("mix_run_short", "mix_run_long"):
        out = binary("t2x_decoder", f"--output_dir={root / 'whole'}", f"--decode_split={child}:dev",
                     f"--decode_to_file={tmp_path / child}.txt")
        assert out.returncode == 0, out.stderr[-3000:]
        assert len((tmp_path / f"{child}.txt").read_text().splitlines()) == 20
    (tmp_path / "in.txt").write_text("0 1 1\n1 0 0 1 1 0 1\n")
    out = binary("t2x_decoder", f"--output_dir={root / 'whole'}", f"--decode_from_file={tmp_path / 'in.txt'}",
                 f"--decode_to_file={tmp_path / 'out.txt'}")
    assert out.returncode == 0, out.stderr[-3000:]
    assert len((tmp_path / "out.txt").read_text().splitlines()) == 2
    bad = binary("t2x_decoder", f"--output_dir={root / 'whole'}", "--decode_split=mix_run_lng:dev")
    assert bad.returncode == 1 and "mix_run_long:dev" in bad.stderr.strip().splitlines()[-1]
