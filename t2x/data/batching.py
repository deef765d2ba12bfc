"""Batching by length (T2T's ``data_reader.batching_scheme`` semantics).

Variable-length problems batch by *tokens*: ``batch_size`` is a token budget, examples are
grouped into buckets of similar length and each bucket's batch holds about
``batch_size / bucket_length`` examples, padded to the longest example of the batch
(or to the bucket's boundary with ``pad_to_bucket_boundary``).

Worked example (T2T's numbers): ``batching_scheme(batch_size=128, max_length=0,
min_length_bucket=8, length_bucket_step=1.1)`` gives the boundaries
``8, 9, 10, ..., 113, 124`` (from 8, each ``max(x + 1, int(x * 1.1))``, below
``max_length``, which defaults to ``batch_size``) and the batch sizes
``16, 12, 12, 8, ...``: ``128 // length`` per bucket, rounded down to a divisor of a highly
composite "window" (48 here, the largest such number <= 3 x the largest batch) so that
windows split evenly into batches.

Packing (T2T's ``pack_dataset``, SeqIO's packing; ``hparams.packed``): instead of padding
each example to its batch's longest, consecutive examples are laid end to end in rows of
``length`` tokens. Each packed feature ``f`` comes with ``f_segmentation`` (1, 2, ... for the
examples of a row, 0 on padding) and ``f_position`` (0, 1, ... restarting with each
example). Worked example, ``length=8``, examples ``inputs/targets`` = ``[3 4 1]/[5 1]``,
``[6 1]/[7 8 9 1]``, ``[2 2 2 2 1]/[1]``::

    inputs               3 4 1 6 1 0 0 0     2 2 2 2 1 0 0 0
    inputs_segmentation  1 1 1 2 2 0 0 0     1 1 1 1 1 0 0 0
    inputs_position      0 1 2 0 1 0 0 0     0 1 2 3 4 0 0 0
    targets              5 1 7 8 9 1 0 0     1 0 0 0 0 0 0 0
    targets_segmentation 1 1 2 2 2 2 0 0     1 0 0 0 0 0 0 0
    targets_position     0 1 0 1 2 3 0 0     0 0 0 0 0 0 0 0

The third example does not fit in the first row's inputs (3 + 5 > 8), so it opens the
second row. Several rows are open at once (``open_rows``, first fit: an example goes to the
first open row with room in every feature; when none has room the fullest row is emitted),
which fills rows better than T2T's one open row when lengths vary widely. The packing is a
``scan`` in stream order: deterministic, and its state is part of the input iterator's
checkpoint, so exact resume holds. The open rows are emitted when the stream ends.
Examples longer than ``length`` are dropped (T2T's training drops those longer than
``max_length``).
"""

from typing import Any, Callable, Dict, List

# Highly composite numbers (T2T's list, truncated to what batch sizes ever need).
_HIGHLY_COMPOSITE = [1, 2, 4, 6, 12, 24, 36, 48, 60, 120, 180, 240, 360, 720, 840, 1260, 1680,
                     2520, 5040, 7560, 10080, 15120, 20160, 25200, 27720, 45360, 50400, 55440,
                     83160, 110880, 166320, 221760, 277200, 332640, 498960, 554400, 665280,
                     720720, 1081080, 1441440, 2162160, 2882880, 3603600, 4324320, 6486480,
                     7207200, 8648640, 10810800, 14414400]


def bucket_boundaries(max_length: int, min_length: int = 8, length_bucket_step: float = 1.1) -> List[int]:
    """Bucket upper bounds from ``min_length`` growing by ``length_bucket_step`` below ``max_length``."""
    if length_bucket_step <= 1.0:
        raise ValueError(f"length_bucket_step must be > 1.0, got {length_bucket_step}")
    x, boundaries = min_length, []
    while x < max_length:
        boundaries.append(x)
        x = max(x + 1, int(x * length_bucket_step))
    return boundaries


