"""t2x: Tensor2Tensor's workflow (registries of problems, models and hparams sets, one
trainer binary) on TensorFlow 2 and Keras 3.

The core imports no concrete problem or model; ``t2x.catalogue.load()`` (called lazily by
the registry) brings in ``t2x.problems``, ``t2x.models`` and ``t2x.hparams``.
"""

__version__ = "0.1.0"


def train(**kwargs):
    """``t2x-trainer`` from Python: ``t2x.train(problem="image_mnist", model="shake_shake",
    hparams_set="shake_shake_quick", data_dir=..., output_dir=..., train_steps=1000)``.
    Keyword arguments as ``t2x.training.run.train``; returns the last metrics."""
    from t2x.training.run import train as _train  # TensorFlow is imported here, not on `import t2x`

    return _train(**kwargs)
