"""Sharded TFRecord writing: atomic, idempotent, seeded, streaming and parallel.

``write_sharded(paths, samples_fn, encode_fn, ...)`` writes the samples that
``samples_fn()`` yields into the shards ``paths``, sample ``i`` into shard
``i % len(paths)``:

* **atomic** - a shard is written to ``<path>.tmp-<pid>`` and renamed to ``<path>`` only
  when complete and flushed to disk, so no partial shard ever has its final name;
  temporaries of dead writers are removed on the next run;
* **idempotent** - shards already present are kept; when all are, nothing is done and
  the log says so. A killed run, re-run, writes only the shards it had not finished;
* **checked** - next to each shard its writer leaves a sidecar ``<shard>.count``, one line
  of JSON: the shard's name, its number of records, the sha256 of its bytes and the seed
  it was written with. A rerun checks every existing shard against its sidecar and rewrites,
  with a warning naming it and why, each one that is not what its writer wrote: cut between
  or inside records, bytes overwritten, replaced by another problem's or seed's shard, a
  sidecar that is missing, unreadable, stale (another write's) or names another shard, or a
  shard written with another seed than the rest of its split. The others are kept byte for
  byte (a whole split written with another seed is kept too, with a line saying so: training
  with another ``--random_seed`` does not rewrite the data);
* **seeded** - with ``shuffle``, each shard's examples are shuffled by a generator seeded
  from ``seed`` and the shard's name, so the same seed gives byte-identical shards
  whatever the number of processes (and whether ``write_sharded``, ``write_shard`` or a
  Beam worker wrote them);
* **streaming** - memory does not grow with the corpus: a writer appends each encoded
  record to one unshuffled *run file* on disk (``<first shard>.run.tmp-<pid>``, next to the
  shards) and keeps only its offset; then, shard by shard, it draws the seeded permutation
  of the shard's record indices (``random.Random(shard_seed).shuffle``, the very permutation
  an in-memory shuffle of the records would apply) and copies the records from the run file
  in that order into the shard. Peak memory is three 8-byte integers (offset, length,
  place in the permutation) per record of the shard being written, plus a bounded index
  buffer, never the records; the run file needs free disk of about the size of the shards
  it writes, and is removed when they are (or, after a kill, by the next run);
* **parallel** - with ``num_processes > 1`` the shards are split between processes
  forked from this one (fork, not spawn: a spawned child re-imports TensorFlow for ~2 s).
  Every process iterates all samples and encodes only those of its shards, so
  ``samples_fn`` must be cheap relative to ``encode_fn``, and ``encode_fn`` should not run
  TensorFlow ops (a forked child must not use thread pools its parent started; the PNG
  encoder in ``t2x.data.image`` is plain Python + zlib for this reason);
* **visible** - a progress line (shards done, examples, examples/s) every few seconds, with
  the share done and an ETA when the number of samples is known (``num_samples``).

``write_shard`` writes one shard alone, by the same code: the unit a Beam worker calls
(``t2x.data.beam``).
"""

import array
import contextlib
import dataclasses
import errno
import hashlib
import json
import multiprocessing
import os
import random
import time
import zlib
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

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


COUNT_SUFFIX = ".count"
RUN_SUFFIX = ".run"


def remove_stale_temporaries(paths: Iterable[str]) -> int:
    """Deletes the temporaries (``<path>.tmp-<pid>``, run files ``<path>.run.tmp-<pid>``,
    sidecars ``<path>.count.tmp-<pid>``) left by writers that are no longer running."""
    paths = list(paths)
    stale = fileio.stale_temporaries(paths + [p + RUN_SUFFIX for p in paths]
                                     + [p + COUNT_SUFFIX for p in paths])
    for path in stale:
        os.remove(path)
    return len(stale)


def count_path(path: str) -> str:
    """The sidecar recording what its writer put in shard ``path`` (see ``verify_shard``)."""
    return path + COUNT_SUFFIX


def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_sidecar(path: str) -> Optional[Dict[str, Any]]:
    """The record of shard ``path``'s writer: ``{"shard", "records", "sha256", "seed"}``
    (a sidecar of t2x before content checksums holds only the number: ``{"records": N}``);
    None when there is no sidecar. ``ValueError`` when it cannot be read."""
    try:
        with open(count_path(path), encoding="utf-8") as f:
            text = f.read().strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(str(e)) from e
    if text.isdigit():
        return {"records": int(text)}
    record = json.loads(text)  # a JSONDecodeError is a ValueError
    if not isinstance(record, dict) or not isinstance(record.get("records"), int):
        raise ValueError(f"not a shard record: {text[:80]!r}")
    return record


