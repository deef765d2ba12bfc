"""Text exports end to end (issue 25): a text classifier trained with ``transformer`` and with
an LSTM, and a language model, each trained a few steps on tiny files made here, exported,
then served in a fresh process that imports TensorFlow only; its answers must be the
checkpoint's, computed in t2x on the same examples."""

import json
import os
import random
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from conftest import REPO_ROOT

ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", T2X_OFFLINE="1")

POSITIVE = "good great fine lovely nice superb happy".split()
NEGATIVE = "bad awful poor sad ugly terrible boring".split()
FILLER = "the a movie was it plot".split()
LM_WORDS = "the cat sat on a mat and dog ran to red hat".split()


def _train(*args):
    result = subprocess.run([sys.executable, "-m", "t2x.scripts.t2x_trainer", "--generate_data",
                             "--schedule=train", *args], capture_output=True, text=True, env=ENV, timeout=300,
                            cwd=REPO_ROOT)
    assert result.returncode == 0, result.stderr[-3000:]


def fresh_python(code, timeout=120):
    """Runs ``code`` in a new interpreter; returns its last stdout line parsed as JSON."""
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env=ENV, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _sentences(rng, count):
    lines = []
    for _ in range(count):
        label = rng.choice(["neg", "pos"])
        words = rng.choices(POSITIVE if label == "pos" else NEGATIVE, k=2) + rng.choices(FILLER, k=rng.randint(1, 4))
        rng.shuffle(words)
        lines.append(f"{label}\t{' '.join(words)}")
    return lines


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """{"transformer", "lstm"}: text classifiers of one data_dir (subword vocabulary, the
    problem's default); "lm": a character language model. Trained once for the module."""
    root = tmp_path_factory.mktemp("text_export")
    rng = random.Random(25)
    (root / "train.tsv").write_text("\n".join(_sentences(rng, 300)) + "\n")
    (root / "dev.tsv").write_text("\n".join(_sentences(rng, 16)) + "\n")
    (root / "lm_train.txt").write_text("\n".join(" ".join(rng.choices(LM_WORDS, k=6)) for _ in range(200)) + "\n")
    (root / "lm_dev.txt").write_text("\n".join(" ".join(rng.choices(LM_WORDS, k=6)) for _ in range(8)) + "\n")
    classify = ["--problem=text_classification_from_files", f"--data_dir={root / 'data'}",
                f"--gin_param=TextClassificationFromFiles.train='{root / 'train.tsv'}'",
                f"--gin_param=TextClassificationFromFiles.dev='{root / 'dev.tsv'}'",
                "--gin_param=TextClassificationFromFiles.approx_vocab_size=200",
                "--gin_param=TextClassificationFromFiles.train_shards=1"]
    _train(*classify, "--model=transformer", "--hparams_set=transformer_test", "--train_steps=5",
           f"--output_dir={root / 'transformer'}")
    _train(*classify, "--model=lstm_seq2seq_attention", "--hparams_set=lstm_tiny", "--train_steps=5",
           f"--output_dir={root / 'lstm'}")
    _train("--problem=languagemodel_from_files", "--model=transformer", "--hparams_set=transformer_test",
           f"--data_dir={root / 'lm_data'}", f"--output_dir={root / 'lm'}", "--train_steps=10",
           f"--gin_param=LanguagemodelFromFiles.train='{root / 'lm_train.txt'}'",
           f"--gin_param=LanguagemodelFromFiles.dev='{root / 'lm_dev.txt'}'",
           "--gin_param=LanguagemodelFromFiles.vocab_type='character'",
           "--gin_param=LanguagemodelFromFiles.train_shards=1")
    return root


def _checkpoint_probabilities(run_dir, texts):
    """The checkpoint model's class probabilities in t2x, one example at a time (no padding),
    each encoded as the problem encodes its data (ids + EOS)."""
    from t2x.data.text_encoder import EOS_ID
    from t2x.runs.checkpoints import load_trained_model

    model, problem, data_dir, _ = load_trained_model(str(run_dir))
    encoder = problem.get_feature_encoders(data_dir)["inputs"]
    one = [tf.TensorSpec([1, None], tf.int64)]
    infer = tf.function(lambda ids: model.infer({"inputs": ids})["probabilities"], input_signature=one)
    # the training and eval path: given a label (any), the model's logits are infer's
    with_label = tf.function(lambda ids: tf.nn.softmax(model({"inputs": ids, "targets": tf.ones([1, 1], tf.int64)},
                                                             training=False)), input_signature=one)
    rows = []
    for text in texts:
        ids = tf.constant([encoder.encode(text) + [EOS_ID]], tf.int64)
        rows.append(tf.reshape(infer(ids), [-1]).numpy())
        np.testing.assert_allclose(tf.reshape(with_label(ids), [-1]).numpy(), rows[-1], atol=1e-6)
    return np.stack(rows)


