"""LSTM models: shapes, teacher forcing causality, padding invariance, and learning."""

import numpy as np
import pytest
import tensorflow as tf

from t2x import registry
from t2x.hparam import HParams
from t2x.model import model_for
from model_test_utils import train_losses


def seq2seq_hparams(vocab=6):
    return HParams(modality={"inputs": "symbol", "targets": "symbol"},
                   vocab_size={"inputs": vocab, "targets": vocab}, loss_multiplier=1.0)


def build(name, problem_hparams=None, **overrides):
    hp = registry.hparams("lstm_tiny")()
    hp.override_from_dict(dict(dropout=0.0, **overrides))
    return model_for(name, hp, problem_hparams or seq2seq_hparams())


FEATURES = {"inputs": tf.constant([[2, 3, 4, 1, 0], [5, 1, 0, 0, 0]]),
            "targets": tf.constant([[4, 3, 2, 1], [5, 1, 0, 0]])}


@pytest.mark.parametrize("name", ["lstm_seq2seq", "lstm_seq2seq_attention"])
def test_shapes_causality_and_padding(name):
    model = build(name)
    logits = model(FEATURES, training=False).numpy()
    assert logits.shape == (2, 4, 6)
    changed = dict(FEATURES, targets=tf.constant([[4, 5, 2, 1], [5, 1, 0, 0]]))
    after = model(changed, training=False).numpy()
    np.testing.assert_allclose(after[:, :2], logits[:, :2], atol=1e-6)  # positions <= 1 unchanged
    assert not np.allclose(after[0, 2:], logits[0, 2:])
    padded = dict(FEATURES, inputs=tf.pad(FEATURES["inputs"], [[0, 0], [0, 3]]))
    np.testing.assert_allclose(model(padded, training=False).numpy(), logits, atol=1e-5)


def test_lm_has_no_encoder():
    lm = build("lstm_lm", HParams(modality={"targets": "symbol"}, vocab_size={"targets": 6},
                                  loss_multiplier=1.0))
    logits = lm({"targets": FEATURES["targets"]}, training=False)
    assert logits.shape == (2, 4, 6) and lm.encoder_layers == []
    assert registry.model("lstm_lm") is type(lm)
    assert {"lstm_seq2seq", "lstm_attention", "lstm_luong_attention", "lstm_tiny", "lstm_lm_ptb"} <= set(registry.list_hparams())


def test_attention_model_learns_reversal():
    rng = np.random.RandomState(0)
    inputs, targets = np.zeros((32, 7), np.int64), np.zeros((32, 7), np.int64)
    for i in range(32):
        seq = rng.randint(2, 4, size=rng.randint(3, 7))
        inputs[i, :len(seq) + 1] = list(seq) + [1]
        targets[i, :len(seq) + 1] = list(seq[::-1]) + [1]
    features = {"inputs": tf.constant(inputs), "targets": tf.constant(targets)}
    model = build("lstm_seq2seq_attention", seq2seq_hparams(4), label_smoothing=0.0)
    losses = train_losses(model, features, 200, learning_rate=1e-2)
    pred = np.argmax(model(features, training=False).numpy(), -1)
    mask = targets != 0
    accuracy = (pred[mask] == targets[mask]).mean()
    assert losses[-1] < 0.3 * losses[0] and accuracy > 0.9, (losses[0], losses[-1], accuracy)
