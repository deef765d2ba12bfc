"""Algorithmic problems: generator semantics, encoding, seeded generation, length batching."""

import hashlib
import os

import numpy as np
import pytest

from conftest import shard_files
from t2x import registry
from t2x.data.problem import Mode
from t2x.problems.algorithmic import lower_endian_to_number, number_to_lower_endian


def samples(name, n=200, length=12):
    problem = registry.problem(name)
    rng = np.random.RandomState(0)
    return list(problem.generator(problem.num_symbols, length, n, rng)), problem


@pytest.mark.parametrize("name,check", [
    ("algorithmic_identity_binary40", lambda i, t: t == i),
    ("algorithmic_identity_decimal40", lambda i, t: t == i),
    ("algorithmic_reverse_binary40", lambda i, t: t == i[::-1]),
    ("algorithmic_reverse_decimal40", lambda i, t: t == i[::-1]),
    ("algorithmic_shift_decimal40", lambda i, t: t == [x + 10 for x in i] and max(i) < 10),
    ("algorithmic_sort_problem", lambda i, t: t == sorted(i)),
    ("algorithmic_reverse_nlplike8k", lambda i, t: t == i[::-1]),
])
def test_generator_semantics(name, check):
    cases, problem = samples(name)
    assert len(cases) == 200
    for case in cases:
        assert check(case["inputs"], case["targets"])
        assert 1 <= len(case["inputs"]) and max(case["inputs"]) < problem.num_symbols
    if "nlplike" not in name:
        assert max(len(c["inputs"]) for c in cases) <= 12
        assert len({len(c["inputs"]) for c in cases}) > 6  # lengths drawn from 1..max


@pytest.mark.parametrize("name,op", [("algorithmic_addition_binary40", lambda a, b: a + b),
                                     ("algorithmic_addition_decimal40", lambda a, b: a + b),
                                     ("algorithmic_multiplication_binary40", lambda a, b: a * b),
                                     ("algorithmic_multiplication_decimal40", lambda a, b: a * b)])
def test_arithmetic(name, op):
    cases, problem = samples(name, length=20)
    base = problem.num_symbols
    for case in cases:
        sep = case["inputs"].index(base)
        a, b = case["inputs"][:sep], case["inputs"][sep + 1:]
        assert len(case["inputs"]) <= 20 and a and b
        assert lower_endian_to_number(case["targets"], base) == op(lower_endian_to_number(a, base),
                                                                   lower_endian_to_number(b, base))
    assert problem.get_hparams().vocab_size["inputs"] == base + 1 + 2  # separator counted
    assert number_to_lower_endian(6, 2) == [0, 1, 1] and number_to_lower_endian(0, 10) == [0]


def test_nlplike_lengths_and_zipf():
    cases, _ = samples("algorithmic_reverse_nlplike8k", n=500, length=70)
    lengths = np.array([len(c["inputs"]) for c in cases])
    assert 30 < lengths.mean() < 40  # ~ |N(35, 7)| + 1
    symbols = np.concatenate([c["inputs"] for c in cases])
    assert (symbols == 0).mean() > 0.2  # Zipf: the first symbol dominates


def test_encoding_shifts_and_appends_eos():
    problem = registry.problem("algorithmic_reverse_binary40")
    assert problem.encode_sample({"inputs": [0, 1, 1], "targets": [1, 1, 0]}, {}) == {
        "inputs": [2, 3, 3, 1], "targets": [3, 3, 2, 1]}
    hp = problem.get_hparams()
    assert hp.vocab_size == {"inputs": 4, "targets": 4} and hp.modality["targets"] == "symbol"


def digest(directory):
    return {f: hashlib.sha256(open(os.path.join(directory, f), "rb").read()).hexdigest()
            for f in shard_files(directory)}


