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

Not here (later issues or not carried over): T2T's pad remover (an efficiency device: it does not
change the outputs at real positions), relative/local attention variants, other
``ffn_layer`` types.
"""

import math

import keras
import tensorflow as tf

from t2x import decoding, registry
from t2x.model import T2XModel
from t2x.models.basic import initializer_from_hparams

NEG_INF = -1e9


# ----------------------------------------------------------------------- helpers --

def shift_right_3d(x):
    """T2T's ``shift_right_3d``: ``[B, L, D]`` -> a zero row prepended, the last dropped."""
    return tf.pad(x, [[0, 0], [1, 0], [0, 0]])[:, :-1, :]


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


def get_timing_signal_1d(length, channels, min_timescale=1.0, max_timescale=1.0e4):
    """T2T's ``get_timing_signal_1d``: ``[1, length, channels]`` float32, sines of
    geometrically spaced timescales in the first half of the channels, cosines in the
    second (a zero channel appended when ``channels`` is odd)."""
    position = tf.cast(tf.range(length), tf.float32)
    num_timescales = channels // 2
    log_increment = math.log(float(max_timescale) / float(min_timescale)) / max(num_timescales - 1, 1)
    inv_timescales = min_timescale * tf.exp(
        tf.cast(tf.range(num_timescales), tf.float32) * -log_increment)
    scaled_time = position[:, None] * inv_timescales[None, :]
    signal = tf.concat([tf.sin(scaled_time), tf.cos(scaled_time)], axis=1)
    signal = tf.pad(signal, [[0, 0], [0, channels % 2]])
    return signal[None, :, :]


def add_timing_signal_1d(x, min_timescale=1.0, max_timescale=1.0e4, position=None):
    """T2T's ``add_timing_signal_1d`` for ``[B, L, D]``; with ``position`` ``[B, L]`` int
    (packed rows: positions restart with each segment) the signal of each token's own
    position (T2T's ``add_timing_signal_1d_given_position``)."""
    if position is None:
        signal = get_timing_signal_1d(tf.shape(x)[1], x.shape[-1], min_timescale, max_timescale)
        return x + tf.cast(signal, x.dtype)
    table = get_timing_signal_1d(tf.shape(x)[1], x.shape[-1], min_timescale, max_timescale)[0]
    return x + tf.cast(tf.gather(table, tf.cast(position, tf.int32)), x.dtype)


def attention_bias_same_segment(query_segmentation, memory_segmentation):
    """Packed rows: ``[B, Lq]``, ``[B, Lk]`` segment ids (0 = padding) -> ``[B, 1, Lq, Lk]``
    additive bias, ``-1e9`` where a query would see a key of another example or padding
    (T2T's ``attention_bias_same_segment``, with padding keys masked too)."""
    q = query_segmentation[:, :, None]
    k = memory_segmentation[:, None, :]
    allowed = tf.logical_and(tf.equal(q, k), tf.not_equal(k, 0))
    return tf.where(allowed, 0.0, NEG_INF)[:, None, :, :]


# ------------------------------------------------------------------------ layers --

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
            logits += tf.cast(bias, tf.float32)  # autocast may hand it over in bfloat16
        weights = tf.cast(tf.nn.softmax(logits, axis=-1), v.dtype)
        if self.dropout is not None:
            weights = self.dropout(weights, training=training)
        x = tf.matmul(weights, v)  # [B, H, Lq, dv]
        x = tf.transpose(x, [0, 2, 1, 3])
        x = tf.reshape(x, [tf.shape(x)[0], tf.shape(x)[1], x.shape[2] * x.shape[3]])
        return self.o(x)


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
            if hp.get("use_target_space_embedding", True) and \
                    self.problem_hparams.get("target_space_id") is not None:
                self.target_space_embedding = keras.layers.Embedding(
                    32, hidden, embeddings_initializer=keras.initializers.RandomNormal(stddev=hidden ** -0.5),
                    name="target_space_embedding")
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
        if self.target_space_embedding is not None:
            space = tf.cast(tf.reshape(self.problem_hparams.target_space_id, [1]), tf.int32)
            x = x + tf.cast(self.target_space_embedding(space), x.dtype)[None, :, :]
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
        encdec_bias = None
        layers = []
        encoder_output = None
        if self.has_input and "inputs" in features:
            encoder_output, encdec_bias = self.encode(self.modalities["inputs"].bottom(features["inputs"]))
            encoder_output, encdec_bias = expand(encoder_output), expand(encdec_bias)
        for i, block in enumerate(self.decoder_self_attention):
            attention = block.fn
            depth_k = attention.key_depth // attention.num_heads
            depth_v = attention.v.units // attention.num_heads
            layer = {"k": tf.zeros([n, attention.num_heads, decode_length, depth_k], self.compute_dtype),
                     "v": tf.zeros([n, attention.num_heads, decode_length, depth_v], self.compute_dtype)}
            if encoder_output is not None and self.decoder_encdec_attention:
                layer["encdec_k"], layer["encdec_v"] = \
                    self.decoder_encdec_attention[i].fn.project_memory(encoder_output)
            layers.append(layer)
        cache = {"layers": layers}
        if encdec_bias is not None:
            cache["encdec_bias"] = encdec_bias
        hidden = self.hparams.hidden_size
        timing = get_timing_signal_1d(decode_length, hidden) if self.hparams.get("pos", "timing") == "timing" else None
        targets_modality = self.modalities["targets"]

        def symbols_to_logits_fn(ids, i, cache):
            previous = tf.where(i > 0, ids[:, tf.maximum(i - 1, 0)], tf.zeros_like(ids[:, 0]))
            x = targets_modality.targets_bottom(previous[:, None])  # [n, 1, D]; id 0 -> zeros
            if timing is not None:
                x += tf.cast(timing[:, i:i + 1, :], x.dtype)
            position = tf.range(decode_length)
            self_bias = tf.where(position <= i, 0.0, NEG_INF)[None, None, None, :]
            write = tf.one_hot(i, decode_length, dtype=x.dtype)[None, None, :, None]
            new_layers = []
            for index, (self_attention, ffn) in enumerate(zip(self.decoder_self_attention, self.decoder_ffn)):
                layer = dict(cache["layers"][index])
                y = self_attention.pre(x)
                k_new, v_new = self_attention.fn.project_memory(y)  # [n, heads, 1, d]
                layer["k"] = layer["k"] + write * k_new
                layer["v"] = layer["v"] + write * v_new
                y = self_attention.fn.attend(y, layer["k"], layer["v"], self_bias)
                x = self_attention.post(y, previous=x)
                if "encdec_k" in layer:
                    block = self.decoder_encdec_attention[index]
                    y = block.fn.attend(block.pre(x), layer["encdec_k"], layer["encdec_v"], cache["encdec_bias"])
                    x = block.post(y, previous=x)
                x = ffn(x)
                new_layers.append(layer)
            logits = self.top(self.decoder_norm(x), {})
            return logits[:, 0, :], dict(cache, layers=new_layers)

        return symbols_to_logits_fn, cache
