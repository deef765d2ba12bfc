import hashlib
import logging
import os

import pytest

from conftest import shard_files
import tensorflow as tf

from t2x.data import generator_utils as gu


def paths_in(tmp_path, n, name="toy-train"):
    return [str(tmp_path / f"{name}-{i:05d}-of-{n:05d}") for i in range(n)]


def samples():
    return iter(range(100))


def encode(i):
    return {"x": [i], "text": [f"sample {i}"]}


def read_values(path):
    out = []
    for rec in tf.data.TFRecordDataset(path):
        ex = tf.train.Example.FromString(rec.numpy())
        out.append(ex.features.feature["x"].int64_list.value[0])
    return out


def digest(paths):
    return [hashlib.sha256(open(p, "rb").read()).hexdigest() for p in paths]


def test_round_robin_shards_hold_every_sample_once(tmp_path):
    paths = paths_in(tmp_path, 3)
    report = gu.write_sharded(paths, samples, encode, seed=1, shuffle=False)
    assert (report.shards_written, report.examples_written) == (3, 100)
    assert read_values(paths[0])[:4] == [0, 3, 6, 9]
    assert sorted(v for p in paths for v in read_values(p)) == list(range(100))
    assert shard_files(tmp_path) == sorted(os.path.basename(p) for p in paths)


def test_same_seed_same_bytes_other_seed_other_order(tmp_path):
    a, b, c = (paths_in(tmp_path / d, 4) for d in "abc")
    for d in "abc":
        (tmp_path / d).mkdir()
    gu.write_sharded(a, samples, encode, seed=7)
    gu.write_sharded(b, samples, encode, seed=7)
    gu.write_sharded(c, samples, encode, seed=8)
    assert digest(a) == digest(b)
    assert digest(a) != digest(c)
    assert sorted(read_values(a[0])) == sorted(read_values(c[0]))  # same content, other order
    assert read_values(a[0]) != sorted(read_values(a[0]))  # shuffled on disk


def test_two_processes_give_byte_identical_shards(tmp_path):
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    one, two = paths_in(tmp_path / "one", 5), paths_in(tmp_path / "two", 5)
    gu.write_sharded(one, samples, encode, seed=3, num_processes=1)
    report = gu.write_sharded(two, samples, encode, seed=3, num_processes=2)
    assert report.examples_written == 100 and report.shards_written == 5
    assert digest(one) == digest(two)


def test_rerun_is_a_noop_and_says_so(tmp_path, caplog):
    paths = paths_in(tmp_path, 2)
    gu.write_sharded(paths, samples, encode, seed=1)
    mtimes = [os.stat(p).st_mtime_ns for p in paths]
    calls = []
    with caplog.at_level(logging.INFO):
        report = gu.write_sharded(paths, lambda: calls.append(1) or samples(), encode, seed=1)
    assert report.shards_written == 0 and report.shards_skipped == 2
    assert calls == []  # the samples were not even read
    assert [os.stat(p).st_mtime_ns for p in paths] == mtimes
    assert "all 2 shards already exist" in caplog.text


def test_failure_mid_shard_leaves_no_partial_file(tmp_path):
    paths = paths_in(tmp_path, 2)

    def flaky(i):
        if i == 57:
            raise RuntimeError("disk on fire")
        return encode(i)

    with pytest.raises(RuntimeError, match="disk on fire"):
        gu.write_sharded(paths, samples, flaky, seed=1)
    assert os.listdir(tmp_path) == []  # neither a final name nor a temporary


def test_killed_run_resumes_missing_shards_only(tmp_path):
    (tmp_path / "ref").mkdir()
    (tmp_path / "run").mkdir()
    ref, run = paths_in(tmp_path / "ref", 4), paths_in(tmp_path / "run", 4)
    gu.write_sharded(ref, samples, encode, seed=5)
    gu.write_sharded(run, samples, encode, seed=5)
    # Simulate a writer killed mid-way: shards 1 and 3 missing, a stale temporary of a dead pid.
    os.remove(run[1])
    os.remove(run[3])
    stale = run[1] + ".tmp-999999999"
    with open(stale, "wb") as f:
        f.write(b"half a record")
    kept_mtime = os.stat(run[0]).st_mtime_ns
    report = gu.write_sharded(run, samples, encode, seed=5)
    assert (report.shards_written, report.shards_skipped) == (2, 2)
    assert not os.path.exists(stale)
    assert os.stat(run[0]).st_mtime_ns == kept_mtime
    assert digest(ref) == digest(run)


