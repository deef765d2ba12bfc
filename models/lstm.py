"""LSTM sequence models (T2T's ``models/lstm.py``): ``lstm_seq2seq``,
``lstm_seq2seq_attention`` and the decoder-only ``lstm_lm``.

Bodies only: the symbol modalities embed the ids (id 0, padding, embeds to zeros) and turn
the body output into logits. ``body`` returns ``[B, Lt, hidden_size]``.

* **encoder** (``lstm_seq2seq*``, when the problem has ``inputs``): the embedded inputs,
  each sequence reversed within its own length (T2T fed its encoder reversed inputs), through
  ``num_hidden_layers`` LSTMs of ``hidden_size``; dropout ``dropout`` on each layer's input
  in training. Padding (the all-zero embedding rows) is masked, so the final states are those
  of each sequence's last real position.
* **decoder**: the embedded targets shifted right by one position (teacher forcing) through
  as many LSTMs, layer *i* started from encoder layer *i*'s final state (T2T), or from zeros
  without inputs (``lstm_lm``, or ``lstm_seq2seq`` on a problem with no inputs).
* **attention** (``lstm_seq2seq_attention``): each decoder output attends over the encoder
  outputs (padding masked): ``attention_mechanism = "luong"`` (multiplicative,
  ``q . W k``) or ``"bahdanau"`` (additive, ``v . tanh(W q + U k)``); with
  ``output_attention`` the body output is ``tanh(W [output; context])`` (T2T's attention
  layer of size ``attention_layer_size``), else ``[output; context]`` projected back to
  ``hidden_size``.

Where this differs from T2T: T2T's attention decoder (``tf.contrib.seq2seq``'s
``AttentionWrapper``) fed the previous step's attention output into the next step's LSTM
input ("input feeding"). Here the attention sits on top of the decoder LSTMs, which keeps
the decoder one Keras ``LSTM`` call per layer (a fused loop); in a step-by-step decoder the
difference is one concatenation.
"""

import keras
import tensorflow as tf

from t2x import registry
from t2x.model import T2XModel
from t2x.models.basic import initializer_from_hparams
from t2x.layers import embedding_to_padding, shift_right_3d

NEG_INF = -1e9


class EncoderDecoderAttention(keras.layers.Layer):
    """``query [B, Lq, D]`` over ``memory [B, Lk, Dm]`` with ``memory_mask [B, Lk]``
    (True on real positions) -> context ``[B, Lq, Dm]``."""

    def __init__(self, mechanism, units, kernel_initializer, **kwargs):
        super().__init__(**kwargs)
        if mechanism not in ("luong", "bahdanau"):
            raise ValueError(f"attention_mechanism={mechanism!r} is not supported; use 'luong' or "
                             "'bahdanau'")
        self.mechanism = mechanism
        self.memory_layer = keras.layers.Dense(units, use_bias=False, kernel_initializer=kernel_initializer,
                                               name="memory_layer")
        if mechanism == "bahdanau":
            self.query_layer = keras.layers.Dense(units, use_bias=False, kernel_initializer=kernel_initializer,
                                                  name="query_layer")
            self.score = keras.layers.Dense(1, use_bias=False, kernel_initializer=kernel_initializer,
                                            name="attention_v")
        else:
            self.query_layer = keras.layers.Dense(units, use_bias=False, kernel_initializer=kernel_initializer,
                                                  name="query_layer")

    def call(self, query, memory, memory_mask):
        keys = self.memory_layer(memory)  # [B, Lk, U]
        q = self.query_layer(query)  # [B, Lq, U]
        if self.mechanism == "luong":
            scores = tf.matmul(q, keys, transpose_b=True)  # [B, Lq, Lk]
        else:
            scores = tf.squeeze(self.score(tf.tanh(q[:, :, None, :] + keys[:, None, :, :])), -1)
        scores = tf.cast(scores, tf.float32)
        scores += (1.0 - tf.cast(memory_mask, tf.float32))[:, None, :] * NEG_INF
        weights = tf.cast(tf.nn.softmax(scores, axis=-1), memory.dtype)
        return tf.matmul(weights, memory)


