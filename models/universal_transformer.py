"""The Universal Transformer (Dehghani et al. 2019; T2T's ``models/research/universal_transformer``).

One transformer layer, its weights tied, applied again and again ("recurrent in depth"):

* ``recurrence_type="basic"``: ``num_rec_steps`` applications;
* ``recurrence_type="act"``: Adaptive Computation Time (``t2x.layers.act``): each position
  halts on its own, after at most ``act_max_steps`` applications, and the loss gains
  ``act_loss_weight`` times the ponder cost (steps used plus the last remainder, averaged
  over the real positions of the encoder, plus the same for the decoder: T2T's ``act_loss``).

Before every application (T2T's ``step_preprocess``) the position ("horizontal") timing
signal is added (``add_position_timing_signal``; the input's own ``pos`` timing must then be
off, ``pos="none"``) and the step ("vertical") signal (``add_step_timing_signal``,
``step_timing_signal_type`` ``"learned"`` or ``"sinusoid"``). ``position_start_index``
shifts the positions the timing signal reads: ``"random"`` (training only: each example's
positions start at an offset drawn uniformly from ``[0, length)``, or from
``[0, position_start_max)`` when that hparam is set, one draw per example and
pass, shared by the steps; T2T drew one per batch and step, in eval too) so that a model
trained on short sequences has seen the timing signals of long ones (length generalisation);
``"step"`` (T2T's: the offset ``length * step / num_steps``); ``""`` none.

The layer is T2T's: pre/post-processed self-attention, encoder-decoder attention (decoder
with inputs), and the ``transformer_ffn_type="fc"`` feed-forward (``dense_relu_dense``);
encoder and decoder each end with the final ``layer_preprocess`` (norm). Inputs are
prepared as the Transformer's (target-space embedding, dropout); the decoder reads the
targets shifted right (teacher forcing).

Models: ``universal_transformer`` (encoder-decoder, decoder-only without ``inputs``) and
``universal_transformer_encoder`` (encoder only: a class label from the mean of the real
positions, or per-position symbol targets as long as the inputs).

Decoding is cached (``fast_decode_fn``, ``t2x.layers.decoder``): each of the decoder's
applications is a place with its own key/value cache. ACT decodes with the cache too: the
state of every position is revised at every step whether it halted or not, so the cached
path runs all ``act_max_steps`` applications per position (its halting masks keep the
output what the slow path gives) and fills every place's cache.

Not here: T2T's other recurrence types (highway, skip, dwa, rnn, gru, lstm), mixing with
vanilla layers, ``sepconv`` feed-forwards, concatenated timing signals, packed batches.
"""

import keras
import tensorflow as tf

from t2x import decoding, metrics, registry
from t2x.data.problem import ModalityType
from t2x.hparam import HParamsError
from t2x.layers import act as act_lib
from t2x.layers import decoder as cached
from t2x.layers.attention import (MultiheadAttention, attention_bias_ignore_padding,
                                  attention_bias_lower_triangle, embedding_to_padding)
from t2x.layers.sublayers import (DenseReluDense, PrePostProcess, Sublayer, add_target_space, masked_mean,
                                  target_space_embedding)
from t2x.layers.timing import StepTimingSignal, add_timing_signal_1d, get_timing_signal_1d, shift_right_3d, \
    timing_signal_at
from t2x.model import T2XModel
from t2x.models.basic import initializer_from_hparams

RECURRENCE_TYPES = ("basic", "act")
POSITION_START_INDEX = ("", "random", "step")


