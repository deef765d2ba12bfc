"""Checkpoint averaging (T2T's ``avg_checkpoints``): the mean of the model weights of the
last N checkpoints of a run, saved as a new run directory that ``t2x-decoder`` reads.

    average_checkpoints("~/t2x_train/run", num_last=5, output_dir="~/t2x_train/run/avg")

``output_dir`` receives ``ckpt-<last step>`` (model weights and step only: averaging
optimizer slots means nothing) and copies of the run's configuration files (``RunDir``:
``run.json``, ``hparams.json``, ``config.gin``, ``flags.txt``).
"""

import os
from typing import Optional

import numpy as np
import tensorflow as tf
from absl import logging

from t2x.errors import ConfigError
from t2x.model import checkpoint_weights
from t2x.training.decoder import load_trained_model, restore_weights
from t2x.training.run_dir import RunDir, RunDirError


def average_checkpoints(run_dir: str, *, num_last: int = 5, output_dir: Optional[str] = None,
                        data_dir: Optional[str] = None) -> str:
    """Averages the last ``num_last`` checkpoints of ``run_dir``; returns the new prefix."""
    run = RunDir(run_dir)
    run_dir = run.path
    output_dir = os.path.abspath(os.path.expanduser(output_dir or os.path.join(run_dir, "avg")))
    if num_last < 1:
        raise ConfigError(f"num_last must be >= 1, got {num_last}")
    available = run.checkpoints()
    if len(available) < num_last:
        raise RunDirError(f"--num_last_checkpoints={num_last} but {run_dir} holds {len(available)} "
                          f"checkpoint(s){': train first' if not available else ''}; lower "
                          "--num_last_checkpoints (or keep more with --keep_checkpoint_max)")
    paths = available[-num_last:]
    if output_dir == run_dir:
        raise ConfigError("the averaged checkpoint needs its own directory (not the run's): it would "
                         "become the run's latest checkpoint and be resumed from")
    model, _, _, _ = load_trained_model(run_dir, data_dir=data_dir, checkpoint_path=paths[0])
    total = [np.zeros(v.shape, np.float64) for v in model.weights]
    for path in paths:
        restore_weights(model, path)
        for acc, v in zip(total, model.weights):
            acc += np.asarray(v.numpy(), np.float64)
    for acc, v in zip(total, model.weights):
        v.assign((acc / len(paths)).astype(v.dtype))
    step = int(tf.train.load_checkpoint(paths[-1]).get_tensor("step/.ATTRIBUTES/VARIABLE_VALUE"))
    run.copy_config_to(RunDir(output_dir))
    ckpt = tf.train.Checkpoint(model_weights=checkpoint_weights(model), step=tf.Variable(step, dtype=tf.int64))
    prefix = tf.train.CheckpointManager(ckpt, output_dir, max_to_keep=1).save(checkpoint_number=step)
    logging.info("Averaged %d checkpoints (%s) into %s", len(paths), ", ".join(map(os.path.basename, paths)), prefix)
    return prefix
