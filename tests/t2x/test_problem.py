"""The Problem data engine on tiny MNIST-format files (fixtures in conftest.py)."""

import os

import numpy as np
import pytest

from conftest import shard_files
import tensorflow as tf

from t2x.data.image import class_histogram
from t2x.data.problem import DataMissingError, Mode, ModalityType


def generate(problem_cls, tiny_mnist, tmp_path, fmt=None, **kwargs):
    tmp_dir, _, _ = tiny_mnist
    cls = problem_cls
    if fmt:
        cls = type("Fmt", (problem_cls,), {"image_format": fmt, "registered_name": "tiny_mnist_fixture"})
    problem = cls(**kwargs)
    data_dir = str(tmp_path / f"data_{fmt}")
    problem.generate_data(data_dir, tmp_dir, random_seed=1)
    return problem, data_dir


def all_examples(ds):
    inputs, targets = [], []
    for ex in ds:
        inputs.append(ex["inputs"].numpy())
        targets.append(ex["targets"].numpy())
    return np.stack(inputs), np.concatenate(targets)


def test_generate_writes_named_shards_with_all_examples(tiny_problem_cls, tiny_mnist, tmp_path):
    problem, data_dir = generate(tiny_problem_cls, tiny_mnist, tmp_path)
    assert shard_files(data_dir) == [
        "tiny_mnist_fixture-dev-00000-of-00001",
        "tiny_mnist_fixture-train-00000-of-00003",
        "tiny_mnist_fixture-train-00001-of-00003",
        "tiny_mnist_fixture-train-00002-of-00003"]
    _, _, arrays = tiny_mnist
    _, train_labels = all_examples(problem.dataset(Mode.EVAL, data_dir, dataset_split="train"))
    _, dev_labels = all_examples(problem.dataset(Mode.EVAL, data_dir))
    assert len(train_labels) == 60 and len(dev_labels) == 20
    assert class_histogram(train_labels, 10) == class_histogram(arrays["train_labels"], 10)
    assert class_histogram(dev_labels, 10) == class_histogram(arrays["test_labels"], 10)


@pytest.mark.parametrize("fmt", ["raw", "png"])
def test_dataset_features_shapes_and_pixels(tiny_problem_cls, tiny_mnist, tmp_path, fmt):
    problem, data_dir = generate(tiny_problem_cls, tiny_mnist, tmp_path, fmt)
    batch = next(iter(problem.dataset(Mode.EVAL, data_dir, batch_size=8, deterministic=True)))
    assert batch["inputs"].shape == (8, 28, 28, 1) and batch["inputs"].dtype == tf.float32
    assert batch["targets"].shape == (8, 1) and batch["targets"].dtype == tf.int64
    # per-image standardization: mean 0, std 1 per image
    np.testing.assert_allclose(tf.reduce_mean(batch["inputs"], [1, 2, 3]).numpy(), 0, atol=1e-5)
    # The pixels are the source pixels: match every dev image against the IDX images.
    _, _, arrays = tiny_mnist
    src = arrays["test_images"].reshape(20, -1).astype(np.float32)
    src = (src - src.mean(1, keepdims=True)) / np.maximum(src.std(1, keepdims=True), 1 / 28.0)
    got = batch["inputs"].numpy().reshape(8, -1)
    for row, label in zip(got, batch["targets"].numpy()[:, 0]):
        j = np.argmin(np.abs(src - row).sum(1))
        np.testing.assert_allclose(src[j], row, atol=1e-4)
        assert arrays["test_labels"][j] == label


def test_deterministic_eval_order_and_seeded_training_order(tiny_problem_cls, tiny_mnist, tmp_path):
    problem, data_dir = generate(tiny_problem_cls, tiny_mnist, tmp_path)
    _, a = all_examples(problem.dataset(Mode.EVAL, data_dir, deterministic=True))
    _, b = all_examples(problem.dataset(Mode.EVAL, data_dir, deterministic=True))
    np.testing.assert_array_equal(a, b)

    def train_labels(seed):
        ds = problem.dataset(Mode.TRAIN, data_dir, seed=seed, deterministic=True, shuffle_buffer_size=64)
        return all_examples(ds.take(120))[1]

    first, again, other = train_labels(3), train_labels(3), train_labels(4)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    # training repeats (120 examples from 60) and the shuffle buffer mixes across epochs
    assert len(first) == 120 and set(first.tolist()) == set(range(10))
    assert not np.array_equal(first[:60], np.sort(first[:60]))


def test_training_batches_drop_remainder(tiny_problem_cls, tiny_mnist, tmp_path):
    problem, data_dir = generate(tiny_problem_cls, tiny_mnist, tmp_path)
    ds = problem.dataset(Mode.TRAIN, data_dir, batch_size=16, seed=0)
    assert ds.element_spec["inputs"].shape.as_list() == [16, 28, 28, 1]
    eval_ds = problem.dataset(Mode.EVAL, data_dir, batch_size=16)
    assert [b["targets"].shape[0] for b in eval_ds] == [16, 4]


def test_input_context_reads_a_share(tiny_problem_cls, tiny_mnist, tmp_path):
    problem, data_dir = generate(tiny_problem_cls, tiny_mnist, tmp_path)
    shares = []
    for i in range(2):
        ctx = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=i)
        shares.append(all_examples(problem.dataset(Mode.EVAL, data_dir, dataset_split="train",
                                                   input_context=ctx))[1])
    assert len(shares[0]) + len(shares[1]) == 60
    dev = [len(all_examples(problem.dataset(
        Mode.EVAL, data_dir, input_context=tf.distribute.InputContext(2, i)))[1]) for i in range(2)]
    assert dev == [10, 10]  # one dev shard: records are split instead of files


