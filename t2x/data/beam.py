"""Apache Beam datagen: a problem's shards written by a Beam pipeline, one element per shard.

    reports = write_problem(problem, data_dir, tmp_dir, random_seed=DEFAULT_RANDOM_SEED,
                            pipeline_options_flags="--runner=FnApiRunner --direct_num_workers=2 "
                                                   "--direct_running_mode=multi_processing")

(``t2x-datagen --beam [--beam_pipeline_options=...]`` calls it.) The work is split as in
``Problem.generate_data``, only the engine differs:

* **launcher** (this process): lists the shards to write -- missing ones, and existing ones
  that fail ``generator_utils.verify_shard`` (removed first); removes dead writers'
  temporaries; runs ``prepare_data`` once (downloads, vocabulary) when a shard is missing;
  then runs the pipeline ``Create([(split, shard index), ...]) | Reshuffle | ParDo(WriteShard)``
  and, when it ends, verifies every shard of every split (a ``DataError`` names the bad ones);
* **workers** (``WriteShard``, a ``DoFn``): ``setup`` re-creates the problem from its registry
  name in the worker (the built-in catalogue, ``--t2x_usr_dir`` when given, the launcher's
  gin bindings); ``process`` writes one shard with ``Problem.generate_shard``, the very code
  of the local writer (sample ``i`` of the split goes to shard ``i % n``; streamed through a
  run file; shuffled with the generator seeded by (seed, shard name); written to
  ``<shard>.tmp-<pid>`` and renamed only when complete, then its ``.count`` sidecar). The
  shards are therefore byte-identical to ``t2x-datagen`` without ``--beam`` for the same
  seed, and a killed worker or launcher leaves no partial file under a final name; a rerun
  writes what is missing. A retried element rewrites its shard with the same bytes.

Every worker reads the raw files (``tmp_dir``) and the vocabulary (``data_dir``) and writes
into ``data_dir`` with plain file operations, so on a cluster both must be one filesystem
that every worker mounts at the same path (NFS, Filestore, a gcsfuse mount); workers need
t2x installed (Dataflow: ``--setup_file=./setup.py`` or a container image).

The local default is Beam's ``FnApiRunner`` with ``--direct_num_workers=2
--direct_running_mode=multi_processing``: the engine ``--runner=DirectRunner`` runs batch
pipelines on. (Beam 2.77's ``DirectRunner`` first tries the Prism runner, downloading its
binary from GitHub -- offline it logs the failure and falls back -- and Prism does not run
``direct_num_workers`` processes.)

``apache-beam`` is an extra (``pip install -e ".[beam]"``); importing this module without it
works, using it raises a ``BeamMissingError`` saying how to install it.
"""

import logging as std_logging
import os
import shlex
import threading
import time
from typing import Dict, List, Optional, Sequence, Tuple

from absl import logging

from t2x.data import generator_utils
from t2x.errors import ConfigError, DataError, T2XError, did_you_mean

try:
    import apache_beam as beam
except ImportError:  # an extra: the error says how to install it when it is used
    beam = None

DEFAULT_PIPELINE_OPTIONS = ("--runner=FnApiRunner --direct_num_workers=2 "
                            "--direct_running_mode=multi_processing")


class BeamMissingError(T2XError, ImportError):
    """``--beam`` without ``apache-beam`` installed."""


def require_beam() -> None:
    if beam is None:
        raise BeamMissingError("--beam needs Apache Beam: pip install -e \".[beam]\" "
                               "(or pip install apache-beam)")


