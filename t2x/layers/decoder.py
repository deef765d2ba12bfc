"""Fast (cached) decoding of any stack of ``Sublayer``s: T2T's ``fast_decode`` body.

A decoder stack is, per layer ``i``: a causal self-attention block
``self_attention[i]``, optionally an encoder-decoder attention block ``encdec[i]`` and a
feed-forward block ``ffn[i]`` (``t2x.layers.sublayers.Sublayer``s around
``MultiheadAttention`` and ``DenseReluDense``). The same block may stand at several places
(a universal transformer applies one layer ``num_rec_steps`` times): each place keeps its
own cache.

``init_cache`` makes, per place, zero buffers for the keys and values of the positions
decoded so far, ``[n, heads, decode_length, depth]`` (``n = batch * beams``), and projects
the encoder output once for the enc-dec blocks. ``step`` runs one position ``i`` (``x``
``[n, 1, D]``, embedded, with its timing signal) through the stack: each self-attention
block projects the new position, writes its keys and values at ``i`` and attends over
positions ``<= i``; ``prepare(x, place)`` may change ``x`` before each place (timing signals
of a weight-tied stack), and ``step_place`` runs one place for a model that recurs between
places itself (ACT). One step costs one position instead of a re-run of the prefix, with the
logits of the slow path. Both run inside ``tf.function`` (``t2x.decoding``'s loops).
"""

from typing import Any, Callable, Dict, Optional, Sequence

import tensorflow as tf

from t2x.layers.attention import NEG_INF


def init_cache(self_attention: Sequence, encdec: Sequence, batch: int, decode_length: int, dtype,
               encoder_output=None, encdec_bias=None) -> Dict[str, Any]:
    """``{"layers": [{"k", "v"[, "encdec_k", "encdec_v"]} per place][, "encdec_bias"]}``. The
    ``encdec_*`` entries are the same for every beam of an example: they are named in
    ``t2x.decoding.BEAM_INVARIANT_KEYS``, which beam search does not reorder."""
    layers = []
    for i, block in enumerate(self_attention):
        attention = block.fn
        depth_k = attention.key_depth // attention.num_heads
        depth_v = attention.v.units // attention.num_heads
        layer = {"k": tf.zeros([batch, attention.num_heads, decode_length, depth_k], dtype),
                 "v": tf.zeros([batch, attention.num_heads, decode_length, depth_v], dtype)}
        if encoder_output is not None and encdec:
            layer["encdec_k"], layer["encdec_v"] = encdec[i].fn.project_memory(encoder_output)
        layers.append(layer)
    cache = {"layers": layers}
    if encdec_bias is not None:
        cache["encdec_bias"] = encdec_bias
    return cache


def step_place(x, i, layer: Dict[str, Any], decode_length: int, attention_block, encdec_block, ffn_block,
               encdec_bias=None, self_bias=None):
    """One place of the stack at position ``i``: ``x [n, 1, D]`` through the self-attention
    block (writing this position's keys and values into ``layer``'s ``k``/``v`` buffers and
    attending over positions ``<= i``), the enc-dec block when ``layer`` holds
    ``encdec_k``/``encdec_v``, and the feed-forward block. Returns (``[n, 1, D]``, the
    place's new cache). A model with its own recurrence between places (a universal
    transformer's ACT halting) calls this once per place; ``step`` runs a plain stack.
    ``self_bias`` ``[1, 1, 1, decode_length]``: the self-attention's mask at ``i`` (default:
    causal, positions ``<= i``; local attention passes its band)."""
    position = tf.range(decode_length)
    if self_bias is None:
        self_bias = tf.where(position <= i, 0.0, NEG_INF)[None, None, None, :]
    at_i = tf.equal(position, i)[None, None, :, None]
    layer = dict(layer)
    y = attention_block.pre(x)
    k_new, v_new = attention_block.fn.project_memory(y)  # [n, heads, 1, d]
    layer["k"] = tf.where(at_i, k_new, layer["k"])  # one pass over the buffer
    layer["v"] = tf.where(at_i, v_new, layer["v"])
    y = attention_block.fn.attend(y, layer["k"], layer["v"], self_bias)
    x = attention_block.post(y, previous=x)
    if "encdec_k" in layer:
        y = encdec_block.fn.attend(encdec_block.pre(x), layer["encdec_k"], layer["encdec_v"], encdec_bias)
        x = encdec_block.post(y, previous=x)
    return ffn_block(x), layer


def step(x, i, cache: Dict[str, Any], decode_length: int, self_attention: Sequence,
         encdec: Sequence, ffn: Sequence, prepare: Optional[Callable] = None, self_bias=None):
    """Position ``i`` (``x [n, 1, D]``) through the stack -> (``[n, 1, D]``, the new cache).

    ``prepare(x, place)``, when given, runs before each place (``place`` = 0, 1, ...) and
    returns the ``[n, 1, D]`` the place reads: a universal transformer adds its position
    and step timing signals there before every application of its one layer. ``self_bias``:
    as ``step_place``'s, for every place."""
    new_layers = []
    for index, (attention_block, ffn_block) in enumerate(zip(self_attention, ffn)):
        if prepare is not None:
            x = prepare(x, index)
        x, layer = step_place(x, i, cache["layers"][index], decode_length, attention_block,
                              encdec[index] if encdec else None, ffn_block, cache.get("encdec_bias"),
                              self_bias)
        new_layers.append(layer)
    return x, dict(cache, layers=new_layers)


def prefill(x, cache: Dict[str, Any], bias, self_attention: Sequence, ffn: Sequence):
    """A whole prefix at once: ``x [n, P, D]`` (embedded, with its timing signal) through a
    stack without enc-dec blocks, in one pass with the self-attention ``bias``
    (broadcastable to ``[n, heads, P, P]``), its keys and values written into slots
    ``[0, P)`` of each place's buffers (which must hold zeros there). Returns (``[n, P, D]``,
    the new cache): the next ``step`` runs at position ``P``. A decoder-only model fed a
    prompt (``transformer_prepend``'s inputs) pays one pass for it, not ``P`` steps."""
    new_layers = []
    for index, (attention_block, ffn_block) in enumerate(zip(self_attention, ffn)):
        layer = dict(cache["layers"][index])
        y = attention_block.pre(x)
        k, v = attention_block.fn.project_memory(y)  # [n, heads, P, d]
        room = [[0, 0], [0, 0], [0, tf.shape(layer["k"])[2] - tf.shape(k)[2]], [0, 0]]
        layer["k"] = layer["k"] + tf.pad(k, room)
        layer["v"] = layer["v"] + tf.pad(v, room)
        y = attention_block.fn.attend(y, k, v, bias)
        x = ffn_block(attention_block.post(y, previous=x))
        new_layers.append(layer)
    return x, dict(cache, layers=new_layers)