def check_hparams(hp, has_decoder: bool) -> None:
    """Host, at construction: the universal transformer's hparams, each refused with a line
    naming the value and the fix (``HParamsError``)."""
    def refuse(message):
        raise HParamsError(message)

    if hp.recurrence_type not in RECURRENCE_TYPES:
        refuse(f"recurrence_type={hp.recurrence_type!r} is not supported; use 'basic' or 'act'")
    if hp.transformer_ffn_type != "fc":
        refuse(f"transformer_ffn_type={hp.transformer_ffn_type!r} is not supported; use 'fc'")
    if hp.step_timing_signal_type not in StepTimingSignal.SIGNAL_TYPES:
        refuse(f"step_timing_signal_type={hp.step_timing_signal_type!r} is not supported; use 'learned' or "
               "'sinusoid'")
    if hp.position_start_index not in POSITION_START_INDEX:
        refuse(f"position_start_index={hp.position_start_index!r} is not supported; use '' (none), 'random' "
               "or 'step'")
    if hp.get("pos", "none") not in ("timing", "none"):
        refuse(f"pos={hp.pos!r} is not supported; use 'none' (or 'timing' with add_position_timing_signal=false)")
    if hp.add_position_timing_signal and hp.get("pos", "none") == "timing":
        refuse("pos='timing' with add_position_timing_signal=true adds the position signal twice; set pos=none")
    if hp.get("position_start_max", 0) < 0:
        refuse(f"hparam position_start_max={hp.position_start_max} is out of range: it must be >= 0 "
               "(0: offsets from [0, length))")
    if hp.get("position_start_max", 0) and hp.position_start_index != "random":
        refuse(f"position_start_max={hp.position_start_max} bounds the random position offsets: it needs "
               "position_start_index='random'")
    if hp.position_start_index and not hp.add_position_timing_signal:
        refuse(f"position_start_index={hp.position_start_index!r} shifts the per-step position signal: it "
               "needs add_position_timing_signal=true")
    for name in ("num_rec_steps", "act_max_steps"):
        if hp.get(name) < 1:
            refuse(f"hparam {name}={hp.get(name)} is out of range: it must be >= 1 (--hparams={name}=...)")
    if not 0.0 <= hp.act_epsilon < 1.0:
        refuse(f"hparam act_epsilon={hp.act_epsilon} is out of range: it must be in [0, 1)")
    if hp.act_loss_weight < 0.0:
        refuse(f"hparam act_loss_weight={hp.act_loss_weight} is out of range: it must be >= 0")
    if hp.recurrence_type == "act":
        try:
            act_lib.check_act_type(hp.act_type, has_decoder)
        except ValueError as e:
            refuse(str(e))


