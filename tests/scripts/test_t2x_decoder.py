"""t2x-decoder, t2x-bleu and t2x-avg-checkpoints end to end on tiny_algo."""

import os
import random
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from conftest import REPO_ROOT

ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", T2X_OFFLINE="1")


def run(module, *args, timeout=300, stdin=None):
    return subprocess.run([sys.executable, "-m", f"t2x.scripts.{module}", *args], capture_output=True,
                          text=True, env=ENV, timeout=timeout, cwd=REPO_ROOT, input=stdin)


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """tiny_algo, transformer_test, 3 checkpoints, dev decoded by the trainer (beam 2)."""
    root = tmp_path_factory.mktemp("run")
    result = run("t2x_trainer", "--generate_data", "--problem=tiny_algo", "--model=transformer",
                 "--hparams_set=transformer_test", f"--data_dir={root / 'data'}",
                 f"--output_dir={root / 'out'}", "--train_steps=9", "--save_checkpoints_steps=3",
                 "--eval_every=100", "--eval_steps=1", "--hparams=batch_size=256,max_length=41",
                 "--eval_decode_split=dev", "--decode_hparams=beam_size=2,alpha=0.6,extra_length=5")
    assert result.returncode == 0, result.stderr[-3000:]
    bleu = float(result.stdout.split("bleu ")[1].split(",")[0])
    return root, bleu


def test_decoder_reproduces_the_trainers_decode_and_bleu(trained_run):
    root, trainer_bleu = trained_run
    trainer_decodes = (root / "out" / "decodes" / "dev-9.txt").read_text().splitlines()
    assert len(trainer_decodes) == 100
    result = run("t2x_decoder", f"--output_dir={root / 'out'}", "--decode_split=dev",
                 "--decode_hparams=beam_size=2,alpha=0.6,extra_length=5", f"--decode_to_file={root / 'dev.txt'}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert (root / "dev.txt").read_text().splitlines() == trainer_decodes
    bleu = float(result.stdout.split("BLEU = ")[1].split()[0])
    assert bleu == pytest.approx(trainer_bleu, abs=0.005)
    assert "sentences/s" in result.stdout and "ckpt-9" in result.stdout


def test_decode_from_file_keeps_the_file_order(trained_run):
    root, _ = trained_run
    rng = random.Random(0)
    lines = [" ".join(str(rng.randint(0, 1)) for _ in range(rng.randint(1, 12))) for _ in range(40)]
    source = root / "source.txt"
    source.write_text("\n".join(lines) + "\n")
    result = run("t2x_decoder", f"--output_dir={root / 'out'}", f"--decode_from_file={source}",
                 f"--decode_to_file={root / 'out.txt'}", "--decode_hparams=batch_size=7,extra_length=3")
    assert result.returncode == 0, result.stderr[-3000:]
    outputs = (root / "out.txt").read_text().splitlines()
    # Each line decoded alone must give the line decoded in the batch, at the same index.
    single = root / "single.txt"
    picks = [0, 17, 39]
    single.write_text("\n".join(lines[i] for i in picks) + "\n")
    result = run("t2x_decoder", f"--output_dir={root / 'out'}", f"--decode_from_file={single}",
                 f"--decode_to_file={root / 'single.out'}", "--decode_hparams=batch_size=1,extra_length=3")
    assert result.returncode == 0, result.stderr[-3000:]
    assert (root / "single.out").read_text().splitlines() == [outputs[i] for i in picks]
    assert len(outputs) == 40 and all(set(o.split()) <= {"0", "1"} for o in outputs)
    interactive = run("t2x_decoder", f"--output_dir={root / 'out'}", "--decode_interactive",
                      "--decode_hparams=extra_length=3", stdin=lines[17] + "\n")
    assert interactive.returncode == 0 and interactive.stdout.splitlines() == [outputs[17]]


def test_avg_checkpoints_averages_the_last_n(trained_run):
    root, _ = trained_run
    out = root / "out"
    result = run("t2x_avg_checkpoints", f"--output_dir={out}", "--num_last_checkpoints=3")
    assert result.returncode == 0, result.stderr[-3000:]
    readers = [tf.train.load_checkpoint(str(out / f"ckpt-{s}")) for s in (3, 6, 9)]
    shapes = readers[0].get_variable_to_shape_map()
    names = [n for n in shapes if n.startswith("model_weights/") and n.endswith("VARIABLE_VALUE")]
    assert len(names) > 30  # every weight, under model_weights/weights/<i>
    key = max(names, key=lambda n: np.prod(shapes[n]))
    expected = np.mean([r.get_tensor(key) for r in readers], axis=0)
    averaged = tf.train.load_checkpoint(tf.train.latest_checkpoint(str(out / "avg")))
    np.testing.assert_allclose(averaged.get_tensor(key), expected, rtol=1e-6)
    assert not np.allclose(expected, readers[-1].get_tensor(key))
    result = run("t2x_decoder", f"--output_dir={out / 'avg'}", "--decode_split=dev",
                 "--decode_hparams=extra_length=2")
    assert result.returncode == 0 and "avg/ckpt-9" in result.stdout, result.stderr[-2000:]


def test_t2x_bleu_equals_sacrebleu(tmp_path):
    import sacrebleu

    hyps = ["Ein Mann fährt Fahrrad auf einer Straße.", "Zwei Hunde spielen im Schnee.",
            "Eine Frau liest ein Buch im Park.", "Kinder spielen am Strand."]
    refs = ["Ein Mann fährt mit dem Fahrrad auf einer Straße.", "Zwei Hunde spielen im Schnee.",
            "Eine Frau liest im Park ein Buch.", "Drei Kinder spielen am Strand."]
    (tmp_path / "hyp").write_text("\n".join(hyps) + "\n")
    (tmp_path / "ref").write_text("\n".join(refs) + "\n")
    result = run("t2x_bleu", f"--translation={tmp_path / 'hyp'}", f"--reference={tmp_path / 'ref'}")
    assert result.returncode == 0, result.stderr
    expected = sacrebleu.corpus_bleu(hyps, [refs]).score
    assert f"BLEU = {expected:.2f}" in result.stdout
    intl = sacrebleu.corpus_bleu(hyps, [refs], tokenize="intl").score
    assert f"BLEU_cased (t2t-bleu, intl) = {intl:.2f}" in result.stdout
    assert 30 < expected < 90  # partly right: neither 0 nor 100
    (tmp_path / "short").write_text("one line\n")
    result = run("t2x_bleu", f"--translation={tmp_path / 'short'}", f"--reference={tmp_path / 'ref'}")
    assert result.returncode == 1 and "1 hypotheses but 4 references" in result.stderr
