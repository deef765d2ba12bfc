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