def pipeline_options(flags: str):
    """``PipelineOptions`` from a string of Beam's own flags (``""``: the default,
    ``DEFAULT_PIPELINE_OPTIONS``, 2 worker processes on this machine). An option no Beam
    options class knows is a ``ConfigError`` naming the closest known ones (Beam itself
    would only warn); so are unbalanced quotes and a ``--runner`` Beam cannot create
    (checked by creating it: no pipeline runs)."""
    require_beam()
    from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
    from apache_beam.runners.runner import create_runner

    try:
        argv = shlex.split(flags or DEFAULT_PIPELINE_OPTIONS)
    except ValueError as e:  # shlex: "No closing quotation", "No escaped character"
        raise ConfigError(f"--beam_pipeline_options={flags!r} cannot be split into flags ({e}); close "
                          "its quotes, e.g. --beam_pipeline_options=\"--runner=FnApiRunner "
                          "--direct_num_workers=2\"") from None
    stray = [a for a in argv if not a.startswith("-")]
    if stray and not any(a.startswith("-") and "=" not in a for a in argv):
        raise ConfigError(f"--beam_pipeline_options: {stray[0]!r} is not a --flag; Beam's options are "
                          "--name=value, e.g. --runner=FnApiRunner --direct_num_workers=2")
    options = PipelineOptions(argv)
    runner = options.view_as(StandardOptions).runner
    if runner:
        try:
            create_runner(runner)
        except (ValueError, ImportError) as e:
            known = ("DirectRunner, FnApiRunner, PrismRunner, DataflowRunner, FlinkRunner, SparkRunner, "
                     "PortableRunner")
            hint = did_you_mean(runner, known.split(", "), cutoff=0.8, prefix=" (did you mean ", suffix="?)")
            why = f" (cannot import it: {e})" if isinstance(e, ImportError) else ""
            raise ConfigError(f"--beam_pipeline_options: --runner={runner} is not a Beam runner{hint}{why}; "
                              f"use one of {known}, or a runner class's full path (my.module.MyRunner)") from None
    beam_logger = std_logging.getLogger("apache_beam.options.pipeline_options")
    level = beam_logger.level
    beam_logger.setLevel(std_logging.ERROR)  # its "Discarding unparseable args": ours says more
    try:
        known = options.get_all_options(drop_default=False)
        unknown = sorted(set(options.get_all_options(retain_unknown_options=True)) - set(known))
    finally:
        beam_logger.setLevel(level)
    if unknown:
        hint = did_you_mean(unknown[0], known, prefix=" (did you mean --", joiner=" or --", suffix="?)")
        raise ConfigError(f"--beam_pipeline_options: unknown Beam option --{unknown[0]}{hint}; "
                          "see Beam's pipeline options (--runner, --direct_num_workers, "
                          "--direct_running_mode, Dataflow's --project/--region/--temp_location...)")
    return options


def _launcher_gin_config() -> str:
    """The launcher's gin bindings, as text a worker parses (paths of *_from_files problems)."""
    import gin

    return gin.config_str()


class WriteShard(beam.DoFn if beam is not None else object):
    """The worker's part: writes shard ``(split, index)`` of a problem; yields
    ``(split, path, examples)``. Runs in a Beam worker process (any runner); holds only
    strings, so it pickles by reference to this module."""

    def __init__(self, problem_name: str, data_dir: str, tmp_dir: str, random_seed: int,
                 usr_dir: Optional[str] = None, gin_config: str = ""):
        self.problem_name, self.data_dir, self.tmp_dir = problem_name, data_dir, tmp_dir
        self.random_seed, self.usr_dir, self.gin_config = random_seed, usr_dir, gin_config
        self._problem = None

    def setup(self):
        """Once per worker: the problem, re-created from its name with the launcher's config."""
        import gin

        from t2x import catalogue, registry

        catalogue.load()
        if self.usr_dir:
            catalogue.import_usr_dir(self.usr_dir)
        if self.gin_config:
            gin.parse_config(self.gin_config, skip_unknown=True)
        self._problem = registry.problem(self.problem_name)

    def process(self, element: Tuple[str, int]):
        split, index = element
        path = self._problem.generate_shard(self.data_dir, self.tmp_dir, split, index,
                                            random_seed=self.random_seed)
        examples = _count(path)
        logging.info("wrote %s: %d examples (worker process %d)", path, examples, os.getpid())
        yield split, path, examples


