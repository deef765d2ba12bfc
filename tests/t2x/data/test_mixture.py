"""Mixtures of problems (t2x.data.mixture): rates, shared features, exact resume, datagen."""

import os

import numpy as np
import pytest
import tensorflow as tf

from t2x import registry
from t2x.data.mixture import MixtureProblem
from t2x.data.problem import Mode, ProblemConfigError
from t2x.hparam import HParams
from t2x.problems.algorithmic import AlgorithmicIdentityBinary40, AlgorithmicReverseBinary40


@registry.register_problem
class MixShortAlgo(AlgorithmicIdentityBinary40):
    """Identity on binary sequences of 1..4 symbols (with EOS: 2..5 ids)."""
    train_length = dev_length = 4
    train_size, dev_size, num_shards = 400, 40, 2


@registry.register_problem
class MixLongAlgo(AlgorithmicReverseBinary40):
    """Reverse on binary sequences of 8..15 symbols (with EOS: 9..16 ids)."""
    train_size, dev_size, num_shards = 400, 40, 2

    def generator(self, nbr_symbols, max_length, nbr_cases, rng):
        for _ in range(nbr_cases):
            inputs = rng.randint(nbr_symbols, size=8 + rng.randint(8)).tolist()
            yield {"inputs": inputs, "targets": inputs[::-1]}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("mix")
    reports = registry.problem("mixture:mix_short_algo+mix_long_algo").generate_data(
        str(root / "data"), str(root / "tmp"))
    assert sorted(reports) == ["mix_long_algo dev", "mix_long_algo train", "mix_short_algo dev",
                               "mix_short_algo train"]  # datagen generates every child
    return str(root / "data")


def hparams(batch_size=64):
    return HParams(batch_size=batch_size, max_length=0, min_length_bucket=8, length_bucket_step=1.1)


def child_counts(batches):
    """(short examples, long examples) in batches, told apart by their lengths."""
    short = long = 0
    for batch in batches:
        lengths = np.sum(batch["inputs"].numpy() != 0, axis=1)
        short += int(np.sum(lengths <= 5))
        long += int(np.sum(lengths >= 9))
        assert np.all((lengths <= 5) | (lengths >= 9))
    return short, long


@pytest.mark.parametrize("rates", [(1, 1), (3, 1), (1, 4)])
def test_the_share_of_each_child_is_its_rate_over_1000_batches(data_dir, rates):
    problem = MixtureProblem(children=["mix_short_algo", "mix_long_algo"], rates=rates)
    ds = problem.dataset(Mode.TRAIN, data_dir, hparams(), batch_size=64, seed=7, deterministic=True)
    short, long = child_counts(ds.take(1000))
    share = short / (short + long)
    assert abs(share - rates[0] / sum(rates)) < 0.02, (share, short, long)


def test_the_draws_resume_exactly_from_an_iterator_checkpoint(data_dir, tmp_path):
    problem = registry.problem("mixture:mix_short_algo+mix_long_algo")
    make = lambda: iter(problem.dataset(Mode.TRAIN, data_dir, hparams(), batch_size=64, seed=3,  # noqa: E731
                                        deterministic=True))
    first = make()
    for _ in range(5):
        next(first)
    ckpt = tf.train.Checkpoint(iterator=first)
    path = ckpt.write(str(tmp_path / "it"))
    expected = [next(first) for _ in range(6)]
    resumed = make()
    tf.train.Checkpoint(iterator=resumed).read(path).assert_consumed()
    for want in expected:
        got = next(resumed)
        np.testing.assert_array_equal(got["inputs"].numpy(), want["inputs"].numpy())
        np.testing.assert_array_equal(got["targets"].numpy(), want["targets"].numpy())


def test_evaluation_reads_every_child_once_and_each_child_apart(data_dir):
    problem = registry.problem("mixture:mix_short_algo+mix_long_algo")
    assert problem.child_rates == [0.5, 0.5]  # equal unless told
    everything = child_counts(problem.dataset(Mode.EVAL, data_dir, hparams(), batch_size=64))
    assert everything == (40, 40)
    assert list(problem.eval_problems()) == ["", "mix_short_algo", "mix_long_algo"]
    one = problem.dataset(Mode.EVAL, data_dir, hparams(), batch_size=64, dataset_split="mix_long_algo:dev")
    assert child_counts(one) == (0, 40)
    with pytest.raises(ProblemConfigError, match="mix_lon is not a problem of mixture:mix_short_algo"):
        problem.dataset(Mode.EVAL, data_dir, hparams(), batch_size=64, dataset_split="mix_lon:dev")


def test_children_must_share_the_models_features(data_dir):
    problem = registry.problem("mixture:mix_short_algo+algorithmic_identity_decimal40")
    with pytest.raises(ProblemConfigError, match=r"do not share the model's features \(inputs: mix_short_algo "
                                                 r"has symbol of vocab 4, algorithmic_identity_decimal40 has "
                                                 r"symbol of vocab 12; targets: "):
        problem.get_hparams(None, data_dir)
    hp = registry.problem("mixture:mix_short_algo+mix_long_algo").get_hparams(None, data_dir)
    assert hp.vocab_size == {"inputs": 4, "targets": 4} and hp.stop_at_eos


@pytest.mark.parametrize("name, message", [
    ("mixture:mix_short_algo", "needs two problems or more"),
    ("mixture:mix_short_algo+mix_short_algo", "names a problem twice"),
    ("mixture:mix_short_algo+mix_lng_algo", "problem 'mix_lng_algo' is not in the problems registry; "
                                            "did you mean mix_long_algo"),
])
def test_bad_mixtures_are_one_line_errors(name, message):
    from t2x.errors import T2XError

    with pytest.raises(T2XError, match=message):
        registry.problem(name)
    with pytest.raises(ProblemConfigError, match="every rate must be > 0"):
        MixtureProblem(children=["mix_short_algo", "mix_long_algo"], rates=[1, 0])
    with pytest.raises(ProblemConfigError, match="has 3 rates for 2 problems"):
        MixtureProblem(children=["mix_short_algo", "mix_long_algo"], rates=[1, 2, 3])


def test_a_suffix_belongs_to_the_last_child_and_a_subclass_names_its_own_mixture():
    problem = registry.problem("mixture:mix_short_algo+mix_long_algo_rev")
    assert problem.child_names == ["mix_short_algo", "mix_long_algo_rev"]
    assert problem.child_problems[1].was_reversed

    class ShortAndLong(MixtureProblem):
        children = ("mix_short_algo", "mix_long_algo")
        rates = (3, 1)

    named = ShortAndLong()
    assert named.name == "short_and_long" and named.child_rates == [0.75, 0.25]
    assert os.sep not in named.dataset_filename()
