"""Hparams sets of ``imagetransformer`` (T2T's, from ``tensor2tensor/models/image_transformer.py``).

``image_transformer_base`` keeps T2T's values (hidden 512, filter 512, 8 heads, 12 decoder
layers, local 1-D attention over blocks of 256, no dropout, no label smoothing, Adam 0.9/0.98/
1e-9 under the legacy Noam schedule at 0.1 with 4000 warmup steps, ``uniform_unit_scaling``
gain 0.2, batch 4 images). ``imagetransformer_cifar10_base`` is T2T's "best config for 2.90
bits/dim on CIFAR10 using cross entropy": 12 layers, 4 heads, hidden 512, filter 2048, block
length 256, learning rate 0.5, post-norm ``"dan"`` blocks with dropout 0.3.
``imagetransformer_tiny`` (T2T's: 2 layers, hidden 64, batch 1) is sized here for a 2-core CPU
on MNIST: 2 layers, hidden 64, filter 128, 4 heads, block length 64, batch 8, learning rate
0.2 with 1000 warmup steps, initializer gain 1 (T2T's 0.2 is for its 12-layer sets).
"""

from t2x import registry
from t2x.hparams.transformer import transformer_base_v1


@registry.register_hparams
def image_transformer_base():
    """T2T's ``image_transformer_base``: its values are ``transformer_base_v1``'s (hidden 512,
    8 heads, post-norm "dan" blocks, Adam 0.9/0.98/1e-9, legacy Noam 0.1 with 4000 warmup
    steps, ``uniform_unit_scaling``, no clipping or weight decay) but for the ones set here."""
    hp = transformer_base_v1()
    hp.batch_size = 4  # images
    hp.max_length = 3075
    hp.initializer_gain = 0.2
    hp.label_smoothing = 0.0
    hp.shared_embedding_and_softmax_weights = False
    hp.sampling_method = "random"  # argmax sampling of pixels gives flat images
    hp.filter_size = 512
    hp.num_decoder_layers = 12
    hp.layer_prepostprocess_dropout = 0.0
    hp.set_or_add("dec_attention_type", "local_1d")  # local_1d, global
    hp.set_or_add("block_length", 256)  # local_1d's query block (its memory: the block before)
    return hp


@registry.register_hparams
def imagetransformer_base():
    """T2T's ``imagetransformer_base`` (= ``image_transformer_base``)."""
    return image_transformer_base()


@registry.register_hparams
def imagetransformer_cifar10_base():
    """T2T's ``imagetransformer_cifar10_base``: local 1-D attention, 2.90 bits/dim on CIFAR-10
    in T2T (cross entropy)."""
    hp = image_transformer_base()
    hp.batch_size = 4
    hp.num_heads = 4
    hp.num_decoder_layers = 12
    hp.block_length = 256
    hp.hidden_size = 512
    hp.filter_size = 2048
    hp.learning_rate = 0.5
    hp.learning_rate_warmup_steps = 4000
    hp.layer_preprocess_sequence = "none"
    hp.layer_postprocess_sequence = "dan"
    hp.layer_prepostprocess_dropout = 0.3
    return hp


@registry.register_hparams
def imagetransformer_tiny():
    """A 2-core-CPU image transformer for MNIST: 2 layers, hidden 64, filter 128, 4 heads,
    local 1-D blocks of 64 sub-pixels, batch 8 images, Noam at 0.2 with 1000 warmup steps."""
    hp = image_transformer_base()
    hp.num_decoder_layers = 2
    hp.hidden_size = 64
    hp.filter_size = 128
    hp.num_heads = 4
    hp.block_length = 64
    hp.batch_size = 8
    hp.learning_rate = 0.2
    hp.learning_rate_warmup_steps = 1000
    hp.initializer_gain = 1.0
    return hp


@registry.register_hparams
def imagetransformer_test():
    """For tests: 1 layer, hidden 16, filter 16, 2 heads, blocks of 8, batch 4, a constant
    learning rate 0.01."""
    hp = image_transformer_base()
    hp.num_decoder_layers = 1
    hp.hidden_size = 16
    hp.filter_size = 16
    hp.num_heads = 2
    hp.block_length = 8
    hp.batch_size = 4
    hp.learning_rate_schedule = "constant"
    hp.learning_rate_constant = 0.01
    hp.initializer_gain = 1.0
    return hp