@pytest.mark.parametrize("model", ["transformer", "lstm"])
def test_text_classifier_serves_the_checkpoints_classes_with_tensorflow_only(runs, model):
    from t2x.export.exporter import export

    result = export(str(runs / model), export_dir=str(runs / f"export_{model}"))
    assert result.kind == "text_classifier"
    assert set(result.signatures) == {"serving_default", "predict_ids"}
    assert result.signatures["serving_default"]["inputs"] == {"inputs": {"shape": [None], "dtype": "string"}}
    lines = (runs / "dev.tsv").read_text().splitlines()
    texts = [line.partition("\t")[2] for line in lines]
    got = fresh_python(f'''
        import json, sys
        import tensorflow as tf
        m = tf.saved_model.load({str(runs / f"export_{model}" / "saved_model")!r})
        out = m.signatures["serving_default"](inputs=tf.constant({texts!r}))
        print(json.dumps({{"t2x": any(k.startswith("t2x") for k in sys.modules),
                          "classes": out["classes"].numpy().tolist(),
                          "names": [n.decode() for n in out["class_names"].numpy()],
                          "probabilities": out["probabilities"].numpy().tolist()}}))''')
    assert got["t2x"] is False
    expected = _checkpoint_probabilities(runs / model, texts)
    assert expected.shape == (16, 2)
    np.testing.assert_allclose(np.array(got["probabilities"]), expected, atol=1e-5)
    assert got["classes"] == expected.argmax(-1).tolist()
    assert got["names"] == [["neg", "pos"][c] for c in got["classes"]]


def test_language_model_prompt_signature_continues_as_t2x_greedy_decode(runs):
    from t2x import decoding
    from t2x.runs.checkpoints import load_trained_model
    from t2x.export.exporter import export

    result = export(str(runs / "lm"), export_dir=str(runs / "export_lm"), decode_hparams="extra_length=8")
    assert result.kind == "language_model"
    assert result.signatures["serving_default"]["inputs"] == {"prompt": {"shape": [None], "dtype": "string"}}
    prompts = ["the cat", "a dog ran", "red", "on the mat and"]
    got = fresh_python(f'''
        import json, sys
        import tensorflow as tf
        m = tf.saved_model.load({str(runs / "export_lm" / "saved_model")!r})
        out = m.signatures["serving_default"](prompt=tf.constant({prompts!r}))
        print(json.dumps({{"t2x": any(k.startswith("t2x") for k in sys.modules),
                          "outputs": [o.decode() for o in out["outputs"].numpy()],
                          "scores": out["scores"].numpy().tolist()}}))''')
    assert got["t2x"] is False
    model, problem, data_dir, _ = load_trained_model(str(runs / "lm"))
    encoder = problem.get_feature_encoders(data_dir)["targets"]
    greedy = tf.function(lambda p: model.infer({"prompt": p}, extra_length=8)["outputs"],
                         input_signature=[tf.TensorSpec([1, None], tf.int64)])
    expected = []
    for prompt in prompts:  # t2x's own greedy decode, one prompt at a time
        out = greedy(tf.constant([encoder.encode(prompt)], tf.int64))
        expected.append(encoder.decode(decoding.strip_ids(out.numpy()[0])))
    assert got["outputs"] == expected
    assert any(expected) and len(got["scores"]) == 4


def test_every_serving_kind_has_an_end_to_end_test():
    """The kinds of the export's table, and the test that serves each in a fresh process."""
    from t2x.export.kinds import SERVING_KINDS

    here = open(__file__, encoding="utf-8").read()
    image = open(os.path.join(os.path.dirname(__file__), "test_export.py"), encoding="utf-8").read()
    user = open(os.path.join(os.path.dirname(__file__), "..", "..", "scripts", "test_user_modality.py"),
                encoding="utf-8").read()
    speech = open(os.path.join(os.path.dirname(__file__), "..", "inference", "test_speech_decoding.py"),
                  encoding="utf-8").read()
    tested = {"image_classifier": "test_saved_model_in_a_fresh_process_equals_the_checkpoint" in image,
              "text2text": "test_text_export_writes_the_decoders_lines" in image,
              "text_classifier": "test_text_classifier_serves_the_checkpoints_classes" in here,
              "language_model": "test_language_model_prompt_signature_continues" in here,
              "classifier": "test_a_user_modality_trains_evaluates_classifies_and_exports" in user,
              "speech_recognition":
                  "test_export_transcribes_like_the_checkpoint_in_a_tensorflow_only_process" in speech}
    assert set(SERVING_KINDS) == set(tested) and all(tested.values())
