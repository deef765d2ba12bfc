"""Hyperparameter search over a registered range (T2T's ``@register_ranged_hparams``).

    best = tune(TunerConfig(problem="image_mnist", model="basic_fc_relu",
                            hparams_set="basic_fc_small", hparams_range="basic_fc_range",
                            trials=8, parallel=2, objective="eval/accuracy",
                            output_dir=..., data_dir=..., train_steps=1000, eval_every=200))

The search itself is Optuna's (TPE sampler, median pruner), not t2x's: t2x turns a range
into Optuna distributions, each trial into an ordinary run, and each evaluation into a
pruner report.

* **Trials are runs.** Trial ``i`` trains in ``output_dir/trials/<i>`` with
  ``t2x.training.run.run_training`` and ``--hparams`` = the fixed ``hparams`` plus the
  trial's sampled values: a run directory like any other (resumable, refused on config
  drift, a row of TensorBoard's HParams dashboard with its hparams and eval metrics),
  which ``t2x-decoder`` and ``t2x-exporter`` read.
* **Pruning.** After every evaluation (``eval_every`` steps) the objective is reported to
  Optuna; a trial the pruner stops ends there (state PRUNED, its run directory kept).
* **The study survives the process**: it lives in ``storage`` (default a SQLite file,
  ``output_dir/study.db``; any SQLAlchemy URL -- PostgreSQL, MySQL -- lets tuner
  processes on several machines share one study, each with ``--parallel`` workers). Each
  running trial sends a heartbeat; a trial whose worker died (a killed tuner) goes stale,
  is marked FAIL and retried with the same values in the *same* run directory, so it
  resumes from its last checkpoint. A rerun of a killed tuner therefore keeps the finished
  trials and resumes the interrupted ones; the study ends when ``trials`` trials are
  complete or pruned.
* **Workers**: ``parallel`` processes (spawned; each imports TensorFlow once and runs its
  trials one after the other; they die with the tuner). On one machine a file lock makes
  "count the trials, then claim one" atomic, so the study does not overshoot ``trials``.
* **Result**: ``output_dir/best.json`` (and the return value): the best trial's number,
  objective value, sampled values, its ``--hparams`` string and run directory.
"""

import dataclasses
import fcntl
import json
import math
import os
import threading
import time
from typing import Any, Dict, List, Optional, Sequence

from absl import logging

from t2x.errors import ConfigError
from t2x.fileio import write_text_atomic
from t2x.training.options import EVAL, LOOP, TUNER_EVAL_EVERY

STUDY_FILE = "study.db"
BEST_FILE = "best.json"
HEARTBEAT_S = 2
GRACE_S = 8


@dataclasses.dataclass
class TunerConfig:
    """What to search and how; every field is a ``t2x-tuner`` flag of the same name."""
    problem: str
    model: str
    hparams_set: str
    hparams_range: str
    output_dir: str
    trials: int = 8
    parallel: int = 1
    objective: str = "eval/accuracy"
    objective_goal: Optional[str] = None  # "max" / "min"; default from the metric
    hparams: str = ""  # fixed overrides for every trial
    data_dir: Optional[str] = None
    tmp_dir: Optional[str] = None
    storage: Optional[str] = None  # default sqlite:///<output_dir>/study.db
    study_name: str = "t2x"
    train_steps: int = LOOP.train_steps
    eval_every: int = TUNER_EVAL_EVERY
    eval_steps: int = EVAL.eval_steps
    random_seed: int = LOOP.random_seed
    pruner: str = "median"  # "median" or "none"
    t2x_usr_dir: Optional[str] = None
    gin_files: Sequence[str] = ()
    gin_params: Sequence[str] = ()

    @property
    def metric(self) -> str:
        return self.objective[5:] if self.objective.startswith("eval/") else self.objective

    def study_attrs(self) -> Dict[str, Any]:
        """What a study is about: a rerun with other values is refused (config drift)."""
        return {"problem": self.problem, "model": self.model, "hparams_set": self.hparams_set,
                "hparams_range": self.hparams_range, "hparams": self.hparams,
                "objective": self.objective, "train_steps": self.train_steps}