class UniversalStack(keras.layers.Layer):
    """An encoder or decoder: the one weight-tied layer, its step signal, ACT's halting unit
    and the final norm. ``call`` takes the prepared input ``x [B, L, D]``, the self-attention
    ``bias``, the encoder ``memory [B, Li, D]`` with its ``encdec_bias`` (decoder with
    inputs), ``nonpadding [B, L]`` (ACT: padding halted from the start; None: every position
    runs) and ``offset`` (the first timing position: ``[B]``, a scalar or None) and returns
    ``(output [B, L, D], ponder_times [B, L] or None, remainders [B, L] or None)``."""

    def __init__(self, hp, kernel_initializer, has_encdec: bool, **kwargs):
        super().__init__(**kwargs)
        hidden = hp.hidden_size
        key_depth = hp.get("attention_key_channels", 0) or hidden
        value_depth = hp.get("attention_value_channels", 0) or hidden
        self.act = hp.recurrence_type == "act"
        self.act_type = hp.act_type
        self.num_steps = hp.act_max_steps if self.act else hp.num_rec_steps
        self.epsilon = hp.act_epsilon
        self.position_timing = hp.add_position_timing_signal
        self.position_start_index = hp.position_start_index

        def attention(name):
            return MultiheadAttention(hp.num_heads, key_depth, value_depth, hidden, hp.attention_dropout,
                                      kernel_initializer, name=name)

        self.self_attention = Sublayer(attention("self_attention"), "self_attention", hp,
                                       name="self_attention_block")
        self.encdec = (Sublayer(attention("encdec_attention"), "attention", hp, name="encdec_attention_block")
                       if has_encdec else None)
        self.ffn = Sublayer(DenseReluDense(hp.filter_size, hidden, hp.relu_dropout, kernel_initializer, name="ffn"),
                            "ffn", hp, name="ffn_block")
        self.step_signal = (StepTimingSignal(self.num_steps, hp.step_timing_signal_type, name="step_timing")
                            if hp.add_step_timing_signal else None)
        self.halting = act_lib.AdaptiveHalting(hp.act_halting_bias_init, name="halting") if self.act else None
        self.norm = PrePostProcess(hp.layer_preprocess_sequence, hp.norm_type, hp.norm_epsilon,
                                   hp.layer_prepostprocess_dropout, name="final_norm")

    def build(self, input_shape=None):
        self.built = True  # the children build on the first call

    def prepare(self, x, step, position, length):
        """T2T's ``step_preprocess``: ``x [B, L, D]`` plus the position signal of
        ``position`` (int ``[B or 1, L]``; shifted by ``position_start_index="step"``, which
        reads the sequence ``length``) and the signal of ``step``."""
        if self.position_timing:
            if self.position_start_index == "step":
                position = position + tf.cast(tf.cast(length, tf.float32) * tf.cast(step, tf.float32)
                                              / self.num_steps, position.dtype)
            x = x + tf.cast(timing_signal_at(position, x.shape[-1]), x.dtype)
        if self.step_signal is not None:
            x = self.step_signal(x, step=step)
        return x

    def layer(self, x, bias, memory=None, encdec_bias=None, training=False):
        """The weight-tied layer: self-attention, enc-dec attention (when built with it and
        given ``memory``), feed-forward."""
        x = self.self_attention(x, bias=bias, training=training)
        if self.encdec is not None and memory is not None:
            x = self.encdec(x, memory=memory, bias=encdec_bias, training=training)
        return self.ffn(x, training=training)

    def call(self, x, bias, memory=None, encdec_bias=None, nonpadding=None, offset=None, training=False):
        length = tf.shape(x)[1]
        position = tf.range(length)[None, :]
        if offset is not None:
            position = position + tf.reshape(tf.cast(offset, tf.int32), [-1, 1])

        def prepare(state, step):
            return self.prepare(state, step, position, length)

        def transform(state):
            return self.layer(state, bias, memory, encdec_bias, training)

        if not self.act:
            for step in range(self.num_steps):
                x = transform(prepare(x, step))
            return self.norm(x, training=training), None, None
        if not self.halting.built:
            # The loop may run no step (a batch of padding only, as the zero batch that
            # builds the variables): build the layer and the halting unit outside it.
            prepared = prepare(x, 0)
            self.halting(prepared)
            transform(prepared)
        output, ponder_times, remainders = act_lib.adaptive_computation(
            x, prepare, transform, self.halting, max_steps=self.num_steps, epsilon=self.epsilon,
            act_type=self.act_type, nonpadding=nonpadding)
        return self.norm(output, training=training), ponder_times, remainders


