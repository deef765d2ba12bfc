"""The registered problems (installed as ``t2x.problems``). Importing this package
registers every problem module listed in ``MODULES``."""

import importlib

MODULES = ["algorithmic", "babi", "bottlenecks", "cifar", "from_files", "image_gen", "librispeech", "math_deepmind", "mixture",
           "mnist", "speech", "summarize", "text", "tfds"]

for _module in MODULES:
    importlib.import_module(f"{__name__}.{_module}")
