"""The Transformer (T2T's ``models/transformer.py``, "Attention Is All You Need").

Body only: the symbol modalities embed the ids (times ``sqrt(hidden_size)``, id 0 -> zeros)
and turn the body output into logits. The body follows T2T's ``Transformer.body``:

* **encoder** (when the problem has ``inputs``): the input padding is read off the embedded
  inputs (all-zero rows, T2T's ``embedding_to_padding``), the target-space embedding is added
  (``use_target_space_embedding``), then the timing signal (``pos == "timing"``) and dropout
  ``layer_prepostprocess_dropout``; ``num_encoder_layers`` (or ``num_hidden_layers``) x
  [self-attention, feed-forward], each sublayer wrapped as ``layer_preprocess`` ->
  sublayer -> ``layer_postprocess``; a final ``layer_preprocess`` (the final layer norm);
* **decoder**: the embedded targets shifted right by one position (T2T's
  ``shift_right_3d``: teacher forcing), the timing signal, dropout; ``num_decoder_layers``
  (or ``num_hidden_layers``) x [causal self-attention, encoder-decoder attention (skipped
  without inputs: a decoder-only language model), feed-forward]; the final layer norm.

Pre/post-processing reads T2T's sequences: ``layer_preprocess_sequence`` ("n": layer
norm) and ``layer_postprocess_sequence`` ("da": dropout, then add the residual); letters
``a`` (residual), ``d`` (dropout ``layer_prepostprocess_dropout``), ``n`` (norm,
``norm_type`` "layer" or "none").

Attention is T2T's ``multihead_attention`` with ``dot_product`` attention: bias-free q/k/v and
output projections, queries scaled by ``depth_per_head ** -0.5``, an additive ``-1e9``
bias on masked positions, dropout ``attention_dropout`` on the weights. The feed-forward
layer is ``dense_relu_dense``: dense ``filter_size`` + relu, dropout ``relu_dropout``,
dense ``hidden_size``.

Packed rows (``hparams.packed``, ``t2x.data.batching.pack_dataset``): attention is masked
across segments, the timing signal restarts per segment and each segment's first decoder
input is zero, so a packed batch gives every example the loss it has alone.

The layers live in ``t2x.layers`` (attention, timing, sublayers) and the cached decoding in
``t2x.layers.decoder``, for the models built of the same pieces.

Not here (later issues or not carried over): T2T's pad remover (an efficiency device: it does not
change the outputs at real positions), relative/local attention variants, other
``ffn_layer`` types.
"""

import keras
import tensorflow as tf

from t2x import decoding, registry
from t2x.layers import decoder as cached
from t2x.layers.attention import (MultiheadAttention, attention_bias_ignore_padding,
                                  attention_bias_lower_triangle, attention_bias_same_segment,
                                  embedding_to_padding)
from t2x.layers.sublayers import (DenseReluDense, PrePostProcess, Sublayer, add_target_space,
                                  target_space_embedding)
from t2x.layers.timing import add_timing_signal_1d, get_timing_signal_1d, shift_right_3d
from t2x.model import T2XModel
from t2x.models.basic import initializer_from_hparams


# ------------------------------------------------------------------------- model --

