"""Sharded TFRecord writing: atomic, idempotent, seeded and parallel.

``write_sharded(paths, samples_fn, encode_fn, ...)`` writes the samples that
``samples_fn()`` yields into the shards ``paths``, sample ``i`` into shard
``i % len(paths)``:

* **atomic** - a shard is written to ``<path>.tmp-<pid>`` and renamed to ``<path>`` only
  when complete and flushed to disk, so no partial shard ever has its final name;
  temporaries of dead writers are removed on the next run;
* **idempotent** - shards already present are kept; when all are, nothing is done and
  the log says so. A killed run, re-run, writes only the shards it had not finished;
* **checked** - next to each shard its writer leaves ``<shard>.count``; a rerun reads every existing shard to its end and rewrites
  one that is unreadable (truncated, overwritten) or holds another number of records, with
  a warning naming it, instead of calling it complete;
* **seeded** - with ``shuffle``, each shard's examples are shuffled by a generator seeded
  from ``seed`` and the shard's name, so the same seed gives byte-identical shards
  whatever the number of processes;
* **parallel** - with ``num_processes > 1`` the shards are split between processes
  forked from this one (fork, not spawn: a spawned child re-imports TensorFlow for ~2 s).
  Every process iterates all samples and encodes only those of its shards, so
  ``samples_fn`` must be cheap relative to ``encode_fn``, and ``encode_fn`` should not run
  TensorFlow ops (a forked child must not use thread pools its parent started; the PNG
  encoder in ``t2x.data.image`` is plain Python + zlib for this reason);
* **visible** - a progress line (shards done, examples, examples/s) every few seconds.

``write_shard`` writes one shard alone: the unit a Beam pipeline would call.
"""

import dataclasses
import multiprocessing
import os
import random
import time
import zlib
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence

from absl import logging

from t2x import fileio
from t2x.errors import DataError

PROGRESS_EVERY_S = 5.0


@dataclasses.dataclass
class WriteReport:
    """What ``write_sharded`` did."""
    num_shards: int
    shards_written: int
    shards_skipped: int
    examples_written: int
    seconds: float

    @property
    def examples_per_second(self) -> float:
        return self.examples_written / self.seconds if self.seconds > 0 else 0.0


def to_example(features: Dict[str, Sequence[Any]]):
    """``{name: list of int | float | bytes | str}`` -> ``tf.train.Example``."""
    import tensorflow as tf

    feature = {}
    for name, values in features.items():
        if not isinstance(values, (list, tuple)):
            values = [values]
        if not values:
            raise ValueError(f"feature '{name}' is empty; an empty list has no type")
        first = values[0]
        if isinstance(first, (bool, int)) or hasattr(first, "dtype") and first.dtype.kind in "iub":
            feature[name] = tf.train.Feature(int64_list=tf.train.Int64List(value=[int(v) for v in values]))
        elif isinstance(first, float) or hasattr(first, "dtype") and first.dtype.kind == "f":
            feature[name] = tf.train.Feature(float_list=tf.train.FloatList(value=[float(v) for v in values]))
        elif isinstance(first, (bytes, str)):
            data = [v.encode("utf-8") if isinstance(v, str) else v for v in values]
            feature[name] = tf.train.Feature(bytes_list=tf.train.BytesList(value=data))
        else:
            raise ValueError(f"feature '{name}': values must be int, float, bytes or str, "
                             f"got {type(first).__name__}")
    return tf.train.Example(features=tf.train.Features(feature=feature))


def shard_seed(seed: int, path: str) -> int:
    """The shuffle seed of one shard: from the run seed and the shard's file name."""
    return zlib.crc32(f"{seed}:{os.path.basename(path)}".encode())


def remove_stale_temporaries(paths: Iterable[str]) -> int:
    """Deletes ``<path>.tmp-<pid>`` files left by writers that are no longer running."""
    stale = fileio.stale_temporaries(paths)
    for path in stale:
        os.remove(path)
    return len(stale)


COUNT_SUFFIX = ".count"


def count_path(path: str) -> str:
    """The sidecar holding the number of records its writer put in shard ``path``."""
    return path + COUNT_SUFFIX