class _UniversalBase(T2XModel):
    """What both universal transformers share: input preparation, the encoder, the ponder
    cost in the loss."""

    has_decoder = True

    def build_body(self):
        hp = self.train_hparams
        self.has_input = "inputs" in self.problem_hparams.modality
        check_hparams(hp, self.has_decoder)
        init = initializer_from_hparams(hp)
        hidden = hp.hidden_size
        self.act = hp.recurrence_type == "act"
        self.input_dropout = (keras.layers.Dropout(hp.layer_prepostprocess_dropout)
                              if hp.layer_prepostprocess_dropout else None)
        self.offsets = (keras.random.SeedGenerator(name="position_offsets")
                        if hp.position_start_index == "random" else None)
        self.position_start_max = int(hp.get("position_start_max", 0))
        self.target_space_embedding = None
        self.encoder = None
        if self.has_input:
            self.target_space_embedding = target_space_embedding(hp, self.problem_hparams, hidden)
            self.encoder = UniversalStack(hp, init, has_encdec=False, name="encoder")
        self.decoder = (UniversalStack(hp, init, has_encdec=self.has_input, name="decoder")
                        if self.has_decoder else None)
        self._ponder = None

    # -- pieces ------------------------------------------------------------------
    def _prepare(self, x):
        if not self.hparams.add_position_timing_signal and self.hparams.get("pos", "none") == "timing":
            x = add_timing_signal_1d(x)
        if self.input_dropout is not None:
            x = self.input_dropout(x, training=self._training)
        return x

    def _offset(self, x):
        """Training with ``position_start_index="random"``: ``[B]`` int32 offsets drawn
        from ``[0, position_start_max)`` when it is set, else ``[0, length)`` (the model's
        seed generator: restored with a checkpoint); otherwise None."""
        if self.offsets is None or not self._training:
            return None
        high = self.position_start_max or tf.maximum(tf.shape(x)[1], 1)
        return keras.random.randint([tf.shape(x)[0]], 0, high, dtype="int32", seed=self.offsets)

    def encode(self, inputs):
        """``[B, Li, D]`` embedded inputs -> (encoder output ``[B, Li, D]``, enc-dec bias
        ``[B, 1, 1, Li]``, ponder cost (scalar; 0 without ACT), nonpadding ``[B, Li]``)."""
        padding = embedding_to_padding(inputs)
        bias = attention_bias_ignore_padding(padding)
        x = inputs
        x = add_target_space(x, self.target_space_embedding, self.problem_hparams)
        x = self._prepare(x)
        output, ponder_times, remainders = self.encoder(x, bias, nonpadding=1.0 - padding, offset=self._offset(x),
                                                        training=self._training)
        cost = act_lib.ponder_cost(ponder_times, remainders, 1.0 - padding) if self.act else tf.constant(0.0)
        return output, bias, cost, 1.0 - padding

    def ponder_cost(self):
        """The ponder cost of the last call (scalar float32, in the compiled step that made
        it; None before a call or without ACT): T2T's ``act_loss`` before its weight."""
        return self._ponder

    def loss_fn(self, logits, features, training: bool = True):
        """Compiled step, right after the call that made ``logits``: the targets' loss and,
        in training with ACT, ``act_loss_weight * ponder_cost * denominator`` added to the
        numerator, so that ``numerator / denominator`` is the mean loss plus the weighted
        ponder cost (and replicas still add up). Eval losses stay the plain targets' loss
        (comparable with other models; the ponder cost is its own metric)."""
        num, den = super().loss_fn(logits, features, training)
        weight = self._train_hparams.act_loss_weight
        if training and self.act and weight and self._ponder is not None:
            num = num + tf.cast(weight * self._ponder, num.dtype) * tf.cast(den, num.dtype)
        return num, den

    def eval_metrics(self):
        """``act_ponder_cost`` with ACT (the mean ponder cost, from ``step_sums``)."""
        return ["act_ponder_cost"] if self.act else []

    def step_sums(self, features):
        """Compiled step, after the call: ``{"act_ponder_sum", "act_ponder_count"}`` of the
        last call (the ponder cost times the batch's weighted targets, and that count), what
        the ``act_ponder_cost`` metric reads (``eval/act_ponder_cost``); ``{}`` without ACT."""
        if not self.act or self._ponder is None:
            return {}
        weights = tf.reduce_sum(tf.cast(self.modalities["targets"].targets_weights(features["targets"]), tf.float32))
        return {"act_ponder_sum": self._ponder * weights, "act_ponder_count": weights}


def _ponder_result(totals):
    return totals["act_ponder_sum"] / max(totals["act_ponder_count"], 1.0)


metrics.register_step_metric("act_ponder_cost", lambda logits, targets, weights: {}, _ponder_result)


