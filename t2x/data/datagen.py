"""The library behind ``t2x-datagen``: a problem's name in, its shards written.

    lines = generate("image_mnist", data_dir="~/t2x_data", tmp_dir=None, num_processes=2)
    lines = generate("translate_from_files", beam_pipeline_options="")  # Beam, 2 local workers

``beam_pipeline_options`` (not None) writes the shards with an Apache Beam pipeline
(``t2x.data.beam``) instead of this machine's forked writers; the shards are the same bytes.
Floor 2 (data). Every bad input is a ``T2XError`` (one line in the binary).
"""

import os
from typing import Callable, List, Optional

from absl import logging

from t2x import registry
from t2x.data.download import DEFAULT_DATA_DIR, default_tmp_dir
from t2x.data.problem import DEFAULT_RANDOM_SEED
from t2x.errors import ConfigError
from t2x.fileio import resolve_dir


def generate(problem: str, *, data_dir: Optional[str] = None, tmp_dir: Optional[str] = None,
             task_id: int = -1, num_processes: int = 1, random_seed: int = DEFAULT_RANDOM_SEED,
             announce: Callable[[str], None] = logging.info,
             beam_pipeline_options: Optional[str] = None, usr_dir: Optional[str] = None) -> List[str]:
    """Generates ``problem``'s shards (``Problem.generate_data``, or with
    ``beam_pipeline_options`` a Beam pipeline whose workers import ``usr_dir``); returns one
    summary line per split:
    ``"<problem> <split>: <n> shard(s) in <dir>: wrote ... | already complete"``."""
    if num_processes < 1:
        raise ConfigError(f"--num_processes must be >= 1, got {num_processes}")
    if not -1 <= task_id < num_processes:
        raise ConfigError(f"--task_id={task_id} is outside [0, --num_processes={num_processes}): machine "
                          f"task_id of num_processes writes the shards whose index % num_processes == task_id; "
                          "give each machine --task_id=0..num_processes-1 (or -1: all shards here)")
    if beam_pipeline_options is not None and (num_processes != 1 or task_id >= 0):
        raise ConfigError("--beam splits the shards between Beam's workers: drop --num_processes/"
                          "--task_id (set the workers in --beam_pipeline_options, e.g. "
                          "--direct_num_workers=4)")
    prob = registry.problem(problem)
    data_dir = resolve_dir("data_dir", data_dir, DEFAULT_DATA_DIR, announce)
    tmp_dir = resolve_dir("tmp_dir", tmp_dir, default_tmp_dir(data_dir), announce)
    for flag, path in (("data_dir", data_dir), ("tmp_dir", tmp_dir)):
        if os.path.exists(path) and not os.path.isdir(path):
            raise ConfigError(f"--{flag}={path} is a file, not a directory: name a directory (made if missing)")
    if beam_pipeline_options is not None:
        from t2x.data import beam

        beam.require_beam()
        logging.info("Generating %s in %s with Beam (raw files in %s, seed %d)",
                     prob.name, data_dir, tmp_dir, random_seed)
        reports = beam.write_problem(prob, data_dir, tmp_dir, random_seed=random_seed,
                                     pipeline_options_flags=beam_pipeline_options, usr_dir=usr_dir)
    else:
        logging.info("Generating %s in %s (raw files in %s, seed %d, %d process(es))",
                     prob.name, data_dir, tmp_dir, random_seed, num_processes)
        reports = prob.generate_data(data_dir, tmp_dir, task_id, num_processes=num_processes,
                                     random_seed=random_seed)
    lines = []
    for split, r in reports.items():
        state = ("already complete" if r.shards_written == 0 else
                 f"wrote {r.shards_written} shard(s), {r.examples_written} examples "
                 f"in {r.seconds:.1f} s ({r.examples_per_second:.0f} examples/s)")
        lines.append(f"{prob.name} {split}: {r.num_shards} shard(s) in {data_dir}: {state}")
    return lines
