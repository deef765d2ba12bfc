"""Runs floor (4): a run directory's storage and its one checkpoint rule (``run_dir``), the
checkpoint format and "load a trained run's model" (``checkpoints``), checkpoint averaging
(``averaging``) and warm starts (``warm_start``). Imports nothing of training."""
