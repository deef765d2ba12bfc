"""DeepMind Mathematics (Saxton et al. 2019) as T2T's ``algorithmic_math_deepmind_all``.

Data: the release read from ``--tmp_dir``: its folder ``mathematics_dataset-v1.0/`` with
``train-easy/ train-medium/ train-hard/ interpolate/ extrapolate/``, each holding
``<module>.txt`` files of alternating question and answer lines, or the release tarball
``mathematics_dataset-v1.0.tar.gz`` (extracted there once). Any subset of the modules may be
present (the team's copy has 8: copy ``mathematics_dataset-subset`` in under the release's
name). Nothing is downloaded. A file with a question but no answer (an odd number of lines)
is one line naming ``file:line``.

Format (T2T's): character vocabulary (UTF-8 bytes), inputs = the question, targets = the
answer, each + EOS. Splits:

* train = every module of ``train-easy``, ``train-medium`` and ``train-hard`` (T2T's; mixed
  uniformly, as the paper's results);
* dev = ``interpolate`` and ``extrapolate`` together (T2T's one eval set);
* ``interpolate-<module>`` and ``extrapolate-<module>``: one module's test questions each,
  written at datagen for every module of the release (``INTERPOLATE_MODULES``,
  ``EXTRAPOLATE_MODULES``) whose file is in ``--tmp_dir``; they are optional
  (``missing_shards`` counts train and dev only): modules added to ``--tmp_dir`` later are
  written by ``--generate_data``.

Evaluation (``eval_problems``) reports, besides dev as a whole, each module apart, the paper's
way: ``eval/interpolate/<module>/accuracy_per_sequence`` and
``eval/extrapolate/<module>/accuracy_per_sequence`` (exact match of the whole answer: with
teacher forcing, all answer tokens argmax-right, which is what greedy decoding gets right),
and their averages over modules (``summarize_eval``): ``eval/interpolate/mean_<metric>``,
``eval/extrapolate/mean_<metric>``. ``eval_report(results)`` renders the per-module table.
Only modules with dev examples in the last ``data_dir`` seen (``get_hparams``) are listed.
"""

import os
from typing import Dict, Iterator, List, Optional, Tuple

from absl import logging

from t2x import registry
from t2x.data import download, text_lines
from t2x.data.problem import DatasetSplit, ProblemConfigError, SplitSpec
from t2x.data.text_problems import Text2TextProblem
from t2x.data.views import ProblemView
from t2x.errors import DataError, DataMissingError

RELEASE_DIR = "mathematics_dataset-v1.0"
RELEASE_TAR = RELEASE_DIR + ".tar.gz"
TRAIN_DIRS = ("train-easy", "train-medium", "train-hard")
TEST_DIRS = ("interpolate", "extrapolate")

# The modules of the v1.0 release (interpolate: the 56 train modules; extrapolate: 15).
INTERPOLATE_MODULES = tuple(f"{area}__{m}" for area, ms in (
    ("algebra", "linear_1d linear_1d_composed linear_2d linear_2d_composed polynomial_roots "
                "polynomial_roots_composed sequence_next_term sequence_nth_term"),
    ("arithmetic", "add_or_sub add_or_sub_in_base add_sub_multiple div mixed mul mul_div_multiple "
                   "nearest_integer_root simplify_surd"),
    ("calculus", "differentiate differentiate_composed"),
    ("comparison", "closest closest_composed kth_biggest kth_biggest_composed pair pair_composed "
                   "sort sort_composed"),
    ("measurement", "conversion time"),
    ("numbers", "base_conversion div_remainder div_remainder_composed gcd gcd_composed is_factor "
                "is_factor_composed is_prime is_prime_composed lcm lcm_composed list_prime_factors "
                "list_prime_factors_composed place_value place_value_composed round_number "
                "round_number_composed"),
    ("polynomials", "add coefficient_named collect compose evaluate evaluate_composed expand "
                    "simplify_power"),
    ("probability", "swr_p_level_set swr_p_sequence")) for m in ms.split())
EXTRAPOLATE_MODULES = (
    "algebra__polynomial_roots_big", "arithmetic__add_or_sub_big", "arithmetic__add_sub_multiple_longer",
    "arithmetic__div_big", "arithmetic__mixed_longer", "arithmetic__mul_big",
    "arithmetic__mul_div_multiple_longer", "comparison__closest_more", "comparison__kth_biggest_more",
    "comparison__sort_more", "measurement__conversion", "numbers__place_value_big",
    "numbers__round_number_big", "probability__swr_p_level_set_more_samples",
    "probability__swr_p_sequence_more_samples")
