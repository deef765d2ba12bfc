"""Multi-head attention and its biases (T2T's ``common_attention``), shared by the models.

Shapes: B batch, L/Lq/Lk lengths, D depth, H heads. A *bias* is additive, float32,
broadcastable to the attention logits ``[B, H, Lq, Lk]``: 0 where a query may look, ``-1e9``
where it may not (padding, the future, another example of a packed row). Biases add up.
"""

import contextlib

import keras
import tensorflow as tf

NEG_INF = -1e9

# Open ``recording_attention`` blocks: each a list that every eager attention call appends to.
_RECORDERS = []


@contextlib.contextmanager
def recording_attention():
    """While open, every ``MultiheadAttention`` that runs appends ``(layer, weights)`` to
    the yielded list, in call order: ``weights [B, heads, Lq, Lk]`` are its softmax
    (before dropout), rows summing to 1. Meant for an eager call (inside a ``tf.function``
    the tensors would be symbolic); it changes no output and no variable. A layer applied
    several times (a universal transformer's steps) appends once per application."""
    records = []
    _RECORDERS.append(records)
    try:
        yield records
    finally:
        _RECORDERS.remove(records)


def embedding_to_padding(emb):
    """T2T's ``embedding_to_padding``: 1.0 where the embedding row is all zeros, else 0.0
    (``[B, L, D]`` -> ``[B, L]`` float32)."""
    return tf.cast(tf.equal(tf.reduce_sum(tf.abs(tf.cast(emb, tf.float32)), axis=-1), 0.0),
                   tf.float32)


def attention_bias_ignore_padding(padding):
    """``[B, L]`` padding -> ``[B, 1, 1, L]`` additive bias (``-1e9`` on padding)."""
    return (padding * NEG_INF)[:, None, None, :]


def attention_bias_lower_triangle(length):
    """``[1, 1, L, L]`` bias forbidding attention to later positions (T2T's causal bias)."""
    band = tf.linalg.band_part(tf.ones([length, length], tf.float32), -1, 0)
    return ((1.0 - band) * NEG_INF)[None, None, :, :]


def attention_bias_same_segment(query_segmentation, memory_segmentation):
    """Packed rows: ``[B, Lq]``, ``[B, Lk]`` segment ids (0 = padding) -> ``[B, 1, Lq, Lk]``
    additive bias, ``-1e9`` where a query would see a key of another example or padding
    (T2T's ``attention_bias_same_segment``, with padding keys masked too)."""
    q = query_segmentation[:, :, None]
    k = memory_segmentation[:, None, :]
    allowed = tf.logical_and(tf.equal(q, k), tf.not_equal(k, 0))
    return tf.where(allowed, 0.0, NEG_INF)[:, None, :, :]


class MultiheadAttention(keras.layers.Layer):
    """T2T's ``multihead_attention`` (``dot_product``): ``query [B, Lq, D]``, ``memory
    [B, Lk, D]`` (the query itself for self-attention), additive ``bias`` broadcastable to
    ``[B, heads, Lq, Lk]`` -> ``[B, Lq, output_depth]``."""

    def __init__(self, num_heads, key_depth, value_depth, output_depth, dropout_rate,
                 kernel_initializer, **kwargs):
        super().__init__(**kwargs)
        if key_depth % num_heads or value_depth % num_heads:
            raise ValueError(f"key depth {key_depth} and value depth {value_depth} must be "
                             f"divisible by num_heads={num_heads}")
        self.num_heads = num_heads
        self.key_depth = key_depth
        self.q = keras.layers.Dense(key_depth, use_bias=False, kernel_initializer=kernel_initializer, name="q")
        self.k = keras.layers.Dense(key_depth, use_bias=False, kernel_initializer=kernel_initializer, name="k")
        self.v = keras.layers.Dense(value_depth, use_bias=False, kernel_initializer=kernel_initializer, name="v")
        self.o = keras.layers.Dense(output_depth, use_bias=False, kernel_initializer=kernel_initializer,
                                    name="output_transform")
        self.dropout = keras.layers.Dropout(dropout_rate) if dropout_rate else None

    def _split_heads(self, x):
        b, length = tf.shape(x)[0], tf.shape(x)[1]
        x = tf.reshape(x, [b, length, self.num_heads, x.shape[-1] // self.num_heads])
        return tf.transpose(x, [0, 2, 1, 3])

    def project_memory(self, memory):
        """``memory [B, Lk, D]`` -> keys and values split into heads, ``[B, heads, Lk, d]``
        (what a decoding cache stores)."""
        return self._split_heads(self.k(memory)), self._split_heads(self.v(memory))

    def call(self, query, memory, bias=None, training=False):
        k, v = self.project_memory(memory)
        return self.attend(query, k, v, bias, training)

    def attend(self, query, k, v, bias=None, training=False):
        """``query [B, Lq, D]`` over projected ``k``, ``v`` ``[B, heads, Lk, d]``."""
        q = self._split_heads(self.q(query))
        q *= tf.cast((self.key_depth // self.num_heads) ** -0.5, q.dtype)
        logits = tf.cast(tf.matmul(q, k, transpose_b=True), tf.float32)
        if bias is not None:
            # Broadcast in the graph, not in the add: on CPU, oneDNN's grappler remapper fuses
            # scale -> BatchMatMul -> Add into one _MklFusedBatchMatMulV2 whose addend, when it
            # broadcasts ([1, 1, Lq, Lk], the causal bias), takes a path ~50-150x slower than
            # the three ops apart (benchmarks/attention_bias.py). Autocast may hand the bias
            # over in bfloat16.
            logits += tf.broadcast_to(tf.cast(bias, tf.float32), tf.shape(logits))
        weights = tf.cast(tf.nn.softmax(logits, axis=-1), v.dtype)
        for records in _RECORDERS:
            records.append((self, weights))
        if self.dropout is not None:
            weights = self.dropout(weights, training=training)
        x = tf.matmul(weights, v)  # [B, H, Lq, dv]
        x = tf.transpose(x, [0, 2, 1, 3])
        x = tf.reshape(x, [tf.shape(x)[0], tf.shape(x)[1], x.shape[2] * x.shape[3]])
        return self.o(x)