@registry.register_model(default_hparams_set="transformer_base")
class Transformer(T2XModel):
    """Encoder-decoder Transformer; decoder-only when the problem has no ``inputs``.

    Body: ``inputs [B, Li, hidden]`` (optional), ``targets [B, Lt, hidden]`` (the embedded,
    unshifted targets) -> ``[B, Lt, hidden]``. Reads packed batches (``hparams.packed``):
    with ``inputs_segmentation``/``inputs_position`` and ``targets_segmentation``/
    ``targets_position`` the examples of a row do not see each other.
    """

    supports_packed = True

    def build_body(self):
        hp = self.train_hparams
        init = initializer_from_hparams(hp)
        hidden = hp.hidden_size
        key_depth = hp.get("attention_key_channels", 0) or hidden
        value_depth = hp.get("attention_value_channels", 0) or hidden
        ffn = hp.get("ffn_layer", "dense_relu_dense")
        if ffn != "dense_relu_dense":
            raise ValueError(f"ffn_layer={ffn!r} is not supported; use 'dense_relu_dense'")
        pos = hp.get("pos", "timing")
        if pos not in ("timing", "none"):
            raise ValueError(f"pos={pos!r} is not supported; use 'timing' or 'none'")
        self.has_input = "inputs" in self.problem_hparams.modality
        self.input_dropout = (keras.layers.Dropout(hp.layer_prepostprocess_dropout)
                              if hp.layer_prepostprocess_dropout else None)

        def attention(name):
            return MultiheadAttention(hp.num_heads, key_depth, value_depth, hidden,
                                      hp.attention_dropout, init, name=name)

        def feed_forward(name):
            return DenseReluDense(hp.filter_size, hidden, hp.relu_dropout, init, name=name)

        def final_norm(name):
            return PrePostProcess(hp.layer_preprocess_sequence, hp.norm_type, hp.norm_epsilon,
                                  hp.layer_prepostprocess_dropout, name=name)

        self.target_space_embedding = None
        self.encoder_self_attention, self.encoder_ffn = [], []
        if self.has_input:
            self.target_space_embedding = target_space_embedding(hp, self.problem_hparams, hidden)
            num_enc = hp.get("num_encoder_layers", 0) or hp.num_hidden_layers
            # Flat lists of layers (Keras tracks the layers of a list, not of tuples in it).
            for i in range(num_enc):
                self.encoder_self_attention.append(Sublayer(
                    attention(f"encoder_{i}_self_attention"), "self_attention", hp, name=f"encoder_{i}_self_attention_block"))
                self.encoder_ffn.append(Sublayer(feed_forward(f"encoder_{i}_ffn"), "ffn", hp,
                                                 name=f"encoder_{i}_ffn_block"))
            self.encoder_norm = final_norm("encoder_norm")
        num_dec = hp.get("num_decoder_layers", 0) or hp.num_hidden_layers
        self.decoder_self_attention, self.decoder_encdec_attention, self.decoder_ffn = [], [], []
        for i in range(num_dec):
            self.decoder_self_attention.append(Sublayer(
                attention(f"decoder_{i}_self_attention"), "self_attention", hp, name=f"decoder_{i}_self_attention_block"))
            if self.has_input:
                self.decoder_encdec_attention.append(Sublayer(
                    attention(f"decoder_{i}_encdec_attention"), "attention", hp,
                    name=f"decoder_{i}_encdec_attention_block"))
            self.decoder_ffn.append(Sublayer(feed_forward(f"decoder_{i}_ffn"), "ffn", hp,
                                             name=f"decoder_{i}_ffn_block"))
        self.decoder_norm = final_norm("decoder_norm")

    # -- pieces ------------------------------------------------------------------
    def _prepare(self, x, position=None):
        if self.hparams.get("pos", "timing") == "timing":
            x = add_timing_signal_1d(x, position=position)
        if self.input_dropout is not None:
            x = self.input_dropout(x, training=self._training)
        return x

    def encode(self, inputs, segmentation=None, position=None):
        """``[B, Li, D]`` embedded inputs -> (encoder output ``[B, Li, D]``, enc-dec bias
        ``[B, 1, 1, Li]``). Packed rows pass ``segmentation`` and ``position`` ``[B, Li]``:
        self-attention stays within each example and the timing signal restarts with it;
        the enc-dec bias is then the keys' padding only (the decoder adds its segments)."""
        padding = embedding_to_padding(inputs)
        bias = attention_bias_ignore_padding(padding)
        self_bias = bias
        if segmentation is not None:
            self_bias = attention_bias_same_segment(segmentation, segmentation)
        if self.hparams.get("unidirectional_encoder", False):
            self_bias = bias + attention_bias_lower_triangle(tf.shape(inputs)[1])
        x = inputs
        x = add_target_space(x, self.target_space_embedding, self.problem_hparams)
        x = self._prepare(x, position)
        for self_attention, ffn in zip(self.encoder_self_attention, self.encoder_ffn):
            x = self_attention(x, bias=self_bias, training=self._training)
            x = ffn(x, training=self._training)
        return self.encoder_norm(x, training=self._training), bias

    def decode(self, targets, encoder_output=None, encdec_bias=None, segmentation=None,
               position=None):
        """``[B, Lt, D]`` embedded (unshifted) targets -> ``[B, Lt, D]``. Packed rows pass
        the targets' ``segmentation`` and ``position`` ``[B, Lt]`` (and an ``encdec_bias``
        ``[B, 1, Lt, Li]`` by segment): each example's first position gets the zero input an
        unpacked example gets (not the previous example's last token, as T2T fed it), so a
        packed batch gives each example the logits it gets alone."""
        shifted = shift_right_3d(targets)
        if position is not None:
            shifted *= tf.cast(tf.not_equal(position, 0), shifted.dtype)[:, :, None]
        x = self._prepare(shifted, position)
        self_bias = None
        if self.hparams.get("causal_decoder_self_attention", True):
            self_bias = attention_bias_lower_triangle(tf.shape(x)[1])
        if segmentation is not None:
            same = attention_bias_same_segment(segmentation, segmentation)
            self_bias = same if self_bias is None else self_bias + same
        for i, (self_attention, ffn) in enumerate(zip(self.decoder_self_attention, self.decoder_ffn)):
            x = self_attention(x, bias=self_bias, training=self._training)
            if self.decoder_encdec_attention and encoder_output is not None:
                x = self.decoder_encdec_attention[i](x, memory=encoder_output, bias=encdec_bias,
                                                     training=self._training)
            x = ffn(x, training=self._training)
        return self.decoder_norm(x, training=self._training)

    def body(self, features):
        encoder_output = encdec_bias = None
        targets_segmentation = features.get("targets_segmentation")
        if self.has_input and "inputs" in features:
            inputs_segmentation = features.get("inputs_segmentation")
            encoder_output, encdec_bias = self.encode(features["inputs"], inputs_segmentation,
                                                      features.get("inputs_position"))
            if inputs_segmentation is not None and targets_segmentation is not None:
                encdec_bias = attention_bias_same_segment(targets_segmentation, inputs_segmentation)
        return self.decode(features["targets"], encoder_output, encdec_bias,
                           targets_segmentation, features.get("targets_position"))

    # -- decoding ------------------------------------------------------------------
    def fast_decode_fn(self, features, batch_size, decode_length, num_beams):
        """Cached decoding (T2T's ``fast_decode``): the encoder runs once; every decoder
        layer keeps the keys and values of the positions decoded so far in a
        ``[batch * beams, heads, decode_length, depth]`` buffer, so a step costs one
        position instead of a re-run of the whole prefix. Same logits as the slow path."""
        if not self.hparams.get("causal_decoder_self_attention", True):
            return None  # not autoregressive: only the slow path is correct
        n = batch_size * num_beams
        expand = (lambda t: decoding.expand_to_beams(t, num_beams)) if num_beams > 1 else (lambda t: t)
        encoder_output = encdec_bias = None
        if self.has_input and "inputs" in features:
            encoder_output, encdec_bias = self.encode(self.modalities["inputs"].bottom(features["inputs"]))
            encoder_output, encdec_bias = expand(encoder_output), expand(encdec_bias)
        cache = cached.init_cache(self.decoder_self_attention, self.decoder_encdec_attention, n, decode_length,
                                  self.compute_dtype, encoder_output, encdec_bias)
        hidden = self.hparams.hidden_size
        timing = get_timing_signal_1d(decode_length, hidden) if self.hparams.get("pos", "timing") == "timing" else None
        targets_modality = self.modalities["targets"]

        def symbols_to_logits_fn(ids, i, cache):
            previous = tf.where(i > 0, ids[:, tf.maximum(i - 1, 0)], tf.zeros_like(ids[:, 0]))
            x = targets_modality.targets_bottom(previous[:, None])  # [n, 1, D]; id 0 -> zeros
            if timing is not None:
                x += tf.cast(timing[:, i:i + 1, :], x.dtype)
            x, cache = cached.step(x, i, cache, decode_length, self.decoder_self_attention,
                                   self.decoder_encdec_attention, self.decoder_ffn)
            logits = self.top(self.decoder_norm(x), {})
            return logits[:, 0, :], cache

        return symbols_to_logits_fn, cache
