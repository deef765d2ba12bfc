"""The trainer on tiny MNIST-format data with a tiny dense model (fixtures in conftest.py)."""

import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator, TENSORS

from conftest import REPO_ROOT
from t2x import registry
from t2x.hparam import create_hparams
from t2x.model import T2XModel
from t2x.errors import ConfigError
from t2x.training.trainer import Trainer, TrainingError


@registry.register_model("trainer_test_net")
class TrainerTestNet(T2XModel):
    def build_body(self):
        self.flatten = keras.layers.Flatten()
        self.dense = keras.layers.Dense(self.hparams.hidden_size, activation="relu")

    def body(self, features):
        x = self.dense(self.flatten(features["inputs"]))
        if "poison" in self.hparams:
            x = x * self.hparams.poison
        return x


def tiny_hparams(**overrides):
    hp = create_hparams("basic_params1")
    hp.batch_size = 8
    hp.hidden_size = 16
    hp.learning_rate_schedule = "constant"
    hp.learning_rate_constant = 0.01
    hp.label_smoothing = 0.0
    for k, v in overrides.items():
        if k in hp:
            hp.set_hparam(k, v)
        else:
            hp.add_hparam(k, v)
    return hp


@pytest.fixture
def data(tiny_problem_cls, tiny_mnist, tmp_path):
    tmp_dir, _, _ = tiny_mnist
    problem = tiny_problem_cls()
    data_dir = str(tmp_path / "data")
    problem.generate_data(data_dir, tmp_dir)
    return problem, data_dir


def make(problem, data_dir, out, hp=None, **kw):
    args = dict(problem=problem, model_name="trainer_test_net", hparams=hp or tiny_hparams(),
                hparams_set="basic_params1", data_dir=data_dir, output_dir=str(out),
                train_steps=6, eval_steps=0, eval_every=3, save_checkpoints_steps=3, log_every=2)
    args.update(kw)
    return Trainer(**args)


def weights(trainer):
    return [v.numpy() for v in trainer.model.weights]


def test_train_and_evaluate_writes_checkpoints_configs_and_summaries(data, tmp_path):
    problem, data_dir = data
    trainer = make(problem, data_dir, tmp_path / "run")
    metrics = trainer.run("train_and_evaluate")
    assert int(trainer.step.numpy()) == 6
    assert set(metrics) >= {"loss", "accuracy", "accuracy_top5", "neg_log_perplexity"}
    assert 0.0 <= metrics["accuracy"] <= metrics["accuracy_top5"] <= 1.0
    assert metrics["eval_batches"] == 3  # 20 dev examples in batches of 8
    out = tmp_path / "run"
    assert tf.train.latest_checkpoint(str(out)).endswith("ckpt-6")
    assert json.loads((out / "hparams.json").read_text())["hidden_size"] == 16
    assert json.loads((out / "run.json").read_text())["model"] == "trainer_test_net"
    assert (out / "config.gin").exists()
    train_ev = EventAccumulator(str(out / "train"), size_guidance={TENSORS: 0}).Reload()
    tags = train_ev.Tags()["tensors"]
    assert {"loss", "learning_rate", "grad_norm", "steps_per_sec", "examples_per_sec", "hparams"} <= set(tags)
    assert [e.step for e in train_ev.Tensors("loss")] == [2, 4, 6]
    np.testing.assert_allclose(tf.make_ndarray(train_ev.Tensors("learning_rate")[0].tensor_proto), 0.01, rtol=1e-6)
    eval_ev = EventAccumulator(str(out / "eval"), size_guidance={TENSORS: 0}).Reload()
    acc = eval_ev.Tensors("accuracy")
    assert [e.step for e in acc] == [3, 6]  # every eval_every steps and at the end
    np.testing.assert_allclose(tf.make_ndarray(acc[-1].tensor_proto), metrics["accuracy"], rtol=1e-6)