def test_tiny_algo_generation_is_seeded_and_reads_in_length_buckets(tmp_path):
    problem = registry.problem("tiny_algo")
    problem.generate_data(str(tmp_path / "a"), str(tmp_path / "tmp"), random_seed=1)
    registry.problem("tiny_algo").generate_data(str(tmp_path / "b"), str(tmp_path / "tmp"), random_seed=1)
    registry.problem("tiny_algo").generate_data(str(tmp_path / "c"), str(tmp_path / "tmp"), random_seed=2)
    assert sorted(digest(tmp_path / "a")) == ["tiny_algo-dev-00000-of-00001", "tiny_algo-train-00000-of-00001"]
    assert digest(tmp_path / "a") == digest(tmp_path / "b")
    assert digest(tmp_path / "a") != digest(tmp_path / "c")

    examples = list(problem.dataset(Mode.EVAL, str(tmp_path / "a"), dataset_split="train", deterministic=True))
    assert len(examples) == 100
    for ex in examples:
        inputs = ex["inputs"].numpy()
        assert inputs[-1] == 1 and set(inputs[:-1]) <= {2, 3}  # exact length, EOS last
        np.testing.assert_array_equal(inputs, ex["targets"].numpy())
    dev_lengths = [len(ex["inputs"]) for ex in problem.dataset(Mode.EVAL, str(tmp_path / "a"))]
    assert max(dev_lengths) > 100  # dev goes to length 400

    hp = registry.hparams("basic_params1")()
    hp.batch_size, hp.max_length = 256, 30
    batches = list(problem.dataset(Mode.TRAIN, str(tmp_path / "a"), hp, batch_size=256, seed=0,
                                   deterministic=True).take(20))
    for batch in batches:
        inputs = batch["inputs"].numpy()
        assert inputs.shape[1] <= 30  # max_length drops longer examples in training
        assert inputs.shape[0] * inputs.shape[1] <= 256 + 256  # about the token budget
        lengths = (inputs != 0).sum(1)
        assert lengths.max() == inputs.shape[1]  # padded to the longest of the batch
    assert len({b["inputs"].shape[1] for b in batches}) > 2  # several buckets


def test_packed_training_batches_of_tiny_algo(tmp_path):
    from t2x.errors import ConfigError

    problem = registry.problem("tiny_algo")
    problem.generate_data(str(tmp_path / "d"), str(tmp_path / "tmp"))
    hp = registry.hparams("transformer_test")()
    hp.override_from_dict({"packed": True, "packed_length": 64, "batch_size": 256})
    ds = problem.dataset(Mode.TRAIN, str(tmp_path / "d"), hp, batch_size=256, seed=1, deterministic=True)
    batches = list(ds.take(8).as_numpy_iterator())
    assert sorted(batches[0]) == ["inputs", "inputs_position", "inputs_segmentation",
                                  "targets", "targets_position", "targets_segmentation"]
    assert all(b["targets"].shape == (4, 64) for b in batches)  # 256 tokens // 64 per row
    segments_per_row = np.mean([b["targets_segmentation"].max(axis=1).mean() for b in batches])
    assert segments_per_row > 2  # several examples a row (tiny_algo: lengths 1..40, mean ~21)
    assert np.mean([(b["targets"] != 0).mean() for b in batches]) > 0.75
    for batch in batches:  # segment by segment: real examples (EOS last), positions from 0
        for key in ("inputs", "targets"):
            for row, segs, pos in zip(batch[key], batch[key + "_segmentation"], batch[key + "_position"]):
                for s in range(1, segs.max() + 1):
                    assert row[segs == s][-1] == 1 and (row[segs == s][:-1] > 1).all()
                    assert list(pos[segs == s]) == list(range((segs == s).sum()))
    # Evaluation reads single examples, packed or not.
    ev = next(iter(problem.dataset(Mode.EVAL, str(tmp_path / "d"), hp, batch_size=256)))
    assert "targets_segmentation" not in ev
    image = registry.problem("image_mnist")
    with pytest.raises(ConfigError, match="not a sequence problem"):
        image.packed_length(hp)
