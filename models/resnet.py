"""ResNet (He et al. 2016) in T2T's shape: ``layer_sizes``, ``filter_sizes``, ``block_fn``.

Two block kinds, as T2T's ``models/resnet.py``:

* ``residual`` (pre-activation, ResNet v2): ``bn -> relu -> conv3x3(stride) -> bn -> relu
  -> conv3x3``, plus the shortcut; where the shape changes the shortcut is a strided 1x1
  conv + bn of the pre-activated input.
* ``bottleneck`` (post-activation, as T2T's): ``conv1x1 -> bn -> relu -> conv3x3(stride)
  -> bn -> relu -> conv1x1 (4x filters) -> bn``, added to the shortcut, then relu; the last
  bn of a stage's final block starts at zero (``gamma = 0``).

The stem is ``filter_sizes[0]`` filters of a ``stem_kernel`` conv + bn + relu; with
``is_cifar`` (small images: MNIST, CIFAR) it has stride 1 and no max pool and the network has
3 stages, otherwise (ImageNet) stride 2 + a 3x3/2 max pool and 4 stages. Stage ``i`` has
``layer_sizes[i]`` blocks of ``filter_sizes[i + 1]`` filters; every stage after the first
halves the resolution. Pre-activation stacks end with bn + relu (``final_bn_relu``) so the
pooled features are normalized.

Batch norm: momentum 0.9, epsilon 1e-5; convolutions: no bias, variance scaling (scale 1,
``fan_in``, truncated normal), padding fixed by the kernel size when strided, all as T2T.
"""

import keras
import tensorflow as tf

from t2x import registry
from t2x.layers.normalization import BatchNormalization
from t2x.model import T2XModel

BATCH_NORM_MOMENTUM = 0.9  # T2T's BATCH_NORM_DECAY
BATCH_NORM_EPSILON = 1e-5