def test_killed_and_resumed_run_ends_with_the_same_weights(data, tmp_path):
    problem, data_dir = data
    straight = make(problem, data_dir, tmp_path / "straight")
    straight.train()
    first = make(problem, data_dir, tmp_path / "resumed", train_steps=4, save_checkpoints_steps=2)
    first.train()
    assert int(first.step.numpy()) == 4
    second = make(problem, data_dir, tmp_path / "resumed")  # a fresh process would do the same
    second.train()
    assert int(second.step.numpy()) == 6
    for a, b in zip(weights(straight), weights(second)):
        np.testing.assert_array_equal(a, b)
    # a finished run only evaluates
    again = make(problem, data_dir, tmp_path / "resumed")
    assert again.train() == {} and int(again.step.numpy()) == 6


@registry.register_model("trainer_test_listed_bn_net")
class TrainerTestListedBnNet(T2XModel):
    """Layers (with batch-norm statistics) kept in a list: Keras 3 hides them from
    tf.train.Checkpoint, so saving the model object alone loses their non-trainable weights."""

    def build_body(self):
        self.flatten = keras.layers.Flatten()
        self.blocks = [keras.layers.Dense(self.hparams.hidden_size, activation="relu"),
                       keras.layers.BatchNormalization(momentum=0.5)]

    def body(self, features):
        x = self.flatten(features["inputs"])
        for layer in self.blocks:
            x = layer(x, training=self._training)
        return x


def test_a_checkpoint_restores_every_weight_of_layers_kept_in_lists(data, tmp_path):
    problem, data_dir = data
    trained = make(problem, data_dir, tmp_path / "run", model_name="trainer_test_listed_bn_net")
    trained.train()
    moving = [v for v in trained.model.weights if "moving_mean" in v.path]
    assert moving and not np.allclose(moving[0].numpy(), 0.0)  # statistics were learnt
    restored = make(problem, data_dir, tmp_path / "run", model_name="trainer_test_listed_bn_net")
    assert restored.restore() == 6
    assert len(weights(restored)) == len(weights(trained)) == 8  # dense 2, batch norm 4, class-label top 2
    for a, b in zip(weights(trained), weights(restored)):
        np.testing.assert_array_equal(a, b)


def test_changed_config_on_resume_is_refused_with_a_diff(data, tmp_path):
    problem, data_dir = data
    make(problem, data_dir, tmp_path / "run", train_steps=2).train()
    changed = make(problem, data_dir, tmp_path / "run", hp=tiny_hparams(hidden_size=32), train_steps=4)
    with pytest.raises(ConfigError, match=r"another configuration \(hidden_size: 16 -> 32\).*--allow_config_change"):
        changed.train()
    assert json.loads((tmp_path / "run" / "hparams.json").read_text())["hidden_size"] == 16
    other_model = make(problem, data_dir, tmp_path / "run", hparams_set="other_set", train_steps=4)
    with pytest.raises(ConfigError, match="hparams_set: 'basic_params1' -> 'other_set'"):
        other_model.train()


def test_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint(data, tmp_path):
    problem, data_dir = data
    make(problem, data_dir, tmp_path / "run", hp=tiny_hparams(poison=1.0), train_steps=3).train()
    poisoned = make(problem, data_dir, tmp_path / "run", hp=tiny_hparams(poison=float("nan")),
                    train_steps=6, allow_config_change=True)
    with pytest.raises(TrainingError, match=r"loss is nan .* at step 4; .*Last good checkpoint: .*ckpt-3"):
        poisoned.train()
    assert tf.train.latest_checkpoint(str(tmp_path / "run")).endswith("ckpt-3")
    assert int(poisoned.step.numpy()) == 3  # the bad update was not applied


MIRRORED_SCRIPT = textwrap.dedent('''
    import sys, numpy as np, tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    sys.path.insert(0, {tests!r}); sys.path.insert(0, {here!r})
    import conftest
    from test_trainer import make
    from t2x.data.image import IdxImage2ClassProblem, idx_sources
    table, _ = conftest.make_tiny_mnist({raw!r})
    class TinyMnist(IdxImage2ClassProblem):
        registered_name = "tiny_mnist_fixture"
        train_shards = 3
        source_files = idx_sources(table, ["http://127.0.0.1:9/"])
    p = TinyMnist(); p.generate_data({data!r}, {raw!r})
    results = {{}}
    for strategy in ("default", "mirrored"):
        t = make(p, {data!r}, {out!r} + strategy, strategy=strategy, train_steps=4)
        t.train()
        results[strategy] = ([v.numpy() for v in t.model.weights], t.num_replicas)
    assert results["mirrored"][1] == 2, results["mirrored"][1]
    for a, b in zip(results["default"][0], results["mirrored"][0]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    print("MIRRORED_OK")
''')


