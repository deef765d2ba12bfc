"""Views of a dev split (t2x.data.views) and the algorithmic problems' length buckets."""

import numpy as np
import pytest

from t2x import registry
from t2x.data.problem import DatasetSplit, Mode
from t2x.data.views import ProblemView, length_between
from t2x.hparam import HParams


@pytest.fixture(scope="module")
def tiny_algo(tmp_path_factory):
    root = tmp_path_factory.mktemp("views")
    problem = registry.problem("tiny_algo")  # 100 dev sequences of 1..400 symbols
    problem.generate_data(str(root / "data"), str(root / "tmp"))
    return problem, str(root / "data")


def lengths(problem, data_dir, **kwargs):
    return [len(ex["inputs"]) - 1 for ex in problem.dataset(Mode.EVAL, data_dir, deterministic=True, **kwargs)]


def test_length_buckets_partition_dev(tiny_algo):
    problem, data_dir = tiny_algo
    views = problem.eval_problems()
    assert list(views) == ["", "length_1-40", "length_41-100", "length_101-400"]
    everything = lengths(problem, data_dir)
    total = 0
    for name, (lo, hi) in zip(list(views)[1:], problem.length_buckets):
        got = lengths(views[name], data_dir)
        assert got and all(lo <= n <= hi for n in got)
        assert len(got) == sum(lo <= n <= hi for n in everything)
        total += len(got)
    assert total == len(everything) == 100
    view = views["length_101-400"]
    assert view.full_name == "tiny_algo/length_101-400" and view.dataset_filename() == "tiny_algo"
    assert view.get_hparams().vocab_size == problem.get_hparams().vocab_size
    assert view.element_spec(Mode.EVAL) == problem.element_spec(Mode.EVAL)


def test_views_batch_by_length_like_their_parent(tiny_algo):
    problem, data_dir = tiny_algo
    view = problem.eval_problems()["length_41-100"]
    hp = HParams(batch_size=400, max_length=0, min_length_bucket=8, length_bucket_step=1.1)
    batches = list(view.dataset(Mode.EVAL, data_dir, hp, batch_size=400))
    sizes = [b["inputs"].shape for b in batches]
    assert sum(s[0] for s in sizes) == len(lengths(view, data_dir))
    assert all(41 + 1 <= s[1] <= 100 + 1 for s in sizes)  # padded to a length of the bucket


def test_a_view_of_another_split_and_the_explicit_split(tiny_algo):
    problem, data_dir = tiny_algo
    train_view = ProblemView(problem, "as_train", dataset_split=DatasetSplit.TRAIN)
    assert len(lengths(train_view, data_dir)) == 100 and max(lengths(train_view, data_dir)) <= 40
    short = ProblemView(problem, "short", keep=lambda b: length_between(b, 1, 10))
    assert all(n <= 10 for n in lengths(short, data_dir, dataset_split="train"))  # explicit split, filtered


def test_problems_without_longer_dev_have_no_buckets():
    for name in ("algorithmic_sort_problem", "algorithmic_reverse_nlplike8k", "algorithmic_reverse_binary40_test"):
        problem = registry.problem(name)
        assert list(problem.eval_problems()) == [""]
    assert list(registry.problem("algorithmic_shift_decimal40").eval_problems()) == [
        "", "length_1-40", "length_41-100"]  # dev reaches 80
    assert list(registry.problem("algorithmic_addition_decimal40").eval_problems())[1:] == [
        "length_1-40", "length_41-100", "length_101-400"]


def test_length_between_on_dense_and_ragged():
    import tensorflow as tf

    ragged = {"inputs": tf.ragged.constant([[5, 1], [5, 5, 5, 1], [5] * 41 + [1]], dtype=tf.int64)}
    np.testing.assert_array_equal(length_between(ragged, 1, 3).numpy(), [True, True, False])
    np.testing.assert_array_equal(length_between(ragged, 41, 100).numpy(), [False, False, True])
    dense = {"inputs": tf.zeros([2, 5], tf.int64)}
    np.testing.assert_array_equal(length_between(dense, 4, 4).numpy(), [True, True])
