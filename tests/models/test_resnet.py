"""resnet: T2T's hparams sets, the small-image (is_cifar) and ImageNet shapes, both block
kinds, T2T's fixed padding, and that resnet_tiny can learn."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from model_test_utils import mnist_features, overfit_losses
from t2x import registry
from t2x.hparam import HParams
from t2x.model import model_for
from t2x.models.resnet import FixedPaddingConv2D, Resnet


@pytest.fixture(scope="module")
def mnist_hparams():
    return registry.problem("image_mnist").get_hparams()




def build(mnist_hparams, hparams_set="resnet_tiny", **overrides):
    hp = registry.hparams(hparams_set)()
    hp.override_from_dict(overrides)
    return model_for("resnet", hp, mnist_hparams)




def count_params(model):
    return sum(int(np.prod(v.shape)) for v in model.trainable_variables)


SETS = ("resnet_base", "resnet_50", "resnet_18", "resnet_34", "resnet_cifar_15",
        "resnet_cifar_32", "resnet_small", "resnet_tiny")


def test_registered_model_and_sets():
    assert registry.model("resnet") is Resnet
    for name in SETS:
        assert isinstance(registry.hparams(name)(), HParams), name


def test_t2t_values():
    base = registry.hparams("resnet_base")()
    assert (base.layer_sizes, base.filter_sizes) == ([3, 4, 6, 3], [64, 64, 128, 256, 512])
    assert (base.block_fn, base.is_cifar, base.optimizer) == ("bottleneck", False, "momentum")
    assert (base.optimizer_momentum_nesterov, base.learning_rate, base.weight_decay) == (True, 0.4, 1e-4)
    assert (base.learning_rate_schedule, base.learning_rate_decay_scheme) == ("legacy", "cosine")
    assert base.learning_rate_cosine_cycle_steps == 120000 and base.batch_size == 128
    cifar = registry.hparams("resnet_cifar_15")()
    assert (cifar.block_fn, cifar.is_cifar, cifar.layer_sizes, cifar.filter_sizes) == (
        "residual", True, [2, 2, 2], [16, 32, 64, 128])
    assert registry.hparams("resnet_cifar_32")().layer_sizes == [5, 5, 5]


@pytest.mark.parametrize("hparams_set", ["resnet_tiny", "resnet_small"])
def test_logits_shape_train_and_eval(mnist_hparams, hparams_set):
    model = build(mnist_hparams, hparams_set)
    features = mnist_features(3)
    assert model(features, training=True).shape == (3, 1, 10)
    assert model(features, training=False).shape == (3, 1, 10)
    np.testing.assert_array_equal(model(features).numpy(), model(features).numpy())


def test_resnet_small_shape_and_size(mnist_hparams):
    model = build(mnist_hparams, "resnet_small")
    features = mnist_features(2)
    model(features)
    assert model.body(model.bottom(features)).shape == (2, 7, 7, 64)  # 28 -> 28 -> 14 -> 7
    params = count_params(model)
    assert 0.15e6 < params < 0.2e6, params
    print(f"resnet_small on MNIST: {params:,} trainable parameters")


def test_bottleneck_and_imagenet_stem(mnist_hparams):
    model = build(mnist_hparams, block_fn="bottleneck", is_cifar=False, stem_kernel=7,
                  layer_sizes=[1, 1, 1, 1], filter_sizes=[8, 8, 8, 8, 8], final_bn_relu=False)
    features = mnist_features(2)
    assert model(features, training=True).shape == (2, 1, 10)
    # stride-2 stem + max pool (28 -> 14 -> 7), then stages of stride 1, 2, 2, 2 -> 1x1;
    # bottleneck blocks end with 4x the filters.
    assert model.body(model.bottom(features)).shape == (2, 1, 1, 32)
    # The last bn of each stage's final bottleneck block starts at zero (T2T's init_zero).
    assert all(float(tf.reduce_max(tf.abs(b.bn3.gamma))) == 0.0 for b in model.blocks)


def test_bad_hparams_name_the_fix(mnist_hparams):
    with pytest.raises(ValueError, match="'residual' or 'bottleneck'"):
        build(mnist_hparams, block_fn="dense")
    with pytest.raises(ValueError, match="needs 3 layer_sizes and 4 filter_sizes"):
        build(mnist_hparams, layer_sizes=[1, 1])


def test_fixed_padding_is_symmetric_for_strided_convs():
    conv = FixedPaddingConv2D(1, 3, stride=2)
    x = tf.ones([1, 4, 4, 1])
    conv(x)
    conv.conv.kernel.assign(tf.ones_like(conv.conv.kernel))
    out = conv(x).numpy()[0, :, :, 0]
    # T2T pads 1 on each side then VALID: windows start at 0 and 2 of the padded 6x6, so
    # the top-left window sees 2x2 ones and the others 2x3 / 3x3 (SAME would pad 0 before, 1 after).
    np.testing.assert_allclose(out, [[4, 6], [6, 9]])


def test_tiny_overfits_a_tiny_batch(mnist_hparams):
    keras.utils.set_random_seed(1)
    losses = overfit_losses(build(mnist_hparams), steps=60)
    assert np.mean(losses[-5:]) <= 0.5 * losses[0], losses[::10]
