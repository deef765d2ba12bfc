"""t2x-datagen end to end, as a user runs it (subprocess, tiny IDX files, no network)."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from conftest import REPO_ROOT, make_tiny_mnist, sha256_of, shard_files

USR_PROBLEM = textwrap.dedent('''
    import os, time
    from t2x import registry
    from t2x.data.image import IdxImage2ClassProblem, idx_sources

    @registry.register_problem
    class ImageTinyDigits(IdxImage2ClassProblem):
        """A user's problem: tiny MNIST-format files."""
        train_shards = 3
        source_files = idx_sources({TABLE!r}, ["http://127.0.0.1:9/"])

        def generate_samples(self, data_dir, tmp_dir, dataset_split):
            if dataset_split == "dev" and os.environ.get("SLOW_DEV"):
                time.sleep(60)  # the test kills the run here, train shards done
            yield from super().generate_samples(data_dir, tmp_dir, dataset_split)
''')


def datagen(*args, env=None, timeout=120):
    full_env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", T2X_OFFLINE="1", **(env or {}))
    return subprocess.run([sys.executable, "-m", "t2x.scripts.t2x_datagen", *args],
                          capture_output=True, text=True, env=full_env, timeout=timeout, cwd=REPO_ROOT)


@pytest.fixture
def usr_dir(tmp_path):
    raw = tmp_path / "raw"
    table, _ = make_tiny_mnist(str(raw))
    usr = tmp_path / "my_problems"
    usr.mkdir()
    (usr / "__init__.py").write_text("from . import digits\n")
    (usr / "digits.py").write_text(USR_PROBLEM.replace("{TABLE!r}", repr(table)))
    return str(usr), str(raw)


def test_user_dir_problem_generates_then_rerun_is_noop(usr_dir, tmp_path):
    usr, raw = usr_dir
    data = str(tmp_path / "data")
    args = [f"--t2x_usr_dir={usr}", "--problem=image_tiny_digits", f"--data_dir={data}",
            f"--tmp_dir={raw}", "--num_processes=2"]
    first = datagen(*args)
    assert first.returncode == 0, first.stderr
    assert "image_tiny_digits train: 3 shard(s)" in first.stdout and "60 examples" in first.stdout
    assert "image_tiny_digits dev: 1 shard(s)" in first.stdout and "20 examples" in first.stdout
    assert len(shard_files(data)) == 4 and len(os.listdir(data)) == 8  # shards and their .count sidecars
    second = datagen(*args)
    assert second.returncode == 0
    assert second.stdout.count("already complete") == 2


def test_killed_run_resumes_with_complete_shards(usr_dir, tmp_path):
    usr, raw = usr_dir
    ref, data = str(tmp_path / "ref"), str(tmp_path / "data")
    common = [f"--t2x_usr_dir={usr}", "--problem=image_tiny_digits", f"--tmp_dir={raw}"]
    assert datagen(*common, f"--data_dir={ref}").returncode == 0
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", T2X_OFFLINE="1", SLOW_DEV="1")
    proc = subprocess.Popen([sys.executable, "-m", "t2x.scripts.t2x_datagen", *common,
                             f"--data_dir={data}"], env=env, cwd=REPO_ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if os.path.isdir(data) and len([f for f in shard_files(data) if "-train-" in f]) == 3:
            break
        time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # Final names: the complete train shards only (the dev writer's run file, a temporary, is
    # removed by the rerun).
    assert [f for f in shard_files(data) if ".tmp-" not in f] == [f for f in shard_files(ref) if "-train-" in f]
    rerun = datagen(*common, f"--data_dir={data}")
    assert rerun.returncode == 0, rerun.stderr
    assert "train: 3 shard(s)" in rerun.stdout and "already complete" in rerun.stdout
    assert sorted(os.listdir(data)) == sorted(os.listdir(ref))
    for name in os.listdir(ref):
        assert sha256_of(os.path.join(data, name)) == sha256_of(os.path.join(ref, name))


def test_offline_with_empty_tmp_dir_fails_fast_with_one_line(tmp_path):
    start = time.monotonic()
    result = datagen("--problem=image_mnist", f"--data_dir={tmp_path}/d", f"--tmp_dir={tmp_path}/t")
    elapsed = time.monotonic() - start
    assert result.returncode == 1
    assert elapsed < 30  # includes importing TensorFlow; the download check itself is instant
    error_lines = [l for l in result.stderr.splitlines() if "error:" in l]
    assert len(error_lines) == 1
    line = error_lines[0]
    assert line.startswith("t2x-datagen: error: cannot download 4 file(s)")
    assert "train-images-idx3-ubyte.gz" in line and f"--tmp_dir={tmp_path}/t" in line
    assert not os.path.exists(f"{tmp_path}/d") or os.listdir(f"{tmp_path}/d") == []


def test_registry_help_lists_problems_and_defaults_are_printed(usr_dir, tmp_path):
    usr, _ = usr_dir
    result = datagen("--registry_help", f"--t2x_usr_dir={usr}")
    assert result.returncode == 0
    assert ("image: image_bottlenecks, image_cifar10, image_cifar10_plain, image_cifar10_plain_gen, "
            "image_cifar10_plain_gen_conditional, image_fashion_mnist, image_mnist, image_mnist_gen, "
            "image_mnist_gen_conditional, image_tiny_digits") in result.stdout
    result = datagen("--problem=image_mnist", env={"HOME": str(tmp_path)})
    assert f"--data_dir not given, using {tmp_path}/t2x_data" in result.stderr


def test_a_shard_damaged_under_training_is_named_rewritten_by_the_command_named_and_trained(usr_dir, tmp_path):
    """The user's story: training meets a damaged shard and names it with a command; that
    command rewrites exactly that shard (it used to crash for image problems); training goes on."""
    import re
    import shlex

    usr, raw = usr_dir
    data, run = tmp_path / "data", tmp_path / "run"
    common = [f"--t2x_usr_dir={usr}", "--problem=image_tiny_digits", f"--data_dir={data}"]
    assert datagen(*common, f"--tmp_dir={raw}").returncode == 0
    shard = data / "image_tiny_digits-train-00001-of-00003"
    good = sha256_of(shard)
    others = {n: sha256_of(data / n) for n in shard_files(data) if n != shard.name}
    with open(shard, "r+b") as f:  # 64 bytes in the middle overwritten with zeros
        f.seek(os.path.getsize(shard) // 2 - 32)
        f.write(b"\0" * 64)
    train = [sys.executable, "-m", "t2x.scripts.t2x_trainer", *common, "--model=basic_fc_relu",
             "--hparams_set=basic_fc_small", "--hparams=batch_size=8", "--train_steps=30",
             "--eval_steps=1", f"--output_dir={run}"]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", T2X_OFFLINE="1")
    failed = subprocess.run(train, capture_output=True, text=True, env=env, timeout=240, cwd=REPO_ROOT)
    last = failed.stderr.strip().splitlines()[-1]
    assert failed.returncode == 1 and "Traceback" not in failed.stderr, failed.stderr[-2000:]
    assert f"corrupt data: {shard}: unreadable (" in last
    command = shlex.split(re.search(r"`(t2x-datagen [^`]*)`", last).group(1))
    assert command[1:] == ["--problem=image_tiny_digits", f"--data_dir={data}", f"--t2x_usr_dir={usr}",
                           "--random_seed=429459"]
    rewrite = datagen(*command[1:], f"--tmp_dir={raw}")
    assert rewrite.returncode == 0 and "Traceback" not in rewrite.stderr, rewrite.stderr[-2000:]
    assert "train: 3 shard(s)" in rewrite.stdout and "wrote 1 shard(s), 20 examples" in rewrite.stdout
    assert "dev: 1 shard(s)" in rewrite.stdout and "already complete" in rewrite.stdout
    assert sha256_of(shard) == good and {n: sha256_of(data / n) for n in others} == others
    trained = subprocess.run(train, capture_output=True, text=True, env=env, timeout=240, cwd=REPO_ROOT)
    assert trained.returncode == 0, trained.stderr[-2000:]
    assert "train_and_evaluate done at step 30" in trained.stderr + trained.stdout
