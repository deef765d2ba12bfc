"""Hparams sets of ``resnet`` (T2T's names and values from ``tensor2tensor/models/resnet.py``,
plus ``resnet_small`` and ``resnet_tiny`` for MNIST-sized images and tests).

Learning rate: T2T's ``legacy`` schedule with cosine decay (times 0.002 for Adam; see
``t2x/training/learning_rate.py``).
"""

from t2x import registry

from t2x.hparams.basic import basic_params1



@registry.register_hparams
def resnet_base():
    """T2T's ``resnet_base``: ResNet-50 for ImageNet (bottleneck blocks [3, 4, 6, 3]),
    Nesterov momentum at 0.4 (0.1 x batch 1024 / 256), cosine over 120k steps, weight decay 1e-4."""
    hp = basic_params1()
    hp.set_or_add("layer_sizes", [3, 4, 6, 3])  # blocks per stage
    hp.set_or_add("filter_sizes", [64, 64, 128, 256, 512])  # stem, then one per stage
    hp.set_or_add("block_fn", "bottleneck")  # or "residual"
    hp.set_or_add("bottleneck_ratio", 4)  # bottleneck output = ratio x filters
    hp.set_or_add("is_cifar", False)  # True: 3 stages, stride-1 stem, no max pool
    hp.set_or_add("stem_kernel", 7)
    hp.set_or_add("final_bn_relu", False)  # T2T's resnet_v2 ends on the last block's sum
    hp.initializer = "normal_unit_scaling"
    hp.initializer_gain = 2.0
    hp.optimizer = "momentum"
    hp.optimizer_momentum_momentum = 0.9
    hp.optimizer_momentum_nesterov = True
    hp.weight_decay = 1e-4
    hp.clip_grad_norm = 0.0
    hp.learning_rate = 0.4
    hp.learning_rate_schedule = "legacy"
    hp.learning_rate_decay_scheme = "cosine"
    hp.learning_rate_cosine_cycle_steps = 120000
    hp.batch_size = 128
    return hp


@registry.register_hparams
def resnet_50():
    """T2T's ``resnet_50``: ``resnet_base`` as is."""
    return resnet_base()


@registry.register_hparams
def resnet_18():
    """T2T's ``resnet_18``: basic (pre-activation) blocks [2, 2, 2, 2]."""
    hp = resnet_base()
    hp.block_fn = "residual"
    hp.layer_sizes = [2, 2, 2, 2]
    return hp


@registry.register_hparams
def resnet_34():
    """T2T's ``resnet_34``: basic blocks [3, 4, 6, 3]."""
    hp = resnet_base()
    hp.block_fn = "residual"
    return hp


@registry.register_hparams
def resnet_cifar_15():
    """T2T's ``resnet_cifar_15``: basic blocks [2, 2, 2] of 32/64/128 filters, 16-filter stem."""
    hp = resnet_base()
    hp.block_fn = "residual"
    hp.is_cifar = True
    hp.layer_sizes = [2, 2, 2]
    hp.filter_sizes = [16, 32, 64, 128]
    return hp


@registry.register_hparams
def resnet_cifar_32():
    """T2T's ``resnet_cifar_32``: ``resnet_cifar_15`` with [5, 5, 5] blocks."""
    hp = resnet_cifar_15()
    hp.layer_sizes = [5, 5, 5]
    return hp


@registry.register_hparams
def resnet_small():
    """A small pre-activation ResNet for 28x28 / 32x32 images (MNIST, CIFAR).

    3x3 stem of 16 filters, [2, 2, 2] basic blocks of 16/32/64 filters, a final bn + relu
    (~0.17M parameters). Nesterov momentum 0.9 at 0.1, the classic CIFAR rate for batch 128,
    cosine decay over 64k steps (He et al.'s CIFAR run length), weight decay 1e-4.
    """
    hp = resnet_cifar_15()
    hp.filter_sizes = [16, 16, 32, 64]
    hp.stem_kernel = 3
    hp.final_bn_relu = True
    hp.learning_rate = 0.1
    hp.learning_rate_cosine_cycle_steps = 64000
    hp.label_smoothing = 0.0
    hp.dropout = 0.0
    return hp


@registry.register_hparams
def resnet_tiny():
    """For tests: one basic block per stage of 8/16/32 filters; Adam at an effective 1e-3
    (``learning_rate`` 0.5 x T2T's legacy Adam factor 0.002)."""
    hp = resnet_small()
    hp.layer_sizes = [1, 1, 1]
    hp.filter_sizes = [8, 8, 16, 32]
    hp.optimizer = "adam"
    hp.learning_rate = 0.5
    hp.learning_rate_cosine_cycle_steps = 1000
    hp.weight_decay = 0.0
    hp.batch_size = 16
    return hp