def verify_shard(path: str) -> Optional[str]:
    """None when shard ``path`` reads to its end with the record count its writer recorded
    (a shard whose sidecar is missing -- written before sidecars existed, or killed between
    the two renames -- gets one now); otherwise what is wrong."""
    import tensorflow as tf

    try:
        found = sum(1 for _ in tf.compat.v1.io.tf_record_iterator(path))
    except tf.errors.OpError as e:
        return f"unreadable ({(str(e).strip().splitlines() or [type(e).__name__])[0]})"
    try:
        with open(count_path(path), encoding="utf-8") as f:
            expected = int(f.read().strip())
    except FileNotFoundError:
        fileio.write_text_atomic(count_path(path), f"{found}\n")
        return None
    except (OSError, ValueError):
        return "has an unreadable .count sidecar"
    if found != expected:
        return f"holds {found} records where its writer wrote {expected}"
    return None


def corrupt_shards(paths: Sequence[str]) -> List[str]:
    """``"<path>: <what is wrong>"`` for each shard of ``paths`` that fails ``verify_shard``."""
    return [f"{p}: {problem}" for p in paths if (problem := verify_shard(p))]


def _write_records(path: str, records: Sequence[bytes]) -> None:
    """Writes serialized records to ``path`` atomically (temp file, fsync, rename), then
    their count to the ``.count`` sidecar (a shard complete but for its sidecar still reads
    to its end, so it is kept)."""
    import tensorflow as tf

    with fileio.atomic_path(path) as tmp:
        with tf.io.TFRecordWriter(tmp) as writer:
            for record in records:
                writer.write(record)
    fileio.write_text_atomic(count_path(path), f"{len(records)}\n")


class _Progress:
    """Counts examples and shards; in a worker the counts go to shared values."""

    def __init__(self, description: str, total_shards: int, shared=None):
        self.description = description
        self.total_shards = total_shards
        self.shared = shared  # (examples Value, shards Value) in a worker process
        self.examples = 0
        self.shards = 0
        self.start = time.monotonic()
        self._last_log = self.start

    def add(self, examples: int = 0, shards: int = 0) -> None:
        if self.shared is not None:
            with self.shared[0].get_lock():
                self.shared[0].value += examples
            with self.shared[1].get_lock():
                self.shared[1].value += shards
            return
        self.examples += examples
        self.shards += shards
        self.maybe_log()

    def maybe_log(self, force: bool = False, examples=None, shards=None) -> None:
        now = time.monotonic()
        if not force and now - self._last_log < PROGRESS_EVERY_S:
            return
        self._last_log = now
        examples = self.examples if examples is None else examples
        shards = self.shards if shards is None else shards
        rate = examples / max(now - self.start, 1e-9)
        logging.info("%s: %d/%d shards, %d examples, %.0f examples/s",
                     self.description, shards, self.total_shards, examples, rate)


def write_shard(path: str, samples: Iterable[Any], encode_fn: Callable[[Any], Dict[str, list]],
                shard_index: int, num_shards: int, seed: int, shuffle: bool) -> int:
    """Writes shard ``shard_index`` of ``num_shards`` (samples ``i % num_shards == shard_index``)
    atomically to ``path``; returns the number of examples written."""
    records = [to_example(encode_fn(s)).SerializeToString(deterministic=True)
               for i, s in enumerate(samples) if i % num_shards == shard_index]
    if shuffle:
        random.Random(shard_seed(seed, path)).shuffle(records)
    _write_records(path, records)
    return len(records)


def _write_owned(paths: List[str], owned: List[int], samples_fn, encode_fn, seed: int,
                 shuffle: bool, progress: _Progress) -> int:
    """Writes the shards ``owned`` (indices into ``paths``) from one pass over the samples."""
    n = len(paths)
    owned_set = set(owned)
    buffers: Dict[int, List[bytes]] = {k: [] for k in owned}
    pending, seen = 0, 0
    for i, sample in enumerate(samples_fn()):
        seen += 1
        k = i % n
        if k in owned_set:
            buffers[k].append(to_example(encode_fn(sample)).SerializeToString(deterministic=True))
            pending += 1
            if pending >= 1000:
                progress.add(examples=pending)
                pending = 0
    progress.add(examples=pending)
    if not seen:
        raise DataError(f"{progress.description}: generate_samples yielded no samples (an empty "
                        "source file?); no shard was written")
    total = 0
    for k in owned:
        records = buffers.pop(k)
        if shuffle:
            random.Random(shard_seed(seed, paths[k])).shuffle(records)
        _write_records(paths[k], records)
        total += len(records)
        progress.add(shards=1)
    return total


