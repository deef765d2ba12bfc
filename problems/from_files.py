"""Text problems from your own files, without writing a class (paths come from gin).

    t2x-datagen --problem=translate_from_files --data_dir=~/t2x_data/mine \\
        --gin_param="TranslateFromFiles.train_inputs='train.en'" \\
        --gin_param="TranslateFromFiles.train_targets='train.de'" \\
        --gin_param="TranslateFromFiles.dev_inputs='dev.en'" \\
        --gin_param="TranslateFromFiles.dev_targets='dev.de'"

(``t2x-trainer`` takes the same ``--gin_param``s and writes them to ``config.gin``.) Files
are plain or gzipped UTF-8, one example a line; paired files have one line per pair.
``LanguagemodelFromFiles`` takes ``train``/``dev`` text files; ``TextClassificationFromFiles``
takes ``train``/``dev`` files of ``label<TAB>text`` lines and ``class_labels``. Each is also a
base class: subclass it, set the attributes in Python and register it under your own name.
The data files take the problem's name, so two corpora need two ``--data_dir``s (or two
registered subclasses).

Large corpora: a subword vocabulary reads ``file_byte_budget`` bytes (default 1e6) of each
train file, in lines spread over the file (seeks: its time does not grow with the corpus),
and considers subtokens up to ``max_subtoken_length``; both are gin parameters, e.g.
``--gin_param=TranslateFromFiles.file_byte_budget=3e6``, recorded in
``<data_dir>/<vocab>.json``. The progress line's ETA counts the lines of the split's file.
"""

import gzip
import itertools
import os
from typing import Optional, Sequence

import gin

from t2x import registry
from t2x.data import text_lines
from t2x.data.text_problems import Text2ClassProblem, Text2SelfProblem, Text2TextProblem
from t2x.data.problem import DatasetSplit, ProblemConfigError, SplitSpec
from t2x.errors import DataError


def existing_file(path: str, name: str = "") -> str:
    """``path`` user-expanded, when it names a file this process can read; else a one-line
    error naming it (and ``name``, the gin binding that set it): no such file
    (``DataMissingError``), a directory or no permission (``DataError``)."""
    fix = (f"pass a text file, one example a line: --gin_param=\"{name}='path'\"" if name
           else "check the --gin_param that sets it")
    return text_lines.check_readable(path, name, fix)


def read_lines(path: str, name: str = ""):
    """Lines of a plain or gzipped UTF-8 file, newline stripped; a file that cannot be read
    and bytes that are not UTF-8 (``file:line``) are one-line errors (``t2x.data.text_lines``)."""
    path = existing_file(path, name)
    for _, line in text_lines.read_lines(path, name, check=False):
        yield line


def count_lines(path: str) -> Optional[int]:
    """The number of lines of a plain or gzipped file (None when it does not exist), read in
    1 MiB blocks: about a second per GiB of plain text."""
    path = os.path.expanduser(path)
    if not os.path.isfile(path):  # missing, or a directory: refused when the samples are read
        return None
    opener = gzip.open if path.endswith(".gz") else open
    count, last = 0, b"\n"
    with opener(path, "rb") as f:
        while block := f.read(1 << 20):
            count += block.count(b"\n")
            last = block[-1:]
    return count + (last != b"\n")


def read_parallel(inputs_path: str, targets_path: str, inputs_name: str = "", targets_name: str = ""):
    """Pairs of lines of two line-aligned files; files of different lengths are a DataError."""
    inputs, targets = read_lines(inputs_path, inputs_name), read_lines(targets_path, targets_name)
    n = 0
    for n, (source, target) in enumerate(itertools.zip_longest(inputs, targets), 1):
        if source is None or target is None:
            longer, shorter = (targets_path, inputs_path) if source is None else (inputs_path, targets_path)
            raise DataError(f"{inputs_path} and {targets_path} are not line-aligned: {shorter} ends "
                            f"after {n - 1} lines, {longer} goes on; one example a line in both")
        yield source, target


class _FromFiles:
    """Common checks: every path a split needs is set and exists, named by its gin binding.
    ``_lines_attr`` names the attribute of a split's file (one sample a line at most)."""

    _lines_attr = "{split}"
    _vocab_attrs = ()  # the attributes of the train files a subword vocabulary samples

    def _set_options(self, vocab_type, approx_vocab_size, train_shards, file_byte_budget,
                     max_subtoken_length):
        self.vocab_type, self.approx_vocab_size, self.train_shards = vocab_type, approx_vocab_size, train_shards
        self.file_byte_budget, self.max_subtoken_length = file_byte_budget, max_subtoken_length

    def _path(self, attr: str) -> str:
        """The file of gin binding ``attr``, checked: set, a file, readable (one-line errors
        naming the binding)."""
        value = getattr(self, attr)
        if not value:
            raise ProblemConfigError(f"{type(self).__name__}.{attr} is not set; pass "
                             f"--gin_param=\"{type(self).__name__}.{attr}='path'\"")
        return existing_file(value, f"{type(self).__name__}.{attr}")

    def _lines(self, attr: str):
        return read_lines(self._path(attr), f"{type(self).__name__}.{attr}")

    @property
    def dataset_splits(self):
        return [SplitSpec(DatasetSplit.TRAIN, self.train_shards), SplitSpec(DatasetSplit.EVAL, 1)]

    def num_samples(self, data_dir, tmp_dir, dataset_split):
        """The lines of the split's file (blank lines, skipped, make it an upper bound)."""
        prefix = "train" if dataset_split == DatasetSplit.TRAIN else "dev"
        path = getattr(self, self._lines_attr.format(split=prefix))
        return count_lines(path) if path else None

    def vocab_source_files(self, data_dir, tmp_dir):
        """The train files, sampled with seeks for a subword vocabulary (plain text lines)."""
        return [self._path(attr) for attr in self._vocab_attrs]


