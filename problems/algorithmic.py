"""T2T's download-free algorithmic problems (``algorithmic_*``) and ``tiny_algo``.

Each problem draws ``train_size`` train sequences of length 1..``train_length`` (40) and
``dev_size`` dev sequences of length 1..``dev_length`` (400: T2T's length-generalization
setting), as symbol ids ``0..num_symbols-1``; stored ids are shifted past PAD=0 and EOS=1
and end with EOS, as T2T. Samples come from a ``numpy.random.RandomState`` seeded by the
problem, the split and ``--random_seed`` (no global state: every writer process draws the
same stream), so the same seed gives byte-identical shards.

Length generalisation: a problem whose dev sequences are longer than its train ones reports
evaluation per length bucket of the inputs (EOS not counted) as well as overall:
``eval/length_1-40/<metric>``, ``eval/length_41-100/<metric>``, ``eval/length_101-400/<metric>``
(``length_buckets``; per-sequence accuracy is among the metrics), through
``eval_problems()``: views of the one dev split written (``t2x.data.views``), no new data.

Where this differs from T2T: the addition and multiplication problems separate their two
numbers with the symbol ``base``, which T2T's vocabulary (``num_symbols + 2``) did not
count; here the vocabulary includes it. The nlp-like problems draw symbols 0..n-1 (T2T's
draws were 1..n, the largest outside its vocabulary).
"""

import zlib
from typing import Dict, Iterator, List

import numpy as np

from t2x import registry
from t2x.data.text_encoder import EOS_ID, NUM_RESERVED_TOKENS, TextEncoder
from t2x.data.problem import DEFAULT_RANDOM_SEED, DatasetSplit, ModalityType, Problem, SplitSpec
from t2x.data.views import ProblemView, length_between


class AlgorithmicProblem(Problem):
    """Symbol sequences in, symbol sequences out. Subclasses set ``num_symbols`` and write
    ``generator(nbr_symbols, max_length, nbr_cases, rng)``."""

    variable_length = True
    shuffle_on_disk = False  # T2T wrote algorithmic shards unshuffled
    num_symbols = 2
    extra_symbols = 0  # separators drawn as ``num_symbols`` (addition, multiplication)
    train_length, dev_length = 40, 400
    train_size, dev_size = 100000, 10000
    num_shards = 10
    # Inclusive input-length ranges evaluation reports apart when dev is longer than train.
    length_buckets = ((1, 40), (41, 100), (101, 400))

    def generator(self, nbr_symbols: int, max_length: int, nbr_cases: int,
                  rng: np.random.RandomState) -> Iterator[Dict[str, List[int]]]:
        raise NotImplementedError

    @property
    def dataset_splits(self):
        return [SplitSpec(DatasetSplit.TRAIN, self.num_shards), SplitSpec(DatasetSplit.EVAL, 1)]

    def generate_samples(self, data_dir, tmp_dir, dataset_split, seed=DEFAULT_RANDOM_SEED):
        """Host: ``{"inputs": [symbols], "targets": [symbols]}`` of one split, drawn from a
        generator seeded by the problem, the split and ``seed``."""
        del data_dir, tmp_dir
        train = dataset_split == DatasetSplit.TRAIN
        split_seed = zlib.crc32(f"{self.name}:{dataset_split}:{seed}".encode())
        yield from self.generator(self.num_symbols, self.train_length if train else self.dev_length,
                                  self.train_size if train else self.dev_size,
                                  np.random.RandomState(split_seed))

    def encode_sample(self, sample, encoders):
        return {k: [int(i) + NUM_RESERVED_TOKENS for i in v] + [EOS_ID] for k, v in sample.items()}

    def feature_encoders(self, data_dir):
        del data_dir
        return {"inputs": TextEncoder(), "targets": TextEncoder()}

    def hparams(self, defaults, model_hparams):
        del model_hparams
        vocab_size = self.num_symbols + self.extra_symbols + NUM_RESERVED_TOKENS
        defaults.modality = {"inputs": ModalityType.SYMBOL, "targets": ModalityType.SYMBOL}
        defaults.vocab_size = {"inputs": vocab_size, "targets": vocab_size}
        defaults.input_space_id, defaults.target_space_id = 4, 5  # T2T's DIGIT_0, DIGIT_1
        defaults.stop_at_eos = True

    def eval_metrics(self):
        return ["accuracy", "accuracy_per_sequence", "neg_log_perplexity"]

    def eval_problems(self):
        """Host: ``{"": self, "length_<lo>-<hi>": view, ...}``, one view of dev per bucket of
        ``length_buckets`` that dev lengths (1..``dev_length``) reach, when dev goes beyond
        ``train_length`` and reaches two buckets or more; else ``{"": self}``. A view keeps
        the dev examples whose inputs hold ``lo..hi`` symbols (EOS not counted)."""
        buckets = [(lo, hi) for lo, hi in self.length_buckets if lo <= self.dev_length]
        if self.dev_length <= self.train_length or len(buckets) < 2:
            return {"": self}
        views = {"": self}
        for lo, hi in buckets:
            name = f"length_{lo}-{hi}"
            views[name] = ProblemView(self, name, keep=lambda b, lo=lo, hi=hi: length_between(b, lo, hi))
        return views


