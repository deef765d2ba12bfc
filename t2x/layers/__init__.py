"""The layers models are built of (T2T's ``common_layers``/``common_attention``), floor 3.

* ``attention``: ``MultiheadAttention`` (with ``project_memory``/``attend`` for caches) and
  the bias helpers (padding, causal, same segment for packed rows);
* ``local_attention``: masked local 1-D attention (T2T's ``local_1d``: a block and the one
  before it), with the same band as a bias for full attention and for cached decoding;
* ``timing``: sinusoid timing signals (by position for packed rows, of any offset positions),
  the universal transformer's ``StepTimingSignal``, ``shift_right_3d``;
* ``sublayers``: ``PrePostProcess`` (T2T's ``n``/``d``/``a`` sequences), ``Sublayer`` (one
  residual block), ``DenseReluDense``;
* ``decoder``: fast cached decoding of any stack of such blocks (a ``prepare`` hook per place,
  ``step_place`` for a model that recurs between places, ``prefill`` for a prompt in one pass);
* ``act``: Adaptive Computation Time (halting unit, the halting loop, the ponder cost).
"""

from t2x.layers.attention import (NEG_INF, MultiheadAttention, attention_bias_ignore_padding,
                                  attention_bias_lower_triangle, attention_bias_same_segment,
                                  embedding_to_padding)
from t2x.layers.sublayers import DenseReluDense, PrePostProcess, Sublayer
from t2x.layers.timing import add_timing_signal_1d, get_timing_signal_1d, shift_right_3d

__all__ = ["NEG_INF", "MultiheadAttention", "attention_bias_ignore_padding", "attention_bias_lower_triangle",
           "attention_bias_same_segment", "embedding_to_padding", "DenseReluDense", "PrePostProcess",
           "Sublayer", "add_timing_signal_1d", "get_timing_signal_1d", "shift_right_3d"]