def search_space(name: str):
    """The registered range ``name`` as a ``RangedHParams``."""
    from t2x import registry
    from t2x.hparam import RangedHParams

    rhp = RangedHParams()
    registry.ranged_hparams(name)(rhp)
    return rhp


def suggest(trial, specs: Dict[str, Dict[str, Any]]) -> Dict[str, Any]:
    """One point of the space from an Optuna ``trial`` (``suggest_*`` per spec: log scales
    as ``log=True``; discrete values as categorical)."""
    point = {}
    for name, spec in specs.items():
        if spec["type"] in ("categorical", "discrete"):
            point[name] = trial.suggest_categorical(name, spec["values"])
        else:
            log = spec["scale"] != "LINEAR_SCALE"
            fn = trial.suggest_int if spec["type"] == "int" else trial.suggest_float
            point[name] = fn(name, spec["min"], spec["max"], log=log)
    return point


def overrides_string(fixed: str, point: Dict[str, Any]) -> str:
    """``--hparams`` of a trial: the fixed overrides, then the sampled values."""
    def text(value):
        return repr(value) if isinstance(value, float) else str(value)
    return ",".join([fixed] * bool(fixed) + [f"{k}={text(v)}" for k, v in sorted(point.items())])


def _storage(config: TunerConfig):
    import optuna
    from optuna.storages import RDBStorage, RetryFailedTrialCallback

    import warnings

    # Heartbeats and the retry callback have been "experimental" since Optuna 2.8 / 3.0.
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    # t2x claims trials with ask() under a lock and sends their heartbeats itself (_Heartbeat).
    warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used with Study.optimize")
    url = config.storage or f"sqlite:///{os.path.join(os.path.abspath(config.output_dir), STUDY_FILE)}"
    return RDBStorage(url, heartbeat_interval=HEARTBEAT_S, grace_period=GRACE_S,
                      failed_trial_callback=RetryFailedTrialCallback(max_retry=None),
                      engine_kwargs={"connect_args": {"timeout": 60}} if url.startswith("sqlite") else None)


def _study(config: TunerConfig, worker: int = 0):
    import optuna

    sampler = optuna.samplers.TPESampler(seed=config.random_seed + worker, n_startup_trials=3)
    pruner = (optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0)
              if config.pruner == "median" else optuna.pruners.NopPruner())
    direction = "maximize" if _goal(config) == "max" else "minimize"
    return optuna.create_study(storage=_storage(config), study_name=config.study_name, direction=direction,
                               sampler=sampler, pruner=pruner, load_if_exists=True)


def _goal(config: TunerConfig) -> str:
    from t2x import metrics as metrics_lib

    if config.objective_goal is not None:
        if config.objective_goal not in ("max", "min"):
            raise ConfigError(f"--objective_goal={config.objective_goal!r} must be max or min")
        return config.objective_goal
    return metrics_lib.goal(config.metric)


def trial_run_id(study, trial) -> int:
    """The number of the trial whose run directory ``trial`` uses: its own, or for a retry of
    an interrupted trial the first trial of that chain (so the retry resumes its checkpoint)."""
    import warnings

    from optuna.storages import RetryFailedTrialCallback

    frozen = next(t for t in study.get_trials(deepcopy=False) if t.number == trial.number)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # retry_history is "experimental" since Optuna 3.0
        history = RetryFailedTrialCallback.retry_history(frozen)
    return history[0] if history else trial.number