def test_failing_worker_process_raises_and_keeps_finished_shards(tmp_path):
    paths = paths_in(tmp_path, 4)

    def fails_on_shard_1(i):
        if i % 4 == 1:
            raise ValueError("bad sample")
        return encode(i)

    with pytest.raises(RuntimeError, match="1 of 2 writer processes failed"):
        gu.write_sharded(paths, samples, fails_on_shard_1, seed=1, num_processes=2)
    # The healthy worker wrote shards 0 and 2; the failed one left nothing behind.
    assert shard_files(tmp_path) == [os.path.basename(paths[0]), os.path.basename(paths[2])]


def test_task_id_writes_only_its_shards(tmp_path):
    paths = paths_in(tmp_path, 4)
    report = gu.write_sharded(paths, samples, encode, seed=1, num_processes=2, task_id=1)
    assert report.shards_written == 2
    assert [os.path.exists(p) for p in paths] == [False, True, False, True]


def test_to_example_types():
    ex = gu.to_example({"i": [1, 2], "f": [0.5], "b": [b"\x00"], "s": "héllo", "one": 3})
    f = ex.features.feature
    assert list(f["i"].int64_list.value) == [1, 2]
    assert list(f["f"].float_list.value) == [0.5]
    assert f["s"].bytes_list.value[0].decode() == "héllo"
    assert list(f["one"].int64_list.value) == [3]
    with pytest.raises(ValueError, match="feature 'e' is empty"):
        gu.to_example({"e": []})


