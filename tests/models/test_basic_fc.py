"""basic_fc_relu: T2T's basic_fc_small, the dense-dropout-relu body, the initializer
names, and that it can learn."""

import keras
import numpy as np
import pytest

from model_test_utils import mnist_features, overfit_losses
from t2x import registry
from t2x.hparam import HParams
from t2x.model import model_for
from t2x.models.basic import BasicFcRelu, initializer_from_hparams


@pytest.fixture(scope="module")
def mnist_hparams():
    return registry.problem("image_mnist").get_hparams()




def build(mnist_hparams, hparams_set="basic_fc_tiny", **overrides):
    hp = registry.hparams(hparams_set)()
    hp.override_from_dict(overrides)
    return model_for("basic_fc_relu", hp, mnist_hparams)




def test_registered_model_and_sets():
    assert registry.model("basic_fc_relu") is BasicFcRelu
    for name in ("basic_fc_small", "basic_fc_tiny"):
        assert isinstance(registry.hparams(name)(), HParams), name


def test_basic_fc_small_has_t2t_values():
    hp = registry.hparams("basic_fc_small")()
    assert (hp.learning_rate, hp.batch_size, hp.hidden_size, hp.num_hidden_layers) == (0.1, 128, 256, 2)
    assert (hp.initializer, hp.initializer_gain, hp.weight_decay, hp.dropout) == (
        "uniform_unit_scaling", 1.0, 0.0, 0.0)
    assert (hp.learning_rate_schedule, hp.learning_rate_decay_scheme) == ("legacy", "none")


def test_logits_and_body_shapes(mnist_hparams):
    model = build(mnist_hparams, "basic_fc_small")
    features = mnist_features(3)
    assert model(features, training=True).shape == (3, 1, 10)
    assert model(features).shape == (3, 1, 10)
    assert model.body(model.bottom(features)).shape == (3, 1, 1, 256)
    params = sum(int(np.prod(v.shape)) for v in model.trainable_variables)
    assert params == 784 * 256 + 256 + 256 * 256 + 256 + 256 * 10 + 10  # 269,322


def test_dropout_only_in_training(mnist_hparams):
    model = build(mnist_hparams, dropout=0.5)
    features = mnist_features(4)
    np.testing.assert_array_equal(model(features).numpy(), model(features).numpy())
    assert not np.allclose(model(features, training=True).numpy(),
                           model(features, training=True).numpy())


def test_initializer_from_hparams():
    hp = HParams(initializer="uniform_unit_scaling", initializer_gain=1.0)
    config = initializer_from_hparams(hp)
    assert config["class_name"] == "VarianceScaling"
    assert config["config"]["mode"] == "fan_avg" and config["config"]["distribution"] == "uniform"
    # Each layer gets its own draw from the shared config.
    a, b = keras.layers.Dense(8, kernel_initializer=config), keras.layers.Dense(8, kernel_initializer=config)
    a.build((None, 8)), b.build((None, 8))
    assert not np.allclose(a.kernel.numpy(), b.kernel.numpy())
    bound = np.sqrt(3.0 / 8)  # uniform, scale 1 / fan_avg
    assert np.abs(a.kernel.numpy()).max() <= bound
    assert initializer_from_hparams(HParams(initializer="orthogonal", initializer_gain=1.5))[
        "config"]["gain"] == 1.5
    with pytest.raises(ValueError, match="uniform_unit_scaling"):
        initializer_from_hparams(HParams(initializer="he", initializer_gain=1.0))


def test_tiny_overfits_a_tiny_batch(mnist_hparams):
    keras.utils.set_random_seed(1)
    losses = overfit_losses(build(mnist_hparams), steps=60)
    assert np.mean(losses[-5:]) <= 0.5 * losses[0], losses[::10]
