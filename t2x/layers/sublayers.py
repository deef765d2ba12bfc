"""Residual blocks (T2T's ``layer_prepostprocess``) and the feed-forward layer.

A model is a stack of ``Sublayer``s: ``layer_postprocess(x, fn(layer_preprocess(x)))``
with T2T's pre/post sequences (``n`` norm, ``d`` dropout, ``a`` residual) around an
attention or a feed-forward layer. ``t2x.layers.decoder`` decodes any such stack fast.
"""

import keras
import tensorflow as tf

from t2x.layers.attention import MultiheadAttention


class DenseReluDense(keras.layers.Layer):
    """T2T's ``dense_relu_dense``: dense ``filter_size`` + relu, dropout, dense ``output``."""

    def __init__(self, filter_size, output_size, dropout_rate, kernel_initializer, **kwargs):
        super().__init__(**kwargs)
        self.hidden = keras.layers.Dense(filter_size, activation="relu",
                                         kernel_initializer=kernel_initializer, name="conv1")
        self.out = keras.layers.Dense(output_size, kernel_initializer=kernel_initializer, name="conv2")
        self.dropout = keras.layers.Dropout(dropout_rate) if dropout_rate else None

    def call(self, x, training=False):
        h = self.hidden(x)
        if self.dropout is not None:
            h = self.dropout(h, training=training)
        return self.out(h)


class PrePostProcess(keras.layers.Layer):
    """T2T's ``layer_prepostprocess``: applies ``sequence`` (letters ``a`` add the residual,
    ``d`` dropout, ``n`` norm) to ``x``; ``previous`` is the residual for ``a``."""

    def __init__(self, sequence, norm_type, norm_epsilon, dropout_rate, **kwargs):
        super().__init__(**kwargs)
        sequence = "" if sequence in (None, "none") else sequence
        for c in sequence:
            if c not in "adn":
                raise ValueError(f"unknown letter {c!r} in layer pre/postprocess sequence "
                                 f"{sequence!r}; known: a (residual), d (dropout), n (norm)")
        if "n" in sequence and norm_type not in ("layer", "none"):
            raise ValueError(f"norm_type={norm_type!r} is not supported by transformer; use "
                             "'layer' or 'none'")
        self.sequence = sequence
        self.norm = (keras.layers.LayerNormalization(epsilon=norm_epsilon, name="layer_norm")
                     if "n" in sequence and norm_type == "layer" else None)
        self.dropout = keras.layers.Dropout(dropout_rate) if "d" in sequence and dropout_rate else None

    def call(self, x, previous=None, training=False):
        for c in self.sequence:
            if c == "a":
                if previous is None:
                    raise ValueError("'a' (residual) needs a previous value")
                x = x + previous
            elif c == "n":
                if self.norm is not None:
                    x = self.norm(x)
            elif c == "d" and self.dropout is not None:
                x = self.dropout(x, training=training)
        return x


class Sublayer(keras.layers.Layer):
    """``layer_postprocess(x, fn(layer_preprocess(x), ...))``: one residual block.

    ``kind`` says how ``fn`` is called on ``y = layer_preprocess(x)``: ``"self_attention"``
    -> ``fn(y, y, bias)``, ``"attention"`` -> ``fn(y, memory, bias)`` (memory as given, as
    T2T), ``"ffn"`` -> ``fn(y)``.
    """

    def __init__(self, fn, kind, hparams, **kwargs):
        super().__init__(**kwargs)
        if kind not in ("self_attention", "attention", "ffn"):
            raise ValueError(f"unknown sublayer kind {kind!r}")
        self.fn = fn
        self.kind = kind
        common = dict(norm_type=hparams.norm_type, norm_epsilon=hparams.norm_epsilon,
                      dropout_rate=hparams.layer_prepostprocess_dropout)
        self.pre = PrePostProcess(hparams.layer_preprocess_sequence, name="pre", **common)
        self.post = PrePostProcess(hparams.layer_postprocess_sequence, name="post", **common)

    def build(self, input_shape=None):
        self.built = True  # the children build on the first call

    def call(self, x, memory=None, bias=None, training=False):
        y = self.pre(x, training=training)
        if self.kind == "self_attention":
            y = self.fn(y, y, bias, training=training)
        elif self.kind == "attention":
            y = self.fn(y, memory, bias, training=training)
        else:
            y = self.fn(y, training=training)
        return self.post(y, previous=x, training=training)


def masked_mean(x, nonpadding):
    """``x [B, L, D]`` averaged over the real positions (``nonpadding [B, L]``, 1.0 real,
    0.0 padding) -> ``[B, 1, D]``: an encoder's output pooled for a class label, padding
    left out (an example reads the same whatever its batch is padded to)."""
    w = tf.cast(nonpadding, x.dtype)[:, :, None]
    return tf.reduce_sum(x * w, axis=1, keepdims=True) / tf.maximum(tf.reduce_sum(w, axis=1, keepdims=True),
                                                                  tf.cast(1.0, x.dtype))


def target_space_embedding(hparams, problem_hparams, hidden: int):
    """T2T's target-space embedding of an encoder (``use_target_space_embedding``): a
    32-row ``Embedding`` named ``target_space_embedding``, or None when off or the problem
    has no ``target_space_id``."""
    if not hparams.get("use_target_space_embedding", True) or problem_hparams.get("target_space_id") is None:
        return None
    return keras.layers.Embedding(32, hidden, name="target_space_embedding",
                                  embeddings_initializer=keras.initializers.RandomNormal(stddev=hidden ** -0.5))


def add_target_space(x, embedding, problem_hparams):
    """``x [B, L, D]`` plus the target space's embedding (``embedding`` from
    ``target_space_embedding``; None: ``x`` as is)."""
    if embedding is None:
        return x
    import tensorflow as tf

    space = tf.cast(tf.reshape(problem_hparams.target_space_id, [1]), tf.int32)
    return x + tf.cast(embedding(space), x.dtype)[None, :, :]


def self_attention_stack(hparams, num_layers: int, prefix: str, kernel_initializer):
    """``num_layers`` x [self-attention block, feed-forward block] of T2T's Transformer
    (``MultiheadAttention`` of ``attention_key_channels``/``attention_value_channels`` or
    ``hidden_size``, ``DenseReluDense`` of ``filter_size``), named
    ``{prefix}_{i}_self_attention[_block]`` and ``{prefix}_{i}_ffn[_block]``. Returns two flat
    lists (Keras tracks the layers of a list, not of tuples in it): ``(self_attention, ffn)``."""
    hp, hidden = hparams, hparams.hidden_size
    key_depth = hp.get("attention_key_channels", 0) or hidden
    value_depth = hp.get("attention_value_channels", 0) or hidden
    self_attention, ffn = [], []
    for i in range(num_layers):
        self_attention.append(Sublayer(
            MultiheadAttention(hp.num_heads, key_depth, value_depth, hidden, hp.attention_dropout,
                               kernel_initializer, name=f"{prefix}_{i}_self_attention"),
            "self_attention", hp, name=f"{prefix}_{i}_self_attention_block"))
        ffn.append(Sublayer(DenseReluDense(hp.filter_size, hidden, hp.relu_dropout, kernel_initializer,
                                           name=f"{prefix}_{i}_ffn"), "ffn", hp, name=f"{prefix}_{i}_ffn_block"))
    return self_attention, ffn
