"""Optimizers from hparams, gradient clipping and weight decay."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from t2x import registry
from t2x.training.learning_rate import T2XLearningRate
from t2x.training.optimizers import (OPTIMIZER_NAMES, canonical_optimizer_name,
                                     clip_gradients, l2_weight_decay_rate, make_optimizer,
                                     weight_decay_loss)

def make_hparams(**overrides):
    """The registered basic_params1 (optimizer hparams as shipped) with a fixed schedule."""
    hp = registry.hparams("basic_params1")()
    values = dict(learning_rate_schedule="constant*linear_warmup*rsqrt_decay",
                  learning_rate_constant=2.0, learning_rate_warmup_steps=100)
    values.update(overrides)
    for name, value in values.items():
        hp.set_or_add(name, value)
    return hp


# ----------------------------------------------------------------- optimizers
@pytest.mark.parametrize("name", ["adam", "Adam", "ADAM", "true_adam", "TrueAdam"])
def test_adam_wired(name):
    hp = make_hparams(optimizer=name, optimizer_adam_beta1=0.8, optimizer_adam_beta2=0.98,
                      optimizer_adam_epsilon=1e-9)
    opt = make_optimizer(hp, 0.01)
    assert type(opt) is keras.optimizers.Adam
    assert (opt.beta_1, opt.beta_2, opt.epsilon) == (0.8, 0.98, 1e-9)
    assert float(opt.learning_rate) == pytest.approx(0.01)


@pytest.mark.parametrize("name", ["adamw", "AdamW", "adam_w"])
def test_adamw_wired(name):
    hp = make_hparams(optimizer=name, weight_decay=0.01)
    opt = make_optimizer(hp, 0.001)
    assert type(opt) is keras.optimizers.AdamW
    assert opt.weight_decay == 0.01
    assert (opt.beta_1, opt.beta_2, opt.epsilon) == (0.85, 0.997, 1e-6)


@pytest.mark.parametrize("name", ["momentum", "Momentum"])
def test_momentum_wired(name):
    hp = make_hparams(optimizer=name, optimizer_momentum_momentum=0.7,
                      optimizer_momentum_nesterov=True)
    opt = make_optimizer(hp, 0.1)
    assert type(opt) is keras.optimizers.SGD
    assert opt.momentum == 0.7 and opt.nesterov is True


@pytest.mark.parametrize("name", ["sgd", "SGD"])
def test_sgd_wired(name):
    opt = make_optimizer(make_hparams(optimizer=name), 0.1)
    assert type(opt) is keras.optimizers.SGD
    assert opt.momentum == 0.0 and opt.nesterov is False


@pytest.mark.parametrize("name", ["rmsprop", "RMSProp", "rms_prop"])
def test_rmsprop_wired(name):
    hp = make_hparams(optimizer=name, optimizer_rmsprop_decay=0.95,
                      optimizer_rmsprop_momentum=0.5, optimizer_rmsprop_epsilon=1e-8,
                      optimizer_rmsprop_centered=True)
    opt = make_optimizer(hp, 0.1)
    assert type(opt) is keras.optimizers.RMSprop
    assert (opt.rho, opt.momentum, opt.epsilon, opt.centered) == (0.95, 0.5, 1e-8, True)


@pytest.mark.parametrize("name", ["adafactor", "Adafactor"])
def test_adafactor_wired(name):
    hp = make_hparams(optimizer=name, optimizer_adafactor_memory_exponent=0.5,
                      optimizer_adafactor_clipping_threshold=2.0)
    opt = make_optimizer(hp, 0.01)
    assert type(opt) is keras.optimizers.Adafactor
    assert opt.beta_2_decay == -0.5 and opt.clip_threshold == 2.0


@pytest.mark.parametrize("name,value", [
    ("optimizer_adafactor_beta1", 0.9), ("optimizer_adafactor_decay_type", "adam"),
    ("optimizer_adafactor_factored", False),
    ("optimizer_adafactor_multiply_by_parameter_scale", False)])
def test_adafactor_refuses_what_keras_does_not_implement(name, value):
    hp = make_hparams(optimizer="adafactor", **{name: value})
    with pytest.raises(ValueError, match=f"hparams.{name}=.*not supported"):
        make_optimizer(hp, 0.01)


def test_unknown_optimizer_names_the_valid_ones():
    with pytest.raises(ValueError) as e:
        make_optimizer(make_hparams(optimizer="adamm"), 0.1)
    message = str(e.value)
    assert "unknown optimizer 'adamm'" in message and "did you mean adam" in message
    assert "Valid names: " + ", ".join(OPTIMIZER_NAMES) in message
    with pytest.raises(ValueError, match="Valid names"):
        canonical_optimizer_name("yellow_fin")


def test_learning_rate_forms():
    hp = make_hparams(optimizer="sgd")
    # None: the hparams' schedule, driven by the optimizer's iterations.
    opt = make_optimizer(hp)
    assert isinstance(opt._learning_rate, T2XLearningRate)
    opt.iterations.assign(50)
    assert float(opt.learning_rate) == pytest.approx(0.1)  # 2 * 0.5 / 10
    # An int is a float rate.
    assert float(make_optimizer(hp, 1).learning_rate) == 1.0
    # A plain function of the step is adapted.
    opt = make_optimizer(hp, lambda step: tf.cast(step, tf.float32) * 0.5)
    opt.iterations.assign(4)
    assert float(opt.learning_rate) == 2.0
    with pytest.raises(ValueError, match="learning_rate must be"):
        make_optimizer(hp, "fast")


def test_optimizer_steps_with_the_schedule():
    hp = make_hparams(optimizer="sgd")
    opt = make_optimizer(hp, T2XLearningRate(hp))
    x = keras.Variable([0.0, 0.0])
    opt.build([x])
    opt.iterations.assign(400)  # rate 2 * 1 / 20 = 0.1
    opt.apply_gradients([(tf.constant([1.0, -2.0]), x)])
    np.testing.assert_allclose(x.numpy(), [-0.1, 0.2], rtol=1e-6)


def test_basic_params1_builds_every_optimizer():
    hp = registry.hparams("basic_params1")()
    for key in ("optimizer_adafactor_memory_exponent", "optimizer_rmsprop_decay",
                "learning_rate_decay_scheme", "learning_rate_boundaries",
                "learning_rate_multiples", "learning_rate_warmup_schedule"):
        assert key in hp
    for name in OPTIMIZER_NAMES:
        hp.optimizer = name
        assert make_optimizer(hp, train_steps=1000) is not None
    hp.optimizer = "adam"
    hp.learning_rate_schedule = "legacy"
    assert float(T2XLearningRate(hp)(1000)) == pytest.approx(hp.learning_rate * 0.002)


# ------------------------------------------------------------------- clipping
def test_clip_gradients_scales_by_the_global_norm():
    grads = [tf.constant([3.0, 4.0]), None, tf.constant([[12.0]])]  # norm sqrt(9+16+144) = 13
    clipped, norm = clip_gradients(grads, 6.5)
    assert float(norm) == pytest.approx(13.0)
    assert clipped[1] is None
    np.testing.assert_allclose(clipped[0].numpy(), [1.5, 2.0], rtol=1e-6)
    np.testing.assert_allclose(clipped[2].numpy(), [[6.0]], rtol=1e-6)


@pytest.mark.parametrize("clip_norm", [0, 0.0, None, 20.0])
def test_clip_gradients_no_clipping_still_reports_the_norm(clip_norm):
    grads = [tf.constant([3.0, 4.0]), tf.constant([[12.0]])]
    clipped, norm = clip_gradients(grads, clip_norm)
    assert float(norm) == pytest.approx(13.0)
    np.testing.assert_allclose(clipped[0].numpy(), [3.0, 4.0])
    np.testing.assert_allclose(clipped[1].numpy(), [[12.0]])


def test_clip_gradients_inside_tf_function_and_rejects_negative():
    @tf.function
    def clip(a, b):
        return clip_gradients([a, b], 1.0)

    (a, b), norm = clip(tf.constant([0.0, 3.0]), tf.constant([4.0]))
    assert float(norm) == pytest.approx(5.0)
    np.testing.assert_allclose(np.concatenate([a.numpy(), b.numpy()]), [0.0, 0.6, 0.8],
                               rtol=1e-6)
    with pytest.raises(ValueError, match="clip_norm must be >= 0"):
        clip_gradients([tf.constant(1.0)], -1.0)


# --------------------------------------------------------------- weight decay
def _dense():
    layer = keras.layers.Dense(2)
    layer.build((None, 2))
    layer.kernel.assign([[1.0, 2.0], [3.0, 4.0]])
    layer.bias.assign([5.0, 6.0])
    return layer


def test_weight_decay_loss_is_t2t_l2_without_biases():
    layer = _dense()
    # 0.1 * (1 + 4 + 9 + 16) / 2; the bias is skipped.
    loss = weight_decay_loss(layer.trainable_variables, 0.1)
    assert loss.dtype == tf.float32 and float(loss) == pytest.approx(1.5)
    # With biases: 0.1 * (30 + 25 + 36) / 2
    assert float(weight_decay_loss(layer.trainable_variables, 0.1, skip_biases=False)) == \
        pytest.approx(4.55)


@pytest.mark.parametrize("rate", [0, 0.0, None])
def test_weight_decay_loss_zero_rate(rate):
    assert float(weight_decay_loss(_dense().trainable_variables, rate)) == 0.0


def test_weight_decay_loss_which_variables():
    norm = keras.layers.LayerNormalization()
    norm.build((None, 3))  # gamma = 1 (decayed, as T2T's layer_norm_scale), beta skipped
    tf_bias = tf.Variable([7.0], name="dense/bias")  # rank 1 "bias": skipped
    matrix_named_bias = tf.Variable([[2.0]], name="bias")  # rank 2: decayed
    scalar = tf.Variable(3.0, name="scale")  # rank 0: decayed
    loss = weight_decay_loss(norm.trainable_variables + [tf_bias, matrix_named_bias, scalar],
                             1.0)
    assert float(loss) == pytest.approx((3 * 1.0 + 4.0 + 9.0) / 2)


def test_weight_decay_loss_gradient_is_rate_times_weights():
    layer = _dense()
    with tf.GradientTape() as tape:
        loss = weight_decay_loss(layer.trainable_variables, 0.1)
    kernel_grad, bias_grad = tape.gradient(loss, [layer.kernel, layer.bias])
    np.testing.assert_allclose(kernel_grad.numpy(), [[0.1, 0.2], [0.3, 0.4]], rtol=1e-6)
    assert bias_grad is None


def test_l2_weight_decay_rate():
    assert l2_weight_decay_rate(make_hparams(optimizer="Adam", weight_decay=0.01)) == 0.01
    assert l2_weight_decay_rate(make_hparams(optimizer="adamw", weight_decay=0.01)) == 0.0
    assert l2_weight_decay_rate(make_hparams(optimizer="sgd", weight_decay=0.0)) == 0.0
