"""The image transformer: local attention against masked full attention, cached sampling
against the uncached path, bits per dimension by hand, a tiny train that lowers it."""

import math

import numpy as np
import pytest
import tensorflow as tf

from t2x import metrics, registry
from t2x.data.problem import ModalityType
from t2x.errors import ConfigError
from t2x.hparam import HParams
from t2x.layers.attention import MultiheadAttention
from t2x.layers.local_attention import LocalAttention1D, local_1d_bias, local_1d_step_bias
from t2x.model import model_for

from model_test_utils import train_losses


def image_problem_hparams(shape=(4, 4, 2), conditional=False, classes=3):
    modality = {"targets": ModalityType.IMAGE_CHANNEL_EMBEDDINGS}
    vocab = {"targets": 256}
    if conditional:
        modality["inputs"], vocab["inputs"] = ModalityType.CLASS_LABEL, classes
    return HParams(modality=modality, vocab_size=vocab, image_shape=list(shape), input_space_id=3,
                   target_space_id=1, loss_multiplier=1.0)


def tiny_model(shape=(4, 4, 2), conditional=False, **overrides):
    hp = registry.hparams("imagetransformer_test")()
    hp.block_length = 4
    for k, v in overrides.items():
        setattr(hp, k, v)
    return model_for("imagetransformer", hp, image_problem_hparams(shape, conditional))


def test_local_attention_bias_is_the_documented_band():
    bias = local_1d_bias(5, 2)[0, 0].numpy()
    visible = (bias == 0).astype(int)
    assert visible.tolist() == [[1, 0, 0, 0, 0], [1, 1, 0, 0, 0], [1, 1, 1, 0, 0], [1, 1, 1, 1, 0],
                                [0, 0, 1, 1, 1]]
    for i in range(5):
        np.testing.assert_array_equal(local_1d_step_bias(tf.constant(i), 5, 2)[0, 0, 0].numpy(), bias[i])


@pytest.mark.parametrize("length,block", [(13, 4), (8, 4), (6, 16)])
def test_local_attention_equals_full_attention_under_its_mask(length, block):
    tf.random.set_seed(0)
    x = tf.random.normal([2, length, 8])
    local = LocalAttention1D(2, 8, 8, 8, 0.0, "glorot_uniform", block)
    full = MultiheadAttention(2, 8, 8, 8, 0.0, "glorot_uniform")
    blockwise = local(x, x)
    full(x, x)
    for a, b in zip(full.weights, local.weights):
        a.assign(b)
    np.testing.assert_allclose(blockwise.numpy(), full(x, x, local_1d_bias(length, block)).numpy(), atol=1e-5)
    # Not merely causal attention: with a band shorter than the sequence they differ.
    causal = full(x, x, local_1d_bias(length, 10 ** 6)).numpy()
    assert (np.abs(causal - blockwise.numpy()).max() > 1e-3) == (length > 2 * block)


def test_bits_per_dim_is_nats_over_ln2_per_weighted_position():
    logits = tf.constant([[[2.0, 0.0, 0.0], [0.0, 1.0, 0.0]], [[0.0, 0.0, 0.0], [1.0, 1.0, 3.0]]])
    targets = tf.constant([[0, 1], [2, 0]])
    weights = tf.constant([[1.0, 1.0], [1.0, 0.0]])  # the last position is padding
    sums = metrics.step_sums(["bits_per_dim"], logits, targets, weights)
    value = metrics.step_results(["bits_per_dim"], {k: float(v) for k, v in sums.items()})["bits_per_dim"]
    nll = [math.log(math.exp(2) + 2) - 2, math.log(math.e + 2) - 1, math.log(3.0)]
    assert value == pytest.approx(sum(nll) / 3 / math.log(2), rel=1e-6)
    assert metrics.goal("bits_per_dim") == "min"


