"""``transformer_prepend``: T2T's decoder-only Transformer with the inputs prepended to the
targets (T2T's hparams ``prepend_mode``, sets ``transformer_prepend``/``_v1``/``_v2``; Liu et
al. 2018 summarised Wikipedia this way).

T2T built it in the input pipeline: ``targets = inputs + [0] + targets`` and a loss weight
of 0 up to the separator. Here the model builds the one sequence itself, so the problem's
data, batching and metrics stay those of any text-to-text problem, and the loss, the
metrics and decoding see the targets only. Per example (``l`` input tokens, EOS included;
``Li`` the batch's widest input; ``Lt`` target positions), the decoder reads

    slots   0 .. Li-l-1     Li-l     Li-l+1 .. Li     Li+1     Li+2 .. Li+Lt
    input   (padding)       0        inputs           0        targets[:-1]
    output  -               -        -                targets[0]  targets[1..]

i.e. ``[0] + inputs`` right-aligned in the first ``Li + 1`` slots, then the targets shifted
right (the 0 before them is T2T's separator, which embeds to zeros like every id 0). The
padding slots are masked out of attention and each example's timing signal counts from its
own first slot, so an example's outputs do not depend on its batch neighbours; the body
returns the last ``Lt`` slots, ``[B, Lt, hidden]``, where the targets' modality reads its
logits and loss. ``prepend_mode``: ``prepend_inputs_masked_attention`` (T2T's default: causal
everywhere) or ``prepend_inputs_full_attention`` (the ``[0] + inputs`` slots also see each
other, as an encoder would).

Cost: one stack over ``Li + 1 + Lt`` positions, attention quadratic in that sum (an
encoder-decoder pays ``Li^2 + Lt^2 + Lt * Li``): cut long inputs (the summarization problems'
``max_input_seq_length``) and give ``batch_size`` room for the sum.

Cached decoding (``fast_decode_fn``): the ``[0] + inputs`` prefix runs through the stack in
one pass (``t2x.layers.decoder.prefill``) writing its keys and values into the cache, then
each target position is one cached step at slot ``Li + 1 + i``: the logits of the slow path
(tested), at the cost of one prefix pass plus one position a token.
"""

import keras
import tensorflow as tf

from t2x import decoding, registry
from t2x.errors import ConfigError
from t2x.layers import decoder as cached
from t2x.layers.attention import NEG_INF, embedding_to_padding
from t2x.layers.sublayers import PrePostProcess, self_attention_stack
from t2x.layers.timing import add_timing_signal_1d, shift_right_3d, timing_signal_at
from t2x.model import T2XModel
from t2x.models.basic import initializer_from_hparams

PREPEND_MODES = ("prepend_inputs_masked_attention", "prepend_inputs_full_attention")


