"""The registered models (installed as ``t2x.models``); filled by the models issue.
Importing this package registers every module listed in ``MODULES``."""

import importlib

MODULES = ["basic", "image_transformer", "lstm", "resnet", "shake_shake", "transformer", "transfer", "transformer_encoder",
           "transformer_prepend", "universal_transformer"]

for _module in MODULES:
    importlib.import_module(f"{__name__}.{_module}")
