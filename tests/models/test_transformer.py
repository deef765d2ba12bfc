"""transformer: the T2T hparams sets, output shapes (encoder-decoder and decoder-only),
causality of the decoder, invariance to input padding, eval determinism, T2T's helpers
(shift_right_3d, timing signal, embedding_to_padding), and that it can learn to reverse."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from t2x import registry
from t2x.hparam import HParams
from t2x.model import model_for
from model_test_utils import train_losses
from t2x.layers import embedding_to_padding, get_timing_signal_1d, shift_right_3d
from t2x.models.transformer import Transformer

VOCAB = 4  # tiny_algo: PAD, EOS, two symbols


@pytest.fixture(scope="module")
def algo_hparams():
    return registry.problem("tiny_algo").get_hparams()


def lm_hparams(vocab=VOCAB):
    return HParams(modality={"targets": "symbol"}, vocab_size={"targets": vocab},
                   loss_multiplier=1.0)


def test_model(problem_hparams, seed=0, **overrides):
    keras.utils.set_random_seed(seed)
    hp = registry.hparams("transformer_test")()
    hp.override_from_dict(overrides)
    return model_for("transformer", hp, problem_hparams)


test_model.__test__ = False  # a helper, not a test


def random_batch(rng, batch, in_len, tgt_len, vocab=VOCAB):
    """Random ids 2..vocab-1 with EOS and padding at random lengths."""
    def seqs(length):
        out = np.zeros((batch, length), np.int64)
        for b in range(batch):
            n = rng.randint(1, length)
            out[b, :n] = rng.randint(2, vocab, size=n)
            out[b, n] = 1
        return out
    return {"inputs": tf.constant(seqs(in_len)), "targets": tf.constant(seqs(tgt_len))}


def reverse_data(n=48, seed=0):
    """tiny_algo-like: binary sequences of length 3..8, targets reversed, ids + 2, EOS 1,
    padded with 0 to length 9."""
    rng = np.random.RandomState(seed)
    inputs = np.zeros((n, 9), np.int64)
    targets = np.zeros((n, 9), np.int64)
    for b in range(n):
        seq = rng.randint(2, size=rng.randint(3, 9)) + 2
        inputs[b, :len(seq)] = seq
        inputs[b, len(seq)] = 1
        targets[b, :len(seq)] = seq[::-1]
        targets[b, len(seq)] = 1
    return {"inputs": tf.constant(inputs), "targets": tf.constant(targets)}


# ------------------------------------------------------------------- registry / sets --

def test_registered_model_and_sets():
    assert registry.model("transformer") is Transformer
    for name in ("transformer_base_v1", "transformer_base_v2", "transformer_base_v3",
                 "transformer_base", "transformer_big", "transformer_small", "transformer_tiny",
                 "transformer_test"):
        assert isinstance(registry.hparams(name)(), HParams), name


def test_transformer_base_has_t2t_values():
    hp = registry.hparams("transformer_base")()
    expected = dict(
        hidden_size=512, filter_size=2048, num_hidden_layers=6, num_heads=8,
        num_encoder_layers=0, num_decoder_layers=0,
        layer_prepostprocess_dropout=0.1, attention_dropout=0.1, relu_dropout=0.1,
        label_smoothing=0.1, optimizer="adam", optimizer_adam_beta1=0.9,
        optimizer_adam_beta2=0.997, optimizer_adam_epsilon=1e-9,
        learning_rate_schedule="constant*linear_warmup*rsqrt_decay*rsqrt_hidden_size",
        learning_rate_constant=2.0, learning_rate_warmup_steps=8000, batch_size=4096,
        max_length=256, shared_embedding_and_softmax_weights=True, norm_type="layer",
        layer_preprocess_sequence="n", layer_postprocess_sequence="da", clip_grad_norm=0.0,
        weight_decay=0.0, initializer="uniform_unit_scaling", initializer_gain=1.0)
    for key, value in expected.items():
        assert hp.get(key) == value, key


@pytest.mark.parametrize("name,layers,hidden,filt,heads", [
    ("transformer_small", 2, 256, 1024, 4), ("transformer_tiny", 2, 128, 512, 4),
    ("transformer_big", 6, 1024, 4096, 16), ("transformer_test", 2, 16, 8, 2)])
def test_smaller_sets(name, layers, hidden, filt, heads):
    hp = registry.hparams(name)()
    assert (hp.num_hidden_layers, hp.hidden_size, hp.filter_size, hp.num_heads) == \
        (layers, hidden, filt, heads)
    assert hp.learning_rate_constant == 2.0 and hp.optimizer_adam_beta2 == 0.997


def test_schedule_is_noam():
    from t2x.training.learning_rate import learning_rate_schedule
    hp = registry.hparams("transformer_base")()
    lr = learning_rate_schedule(hp, 100000)
    for step in (100, 8000, 40000):
        want = 2.0 * min(1.0, step / 8000) * max(step, 8000) ** -0.5 * 512 ** -0.5
        assert float(lr(step)) == pytest.approx(want, rel=1e-4)


# --------------------------------------------------------------------------- helpers --

def test_shift_right_3d():
    x = tf.reshape(tf.range(1, 13, dtype=tf.float32), [2, 3, 2])
    y = shift_right_3d(x).numpy()
    np.testing.assert_array_equal(y[:, 0], 0)
    np.testing.assert_array_equal(y[:, 1:], x.numpy()[:, :-1])


def test_timing_signal_matches_formula():
    length, channels = 5, 6
    sig = get_timing_signal_1d(length, channels).numpy()[0]
    inc = math.log(1e4) / 2
    for pos in range(length):
        for i in range(3):
            t = pos * math.exp(-i * inc)
            assert sig[pos, i] == pytest.approx(math.sin(t), abs=1e-5)
            assert sig[pos, 3 + i] == pytest.approx(math.cos(t), abs=1e-5)
    assert get_timing_signal_1d(3, 7).shape == (1, 3, 7)


def test_embedding_to_padding():
    emb = tf.constant([[[0.0, 0.0], [1.0, -1.0], [0.0, 0.0]]])
    np.testing.assert_array_equal(embedding_to_padding(emb).numpy(), [[1.0, 0.0, 1.0]])


# ---------------------------------------------------------------------------- model --

def test_encoder_decoder_logits_shape(algo_hparams):
    model = test_model(algo_hparams)
    features = random_batch(np.random.RandomState(0), 3, 7, 5)
    for training in (True, False):
        logits = model(features, training=training)
        assert logits.shape == (3, 5, VOCAB)
        assert np.all(np.isfinite(logits.numpy()))
    names = [v.path for v in model.trainable_variables]
    assert any("encdec_attention" in n for n in names)
    assert any("encoder_1_" in n for n in names)
    num, den = model.loss_fn(logits, features)
    assert np.isfinite(float(num / den))


def test_layer_counts_from_num_encoder_decoder_layers(algo_hparams):
    model = test_model(algo_hparams, num_encoder_layers=1, num_decoder_layers=3)
    model(random_batch(np.random.RandomState(0), 2, 4, 4))
    assert len(model.encoder_self_attention) == 1 and len(model.decoder_self_attention) == 3


def test_decoder_only(algo_hparams):
    del algo_hparams
    vocab = 7
    model = test_model(lm_hparams(vocab))
    targets = tf.constant([[2, 3, 4, 5, 1, 0], [6, 6, 1, 0, 0, 0]], tf.int64)
    logits = model({"targets": targets}, training=True)
    assert logits.shape == (2, 6, vocab)
    assert not model.decoder_encdec_attention
    assert not any("encoder" in v.path or "encdec" in v.path for v in model.trainable_variables)


@pytest.mark.parametrize("lm", [False, True])
def test_causality(algo_hparams, lm):
    model = test_model(lm_hparams() if lm else algo_hparams)
    rng = np.random.RandomState(1)
    features = random_batch(rng, 2, 6, 7)
    if lm:
        features = {"targets": features["targets"]}
    base = model(features, training=False).numpy()
    targets = features["targets"].numpy()
    for k in range(targets.shape[1]):
        changed = targets.copy()
        changed[:, k] = np.where(changed[:, k] == 2, 3, 2)
        logits = model({**features, "targets": tf.constant(changed)}, training=False).numpy()
        np.testing.assert_allclose(logits[:, :k + 1], base[:, :k + 1], atol=1e-6)
        if k + 1 < targets.shape[1]:
            assert np.abs(logits[:, k + 1:] - base[:, k + 1:]).max() > 1e-6  # later ones see it


def test_input_padding_invariance(algo_hparams):
    model = test_model(algo_hparams)
    features = random_batch(np.random.RandomState(2), 3, 5, 6)
    base = model(features, training=False).numpy()
    padded = tf.pad(features["inputs"], [[0, 0], [0, 4]])
    logits = model({**features, "inputs": padded}, training=False).numpy()
    np.testing.assert_allclose(logits, base, atol=1e-5)
    # ... while the inputs themselves matter.
    x = features["inputs"]
    swapped = tf.where(x == 2, tf.constant(3, tf.int64), tf.where(x == 3, tf.constant(2, tf.int64), x))
    other = model({**features, "inputs": swapped}, training=False).numpy()
    assert np.abs(other - base).max() > 1e-4


def test_eval_is_deterministic_and_training_is_not(algo_hparams):
    model = test_model(algo_hparams)
    features = random_batch(np.random.RandomState(3), 4, 6, 6)
    a = model(features, training=False).numpy()
    b = model(features, training=False).numpy()
    np.testing.assert_array_equal(a, b)
    c = model(features, training=True).numpy()
    assert np.abs(c - a).max() > 1e-6  # dropout 0.1 in training


def test_shared_embedding_and_softmax(algo_hparams):
    model = test_model(algo_hparams)
    model(random_batch(np.random.RandomState(0), 2, 4, 4))
    target_modality = model.modalities["targets"]
    assert target_modality.softmax_weights is target_modality.embedding


def test_learns_to_reverse():
    """Adam 1e-3, no dropout, a transformer_test-sized model (hidden 32) memorizes the
    reversal of 48 binary sequences."""
    vocab = 4
    php = HParams(modality={"inputs": "symbol", "targets": "symbol"},
                  vocab_size={"inputs": vocab, "targets": vocab}, loss_multiplier=1.0,
                  target_space_id=5)
    model = test_model(php, hidden_size=32, filter_size=64, layer_prepostprocess_dropout=0.0,
                       attention_dropout=0.0, relu_dropout=0.0)
    features = reverse_data()
    losses = train_losses(model, features, 250)
    predictions = tf.argmax(model(features, training=False), -1).numpy()
    targets = features["targets"].numpy()
    mask = targets != 0
    accuracy = (predictions[mask] == targets[mask]).mean()
    print("reverse accuracy", accuracy, "loss", losses[0], "->", losses[-1])
    assert accuracy >= 0.9 or losses[-1] <= 0.3 * losses[0], (accuracy, losses[0], losses[-1])


def _pack(examples, length):
    from t2x.data.batching import pack_dataset

    keys = sorted(examples[0])
    ds = tf.data.Dataset.from_generator(
        lambda: iter(examples), output_signature={k: tf.TensorSpec([None], tf.int64) for k in keys})
    rows = list(pack_dataset(ds, length, open_rows=1).as_numpy_iterator())  # stream order
    return {k: tf.constant(np.stack([r[k] for r in rows])) for k in rows[0]}


def _pad(examples):
    return {k: tf.constant(np.stack([np.pad(e[k], (0, max(len(x[k]) for x in examples) - len(e[k])))
                                     for e in examples])) for k in examples[0]}


@pytest.mark.parametrize("with_inputs", [True, False], ids=["encoder_decoder", "decoder_only"])
def test_a_packed_batch_has_the_loss_of_its_examples_unpacked(algo_hparams, with_inputs):
    """Packing changes nothing but speed: the same examples give the same loss sums (and the
    same logits at every real target position) packed into rows or padded one per row."""
    rng = np.random.RandomState(3)
    vocab = 9

    def seq():
        return np.concatenate([rng.randint(2, vocab, size=rng.randint(1, 7)), [1]]).astype(np.int64)

    examples = [({"inputs": seq(), "targets": seq()} if with_inputs else {"targets": seq()})
                for _ in range(12)]
    problem_hparams = HParams(modality={"inputs": "symbol", "targets": "symbol"} if with_inputs
                              else {"targets": "symbol"},
                              vocab_size={"inputs": vocab, "targets": vocab} if with_inputs
                              else {"targets": vocab}, loss_multiplier=1.0, target_space_id=3)
    model = test_model(problem_hparams, packed=True, packed_length=16)  # rows of 16, as _pack makes
    packed, padded = _pack(examples, 16), _pad(examples)
    assert packed["targets"].shape[0] < len(examples)  # several examples per row
    num_u, den_u = model.loss_fn(model(padded, training=False), padded, training=False)
    num_p, den_p = model.loss_fn(model(packed, training=False), packed, training=False)
    assert float(den_u) == float(den_p) == sum(len(e["targets"]) for e in examples)
    np.testing.assert_allclose(float(num_p), float(num_u), rtol=1e-5)
    # Per token: example i's logits in its row equal its logits alone.
    logits_p = model(packed, training=False).numpy()
    logits_u = model(padded, training=False).numpy()
    seg = packed["targets_segmentation"].numpy()
    i = 0
    for r in range(seg.shape[0]):
        for s in range(1, seg[r].max() + 1):
            np.testing.assert_allclose(logits_p[r][seg[r] == s], logits_u[i][:(seg[r] == s).sum()],
                                       atol=2e-5)
            i += 1
    # Without the segment masks the rows' examples would see each other: the loss changes.
    unmasked = {k: v for k, v in packed.items() if k in ("inputs", "targets")}
    num_x, _ = model.loss_fn(model(unmasked, training=False), unmasked, training=False)
    assert abs(float(num_x) - float(num_u)) > 1e-3


def test_packed_is_refused_by_a_model_that_cannot_read_it(algo_hparams):
    from t2x.errors import ConfigError

    hp = registry.hparams("lstm_seq2seq_tiny")() if "lstm_seq2seq_tiny" in registry.list_hparams() \
        else registry.hparams("lstm_seq2seq")()
    hp.packed = True
    with pytest.raises(ConfigError, match="does not read packed batches.*transformer"):
        model_for("lstm_seq2seq", hp, algo_hparams)
