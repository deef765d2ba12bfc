"""Scale in the trainer: gradient accumulation (the gradient of one large batch), mixed
precision (bfloat16/float16 policies, float32 weights, float16 loss scaling) and XLA."""

import numpy as np
import pytest
import tensorflow as tf

from t2x.errors import ConfigError
from t2x.hparam import HParamsError

from test_trainer import data, make, tiny_hparams, weights  # noqa: F401  (data: a fixture)


def trained(problem, data_dir, out, steps=3, **overrides):
    hp = tiny_hparams(dropout=0.0, weight_decay=1e-4, clip_grad_norm=0.5, **overrides)
    trainer = make(problem, data_dir, out, hp=hp, train_steps=steps, eval_every=100,
                   save_checkpoints_steps=100, num_summary_images=0, random_seed=7)
    trainer.train()
    return trainer


def test_four_micro_batches_of_5_equal_one_batch_of_20(data, tmp_path):
    problem, data_dir = data
    big = trained(problem, data_dir, tmp_path / "big", batch_size=20)
    micro = trained(problem, data_dir, tmp_path / "micro", batch_size=5, optimizer_multistep_accumulate_steps=4)
    plain_small = trained(problem, data_dir, tmp_path / "small", batch_size=5)
    assert int(micro.step.numpy()) == 3 == int(micro.optimizer.iterations.numpy())  # optimizer steps
    for a, b in zip(weights(big), weights(micro)):
        np.testing.assert_allclose(a, b, atol=2e-6)
    # ... and not what 3 steps of batch 5 give: the micro-batches did add up.
    assert max(float(np.abs(a - b).max()) for a, b in zip(weights(big), weights(plain_small))) > 1e-3


def test_accumulation_resumes_exactly(data, tmp_path):
    problem, data_dir = data
    whole = trained(problem, data_dir, tmp_path / "whole", steps=4, batch_size=4,
                    optimizer_multistep_accumulate_steps=3)
    trained(problem, data_dir, tmp_path / "split", steps=2, batch_size=4, optimizer_multistep_accumulate_steps=3)
    resumed = trained(problem, data_dir, tmp_path / "split", steps=4, batch_size=4,
                      optimizer_multistep_accumulate_steps=3)
    for a, b in zip(weights(whole), weights(resumed)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_mixed_precision_trains_with_float32_weights(data, tmp_path, dtype):
    problem, data_dir = data
    trainer = trained(problem, data_dir, tmp_path / dtype, steps=6, activation_dtype=dtype)
    assert trainer.model.compute_dtype == dtype
    assert {v.dtype for v in trainer.model.trainable_variables} == {"float32"}
    dense = trainer.model.dense
    assert dense.compute_dtype == dtype and dense.kernel.dtype == "float32"
    metrics = trainer.evaluate()
    assert np.isfinite(metrics["loss"])
    if dtype == "float16":
        assert float(trainer.loss_scale.scale.numpy()) == 2.0 ** 15  # no overflow at this scale
    # The next model built in this process is float32 again: the policy did not leak.
    again = trained(problem, data_dir, tmp_path / "f32", steps=1)
    assert again.model.compute_dtype == "float32"


def test_float16_overflow_halves_the_loss_scale_and_skips_the_update(data, tmp_path):
    problem, data_dir = data
    trainer = make(problem, data_dir, tmp_path / "of", hp=tiny_hparams(activation_dtype="float16"),
                   train_steps=1, num_summary_images=0)
    trainer._build()
    trainer.loss_scale.scale.assign(2.0 ** 60)  # far beyond float16's range: the gradients overflow
    before = weights(trainer)
    trainer.train()
    assert int(trainer.step.numpy()) == 1  # the run went on
    assert float(trainer.loss_scale.scale.numpy()) == 2.0 ** 59
    for a, b in zip(before, weights(trainer)):
        np.testing.assert_array_equal(a, b)


def test_xla_gives_the_plain_steps_result(data, tmp_path):
    problem, data_dir = data
    plain = trained(problem, data_dir, tmp_path / "plain")
    xla = make(problem, data_dir, tmp_path / "xla", hp=tiny_hparams(dropout=0.0, weight_decay=1e-4, clip_grad_norm=0.5),
               train_steps=3, eval_every=100, save_checkpoints_steps=100, num_summary_images=0,
               random_seed=7, xla=True)
    xla.train()
    for a, b in zip(weights(plain), weights(xla)):
        np.testing.assert_allclose(a, b, atol=1e-5)
    assert np.isfinite(xla.evaluate()["loss"])


def test_bad_precision_and_accumulation_values_are_refused(data, tmp_path):
    problem, data_dir = data
    with pytest.raises(HParamsError, match="activation_dtype='float8' is not supported; use one of float32, bfloat16, float16"):
        make(problem, data_dir, tmp_path / "a", hp=tiny_hparams(activation_dtype="float8"))
    with pytest.raises(HParamsError, match="weight_dtype.*set activation_dtype instead"):
        trained(problem, data_dir, tmp_path / "b", weight_dtype="bfloat16")
    with pytest.raises(ConfigError, match="optimizer_multistep_accumulate_steps must be an integer >= 0"):
        make(problem, data_dir, tmp_path / "c", hp=tiny_hparams(optimizer_multistep_accumulate_steps=-2))


MIRRORED_ACCUMULATION = '''
import sys, tempfile
import numpy as np
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
sys.path[:0] = [{tests!r}, {here!r}]
from conftest import make_tiny_mnist
from t2x.data.image import IdxImage2ClassProblem, idx_sources
from test_trainer import make, tiny_hparams, weights
tmp = tempfile.mkdtemp()
table, _ = make_tiny_mnist(tmp + "/raw")
class P(IdxImage2ClassProblem):
    registered_name = "tiny_mirror"
    source_files = idx_sources(table, ["http://127.0.0.1:9/"])
p = P()
p.generate_data(tmp + "/data", tmp + "/raw")
res = {{}}
for name, bs, n in (("big", 20, 1), ("acc", 10, 2)):
    hp = tiny_hparams(dropout=0.0, weight_decay=1e-4, clip_grad_norm=0.5, batch_size=bs,
                      optimizer_multistep_accumulate_steps=n)
    t = make(p, tmp + "/data", tmp + "/" + name, hp=hp, train_steps=3, eval_every=100,
             save_checkpoints_steps=100, num_summary_images=0, random_seed=7, strategy="mirrored")
    t.train()
    assert t.num_replicas == 2
    res[name] = weights(t)
print("MAXDIFF", max(float(np.abs(a - b).max()) for a, b in zip(res["big"], res["acc"])))
'''


def test_accumulation_under_mirrored_equals_the_large_batch():
    import os
    import subprocess
    import sys

    here = os.path.dirname(os.path.abspath(__file__))
    code = MIRRORED_ACCUMULATION.format(tests=os.path.dirname(os.path.dirname(here)), here=here)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    assert result.returncode == 0, result.stderr[-3000:]
    diff = float(result.stdout.split("MAXDIFF")[1])
    assert diff < 2e-6, diff  # 2 replicas x 2 micro-batches of 5 == 2 replicas x 10
