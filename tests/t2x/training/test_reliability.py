"""The trainer's promises at the edges: exact resume of stochastic models (random state in
the checkpoint; under ``mirrored`` too), preemption by SIGTERM, one trainer per run directory, a lost checkpoint
index and an unreadable checkpoint."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from conftest import REPO_ROOT
from t2x import registry
from t2x.hparam import create_hparams
from t2x.runs.run_dir import RunDir, RunDirError, RunLockedError
from t2x.training.trainer import Trainer, TrainingError

ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", T2X_OFFLINE="1")


@pytest.fixture(scope="module")
def tiny_algo_data(tmp_path_factory):
    data_dir = str(tmp_path_factory.mktemp("algo"))
    registry.problem("tiny_algo").generate_data(data_dir, data_dir + "/tmp")
    return data_dir


@pytest.fixture
def mnist_data(tiny_problem_cls, tiny_mnist, tmp_path):
    tmp_dir, _, _ = tiny_mnist
    data_dir = str(tmp_path / "mnist")
    tiny_problem_cls().generate_data(data_dir, tmp_dir)
    return tiny_problem_cls, data_dir


CASES = {
    # model, hparams set, overrides: each draws random numbers in every training step.
    "shake_shake": ("shake_shake", "shake_shake_tiny", "batch_size=8"),
    "transformer_dropout_0.3": ("transformer", "transformer_test",
                                "batch_size=128,num_hidden_layers=1,layer_prepostprocess_dropout=0.3,"
                                "attention_dropout=0.3,relu_dropout=0.3"),
}


def _trainer(problem, data_dir, out, model, hp, **kw):
    args = dict(problem=problem, model_name=model, hparams=hp, hparams_set="test", data_dir=data_dir,
                output_dir=str(out), train_steps=4, eval_steps=1, eval_every=1000,
                save_checkpoints_steps=1000, log_every=3)
    args.update(kw)
    return Trainer(**args)


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_stopped_and_resumed_stochastic_run_equals_the_uninterrupted_one(case, mnist_data, tiny_algo_data,
                                                                          tmp_path):
    model, hparams_set, overrides = CASES[case]
    if model == "transformer":
        problem_fn, data_dir = (lambda: registry.problem("tiny_algo")), tiny_algo_data
    else:
        cls, data_dir = mnist_data
        problem_fn = cls
    straight = _trainer(problem_fn(), data_dir, tmp_path / "straight", model, create_hparams(hparams_set, overrides))
    straight.train()
    first = _trainer(problem_fn(), data_dir, tmp_path / "resumed", model, create_hparams(hparams_set, overrides),
                     train_steps=2)
    first._build()
    initial_states = [v.numpy() for v in first.ckpt.model_random_state.states]
    first.train()
    second = _trainer(problem_fn(), data_dir, tmp_path / "resumed", model, create_hparams(hparams_set, overrides))
    second.train()
    assert int(second.step.numpy()) == 4
    diff = max(float(np.max(np.abs(a.numpy() - b.numpy()))) for a, b in
               zip(straight.model.weights, second.model.weights))
    assert diff == 0.0
    # and the random state really moved: the resumed generators are not at their start
    assert initial_states and any((s != v.numpy()).any() for s, v in
                                  zip(initial_states, second.ckpt.model_random_state.states))


MIRRORED_RESUME_SCRIPT = textwrap.dedent('''
    import sys, numpy as np, tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    sys.path.insert(0, {tests!r})
    import conftest
    from t2x.data.image import IdxImage2ClassProblem, idx_sources
    from t2x.hparam import create_hparams
    from t2x.training.trainer import Trainer
    table, _ = conftest.make_tiny_mnist({raw!r})
    class TinyMnist(IdxImage2ClassProblem):
        registered_name = "tiny_mnist_fixture"
        train_shards = 3
        source_files = idx_sources(table, ["http://127.0.0.1:9/"])
    p = TinyMnist(); p.generate_data({data!r}, {raw!r})
    def trainer(out, steps):
        return Trainer(problem=p, model_name="basic_fc_relu", data_dir={data!r}, output_dir=out,
                       hparams=create_hparams("basic_fc_tiny", "dropout=0.3,batch_size=8"),
                       hparams_set="basic_fc_tiny", train_steps=steps, strategy="mirrored",
                       save_checkpoints_steps=1000, log_every=1000)
    straight = trainer({out!r} + "straight", 9)  # 72 examples: the resumed part crosses the epoch (60)
    straight.train()
    assert straight.num_replicas == 2, straight.num_replicas
    trainer({out!r} + "resumed", 5).train()
    resumed = trainer({out!r} + "resumed", 9)
    resumed.train()
    assert int(resumed.step.numpy()) == 9
    states = [v.numpy().tolist() for v in resumed.ckpt.model_random_state.states]
    assert states and all(s[1] == 9 for s in states), states  # one dropout draw per step: not a no-op
    diff = max(float(np.max(np.abs(a.numpy() - b.numpy())))
               for a, b in zip(straight.model.weights, resumed.model.weights))
    print("MIRRORED_RESUME_DIFF", diff)
''')


def test_a_stopped_and_resumed_mirrored_run_equals_the_uninterrupted_one(tmp_path):
    """Under ``mirrored`` (two logical CPUs) the input is re-positioned by skipping: each
    global step takes one per-replica batch per replica from the one input pipeline."""
    script = MIRRORED_RESUME_SCRIPT.format(tests=os.path.join(REPO_ROOT, "tests"), raw=str(tmp_path / "raw"),
                                           data=str(tmp_path / "data"), out=str(tmp_path / "out_"))
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                            env=ENV, cwd=REPO_ROOT)
    assert "MIRRORED_RESUME_DIFF" in result.stdout, result.stderr[-3000:]
    assert result.stdout.split("MIRRORED_RESUME_DIFF")[1].split() == ["0.0"], result.stdout


def _binary(*args, **kw):
    return subprocess.Popen([sys.executable, "-m", "t2x.scripts.t2x_trainer", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=ENV, cwd=REPO_ROOT, **kw)


USR_PROBLEM = """
from t2x import registry
from t2x.data.image import IdxImage2ClassProblem, idx_sources

