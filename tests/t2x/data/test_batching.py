import os
import tempfile

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


def _examples_ds(pairs):
    return tf.data.Dataset.from_generator(
        lambda: ({"inputs": np.array(a, np.int64), "targets": np.array(b, np.int64)} for a, b in pairs),
        output_signature={"inputs": tf.TensorSpec([None], tf.int64), "targets": tf.TensorSpec([None], tf.int64)})


def test_pack_dataset_is_the_docstring_example():
    from t2x.data.batching import pack_dataset

    pairs = [([3, 4, 1], [5, 1]), ([6, 1], [7, 8, 9, 1]), ([2, 2, 2, 2, 1], [1]), ([9] * 9, [1])]
    rows = list(pack_dataset(_examples_ds(pairs), 8, open_rows=1).as_numpy_iterator())
    assert len(rows) == 2  # the 9-token example is longer than the row: dropped
    first, second = rows
    np.testing.assert_array_equal(first["inputs"], [3, 4, 1, 6, 1, 0, 0, 0])
    np.testing.assert_array_equal(first["inputs_segmentation"], [1, 1, 1, 2, 2, 0, 0, 0])
    np.testing.assert_array_equal(first["inputs_position"], [0, 1, 2, 0, 1, 0, 0, 0])
    np.testing.assert_array_equal(first["targets"], [5, 1, 7, 8, 9, 1, 0, 0])
    np.testing.assert_array_equal(first["targets_segmentation"], [1, 1, 2, 2, 2, 2, 0, 0])
    np.testing.assert_array_equal(first["targets_position"], [0, 1, 0, 1, 2, 3, 0, 0])
    np.testing.assert_array_equal(second["inputs"], [2, 2, 2, 2, 1, 0, 0, 0])
    np.testing.assert_array_equal(second["targets_segmentation"], [1, 0, 0, 0, 0, 0, 0, 0])
    assert first["inputs_segmentation"].dtype == np.int32


@pytest.mark.parametrize("open_rows", [1, 8])
def test_packing_keeps_every_example_once_and_fills_rows(open_rows):
    from t2x.data.batching import pack_dataset

    rng = np.random.RandomState(0)
    pairs = [(list(rng.randint(2, 50, size=rng.randint(1, 24))) + [1],
              list(rng.randint(2, 50, size=rng.randint(1, 24))) + [1]) for _ in range(300)]
    rows = list(pack_dataset(_examples_ds(pairs), 32, open_rows=open_rows).as_numpy_iterator())
    got = []  # the examples reassembled from the segments
    for row in rows:
        seg_in, seg_tg = row["inputs_segmentation"], row["targets_segmentation"]
        assert seg_in.max() == seg_tg.max()  # inputs and targets of an example share a segment id
        for s in range(1, seg_in.max() + 1):
            got.append((list(row["inputs"][seg_in == s]), list(row["targets"][seg_tg == s])))
            for key, seg in (("inputs", seg_in), ("targets", seg_tg)):
                assert list(row[key + "_position"][seg == s]) == list(range((seg == s).sum()))
    assert sorted(got) == sorted(pairs)
    if open_rows == 1:
        assert got == pairs  # one open row keeps stream order


def test_more_open_rows_fill_rows_better():
    from t2x.data.batching import pack_dataset

    rng = np.random.RandomState(1)
    pairs = [([2] * rng.randint(1, 30), [3] * rng.randint(1, 30)) for _ in range(400)]
    fill = {}
    for open_rows in (1, 8):
        rows = list(pack_dataset(_examples_ds(pairs), 32, open_rows=open_rows).as_numpy_iterator())
        fill[open_rows] = sum(int((r["targets"] != 0).sum()) for r in rows) / (len(rows) * 32)
    assert fill[8] > fill[1] + 0.1, fill


def test_packing_an_iterator_resumes_where_it_stopped():
    from t2x.data.batching import pack_dataset

    examples = tf.data.Dataset.range(40).map(lambda i: {
        "inputs": tf.fill([i % 5 + 1], i + 2), "targets": tf.fill([i % 7 + 1], i + 2)})
    ds = pack_dataset(examples, 10)
    whole = [r["targets"] for r in ds.as_numpy_iterator()]
    it = iter(ds)
    first = [next(it)["targets"].numpy() for _ in range(3)]
    ckpt = tf.train.Checkpoint(iterator=it)
    path = ckpt.write(os.path.join(tempfile.mkdtemp(), "it"))
    it2 = iter(ds)
    tf.train.Checkpoint(iterator=it2).read(path).assert_consumed()
    rest = [r["targets"].numpy() for r in it2]
    assert len(first + rest) == len(whole)
    for a, b in zip(first + rest, whole):
        np.testing.assert_array_equal(a, b)
