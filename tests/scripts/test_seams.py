"""The seams of a run, as a user meets them through the binaries: the card's bare command
(default hparams set, data generated when missing), metrics chosen by the problem, a
gin-configured run decoded from its directory alone, ``--schedule=train`` without dev
shards, HParams-dashboard rows per run, unimplemented hparams refused."""

import os
import subprocess
import sys

import pytest
import tensorflow as tf
from tensorboard.plugins.hparams import plugin_data_pb2

from conftest import REPO_ROOT, make_tiny_mnist, usr_dir_code, shard_files

ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", T2X_OFFLINE="1")

USR_PROBLEMS = '''
@registry.register_problem
class ImageTinyDigitsAccuracyOnly(ImageTinyDigits):
    def eval_metrics(self):
        return ["accuracy"]
'''


def run_binary(module, *args, timeout=240):
    return subprocess.run([sys.executable, "-m", f"t2x.scripts.{module}", *args], capture_output=True,
                          text=True, env=ENV, timeout=timeout, cwd=REPO_ROOT)


@pytest.fixture
def usr(tmp_path):
    raw = tmp_path / "raw"
    table, _ = make_tiny_mnist(str(raw))
    usr_dir = tmp_path / "my_code"
    usr_dir.mkdir()
    (usr_dir / "__init__.py").write_text(usr_dir_code(table, 2, USR_PROBLEMS))
    return tmp_path, [f"--t2x_usr_dir={usr_dir}", f"--tmp_dir={raw}", "--train_steps=3",
                      "--eval_steps=2", "--log_every=1"]


def test_missing_raw_files_offline_fail_in_one_line_naming_tmp_dir(usr, tmp_path):
    root, base = usr
    empty = tmp_path / "empty_raw"
    empty.mkdir()
    result = run_binary("t2x_trainer", *[a for a in base if not a.startswith("--tmp_dir")],
                        f"--tmp_dir={empty}", "--problem=image_tiny_digits", "--model=my_dense_net",
                        f"--data_dir={root / 'data'}", f"--output_dir={root / 'out'}")
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("t2x-trainer: error: ") and "--tmp_dir" in last and str(empty) in last
    assert "Traceback" not in result.stderr


def test_schedule_train_needs_no_dev_shards(usr):
    root, base = usr
    data = root / "data"
    result = run_binary("t2x_datagen", *[a for a in base if a.startswith(("--t2x_usr_dir", "--tmp_dir"))],
                        "--problem=image_tiny_digits", f"--data_dir={data}")
    assert result.returncode == 0, result.stderr[-3000:]
    os.remove(data / "image_tiny_digits-dev-00000-of-00001")
    result = run_binary("t2x_trainer", *base, "--problem=image_tiny_digits", "--model=my_dense_net",
                        "--schedule=train", f"--data_dir={data}", f"--output_dir={root / 'out'}",
                        "--gin_param=Trainer.num_summary_images=2")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "train done at step 3" in result.stdout
    assert not (data / "image_tiny_digits-dev-00000-of-00001").exists()  # neither read nor generated


def _dashboard_rows(run_dir):
    """(trial id, hparams) of the HParams session-start records in run_dir/eval."""
    rows = set()
    eval_dir = os.path.join(run_dir, "eval")
    for name in os.listdir(eval_dir):
        for event in tf.compat.v1.train.summary_iterator(os.path.join(eval_dir, name)):
            for value in event.summary.value:
                if value.metadata.plugin_data.plugin_name != "hparams":
                    continue
                data = plugin_data_pb2.HParamsPluginData.FromString(value.metadata.plugin_data.content)
                if data.HasField("session_start_info"):
                    info = data.session_start_info
                    hparams = {k: v.string_value or v.number_value for k, v in info.hparams.items()}
                    rows.add((info.group_name, hparams["problem"], hparams["model"], hparams["hparams_set"]))
    return rows


