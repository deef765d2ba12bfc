"""Masked local 1-D attention (T2T's ``masked_local_attention_1d``, the image transformer's
``local_1d``): attention to the query's own block and the block before it, never ahead.

The sequence is cut into blocks of ``block_length`` positions. A query at position ``p`` in
block ``b = p // block_length`` sees the keys ``j`` with ``(b - 1) * block_length <= j <= p``:
its block up to itself and the whole previous block (the first block has none). So every
query sees between ``block_length`` and ``2 * block_length - 1`` positions back (fewer at the
start), and the cost is ``O(L * block_length)`` instead of ``O(L^2)``.

Worked example, ``block_length = 2``, ``L = 5`` (``x``: visible)::

    query  keys 0 1 2 3 4
      0         x . . . .
      1         x x . . .
      2         x x x . .
      3         x x x x .
      4         . . x x x      <- block 2 sees block 1 (2, 3) and itself up to 4

``local_1d_bias(length, block_length)`` is the same mask as an additive bias for full
attention (``[1, 1, L, L]``), and ``local_1d_step_bias(i, length, block_length)`` the row of
position ``i`` for cached decoding (``[1, 1, 1, L]``): full attention under those biases gives
what ``LocalAttention1D`` computes blockwise (a test checks it numerically).
"""

import tensorflow as tf

from t2x.layers.attention import NEG_INF, MultiheadAttention


def _visible(query_position, key_position, block_length: int):
    """True where a query may see a key (broadcasting int tensors)."""
    start = (query_position // block_length - 1) * block_length
    return tf.logical_and(key_position <= query_position, key_position >= start)


def local_1d_bias(length, block_length: int):
    """``[1, 1, L, L]`` float32 bias of masked local attention over ``L`` positions."""
    position = tf.range(length)
    visible = _visible(position[:, None], position[None, :], block_length)
    return tf.where(visible, 0.0, NEG_INF)[None, None, :, :]


def local_1d_step_bias(i, length, block_length: int):
    """``[1, 1, 1, L]`` float32 bias of query position ``i`` (a scalar tensor) over a cache of
    ``L`` positions: what cached decoding of ``LocalAttention1D`` attends with."""
    visible = _visible(i, tf.range(length), block_length)
    return tf.where(visible, 0.0, NEG_INF)[None, None, None, :]


class LocalAttention1D(MultiheadAttention):
    """Multi-head masked local self-attention, blockwise (T2T's ``local_mask_right``).

    Same projections as ``MultiheadAttention`` (so the cached decoder's ``project_memory``
    and ``attend`` work on it with ``local_1d_step_bias``); ``call(query, memory, bias)``
    with ``memory`` the query itself: ``[B, L, D]`` -> ``[B, L, output_depth]``. ``bias`` must
    be None (every position of an image is real; the causal and local masks are built in).
    """

    def __init__(self, num_heads, key_depth, value_depth, output_depth, dropout_rate,
                 kernel_initializer, block_length: int, **kwargs):
        super().__init__(num_heads, key_depth, value_depth, output_depth, dropout_rate,
                         kernel_initializer, **kwargs)
        if int(block_length) < 1:
            raise ValueError(f"block_length must be >= 1, got {block_length}")
        self.block_length = int(block_length)

    def call(self, query, memory, bias=None, training=False):
        if bias is not None:
            raise ValueError("LocalAttention1D builds its own causal local mask; pass bias=None")
        del memory  # self-attention: the keys and values are the query's
        block = self.block_length
        q = self._split_heads(self.q(query))  # [B, H, L, d]
        k, v = self.project_memory(query)
        q *= tf.cast((self.key_depth // self.num_heads) ** -0.5, q.dtype)
        batch, heads, length = tf.shape(q)[0], tf.shape(q)[1], tf.shape(q)[2]
        num_blocks = (length + block - 1) // block
        pad = num_blocks * block - length

        def blocks(t):  # [B, H, L, d] -> [B, H, N, block, d], zero-padded at the end
            t = tf.pad(t, [[0, 0], [0, 0], [0, pad], [0, 0]])
            return tf.reshape(t, [batch, heads, num_blocks, block, t.shape[-1]])

        def with_previous(t):  # [B, H, N, block, d] -> [B, H, N, 2 * block, d]
            previous = tf.pad(t, [[0, 0], [0, 0], [1, 0], [0, 0], [0, 0]])[:, :, :-1]
            return tf.concat([previous, t], axis=3)

        q_blocks = blocks(q)
        k_local, v_local = with_previous(blocks(k)), with_previous(blocks(v))
        logits = tf.cast(tf.matmul(q_blocks, k_local, transpose_b=True), tf.float32)  # [B, H, N, b, 2b]
        # Positions of each block's queries and of its [previous, own] keys.
        block_start = tf.range(num_blocks)[:, None, None] * block
        query_position = block_start + tf.range(block)[None, :, None]
        key_position = block_start - block + tf.range(2 * block)[None, None, :]
        visible = tf.logical_and(_visible(query_position, key_position, block), key_position >= 0)
        local_bias = tf.where(visible, 0.0, NEG_INF)  # [N, b, 2b]
        logits += tf.broadcast_to(local_bias[None, None], tf.shape(logits))
        weights = tf.cast(tf.nn.softmax(logits, axis=-1), v.dtype)
        if self.dropout is not None:
            weights = self.dropout(weights, training=training)
        x = tf.matmul(weights, v_local)  # [B, H, N, b, dv]
        x = tf.reshape(x, [batch, heads, num_blocks * block, x.shape[-1]])[:, :, :length]
        x = tf.transpose(x, [0, 2, 1, 3])
        x = tf.reshape(x, [batch, length, x.shape[2] * x.shape[3]])
        return self.o(x)


__all__ = ["LocalAttention1D", "local_1d_bias", "local_1d_step_bias"]
