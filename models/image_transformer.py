"""The Image Transformer (T2T's ``models/image_transformer.py``; Parmar et al. 2018).

An autoregressive model of pixels: an image ``[H, W, C]`` is read in raster order with its
channels as sub-pixel positions (``L = H * W * C`` positions: row by row, pixel by pixel,
R then G then B), and each sub-pixel's value 0..255 gets a 256-way softmax given every
sub-pixel before it. The likelihood of an image is the product of those ``L`` conditionals,
so its negative log-likelihood over ``L`` (in bits) is the bits per dimension
(``t2x.metrics``' ``bits_per_dim``).

Body (T2T's ``Imagetransformer.body`` with ``prepare_decoder`` and ``transformer_decoder_layers``):

* the targets' ``image_channel_embeddings`` modality embeds each sub-pixel by its channel's
  table: ``[B, H, W, C, D]``, flattened to ``[B, L, D]`` and shifted right by one (teacher
  forcing: position ``p`` reads the value of ``p - 1``, position 0 reads zeros);
* position signals (``pos = "timing"``): a 2-D sinusoid, half the channels for the row and
  half for the sub-pixel column ``p mod (W * C)`` (T2T's ``add_timing_signal_nd``);
* class-conditional problems (a ``class_label`` ``inputs`` feature: the problem decides; T2T
  set ``hparams.unconditional``): the label's embedding is added at every position;
* dropout ``layer_prepostprocess_dropout``, then ``num_decoder_layers`` (or
  ``num_hidden_layers``) x [self-attention, feed-forward] residual blocks (``t2x.layers``'
  ``Sublayer``: T2T's pre/post sequences), a final ``layer_preprocess``;
* self-attention ``dec_attention_type``: ``"local_1d"`` (T2T's default: masked local 1-D
  attention over blocks of ``block_length`` with the previous block as memory,
  ``t2x.layers.local_attention``) or ``"global"`` (masked full attention);
* the modality's top: a dense 256-way softmax per sub-pixel, ``[B, H, W, C, 256]``.

Decoding (``t2x.decoding.decode_images``): ``fast_decode_fn`` keeps every layer's keys and
values in a cache and runs one sub-pixel per step (the local band applied to the cache as a
mask), ``slow_decode_fn`` re-runs the whole image; both give the same logits.

Not carried over: T2T's 2-D local attention (``local_2d``), dilated and relative variants,
the discretized mixture of logistics likelihood (``imagetransformerpp``), ``conv_hidden_relu``
feed-forward (``dense_relu_dense`` here: the same with kernel width 1).
"""

import keras
import tensorflow as tf

from t2x import registry
from t2x.errors import ConfigError
from t2x.layers import decoder as cached
from t2x.layers.attention import MultiheadAttention, attention_bias_lower_triangle
from t2x.layers.local_attention import LocalAttention1D, local_1d_step_bias
from t2x.layers.sublayers import DenseReluDense, PrePostProcess, Sublayer
from t2x.layers.timing import shift_right_3d, timing_signal_at
from t2x.model import T2XModel
from t2x.models.basic import initializer_from_hparams

ATTENTION_TYPES = ("local_1d", "global")