@registry.register_model(default_hparams_set="transformer_prepend")
class TransformerPrepend(T2XModel):
    """Decoder-only Transformer over ``[0] + inputs + [0] + targets`` (module docstring).

    Body: ``inputs [B, Li, hidden]``, ``targets [B, Lt, hidden]`` (embedded, unshifted) ->
    ``[B, Lt, hidden]``, the outputs at the target slots."""

    reads_prepend_mode = True  # other models refuse a set with prepend_mode (t2x.model.check_model_hparams)

    def build_body(self):
        hp = self.train_hparams
        self.prepend_mode = hp.get("prepend_mode", "prepend_inputs_masked_attention")
        if self.prepend_mode not in PREPEND_MODES:
            raise ConfigError(f"prepend_mode={self.prepend_mode!r} is not supported by transformer_prepend; "
                              f"use one of {', '.join(PREPEND_MODES)}")
        if "inputs" not in self.problem_hparams.modality:
            raise ConfigError("transformer_prepend prepends the inputs to the targets, but this problem has no "
                              "inputs: use --model=transformer (decoder-only without inputs)")
        for key, allowed in (("ffn_layer", "dense_relu_dense"), ("pos", "timing")):
            if hp.get(key, allowed) != allowed:
                raise ConfigError(f"{key}={hp.get(key)!r} is not supported by transformer_prepend; use {allowed!r}")
        init = initializer_from_hparams(hp)
        self.input_dropout = (keras.layers.Dropout(hp.layer_prepostprocess_dropout)
                              if hp.layer_prepostprocess_dropout else None)
        self.self_attention, self.ffn = self_attention_stack(
            hp, hp.get("num_decoder_layers", 0) or hp.num_hidden_layers, "decoder", init)
        self.decoder_norm = PrePostProcess(hp.layer_preprocess_sequence, hp.norm_type, hp.norm_epsilon,
                                           hp.layer_prepostprocess_dropout, name="decoder_norm")

    # -- the prefix ------------------------------------------------------------------
    def _prefix(self, inputs):
        """Embedded inputs ``[B, Li, D]`` -> (``[0] + inputs`` right-aligned ``[B, Li + 1, D]``,
        their positions ``[B, Li + 1]`` int32 (0 at the example's first slot), real slots
        ``[B, Li + 1]`` bool, the inputs' lengths ``[B]`` int32)."""
        width = tf.shape(inputs)[1] + 1
        lengths = tf.cast(tf.reduce_sum(1.0 - embedding_to_padding(inputs), axis=1), tf.int32)
        start = (width - 1 - lengths)[:, None]  # the slot of each example's leading 0
        slots = tf.range(width)[None, :]
        position = tf.maximum(slots - start, 0)
        with_zero = tf.pad(inputs, [[0, 0], [1, 0], [0, 0]])  # [B, Li + 1, D]: index 0 is the zero row
        prefix = tf.gather(with_zero, position, batch_dims=1)  # padding slots gather the zero row
        return prefix, position, slots >= start, lengths

    def _self_bias(self, real, prefix_width):
        """``[B, 1, T, T]``: causal, padding keys masked; with full attention the prefix
        slots also see the later prefix slots."""
        total = tf.shape(real)[1]
        q, k = tf.range(total)[:, None], tf.range(total)[None, :]
        allowed = k <= q
        if self.prepend_mode == "prepend_inputs_full_attention":
            allowed = tf.logical_or(allowed, tf.logical_and(q < prefix_width, k < prefix_width))
        allowed = tf.logical_and(allowed[None, :, :], real[:, None, :])
        return tf.where(allowed, 0.0, NEG_INF)[:, None, :, :]

    def _prepare(self, x, position):
        x = add_timing_signal_1d(x, position=position)
        if self.input_dropout is not None:
            x = self.input_dropout(x, training=self._training)
        return x

    def body(self, features):
        prefix, prefix_position, prefix_real, lengths = self._prefix(features["inputs"])
        targets = features["targets"]
        width, target_length = tf.shape(prefix)[1], tf.shape(targets)[1]
        x = tf.concat([prefix, tf.cast(shift_right_3d(targets), prefix.dtype)], axis=1)
        position = tf.concat([prefix_position, lengths[:, None] + 1 + tf.range(target_length)[None, :]], axis=1)
        real = tf.concat([prefix_real, tf.fill(tf.stack([tf.shape(targets)[0], target_length]), True)], axis=1)
        bias = self._self_bias(real, width)
        x = self._prepare(x, position)
        for self_attention, ffn in zip(self.self_attention, self.ffn):
            x = self_attention(x, bias=bias, training=self._training)
            x = ffn(x, training=self._training)
        return self.decoder_norm(x, training=self._training)[:, width:, :]

    # -- decoding ------------------------------------------------------------------
    def fast_decode_fn(self, features, batch_size, decode_length, num_beams):
        """The prefix in one pass (``cached.prefill``, per example, before the beams are
        made), then one cached step a target position, at slot ``Li + 1 + i`` and timing
        position ``l + 1 + i``; padding slots stay masked. Same logits as the slow path."""
        prefix, prefix_position, prefix_real, lengths = self._prefix(
            self.modalities["inputs"].bottom(features["inputs"]))
        width = tf.shape(prefix)[1]
        total = width + decode_length
        cache = cached.init_cache(self.self_attention, [], batch_size, total, self.compute_dtype)
        _, cache = cached.prefill(self._prepare(prefix, prefix_position), cache,
                                  self._self_bias(prefix_real, width), self.self_attention, self.ffn)
        real = tf.concat([prefix_real, tf.ones([batch_size, decode_length], tf.bool)], axis=1)
        key_bias = tf.where(real, 0.0, NEG_INF)[:, None, None, :]  # [B, 1, 1, total]
        if num_beams > 1:
            cache, key_bias, lengths = tf.nest.map_structure(
                lambda t: decoding.expand_to_beams(t, num_beams), (cache, key_bias, lengths))
        hidden = self.hparams.hidden_size
        targets_modality = self.modalities["targets"]

        def symbols_to_logits_fn(ids, i, cache):
            previous = tf.where(i > 0, ids[:, tf.maximum(i - 1, 0)], tf.zeros_like(ids[:, 0]))
            x = targets_modality.targets_bottom(previous[:, None])  # [n, 1, D]; the separator 0 -> zeros
            x += tf.cast(timing_signal_at(lengths + 1 + i, hidden)[:, None, :], x.dtype)
            slot = width + i
            causal = tf.where(tf.range(total) <= slot, 0.0, NEG_INF)[None, None, None, :]
            x, cache = cached.step(x, slot, cache, total, self.self_attention, [], self.ffn,
                                   self_bias=causal + key_bias)
            logits = self.top(self.decoder_norm(x), {})
            return logits[:, 0, :], cache

        return symbols_to_logits_fn, cache