def _uniform(rng, nbr_symbols, max_length, nbr_cases):
    for _ in range(nbr_cases):
        yield rng.randint(nbr_symbols, size=rng.randint(max_length) + 1).tolist()


@registry.register_problem
class AlgorithmicIdentityBinary40(AlgorithmicProblem):
    """Copy a binary sequence."""
    num_symbols = 2

    def generator(self, nbr_symbols, max_length, nbr_cases, rng):
        for inputs in _uniform(rng, nbr_symbols, max_length, nbr_cases):
            yield {"inputs": inputs, "targets": inputs}


@registry.register_problem
class AlgorithmicIdentityDecimal40(AlgorithmicIdentityBinary40):
    num_symbols = 10


@registry.register_problem
class AlgorithmicShiftDecimal40(AlgorithmicProblem):
    """Add 10 to every symbol of 0..9 (20 symbols); dev length 80 (T2T's)."""
    num_symbols = 20
    dev_length = 80

    def generator(self, nbr_symbols, max_length, nbr_cases, rng):
        shift = 10
        for inputs in _uniform(rng, nbr_symbols - shift, max_length, nbr_cases):
            yield {"inputs": inputs, "targets": [i + shift for i in inputs]}


@registry.register_problem
class AlgorithmicReverseBinary40(AlgorithmicProblem):
    """Reverse a binary sequence."""
    num_symbols = 2

    def generator(self, nbr_symbols, max_length, nbr_cases, rng):
        for inputs in _uniform(rng, nbr_symbols, max_length, nbr_cases):
            yield {"inputs": inputs, "targets": inputs[::-1]}


@registry.register_problem
class AlgorithmicReverseDecimal40(AlgorithmicReverseBinary40):
    num_symbols = 10


def zipf_distribution(nbr_symbols: int, alpha: float) -> np.ndarray:
    """Cumulative Zipf distribution over ``nbr_symbols`` (starts at 0, ends at 1)."""
    weights = np.power(np.arange(1, nbr_symbols + 1, dtype=np.float64), -alpha)
    cumulative = np.concatenate([[0.0], np.cumsum(weights)])
    return cumulative / cumulative[-1]


@registry.register_problem
class AlgorithmicReverseNlplike8k(AlgorithmicProblem):
    """Reverse Zipf-distributed symbols (alpha 1.3); lengths ~ |N(max/2, max/10)| + 1 (T2T)."""
    num_symbols = 8000
    train_length = dev_length = 70
    zipf_alpha = 1.3
    scale_std_dev = 10

    def generator(self, nbr_symbols, max_length, nbr_cases, rng):
        cdf = zipf_distribution(nbr_symbols, self.zipf_alpha)
        std = max_length / self.scale_std_dev
        for _ in range(nbr_cases):
            length = int(abs(rng.normal(loc=max_length / 2, scale=std)) + 1)
            # searchsorted on the cumulative (leading 0) gives 1..n; T2T kept that, so its
            # largest symbol fell outside the vocabulary. Symbols here are 0..n-1.
            inputs = (np.searchsorted(cdf, rng.random_sample(length)) - 1).clip(0).tolist()
            yield {"inputs": inputs, "targets": inputs[::-1]}