def test_a_truncated_shard_is_rewritten_not_called_complete(tmp_path):
    paths = [str(tmp_path / f"toy-train-{i:05d}-of-00003") for i in range(3)]
    samples = lambda: ({"x": [i]} for i in range(30))  # noqa: E731
    gu.write_sharded(paths, samples, lambda s: s, seed=1)
    good = [open(p, "rb").read() for p in paths]
    with open(paths[0], "r+b") as f:
        f.truncate(len(good[0]) // 2)  # a killed copy
    os.remove(paths[2] + ".count")  # a shard that cannot be checked any more: rewritten
    assert gu.verify_shard(paths[0]) == "holds 5 records where its writer wrote 10"  # cut between records
    with open(paths[1], "r+b") as f:
        f.truncate(len(good[1]) - 3)  # cut inside a record
    assert gu.verify_shard(paths[1]).startswith("unreadable (truncated record")
    assert gu.verify_shard(paths[2]).startswith("has no .count sidecar")
    report = gu.write_sharded(paths, samples, lambda s: s, seed=1)
    assert (report.shards_written, report.shards_skipped) == (3, 0)
    assert [open(p, "rb").read() for p in paths] == good
    assert gu.read_sidecar(paths[2]) == {"shard": os.path.basename(paths[2]), "records": 10,
                                         "sha256": gu.file_sha256(paths[2]), "seed": 1}


def test_a_sidecar_of_t2x_before_checksums_is_still_read(tmp_path):
    paths = [str(tmp_path / "toy-train-00000-of-00001")]
    gu.write_sharded(paths, lambda: ({"x": [i]} for i in range(4)), lambda s: s, seed=1)
    open(paths[0] + ".count", "w").write("4\n")  # wave 2's sidecar: the record count alone
    assert gu.verify_shard(paths[0], seed=1) is None
    open(paths[0] + ".count", "w").write("5\n")
    assert gu.verify_shard(paths[0]) == "holds 4 records where its writer wrote 5"


def test_a_shard_with_another_record_count_is_rewritten(tmp_path):
    paths = [str(tmp_path / f"toy-train-{i:05d}-of-00002") for i in range(2)]
    gu.write_sharded(paths, lambda: ({"x": [i]} for i in range(11)), lambda s: s, seed=1)
    good = open(paths[0], "rb").read()
    with open(paths[0], "wb") as f:  # replaced by the other shard (5 records, not 6)
        f.write(open(paths[1], "rb").read())
    assert gu.verify_shard(paths[0]) == "holds 5 records where its writer wrote 6"
    report = gu.write_sharded(paths, lambda: ({"x": [i]} for i in range(11)), lambda s: s, seed=1)
    assert report.shards_written == 1 and open(paths[0], "rb").read() == good


def test_no_samples_is_an_error_and_writes_nothing(tmp_path):
    from t2x.errors import DataError

    paths = [str(tmp_path / "toy-train-00000-of-00001")]
    with pytest.raises(DataError, match="generate_samples yielded no samples"):
        gu.write_sharded(paths, lambda: iter(()), lambda s: s)
    assert os.listdir(tmp_path) == []


# -- the streaming writer ------------------------------------------------------------------

def in_memory_reference(paths, samples_fn, encode_fn, seed):
    """The shards as the writer made them before it streamed (the whole shard in a list,
    shuffled in memory by the shard's seeded generator): what streaming must reproduce."""
    import random

    n = len(paths)
    records = [[] for _ in range(n)]
    for i, sample in enumerate(samples_fn()):
        records[i % n].append(gu.to_example(encode_fn(sample)).SerializeToString(deterministic=True))
    out = []
    for path, shard in zip(paths, records):
        random.Random(gu.shard_seed(seed, path)).shuffle(shard)
        out.append(shard)
    return out


def raw_records(path):
    return [r.numpy() for r in tf.data.TFRecordDataset(path)]


@pytest.mark.parametrize("num_processes", [1, 2])
def test_streamed_shards_equal_the_in_memory_shuffle_byte_for_byte(tmp_path, monkeypatch, num_processes):
    monkeypatch.setattr(gu._RunFile, "INDEX_FLUSH", 7)  # many index chunks per shard
    paths = paths_in(tmp_path, 3)
    stale_run = paths[1] + gu.RUN_SUFFIX + ".tmp-999999999"  # a killed writer's run file
    open(stale_run, "wb").write(b"records of a dead writer")
    many = lambda: iter(range(500))  # noqa: E731
    gu.write_sharded(paths, many, encode, seed=42, num_processes=num_processes)
    expected = in_memory_reference(paths, many, encode, seed=42)
    assert [raw_records(p) for p in paths] == expected
    assert [gu.read_sidecar(p)["records"] for p in paths] == [167, 167, 166]
    assert shard_files(tmp_path) == sorted(os.path.basename(p) for p in paths)  # runs removed
    # write_shard, the unit of a Beam worker, writes the same bytes alone.
    alone = str(tmp_path / "alone" / os.path.basename(paths[2]))
    os.makedirs(os.path.dirname(alone))
    assert gu.write_shard(alone, many(), encode, 2, 3, seed=42, shuffle=True) == 166
    assert open(alone, "rb").read() == open(paths[2], "rb").read()


def test_the_writer_holds_offsets_not_records(tmp_path):
    """3,000 records of 10 KiB (30 MiB) through one shard: the writer's Python allocations
    peak far below one shard (the run file's 1 MiB buffer, the offsets, a record)."""
    import tracemalloc

    blob = lambda i: {"x": [i], "blob": [bytes([i % 251]) * 10240]}  # noqa: E731
    paths = paths_in(tmp_path, 1)
    gu.to_example(blob(0))  # protobuf and TF imported before the measurement
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        report = gu.write_sharded(paths, lambda: iter(range(3000)), blob, seed=1)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report.examples_written == 3000 and os.path.getsize(paths[0]) > 29 * 2 ** 20
    assert peak < 4 * 2 ** 20, f"peak {peak / 2 ** 20:.1f} MiB"


def test_progress_line_has_share_done_and_eta_when_the_total_is_known(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(gu, "PROGRESS_EVERY_S", 0.0)
    with caplog.at_level(logging.INFO):
        gu.write_sharded(paths_in(tmp_path, 2), lambda: iter(range(3000)), encode, seed=1,
                         num_samples=3000)
    assert "of ~3000 examples (" in caplog.text and "ETA " in caplog.text
    assert gu.format_duration(3725) == "1h02m" and gu.format_duration(125) == "2m05s"
