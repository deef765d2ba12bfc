"""Exports of issue 21's families, end to end: a bAbI model (story and question in, the
answer out) trained with ``universal_transformer_encoder``, and a ``universal_transformer``
text-to-text model; each served in a fresh process that imports TensorFlow only, its answers
equal to the checkpoint's in t2x."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from t2x.data.problem import Mode

from conftest import REPO_ROOT

ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", T2X_OFFLINE="1")
PEOPLE = ("Mary", "John", "Daniel", "Sandra")
PLACES = ("bathroom", "hallway", "garden", "office", "kitchen")


def _run(module, *args):
    result = subprocess.run([sys.executable, "-m", f"t2x.scripts.{module}", *args], capture_output=True,
                            text=True, env=ENV, timeout=300, cwd=REPO_ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def fresh_python(code):
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env=ENV, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _stories(count, offset):
    """Task-1 stories in the release's line format: two moves, then 'Where is X?'."""
    lines = []
    for i in range(count):
        a, b = PEOPLE[(i + offset) % 4], PEOPLE[(i + offset + 1) % 4]
        pa, pb = PLACES[(i + offset) % 5], PLACES[(i * 3 + offset) % 5]
        lines += [f"1 {a} moved to the {pa}.", f"2 {b} went to the {pb}.", f"3 Where is {a}?\t{pa}\t1"]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def babi_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("babi_export")
    folder = root / "tmp" / "tasks_1-20_v1-2" / "en"
    folder.mkdir(parents=True)
    (folder / "qa1_single-supporting-fact_train.txt").write_text(_stories(40, 0))
    (folder / "qa1_single-supporting-fact_test.txt").write_text(_stories(6, 7))
    _run("t2x_trainer", "--generate_data", "--problem=babi_qa_concat_task1_1k", "--model=universal_transformer_encoder",
         "--hparams_set=universal_transformer_test", f"--data_dir={root / 'data'}", f"--tmp_dir={root / 'tmp'}",
         f"--output_dir={root / 'out'}", "--train_steps=4", "--schedule=train")
    return root


def test_babi_model_answers_story_and_question_with_tensorflow_only(babi_run):
    from t2x.export.exporter import export
    from t2x.runs.checkpoints import load_trained_model

    root = babi_run
    result = export(str(root / "out"), export_dir=str(root / "export"))
    assert result.kind == "text_classifier"
    model, problem, data_dir, _ = load_trained_model(str(root / "out"))
    dev = list(problem.dataset(Mode.EVAL, data_dir, deterministic=True))
    inputs = problem.get_feature_encoders(data_dir)["inputs"]
    texts = [inputs.decode(ex["inputs"].numpy()[:-1]) for ex in dev]
    assert len(texts) == 6 and all("Where is" in t for t in texts)
    got = fresh_python(f'''
        import json, sys
        import tensorflow as tf
        m = tf.saved_model.load({str(root / "export" / "saved_model")!r})
        out = m.signatures["serving_default"](inputs=tf.constant({texts!r}))
        print(json.dumps({{"t2x": any(k.startswith("t2x") for k in sys.modules),
                          "names": [n.decode() for n in out["class_names"].numpy()],
                          "probabilities": out["probabilities"].numpy().tolist()}}))''')
    assert got["t2x"] is False
    expected = []
    for ex in dev:  # the checkpoint's answer, one example at a time
        ids = tf.reshape(ex["inputs"], [1, -1])
        expected.append(tf.reshape(model.infer({"inputs": ids})["probabilities"], [-1]).numpy())
    expected = np.stack(expected)
    np.testing.assert_allclose(np.array(got["probabilities"]), expected, atol=1e-5)
    labels = problem.class_labels
    assert got["names"] == [labels[c] for c in expected.argmax(-1)]
    assert set(got["names"]) <= set(PLACES) | {"<UNK>"}


def test_universal_transformer_text2text_export_equals_the_checkpoint_decoder(tmp_path):
    from t2x.export.exporter import export
    from t2x.inference.decoder import decode

    _run("t2x_trainer", "--generate_data", "--problem=tiny_algo", "--model=universal_transformer",
         "--hparams_set=universal_transformer_test", f"--data_dir={tmp_path / 'data'}",
         f"--output_dir={tmp_path / 'out'}", "--train_steps=4", "--schedule=train",
         "--hparams=batch_size=256,max_length=41")
    lines = ["1 0 1 1", "0", "1 1 1 0 0 1 0 1", "0 1"]
    (tmp_path / "src.txt").write_text("\n".join(lines) + "\n")
    hp = "beam_size=2,extra_length=4"
    result = export(str(tmp_path / "out"), export_dir=str(tmp_path / "export"), decode_hparams=hp)
    assert result.kind == "text2text"
    decode(str(tmp_path / "out"), decode_from_file=str(tmp_path / "src.txt"), decode_to_file=str(tmp_path / "ck"),
           decode_hparams=hp)
    got = fresh_python(f'''
        import json, sys
        import tensorflow as tf
        m = tf.saved_model.load({str(tmp_path / "export" / "saved_model")!r})
        out = m.signatures["serving_default"](inputs=tf.constant({lines!r}))
        print(json.dumps({{"t2x": any(k.startswith("t2x") for k in sys.modules),
                          "outputs": [o.decode() for o in out["outputs"].numpy()]}}))''')
    assert got["t2x"] is False
    assert got["outputs"] == (tmp_path / "ck").read_text().splitlines()