@registry.register_model(default_hparams_set="universal_transformer_base")
class UniversalTransformer(_UniversalBase):
    """Encoder-decoder universal transformer; decoder-only when the problem has no
    ``inputs``. Body: ``inputs [B, Li, D]`` (optional), ``targets [B, Lt, D]`` (embedded,
    unshifted) -> ``[B, Lt, D]``."""

    def decode(self, targets, encoder_output=None, encdec_bias=None):
        """``[B, Lt, D]`` embedded targets -> (``[B, Lt, D]``, ponder cost). ACT: every
        position runs (the decoder is causal: a position's halting never reads later ones);
        the ponder cost averages the real (non-zero) target positions."""
        x = self._prepare(shift_right_3d(targets))
        bias = attention_bias_lower_triangle(tf.shape(x)[1])
        output, ponder_times, remainders = self.decoder(x, bias, memory=encoder_output, encdec_bias=encdec_bias,
                                                        offset=self._offset(x), training=self._training)
        cost = (act_lib.ponder_cost(ponder_times, remainders, 1.0 - embedding_to_padding(targets))
                if self.act else tf.constant(0.0))
        return output, cost

    def body(self, features):
        encoder_output = encdec_bias = None
        cost = tf.constant(0.0)
        if self.has_input and "inputs" in features:
            encoder_output, encdec_bias, cost, _ = self.encode(features["inputs"])
        output, decoder_cost = self.decode(features["targets"], encoder_output, encdec_bias)
        self._ponder = cost + decoder_cost if self.act else None
        return output

    def fast_decode_fn(self, features, batch_size, decode_length, num_beams):
        """Cached decoding: the encoder runs once; each of the decoder's ``num_rec_steps``
        (ACT: ``act_max_steps``) applications keeps its own key/value cache
        (``t2x.layers.decoder``), and the position and step signals are added before each.
        Same logits as the slow path (ACT included: see the module docstring)."""
        n = batch_size * num_beams
        expand = (lambda t: decoding.expand_to_beams(t, num_beams)) if num_beams > 1 else (lambda t: t)
        encoder_output = encdec_bias = None
        if self.has_input and "inputs" in features:
            encoder_output, encdec_bias, _, _ = self.encode(self.modalities["inputs"].bottom(features["inputs"]))
            encoder_output, encdec_bias = expand(encoder_output), expand(encdec_bias)
        stack = self.decoder
        steps = stack.num_steps
        encdec = [stack.encdec] * steps if stack.encdec is not None and encoder_output is not None else []
        cache = cached.init_cache([stack.self_attention] * steps, encdec, n, decode_length, self.compute_dtype,
                                  encoder_output, encdec_bias)
        timing = None
        if not self.hparams.add_position_timing_signal and self.hparams.get("pos", "none") == "timing":
            timing = get_timing_signal_1d(decode_length, self.hparams.hidden_size)
        targets_modality = self.modalities["targets"]
        threshold = 1.0 - stack.epsilon

        def symbols_to_logits_fn(ids, i, cache):
            previous = tf.where(i > 0, ids[:, tf.maximum(i - 1, 0)], tf.zeros_like(ids[:, 0]))
            x = targets_modality.targets_bottom(previous[:, None])  # [n, 1, D]; id 0 -> zeros
            if timing is not None:
                x += tf.cast(timing[:, i:i + 1, :], x.dtype)
            position = tf.reshape(tf.cast(i, tf.int32), [1, 1])

            def prepare(state, step):
                return stack.prepare(state, step, position, decode_length)

            if not stack.act:
                x, cache = cached.step(x, i, cache, decode_length, [stack.self_attention] * steps, encdec,
                                       [stack.ffn] * steps, prepare=prepare)
            else:
                shape = tf.shape(x)[:2]
                halting_probability = remainders = n_updates = tf.zeros(shape, tf.float32)
                output, layers = tf.zeros_like(x), []
                for step in range(steps):
                    prepared = prepare(x, step)
                    weights, halting_probability, remainders, n_updates = act_lib.halting_update(
                        stack.halting(prepared), halting_probability, remainders, n_updates, threshold)
                    x, layer = cached.step_place(prepared, i, cache["layers"][step], decode_length,
                                                 stack.self_attention, stack.encdec, stack.ffn,
                                                 cache.get("encdec_bias"))
                    output = act_lib.blend(output, x, weights, stack.act_type)
                    layers.append(layer)
                x, cache = output, dict(cache, layers=layers)
            logits = self.top(stack.norm(x), {})
            return logits[:, 0, :], cache

        return symbols_to_logits_fn, cache


@registry.register_model(default_hparams_set="universal_transformer_base")
class UniversalTransformerEncoder(_UniversalBase):
    """Encoder only (T2T's ``universal_transformer_encoder``): ``inputs [B, Li, D]`` ->
    ``[B, 1, D]`` (the mean of the real positions) for a class label, else ``[B, Li, D]``
    (per-position targets as long as the inputs)."""

    has_decoder = False

    def build_body(self):
        super().build_body()
        if not self.has_input:
            raise HParamsError("universal_transformer_encoder needs a problem with inputs; for a language "
                               "model use universal_transformer")

    def body(self, features):
        output, _, cost, nonpadding = self.encode(features["inputs"])
        self._ponder = cost if self.act else None
        if self.modalities["targets"].modality_type == ModalityType.CLASS_LABEL:
            return masked_mean(output, nonpadding)
        return output
