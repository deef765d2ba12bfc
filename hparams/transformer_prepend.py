"""Hparams sets of ``transformer_prepend`` (T2T's ``transformer_prepend``, ``_v1``, ``_v2``
from ``tensor2tensor/models/transformer.py``: the Transformer's sets with
``prepend_mode = "prepend_inputs_masked_attention"`` and ``max_length = 0``, no length
filter, since one sequence holds the inputs and the targets), and a CPU-sized
``transformer_prepend_tiny``. ``max_input_seq_length``/``max_target_seq_length`` (T2T's,
0: the problem's own limit) cut the inputs/targets of the problems that read them (the
summarization problems)."""

from t2x import registry
from t2x.hparams.transformer import transformer_base_v1, transformer_base_v2, transformer_tiny


def _prepend(hp):
    hp.set_or_add("prepend_mode", "prepend_inputs_masked_attention")
    hp.set_or_add("max_input_seq_length", 0)
    hp.set_or_add("max_target_seq_length", 0)
    hp.max_length = 0
    return hp


@registry.register_hparams
def transformer_prepend_v2():
    """T2T's ``transformer_prepend_v2``: ``transformer_base_v2`` with the inputs prepended."""
    return _prepend(transformer_base_v2())


@registry.register_hparams
def transformer_prepend_v1():
    """T2T's ``transformer_prepend_v1``: ``transformer_base_v1`` with the inputs prepended."""
    return _prepend(transformer_base_v1())


@registry.register_hparams
def transformer_prepend():
    """T2T's ``transformer_prepend`` (= ``transformer_prepend_v2``)."""
    return transformer_prepend_v2()


@registry.register_hparams
def transformer_prepend_tiny():
    """``transformer_tiny`` (2 layers, hidden 128, filter 512, 4 heads) with the inputs
    prepended: for CPUs and tests."""
    return _prepend(transformer_tiny())
