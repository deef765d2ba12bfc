"""Hparams sets of ``basic_fc_relu`` (T2T's ``basic_fc_small`` from ``tensor2tensor/models/basic.py``)."""

from t2x import registry

from t2x.hparams.basic import basic_params1


@registry.register_hparams
def basic_fc_small():
    """Two dense layers of 256 with relu (T2T's values).

    As in T2T, the rate follows the ``legacy`` schedule without decay (T2T's
    ``basic_params1`` default): with the base set's Adam, ``learning_rate = 0.1`` is an
    effective 0.1 x 0.002 = 2e-4 after 100 steps of exponential warmup.
    """
    hp = basic_params1()
    hp.learning_rate = 0.1
    hp.learning_rate_schedule = "legacy"
    hp.learning_rate_decay_scheme = "none"
    hp.batch_size = 128
    hp.hidden_size = 256
    hp.num_hidden_layers = 2
    hp.initializer = "uniform_unit_scaling"
    hp.initializer_gain = 1.0
    hp.weight_decay = 0.0
    hp.dropout = 0.0
    return hp


@registry.register_hparams
def basic_fc_tiny():
    """For tests: two dense layers of 32, dropout 0.1, Adam at an effective 1e-3."""
    hp = basic_fc_small()
    hp.hidden_size = 32
    hp.dropout = 0.1
    hp.learning_rate = 0.5
    hp.batch_size = 16
    return hp


@registry.register_ranged_hparams
def basic_fc_range(rhp):
    """A search space around ``basic_fc_small`` (T2T had no range for it; its ``basic1``
    range's choices where they apply): the peak rate (``learning_rate`` times the legacy
    schedule's Adam factor 0.002), width, depth, dropout and weight decay."""
    rhp.set_float("learning_rate", 0.05, 5.0, scale=rhp.LOG_SCALE)
    rhp.set_discrete("hidden_size", [128, 256, 512, 1024])
    rhp.set_discrete("num_hidden_layers", [1, 2, 3])
    rhp.set_float("dropout", 0.0, 0.5)
    rhp.set_float("weight_decay", 1e-6, 1e-3, scale=rhp.LOG_SCALE)