def _count_records(path: str) -> Tuple[Optional[int], Optional[str]]:
    """(records, None) when ``path`` reads to its end, else (None, what TF said)."""
    import tensorflow as tf

    try:
        return sum(1 for _ in tf.compat.v1.io.tf_record_iterator(path)), None
    except tf.errors.OpError as e:
        return None, (str(e).strip().splitlines() or [type(e).__name__])[0]


def verify_shard(path: str, seed: Optional[int] = None) -> Optional[str]:
    """None when shard ``path`` holds exactly the bytes its writer recorded in its sidecar
    (and, with ``seed``, was written with that seed); otherwise what is wrong, in words.
    Reads the shard once (its sha256); a damaged one is read again as records to say how."""
    name = os.path.basename(path)
    try:
        record = read_sidecar(path)
    except ValueError:
        return f"has an unreadable {COUNT_SUFFIX} sidecar"
    if record is None:
        return (f"has no {COUNT_SUFFIX} sidecar (its writer was killed before writing it, or "
                "it was deleted), so it cannot be checked")
    if record.get("shard", name) != name:
        return f"has the sidecar of another shard ({record['shard']}): a copy from elsewhere"
    if seed is not None and "seed" in record and record["seed"] != seed:
        return f"was written with seed {record['seed']}, this run's is {seed}"
    expected = record["records"]
    if "sha256" in record and file_sha256(path) == record["sha256"]:
        return None
    found, unreadable = _count_records(path)
    if unreadable:
        return f"unreadable ({unreadable})"
    if found != expected:
        return f"holds {found} records where its writer wrote {expected}"
    if "sha256" in record:
        return ("holds other bytes than its writer wrote (its sha256 differs from the sidecar's: "
                "overwritten, or replaced by another problem's or seed's shard)")
    return None  # a sidecar of t2x before checksums: the record count is all it says


def corrupt_shards(paths: Sequence[str], seed: Optional[int] = None) -> List[str]:
    """``"<path>: <what is wrong>"`` for each shard of ``paths`` that fails ``verify_shard``."""
    return [f"{p}: {problem}" for p in paths if (problem := verify_shard(p, seed))]


def _recorded_seeds(paths: Sequence[str]) -> set:
    """The seeds the sidecars of the existing shards ``paths`` record."""
    seeds = set()
    for path in paths:
        try:
            record = read_sidecar(path) if os.path.exists(path) else None
        except ValueError:
            continue
        if record and "seed" in record:
            seeds.add(record["seed"])
    return seeds


def data_seed(paths: Sequence[str]) -> Optional[int]:
    """The seed most of the shards ``paths`` were written with (by their sidecars), or None."""
    seeds: Dict[int, int] = {}
    for path in paths:
        try:
            seed = (read_sidecar(path) or {}).get("seed")
        except ValueError:
            continue
        if seed is not None:
            seeds[seed] = seeds.get(seed, 0) + 1
    return max(seeds, key=seeds.get) if seeds else None


def _write_records(path: str, records: Iterable[bytes], seed: int) -> int:
    """Writes serialized records to ``path`` atomically (temp file, fsync, rename), then
    the sidecar (name, count, sha256, seed; see ``verify_shard``). Returns the count."""
    import tensorflow as tf

    count = 0
    with fileio.atomic_path(path) as tmp:
        with tf.io.TFRecordWriter(tmp) as writer:
            for record in records:
                writer.write(record)
                count += 1
        digest = file_sha256(tmp)
    sidecar = {"shard": os.path.basename(path), "records": count, "sha256": digest, "seed": seed}
    fileio.write_text_atomic(count_path(path), json.dumps(sidecar, sort_keys=True) + "\n")
    return count


def _serialize(features: Dict[str, Sequence[Any]]) -> bytes:
    return to_example(features).SerializeToString(deterministic=True)


