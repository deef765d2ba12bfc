"""``--warm_start_from``: a new run's weights initialised from another run's checkpoint by
name (T2T's ``--warm_start_from``, Model Garden's ``init_checkpoint``).

    matched, unmatched = warm_start(model, "~/t2x_train/image_mnist/basic_fc_relu-basic_fc_small")

The source is a run directory (its latest checkpoint) or a checkpoint prefix inside one
(``RUN/ckpt-<step>``). t2x checkpoints store weights in ``model.weights`` order, not by name,
so the source run's model is rebuilt from its ``run.json`` and ``hparams.json`` (without its
gin config, which would rebind this run's), and its weights restored. A weight of the new
model matches a source weight with the same Keras path below the model's own name
(``layer_0/kernel`` in ``basic_fc_relu/layer_0/kernel``) and the same shape; the others keep
their initialisation and are listed. Only weights: the optimizer, step and random state
start fresh.
"""

import os
from typing import List, Tuple

from absl import logging

from t2x.errors import ConfigError, T2XError
from t2x.runs.run_dir import RunDir, RunDirError


def weight_name(variable) -> str:
    """A weight's Keras path without its model's name (what warm starting matches on)."""
    path = getattr(variable, "path", None) or variable.name.split(":")[0]
    return path.split("/", 1)[1] if "/" in path else path


def resolve_source(source: str) -> Tuple[RunDir, str]:
    """(source run directory, checkpoint prefix) of a run directory or checkpoint prefix."""
    path = os.path.abspath(os.path.expanduser(source))
    if os.path.isdir(path):
        run_dir = RunDir(path)
        try:
            return run_dir, run_dir.checkpoint()
        except RunDirError as e:
            raise ConfigError(f"--warm_start_from={source}: {e}") from None
    if os.path.exists(path + ".index"):
        try:
            return RunDir(os.path.dirname(path)), RunDir(os.path.dirname(path)).checkpoint(path)
        except RunDirError as e:
            raise ConfigError(f"--warm_start_from={source}: {e}") from None
    raise ConfigError(f"--warm_start_from={source}: neither a run directory nor a checkpoint prefix "
                      "(<run>/ckpt-<step>)")


def source_model(source: str):
    """The source run's model with its checkpoint's weights; returns (model, checkpoint)."""
    from t2x import catalogue, registry
    from t2x.model import create_model
    from t2x.runs.checkpoints import restore_weights

    run_dir, checkpoint = resolve_source(source)
    info, hparams = run_dir.read_info(), run_dir.read_hparams()
    catalogue.load()
    try:
        problem = registry.problem(info.problem)
    except T2XError:
        if not info.t2x_usr_dir:
            raise
        catalogue.import_usr_dir(info.t2x_usr_dir)  # the source run's own registrations
        problem = registry.problem(info.problem)
    model = create_model(problem, info.model, hparams, info.data_dir)
    explicit = None if os.path.isdir(os.path.abspath(os.path.expanduser(source))) else checkpoint
    checkpoint = run_dir.read_checkpoint(lambda p: restore_weights(model, p), explicit, chosen=checkpoint)
    return model, checkpoint


def warm_start(model, source: str) -> Tuple[List[str], List[str]]:
    """Assigns ``model``'s weights from ``source`` by name and shape; returns the names
    matched and the names left as initialised."""
    src, checkpoint = source_model(source)
    by_name = {}
    for v in src.weights:
        by_name.setdefault(weight_name(v), v)
    matched, unmatched = [], []
    for v in model.weights:
        name = weight_name(v)
        other = by_name.get(name)
        if other is not None and tuple(other.shape) == tuple(v.shape):
            v.assign(other.numpy())
            matched.append(name)
        else:
            why = "not in the source" if other is None else f"shape {tuple(v.shape)} vs {tuple(other.shape)}"
            unmatched.append(f"{name} ({why})")
    if model.weights and not matched:
        raise ConfigError(
            f"--warm_start_from={source}: none of the {len(model.weights)} weights of this {model.name} matched "
            f"a weight of {checkpoint} (a {src.name}) by name and shape (e.g. {unmatched[0]}): warm-start "
            "from a run of the same model (or one sharing its layers), or drop --warm_start_from")
    logging.info("Warm-started %d of %d weights from %s", len(matched), len(model.weights), checkpoint)
    if unmatched:
        logging.warning("Weights not warm-started (%d), left as initialised: %s", len(unmatched),
                        ", ".join(unmatched))
    return matched, unmatched
