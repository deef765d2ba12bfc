"""The registered hparams sets (installed as ``t2x.hparams``), one module per model family.
Importing this package registers every module listed in ``MODULES``."""

import importlib

MODULES = ["basic", "basic_fc", "image_transformer", "lstm", "resnet", "shake_shake", "transformer", "transformer_encoder",
           "transformer_prepend", "universal_transformer"]

for _module in MODULES:
    importlib.import_module(f"{__name__}.{_module}")