def image_timing_signal(position, row_length: int, channels: int):
    """The 2-D sinusoid of raster positions ``position`` (any int shape) in rows of
    ``row_length`` sub-pixels: the row's signal in the first ``channels // 2`` channels,
    the sub-pixel column's in the rest -> ``position.shape + [channels]`` float32."""
    position = tf.cast(position, tf.int32)
    half = channels // 2
    return tf.concat([timing_signal_at(position // row_length, half),
                      timing_signal_at(position % row_length, channels - half)], axis=-1)


@registry.register_model(default_hparams_set="imagetransformer_tiny")
class Imagetransformer(T2XModel):
    """Image generation, sub-pixel by sub-pixel; see the module docstring.

    Body: ``targets [B, H, W, C, D]`` (embedded pixels), optional ``inputs [B, 1, D]`` (the
    class label's embedding) -> ``[B, H, W, C, D]``. The image shape is the problem's
    ``image_shape`` (problem hparams)."""

    def build_body(self):
        hp = self.train_hparams
        self.attention_type = hp.get("dec_attention_type", "local_1d")
        if self.attention_type not in ATTENTION_TYPES:
            raise ValueError(f"dec_attention_type={self.attention_type!r} is not supported; use "
                             f"{' or '.join(map(repr, ATTENTION_TYPES))}")
        if hp.get("pos", "timing") not in ("timing", "none"):
            raise ValueError(f"pos={hp.get('pos')!r} is not supported; use 'timing' or 'none'")
        shape = self.problem_hparams.get("image_shape")
        if not shape or len(shape) != 3:
            targets = self.problem_hparams.modality.get("targets")
            raise ConfigError(f"imagetransformer generates images, but this problem's targets are {targets}, "
                              "not pixels: use an image generation problem (image_mnist_gen, "
                              "image_mnist_gen_conditional, image_cifar10_plain_gen)")
        self.image_shape = tuple(int(s) for s in shape)
        self.block_length = int(hp.get("block_length", 256))
        self.conditional = "inputs" in self.problem_hparams.modality
        self.input_dropout = (keras.layers.Dropout(hp.layer_prepostprocess_dropout)
                              if hp.layer_prepostprocess_dropout else None)

        init = initializer_from_hparams(hp)
        hidden = hp.hidden_size
        depths = (hp.get("attention_key_channels", 0) or hidden, hp.get("attention_value_channels", 0) or hidden)

        def attention(name):
            if self.attention_type == "local_1d":
                return LocalAttention1D(hp.num_heads, *depths, hidden, hp.attention_dropout, init,
                                        self.block_length, name=name)
            return MultiheadAttention(hp.num_heads, *depths, hidden, hp.attention_dropout, init, name=name)

        num_layers = hp.get("num_decoder_layers", 0) or hp.num_hidden_layers
        self.self_attention, self.ffn = [], []
        for i in range(num_layers):
            self.self_attention.append(Sublayer(attention(f"decoder_{i}_self_attention"), "self_attention", hp,
                                                name=f"decoder_{i}_self_attention_block"))
            self.ffn.append(Sublayer(DenseReluDense(hp.filter_size, hidden, hp.relu_dropout, init,
                                                    name=f"decoder_{i}_ffn"), "ffn", hp,
                                     name=f"decoder_{i}_ffn_block"))
        self.decoder_norm = PrePostProcess(hp.layer_preprocess_sequence, hp.norm_type, hp.norm_epsilon,
                                           hp.layer_prepostprocess_dropout, name="decoder_norm")

    @property
    def length(self) -> int:
        """Sub-pixel positions of an image, ``H * W * C``."""
        height, width, channels = self.image_shape
        return height * width * channels

    def _position_signal(self, position, dtype):
        if self.hparams.get("pos", "timing") != "timing":
            return None
        _, width, channels = self.image_shape
        return tf.cast(image_timing_signal(position, width * channels, self.hparams.hidden_size), dtype)

    def _condition(self, x, features):
        """``x [B, L, D]`` plus the class label's embedding ``features["inputs"] [B, 1, D]``."""
        if self.conditional and "inputs" in features:
            x += tf.cast(features["inputs"], x.dtype)
        return x

    def body(self, features):
        targets = features["targets"]  # [B, H, W, C, D]
        batch = tf.shape(targets)[0]
        x = shift_right_3d(tf.reshape(targets, [batch, self.length, targets.shape[-1]]))
        signal = self._position_signal(tf.range(self.length), x.dtype)
        if signal is not None:
            x += signal[None]
        x = self._condition(x, features)
        if self.input_dropout is not None:
            x = self.input_dropout(x, training=self._training)
        bias = attention_bias_lower_triangle(self.length) if self.attention_type == "global" else None
        for self_attention, ffn in zip(self.self_attention, self.ffn):
            x = self_attention(x, bias=bias, training=self._training)
            x = ffn(x, training=self._training)
        x = self.decoder_norm(x, training=self._training)
        return tf.reshape(x, tf.concat([[batch], self.image_shape, [x.shape[-1]]], 0))

    # -- decoding --------------------------------------------------------------------
    def slow_decode_fn(self, features, num_beams):
        """Re-runs the model on the image sampled so far (sub-pixels after ``i`` are zeros
        and, by the causal mask, unread) and reads the logits of sub-pixel ``i``."""
        del num_beams
        features = {k: v for k, v in features.items() if k != "targets"}

        def symbols_to_logits_fn(ids, i, cache):
            images = tf.reshape(ids, tf.concat([[-1], self.image_shape], 0))
            logits = self(dict(features, targets=images), training=False)
            return tf.reshape(logits, [tf.shape(ids)[0], self.length, -1])[:, i, :], cache

        return symbols_to_logits_fn, {}

    def fast_decode_fn(self, features, batch_size, decode_length, num_beams):
        """One sub-pixel per step over a key/value cache of ``decode_length`` positions per
        layer (``t2x.layers.decoder``); local attention masks the cache to its band
        (``local_1d_step_bias``). Same logits as ``slow_decode_fn``."""
        if num_beams != 1:
            return None
        condition = None
        if self.conditional and "inputs" in features:
            condition = self.modalities["inputs"].bottom(features["inputs"])  # [n, 1, D]
        cache = cached.init_cache(self.self_attention, [], batch_size, decode_length, self.compute_dtype)
        targets_modality = self.modalities["targets"]
        channels = self.image_shape[-1]
        if not targets_modality.built:
            targets_modality.build((None,) + self.image_shape)

        def symbols_to_logits_fn(ids, i, cache):
            previous = ids[:, tf.maximum(i - 1, 0)]
            x = targets_modality.embed(previous, tf.maximum(i - 1, 0) % channels)[:, None, :]  # [n, 1, D]
            x *= tf.cast(i > 0, x.dtype)  # position 0 reads zeros
            signal = self._position_signal(i, x.dtype)
            if signal is not None:
                x += signal
            if condition is not None:
                x += tf.cast(condition, x.dtype)
            self_bias = (local_1d_step_bias(i, decode_length, self.block_length)
                         if self.attention_type == "local_1d" else None)
            x, cache = cached.step(x, i, cache, decode_length, self.self_attention, [], self.ffn,
                                   self_bias=self_bias)
            logits = targets_modality.top(self.decoder_norm(x))
            return tf.cast(logits[:, 0, :], tf.float32), cache

        return symbols_to_logits_fn, cache
