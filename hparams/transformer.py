"""Hparams sets of ``transformer`` (T2T's, from ``tensor2tensor/models/transformer.py``).

``transformer_base`` is T2T's ``transformer_base`` = ``transformer_base_v3``: ``v1``'s model
(6 layers, hidden 512, filter 2048, 8 heads, shared embedding and softmax weights, label
smoothing 0.1, no gradient clipping, no weight decay, glorot-uniform kernels), ``v2``'s
pre-norm residual blocks (``layer_preprocess_sequence`` "n", ``layer_postprocess_sequence``
"da") with dropout 0.1 everywhere and 8000 warmup steps, and ``v3``'s Adam (0.9, 0.997,
1e-9) under the Noam schedule written as factors:
``2.0 * min(1, step / 8000) * rsqrt(max(step, 8000)) * rsqrt(hidden_size)``.
"""

from t2x import registry
from t2x.data.audio import add_audio_hparams

from t2x.hparams.basic import basic_params1


def _transformer_hparams(hp):
    """The hparams T2T's ``transformer_base_v1`` adds to ``basic_params1`` (the ones this
    implementation reads, at v1's values)."""
    hp.set_or_add("filter_size", 2048)
    # 0: fall back on num_hidden_layers.
    hp.set_or_add("num_encoder_layers", 0)
    hp.set_or_add("num_decoder_layers", 0)
    hp.set_or_add("num_heads", 8)
    # 0: hidden_size.
    hp.set_or_add("attention_key_channels", 0)
    hp.set_or_add("attention_value_channels", 0)
    hp.set_or_add("ffn_layer", "dense_relu_dense")
    hp.set_or_add("attention_dropout", 0.0)
    hp.set_or_add("relu_dropout", 0.0)
    hp.set_or_add("pos", "timing")  # timing, none
    hp.set_or_add("causal_decoder_self_attention", True)
    hp.set_or_add("use_target_space_embedding", True)
    hp.set_or_add("unidirectional_encoder", False)
    # basic_params1's (T2T's common_hparams) pre/post-processing defaults.
    hp.set_or_add("layer_preprocess_sequence", "none")
    hp.set_or_add("layer_postprocess_sequence", "dan")
    hp.set_or_add("layer_prepostprocess_dropout", 0.1)
    return hp


@registry.register_hparams
def transformer_base_v1():
    """T2T's ``transformer_base_v1`` (post-norm "dan", legacy Noam schedule, warmup 4000)."""
    hp = basic_params1()
    hp.norm_type = "layer"
    hp.hidden_size = 512
    hp.batch_size = 4096
    hp.max_length = 256
    hp.clip_grad_norm = 0.0  # no gradient clipping
    hp.optimizer_adam_epsilon = 1e-9
    hp.learning_rate_schedule = "legacy"
    hp.learning_rate_decay_scheme = "noam"
    hp.learning_rate = 0.1
    hp.learning_rate_warmup_steps = 4000
    hp.initializer_gain = 1.0
    hp.num_hidden_layers = 6
    hp.initializer = "uniform_unit_scaling"
    hp.weight_decay = 0.0
    hp.optimizer_adam_beta1 = 0.9
    hp.optimizer_adam_beta2 = 0.98
    hp.label_smoothing = 0.1
    hp.shared_embedding_and_softmax_weights = True
    return _transformer_hparams(hp)


@registry.register_hparams
def transformer_base_v2():
    """T2T's ``transformer_base_v2``: pre-norm blocks, dropout 0.1 everywhere, warmup 8000."""
    hp = transformer_base_v1()
    hp.layer_preprocess_sequence = "n"
    hp.layer_postprocess_sequence = "da"
    hp.layer_prepostprocess_dropout = 0.1
    hp.attention_dropout = 0.1
    hp.relu_dropout = 0.1
    hp.learning_rate_warmup_steps = 8000
    hp.learning_rate = 0.2
    return hp


@registry.register_hparams
def transformer_base_v3():
    """T2T's ``transformer_base_v3``: beta2 0.997 and the schedule as factors."""
    hp = transformer_base_v2()
    hp.optimizer_adam_beta2 = 0.997
    hp.learning_rate_schedule = "constant*linear_warmup*rsqrt_decay*rsqrt_hidden_size"
    hp.learning_rate_constant = 2.0
    return hp


@registry.register_hparams
def transformer_base():
    """T2T's ``transformer_base`` (= ``transformer_base_v3``)."""
    return transformer_base_v3()


@registry.register_hparams
def transformer_big():
    """T2T's ``transformer_big``: hidden 1024, filter 4096, 16 heads, dropout 0.3, batch 2048."""
    hp = transformer_base()
    hp.hidden_size = 1024
    hp.filter_size = 4096
    hp.batch_size = 2048
    hp.num_heads = 16
    hp.layer_prepostprocess_dropout = 0.3
    return hp