def _check(config: TunerConfig) -> None:
    """Eager validation: names, range against the set, numbers, objective."""
    from t2x import registry
    from t2x.hparam import create_hparams

    try:
        import optuna  # noqa: F401
    except ImportError:
        raise ConfigError("t2x-tuner searches with Optuna: pip install -e \".[tune]\"") from None
    registry.problem(config.problem)
    registry.model(config.model)
    hp = create_hparams(config.hparams_set, config.hparams)
    search_space(config.hparams_range).check(hp)
    for name in ("trials", "parallel", "train_steps", "eval_every"):
        value = getattr(config, name)
        if not isinstance(value, int) or value < 1:
            raise ConfigError(f"--{name} must be an integer >= 1, got {value!r}")
    if config.pruner not in ("median", "none"):
        raise ConfigError(f"--pruner={config.pruner!r} must be median or none")
    if not isinstance(config.eval_steps, int) or config.eval_steps < 0:
        raise ConfigError(f"--eval_steps must be an integer >= 0 (0: the whole dev set), got {config.eval_steps!r}")
    for name in ("data_dir", "tmp_dir", "output_dir"):
        path = getattr(config, name)
        if path and os.path.exists(path) and not os.path.isdir(path):
            raise ConfigError(f"--{name}={path} is a file, not a directory; pick another path")
    if not config.study_name or not str(config.study_name).strip():
        raise ConfigError("--study_name must not be empty: name the study in --storage (default t2x)")
    _goal(config)
    _check_objective(config)
    _check_storage(config)


def _check_objective(config: TunerConfig) -> None:
    """The objective is one of the metrics a trial reports (the eval loss and the problem's
    ``eval_metrics()``, plus the model's): checked before the study exists, not after trial 0."""
    from t2x import registry

    from t2x.model import T2XModel

    if registry.model(config.model).eval_metrics is not T2XModel.eval_metrics:
        return  # the model adds metrics of its own (known once built): checked at the first evaluation
    reported = list(dict.fromkeys(["loss"] + list(registry.problem(config.problem).eval_metrics())))
    if config.metric not in reported:
        raise ConfigError(f"--objective={config.objective} is not reported by {config.problem} with "
                          f"{config.model} (its trials report {', '.join('eval/' + m for m in reported)}): "
                          "pick one of those")


def _check_storage(config: TunerConfig) -> None:
    """``--storage``: a SQLAlchemy URL whose driver is installed (and, for SQLite, whose
    folder exists); one line naming the URL and the fix otherwise. Nothing is created."""
    if config.storage is None:
        return
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        url = make_url(config.storage)
    except ArgumentError:
        raise ConfigError(f"--storage={config.storage!r} is not a database URL: use e.g. "
                          "sqlite:////abs/path/study.db or postgresql://user@host/db") from None
    try:
        dialect = url.get_dialect()
    except NoSuchModuleError:
        raise ConfigError(f"--storage={config.storage}: no database driver for '{url.drivername}' "
                          "(SQLAlchemy knows sqlite, postgresql, mysql, ...): fix the URL's scheme") from None
    try:
        dialect.import_dbapi()
    except ImportError as e:
        raise ConfigError(f"--storage={config.storage}: its driver is not installed ({e}): pip install it "
                          f"(e.g. psycopg2-binary for postgresql, PyMySQL for mysql+pymysql), or use sqlite") from None
    if url.get_backend_name() == "sqlite":
        database = url.database or ""
        if database in ("", ":memory:"):
            raise ConfigError(f"--storage={config.storage}: an in-memory SQLite study does not outlive the "
                              "tuner nor reach its workers: name a file, sqlite:////abs/path/study.db")
        folder = os.path.dirname(os.path.abspath(database))
        if not os.path.isdir(folder):
            raise ConfigError(f"--storage={config.storage}: the folder {folder} does not exist: create it, "
                              "or point the URL at an existing folder")


def _counts(study) -> Dict[str, int]:
    from optuna.trial import TrialState

    counts = {state.name: 0 for state in TrialState}
    for trial in study.get_trials(deepcopy=False):
        counts[trial.state.name] += 1
    return counts


