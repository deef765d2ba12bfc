"""The library behind ``t2x-datagen``: a problem's name in, its shards written.

    lines = generate("image_mnist", data_dir="~/t2x_data", tmp_dir=None, num_processes=2)

Floor 2 (data). Every bad input is a ``T2XError`` (one line in the binary).
"""

from typing import Callable, List, Optional

from absl import logging

from t2x import registry
from t2x.data.download import DEFAULT_DATA_DIR, default_tmp_dir
from t2x.data.problem import DEFAULT_RANDOM_SEED
from t2x.errors import ConfigError
from t2x.fileio import resolve_dir


def generate(problem: str, *, data_dir: Optional[str] = None, tmp_dir: Optional[str] = None,
             task_id: int = -1, num_processes: int = 1, random_seed: int = DEFAULT_RANDOM_SEED,
             announce: Callable[[str], None] = logging.info) -> List[str]:
    """Generates ``problem``'s shards (``Problem.generate_data``); returns one summary line
    per split: ``"<problem> <split>: <n> shard(s) in <dir>: wrote ... | already complete"``."""
    if num_processes < 1:
        raise ConfigError(f"--num_processes must be >= 1, got {num_processes}")
    prob = registry.problem(problem)
    data_dir = resolve_dir("data_dir", data_dir, DEFAULT_DATA_DIR, announce)
    tmp_dir = resolve_dir("tmp_dir", tmp_dir, default_tmp_dir(data_dir), announce)
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
