import numpy as np
import pytest
import tensorflow as tf

from t2x.data.batching import batching_scheme, bucket_boundaries, bucket_by_length


def test_t2t_golden_boundaries_and_batch_sizes():
    scheme = batching_scheme(batch_size=128, max_length=0, min_length_bucket=8, length_bucket_step=1.1)
    b = scheme["boundaries"]
    assert b[:13] == list(range(8, 21)) and b[-2:] == [113, 124]
    assert b == [8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 22, 24, 26, 28, 30, 33, 36,
                 39, 42, 46, 50, 55, 60, 66, 72, 79, 86, 94, 103, 113, 124]
    assert scheme["batch_sizes"][:4] == [16, 12, 12, 8]
    assert len(scheme["batch_sizes"]) == len(b) + 1
    assert all(48 % bs == 0 for bs in scheme["batch_sizes"])  # divisors of the window
    assert scheme["max_length"] == 10 ** 9


def test_multipliers_and_errors():
    s = batching_scheme(4096, 256, 8, 1.1, drop_long_sequences=True, shard_multiplier=2, length_multiplier=2)
    assert s["boundaries"][0] == 16 and s["max_length"] == 512
    assert all(bs % 2 == 0 for bs in s["batch_sizes"])
    with pytest.raises(ValueError, match="length_bucket_step must be > 1.0"):
        bucket_boundaries(64, 8, 1.0)


def test_bucketing_groups_similar_lengths_and_pads_with_zeros():
    lengths = [3, 30, 4, 31, 5, 29, 3, 28]
    ds = tf.data.Dataset.from_generator(
        lambda: ({"targets": np.arange(1, n + 1, dtype=np.int64)} for n in lengths),
        output_signature={"targets": tf.TensorSpec([None], tf.int64)})
    scheme = batching_scheme(batch_size=64, max_length=40, min_length_bucket=8, length_bucket_step=2.0)
    batches = [b["targets"].numpy() for b in bucket_by_length(ds, scheme)]
    widths = sorted(b.shape[1] for b in batches)
    assert widths[0] == 5 and all(w >= 28 for w in widths[1:])  # short with short, long with long
    assert sum(b.shape[0] for b in batches) == 8
    short = [b for b in batches if b.shape[1] == 5][0]
    assert short.shape[0] == 4 and (short[0, 3:] == 0).all()
    long_scheme = batching_scheme(64, 10, 4, 2.0, drop_long_sequences=True)
    kept = [b["targets"].shape[1] for b in bucket_by_length(ds, long_scheme)]
    assert max(kept) <= 10  # examples longer than max_length dropped
