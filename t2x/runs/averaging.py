"""Checkpoint averaging (T2T's ``avg_checkpoints``): the mean of the model weights of the
last N checkpoints of a run, saved as a new run directory that ``t2x-decoder`` reads.

    average_checkpoints("~/t2x_train/run", num_last=5, output_dir="~/t2x_train/run/avg")

``output_dir`` receives ``ckpt-<last step>`` (model weights and step only: averaging
optimizer slots means nothing) and copies of the run's configuration files (``RunDir``:
``run.json``, ``hparams.json``, ``config.gin``, ``flags.txt``). It must be new, empty or an
earlier average of the same run (replaced); anything else is refused before the model loads.
"""

import json
import os
from typing import Optional

import numpy as np
import tensorflow as tf
from absl import logging

from t2x.errors import ConfigError
from t2x.fileio import destination_problem, first_existing
from t2x.runs import checkpoints
from t2x.runs.checkpoints import load_trained_model, restore_weights
from t2x.runs.run_dir import RunDir, RunDirError


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
    _check_avg_dir(output_dir, run)
    model, _, _, _ = load_trained_model(run_dir, data_dir=data_dir, checkpoint_path=paths[0])
    total = [np.zeros(v.shape, np.float64) for v in model.weights]
    for path in paths:
        restore_weights(model, path)
        for acc, v in zip(total, model.weights):
            acc += np.asarray(v.numpy(), np.float64)
    for acc, v in zip(total, model.weights):
        v.assign((acc / len(paths)).astype(v.dtype))
    step = checkpoints.step_of(paths[-1])
    try:
        run.copy_config_to(RunDir(output_dir))
        ckpt = tf.train.Checkpoint(**checkpoints.trackables(model, step=tf.Variable(step, dtype=tf.int64),
                                                            random_state=False))
        prefix = tf.train.CheckpointManager(ckpt, output_dir, max_to_keep=1).save(checkpoint_number=step)
    except (OSError, tf.errors.ResourceExhaustedError, tf.errors.PermissionDeniedError) as e:
        reason = destination_problem(e, _highest_new(output_dir) or output_dir)
        if reason is None:
            raise
        raise ConfigError(f"cannot write the average to --avg_dir={output_dir}: {reason}; free space there or "
                          "make it writable, or give another --avg_dir") from e
    logging.info("Averaged %d checkpoints (%s) into %s", len(paths), ", ".join(map(os.path.basename, paths)), prefix)
    return prefix


def _highest_new(path: str) -> Optional[str]:
    """The highest missing directory on the way to ``path`` (None when it exists)."""
    new = None
    while not os.path.exists(path):
        new, path = path, os.path.dirname(path)
    return new


def _check_avg_dir(output_dir: str, run: RunDir) -> None:
    """Refuses, before the model loads, an ``--avg_dir`` that is (or goes through) a file,
    holds the run, or holds anything but an earlier average of this run (its ``run.json``
    names the same problem, model and hparams set, and it has no ``train/``, ``eval/`` or
    ``lock`` of a trainer): writing there would replace another run's configuration and
    rotate away its checkpoints."""
    default = os.path.join(run.path, "avg")
    probe = first_existing(output_dir)
    if not os.path.isdir(probe):
        where = "is a file" if probe == output_dir else f"goes through {probe}, a file"
        raise ConfigError(f"--avg_dir={output_dir} {where}, not a directory: give a new directory "
                          f"(default {default})")
    if probe != output_dir:
        return
    real, run_real = os.path.realpath(output_dir), os.path.realpath(run.path)
    if run_real.startswith(real.rstrip(os.sep) + os.sep):
        raise ConfigError(f"--avg_dir={output_dir} holds the run {run.path}: give a new or empty --avg_dir "
                          f"(default {default})")
    entries = os.listdir(output_dir)
    if not entries:
        return

    def identity(directory):
        try:
            with open(os.path.join(directory, "run.json"), encoding="utf-8") as f:
                info = json.load(f)
        except (OSError, ValueError):
            return None
        return {k: info.get(k) for k in ("problem", "model", "hparams_set")} if isinstance(info, dict) else None

    trained_here = any(name in entries for name in ("train", "eval", "lock"))  # a run of its own
    if trained_here or identity(output_dir) is None or identity(output_dir) != identity(run.path):
        raise ConfigError(f"--avg_dir={output_dir} holds {len(entries)} file(s) that are not an earlier average "
                          f"of {run.path} (its checkpoints would be rotated away): give a new or empty --avg_dir "
                          f"(default {default})")
