"""Shake-Shake (Gastaldi 2017, https://arxiv.org/abs/1705.07485) with T2T's semantics.

The network (T2T's ``models/shake_shake.py``), for ``hparams.hidden_size = w`` and
``hparams.num_hidden_layers = d`` (``n = (d - 2) / 6`` blocks per stage):

    inputs [B, H, W, C]
    -> 3x3 conv, 16 filters -> batch norm                            (the stem)
    -> stage 1: n blocks, w filters, stride 1
    -> stage 2: n blocks, 2w filters, first block stride 2
    -> stage 3: n blocks, 4w filters, first block stride 2
    -> relu                                              -> body output [B, H/4, W/4, 4w]

(``shakeshake_small``: d = 26, w = 32, i.e. "Shake-Shake 26 2x32d"; the class-label top
mean-pools and applies the dense layer to logits.)

One block, ``num_branches`` (2) residual branches and a skip connection::

    branch_i(x) = bn(conv3x3(relu(bn(conv3x3_stride(relu(x))))))
    out         = skip(x) + sum_i shake_i(branch_i(x))

* **Training.** Per example, forward weights ``alpha`` and independently drawn backward
  weights ``beta``, each summing to 1 over the branches; every branch is scaled by ``beta``
  in the backward pass and by ``alpha`` in the forward pass::

      shake_i(b) = beta_i * b + stop_gradient((alpha_i - beta_i) * b)

  (written as a ``tf.custom_gradient``: one multiply by ``alpha`` forward, one by ``beta``
  backward; the ``relu`` of the block input is computed once for all branches.)

  With two branches this is the paper's Shake-Shake-Image: ``alpha ~ U(0, 1)`` on branch 1
  and ``1 - alpha`` on branch 2, ``beta`` likewise.
* **Eval.** Every branch is scaled by ``1 / num_branches`` (0.5 each).
* **Skip.** The identity when the shape is kept; otherwise T2T's two-path shortcut: path 1
  takes every ``stride``-th pixel (a 1x1 average pool) and a 1x1 conv to ``filters / 2``;
  path 2 does the same on the image shifted by one pixel (zero-pad bottom/right, crop
  top/left), so it sees the pixels path 1 skipped; the two are concatenated and batch
  normalized.
* ``shake_shake_concat`` (T2T's option): instead of the sum, ``concat([skip] + branches)``
  -> relu -> 1x1 conv -> batch norm.
* ``layer_prepostprocess_dropout`` (T2T: 0): dropout on each branch in training.

Where this differs from T2T, on purpose:

* Branch weights are drawn uniformly on the simplex (normalized Exp(1) draws). T2T drew
  ``u_i ~ U(0, 1)`` and normalized them, so for two branches its ``alpha = u1/(u1+u2)`` is
  not uniform (it clusters around 0.5); the paper's ``alpha ~ U(0, 1)`` is what we draw.
* Convolutions that feed a batch norm have no bias (T2T's had one; batch norm removes it,
  so the function is the same with 3,824 fewer parameters in ``shakeshake_small``).
* ``hidden_size`` must be even (the skip's two halves); T2T asked for a multiple of 16.
"""

from typing import List, Optional, Sequence, Tuple

import keras
import tensorflow as tf

from t2x import registry
from t2x.layers.normalization import BatchNormalization
from t2x.model import T2XModel
from t2x.models.basic import initializer_from_hparams

STEM_FILTERS = 16  # T2T's "init_conv"


def shake_shake_weights(batch_size, num_branches: int, dtype=tf.float32,
                        seed_generator: Optional[keras.random.SeedGenerator] = None) -> List[tf.Tensor]:
    """``num_branches`` random weights ``[B, 1, 1, 1]`` per example, summing to 1, uniform
    on the simplex (for 2 branches: ``alpha ~ U(0, 1)`` and ``1 - alpha``). Drawn from
    ``seed_generator`` (its state is a variable, saved in t2x checkpoints: a resumed run
    draws what an uninterrupted one would)."""
    draws = [-tf.math.log(keras.random.uniform([batch_size, 1, 1, 1], minval=1e-12, maxval=1.0,
                                               seed=seed_generator))
             for _ in range(num_branches)]
    total = tf.add_n(draws)
    return [tf.cast(d / total, dtype) for d in draws]


