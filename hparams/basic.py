"""``basic_params1``: the base every hparams set starts from (T2T's names and values).

Values that T2T tied to its Estimator-era machinery (daisy-chain variables, ``use_tpu``,
``symbol_modality_num_shards``...) are left out; the rest keep T2T's defaults so that a set
written for T2T reads the same here. Every key is implemented, except the few in
``t2x.hparam.UNIMPLEMENTED_HPARAMS`` (precision, weight and gradient noise, T2T's basic conv
kernel), kept at their "off" value: moving one off it is an error that names it.
"""

from t2x import registry
from t2x.hparam import HParams


@registry.register_hparams
def basic_params1():
    """A set of basic hyperparameters (T2T's ``common_hparams.basic_params1``)."""
    return HParams(
        # Batching: tokens per batch for variable-length problems, examples otherwise.
        batch_size=4096,
        batch_shuffle_size=0,  # > 0: shuffle training batches in a buffer of this many (T2T: 512)
        use_fixed_batch_size=False,  # variable-length problems: batch_size sequences, not tokens
        max_length=0,  # 0: no limit on sequence length in training
        min_length_bucket=8,
        length_bucket_step=1.1,
        eval_drop_long_sequences=False,
        # Training batches of packed rows (T2T's pack_dataset): examples laid end to end in
        # rows of packed_length tokens (0: max_length, else 256) with segment ids and
        # positions; only models that read them (transformer) accept it.
        packed=False,
        packed_length=0,
        # Model size.
        num_hidden_layers=4,
        hidden_size=64,
        kernel_height=3,
        kernel_width=1,
        dropout=0.2,
        # Optimization.
        optimizer="adam",
        optimizer_adam_epsilon=1e-6,
        optimizer_adam_beta1=0.85,
        optimizer_adam_beta2=0.997,
        optimizer_momentum_momentum=0.9,
        optimizer_momentum_nesterov=False,
        # Adafactor (T2T's names and defaults; Keras's Adafactor implements beta1=0,
        # decay_type="pow", factored and multiply_by_parameter_scale only).
        optimizer_adafactor_beta1=0.0,
        optimizer_adafactor_decay_type="pow",
        optimizer_adafactor_memory_exponent=0.8,
        optimizer_adafactor_clipping_threshold=1.0,
        optimizer_adafactor_factored=True,
        optimizer_adafactor_multiply_by_parameter_scale=True,
        # RMSProp: TF1 RMSPropOptimizer's defaults, which T2T's "RMSProp" used.
        optimizer_rmsprop_decay=0.9,
        optimizer_rmsprop_momentum=0.0,
        optimizer_rmsprop_epsilon=1e-10,
        optimizer_rmsprop_centered=False,
        # T2T's multistep optimizers: N micro-batches of batch_size make one optimizer step
        # (0 or 1: off); steps, schedules and summaries count optimizer steps.
        optimizer_multistep_accumulate_steps=0,
        weight_decay=1e-6,
        weight_noise=0.0,
        clip_grad_norm=2.0,
        grad_noise_scale=0.0,
        initializer="orthogonal",
        initializer_gain=1.5,
        label_smoothing=0.1,
        # Learning rate: a product of factors (T2T's string form); "legacy" is T2T's default.
        learning_rate=0.1,
        learning_rate_schedule="legacy",  # T2T's default; "constant*linear_warmup*rsqrt_decay" etc. too
        learning_rate_constant=1.0,
        learning_rate_warmup_steps=100,
        learning_rate_decay_steps=5000,
        learning_rate_decay_rate=1.0,
        learning_rate_minimum=None,
        learning_rate_cosine_cycle_steps=250000,
        # Used by the "legacy" factor (T2T's legacy_learning_rate_schedule) and by
        # "exp_decay"/"piecewise"; see t2x/training/learning_rate.py.
        # learning_rate_decay_scheme: none, noam, exp, sqrt, cosine, cyclelinear10x, piecewise
        learning_rate_decay_scheme="none",
        learning_rate_decay_staircase=False,
        learning_rate_warmup_schedule="exp",  # legacy warmup: "exp" (T2T's) or "linear"
        learning_rate_boundaries=[],  # piecewise: steps, increasing
        learning_rate_multiples=[],  # piecewise: multiplier after each boundary
        # Layers and modalities.
        norm_type="layer",  # "batch", "layer", "noam", "none"
        norm_epsilon=1e-6,
        # Symbol features of one vocabulary size share one embedding (T2T's behaviour:
        # its modality variables were named by vocabulary size).
        shared_embedding=True,
        shared_embedding_and_softmax_weights=False,
        sampling_method="argmax",  # T2XModel.infer's default: "argmax" or "random"
        sampling_temp=1.0,  # T2XModel.infer's default sampling temperature
        modality={},  # per-feature modality overrides, e.g. {"targets": "real"}
        # Precision.
        activation_dtype="float32",
        weight_dtype="float32",
    )