@registry.register_problem
class AlgorithmicReverseNlplike32k(AlgorithmicReverseNlplike8k):
    num_symbols = 32000
    zipf_alpha = 1.05


def lower_endian_to_number(digits, base: int) -> int:
    return sum(int(d) * base ** i for i, d in enumerate(digits))


def number_to_lower_endian(n: int, base: int) -> List[int]:
    digits = []
    while True:
        digits.append(n % base)
        n //= base
        if n == 0:
            return digits


def _random_number(rng, length: int, base: int) -> List[int]:
    """Lower-endian digits; the most significant is non-zero unless the number has one digit."""
    if length == 1:
        return [int(rng.randint(base))]
    return rng.randint(base, size=length - 1).tolist() + [int(rng.randint(base - 1)) + 1]


@registry.register_problem
class AlgorithmicAdditionBinary40(AlgorithmicProblem):
    """``n1 <base> n2`` -> ``n1 + n2``, lower-endian digits."""
    num_symbols = 2
    extra_symbols = 1

    def combine(self, a: int, b: int) -> int:
        return a + b

    def generator(self, nbr_symbols, max_length, nbr_cases, rng):
        base = nbr_symbols
        if max_length < 3:
            raise ValueError(f"max_length must be at least 3, got {max_length}")
        for _ in range(nbr_cases):
            l1 = int(rng.randint(max_length // 2)) + 1
            l2 = int(rng.randint(max_length - l1 - 1)) + 1
            n1, n2 = _random_number(rng, l1, base), _random_number(rng, l2, base)
            result = self.combine(lower_endian_to_number(n1, base), lower_endian_to_number(n2, base))
            yield {"inputs": n1 + [base] + n2, "targets": number_to_lower_endian(result, base)}


@registry.register_problem
class AlgorithmicAdditionDecimal40(AlgorithmicAdditionBinary40):
    num_symbols = 10


@registry.register_problem
class AlgorithmicMultiplicationBinary40(AlgorithmicAdditionBinary40):
    """``n1 <base> n2`` -> ``n1 * n2``, lower-endian digits."""

    def combine(self, a: int, b: int) -> int:
        return a * b


@registry.register_problem
class AlgorithmicMultiplicationDecimal40(AlgorithmicMultiplicationBinary40):
    num_symbols = 10


@registry.register_problem
class AlgorithmicSortProblem(AlgorithmicProblem):
    """Sort symbols (T2T: train length 10, dev 20, symbols 0..max(train, dev) - 1)."""
    train_length, dev_length = 10, 20
    num_symbols = 20
    unique = False  # draw without replacement when True

    def generator(self, nbr_symbols, max_length, nbr_cases, rng):
        for _ in range(nbr_cases):
            length = int(rng.randint(max_length)) + 1
            inputs = (rng.permutation(nbr_symbols)[:length].tolist() if self.unique
                      else rng.randint(nbr_symbols, size=length).tolist())
            yield {"inputs": inputs, "targets": sorted(inputs)}


@registry.register_problem
class AlgorithmicReverseBinary40Test(AlgorithmicReverseBinary40):
    """T2T's small test problem: lengths 10, 1000 train / 100 dev, one shard."""
    train_length = dev_length = 10
    train_size, dev_size = 1000, 100
    num_shards = 1


@registry.register_problem
class TinyAlgo(AlgorithmicIdentityBinary40):
    """T2T's ``tiny_algo`` for tests: binary identity, 100 train sequences of length <= 40,
    100 dev sequences of length <= 400, one shard each."""
    train_size, dev_size = 100, 100
    num_shards = 1