class _RunFile:
    """The records of some shards, in sample order, in one temporary file on disk.

    ``add(k, record)`` appends a record of shard ``k`` and keeps its (offset, length) in a
    small per-shard buffer; every ``INDEX_FLUSH`` records the buffers go to the same file as
    index chunks, so memory stays bounded however many records pass. ``write_shard`` reads
    one shard's index back, permutes it with the shard's seeded generator and copies the
    records into the shard (``os.pread``: no mapping, nothing of the file in this process's
    memory). A context manager: the file is removed on exit, whatever happened.
    """

    INDEX_FLUSH = 1 << 16

    def __init__(self, owner_path: str, shards: Iterable[int]):
        self.path = fileio.tmp_path(os.path.abspath(owner_path) + RUN_SUFFIX)
        self._file = open(self.path, "w+b", buffering=1 << 20)
        self._pos = 0
        self._pending = {k: array.array("q") for k in shards}  # offset, length, offset, ...
        self._chunks: Dict[int, List[Tuple[int, int]]] = {k: [] for k in self._pending}
        self._num_pending = 0

    def __enter__(self) -> "_RunFile":
        return self

    def __exit__(self, *exc) -> None:
        try:
            self._file.close()  # may fail itself (a full disk when flushing its buffer)
        finally:
            if os.path.exists(self.path):
                os.remove(self.path)

    @property
    def shards(self) -> List[int]:
        return list(self._pending)

    def add(self, shard: int, record: bytes) -> None:
        self._pending[shard].extend((self._pos, len(record)))
        self._file.write(record)
        self._pos += len(record)
        self._num_pending += 1
        if self._num_pending >= self.INDEX_FLUSH:
            self._flush_index()

    def _flush_index(self) -> None:
        for shard, pending in self._pending.items():
            if pending:
                data = pending.tobytes()
                self._chunks[shard].append((self._pos, len(pending) // 2))
                self._file.write(data)
                self._pos += len(data)
                del pending[:]
        self._num_pending = 0

    def write_shard(self, shard: int, path: str, seed: int, shuffle: bool) -> int:
        """Writes the records of ``shard`` to ``path`` (atomically, with its ``.count``), in
        the order ``random.Random(shard_seed(seed, path)).shuffle`` gives a list of them, or
        in sample order without ``shuffle``; returns their number."""
        self._flush_index()
        self._file.flush()
        fd = self._file.fileno()
        index = array.array("q")
        for pos, count in self._chunks[shard]:
            index.frombytes(os.pread(fd, count * 2 * index.itemsize, pos))
        order = array.array("q", range(len(index) // 2))
        if shuffle:  # the swaps depend on the length alone: the permutation of a record list
            random.Random(shard_seed(seed, path)).shuffle(order)
        return _write_records(path, (os.pread(fd, index[2 * i + 1], index[2 * i]) for i in order), seed)


def _stream_samples(run: _RunFile, samples: Iterable[Any], encode_fn, num_shards: int,
                    description: str, progress: Optional["_Progress"] = None) -> None:
    """Encodes sample ``i`` into ``run`` when shard ``i % num_shards`` is one of the run's;
    a ``DataError`` when there are no samples at all."""
    shards = set(run.shards)
    seen = pending = 0
    for i, sample in enumerate(samples):
        seen += 1
        k = i % num_shards
        if k in shards:
            run.add(k, _serialize(encode_fn(sample)))
            pending += 1
            if progress is not None and pending >= 1000:
                progress.add(examples=pending)
                pending = 0
    if progress is not None:
        progress.add(examples=pending)
    if not seen:
        raise DataError(f"{description}: generate_samples yielded no samples (an empty "
                        "source file?); no shard was written")


class _Progress:
    """Counts examples and shards; in a worker the counts go to shared values.
    ``total_examples`` (when known) adds the share done and an ETA to the log line."""

    def __init__(self, description: str, total_shards: int, shared=None,
                 total_examples: Optional[int] = None):
        self.description = description
        self.total_shards = total_shards
        self.total_examples = total_examples
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
        if self.total_examples and shards < self.total_shards:
            left = max(self.total_examples - examples, 0)
            logging.info("%s: %d/%d shards, %d of ~%d examples (%.0f%%), %.0f examples/s, ETA %s",
                         self.description, shards, self.total_shards, examples, self.total_examples,
                         100.0 * min(examples / self.total_examples, 1.0), rate,
                         format_duration(left / rate) if rate > 0 else "unknown")
        else:
            logging.info("%s: %d/%d shards, %d examples, %.0f examples/s",
                         self.description, shards, self.total_shards, examples, rate)


def format_duration(seconds: float) -> str:
    """``3725`` -> ``"1h02m"``, ``125`` -> ``"2m05s"``, ``7.2`` -> ``"7s"``."""
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


def write_shard(path: str, samples: Iterable[Any], encode_fn: Callable[[Any], Dict[str, list]],
                shard_index: int, num_shards: int, seed: int, shuffle: bool) -> int:
    """Writes shard ``shard_index`` of ``num_shards`` (samples ``i % num_shards == shard_index``)
    atomically to ``path``, byte for byte what ``write_sharded`` writes there; returns the
    number of examples written. Streams through a run file next to ``path``: memory holds
    three integers per record of the shard, not the records. Runs where it is called (a Beam
    worker, ``Problem.generate_shard``)."""
    with disk_errors(path), _RunFile(path, [shard_index]) as run:
        _stream_samples(run, samples, encode_fn, num_shards, os.path.basename(path))
        return run.write_shard(shard_index, path, seed, shuffle)


def _write_owned(paths: List[str], owned: List[int], samples_fn, encode_fn, seed: int,
                 shuffle: bool, progress: _Progress) -> int:
    """Writes the shards ``owned`` (indices into ``paths``) from one pass over the samples,
    streamed through one run file."""
    with _RunFile(paths[owned[0]], owned) as run:
        _stream_samples(run, samples_fn(), encode_fn, len(paths), progress.description, progress)
        total = 0
        for k in owned:
            total += run.write_shard(k, paths[k], seed, shuffle)
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


def shards_to_write(paths: Sequence[str], description: str, seed: Optional[int] = None) -> List[int]:
    """The indices of ``paths`` to (re)write: missing shards, and existing ones that fail
    ``verify_shard`` (with ``seed``: written with another seed too, unless every existing
    shard was written with one and the same other seed: that split is kept, and said so),
    removed with a warning naming each and why. Dead writers' temporaries are removed first."""
    remove_stale_temporaries(paths)
    recorded = _recorded_seeds(paths)
    if seed is not None and len(recorded) == 1 and seed not in recorded:
        kept = recorded.pop()  # a whole split of another seed is data, not damage
        logging.info("%s: the shards in %s were written with seed %d (this run's is %d); kept "
                     "(delete them to regenerate with seed %d)", description,
                     os.path.dirname(paths[0]), kept, seed, seed)
        seed = kept
    todo = []
    for k, path in enumerate(paths):
        problem = verify_shard(path, seed) if os.path.exists(path) else "missing"
        if problem and problem != "missing":
            logging.warning("%s: %s %s: rewriting it", description, path, problem)
            os.remove(path)
            if os.path.exists(count_path(path)):
                os.remove(count_path(path))
        if problem:
            todo.append(k)
    return todo


# Errors of the disk, not of t2x: the one line says which directory and what to do.
_DISK_ERRNOS = {errno.ENOSPC: "no space left", errno.EDQUOT: "disk quota exceeded",
                errno.EFBIG: "file too large for this filesystem or process limit",
                errno.EROFS: "read-only filesystem", errno.EACCES: "permission denied"}


@contextlib.contextmanager
def disk_errors(path: str):
    """Turns a disk-side ``OSError`` (full, read-only, not permitted) met while writing shard
    ``path`` (or its split) into a ``DataError`` naming the directory and the fix; any other
    error passes unchanged (a bug keeps its traceback)."""
    try:
        yield
    except OSError as e:
        what = _DISK_ERRNOS.get(e.errno)
        if what is None:
            raise
        directory = os.path.dirname(os.path.abspath(path))
        raise DataError(f"cannot write in {directory}: {what} ({e.filename or directory}); "
                        "free space or permissions there, or point --data_dir elsewhere, then "
                        "re-run (complete shards are kept)") from e


def write_sharded(paths: Sequence[str], samples_fn: Callable[[], Iterable[Any]],
                  encode_fn: Callable[[Any], Dict[str, list]], *, seed: int = 0,
                  shuffle: bool = True, num_processes: int = 1, task_id: int = -1,
                  description: str = "", num_samples: Optional[int] = None,
                  before_writing: Optional[Callable[[], None]] = None) -> WriteReport:
    """Writes ``samples_fn()`` into the shards ``paths`` (see the module docstring).

    ``task_id >= 0`` restricts this call to shards ``k % num_processes == task_id`` and
    writes them in this process (several machines, one task each). ``num_samples``, about
    how many samples ``samples_fn()`` yields (None: unknown), gives the progress line its ETA.
    ``before_writing`` runs once, in this process, when some shard is to be (re)written and
    before any is (``Problem.generate_data`` prepares raw files and encoders there).
    A full, read-only or forbidden disk is a ``DataError`` naming the directory; nothing
    half-written is left (temporaries and the run file are removed).
    """
    paths = list(paths)
    with disk_errors(paths[0]):
        return _write_sharded(paths, samples_fn, encode_fn, seed, shuffle, num_processes, task_id,
                              description, num_samples, before_writing)


def _write_sharded(paths, samples_fn, encode_fn, seed, shuffle, num_processes, task_id,
                   description, num_samples, before_writing) -> WriteReport:
    n = len(paths)
    description = description or os.path.basename(paths[0]).rsplit("-", 4)[0]
    start = time.monotonic()
    todo = shards_to_write(paths, description, seed)
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
    if before_writing is not None:
        before_writing()
    import tensorflow  # noqa: F401  (before the clock; forked writers inherit it)

    expected = num_samples * len(todo) // n if num_samples else None
    progress = _Progress(description, len(todo), total_examples=expected)
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