@tf.custom_gradient
def _shake_one(branch, alpha, beta):
    """``alpha * branch`` in value, ``beta * upstream`` as the branch's gradient; the weights
    get none (they are random draws)."""
    def grad(upstream):
        return upstream * beta, None, None
    return branch * alpha, grad


def shake(branches: Sequence[tf.Tensor], forward: Sequence[tf.Tensor],
          backward: Sequence[tf.Tensor]) -> List[tf.Tensor]:
    """The shake: each branch scaled by ``forward[i]`` in value and by ``backward[i]`` in
    gradient (the value of ``beta * b + stop_gradient((alpha - beta) * b)``, written as one
    multiply each way: a ``tf.custom_gradient``)."""
    return [_shake_one(b, tf.cast(alpha, b.dtype), tf.cast(beta, b.dtype))
            for b, alpha, beta in zip(branches, forward, backward)]


class ShakeShakeBranch(keras.layers.Layer):
    """relu -> 3x3 conv (stride) -> bn -> relu -> 3x3 conv -> bn."""

    def __init__(self, filters: int, stride: int, kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        self.conv1 = keras.layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False,
                                         kernel_initializer=kernel_initializer, name="conv1")
        self.bn1 = BatchNormalization(name="bn1")
        self.conv2 = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False,
                                         kernel_initializer=kernel_initializer, name="conv2")
        self.bn2 = BatchNormalization(name="bn2")

    def call(self, x, training=False, activated=False):
        """``activated=True``: ``x`` is already ``relu(x)`` (the block computes it once for
        all its branches)."""
        x = self.bn1(self.conv1(x if activated else tf.nn.relu(x)), training=training)
        return self.bn2(self.conv2(tf.nn.relu(x)), training=training)