def test_mirrored_on_two_logical_cpus_matches_default(tmp_path):
    here = os.path.dirname(os.path.abspath(__file__))
    script = MIRRORED_SCRIPT.format(tests=os.path.join(REPO_ROOT, "tests"), here=here,
                                    raw=str(tmp_path / "raw"), data=str(tmp_path / "data"),
                                    out=str(tmp_path / "out_"))
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=300, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    assert "MIRRORED_OK" in result.stdout, result.stderr[-3000:]


MULTI_WORKER_SCRIPT = textwrap.dedent('''
    import json, os, sys, numpy as np
    sys.path.insert(0, {tests!r}); sys.path.insert(0, {here!r})
    import tensorflow as tf
    from test_trainer import make
    from t2x.data.image import IdxImage2ClassProblem, idx_sources
    class TinyMnist(IdxImage2ClassProblem):
        registered_name = "tiny_mnist_fixture"
        train_shards = 3
        source_files = idx_sources({table!r}, ["http://127.0.0.1:9/"])
    t = make(TinyMnist(), {data!r}, {out!r}, strategy="multi_worker", train_steps=4)
    t.train()
    task = json.loads(os.environ["TF_CONFIG"])["task"]["index"]
    np.savez({out!r} + "/weights-%d.npz" % task, *[v.numpy() for v in t.model.weights])
    print("WORKER_OK", t.num_replicas, int(t.step.numpy()))
''')


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_multi_worker_two_local_processes_end_with_identical_weights(tiny_problem_cls, tiny_mnist, tmp_path):
    tmp_dir, table, _ = tiny_mnist
    data_dir, out = str(tmp_path / "data"), str(tmp_path / "out")
    tiny_problem_cls().generate_data(data_dir, tmp_dir)
    os.makedirs(out)
    here = os.path.dirname(os.path.abspath(__file__))
    script = MULTI_WORKER_SCRIPT.format(tests=os.path.join(REPO_ROOT, "tests"), here=here, table=table,
                                        data=data_dir, out=out)
    cluster = {"worker": [f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"]}
    procs = []
    for index in range(2):
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2",
                   TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}))
        procs.append(subprocess.Popen([sys.executable, "-c", script], env=env, text=True,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    outputs = [p.communicate(timeout=300) for p in procs]
    for stdout, stderr in outputs:
        assert "WORKER_OK 2 4" in stdout, stderr[-3000:]
    chief, other = np.load(f"{out}/weights-0.npz"), np.load(f"{out}/weights-1.npz")
    assert len(chief.files) == len(other.files) > 0
    for name in chief.files:
        np.testing.assert_array_equal(chief[name], other[name])
    assert tf.train.latest_checkpoint(out).endswith("ckpt-4")
    assert os.path.exists(os.path.join(out, "hparams.json"))
    assert os.path.isdir(os.path.join(out, "train"))


def test_python_api_mirrors_the_binary(tiny_problem_cls, tiny_mnist, tmp_path):
    import t2x

    tmp_dir, _, _ = tiny_mnist
    registry.register_problem("tiny_mnist_api_test")(tiny_problem_cls)
    try:
        metrics = t2x.train(problem="tiny_mnist_api_test", model="trainer_test_net",
                            hparams_set="basic_fc_tiny", hparams="batch_size=8",
                            data_dir=str(tmp_path / "data"), tmp_dir=tmp_dir, generate_data=True,
                            output_dir=str(tmp_path / "out"), train_steps=4, eval_steps=0,
                            log_every=2)
    finally:
        registry.problems.unregister("tiny_mnist_api_test")
    assert 0.0 <= metrics["accuracy"] <= 1.0 and metrics["eval_batches"] == 3
    assert json.loads((tmp_path / "out" / "run.json").read_text())["problem"] == "tiny_mnist_api_test"
