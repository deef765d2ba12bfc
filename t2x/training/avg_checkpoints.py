"""Checkpoint averaging (T2T's ``avg_checkpoints``): the mean of the model weights of the
last N checkpoints of a run, saved as a new run directory that ``t2x-decoder`` reads.

    average_checkpoints("~/t2x_train/run", num_last=5, output_dir="~/t2x_train/run/avg")

``output_dir`` receives ``ckpt-<last step>`` (model weights and step only: averaging
optimizer slots means nothing) and copies of the run's ``run.json`` and ``hparams.json``.
"""

import os
import shutil
from typing import List, Optional

import numpy as np
import tensorflow as tf
from absl import logging

from t2x.model import checkpoint_weights
from t2x.training.decoder import DecodeError, load_trained_model, restore_weights


def checkpoints_of(run_dir: str) -> List[str]:
    """The run's checkpoint prefixes, oldest first (the CheckpointManager's index)."""
    state = tf.train.get_checkpoint_state(run_dir)
    return list(state.all_model_checkpoint_paths) if state else []


def average_checkpoints(run_dir: str, *, num_last: int = 5, output_dir: Optional[str] = None,
                        data_dir: Optional[str] = None) -> str:
    """Averages the last ``num_last`` checkpoints of ``run_dir``; returns the new prefix."""
    run_dir = os.path.abspath(os.path.expanduser(run_dir))
    output_dir = os.path.abspath(os.path.expanduser(output_dir or os.path.join(run_dir, "avg")))
    if num_last < 1:
        raise ValueError(f"num_last must be >= 1, got {num_last}")
    paths = checkpoints_of(run_dir)[-num_last:]
    if not paths:
        raise DecodeError(f"no checkpoints in {run_dir}: train first")
    if output_dir == run_dir:
        raise ValueError("the averaged checkpoint needs its own directory (not the run's): it would "
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
    os.makedirs(output_dir, exist_ok=True)
    for name in ("run.json", "hparams.json"):
        shutil.copyfile(os.path.join(run_dir, name), os.path.join(output_dir, name))
    ckpt = tf.train.Checkpoint(model_weights=checkpoint_weights(model), step=tf.Variable(step, dtype=tf.int64))
    prefix = tf.train.CheckpointManager(ckpt, output_dir, max_to_keep=1).save(checkpoint_number=step)
    logging.info("Averaged %d checkpoints (%s) into %s", len(paths), ", ".join(map(os.path.basename, paths)), prefix)
    return prefix