class _Heartbeat:
    """Records a running trial's heartbeat every ``HEARTBEAT_S`` seconds in a thread."""

    def __init__(self, storage, trial_id):
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(storage, trial_id), daemon=True)

    def _run(self, storage, trial_id):
        while not self._stop.wait(HEARTBEAT_S):
            storage.record_heartbeat(trial_id)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def _claim(config: TunerConfig, study):
    """Under the output_dir's file lock: marks dead workers' trials FAIL (their retries are
    enqueued with the same values), then claims the next trial, or None when the study has
    ``trials`` complete, pruned or running ones and nothing waits to be retried."""
    import optuna

    with open(os.path.join(config.output_dir, "tuner.lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        optuna.storages.fail_stale_trials(study)
        counts = _counts(study)
        if counts["WAITING"] == 0 and counts["COMPLETE"] + counts["PRUNED"] + counts["RUNNING"] >= config.trials:
            return None
        trial = study.ask()
        study._storage.record_heartbeat(trial._trial_id)
        return trial


def _run_trial(config: TunerConfig, study, trial, specs) -> None:
    import keras
    import optuna

    from t2x.training.run import run_training

    point = suggest(trial, specs)
    run_id = trial_run_id(study, trial)
    run_dir = os.path.join(os.path.abspath(config.output_dir), "trials", str(run_id))
    hparams = overrides_string(config.hparams, point)
    trial.set_user_attr("run_dir", run_dir)
    trial.set_user_attr("hparams", hparams)
    logging.info("trial %d%s: --hparams=%s in %s", trial.number,
                 f" (resumes trial {run_id})" if run_id != trial.number else "", hparams, run_dir)

    def report(step: int, metrics: Dict[str, float]) -> None:
        if config.metric not in metrics:
            raise ConfigError(f"--objective={config.objective} is not reported by {config.problem} "
                              f"(it reports {', '.join('eval/' + k for k in sorted(metrics) if k != 'eval_batches')})")
        trial.report(float(metrics[config.metric]), step)
        if trial.should_prune():
            raise optuna.TrialPruned(f"{config.objective} {metrics[config.metric]:.4f} at step {step}")

    try:
        with _Heartbeat(study._storage, trial._trial_id):
            _, metrics = run_training(
                problem=config.problem, model=config.model, hparams_set=config.hparams_set,
                hparams=hparams, data_dir=config.data_dir, output_dir=run_dir, tmp_dir=config.tmp_dir,
                train_steps=config.train_steps, eval_every=config.eval_every, eval_steps=config.eval_steps,
                random_seed=config.random_seed, eval_callbacks=[report], t2x_usr_dir=config.t2x_usr_dir,
                num_summary_images=0)
        value = float(metrics[config.metric])
        study.tell(trial, value)
        logging.info("trial %d: %s %.4f", trial.number, config.objective, value)
    except optuna.TrialPruned as e:
        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        logging.info("trial %d pruned: %s", trial.number, e)
    except BaseException:
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        raise
    finally:
        keras.backend.clear_session()


def _worker_process(config: TunerConfig, worker: int, verbosity: int) -> None:
    """A spawned worker: it dies with the tuner, logs as the tuner does, then works as
    ``_worker``."""
    _die_with_parent()
    logging.set_verbosity(verbosity)
    _worker(config, worker)


def _worker(config: TunerConfig, worker: int) -> None:
    """Claims and runs trials until the study has enough (in a worker process, or in the
    tuner itself with ``parallel=1``)."""
    from t2x import catalogue

    catalogue.load()
    if config.t2x_usr_dir:
        catalogue.import_usr_dir(config.t2x_usr_dir)
    _parse_gin(config)
    study = _study(config, worker)
    specs = search_space(config.hparams_range).specs()
    while True:
        trial = _claim(config, study)
        if trial is None:
            return
        _run_trial(config, study, trial, specs)


def _parse_gin(config: TunerConfig) -> None:
    if config.gin_files or config.gin_params:
        import gin

        gin.parse_config_files_and_bindings(list(config.gin_files), list(config.gin_params),
                                            finalize_config=False)


def _die_with_parent() -> None:
    """Linux: this process gets SIGKILL when its parent (the tuner) dies."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _wait_for_stale_trials(study) -> None:
    """Trials left RUNNING by a killed tuner go stale ``GRACE_S`` seconds after their last
    heartbeat; wait that long (once) so that they are retried now, not at the end."""
    import optuna

    if _counts(study)["RUNNING"]:
        logging.info("the study has running trials: waiting %d s for those of a dead tuner to go stale",
                     GRACE_S + HEARTBEAT_S)
        time.sleep(GRACE_S + HEARTBEAT_S)
        optuna.storages.fail_stale_trials(study)


def tune(config: TunerConfig) -> Dict[str, Any]:
    """Runs (or continues) the study; returns the best trial (also in ``best.json``)."""
    import multiprocessing

    from t2x import registry
    from t2x.training.run import prepare_data

    _check(config)
    os.makedirs(config.output_dir, exist_ok=True)
    study = _study(config)
    attrs = config.study_attrs()
    if study.user_attrs.get("config") not in (None, attrs):
        raise ConfigError(f"the study '{config.study_name}' in {config.storage or config.output_dir} was made "
                          f"for {json.dumps(study.user_attrs['config'], sort_keys=True)}, not "
                          f"{json.dumps(attrs, sort_keys=True)}: use another --output_dir or --study_name")
    study.set_user_attr("config", attrs)
    _write_dashboard_config(config)
    # Once, before the workers: shards (and vocabularies) every trial reads.
    prepare_data(registry.problem(config.problem), config.data_dir, config.tmp_dir,
                 random_seed=config.random_seed)
    _wait_for_stale_trials(study)
    if config.parallel == 1:
        _worker(config, 0)
    else:
        context = multiprocessing.get_context("spawn")
        workers = [context.Process(target=_worker_process, args=(config, i, logging.get_verbosity()),
                                   name=f"t2x-tuner-worker-{i}")
                   for i in range(config.parallel)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        failed = [w.name for w in workers if w.exitcode]
        if failed:
            raise RuntimeError(f"tuner workers {', '.join(failed)} failed (their tracebacks are above)")
    return write_best(config, study)


def write_best(config: TunerConfig, study) -> Dict[str, Any]:
    """``best.json``: the best complete trial and the study's counts."""
    counts = _counts(study)
    summary = {"objective": config.objective, "goal": _goal(config),
               "trials": {k.lower(): v for k, v in counts.items() if v}}
    try:
        best = study.best_trial
    except ValueError:
        best = None
    if best is not None:
        summary.update(best_trial=best.number, value=best.value, params=best.params,
                       hparams=best.user_attrs.get("hparams"), run_dir=best.user_attrs.get("run_dir"))
    write_text_atomic(os.path.join(config.output_dir, BEST_FILE), json.dumps(summary, indent=2, sort_keys=True))
    return summary


def _write_dashboard_config(config: TunerConfig) -> None:
    """The HParams dashboard's experiment in ``output_dir``: the ranged hparams (with their
    domains) and the eval metrics as columns, so ``tensorboard --logdir output_dir`` shows
    every trial as a row."""
    import tensorflow as tf
    from tensorboard.plugins.hparams import api as hp_api

    columns: List[Any] = []
    for name, spec in search_space(config.hparams_range).specs().items():
        if spec["type"] in ("categorical", "discrete"):
            domain = hp_api.Discrete(spec["values"])
        elif spec["type"] == "int":
            domain = hp_api.IntInterval(spec["min"], spec["max"])
        else:
            domain = hp_api.RealInterval(spec["min"], spec["max"])
        columns.append(hp_api.HParam(name, domain))
    metric_names = ["loss", config.metric] if config.metric != "loss" else ["loss"]
    with tf.summary.create_file_writer(config.output_dir).as_default():
        # A trial's metrics are scalars of its eval/ run, where its hparams row is written.
        hp_api.hparams_config(hparams=columns,
                              metrics=[hp_api.Metric(m, display_name=f"eval/{m}") for m in metric_names])


def best_value_line(summary: Dict[str, Any]) -> str:
    """The tuner's closing line."""
    if "best_trial" not in summary:
        return f"no trial completed ({summary['trials']})"
    value = summary["value"]
    shown = f"{value:.4f}" if isinstance(value, float) and math.isfinite(value) else str(value)
    return (f"best trial {summary['best_trial']}: {summary['objective']} {shown} with --hparams="
            f"{summary['hparams']} ({summary['run_dir']}); trials: "
            + ", ".join(f"{k} {v}" for k, v in sorted(summary["trials"].items())))