@registry.register_problem
class ImageTinyDigits(IdxImage2ClassProblem):
    train_shards = 1
    source_files = idx_sources({table!r}, ["http://127.0.0.1:9/"])
"""


@pytest.fixture(scope="module")
def usr_digits(tmp_path_factory):
    """(usr dir flag, data dir) of a tiny digits problem, its shards generated."""
    from conftest import make_tiny_mnist

    root = tmp_path_factory.mktemp("usr_digits")
    table, _ = make_tiny_mnist(str(root / "raw"))
    (root / "usr").mkdir()
    (root / "usr" / "__init__.py").write_text(USR_PROBLEM.format(table=table))
    done = subprocess.run([sys.executable, "-m", "t2x.scripts.t2x_datagen", f"--t2x_usr_dir={root / 'usr'}",
                           "--problem=image_tiny_digits", f"--data_dir={root / 'data'}", f"--tmp_dir={root / 'raw'}"],
                          capture_output=True, text=True, env=ENV, cwd=REPO_ROOT, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return f"--t2x_usr_dir={root / 'usr'}", str(root / "data")


def _digits_args(usr_digits, out, steps):
    usr, data_dir = usr_digits
    return [usr, "--problem=image_tiny_digits", "--model=basic_fc_relu", "--hparams_set=basic_fc_tiny",
            f"--data_dir={data_dir}", f"--output_dir={out}", f"--train_steps={steps}", "--log_every=1",
            "--save_checkpoints_steps=100000", "--schedule=train", "--hparams=batch_size=4"]


def test_sigterm_saves_a_checkpoint_and_the_rerun_continues(usr_digits, tmp_path):
    out = tmp_path / "run"
    proc = _binary(*_digits_args(usr_digits, out, 100000))
    deadline = time.monotonic() + 120
    lines = []
    while time.monotonic() < deadline:  # wait until it trains, then preempt it
        line = proc.stderr.readline()
        lines.append(line)
        if "step 2/100000" in line:
            break
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, "".join(lines) + err[-2000:]
    message = [line for line in err.splitlines() if "stopped by SIGTERM" in line]
    assert message and message[-1].startswith("t2x-trainer: stopped by SIGTERM at step ")
    step = int(message[-1].split("at step ")[1].split(":")[0])
    assert step >= 2 and (out / f"ckpt-{step}.index").exists()
    assert not (out / "lock").exists()
    rerun = _binary(*_digits_args(usr_digits, out, step + 2))
    stdout, err = rerun.communicate(timeout=180)
    assert rerun.returncode == 0, err[-3000:]
    assert f"(step {step})" in err and f"step {step + 2}/{step + 2}" in err
    assert f"train done at step {step + 2}" in stdout


def test_one_trainer_per_run_directory_and_stale_locks_are_taken_over(usr_digits, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "lock").write_text(json.dumps({"pid": os.getpid(), "host": os.uname().nodename,
                                          "started": "2026-12-01T10:00:00"}))
    start = time.monotonic()
    second = _binary(*_digits_args(usr_digits, out, 2))
    _, err = second.communicate(timeout=60)
    assert second.returncode == 1 and time.monotonic() - start < 30
    assert err.strip().splitlines()[-1] == (
        f"t2x-trainer: error: {out} is in use by process {os.getpid()} on {os.uname().nodename} "
        "(since 2026-12-01T10:00:00); one trainer per run directory: wait for it, stop it, or use "
        "another --output_dir")
    assert sorted(os.listdir(out)) == ["lock"]  # nothing written by the refused trainer
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (out / "lock").write_text(json.dumps({"pid": int(dead.stdout), "host": os.uname().nodename,
                                          "started": "2026-12-01T10:00:00"}))
    third = _binary(*_digits_args(usr_digits, out, 2))
    _, err = third.communicate(timeout=180)
    assert third.returncode == 0, err[-3000:]
    assert "Taking over the lock" in err and "no longer running" in err
    assert not (out / "lock").exists()


def test_lock_api_refuses_a_live_holder(tmp_path):
    run = RunDir(str(tmp_path / "run"))
    run.acquire_lock()
    holder = run.lock_info()
    assert holder["pid"] == os.getpid()
    other = RunDir(str(tmp_path / "run"))
    other.acquire_lock()  # the same process may take it again
    (tmp_path / "run" / "lock").write_text(json.dumps(dict(holder, pid=1)))  # pid 1 is alive
    with pytest.raises(RunLockedError, match="is in use by process 1"):
        other.acquire_lock()


def _mnist_trainer(mnist_data, out, **kw):
    cls, data_dir = mnist_data
    args = dict(train_steps=6, save_checkpoints_steps=2, keep_checkpoint_max=5)
    args.update(kw)
    return _trainer(cls(), data_dir, out, "basic_fc_relu", create_hparams("basic_fc_tiny", "batch_size=8"), **args)


def test_a_lost_checkpoint_index_is_rebuilt_not_a_restart(mnist_data, tmp_path):
    out = tmp_path / "run"
    _mnist_trainer(mnist_data, out, train_steps=4).train()
    os.remove(out / "checkpoint")
    resumed = _mnist_trainer(mnist_data, out)
    assert resumed.restore() == 4


def test_an_unreadable_latest_checkpoint_falls_back_to_the_one_before(mnist_data, tmp_path):
    out = tmp_path / "run"
    _mnist_trainer(mnist_data, out, train_steps=4).train()
    data_file = [f for f in os.listdir(out) if f.startswith("ckpt-4.data")][0]
    with open(out / data_file, "r+b") as f:
        f.truncate(100)
    resumed = _mnist_trainer(mnist_data, out)
    assert resumed.restore() == 2 and resumed.restored_path.endswith("ckpt-2")
    for name in os.listdir(out):
        if name.startswith("ckpt-2.data"):
            with open(out / name, "r+b") as f:
                f.truncate(10)
    with pytest.raises(RunDirError, match=r"no checkpoint of .* can be read \(ckpt-4: its data is truncated "
                       r"\(100 of at least \d+ bytes\); ckpt-2: its data is truncated"):
        _mnist_trainer(mnist_data, out).restore()


def test_evaluate_without_a_checkpoint_is_an_error(mnist_data, tmp_path):
    with pytest.raises(TrainingError, match="--schedule=evaluate found no checkpoint"):
        _mnist_trainer(mnist_data, tmp_path / "empty").run("evaluate")


def test_a_corrupt_record_in_training_names_the_shard_and_the_command(mnist_data, tmp_path):
    from t2x.errors import DataError

    cls, data_dir = mnist_data
    shard = os.path.join(data_dir, "tiny_mnist_fixture-train-00001-of-00003")
    with open(shard, "r+b") as f:  # flip bytes inside the first record
        f.seek(40)
        f.write(b"\xff" * 8)
    with pytest.raises(DataError) as error:
        _mnist_trainer(mnist_data, tmp_path / "run", train_steps=50).train()
    message = str(error.value)
    assert message.startswith(f"corrupt data: {shard}: unreadable (corrupted record at ")
    assert f"`t2x-datagen --problem=tiny_mnist_fixture --data_dir={data_dir} --random_seed=" in message


def test_a_checkpoint_from_before_random_state_still_resumes(mnist_data, tmp_path):
    import tensorflow as tf

    trained = _mnist_trainer(mnist_data, tmp_path / "run", train_steps=2)
    trained.train()
    old = tf.train.Checkpoint(model_weights=trained.ckpt.model_weights, optimizer=trained.optimizer,
                              step=trained.step)  # what t2x wrote before random state
    tf.train.CheckpointManager(old, str(tmp_path / "old"), max_to_keep=1).save(checkpoint_number=2)
    resumed = _mnist_trainer(mnist_data, tmp_path / "old")
    assert resumed.restore() == 2
    for a, b in zip(trained.model.weights, resumed.model.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_a_killed_checkpoint_write_is_cleaned_up_only_under_the_lock(tmp_path):
    run = RunDir(str(tmp_path / "run"))
    (tmp_path / "run" / "ckpt-3_temp").mkdir(parents=True)
    run.repair_checkpoint_index()  # a reader: another trainer may be writing it
    assert (tmp_path / "run" / "ckpt-3_temp").is_dir()
    run.acquire_lock()
    run.repair_checkpoint_index()
    assert not (tmp_path / "run" / "ckpt-3_temp").exists()
    run.release_lock()
    assert not (tmp_path / "run" / "lock").exists()
