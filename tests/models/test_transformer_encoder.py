"""transformer_encoder: class-label and per-position outputs, padding left out of the pooled
class, prediction without targets, and learning a tiny sentiment task from files (the
registered ``transformer_encoder_sentiment_tiny`` recipe on ``text_classification_from_files``)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from t2x import registry
from t2x.hparam import HParams, HParamsError, create_hparams
from t2x.model import model_for
from t2x.models.transformer_encoder import TransformerEncoder

CLASSIFY = HParams(modality={"inputs": "symbol", "targets": "class_label"}, vocab_size={"inputs": 9, "targets": 3},
                   loss_multiplier=1.0, target_space_id=4)
INPUTS = tf.constant([[2, 3, 4, 1, 0], [5, 6, 1, 0, 0], [7, 8, 2, 3, 1]], tf.int64)


def encoder_model(problem_hparams=CLASSIFY, **overrides):
    keras.utils.set_random_seed(0)
    hp = registry.hparams("transformer_test")()
    hp.override_from_dict(overrides)
    return model_for("transformer_encoder", hp, problem_hparams)


def test_class_label_logits_ignore_padding_and_infer_needs_no_targets():
    assert registry.model("transformer_encoder") is TransformerEncoder
    model = encoder_model()
    logits = model({"inputs": INPUTS, "targets": tf.constant([[0], [1], [2]])}).numpy()
    assert logits.shape == (3, 1, 3)
    padded = model({"inputs": tf.pad(INPUTS, [[0, 0], [0, 4]]), "targets": tf.zeros([3, 1], tf.int64)}).numpy()
    np.testing.assert_allclose(padded, logits, atol=1e-5)
    predicted = tf.function(lambda x: model.infer({"inputs": x}))(INPUTS)
    assert predicted["outputs"].numpy().tolist() == np.argmax(logits, -1).tolist()
    np.testing.assert_allclose(predicted["probabilities"].numpy().sum(-1), 1.0, rtol=1e-5)
    assert not any("decoder" in v.path for v in model.weights)


def test_per_position_targets_and_layer_count():
    tags = HParams(modality={"inputs": "symbol", "targets": "symbol"}, vocab_size={"inputs": 9, "targets": 4},
                   loss_multiplier=1.0)
    model = encoder_model(tags, num_encoder_layers=3)
    logits = model({"inputs": INPUTS, "targets": INPUTS % 4}, training=True)
    assert logits.shape == (3, 5, 4) and len(model.self_attention) == 3
    num, den = model.loss_fn(logits, {"targets": INPUTS % 4})
    assert float(den) == float(np.sum(INPUTS.numpy() % 4 != 0)) and np.isfinite(float(num))


def test_needs_inputs():
    lm = HParams(modality={"targets": "symbol"}, vocab_size={"targets": 9}, loss_multiplier=1.0)
    with pytest.raises(HParamsError, match="transformer_encoder needs a problem with inputs"):
        encoder_model(lm)


def _lines(rng, n):
    good, bad, filler = ["good", "great", "fine", "nice"], ["bad", "awful", "poor", "sad"], ["the", "film", "was", "a"]
    out = []
    for _ in range(n):
        label = rng.randint(2)
        words = list(rng.choice(filler, size=rng.randint(2, 5))) + [rng.choice(good if label else bad)]
        rng.shuffle(words)
        out.append(f"{'pos' if label else 'neg'}\t{' '.join(words)}")
    return out


def test_learns_a_tiny_sentiment_task_from_files(tmp_path):
    """40 train and 20 dev lines of ``label<TAB>text`` (the sentiment word decides), token
    vocabulary: the registered recipe, trained 150 steps by the trainer, classifies the dev
    lines (dev accuracy >= 0.9; measured 1.0)."""
    from t2x.problems.from_files import TextClassificationFromFiles
    from t2x.training.trainer import Trainer

    rng = np.random.RandomState(0)
    (tmp_path / "train.tsv").write_text("\n".join(_lines(rng, 40)) + "\n")
    (tmp_path / "dev.tsv").write_text("\n".join(_lines(rng, 20)) + "\n")
    problem = TextClassificationFromFiles(train=str(tmp_path / "train.tsv"), dev=str(tmp_path / "dev.tsv"),
                                          vocab_type="token", train_shards=1)
    data_dir = str(tmp_path / "data")
    problem.generate_data(data_dir, str(tmp_path / "tmp"))
    trainer = Trainer(problem=problem, model_name="transformer_encoder",
                      hparams=create_hparams("transformer_encoder_sentiment_tiny", "batch_size=256"),
                      hparams_set="transformer_encoder_sentiment_tiny", data_dir=data_dir,
                      output_dir=str(tmp_path / "run"), train_steps=150, eval_steps=0, eval_every=1000,
                      save_checkpoints_steps=1000, log_every=1000)
    trainer.train()
    metrics = trainer.evaluate()
    print("tiny sentiment dev accuracy", metrics["accuracy"], "loss", metrics["loss"])
    assert metrics["accuracy"] >= 0.9, metrics
