"""``transformer_encoder`` (T2T's ``TransformerEncoder``): the Transformer's encoder alone, for
problems whose targets are read off the inputs.

Body: the embedded ``inputs [B, Li, D]`` -> the target-space embedding
(``use_target_space_embedding``), the timing signal (``pos="timing"``), dropout
``layer_prepostprocess_dropout``; ``num_encoder_layers`` (or ``num_hidden_layers``) x
[self-attention, feed-forward] residual blocks (``t2x.layers``: T2T's pre/post sequences);
the final norm. Then, by the targets' modality:

* ``class_label``: the mean of the real positions' outputs, ``[B, 1, D]`` (padding left out,
  so an example is classified the same whatever its batch is padded to); the modality's
  top turns it into ``[B, 1, num_classes]`` logits. Prediction (``infer``) needs no
  ``targets``;
* anything else (e.g. ``symbol`` tags): the per-position output ``[B, Li, D]``: the targets
  must be as long as the inputs (one target per input position).

Hparams: the Transformer's sets (``transformer_tiny`` ...), or
``transformer_encoder_sentiment_tiny`` (``hparams/transformer_encoder.py``) for sentence
classification from scratch on a CPU.
"""

import keras

from t2x import registry
from t2x.data.problem import ModalityType
from t2x.hparam import HParamsError
from t2x.layers.attention import attention_bias_ignore_padding, embedding_to_padding
from t2x.layers.sublayers import (PrePostProcess, add_target_space, masked_mean, self_attention_stack,
                                  target_space_embedding)
from t2x.layers.timing import add_timing_signal_1d
from t2x.model import T2XModel
from t2x.models.basic import initializer_from_hparams


@registry.register_model(default_hparams_set="transformer_base")
class TransformerEncoder(T2XModel):
    """Encoder-only Transformer. Body: ``inputs [B, Li, D]`` -> ``[B, 1, D]`` (class label)
    or ``[B, Li, D]`` (per-position targets)."""

    def build_body(self):
        hp = self.train_hparams
        if "inputs" not in self.problem_hparams.modality:
            raise HParamsError("transformer_encoder needs a problem with inputs; for a language model use "
                               "transformer")
        ffn = hp.get("ffn_layer", "dense_relu_dense")
        if ffn != "dense_relu_dense":
            raise HParamsError(f"ffn_layer={ffn!r} is not supported; use 'dense_relu_dense'")
        if hp.get("pos", "timing") not in ("timing", "none"):
            raise HParamsError(f"pos={hp.pos!r} is not supported; use 'timing' or 'none'")
        init = initializer_from_hparams(hp)
        hidden = hp.hidden_size
        self.input_dropout = (keras.layers.Dropout(hp.layer_prepostprocess_dropout)
                              if hp.layer_prepostprocess_dropout else None)
        self.target_space_embedding = target_space_embedding(hp, self.problem_hparams, hidden)
        self.self_attention, self.ffn = self_attention_stack(
            hp, hp.get("num_encoder_layers", 0) or hp.num_hidden_layers, "encoder", init)
        self.norm = PrePostProcess(hp.layer_preprocess_sequence, hp.norm_type, hp.norm_epsilon,
                                   hp.layer_prepostprocess_dropout, name="encoder_norm")

    def encode(self, inputs):
        """``[B, Li, D]`` embedded inputs -> (``[B, Li, D]``, nonpadding ``[B, Li]``)."""
        padding = embedding_to_padding(inputs)
        bias = attention_bias_ignore_padding(padding)
        x = inputs
        x = add_target_space(x, self.target_space_embedding, self.problem_hparams)
        if self.hparams.get("pos", "timing") == "timing":
            x = add_timing_signal_1d(x)
        if self.input_dropout is not None:
            x = self.input_dropout(x, training=self._training)
        for self_attention, ffn in zip(self.self_attention, self.ffn):
            x = self_attention(x, bias=bias, training=self._training)
            x = ffn(x, training=self._training)
        return self.norm(x, training=self._training), 1.0 - padding

    def body(self, features):
        output, nonpadding = self.encode(features["inputs"])
        if self.modalities["targets"].modality_type == ModalityType.CLASS_LABEL:
            return masked_mean(output, nonpadding)
        return output