@registry.register_hparams
def transformer_small():
    """T2T's ``transformer_small``: 2 layers, hidden 256, filter 1024, 4 heads."""
    hp = transformer_base()
    hp.num_hidden_layers = 2
    hp.hidden_size = 256
    hp.filter_size = 1024
    hp.num_heads = 4
    return hp


@registry.register_hparams
def transformer_tiny():
    """T2T's ``transformer_tiny``: 2 layers, hidden 128, filter 512, 4 heads."""
    hp = transformer_base()
    hp.num_hidden_layers = 2
    hp.hidden_size = 128
    hp.filter_size = 512
    hp.num_heads = 4
    return hp


@registry.register_hparams
def transformer_test():
    """T2T's ``transformer_test`` for tests: 2 layers, hidden 16, filter 8, 2 heads (and
    here batch_size 64)."""
    hp = transformer_base()
    hp.num_hidden_layers = 2
    hp.hidden_size = 16
    hp.filter_size = 8
    hp.num_heads = 2
    hp.batch_size = 64
    return hp


@registry.register_hparams
def transformer_librispeech():
    """T2T's ``transformer_librispeech`` (= its ``_v2``): 6 encoder and 4 decoder layers,
    hidden 384, filter 1536, 2 heads, dropout 0.2 (pre/post-process and relu), no weight
    decay, 16 sequences a batch; inputs up to 1550 frames (``max_length``, counted here in
    feature frames: T2T's 1.24M counted frames x bins x channels), targets up to 350 bytes.
    T2T's audio hparams (80 mel bins, 25 ms windows, 10 ms hop, deltas) come with it.
    Not carried over: ``ffn_layer="conv_relu_conv"`` (t2x's Transformer has
    ``dense_relu_dense`` only) and ``daisy_chain_variables`` (a multi-GPU placement knob)."""
    hp = add_audio_hparams(transformer_base())
    hp.num_heads = 2
    hp.filter_size = 1536
    hp.hidden_size = 384
    hp.num_encoder_layers = 6
    hp.num_decoder_layers = 4
    hp.learning_rate = 0.15
    hp.batch_size = 16
    hp.use_fixed_batch_size = True  # T2T's 16 counts sequences
    hp.max_length = 1550
    hp.set_or_add("max_input_seq_length", 1550)
    hp.set_or_add("max_target_seq_length", 350)
    hp.weight_decay = 0.0
    hp.layer_prepostprocess_dropout = 0.2
    hp.relu_dropout = 0.2
    return hp


@registry.register_hparams
def transformer_librispeech_tiny():
    """``transformer_librispeech`` sized for a 2-core CPU (FSDD, Asterisk prompts): 2 + 2
    layers, hidden 144, filter 576, 4 heads, 32 filters in the speech modality's
    convolutions, batches of about 3000 feature frames, 500 warmup steps to a peak rate of
    0.0037 (``learning_rate_constant`` 1.0), dropout 0.1."""
    hp = transformer_librispeech()
    hp.num_encoder_layers = 2
    hp.num_decoder_layers = 2
    hp.hidden_size = 144
    hp.filter_size = 576
    hp.num_heads = 4
    hp.audio_conv_filters = 32
    hp.use_fixed_batch_size = False
    hp.batch_size = 3000  # frames of features (10 ms each) a batch
    hp.max_length = 1550
    hp.learning_rate_warmup_steps = 500
    hp.learning_rate_constant = 1.0  # peak rate 0.0037 at step 500 (2.0 gave 0.0075: too high here)
    hp.layer_prepostprocess_dropout = 0.1
    hp.relu_dropout = 0.1
    return hp


@registry.register_ranged_hparams
def transformer_base_range(rhp):
    """T2T's ``transformer_base_range``: the rate (here ``learning_rate_constant``, the factor
    t2x's ``transformer_base`` schedule reads; T2T ranged ``learning_rate`` 0.3-3.0), warmup,
    initializer gain, Adam's betas and weight decay."""
    rhp.set_float("learning_rate_constant", 0.3, 3.0, scale=rhp.LOG_SCALE)
    rhp.set_discrete("learning_rate_warmup_steps", [1000, 2000, 4000, 8000, 16000])
    rhp.set_float("initializer_gain", 0.5, 2.0)
    rhp.set_float("optimizer_adam_beta1", 0.85, 0.95)
    rhp.set_float("optimizer_adam_beta2", 0.97, 0.99)
    rhp.set_float("weight_decay", 0.0, 1e-4)