@registry.register_problem
@gin.configurable
class TranslateFromFiles(_FromFiles, Text2TextProblem):
    """Parallel text from line-aligned files (source -> target)."""

    _lines_attr = "{split}_inputs"
    _vocab_attrs = ("train_inputs", "train_targets")

    def __init__(self, was_reversed: bool = False, was_copy: bool = False, *,
                 train_inputs: Optional[str] = None, train_targets: Optional[str] = None,
                 dev_inputs: Optional[str] = None, dev_targets: Optional[str] = None,
                 vocab_type: str = "subword", approx_vocab_size: int = 2 ** 13, train_shards: int = 10,
                 file_byte_budget: float = 1e6, max_subtoken_length: Optional[int] = 200):
        super().__init__(was_reversed=was_reversed, was_copy=was_copy)
        self.train_inputs, self.train_targets = train_inputs, train_targets
        self.dev_inputs, self.dev_targets = dev_inputs, dev_targets
        self._set_options(vocab_type, approx_vocab_size, train_shards, file_byte_budget, max_subtoken_length)

    def generate_samples(self, data_dir, tmp_dir, dataset_split):
        prefix = "train" if dataset_split == DatasetSplit.TRAIN else "dev"
        name = type(self).__name__
        for source, target in read_parallel(self._path(f"{prefix}_inputs"), self._path(f"{prefix}_targets"),
                                            f"{name}.{prefix}_inputs", f"{name}.{prefix}_targets"):
            if source.strip() and target.strip():
                yield {"inputs": source.strip(), "targets": target.strip()}


@registry.register_problem
@gin.configurable
class LanguagemodelFromFiles(_FromFiles, Text2SelfProblem):
    """Language modelling on a text file, one sequence a line."""

    _vocab_attrs = ("train",)

    def __init__(self, was_reversed: bool = False, was_copy: bool = False, *,
                 train: Optional[str] = None, dev: Optional[str] = None,
                 vocab_type: str = "subword", approx_vocab_size: int = 2 ** 13, train_shards: int = 10,
                 file_byte_budget: float = 1e6, max_subtoken_length: Optional[int] = 200):
        super().__init__(was_reversed=was_reversed, was_copy=was_copy)
        self.train, self.dev = train, dev
        self._set_options(vocab_type, approx_vocab_size, train_shards, file_byte_budget, max_subtoken_length)

    def generate_samples(self, data_dir, tmp_dir, dataset_split):
        for line in self._lines("train" if dataset_split == DatasetSplit.TRAIN else "dev"):
            if line.strip():
                yield {"targets": line.strip()}


@registry.register_problem
@gin.configurable
class TextClassificationFromFiles(_FromFiles, Text2ClassProblem):
    """``label<TAB>text`` lines; labels are names from ``class_labels``."""

    def __init__(self, was_reversed: bool = False, was_copy: bool = False, *,
                 train: Optional[str] = None, dev: Optional[str] = None,
                 class_labels: Sequence[str] = ("neg", "pos"), vocab_type: str = "subword",
                 approx_vocab_size: int = 2 ** 13, train_shards: int = 10,
                 file_byte_budget: float = 1e6, max_subtoken_length: Optional[int] = 200):
        super().__init__(was_reversed=was_reversed, was_copy=was_copy)
        self.train, self.dev = train, dev
        self.class_labels = list(class_labels)
        self._set_options(vocab_type, approx_vocab_size, train_shards, file_byte_budget, max_subtoken_length)

    def generate_samples(self, data_dir, tmp_dir, dataset_split):
        attr = "train" if dataset_split == DatasetSplit.TRAIN else "dev"
        path = self._path(attr)
        for n, line in enumerate(self._lines(attr), 1):
            if not line.strip():
                continue
            label, sep, text = line.partition("\t")
            if not sep or label not in self.class_labels:
                raise ProblemConfigError(f"{path}:{n}: expected 'label<TAB>text' with a label in "
                                 f"{self.class_labels}, got {line[:60]!r}")
            yield {"inputs": text.strip(), "label": self.class_labels.index(label)}
