"""Hparams sets of ``universal_transformer`` and ``universal_transformer_encoder`` (T2T's, from
``tensor2tensor/models/research/universal_transformer.py``).

Each starts from a Transformer set and adds the universal transformer's hparams
(``update_hparams_for_universal_transformer``) at T2T's values: ``recurrence_type`` "basic",
``num_rec_steps`` = the set's ``num_hidden_layers``, position and learned step timing signals
added at every step (so the input's own ``pos`` timing is off), ACT's ``act_type`` "basic",
``act_max_steps`` = 2 x ``num_hidden_layers``, ``act_halting_bias_init`` 1.0, ``act_epsilon``
0.01, ``act_loss_weight`` 0.01. The Transformer's layer-count keys, which a weight-tied
stack does not read, are removed (``num_encoder_layers``, ``num_decoder_layers``,
``ffn_layer``: ``transformer_ffn_type`` replaces it; ``causal_decoder_self_attention``,
``unidirectional_encoder``).
"""

from t2x import registry

from t2x.hparams.transformer import transformer_base, transformer_tiny
from t2x.hparams.transformer_encoder import transformer_encoder_sentiment_tiny


def update_hparams_for_universal_transformer(hp):
    """Adds the universal transformer's hparams to a Transformer set (T2T's function)."""
    for key in ("num_encoder_layers", "num_decoder_layers", "ffn_layer", "causal_decoder_self_attention",
                "unidirectional_encoder"):
        if key in hp:
            hp.del_hparam(key)
    # basic: num_rec_steps applications; act: adaptive computation time.
    hp.set_or_add("recurrence_type", "basic")
    hp.set_or_add("num_rec_steps", hp.num_hidden_layers)
    # The position signal at each step ("horizontal"); the input's own timing is then off.
    hp.set_or_add("add_position_timing_signal", True)
    hp.pos = "none"
    # Shift of the positions the signal reads: "" (none), "random" (training), "step".
    hp.set_or_add("position_start_index", "")
    # "random": offsets drawn from [0, position_start_max) when > 0 (train on short
    # sequences, see the timing signals of positions up to that many: length
    # generalisation to longer eval sequences), else from [0, length) as T2T drew them.
    hp.set_or_add("position_start_max", 0)
    # The step signal at each step ("vertical"): "learned" or "sinusoid".
    hp.set_or_add("add_step_timing_signal", True)
    hp.set_or_add("step_timing_signal_type", "learned")
    hp.set_or_add("transformer_ffn_type", "fc")
    # ACT: basic, accumulated, global (encoder only).
    hp.set_or_add("act_type", "basic")
    hp.set_or_add("act_max_steps", 2 * hp.num_hidden_layers)
    hp.set_or_add("act_halting_bias_init", 1.0)
    hp.set_or_add("act_epsilon", 0.01)
    hp.set_or_add("act_loss_weight", 0.01)
    return hp


@registry.register_hparams
def universal_transformer_base():
    """T2T's: ``transformer_base`` with hidden 1024, filter 4096, 16 heads, dropout 0.3 (one
    layer of a 6-layer Transformer's capacity), 6 steps."""
    hp = transformer_base()
    hp.hidden_size = 1024
    hp.filter_size = 4096
    hp.num_heads = 16
    hp.layer_prepostprocess_dropout = 0.3
    return update_hparams_for_universal_transformer(hp)


@registry.register_hparams
def universal_transformer_small():
    """T2T's: ``transformer_base``'s sizes (hidden 512), 6 steps."""
    return update_hparams_for_universal_transformer(transformer_base())


@registry.register_hparams
def universal_transformer_tiny():
    """T2T's: ``transformer_tiny``'s sizes (hidden 128, filter 512, 4 heads), 8 steps
    (``act_max_steps`` 4, from its 2 layers, as T2T's)."""
    hp = update_hparams_for_universal_transformer(transformer_tiny())
    hp.num_rec_steps = 8
    return hp


@registry.register_hparams
def transformer_teeny():
    """T2T's ``transformer_teeny``: ``transformer_base`` with hidden 128, filter 128, 2 heads."""
    hp = transformer_base()
    hp.hidden_size = 128
    hp.filter_size = 128
    hp.num_heads = 2
    return hp


@registry.register_hparams
def universal_transformer_teeny():
    """T2T's: ``transformer_teeny``'s sizes, 10 steps."""
    hp = update_hparams_for_universal_transformer(transformer_teeny())
    hp.num_rec_steps = 10
    return hp