class ShakeShakeSkip(keras.layers.Layer):
    """T2T's shortcut where the shape changes: two strided 1x1 paths, one shifted by a
    pixel, concatenated and batch normalized; ``filters`` must be even."""

    def __init__(self, filters: int, stride: int, kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        if filters % 2:
            raise ValueError(f"the shake-shake skip splits {filters} filters in two halves; "
                             "use an even hidden_size")
        # A strided 1x1 conv (VALID) reads every stride-th pixel: T2T's 1x1 average pool and
        # 1x1 conv in one op (and no strided-slice gradient, slow on CPU, in the backward pass).
        self.path1_conv = keras.layers.Conv2D(filters // 2, 1, strides=stride, use_bias=False,
                                              kernel_initializer=kernel_initializer, name="path1_conv")
        self.path2_conv = keras.layers.Conv2D(filters // 2, 1, strides=stride, use_bias=False,
                                              kernel_initializer=kernel_initializer, name="path2_conv")
        self.bn = BatchNormalization(name="final_path_bn")

    def call(self, x, training=False):
        path1 = self.path1_conv(x)  # pixels (0, 0), (0, s), ...
        # x shifted by one pixel (a Slice, whose gradient is a Pad: no strided-slice gradient)
        shifted = tf.pad(tf.slice(x, [0, 1, 1, 0], [-1, -1, -1, -1]), [[0, 0], [0, 1], [0, 1], [0, 0]])
        path2 = self.path2_conv(shifted)  # pixels (1, 1), (1, 1 + s), ...; zeros past the edge
        return self.bn(tf.concat([path1, path2], axis=-1), training=training)


class ShakeShakeBlock(keras.layers.Layer):
    """One shake-shake block (see the module docstring).

    ``call(x, training, shake_weights=None)``: ``shake_weights = (forward, backward)``, two
    lists of ``num_branches`` tensors broadcastable to ``[B, 1, 1, 1]``, replaces the
    random draw in training (for tests and analysis).
    """

    def __init__(self, in_filters: int, filters: int, stride: int, num_branches: int = 2,
                 concat: bool = False, dropout: float = 0.0,
                 kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        if num_branches < 1:
            raise ValueError(f"shake_shake_num_branches must be >= 1, got {num_branches}")
        self.num_branches = num_branches
        self.concat = bool(concat)
        self.branches = [ShakeShakeBranch(filters, stride, kernel_initializer, name=f"branch_{i}")
                         for i in range(num_branches)]
        self.skip = (ShakeShakeSkip(filters, stride, kernel_initializer, name="skip")
                     if in_filters != filters or stride != 1 else None)
        self.dropout = keras.layers.Dropout(dropout, name="dropout") if dropout else None
        self.seed_generator = keras.random.SeedGenerator(name="shake_draws")
        if self.concat:
            self.concat_conv = keras.layers.Conv2D(filters, 1, use_bias=False,
                                                   kernel_initializer=kernel_initializer,
                                                   name="concat_1x1")
            self.concat_bn = BatchNormalization(name="concat_bn")

    def shortcut(self, x, training=False):
        return x if self.skip is None else self.skip(x, training=training)

    def call(self, x, training=False,
             shake_weights: Optional[Tuple[Sequence[tf.Tensor], Sequence[tf.Tensor]]] = None):
        activated = tf.nn.relu(x)  # once for every branch
        branches = [branch(activated, training=training, activated=True) for branch in self.branches]
        if training:
            if shake_weights is None:
                batch = tf.shape(x)[0]
                shake_weights = tuple(shake_shake_weights(batch, self.num_branches, branches[0].dtype,
                                                          self.seed_generator) for _ in range(2))
            forward, backward = shake_weights
            branches = shake(branches, forward, backward)
        else:
            branches = [b * (1.0 / self.num_branches) for b in branches]
        if self.dropout is not None:
            branches = [self.dropout(b, training=training) for b in branches]
        res = self.shortcut(x, training=training)
        if self.concat:
            out = tf.nn.relu(tf.concat([res] + branches, axis=-1))
            return self.concat_bn(self.concat_conv(out), training=training)
        return res + tf.add_n(branches)


@registry.register_model(default_hparams_set="shake_shake_quick")
class ShakeShake(T2XModel):
    """Shake-Shake for small images (T2T's ``ShakeShake``; "Shake-Shake-Image" of the paper).

    hparams: ``num_hidden_layers`` (6n + 2), ``hidden_size`` (filters of stage 1, even),
    ``shake_shake_num_branches``, ``shake_shake_concat``, ``layer_prepostprocess_dropout``,
    ``initializer``/``initializer_gain``. Body: ``inputs`` float ``[B, H, W, C]`` ->
    ``[B, ceil(H/4), ceil(W/4), 4 * hidden_size]``.
    """

    def build_body(self):
        hp = self.train_hparams  # build_body runs outside call(): rates from the training set
        depth = hp.num_hidden_layers
        if depth < 8 or (depth - 2) % 6:
            raise ValueError(f"shake_shake needs num_hidden_layers = 6n + 2 (8, 14, 20, 26, ...), "
                             f"got {depth}")
        blocks_per_stage = (depth - 2) // 6
        width = hp.hidden_size
        init = initializer_from_hparams(hp)
        self.stem_conv = keras.layers.Conv2D(STEM_FILTERS, 3, padding="same", use_bias=False,
                                             kernel_initializer=init, name="init_conv")
        self.stem_bn = BatchNormalization(name="init_bn")
        self.blocks = []
        in_filters = STEM_FILTERS
        for stage, (filters, stride) in enumerate([(width, 1), (2 * width, 2), (4 * width, 2)]):
            for i in range(blocks_per_stage):
                self.blocks.append(ShakeShakeBlock(
                    in_filters, filters, stride if i == 0 else 1,
                    num_branches=hp.get("shake_shake_num_branches", 2),
                    concat=bool(hp.get("shake_shake_concat", 0)),
                    dropout=hp.get("layer_prepostprocess_dropout", 0.0),
                    kernel_initializer=init, name=f"stage_{stage + 1}_block_{i}"))
                in_filters = filters

    def body(self, features):
        """``inputs`` ``[B, H, W, C]`` -> relu of the last stage ``[B, H', W', 4*hidden_size]``."""
        x = self.stem_bn(self.stem_conv(features["inputs"]), training=self._training)
        for block in self.blocks:
            x = block(x, training=self._training)
        return tf.nn.relu(x)