def test_bare_command_problem_metrics_and_one_dashboard_row_per_run(usr):
    """Two runs of one model with no --hparams_set on two problems, each into an empty data
    dir and an output dir of the default layout (same basename for both): the default set is
    used and announced, the shards are generated, each problem's eval_metrics() decides what
    is reported, and the two runs are two rows of the HParams dashboard."""
    root, base = usr
    rows, reported = set(), {}
    for problem in ("image_tiny_digits", "image_tiny_digits_accuracy_only"):
        data, out = root / "data" / problem, root / "train" / problem / "my_dense_net-my_dense_tiny"
        result = run_binary("t2x_trainer", *base, f"--problem={problem}", "--model=my_dense_net",
                            f"--data_dir={data}", f"--output_dir={out}")
        assert result.returncode == 0, result.stderr[-3000:]
        assert "--hparams_set not given, using my_dense_tiny (model my_dense_net's default set)" in result.stderr
        assert f"3 shard(s) of {problem} missing from" in result.stderr
        assert shard_files(data) == [f"{problem}-dev-00000-of-00001", f"{problem}-train-00000-of-00002",
                                            f"{problem}-train-00001-of-00002"]
        assert '"hparams_set": "my_dense_tiny"' in (out / "run.json").read_text()
        done = [line for line in result.stdout.splitlines() if "train_and_evaluate done at step 3: " in line][0]
        reported[problem] = {item.split()[0] for item in done.split(": ", 2)[2].split(", ")}
        rows |= _dashboard_rows(out)
    assert reported == {"image_tiny_digits": {"accuracy", "accuracy_top5", "neg_log_perplexity", "loss",
                                              "eval_batches"},
                        "image_tiny_digits_accuracy_only": {"accuracy", "loss", "eval_batches"}}
    assert len({row[0] for row in rows}) == 2, rows
    assert {row[1:] for row in rows} == {("image_tiny_digits", "my_dense_net", "my_dense_tiny"),
                                         ("image_tiny_digits_accuracy_only", "my_dense_net", "my_dense_tiny")}


def test_an_unimplemented_hparam_is_one_line_naming_it(usr):
    root, base = usr
    result = run_binary("t2x_trainer", *base, "--problem=image_tiny_digits", "--model=my_dense_net",
                        "--hparams=weight_dtype=bfloat16", f"--data_dir={root / 'data'}",
                        f"--output_dir={root / 'out'}")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "t2x-trainer: error: hparam weight_dtype='bfloat16' is not supported: weights stay float32 "
        "(mixed precision keeps float32 master weights); for bfloat16 or float16 compute set "
        "activation_dtype instead; leave it at 'float32' (in --hparams for set 'my_dense_tiny')")
    assert not (root / "out").exists() and not (root / "data").exists()  # refused before any write


def test_a_gin_configured_run_decodes_from_its_directory_alone(tmp_path):
    pairs = [("a b c", "c b a"), ("hello", "olleh"), ("ab ba", "ab ba"), ("xyz", "zyx")] * 6
    for split, rows in (("train", pairs), ("dev", pairs[:4])):
        (tmp_path / f"{split}.src").write_text("".join(s + "\n" for s, _ in rows))
        (tmp_path / f"{split}.tgt").write_text("".join(t + "\n" for _, t in rows))
    gin = [f"--gin_param=TranslateFromFiles.{side}_{kind}='{tmp_path / (side + ext)}'"
           for side in ("train", "dev") for kind, ext in (("inputs", ".src"), ("targets", ".tgt"))]
    gin.append("--gin_param=TranslateFromFiles.vocab_type='character'")
    out = tmp_path / "out"
    result = run_binary("t2x_trainer", "--problem=translate_from_files", "--model=transformer",
                        "--hparams_set=transformer_test", f"--data_dir={tmp_path / 'data'}",
                        f"--output_dir={out}", "--train_steps=2", "--eval_steps=1",
                        "--schedule=train", "--hparams=batch_size=256", *gin)
    assert result.returncode == 0, result.stderr[-3000:]
    assert not [f for f in os.listdir(tmp_path / "data") if f.startswith("vocab.")]  # characters: no file
    source = tmp_path / "to_decode.txt"
    source.write_text("a b c\nhello\n")
    result = run_binary("t2x_decoder", f"--output_dir={out}", f"--decode_from_file={source}",
                        f"--decode_to_file={tmp_path / 'decoded.txt'}", "--decode_hparams=extra_length=3")
    assert result.returncode == 0, result.stderr[-3000:]
    assert len((tmp_path / "decoded.txt").read_text().splitlines()) == 2