RELEASE_MODULES = {"interpolate": INTERPOLATE_MODULES, "extrapolate": EXTRAPOLATE_MODULES}


def read_pairs(path: str) -> Iterator[Tuple[str, str]]:
    """Host: ``(question, answer)`` of a file of alternating question and answer lines
    (stripped). A question with no answer line after it is a one-line ``DataError``."""
    question: Optional[Tuple[int, str]] = None
    for n, line in text_lines.read_lines(path, "", fix="put the release's files in --tmp_dir"):
        if question is None:
            question = (n, line.strip())
        else:
            yield question[1], line.strip()
            question = None
    if question is not None:
        raise DataError(f"{path}:{question[0]}: question {question[1][:60]!r} has no answer line (the "
                        f"file has {question[0]} lines, an odd number): a module file alternates question "
                        "and answer lines")


def module_split(test_dir: str, module: str) -> str:
    """The split of one module's test questions: ``interpolate-<module>``."""
    return f"{test_dir}-{module}"


@registry.register_problem
class AlgorithmicMathDeepmindAll(Text2TextProblem):
    """DeepMind Mathematics, every module of the release in ``--tmp_dir`` (module docstring)."""

    vocab_type = "character"
    train_shards = 128  # T2T's

    @property
    def dataset_splits(self):
        per_module = [SplitSpec(module_split(d, m), 1) for d in TEST_DIRS for m in RELEASE_MODULES[d]]
        return [SplitSpec(DatasetSplit.TRAIN, self.train_shards), SplitSpec(DatasetSplit.EVAL, 1)] + per_module

    _module_splits_present = None  # set during generate_data: the module splits with a file

    def missing_shards(self, data_dir: str, splits: Optional[List[str]] = None) -> List[str]:
        """Missing shards of ``splits``; by default of train and dev only (module splits are
        written for the modules ``--tmp_dir`` has, which ``data_dir`` cannot tell)."""
        return super().missing_shards(data_dir, splits or [DatasetSplit.TRAIN, DatasetSplit.EVAL])

    def generate_data(self, data_dir, tmp_dir, task_id=-1, **kwargs):
        """Host: ``Problem.generate_data`` for train, dev and the module splits whose file is
        in ``tmp_dir`` (the tarball extracted first when its folder is not there)."""
        self._extract(tmp_dir)
        self._module_splits_present = {
            module_split(d, m) for d in TEST_DIRS for m in RELEASE_MODULES[d]
            if os.path.isfile(os.path.join(self.release_dir(tmp_dir), d, m + ".txt"))}
        try:
            return super().generate_data(data_dir, tmp_dir, task_id, **kwargs)
        finally:
            self._module_splits_present = None

    def generation_plan(self, data_dir):
        present = self._module_splits_present
        return [entry for entry in super().generation_plan(data_dir)
                if present is None or entry[2] in (DatasetSplit.TRAIN, DatasetSplit.EVAL) or entry[2] in present]

    # -- the release's files ------------------------------------------------------------
    @staticmethod
    def release_dir(tmp_dir: str) -> str:
        return os.path.join(tmp_dir, RELEASE_DIR)

    def _extract(self, tmp_dir: str) -> None:
        folder, tarball = self.release_dir(tmp_dir), os.path.join(tmp_dir, RELEASE_TAR)
        if not os.path.isdir(folder) and os.path.isfile(tarball):
            logging.info("extracting %s into %s", tarball, tmp_dir)
            download.extract_archive(tarball, tmp_dir)

    def prepare_data(self, data_dir, tmp_dir):
        """Host, once: extracts ``mathematics_dataset-v1.0.tar.gz`` in ``tmp_dir`` when its
        folder is not there; checks there is train data (one-line error naming the folder)."""
        self._extract(tmp_dir)
        self.source_files(tmp_dir, DatasetSplit.TRAIN)
        super().prepare_data(data_dir, tmp_dir)

    def modules(self, tmp_dir: str, folder: str) -> List[str]:
        """The modules (``<module>.txt`` files) of one folder of the release, sorted."""
        path = os.path.join(self.release_dir(tmp_dir), folder)
        if not os.path.isdir(path):
            return []
        return sorted(f[:-4] for f in os.listdir(path) if f.endswith(".txt"))

    def source_files(self, tmp_dir: str, dataset_split: str) -> List[str]:
        """Host: the module files a split reads (train: every module of the three train
        folders; dev: of ``interpolate`` and ``extrapolate``; a module split: its file, or
        none when absent). No train or no test file at all is a one-line error."""
        root = self.release_dir(tmp_dir)
        if dataset_split in (DatasetSplit.TRAIN, DatasetSplit.EVAL):
            folders = TRAIN_DIRS if dataset_split == DatasetSplit.TRAIN else TEST_DIRS
            paths = [os.path.join(root, d, m + ".txt") for d in folders for m in self.modules(tmp_dir, d)]
            if not paths:
                raise DataMissingError(
                    f"{root}: no {' or '.join(f + '/' for f in folders)} module files (<module>.txt); "
                    f"{self.name} reads the DeepMind Mathematics release ({RELEASE_DIR}/ or {RELEASE_TAR}) "
                    f"from --tmp_dir={tmp_dir}")
            unknown = {m for d in folders if d in RELEASE_MODULES for m in self.modules(tmp_dir, d)} - \
                {m for d in folders if d in RELEASE_MODULES for m in RELEASE_MODULES[d]}
            if unknown:
                logging.warning("%s: modules not in the v1.0 release, evaluated in dev only: %s",
                                root, ", ".join(sorted(unknown)))
            return paths
        folder, _, module = dataset_split.partition("-")
        if folder not in RELEASE_MODULES or module not in RELEASE_MODULES[folder]:
            raise ProblemConfigError(f"{self.name} has no split {dataset_split!r}")
        path = os.path.join(root, folder, module + ".txt")
        return [path] if os.path.isfile(path) else []

    def generate_samples(self, data_dir, tmp_dir, dataset_split):
        """Host: ``{"inputs": question, "targets": answer}`` of the split's files in order."""
        del data_dir
        for path in self.source_files(tmp_dir, dataset_split):
            for question, answer in read_pairs(path):
                yield {"inputs": question, "targets": answer}

    # -- evaluation ------------------------------------------------------------------
    def eval_problems(self):
        """Host: ``{"": self, "interpolate/<module>": view, "extrapolate/<module>": view, ...}``:
        one view per module split written in the ``data_dir`` of the last ``get_hparams``
        (every module of the release when none is known)."""
        views = {"": self}
        for folder in TEST_DIRS:
            for module in RELEASE_MODULES[folder]:
                split = module_split(folder, module)
                if self._has_examples(split):
                    views[f"{folder}/{module}"] = ProblemView(self, f"{folder}/{module}", dataset_split=split)
        return views

    def _has_examples(self, split: str) -> bool:
        data_dir = self._last_data_dir
        if not data_dir:
            return True
        return all(os.path.exists(p) for p in self.filepaths(data_dir, split, 1))

    def summarize_eval(self, results):
        """Host: ``{"<folder>/mean_<metric>": mean over modules, "<folder>/modules": n}`` for
        ``interpolate`` and ``extrapolate``, from the ``<folder>/<module>`` results."""
        summary = {}
        for folder, table in module_results(results).items():
            metrics = sorted({k for values in table.values() for k in values})
            for metric in metrics:
                values = [v[metric] for v in table.values() if metric in v]
                summary[f"{folder}/mean_{metric}"] = sum(values) / len(values)
            summary[f"{folder}/modules"] = float(len(table))
        return summary

    def eval_report(self, results, metric: str = "accuracy_per_sequence") -> str:
        """Host: the per-module table of ``metric`` (exact match by default), interpolate and
        extrapolate in two columns, their means last; ``""`` without module results."""
        tables = module_results(results)
        if not tables:
            return ""
        modules = sorted({m for table in tables.values() for m in table})
        width = max(len(m) for m in modules + ["module"])
        lines = [f"{'module':<{width}}  interpolate  extrapolate"]

        def cell(folder, module):
            value = tables.get(folder, {}).get(module, {}).get(metric)
            return f"{value:11.4f}" if value is not None else f"{'-':>11}"

        for module in modules:
            lines.append(f"{module:<{width}}  {cell('interpolate', module)}  {cell('extrapolate', module)}")
        summary = self.summarize_eval(results)
        means = [summary.get(f"{f}/mean_{metric}") for f in TEST_DIRS]
        lines.append(f"{'mean over modules':<{width}}  " + "  ".join(
            f"{m:11.4f}" if m is not None else f"{'-':>11}" for m in means))
        return f"{metric} per module\n" + "\n".join(lines) + "\n"


def module_results(results: Dict[str, Dict[str, float]]) -> Dict[str, Dict[str, Dict[str, float]]]:
    """``{"interpolate": {module: metrics}, "extrapolate": {...}}`` from evaluation results
    keyed ``<folder>/<module>`` (other keys ignored; empty folders left out)."""
    tables: Dict[str, Dict[str, Dict[str, float]]] = {}
    for name, metrics in results.items():
        folder, _, module = name.partition("/")
        if folder in TEST_DIRS and module:
            tables.setdefault(folder, {})[module] = dict(metrics)
    return tables
