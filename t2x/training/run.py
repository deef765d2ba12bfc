"""The library behind ``t2x-trainer``: names in, a trained and evaluated run out.

    trainer, metrics = run_training(problem="image_mnist", model="shake_shake")
    metrics = train(problem="image_mnist", model="shake_shake", train_steps=1000)  # t2x.train

Resolves what the command line leaves out (the model's default hparams set, ``~/t2x_data``,
``~/t2x_train/<problem>/<model>-<set>``), generates the shards the schedule reads when they
are missing, and runs a ``Trainer`` (``t2x.training.trainer``, the loop).
"""

import os
from typing import Callable, Dict, List, Optional

from absl import logging

from t2x.data.problem import DatasetSplit
from t2x.errors import ConfigError
from t2x.data.specs import DEFAULT_RANDOM_SEED
from t2x.training.trainer import Trainer

DEFAULT_OUTPUT_ROOT = "~/t2x_train"

#: The splits each schedule reads (their shards are generated when missing).
SCHEDULE_SPLITS = {"train": [DatasetSplit.TRAIN], "evaluate": [DatasetSplit.EVAL],
                   "continuous_eval": [DatasetSplit.EVAL],
                   "train_and_evaluate": [DatasetSplit.TRAIN, DatasetSplit.EVAL]}


def run_training(*, problem: str, model: str, hparams_set: Optional[str] = None, hparams: str = "",
                 data_dir: Optional[str] = None, output_dir: Optional[str] = None,
                 tmp_dir: Optional[str] = None, generate_data: bool = False,
                 schedule: str = "train_and_evaluate", num_processes: int = 1,
                 announce: Callable[[str], None] = logging.info, **trainer_kwargs):
    """The library behind ``t2x-trainer``: names in, ``(trainer, metrics)`` out.

    * ``hparams_set`` None: the model's registered default set, announced;
    * ``data_dir`` / ``output_dir`` None: ``~/t2x_data`` and
      ``~/t2x_train/<problem>/<model>-<hparams_set>``, announced;
    * the shards the schedule reads (``SCHEDULE_SPLITS``, plus a decode split) missing
      from ``data_dir``: generated first, announced, as with ``generate_data=True``
      (downloads to ``tmp_dir``, default ``<data_dir>/tmp``; offline with missing raw
      files this fails in seconds with the one-line message that names ``--tmp_dir``).

    ``trainer_kwargs`` are the ``Trainer``'s options; gin may bind the others. Raises
    ``T2XError`` subclasses for bad input (one line each in the binary).
    """
    from t2x import registry
    from t2x.data.download import DEFAULT_DATA_DIR, default_tmp_dir
    from t2x.fileio import resolve_dir
    from t2x.hparam import create_hparams
    from t2x.model import check_model_hparams

    if schedule not in SCHEDULE_SPLITS:
        raise ConfigError(f"--schedule={schedule!r} is not one of {', '.join(SCHEDULE_SPLITS)}")
    prob = registry.problem(problem)
    registry.model(model)  # a misspelt model fails before any data is generated
    if not hparams_set:
        hparams_set = registry.default_hparams_set(model)
        announce(f"--hparams_set not given, using {hparams_set} (model {model}'s default set)")
    hp = create_hparams(hparams_set, hparams)
    check_model_hparams(model, hp)  # before any data is generated: packed, dtypes, T2T-only keys
    if not isinstance(num_processes, int) or isinstance(num_processes, bool) or num_processes < 1:
        raise ConfigError(f"--num_processes must be an integer >= 1, got {num_processes!r}")
    decode_split = trainer_kwargs.get("eval_decode_split")
    splits_of = prob.split_names()
    if decode_split and decode_split not in splits_of:
        raise ConfigError(f"--eval_decode_split={decode_split!r} is not a split of {prob.name} (its splits: "
                          f"{', '.join(splits_of)}): name one of them")
    data_dir = resolve_dir("data_dir", data_dir, DEFAULT_DATA_DIR, announce)
    output_dir = resolve_dir("output_dir", output_dir, os.path.join(
        DEFAULT_OUTPUT_ROOT, problem, f"{model}-{hparams_set}"), announce)
    splits = list(SCHEDULE_SPLITS[schedule])
    if trainer_kwargs.get("eval_decode_split") and schedule != "train":
        splits.append(trainer_kwargs["eval_decode_split"])
    prepare_data(prob, data_dir, tmp_dir, splits=splits, force=generate_data, num_processes=num_processes,
                 random_seed=trainer_kwargs.get("random_seed", DEFAULT_RANDOM_SEED), announce=announce)
    trainer = Trainer(problem=prob, model_name=model, hparams=hp, hparams_set=hparams_set,
                      data_dir=data_dir, output_dir=output_dir, **trainer_kwargs)
    return trainer, trainer.run(schedule)


def prepare_data(problem, data_dir: Optional[str], tmp_dir: Optional[str] = None, *,
                 splits: Optional[List[str]] = None, force: bool = False, num_processes: int = 1,
                 random_seed: int = DEFAULT_RANDOM_SEED, announce: Callable[[str], None] = logging.info) -> None:
    """Generates ``problem``'s shards of ``splits`` (default all) that are missing from
    ``data_dir`` (all of them with ``force``: ``--generate_data``), downloading to ``tmp_dir``
    (default ``<data_dir>/tmp``); announced. A problem that only reads shards made elsewhere
    is left alone (its missing shards are reported when read)."""
    from t2x.data.download import DEFAULT_DATA_DIR, default_tmp_dir
    from t2x.fileio import resolve_dir

    data_dir = resolve_dir("data_dir", data_dir, DEFAULT_DATA_DIR, lambda _: None)
    missing = problem.missing_shards(data_dir, splits) if _can_generate(problem) else []
    if force or missing:
        if missing and not force:
            announce(f"{len(missing)} shard(s) of {problem.name} missing from {data_dir}: generating "
                     "them (as with --generate_data)")
        tmp_dir = resolve_dir("tmp_dir", tmp_dir, default_tmp_dir(data_dir), announce)
        problem.generate_data(data_dir, tmp_dir, num_processes=num_processes, random_seed=random_seed)


def train(**kwargs) -> Dict[str, float]:
    """The Python twin of ``t2x-trainer`` (``run_training``'s arguments): returns the last
    eval metrics (or the train metrics under ``schedule="train"``)."""
    return run_training(**kwargs)[1]


def _can_generate(problem) -> bool:
    """False for a problem that only reads shards made elsewhere (it overrides neither
    generate_samples nor generate_data): its missing shards are reported, not generated."""
    from t2x.data.problem import Problem

    cls = type(problem)
    return cls.generate_samples is not Problem.generate_samples or cls.generate_data is not Problem.generate_data