@registry.register_model(default_hparams_set="lstm_seq2seq")
class LSTMSeq2seq(T2XModel):
    """Encoder-decoder LSTM, decoder started from the encoder's final states. See the module
    docstring."""

    use_attention = False
    use_encoder = True

    def build_body(self):
        hp = self.hparams
        init = initializer_from_hparams(hp)
        self.has_inputs = self.use_encoder and "inputs" in self.problem_hparams.modality

        def lstm(name):
            return keras.layers.LSTM(hp.hidden_size, return_sequences=True, return_state=True,
                                     kernel_initializer=init, name=name)

        self.encoder_layers = ([lstm(f"encoder_{i}") for i in range(hp.num_hidden_layers)]
                               if self.has_inputs else [])
        self.decoder_layers = [lstm(f"decoder_{i}") for i in range(hp.num_hidden_layers)]
        self.dropout = keras.layers.Dropout(hp.dropout) if hp.dropout else None
        self.attention = None
        if self.use_attention and self.has_inputs:
            units = hp.get("attention_layer_size", 0) or hp.hidden_size
            self.attention = EncoderDecoderAttention(hp.get("attention_mechanism", "luong"), units, init,
                                                     name="attention")
            self.attention_output = keras.layers.Dense(
                units if hp.get("output_attention", True) else hp.hidden_size,
                activation="tanh" if hp.get("output_attention", True) else None, use_bias=False,
                kernel_initializer=init, name="attention_output")
            self.attention_to_hidden = (keras.layers.Dense(hp.hidden_size, use_bias=False, kernel_initializer=init,
                                                           name="attention_to_hidden")
                                        if units != hp.hidden_size and hp.get("output_attention", True) else None)

    def _drop(self, x):
        return self.dropout(x, training=self._training) if self.dropout is not None else x

    def _stack(self, layers, x, mask=None, initial_states=None):
        """Runs ``x [B, L, D]`` through ``layers``; returns (outputs, [[h, c] per layer])."""
        states = []
        for i, layer in enumerate(layers):
            init = initial_states[i] if initial_states else None
            x, h, c = layer(self._drop(x), mask=mask, initial_state=init, training=self._training)
            states.append([h, c])
        return x, states

    def encode(self, inputs):
        """``[B, Li, D]`` embedded inputs -> (outputs in input order ``[B, Li, D]``, final
        states per layer, mask ``[B, Li]`` True on real positions)."""
        mask = tf.logical_not(tf.cast(embedding_to_padding(inputs), tf.bool))
        lengths = tf.reduce_sum(tf.cast(mask, tf.int32), axis=1)
        reversed_inputs = tf.reverse_sequence(inputs, lengths, seq_axis=1, batch_axis=0)
        outputs, states = self._stack(self.encoder_layers, reversed_inputs, mask)
        # Back to input order so that attention position j is input token j.
        outputs = tf.reverse_sequence(outputs, lengths, seq_axis=1, batch_axis=0)
        return outputs, states, mask

    def body(self, features):
        encoder_outputs = encoder_states = input_mask = None
        if self.has_inputs and "inputs" in features:
            encoder_outputs, encoder_states, input_mask = self.encode(features["inputs"])
        decoder_in = shift_right_3d(features["targets"])
        x, _ = self._stack(self.decoder_layers, decoder_in, None, encoder_states)
        if self.attention is not None and encoder_outputs is not None:
            context = self.attention(x, encoder_outputs, input_mask)
            x = self.attention_output(tf.concat([x, context], axis=-1))
            if self.attention_to_hidden is not None:
                x = self.attention_to_hidden(x)
        return self._drop(x)


@registry.register_model(default_hparams_set="lstm_attention")
class LSTMSeq2seqAttention(LSTMSeq2seq):
    """``lstm_seq2seq`` with attention over the encoder outputs (module docstring)."""

    use_attention = True


@registry.register_model(default_hparams_set="lstm_lm_ptb")
class LSTMLm(LSTMSeq2seq):
    """A decoder-only LSTM language model: ``targets`` only (``Text2SelfProblem``)."""

    use_encoder = False
