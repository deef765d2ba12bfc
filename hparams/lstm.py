"""Hparams sets of the LSTM models (T2T's, from ``tensor2tensor/models/lstm.py``), plus
``lstm_tiny`` for tests and ``lstm_lm_ptb`` for the Penn Treebank language model.

T2T's sets keep T2T's optimizer settings: ``basic_params1``'s "legacy" schedule, where Adam's
rate is ``learning_rate x 0.002`` (0.1 -> 2e-4). ``lstm_lm_ptb`` is ours: a 2-layer, 512-unit
LSTM with dropout 0.3 under a constant Adam rate of 2e-3 after 500 warmup steps (the
numbers of the measured run in the Sequences issue).
"""

from t2x import registry
from t2x.hparams.basic import basic_params1


@registry.register_hparams
def lstm_seq2seq():
    """T2T's ``lstm_seq2seq``: 2 layers of 128 units, batch 1024 tokens."""
    hp = basic_params1()
    hp.batch_size = 1024
    hp.hidden_size = 128
    hp.num_hidden_layers = 2
    hp.initializer = "uniform_unit_scaling"
    hp.initializer_gain = 1.0
    hp.weight_decay = 0.0
    return hp


def _attention_base():
    """T2T's ``lstm_attention_base``."""
    hp = lstm_seq2seq()
    hp.add_hparam("attention_layer_size", hp.hidden_size)
    hp.add_hparam("output_attention", True)
    hp.add_hparam("num_heads", 1)
    hp.add_hparam("attention_mechanism", "bahdanau")
    return hp


@registry.register_hparams
def lstm_bahdanau_attention():
    """T2T's ``lstm_bahdanau_attention``: additive attention."""
    return _attention_base()


@registry.register_hparams
def lstm_luong_attention():
    """T2T's ``lstm_luong_attention``: multiplicative attention."""
    hp = _attention_base()
    hp.attention_mechanism = "luong"
    return hp


@registry.register_hparams
def lstm_attention():
    """T2T's ``lstm_attention`` (= ``lstm_bahdanau_attention``)."""
    return lstm_bahdanau_attention()


@registry.register_hparams
def lstm_tiny():
    """For tests: 1 layer of 32 units, luong attention when used, 256-token batches."""
    hp = lstm_luong_attention()
    hp.hidden_size = 32
    hp.attention_layer_size = 32
    hp.num_hidden_layers = 1
    hp.batch_size = 256
    return hp


@registry.register_hparams
def lstm_lm_ptb():
    """A word-level LSTM language model for ``languagemodel_ptb10k``: 2 x 512 units, dropout
    0.3, Adam 2e-3 (constant after a linear warmup of 500 steps), 4096-token batches."""
    hp = lstm_seq2seq()
    hp.hidden_size = 512
    hp.num_hidden_layers = 2
    hp.dropout = 0.3
    hp.batch_size = 4096
    hp.max_length = 100
    hp.label_smoothing = 0.0
    hp.learning_rate_schedule = "constant*linear_warmup"
    hp.learning_rate_constant = 2e-3
    hp.learning_rate_warmup_steps = 500
    hp.clip_grad_norm = 1.0
    hp.optimizer_adam_beta1 = 0.9
    hp.optimizer_adam_beta2 = 0.999
    return hp


@registry.register_ranged_hparams
def lstm_range(rhp):
    """A search space for the LSTM sets: rate, width, depth, dropout, gradient clipping."""
    rhp.set_float("learning_rate", 0.01, 1.0, scale=rhp.LOG_SCALE)
    rhp.set_discrete("hidden_size", [128, 256, 512, 1024])
    rhp.set_discrete("num_hidden_layers", [1, 2, 3])
    rhp.set_float("dropout", 0.0, 0.5)
    rhp.set_float("clip_grad_norm", 0.5, 5.0, scale=rhp.LOG_SCALE)