class FixedPaddingConv2D(keras.layers.Layer):
    """T2T's ``conv2d_fixed_padding``: a bias-free conv whose padding depends on the kernel
    size only (``(k-1)//2`` before, the rest after, then VALID) when strided, SAME otherwise."""

    def __init__(self, filters: int, kernel_size: int, stride: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.kernel_size, self.stride = kernel_size, stride
        self.conv = keras.layers.Conv2D(
            filters, kernel_size, strides=stride, padding="same" if stride == 1 else "valid",
            use_bias=False, name="conv",
            kernel_initializer=keras.initializers.VarianceScaling(1.0, "fan_in", "truncated_normal"))

    def call(self, x):
        if self.stride > 1:
            before = (self.kernel_size - 1) // 2
            after = self.kernel_size - 1 - before
            x = tf.pad(x, [[0, 0], [before, after], [before, after], [0, 0]])
        return self.conv(x)


def _conv(filters, kernel_size, stride=1, name=None):
    return FixedPaddingConv2D(filters, kernel_size, stride, name=name)


def _bn(name, zero_init=False):
    return BatchNormalization(momentum=BATCH_NORM_MOMENTUM, epsilon=BATCH_NORM_EPSILON,
                                           gamma_initializer="zeros" if zero_init else "ones",
                                           name=name)


class ResidualBlock(keras.layers.Layer):
    """Pre-activation basic block (T2T's ``residual_block``)."""

    def __init__(self, in_filters: int, filters: int, stride: int, **kwargs):
        super().__init__(**kwargs)
        self.out_filters = filters
        self.bn1 = _bn("bn1")
        self.conv1 = _conv(filters, 3, stride, "conv1")
        self.bn2 = _bn("bn2")
        self.conv2 = _conv(filters, 3, 1, "conv2")
        self.projection = None
        if in_filters != filters or stride != 1:
            self.projection = _conv(filters, 1, stride, "projection")
            self.projection_bn = _bn("projection_bn")

    def call(self, x, training=False):
        shortcut = x
        x = tf.nn.relu(self.bn1(x, training=training))
        if self.projection is not None:
            shortcut = self.projection_bn(self.projection(x), training=training)
        x = self.conv1(x)
        x = self.conv2(tf.nn.relu(self.bn2(x, training=training)))
        return x + shortcut


class BottleneckBlock(keras.layers.Layer):
    """Post-activation bottleneck block (T2T's ``bottleneck_block``), ``ratio * filters`` out."""

    def __init__(self, in_filters: int, filters: int, stride: int, ratio: int = 4,
                 final_block: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.out_filters = ratio * filters
        self.conv1 = _conv(filters, 1, 1, "conv1")
        self.bn1 = _bn("bn1")
        self.conv2 = _conv(filters, 3, stride, "conv2")
        self.bn2 = _bn("bn2")
        self.conv3 = _conv(self.out_filters, 1, 1, "conv3")
        self.bn3 = _bn("bn3", zero_init=final_block)
        self.projection = None
        if in_filters != self.out_filters or stride != 1:
            self.projection = _conv(self.out_filters, 1, stride, "projection")
            self.projection_bn = _bn("projection_bn")

    def call(self, x, training=False):
        shortcut = x
        if self.projection is not None:
            shortcut = self.projection_bn(self.projection(x), training=training)
        x = tf.nn.relu(self.bn1(self.conv1(x), training=training))
        x = tf.nn.relu(self.bn2(self.conv2(x), training=training))
        x = self.bn3(self.conv3(x), training=training)
        return tf.nn.relu(x + shortcut)


@registry.register_model(default_hparams_set="resnet_50")
class Resnet(T2XModel):
    """Residual network (T2T's ``Resnet``); see the module docstring.

    hparams: ``layer_sizes`` (blocks per stage), ``filter_sizes`` (stem, then one per stage),
    ``block_fn`` (``residual`` | ``bottleneck``), ``bottleneck_ratio``, ``is_cifar``,
    ``stem_kernel``, ``final_bn_relu``. Body: ``inputs`` ``[B, H, W, C]`` -> ``[B, H', W', D]``.
    """

    def build_body(self):
        hp = self.train_hparams
        block_fn = hp.block_fn
        if block_fn not in ("residual", "bottleneck"):
            raise ValueError(f"hparams.block_fn={block_fn!r}: use 'residual' or 'bottleneck'")
        num_stages = 3 if hp.is_cifar else 4
        layer_sizes, filter_sizes = list(hp.layer_sizes), list(hp.filter_sizes)
        if len(layer_sizes) < num_stages or len(filter_sizes) < num_stages + 1:
            raise ValueError(
                f"resnet with is_cifar={hp.is_cifar} has {num_stages} stages: it needs "
                f"{num_stages} layer_sizes and {num_stages + 1} filter_sizes (stem first), got "
                f"layer_sizes={layer_sizes}, filter_sizes={filter_sizes}")
        self.is_cifar = bool(hp.is_cifar)
        self.stem_conv = _conv(filter_sizes[0], hp.stem_kernel, 1 if self.is_cifar else 2, "initial_conv")
        self.stem_bn = _bn("initial_bn")
        self.stem_pool = (None if self.is_cifar else
                          keras.layers.MaxPooling2D(3, strides=2, padding="same", name="initial_max_pool"))
        self.blocks = []
        in_filters = filter_sizes[0]
        for stage in range(num_stages):
            for i in range(layer_sizes[stage]):
                stride = (1 if stage == 0 else 2) if i == 0 else 1
                name = f"block_layer{stage + 1}_{i}"
                if block_fn == "residual":
                    block = ResidualBlock(in_filters, filter_sizes[stage + 1], stride, name=name)
                else:
                    block = BottleneckBlock(in_filters, filter_sizes[stage + 1], stride,
                                            ratio=hp.bottleneck_ratio,
                                            final_block=(i + 1 == layer_sizes[stage]), name=name)
                self.blocks.append(block)
                in_filters = block.out_filters
        self.final_bn = _bn("final_bn") if block_fn == "residual" and hp.final_bn_relu else None

    def body(self, features):
        """``inputs`` ``[B, H, W, C]`` -> the last stage's features ``[B, H', W', D]``."""
        training = self._training
        x = tf.nn.relu(self.stem_bn(self.stem_conv(features["inputs"]), training=training))
        if self.stem_pool is not None:
            x = self.stem_pool(x)
        for block in self.blocks:
            x = block(x, training=training)
        if self.final_bn is not None:
            x = tf.nn.relu(self.final_bn(x, training=training))
        return x