@registry.register_hparams
def universal_transformer_test():
    """For tests: hidden 16, filter 32, 2 heads, 3 steps (ACT: at most 4), batch 64."""
    hp = update_hparams_for_universal_transformer(transformer_base())
    hp.hidden_size = 16
    hp.filter_size = 32
    hp.num_heads = 2
    hp.num_rec_steps = 3
    hp.act_max_steps = 4
    hp.batch_size = 64
    return hp


@registry.register_hparams
def universal_transformer_encoder_sentiment_tiny():
    """Sentence classification from scratch with ``universal_transformer_encoder``:
    ``transformer_encoder_sentiment_tiny``'s sizes and schedule, its 2 layers as 2 steps of
    one weight-tied layer (half the parameters of the two-layer stack)."""
    return update_hparams_for_universal_transformer(transformer_encoder_sentiment_tiny())


@registry.register_hparams
def universal_transformer_position_random_timing_tiny():
    """T2T's: ``universal_transformer_tiny`` with random position offsets in training."""
    hp = universal_transformer_tiny()
    hp.position_start_index = "random"
    return hp


@registry.register_hparams
def universal_transformer_position_step_timing_tiny():
    """T2T's: positions shifted by ``length * step / num_steps`` at each step."""
    hp = universal_transformer_tiny()
    hp.position_start_index = "step"
    return hp


@registry.register_hparams
def universal_transformer_step_sinusoid_timing_tiny():
    """T2T's: a sinusoid step signal instead of a learned one."""
    hp = universal_transformer_tiny()
    hp.step_timing_signal_type = "sinusoid"
    return hp


@registry.register_hparams
def adaptive_universal_transformer_base():
    """T2T's: ``universal_transformer_base`` with ACT."""
    hp = universal_transformer_base()
    hp.recurrence_type = "act"
    return hp


@registry.register_hparams
def adaptive_universal_transformer_small():
    hp = universal_transformer_small()
    hp.recurrence_type = "act"
    return hp


@registry.register_hparams
def adaptive_universal_transformer_tiny():
    hp = universal_transformer_tiny()
    hp.recurrence_type = "act"
    return hp


@registry.register_hparams
def adaptive_universal_transformer_teeny():
    hp = universal_transformer_teeny()
    hp.recurrence_type = "act"
    return hp


@registry.register_hparams
def adaptive_universal_transformer_position_random_timing_tiny():
    """T2T's: ACT and random position offsets in training."""
    hp = universal_transformer_tiny()
    hp.recurrence_type = "act"
    hp.position_start_index = "random"
    return hp


@registry.register_hparams
def adaptive_universal_transformer_global_base():
    """T2T's: ACT with one halting probability per example (``universal_transformer_encoder``
    only: a causal decoder cannot pool over positions)."""
    hp = universal_transformer_base()
    hp.recurrence_type = "act"
    hp.act_type = "global"
    return hp


@registry.register_ranged_hparams
def universal_transformer_base_range(rhp):
    """T2T's range, less ``transformer_ffn_type`` (only "fc" here); the rate is t2x's
    ``learning_rate_constant`` (what ``transformer_base``'s schedule reads)."""
    rhp.set_discrete("num_rec_steps", [6, 8, 10])
    rhp.set_discrete("hidden_size", [1024, 2048, 4096])
    rhp.set_discrete("filter_size", [2048, 4096, 8192])
    rhp.set_discrete("num_heads", [8, 16, 32])
    rhp.set_float("learning_rate_constant", 0.3, 3.0, scale=rhp.LOG_SCALE)
    rhp.set_float("weight_decay", 0.0, 2.0)


@registry.register_ranged_hparams
def adaptive_universal_transformer_base_range(rhp):
    """T2T's range for ACT (less ``transformer_ffn_type``)."""
    rhp.set_discrete("act_max_steps", [8, 16, 32])
    rhp.set_float("act_loss_weight", 0.0, 0.5)
    rhp.set_discrete("hidden_size", [1024, 2048, 4096])
    rhp.set_discrete("filter_size", [2048, 4096, 8192])
    rhp.set_discrete("num_heads", [8, 16, 32])
    rhp.set_float("learning_rate_constant", 0.3, 3.0, scale=rhp.LOG_SCALE)
    rhp.set_float("weight_decay", 0.0, 2.0)
