"""The checkpoint format of a t2x run: the one module that spells its keys.

A checkpoint ``<run>/ckpt-<step>`` is a ``tf.train.Checkpoint`` of:

=====================  ===========================================================
key                    what
=====================  ===========================================================
``model_weights``      every weight of the model, in ``model.weights`` order
                       (``t2x.model.checkpoint_weights``: Keras 3 hides layers kept
                       in lists from object-based checkpoints)
``model_random_state`` every Keras ``SeedGenerator``'s state (dropout masks,
                       shake-shake's draws, UT offsets): exact resume
``optimizer``          the optimizer's slots and iteration counter
``step``               the global step (int64)
``loss_scale``         float16 runs only: the dynamic loss scale
``iterator``           default strategy: the input pipeline's position
=====================  ===========================================================

Readers restore only what they need (a decoder or an export the weights); writers add
the rest. Which checkpoint of a run to read is ``t2x.runs.run_dir.RunDir``'s rule.
"""

from typing import Optional

import tensorflow as tf
from absl import logging

from t2x.model import checkpoint_random_state, checkpoint_weights, create_model
from t2x.runs.run_dir import RunDir

WEIGHTS = "model_weights"
RANDOM_STATE = "model_random_state"
OPTIMIZER = "optimizer"
STEP = "step"


def trackables(model, *, optimizer=None, step=None, random_state: bool = True) -> dict:
    """``{key: trackable}`` of a run's checkpoint for ``model`` (and ``optimizer``,
    ``step`` when given); ``tf.train.Checkpoint(**trackables(...))``."""
    out = {WEIGHTS: checkpoint_weights(model)}
    if random_state:
        out[RANDOM_STATE] = checkpoint_random_state(model)
    if optimizer is not None:
        out[OPTIMIZER] = optimizer
    if step is not None:
        out[STEP] = step
    return out


def has_random_state(path: str) -> bool:
    """Checkpoint ``path`` holds random state (t2x wrote it since exact resume of
    stochastic models)."""
    return any(name.startswith(RANDOM_STATE + "/") for name, _ in tf.train.list_variables(path))


def step_of(path: str) -> int:
    """The global step recorded in checkpoint ``path``."""
    return int(tf.train.load_checkpoint(path).get_tensor(f"{STEP}/.ATTRIBUTES/VARIABLE_VALUE"))


def restore_weights(model, path: str) -> None:
    """Loads the model weights of checkpoint ``path`` into ``model`` (built)."""
    tf.train.Checkpoint(**{WEIGHTS: checkpoint_weights(model)}).restore(path) \
        .expect_partial().assert_existing_objects_matched()


def load_trained_model(output_dir: str, *, data_dir: Optional[str] = None,
                       checkpoint_path: Optional[str] = None, t2x_usr_dir: Optional[str] = None):
    """The model of a training run, read back through its ``RunDir`` (names, hparams, gin
    config, usr dir) with the weights of its latest checkpoint or ``checkpoint_path``.
    Returns (model, problem, data_dir, checkpoint path)."""
    run_dir = RunDir(output_dir)
    run = run_dir.load(data_dir=data_dir, t2x_usr_dir=t2x_usr_dir)
    chosen = run_dir.checkpoint(checkpoint_path)  # a missing checkpoint fails before the model is built
    model = create_model(run.problem, run.model_name, run.hparams, run.data_dir)
    # The trainer's rule (RunDir.read_checkpoint): a damaged checkpoint falls back to the one
    # before it; one that vanished while being read (rotated away) is chosen again, once.
    path = run_dir.read_checkpoint(lambda p: restore_weights(model, p), checkpoint_path, chosen=chosen)
    logging.info("Restored %s", path)
    return model, run.problem, run.data_dir, path
