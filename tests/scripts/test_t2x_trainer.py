"""t2x-trainer end to end, as a user runs it: a user dir adds a problem, a model and an
hparams set; tiny IDX data; no network."""

import json
import math
import os
import subprocess
import sys
import textwrap

import pytest

from conftest import DENSE_MODEL_CODE, REPO_ROOT, make_tiny_mnist

USR_CODE = textwrap.dedent('''
    import keras
    from t2x import registry
    from t2x.data.image import IdxImage2ClassProblem, idx_sources
    from t2x.hparams.basic import basic_params1
    from t2x.model import T2XModel

    @registry.register_problem
    class ImageTinyDigits(IdxImage2ClassProblem):
        train_shards = 2
        source_files = idx_sources({TABLE!r}, ["http://127.0.0.1:9/"])

    @registry.register_model
    {DENSE_MODEL}
    @registry.register_hparams
    def my_dense_tiny():
        hp = basic_params1()
        hp.batch_size = 8
        hp.hidden_size = 16
        hp.learning_rate_schedule = "constant*linear_warmup"
        hp.learning_rate_constant = 0.01
        hp.learning_rate_warmup_steps = 2
        return hp
''')


@pytest.fixture
def run(tmp_path):
    raw = tmp_path / "raw"
    table, _ = make_tiny_mnist(str(raw))
    usr = tmp_path / "my_code"
    usr.mkdir()
    (usr / "__init__.py").write_text(USR_CODE.replace("{TABLE!r}", repr(table)).replace("{DENSE_MODEL}", DENSE_MODEL_CODE))
    base = [f"--t2x_usr_dir={usr}", "--problem=image_tiny_digits", "--model=my_dense_net",
            "--hparams_set=my_dense_tiny", f"--data_dir={tmp_path / 'data'}", f"--tmp_dir={raw}",
            f"--output_dir={tmp_path / 'out'}", "--eval_steps=2", "--eval_every=2", "--log_every=2",
            "--save_checkpoints_steps=2"]

    def trainer(*args):
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", T2X_OFFLINE="1")
        return subprocess.run([sys.executable, "-m", "t2x.scripts.t2x_trainer", *base, *args],
                              capture_output=True, text=True, env=env, timeout=240, cwd=REPO_ROOT)

    return trainer, tmp_path / "out"


def test_generate_train_evaluate_resume_and_refuse(run):
    trainer, out = run
    first = trainer("--generate_data", "--train_steps=4", "--gin_param=Trainer.num_summary_images=2")
    assert first.returncode == 0, first.stderr[-3000:]
    assert "t2x-trainer: train_and_evaluate done at step 4: accuracy " in first.stdout
    assert "step 4/4: loss" in first.stderr and "examples/s" in first.stderr and "ETA" in first.stderr
    assert sorted(f for f in os.listdir(out) if f.startswith("ckpt-4")) != []
    assert json.loads((out / "run.json").read_text()) == {
        "problem": "image_tiny_digits", "model": "my_dense_net", "hparams_set": "my_dense_tiny",
        "data_dir": str(out.parent / "data"), "t2x_usr_dir": str(out.parent / "my_code")}
    assert "Trainer.num_summary_images = 2" in (out / "config.gin").read_text()
    assert "--train_steps=4" in (out / "flags.txt").read_text()

    more = trainer("--train_steps=6", "--gin_param=Trainer.num_summary_images=2")
    assert more.returncode == 0, more.stderr[-3000:]
    assert "Restored" in more.stderr and "done at step 6" in more.stdout

    changed = trainer("--train_steps=8", "--hparams=hidden_size=8")
    assert changed.returncode == 1
    errors = [l for l in changed.stderr.splitlines() if "error:" in l]
    assert len(errors) == 1 and "hidden_size: 16 -> 8" in errors[0] and "--allow_config_change" in errors[0]
    assert json.loads((out / "hparams.json").read_text())["hidden_size"] == 16  # kept


@pytest.mark.parametrize("model,hparams_set,extra", [("transformer", "transformer_test", ""),
                                                      ("transformer", "transformer_test", ",packed=true"),
                                                      ("lstm_seq2seq_attention", "lstm_tiny", "")])
def test_sequence_models_train_on_tiny_algo_through_the_binary(tmp_path, model, hparams_set, extra):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", T2X_OFFLINE="1")
    result = subprocess.run(
        [sys.executable, "-m", "t2x.scripts.t2x_trainer", "--generate_data", "--problem=tiny_algo",
         f"--model={model}", f"--hparams_set={hparams_set}", f"--data_dir={tmp_path / 'data'}",
         f"--output_dir={tmp_path / 'out'}", "--train_steps=6", "--log_every=3", "--eval_steps=2",
         f"--hparams=batch_size=256,max_length=41{extra}"],
        capture_output=True, text=True, env=env, timeout=240, cwd=REPO_ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "done at step 6" in result.stdout and "accuracy_per_sequence" in result.stdout
    assert "target tokens/s" in result.stderr  # batch_size is a token budget here
    assert os.path.exists(tmp_path / "out" / "ckpt-6.index")


def test_lstm_language_model_reports_perplexity(tmp_path):
    words = "the cat sat on the mat . a dog ran in the park . the dog sat on a cat .".split()
    rng = __import__("random").Random(0)
    for name, n in (("train.txt", 200), ("dev.txt", 20)):
        (tmp_path / name).write_text("\n".join(" ".join(rng.choice(words) for _ in range(rng.randint(3, 9)))
                                               for _ in range(n)) + "\n")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", T2X_OFFLINE="1")
    result = subprocess.run(
        [sys.executable, "-m", "t2x.scripts.t2x_trainer", "--generate_data", "--problem=languagemodel_from_files",
         "--model=lstm_lm", "--hparams_set=lstm_tiny", f"--data_dir={tmp_path / 'data'}",
         f"--output_dir={tmp_path / 'out'}", "--train_steps=20", "--log_every=10", "--eval_steps=0",
         f"--gin_param=LanguagemodelFromFiles.train='{tmp_path / 'train.txt'}'",
         f"--gin_param=LanguagemodelFromFiles.dev='{tmp_path / 'dev.txt'}'",
         "--gin_param=LanguagemodelFromFiles.vocab_type='token'",
         "--hparams=batch_size=128,learning_rate_schedule=constant,learning_rate_constant=0.01"],
        capture_output=True, text=True, env=env, timeout=240, cwd=REPO_ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = dict(item.split(" ") for item in result.stdout.split("done at step 20: ")[1].strip().split(", "))
    loss, perplexity = float(metrics["loss"]), float(metrics["perplexity"])
    assert perplexity == pytest.approx(math.exp(loss), rel=1e-3)
    assert perplexity < 14  # a vocabulary of 14 words + EOS: learnt more than a uniform guess
