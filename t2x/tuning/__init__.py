"""Tuning floor (7): hyperparameter search over ranged hparams with Optuna (``tuner``),
each trial a training run."""