def _worker_main(paths, owned, samples_fn, encode_fn, seed, shuffle, description, shared):
    """Entry point of a forked writer process; exit code 0 on success."""
    try:
        _write_owned(paths, owned, samples_fn, encode_fn, seed, shuffle,
                     _Progress(description, len(paths), shared))
    except BaseException as e:  # report, then fail the process: the parent raises
        logging.error("%s: writer process %d failed: %s: %s", description, os.getpid(),
                      type(e).__name__, e)
        os._exit(1)
    os._exit(0)


def write_sharded(paths: Sequence[str], samples_fn: Callable[[], Iterable[Any]],
                  encode_fn: Callable[[Any], Dict[str, list]], *, seed: int = 0,
                  shuffle: bool = True, num_processes: int = 1, task_id: int = -1,
                  description: str = "") -> WriteReport:
    """Writes ``samples_fn()`` into the shards ``paths`` (see the module docstring).

    ``task_id >= 0`` restricts this call to shards ``k % num_processes == task_id`` and
    writes them in this process (several machines, one task each).
    """
    paths = list(paths)
    n = len(paths)
    description = description or os.path.basename(paths[0]).rsplit("-", 4)[0]
    start = time.monotonic()
    remove_stale_temporaries(paths)
    todo = []
    for k in range(n):
        problem = verify_shard(paths[k]) if os.path.exists(paths[k]) else "missing"
        if problem and problem != "missing":
            logging.warning("%s: %s %s: rewriting it", description, paths[k], problem)
            os.remove(paths[k])
        if problem:
            todo.append(k)
    if task_id >= 0:
        todo = [k for k in todo if k % max(num_processes, 1) == task_id]
        num_processes = 1
    if not todo:
        logging.info("%s: all %d shards already exist in %s; nothing to do "
                     "(delete them to regenerate)", description, n, os.path.dirname(paths[0]))
        return WriteReport(n, 0, n, 0, time.monotonic() - start)
    if len(todo) < n:
        logging.info("%s: %d of %d shards exist; writing the other %d", description,
                     n - len(todo), n, len(todo))
    num_processes = max(1, min(num_processes, len(todo)))
    import tensorflow  # noqa: F401  (before the clock; forked writers inherit it)

    progress = _Progress(description, len(todo))
    if num_processes == 1:
        written = _write_owned(paths, todo, samples_fn, encode_fn, seed, shuffle, progress)
    else:
        written = _write_parallel(paths, todo, samples_fn, encode_fn, seed, shuffle,
                                  num_processes, progress, description)
    progress.maybe_log(force=True, examples=written, shards=len(todo))
    return WriteReport(n, len(todo), n - len(todo), written, time.monotonic() - start)


def _write_parallel(paths, todo, samples_fn, encode_fn, seed, shuffle, num_processes,
                    progress: _Progress, description: str) -> int:
    ctx = multiprocessing.get_context("fork")
    examples, shards = ctx.Value("q", 0), ctx.Value("q", 0)
    groups = [todo[p::num_processes] for p in range(num_processes)]
    procs = [ctx.Process(target=_worker_main, daemon=True,
                         args=(paths, group, samples_fn, encode_fn, seed, shuffle,
                               description, (examples, shards)))
             for group in groups]
    for proc in procs:
        proc.start()
    try:
        while any(p.is_alive() for p in procs):
            for p in procs:
                p.join(timeout=0.5)
            progress.maybe_log(examples=examples.value, shards=shards.value)
    except BaseException:
        for p in procs:
            p.terminate()
        for p in procs:
            p.join()
        raise
    failed = [p for p in procs if p.exitcode != 0]
    if failed:
        raise RuntimeError(
            f"{description}: {len(failed)} of {num_processes} writer processes failed "
            f"(exit codes {[p.exitcode for p in failed]}); the shards they finished are kept, "
            "re-run to write the rest (the error is logged above)")
    return examples.value