def test_logits_shape_and_no_peeking_at_later_sub_pixels():
    model = tiny_model()
    rng = np.random.RandomState(0)
    a = rng.randint(0, 256, (1, 4, 4, 2))
    b = a.copy()
    b[0, 2, 1, 1] = (b[0, 2, 1, 1] + 7) % 256  # sub-pixel 2*8 + 1*2 + 1 = 19
    la = model({"targets": tf.constant(a)}).numpy().reshape(32, 256)
    lb = model({"targets": tf.constant(b)}).numpy().reshape(32, 256)
    assert la.shape == (32, 256)
    np.testing.assert_allclose(la[:20], lb[:20], atol=1e-5)  # positions <= 19 never read value 19
    assert np.abs(la[20:] - lb[20:]).max() > 1e-4


@pytest.mark.parametrize("conditional,attention", [(False, "local_1d"), (True, "global")])
def test_cached_sampling_gives_the_uncached_pixels(conditional, attention):
    model = tiny_model(conditional=conditional, dec_attention_type=attention)
    features = {"inputs": tf.constant([[0], [2], [1]], tf.int64)} if conditional else {"batch_size": 3}
    model({"targets": tf.zeros([1, 4, 4, 2], tf.int64), **({"inputs": features["inputs"][:1]} if conditional else {})})
    outputs = {}
    for cache in (True, False):
        outputs[cache] = tf.function(lambda: model.infer(dict(features), use_cache=cache, seed=11,
                                                         temperature=1.0))()
    cached, uncached = outputs[True]["outputs"].numpy(), outputs[False]["outputs"].numpy()
    assert cached.shape == (3, 4, 4, 2) and cached.min() >= 0 and cached.max() <= 255
    np.testing.assert_array_equal(cached, uncached)
    np.testing.assert_allclose(outputs[True]["scores"].numpy(), outputs[False]["scores"].numpy(), rtol=1e-4)
    assert len(np.unique(cached)) > 10  # sampled, not a constant image
    other = tf.function(lambda: model.infer(dict(features), seed=12, temperature=1.0))()["outputs"].numpy()
    assert (other != cached).mean() > 0.5  # another seed, other pixels
    tf.random.set_seed(99)  # the draws are stateless: the global seed does not change them
    again = tf.function(lambda: model.infer(dict(features), seed=11, temperature=1.0))()["outputs"].numpy()
    np.testing.assert_array_equal(again, cached)
    # The score is the images' log-probability under the teacher-forced model.
    labels = {"inputs": features["inputs"]} if conditional else {}
    logits = model({"targets": tf.constant(cached, tf.int64), **labels})
    log_probs = tf.nn.log_softmax(logits).numpy()
    chosen = np.take_along_axis(log_probs, cached[..., None].astype(np.int64), -1).reshape(3, -1).sum(1)
    np.testing.assert_allclose(outputs[True]["scores"].numpy(), chosen, rtol=1e-4)


def test_a_tiny_train_lowers_bits_per_dim():
    tf.keras.utils.set_random_seed(1)
    model = tiny_model(shape=(4, 4, 1), conditional=True)
    rng = np.random.RandomState(0)
    # Two classes of 4x4 images: class 0 dark with a bright column, class 1 the reverse.
    images = rng.randint(0, 30, (16, 4, 4, 1))
    labels = np.arange(16) % 2
    images[labels == 0, :, 1] = 250
    images[labels == 1] = 255 - images[labels == 1]
    features = {"targets": tf.constant(images, tf.int64), "inputs": tf.constant(labels[:, None], tf.int64)}

    def bpd():
        logits = model(features)
        sums = metrics.step_sums(["bits_per_dim"], logits, features["targets"], tf.ones([16, 4, 4, 1]))
        return metrics.step_results(["bits_per_dim"], {k: float(v) for k, v in sums.items()})["bits_per_dim"]

    before = bpd()
    losses = train_losses(model, features, 60, learning_rate=3e-2)
    after = bpd()
    assert before == pytest.approx(8.0, abs=0.3)  # untrained: about uniform over 256 values
    assert after < before - 2.0, (before, after, losses[::10])


def test_a_classification_problem_is_refused_with_the_fix():
    hp = registry.hparams("imagetransformer_test")()
    problem_hparams = registry.problem("image_mnist").get_hparams(hp)
    with pytest.raises(ConfigError, match="image_mnist_gen, image_mnist_gen_conditional"):
        model_for("imagetransformer", hp, problem_hparams)
