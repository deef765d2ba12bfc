"""t2x: Tensor2Tensor's workflow (registries of problems, models and hparams sets, one
trainer binary) on TensorFlow 2 and Keras 3.

The core imports no concrete problem or model; ``t2x.catalogue.load()`` (called lazily by
the registry) brings in ``t2x.problems``, ``t2x.models`` and ``t2x.hparams``.
"""

__version__ = "0.1.0"
