"""t2x-tuner end to end on tiny data (no network): a study of ordinary runs, its dashboard
rows, best.json, and a SIGKILLed tuner that continues its study when re-run."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from conftest import REPO_ROOT, make_tiny_mnist, usr_dir_code

optuna = pytest.importorskip("optuna")

EXTRA = textwrap.dedent('''
    import time
    import numpy as np
    import tensorflow as tf
    ''')
RANGE_AND_SLOW_MODEL = textwrap.dedent('''
    @registry.register_ranged_hparams
    def my_dense_range(rhp):
        rhp.set_float("learning_rate_constant", 1e-3, 0.1, scale=rhp.LOG_SCALE)
        rhp.set_discrete("hidden_size", [8, 16, 32])

    @registry.register_model
    class SlowDenseNet(MyDenseNet):
        """my_dense_net, 20 ms slower a step (so that a test can kill a trial half way)."""
        def body(self, features):
            pause = tf.numpy_function(lambda: np.float32(time.sleep(0.02) or 0.0), [], tf.float32)
            return super().body(features) + tf.reshape(pause, [])
    ''')


@pytest.fixture
def tuner(tmp_path):
    raw = tmp_path / "raw"
    table, _ = make_tiny_mnist(str(raw))
    usr = tmp_path / "my_code"
    usr.mkdir()
    (usr / "__init__.py").write_text(EXTRA + usr_dir_code(table) + RANGE_AND_SLOW_MODEL)
    out = tmp_path / "study"

    def command(*args):
        return [sys.executable, "-m", "t2x.scripts.t2x_tuner", f"--t2x_usr_dir={usr}",
                "--problem=image_tiny_digits", "--hparams_set=my_dense_tiny", "--hparams_range=my_dense_range",
                f"--data_dir={tmp_path / 'data'}", f"--tmp_dir={raw}", f"--output_dir={out}",
                "--eval_steps=0", *args]

    return command, out


ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", T2X_OFFLINE="1")


def study_trials(out):
    storage = optuna.storages.RDBStorage(f"sqlite:///{out / 'study.db'}")
    return optuna.load_study(study_name="t2x", storage=storage).get_trials(deepcopy=False)


def dashboard_row(run_dir):
    """The hparams of a run's HParams-dashboard row, read back from its eval/ event files."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    events = EventAccumulator(os.path.join(run_dir, "eval")).Reload()
    content = events.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    info = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info
    values = {}
    for name, value in info.hparams.items():
        kind = value.WhichOneof("kind")
        values[name] = getattr(value, kind)
    return values


def test_a_study_of_runs_in_parallel_with_dashboard_rows_and_best_json(tuner):
    command, out = tuner
    result = subprocess.run(command("--model=my_dense_net", "--trials=4", "--parallel=2", "--train_steps=6",
                                    "--eval_every=2", "--objective=eval/accuracy"),
                            capture_output=True, text=True, env=ENV, timeout=400, cwd=REPO_ROOT)
    assert result.returncode == 0, result.stderr[-4000:]
    trials = study_trials(out)
    states = [t.state.name for t in trials]
    assert len(trials) == 4 and set(states) <= {"COMPLETE", "PRUNED"}, states
    assert sorted(os.listdir(out / "trials")) == sorted(str(t.number) for t in trials)
    best = json.loads((out / "best.json").read_text())
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    assert best["value"] == max(t.value for t in complete)
    assert best["run_dir"] == str(out / "trials" / str(best["best_trial"]))
    assert f"best trial {best['best_trial']}: eval/accuracy" in result.stdout
    for trial in trials:
        run_dir = trial.user_attrs["run_dir"]
        assert 1e-3 <= trial.params["learning_rate_constant"] <= 0.1
        assert trial.params["hidden_size"] in (8, 16, 32)
        hparams = json.loads(open(os.path.join(run_dir, "hparams.json")).read())
        assert hparams["hidden_size"] == trial.params["hidden_size"]  # an ordinary run of its values
        row = dashboard_row(run_dir)
        assert row["hidden_size"] == trial.params["hidden_size"]
        assert row["learning_rate_constant"] == pytest.approx(trial.params["learning_rate_constant"])
        assert row["model"] == "my_dense_net"


def test_a_killed_tuner_rerun_continues_its_study(tuner):
    command, out = tuner
    args = ("--model=slow_dense_net", "--trials=3", "--parallel=1", "--train_steps=60", "--eval_every=10",
            "--pruner=none")
    first = subprocess.Popen(command(*args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=ENV,
                             cwd=REPO_ROOT, start_new_session=True)
    killed_at = None
    deadline = time.time() + 300
    while time.time() < deadline and killed_at is None and first.poll() is None:
        time.sleep(0.1)
        done = os.path.exists(out / "trials" / "0" / "ckpt-60.index")
        partial = [f for f in os.listdir(out / "trials" / "1")] if os.path.isdir(out / "trials" / "1") else []
        steps = [int(f[5:-6]) for f in partial if f.startswith("ckpt-") and f.endswith(".index")]
        if done and steps and max(steps) < 60:
            os.killpg(first.pid, signal.SIGKILL)
            killed_at = max(steps)
    first.wait(timeout=60)
    assert killed_at, first.stdout.read().decode()[-3000:]
    rerun = subprocess.run(command(*args), capture_output=True, text=True, env=ENV, timeout=400, cwd=REPO_ROOT)
    assert rerun.returncode == 0, rerun.stderr[-4000:]
    trials = study_trials(out)
    states = sorted(t.state.name for t in trials)
    assert states.count("COMPLETE") == 3 and states.count("FAIL") == 1, states  # the killed one, retried
    # Trial 1 was killed; its retry (trial 2) ran in trials/1 again; trial 3 is new.
    assert sorted(os.listdir(out / "trials")) == ["0", "1", "3"]
    retry = [t for t in trials if t.state.name == "COMPLETE"
             and t.user_attrs["run_dir"].endswith(os.path.join("trials", "1"))]
    assert [t.number for t in retry] == [2] and retry[0].params == trials[1].params
    assert "resumes trial 1" in rerun.stderr
    assert f"(step {killed_at})" in rerun.stderr  # restored from its checkpoint, not from scratch
    assert os.path.exists(out / "trials" / "1" / "ckpt-60.index")
