"""Inference floor (5): decoding with a trained run, from its checkpoint or its SavedModel
export (``decoder``: decode hparams, sequence decoding, ``t2x-decoder``'s library)."""