def test_rev_and_copy_variants(tiny_problem_cls, tiny_mnist, tmp_path):
    _, data_dir = generate(tiny_problem_cls, tiny_mnist, tmp_path)
    rev = tiny_problem_cls(was_reversed=True)
    ex = next(iter(rev.dataset(Mode.EVAL, data_dir)))
    assert ex["inputs"].shape == (1,) and ex["targets"].shape == (28, 28, 1)
    assert ex["targets"].dtype == tf.uint8  # not standardized when it is the target
    hp = rev.get_hparams()
    assert hp.modality == {"inputs": ModalityType.CLASS_LABEL, "targets": ModalityType.IMAGE}
    assert hp.vocab_size == {"inputs": 10, "targets": 256}
    assert rev.feature_info["targets"].modality == ModalityType.IMAGE
    copy = tiny_problem_cls(was_copy=True)
    ex = next(iter(copy.dataset(Mode.EVAL, data_dir)))
    np.testing.assert_array_equal(ex["inputs"].numpy(), ex["targets"].numpy())


def test_feature_info_and_metrics(tiny_problem_cls):
    info = tiny_problem_cls().feature_info
    assert info["inputs"].modality == ModalityType.IMAGE and info["inputs"].vocab_size == 256
    assert info["targets"].modality == ModalityType.CLASS_LABEL and info["targets"].vocab_size == 10
    assert info["targets"].encoder.decode(3) == "3"
    assert tiny_problem_cls().eval_metrics() == ["accuracy", "accuracy_top5", "neg_log_perplexity"]


def test_missing_shards_name_the_command(tiny_problem_cls, tmp_path):
    with pytest.raises(DataMissingError, match=r"has 0 of 1 'dev' shards of tiny_mnist_fixture; "
                                               r"generate them with `t2x-datagen --problem=tiny_mnist_fixture"):
        tiny_problem_cls().dataset(Mode.EVAL, str(tmp_path))
    with pytest.raises(DataMissingError, match="no 'test' split"):
        tiny_problem_cls().dataset(Mode.EVAL, str(tmp_path), dataset_split="test")


def test_second_generate_does_not_need_raw_files(tiny_problem_cls, tiny_mnist, tmp_path):
    problem, data_dir = generate(tiny_problem_cls, tiny_mnist, tmp_path)
    reports = problem.generate_data(data_dir, str(tmp_path / "empty_tmp"))
    assert all(r.shards_written == 0 for r in reports.values())
    assert not (tmp_path / "empty_tmp").exists()


def test_per_example_and_batched_preprocessing_agree(tiny_problem_cls, tiny_mnist, tmp_path):
    problem, data_dir = generate(tiny_problem_cls, tiny_mnist, tmp_path)
    per_example = type("PerExample", (tiny_problem_cls,), {"batch_preprocess": False,
                                                           "registered_name": "tiny_mnist_fixture"})()
    a = all_examples(problem.dataset(Mode.EVAL, data_dir, deterministic=True))
    b = all_examples(per_example.dataset(Mode.EVAL, data_dir, deterministic=True))
    np.testing.assert_allclose(a[0], b[0], atol=1e-6)
    np.testing.assert_array_equal(a[1], b[1])


def test_generate_shard_is_the_shard_generate_data_writes(tiny_problem_cls, tiny_mnist, tmp_path):
    problem, data_dir = generate(tiny_problem_cls, tiny_mnist, tmp_path)
    tmp_dir, _, _ = tiny_mnist
    other = str(tmp_path / "one_shard")
    path = problem.generate_shard(other, tmp_dir, "train", 1, random_seed=1)
    assert os.path.basename(path) == "tiny_mnist_fixture-train-00001-of-00003"
    assert shard_files(other) == [os.path.basename(path)]
    with open(path, "rb") as a, open(os.path.join(data_dir, os.path.basename(path)), "rb") as b:
        assert a.read() == b.read()
    with pytest.raises(ValueError, match=r"shard_index 3 is outside \[0, 3\)"):
        problem.generate_shard(other, tmp_dir, "train", 3)


def test_the_seed_reaches_generate_samples_as_an_argument(tmp_path):
    from t2x import registry

    problem = registry.problem("tiny_algo")
    first = list(problem.samples(None, None, "train", seed=1))
    assert first == list(problem.samples(None, None, "train", seed=1))
    assert first != list(problem.samples(None, None, "train", seed=2))
    assert not [k for k in vars(problem) if "seed" in k]  # no seed kept on the instance


def test_element_spec_opens_no_file(tiny_problem_cls):
    spec = tiny_problem_cls().element_spec(Mode.TRAIN)  # no data_dir at all
    assert {k: (s.shape.as_list(), s.dtype) for k, s in spec.items()} == {
        "inputs": ([28, 28, 1], tf.float32), "targets": ([1], tf.int64)}


def test_get_hparams_follows_its_arguments(tiny_problem_cls, tmp_path):
    problem = tiny_problem_cls()
    a, b = problem.get_hparams(data_dir=str(tmp_path / "a")), problem.get_hparams(data_dir=str(tmp_path / "b"))
    assert (a.data_dir, b.data_dir) == (str(tmp_path / "a"), str(tmp_path / "b"))
    a.modality["inputs"] = "changed"  # a copy: the next caller is not affected
    assert problem.get_hparams(data_dir=str(tmp_path / "a")).modality["inputs"] == ModalityType.IMAGE