def write_problem(problem, data_dir: str, tmp_dir: str, *, random_seed: int,
                  pipeline_options_flags: str = "", usr_dir: Optional[str] = None
                  ) -> Dict[str, generator_utils.WriteReport]:
    """Launcher: writes ``problem``'s missing shards with a Beam pipeline (module docstring);
    returns ``{split: WriteReport}`` as ``Problem.generate_data`` does. ``problem`` is a
    registered instance (workers re-create it by ``problem.full_name``)."""
    options = pipeline_options(pipeline_options_flags)
    start = time.monotonic()
    plan = problem.generation_plan(data_dir)
    todo = {description: [paths[k] for k in generator_utils.shards_to_write(paths, f"{problem.name} {description}",
                                                                            random_seed)]
            for description, paths, _ in plan}
    wanted = {p for paths in todo.values() for p in paths}
    elements = [(spec.split, k) for spec in problem.dataset_splits
                for k, p in enumerate(problem.filepaths(data_dir, spec.split, spec.num_shards)) if p in wanted]
    if elements:
        os.makedirs(data_dir, exist_ok=True)
        os.makedirs(tmp_dir, exist_ok=True)
        problem.prepare_data(data_dir, tmp_dir)
        logging.info("%s: writing %d shard(s) with Beam (%s)", problem.name, len(elements),
                     pipeline_options_flags or DEFAULT_PIPELINE_OPTIONS)
        with _ShardProgress(f"{problem.name} (Beam)", sorted(wanted)):
            _run(options, elements, WriteShard(problem.full_name, data_dir, tmp_dir, random_seed,
                                               usr_dir, _launcher_gin_config()))
    seconds = time.monotonic() - start
    all_paths = [p for _, paths, _ in plan for p in paths]
    bad = [p for p in all_paths if not os.path.exists(p)] + generator_utils.corrupt_shards(
        [p for p in all_paths if os.path.exists(p)], random_seed)
    if bad:
        raise DataError(f"{problem.name}: after the Beam pipeline, {len(bad)} shard(s) are missing or "
                        f"bad ({', '.join(bad[:3])}); rerun to write them")
    return {description: generator_utils.WriteReport(
                len(paths), len(todo[description]), len(paths) - len(todo[description]),
                sum(_count(p) for p in todo[description]), seconds)
            for description, paths, _ in plan}


class _ShardProgress:
    """Launcher: while the pipeline runs, a thread logs every ``PROGRESS_EVERY_S`` how many
    of ``paths`` have their final name, with an ETA from the shards/s so far (Beam's runners
    report no progress of their own to the launcher)."""

    def __init__(self, description: str, paths: Sequence[str]):
        self.description, self.paths = description, list(paths)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self):
        self._start = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def _loop(self):
        while not self._stop.wait(generator_utils.PROGRESS_EVERY_S):
            done = sum(os.path.exists(p) for p in self.paths)
            elapsed = time.monotonic() - self._start
            eta = (generator_utils.format_duration((len(self.paths) - done) * elapsed / done)
                   if done else "unknown")
            logging.info("%s: %d/%d shards written, %.0f s, ETA %s", self.description, done,
                         len(self.paths), elapsed, eta)


def _count(path: str) -> int:
    return generator_utils.read_sidecar(path)["records"]


def _run(options, elements: Sequence[Tuple[str, int]], write_fn: WriteShard) -> None:
    """Runs ``Create(elements) | Reshuffle | ParDo(write_fn)`` to its end. A worker's
    ``T2XError`` arrives wrapped by the runner: its one line is raised again as a DataError."""
    beam_logger = std_logging.getLogger("apache_beam")
    if beam_logger.level == std_logging.NOTSET and logging.get_verbosity() < logging.DEBUG:
        beam_logger.setLevel(std_logging.WARNING)  # its INFO relays every worker's log line
    try:
        with beam.Pipeline(options=options) as pipeline:
            _ = (pipeline
                 | "Shards" >> beam.Create(list(elements))
                 | "Spread" >> beam.Reshuffle()
                 | "WriteShard" >> beam.ParDo(write_fn))
    except T2XError:
        raise
    except Exception as e:  # the runner's wrapper of a worker's exception
        line = _t2x_error_line(str(e))
        if line is None:
            raise
        raise DataError(f"a Beam worker failed: {line}") from e


def _t2x_error_line(text: str) -> Optional[str]:
    """The message of the last ``T2XError`` (any subclass) a runner's error text names."""
    names, todo = set(), [T2XError]
    while todo:
        cls = todo.pop()
        names.add(cls.__name__)
        todo.extend(cls.__subclasses__())
    found: List[str] = []
    for line in text.splitlines():
        head, sep, message = line.strip().partition(": ")
        if sep and head.rsplit(".", 1)[-1] in names:
            found.append(message.strip())
    return found[-1] if found else None
