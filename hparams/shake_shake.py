"""Hparams sets of ``shake_shake`` (T2T's, from ``tensor2tensor/models/shake_shake.py``).

The learning rate follows T2T's ``legacy`` schedule: exponential warmup over
``learning_rate_warmup_steps``, then cosine decay with period
``learning_rate_cosine_cycle_steps``, times ``learning_rate`` (and times 0.002 for Adam;
see ``t2x/training/learning_rate.py``).
"""

from t2x import registry

from t2x.hparams.basic import basic_params1



@registry.register_hparams
def shakeshake_small():
    """Shake-Shake 26 2x32d for CIFAR-10 (T2T: "about 96% accuracy@700K steps, 1 GPU").

    Momentum 0.9 at peak rate 0.2 with cosine decay over 700k steps (~1800 epochs at batch
    128), weight decay 1e-4 (an L2 term added to the loss, as T2T), no label smoothing, no
    dropout, no gradient clipping, glorot-uniform ("uniform_unit_scaling", gain 1) kernels.
    """
    hp = basic_params1()
    hp.batch_size = 128
    hp.hidden_size = 32
    hp.set_or_add("layer_prepostprocess_dropout", 0.0)
    hp.dropout = 0.0
    hp.label_smoothing = 0.0
    hp.clip_grad_norm = 0.0  # T2T: "No clipping for now, one can also try 2.0."
    hp.num_hidden_layers = 26
    hp.learning_rate_schedule = "legacy"
    hp.learning_rate_decay_scheme = "cosine"
    hp.learning_rate_cosine_cycle_steps = 700000
    hp.learning_rate = 0.2
    hp.learning_rate_warmup_steps = 100  # T2T: "That's basically unused."
    hp.initializer = "uniform_unit_scaling"
    hp.initializer_gain = 1.0
    hp.weight_decay = 1e-4
    hp.optimizer = "momentum"
    hp.optimizer_momentum_momentum = 0.9
    hp.set_or_add("shake_shake_num_branches", 2)
    hp.set_or_add("shake_shake_concat", 0)  # T2T's int(False): 1 joins the branches by a 1x1 conv
    return hp


@registry.register_hparams
def shake_shake_quick():
    """``shakeshake_small`` with Adam, batch 100 and a 1000-step cosine cycle (T2T's).

    ``learning_rate = 0.5`` is *not* Adam's rate: under the ``legacy`` schedule T2T
    multiplies an Adam learning rate by 0.002, so the effective peak rate is
    0.5 * 0.002 = 1e-3. The schedule: exponential warmup from 1e-5 to 0.98e-3 at step 100,
    cosine down to 0 at step 1000 and back up to 1e-3 at step 2000 (T2T's cosine counts
    from step 0 and cycles). Set ``learning_rate`` with the 0.002 factor in mind.
    """
    hp = shakeshake_small()
    hp.optimizer = "adam"
    hp.learning_rate_cosine_cycle_steps = 1000
    hp.learning_rate = 0.5
    hp.batch_size = 100
    return hp


@registry.register_hparams
def shakeshake_big():
    """Shake-Shake 26 2x96d (T2T's): ``shakeshake_small`` with ``hidden_size = 96``."""
    hp = shakeshake_small()
    hp.layer_prepostprocess_dropout = 0.0
    hp.hidden_size = 96
    return hp


@registry.register_hparams
def shakeshake_tpu():
    """T2T's ``shakeshake_big`` for TPU: 180k-step cosine cycle, peak rate 0.6."""
    hp = shakeshake_big()
    hp.learning_rate_cosine_cycle_steps = 180000
    hp.learning_rate = 0.6
    return hp


@registry.register_hparams
def shake_shake_tiny():
    """For tests: Shake-Shake 8 2x8d (one block per stage), Adam at an effective 1e-3."""
    hp = shake_shake_quick()
    hp.num_hidden_layers = 8
    hp.hidden_size = 8
    hp.batch_size = 16
    return hp


@registry.register_ranged_hparams
def shake_shake_range(rhp):
    """A search space for the Shake-Shake sets: peak rate, weight decay, width and the
    initializer's gain."""
    rhp.set_float("learning_rate", 0.05, 2.0, scale=rhp.LOG_SCALE)
    rhp.set_float("weight_decay", 1e-5, 1e-3, scale=rhp.LOG_SCALE)
    rhp.set_discrete("hidden_size", [16, 32, 64])
    rhp.set_float("initializer_gain", 0.5, 2.0)