def batching_scheme(batch_size: int, max_length: int, min_length_bucket: int,
                    length_bucket_step: float, drop_long_sequences: bool = False,
                    shard_multiplier: int = 1, length_multiplier: int = 1,
                    min_length: int = 0) -> Dict[str, Any]:
    """T2T's batching scheme: ``{"boundaries", "batch_sizes", "min_length", "max_length",
    "shuffle_queue_size"}``. ``batch_sizes`` has one more entry than ``boundaries`` (the
    last bucket runs to ``max_length``)."""
    max_length = max_length or batch_size
    if max_length < min_length:
        raise ValueError(f"max_length ({max_length}) must be >= min_length ({min_length})")
    boundaries = [b * length_multiplier for b in
                  bucket_boundaries(max_length, min_length_bucket, length_bucket_step)]
    max_length *= length_multiplier
    batch_sizes = [max(1, batch_size // length) for length in boundaries + [max_length]]
    window = max(h for h in _HIGHLY_COMPOSITE if h <= 3 * max(batch_sizes))
    divisors = [d for d in range(1, window + 1) if window % d == 0]
    batch_sizes = [max(d for d in divisors if d <= bs) * shard_multiplier for bs in batch_sizes]
    window *= shard_multiplier
    return {"boundaries": boundaries, "batch_sizes": batch_sizes, "min_length": min_length,
            "max_length": max_length if drop_long_sequences else 10 ** 9,
            "shuffle_queue_size": 3 * (window // min(batch_sizes))}


def example_length(example: Dict[str, Any]):
    """The longest of an example's sequence features (T2T's ``example_length``)."""
    import tensorflow as tf

    lengths = [tf.shape(v)[0] for v in example.values() if v.shape.rank and v.shape.rank >= 1]
    return tf.reduce_max(tf.stack(lengths)) if lengths else tf.constant(0)


def bucket_by_length(dataset, scheme: Dict[str, Any], *, drop_remainder: bool = False,
                     pad_to_bucket_boundary: bool = False,
                     length_fn: Callable = example_length):
    """Groups examples into the scheme's buckets and pads each batch (pad id 0)."""
    import tensorflow as tf

    if scheme["min_length"] > 0 or scheme["max_length"] < 10 ** 9:
        lo, hi = scheme["min_length"], scheme["max_length"]
        dataset = dataset.filter(lambda ex: tf.logical_and(length_fn(ex) >= lo, length_fn(ex) <= hi))
    return dataset.bucket_by_sequence_length(
        length_fn, scheme["boundaries"], scheme["batch_sizes"],
        pad_to_bucket_boundary=pad_to_bucket_boundary, drop_remainder=drop_remainder)


def packed_keys(element_spec: Dict[str, Any], keys=("inputs", "targets")) -> List[str]:
    """The features of ``element_spec`` that packing lays end to end: the 1-D integer
    sequences among ``keys``."""
    return [k for k in keys if k in element_spec and element_spec[k].shape.rank == 1
            and element_spec[k].dtype.is_integer]


def pack_dataset(dataset, length: int, keys=("inputs", "targets"), *, open_rows: int = 8):
    """Examples (1-D int ``keys``, unbatched) -> packed rows of ``length`` tokens with
    ``<key>_segmentation`` and ``<key>_position`` (int32), as in the module docstring.

    ``open_rows`` rows are filled at once, first fit: an example goes to the first open row
    with room in every key; when none has room, the fullest row is emitted and the example
    starts a new one there (``open_rows=1``: T2T's and SeqIO's one-row greedy packing).
    Other features are dropped. Runs inside ``tf.data`` as a ``scan`` of pure TF ops, so the
    pipeline stays deterministic and checkpointable."""
    import tensorflow as tf

    if length < 1 or open_rows < 1:
        raise ValueError(f"packed length and open_rows must be >= 1, got {length}, {open_rows}")
    keys = packed_keys(dataset.element_spec, keys)
    if not keys:
        raise ValueError("packing needs 1-D integer 'inputs' or 'targets' features; the dataset "
                         f"has {sorted(dataset.element_spec)}")
    dtypes = {k: dataset.element_spec[k].dtype for k in keys}
    n = open_rows

    def fits_alone(ex):
        return tf.reduce_all(tf.stack([tf.size(ex[k]) <= length for k in keys]))

    def tagged(end):
        return lambda ex: ({k: ex[k] for k in keys}, tf.constant(end))

    end = tf.data.Dataset.from_tensors({k: tf.zeros([0], dtypes[k]) for k in keys}).map(tagged(True))
    stream = dataset.filter(fits_alone).map(tagged(False)).concatenate(end)

    rows0 = {}
    for k in keys:
        rows0[k] = tf.zeros([n, length], dtypes[k])
        rows0[k + "_segmentation"] = tf.zeros([n, length], tf.int32)
        rows0[k + "_position"] = tf.zeros([n, length], tf.int32)
    initial = (rows0, {k: tf.zeros([n], tf.int32) for k in keys}, tf.zeros([n], tf.int32))

    def step(state, element):
        rows, fill, count = state
        ex, is_end = element
        lengths = {k: tf.size(ex[k]) for k in keys}
        fits = tf.reduce_all(tf.stack([fill[k] + lengths[k] <= length for k in keys]), axis=0)  # [n]
        any_fit = tf.reduce_any(fits)
        total = tf.add_n([fill[k] for k in keys])
        target = tf.where(any_fit, tf.argmax(tf.cast(fits, tf.int32), output_type=tf.int32),
                          tf.argmax(total, output_type=tf.int32))
        chosen = tf.one_hot(target, n, on_value=True, off_value=False)  # [n]
        emit = tf.where(is_end, count > 0,
                        tf.logical_and(chosen, tf.logical_and(tf.logical_not(any_fit), count > 0)))
        keep = any_fit  # the chosen row keeps its contents; else it restarts empty
        base_fill = {k: tf.where(keep, fill[k][target], 0) for k in keys}
        base_count = tf.where(keep, count[target], 0)
        new_rows = {}
        for k in keys:
            pad = [[base_fill[k], length - base_fill[k] - lengths[k]]]
            ones = tf.ones([lengths[k]], tf.int32)
            added = {k: tf.pad(ex[k], pad),
                     k + "_segmentation": tf.pad(ones * (base_count + 1), pad),
                     k + "_position": tf.pad(tf.range(lengths[k]), pad)}
            for name, value in added.items():
                row = tf.where(keep, rows[name][target], tf.zeros_like(rows[name][target])) + value
                new_rows[name] = tf.where(chosen[:, None], row[None, :], rows[name])
        new_fill = {k: tf.where(chosen, base_fill[k] + lengths[k], fill[k]) for k in keys}
        new_count = tf.where(chosen, base_count + 1, count)
        return (new_rows, new_fill, new_count), (emit, rows)

    return (stream.scan(initial, step)
            .filter(lambda emit, rows: tf.reduce_any(emit))
            .unbatch()
            .filter(lambda emit, row: emit)
            .map(lambda emit, row: row))
