"""Modalities and T2XModel: shapes, losses, label smoothing, overrides, eval hparams."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from t2x.hparam import HParams
from t2x import registry
from t2x.modalities import Modality, SymbolModality, create_modality, register_modality, smoothed_cross_entropy
from t2x.registry import RegistryError
from t2x.model import T2XModel, eval_hparams


def hp(**kw):
    base = dict(hidden_size=8, shared_embedding_and_softmax_weights=False, label_smoothing=0.1,
                dropout=0.3, attention_dropout=0.2, modality={})
    base.update(kw)
    return HParams(**base)


def test_symbol_bottom_top_and_padding():
    m = create_modality("symbol", hp(), 20, "targets")
    ids = tf.constant([[3, 5, 0, 0], [7, 1, 2, 0]])
    emb = m.bottom(ids)
    assert emb.shape == (2, 4, 8)
    np.testing.assert_array_equal(emb.numpy()[0, 2:], 0.0)  # id 0 embeds to zeros
    np.testing.assert_allclose(emb.numpy()[0, 0], m.embedding.numpy()[3] * math.sqrt(8), rtol=1e-6)
    logits = m.top(tf.random.normal([2, 4, 8]))
    assert logits.shape == (2, 4, 20)
    np.testing.assert_array_equal(m.targets_weights(ids).numpy(), (ids.numpy() != 0).astype(np.float32))
    num, den = m.loss(logits, ids, 0.0)
    assert float(den) == 5.0  # padding does not count
    xent = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=ids, logits=logits).numpy()
    np.testing.assert_allclose(float(num), xent[ids.numpy() != 0].sum(), rtol=1e-5)


def test_shared_embedding_and_softmax():
    m = create_modality("symbol", hp(shared_embedding_and_softmax_weights=True), 20, "targets")
    m.bottom(tf.constant([[1]]))
    assert m.softmax_weights is m.embedding
    assert len(m.trainable_weights) == 1


def test_label_smoothing_matches_hand_computation():
    logits = tf.constant([[2.0, 0.0, -1.0, 0.5]])
    labels = tf.constant([0])
    got = float(smoothed_cross_entropy(logits, labels, 4, 0.1)[0])
    logp = logits.numpy()[0] - np.log(np.exp(logits.numpy()[0]).sum())
    want = -(0.9 * logp[0] + (0.1 / 3) * (logp[1] + logp[2] + logp[3]))
    assert got == pytest.approx(want, rel=1e-6)
    assert float(smoothed_cross_entropy(logits, labels, 4, 0.0)[0]) == pytest.approx(-logp[0], rel=1e-6)


def test_class_label_pools_any_body_rank():
    m = create_modality("class_label", hp(), 10, "targets")
    for shape in ([3, 7, 7, 8], [3, 5, 8], [3, 8]):
        assert m.top(tf.random.normal(shape)).shape == (3, 1, 10)
    body = tf.random.normal([2, 4, 4, 8])
    np.testing.assert_allclose(m.top(body).numpy(), m.top(tf.reduce_mean(body, [1, 2])).numpy(), rtol=1e-5)
    num, den = m.loss(m.top(body), tf.constant([[1], [2]], tf.int64), 0.0)
    assert float(den) == 2.0
    assert m.bottom(tf.constant([[4]])).shape == (1, 1, 8)


def test_image_real_identity():
    image = create_modality("image", hp(), 256, "inputs")
    x = image.bottom(tf.ones([2, 28, 28, 1], tf.uint8))
    assert x.dtype == tf.float32 and x.shape == (2, 28, 28, 1)
    assert image.top(tf.random.normal([2, 28, 28, 8])).shape == (2, 28, 28, 1, 256)
    real = create_modality("real", hp(), 3, "targets")
    assert real.bottom(tf.random.normal([2, 5, 4])).shape == (2, 5, 8)
    pred = tf.constant([[1.0, 2.0, 3.0]])
    num, den = real.loss(pred, tf.constant([[1.0, 0.0, 0.0]]))
    assert (float(num), float(den)) == (13.0, 3.0)  # L2: 0 + 4 + 9 over 3 values
    ident = create_modality("identity", hp(), None, "inputs")
    assert ident.bottom(tf.constant([1, 2])).dtype == tf.float32
    with pytest.raises(RegistryError, match="feature 'inputs': modality 'symbl' is not in the modalities "
                                           "registry; did you mean symbol"):
        create_modality("symbl", hp(), 3, "inputs")


def test_a_modality_registers_like_a_problem_and_is_found_by_name():
    @register_modality("unit_vector_test")
    class UnitVectorModality(Modality):
        def __init__(self, model_hparams, vocab_size, feature_name, **kwargs):
            super().__init__(model_hparams, vocab_size, feature_name, **kwargs)
            self.dense = keras.layers.Dense(model_hparams.hidden_size)

        def bottom(self, x):
            return self.dense(tf.math.l2_normalize(tf.cast(x, self.compute_dtype), -1))

    try:
        layer = create_modality("unit_vector_test", hp(), None, "inputs")
        assert type(layer) is UnitVectorModality and layer.modality_type == "unit_vector_test"
        out = layer.bottom(tf.constant([[3.0, 4.0], [1.0, 0.0]]))
        assert out.shape == (2, 8)
        assert "unit_vector_test" in registry.help_string()
        with pytest.raises(RegistryError, match=r"modality 'unit_vector_test' is already registered \(by "
                                               r"test_modalities\..*UnitVectorModality\)"):
            register_modality("unit_vector_test")(type("Other", (Modality,), {}))
        assert registry.modality("symbol") is SymbolModality and SymbolModality.modality_type == "symbol"
    finally:
        registry.modalities.unregister("unit_vector_test")


class Tiny(T2XModel):
    def build_body(self):
        self.seen_dropout = self.hparams.dropout
        self.flatten = keras.layers.Flatten()
        self.dense = keras.layers.Dense(self.hparams.hidden_size)

    def body(self, features):
        self.last_dropout = self.hparams.dropout
        return self.dense(self.flatten(features["inputs"]))


def problem_hparams(target_modality="class_label", vocab=10):
    return HParams(modality={"inputs": "image", "targets": target_modality},
                   vocab_size={"inputs": 256, "targets": vocab}, loss_multiplier=1.0)


def test_model_modes_override_and_infer():
    model = Tiny(hp(), problem_hparams())
    assert model.seen_dropout == 0.3  # build_body sees training values
    features = {"inputs": tf.random.normal([4, 6, 6, 1]), "targets": tf.constant([[1], [2], [3], [4]])}
    model(features, training=True)
    assert model.last_dropout == 0.3
    logits = model(features, training=False)
    assert model.last_dropout == 0.0 and logits.shape == (4, 1, 10)
    out = model.infer(features)
    assert out["outputs"].shape == (4, 1)
    np.testing.assert_allclose(out["probabilities"].numpy().sum(-1), 1.0, rtol=1e-5)
    train_num, _ = model.loss_fn(logits, features, training=True)
    eval_num, _ = model.loss_fn(logits, features, training=False)
    assert float(train_num) != float(eval_num)  # label smoothing only in training
    overridden = Tiny(hp(modality={"targets": "real"}), problem_hparams(vocab=3))
    assert overridden.modalities["targets"].modality_type == "real"


def test_eval_hparams_zero_dropouts_and_smoothing():
    e = eval_hparams(hp())
    assert (e.dropout, e.attention_dropout, e.label_smoothing, e.hidden_size) == (0.0, 0.0, 0.0, 8)


@pytest.mark.parametrize("width", [22, 23, 25])
def test_speech_bottom_of_a_recording_does_not_depend_on_the_batch_padding(width):
    """A recording alone and the same recording padded in a batch (even or odd width) give
    the same frames: the stride-2 windows stay aligned and padding never leaks in."""
    speech = create_modality("speech", hp(hidden_size=16, audio_conv_filters=4), None, "inputs")
    rng = np.random.default_rng(0)
    short, long_ = rng.normal(size=[13, 20, 3]).astype(np.float32), rng.normal(size=[width, 20, 3]).astype(np.float32)
    alone = speech.bottom(tf.constant(short[None])).numpy()
    batch = np.zeros([2, width, 20, 3], np.float32)
    batch[0, :13], batch[1] = short, long_
    together = speech.bottom(tf.constant(batch)).numpy()
    assert alone.shape == (1, 4, 16) and together.shape == (2, math.ceil(width / 4), 16)
    np.testing.assert_allclose(together[0, :4], alone[0], atol=1e-5)
    assert not together[0, 4:].any()  # the padding stays zero for the body
    np.testing.assert_allclose(speech.bottom(tf.constant(long_[None])).numpy()[0], together[1], atol=1e-5)
