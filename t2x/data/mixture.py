"""Mixtures of problems: T2T's multi-problem training, SeqIO's mixtures.

A mixture is a problem. Its reading half draws each training example from one of its
children, child ``i`` with probability ``rates[i] / sum(rates)``; each child reads its own
shards and preprocesses its own examples (``Problem.read`` then ``Problem.examples``), and
the mixture batches them as one problem (length buckets, packing, token budgets)::

    t2x-trainer --problem=mixture:algorithmic_reverse_binary40+algorithmic_identity_binary40 \\
        --model=transformer --hparams_set=transformer_tiny \\
        --gin_param='MixtureProblem.rates=[3, 1]'          # 75 % / 25 %; equal by default

or, under a name of its own::

    @registry.register_problem
    class ReverseAndIdentity(MixtureProblem):
        children = ("algorithmic_reverse_binary40", "algorithmic_identity_binary40")
        rates = (3, 1)

Worked example: rates ``(3, 1)`` and seed 7 give a fixed sequence of draws (child 0 about
three times in four); the same seed gives the same sequence, so a resumed run draws what an
uninterrupted one draws (the draws come from a seeded ``tf.data`` sampler whose state is in
the input iterator's checkpoint).

Rules:

* the children share the model: every feature they have must have the same modality and
  vocabulary size in each (and the same vocabulary file where they have one); otherwise the
  mixture is refused with one line naming the features that disagree;
* evaluation reads each child's dev split apart: the trainer reports the mixture's metrics
  (all children's dev examples) under ``eval/`` and each child's under
  ``eval/<child>/`` (``eval_problems``);
* ``t2x-datagen``/``--generate_data`` generates every child's shards (each in its own files,
  so a child's data is shared with runs of the child alone);
* decoding: the children's vocabulary is the mixture's, so ``t2x-decoder`` decodes any
  child's inputs; ``--decode_split=<child>:dev`` decodes and scores one child's dev split.

``_rev``/``_copy`` belong to the children (``mixture:a_rev+b``), not to the mixture.
"""

from typing import Any, Dict, List, Optional, Sequence

import gin

from t2x import registry
from t2x.data.problem import DEFAULT_RANDOM_SEED, DatasetSplit, Problem, ProblemConfigError, SplitSpec
from t2x.hparam import HParams

PREFIX = "mixture"


@gin.configurable
class MixtureProblem(Problem):
    """A problem whose examples are drawn from its ``children`` (registered problem names)
    by ``rates`` (any positive numbers; normalised; equal when not given). Subclass with
    ``children``/``rates`` class attributes and register it, or use ``mixture:<a>+<b>``."""

    children: Sequence[str] = ()
    rates: Optional[Sequence[float]] = None

    def __init__(self, was_reversed: bool = False, was_copy: bool = False, *,
                 children: Optional[Sequence[str]] = None, rates: Optional[Sequence[float]] = None):
        if was_reversed or was_copy:
            raise ProblemConfigError("a mixture takes no _rev/_copy: give them to its children "
                                     "(mixture:<a>_rev+<b>)")
        super().__init__()
        names = list(children if children is not None else self.children)
        if len(names) < 2:
            raise ProblemConfigError(f"a mixture needs two problems or more, got {names}: "
                                     "--problem=mixture:<a>+<b>")
        if len(set(names)) < len(names):
            raise ProblemConfigError(f"a mixture names a problem twice ({'+'.join(names)}); "
                                     "give it a larger rate instead")
        self.child_names = names
        self.child_problems: List[Problem] = [registry.problem(n) for n in names]
        for name, child in zip(names, self.child_problems):
            if isinstance(child, MixtureProblem):
                raise ProblemConfigError(f"mixture child {name} is a mixture itself: list its "
                                         "children instead")
        given = rates if rates is not None else self.rates
        self.child_rates = self._normalised(list(given) if given is not None else [1.0] * len(names))
        self._from_prefix = children is not None and type(self) is MixtureProblem

    def _normalised(self, rates: List[float]) -> List[float]:
        if len(rates) != len(self.child_names):
            raise ProblemConfigError(f"MixtureProblem.rates={rates} has {len(rates)} rates for "
                                     f"{len(self.child_names)} problems ({', '.join(self.child_names)})")
        try:
            values = [float(r) for r in rates]
        except (TypeError, ValueError):
            raise ProblemConfigError(f"MixtureProblem.rates={rates}: rates are numbers, "
                                     "e.g. [3, 1]") from None
        if any(not v > 0 for v in values):
            raise ProblemConfigError(f"MixtureProblem.rates={rates}: every rate must be > 0 "
                                     "(drop a problem instead of giving it 0)")
        total = sum(values)
        return [v / total for v in values]

    # ------------------------------------------------------------------ names --
    @property
    def name(self) -> str:
        return f"{PREFIX}:{'+'.join(self.child_names)}" if self._from_prefix else super().name

    def dataset_filename(self) -> str:
        return self.name.replace(":", "_").replace("+", "-")

    @property
    def variable_length(self) -> bool:  # the children agree on features, hence on this
        return self.child_problems[0].variable_length

    @property
    def dataset_splits(self) -> List[SplitSpec]:
        return [SplitSpec(DatasetSplit.TRAIN, 0), SplitSpec(DatasetSplit.EVAL, 0)]

    def split_names(self) -> List[str]:
        """The mixture's splits and each child's as ``<child>:<split>``."""
        return super().split_names() + [f"{name}:{split}" for name, child in
                                        zip(self.child_names, self.child_problems) for split in child.split_names()]

    # ------------------------------------------------------------- generation --
    def generate_data(self, data_dir: str, tmp_dir: str, task_id: int = -1, *,
                      num_processes: int = 1, random_seed: int = DEFAULT_RANDOM_SEED) -> Dict[str, Any]:
        """Host: every child's ``generate_data`` (their own shards); ``{"<child> <split>": report}``."""
        reports = {}
        for name, child in zip(self.child_names, self.child_problems):
            for split, report in child.generate_data(data_dir, tmp_dir, task_id, num_processes=num_processes,
                                                     random_seed=random_seed).items():
                reports[f"{name} {split}"] = report
        return reports

    def missing_shards(self, data_dir: str, splits: Optional[List[str]] = None) -> List[str]:
        return [p for child in self.child_problems for p in child.missing_shards(data_dir, splits)]

    def data_filepaths(self, data_dir: str, dataset_split: str) -> List[str]:
        return [p for child in self.child_problems for p in child.data_filepaths(data_dir, dataset_split)]

    # --------------------------------------------------------------- features --
    def feature_encoders(self, data_dir: Optional[str]) -> Dict[str, Any]:
        return self.child_problems[0].get_feature_encoders(data_dir)

    def hparams(self, defaults: HParams, model_hparams: Optional[HParams]) -> None:
        """The first child's problem hparams, once every child agrees with it on each
        feature's modality, vocabulary size and vocabulary file (else one line naming them)."""
        data_dir = defaults.data_dir
        each = [child.get_hparams(model_hparams, data_dir) for child in self.child_problems]
        first = each[0]
        disagree = []
        for name, child, hp in zip(self.child_names[1:], self.child_problems[1:], each[1:]):
            for feature in sorted(set(first.modality) | set(hp.modality)):
                mine = (first.modality.get(feature), first.vocab_size.get(feature))
                theirs = (hp.modality.get(feature), hp.vocab_size.get(feature))
                if mine != theirs:
                    disagree.append(f"{feature}: {self.child_names[0]} has {mine[0]} of vocab "
                                    f"{mine[1]}, {name} has {theirs[0]} of vocab {theirs[1]}")
            files = (getattr(self.child_problems[0], "vocab_filename", None), getattr(child, "vocab_filename", None))
            if files[0] != files[1]:
                disagree.append(f"vocabulary: {self.child_names[0]} reads {files[0]}, {name} reads {files[1]}")
        if disagree:
            raise ProblemConfigError(f"the problems of {self.name} do not share the model's features ("
                                     + "; ".join(disagree) + "): mix problems with the same features "
                                     "and vocabulary")
        for key, value in first.values().items():
            if key != "data_dir":
                defaults.set_hparam(key, value) if key in defaults else defaults.add_hparam(key, value)

    def eval_metrics(self) -> List[str]:
        return list(dict.fromkeys(m for child in self.child_problems for m in child.eval_metrics()))

    def eval_problems(self) -> Dict[str, Problem]:
        """``{"": self, "<child>": child, ...}``: evaluation reports each apart."""
        return {"": self, **dict(zip(self.child_names, self.child_problems))}

    # ---------------------------------------------------------------- reading --
    def read(self, mode: str, data_dir: str, *, dataset_split: Optional[str] = None,
             shuffle_files: Optional[bool] = None, shuffle_buffer_size: int = 1024,
             repeat: Optional[bool] = None, seed: Optional[int] = None, deterministic: bool = False,
             input_context=None, parse_batch_size: int = 256, hparams: Optional[HParams] = None):
        """Each child's reading half and per-example preprocessing, drawn by rate (training:
        each child repeats, so the rates hold for ever; evaluation: every child's examples
        once, in turn by rate until each is spent). Returns single examples batched by one
        (``finish`` unbatches them)."""
        import tensorflow as tf

        children = self.child_problems
        if dataset_split and ":" in dataset_split:  # one child's split: "<child>:dev"
            name, _, dataset_split = dataset_split.rpartition(":")
            if name not in self.child_names:
                raise ProblemConfigError(f"--decode_split={name}:{dataset_split}: {name} is not a "
                                         f"problem of {self.name} ({', '.join(self.child_names)})")
            children = [self.child_problems[self.child_names.index(name)]]
        streams = [child.examples(child.read(mode, data_dir, dataset_split=dataset_split,
                                             shuffle_files=shuffle_files,
                                             shuffle_buffer_size=shuffle_buffer_size, repeat=repeat,
                                             seed=seed, deterministic=deterministic,
                                             input_context=input_context,
                                             parse_batch_size=parse_batch_size),
                                  mode, hparams, seed=seed, deterministic=deterministic)
                   for child in children]
        if len(streams) == 1:
            return streams[0].batch(1)
        specs = [s.element_spec for s in streams]
        if any(set(spec) != set(specs[0]) for spec in specs):
            raise ProblemConfigError(f"the problems of {self.name} yield different features "
                                     f"({'; '.join(f'{n}: {sorted(s)}' for n, s in zip(self.child_names, specs))})")
        mixed = tf.data.Dataset.sample_from_datasets(
            streams, weights=self.child_rates, seed=seed if seed is not None else DEFAULT_RANDOM_SEED,
            stop_on_empty_dataset=False)
        return mixed.batch(1)

    def dataset(self, mode: str, data_dir: str, hparams: Optional[HParams] = None, **kwargs):
        """``read`` (with the hparams, for the children's preprocessing) then ``finish``."""
        finish_keys = ("batch_size", "drop_remainder")
        finish_args = {k: kwargs.pop(k) for k in finish_keys if k in kwargs}
        ds = self.read(mode, data_dir, hparams=hparams, **kwargs)
        return self.finish(ds, mode, hparams, seed=kwargs.get("seed"),
                           deterministic=kwargs.get("deterministic", False), **finish_args)

    def examples(self, parse_batches, mode: str, hparams: Optional[HParams] = None, *,
                 seed: Optional[int] = None, deterministic: bool = False):
        return parse_batches.unbatch()  # the children preprocessed their own examples

    def element_spec(self, mode: str, hparams: Optional[HParams] = None) -> Dict[str, Any]:
        return self.child_problems[0].element_spec(mode, hparams)


def _from_prefix(spec: str, was_reversed: bool = False, was_copy: bool = False) -> MixtureProblem:
    """``a+b_rev`` arrives as spec ``a+b`` with ``was_reversed``: the suffix is the last child's."""
    names = [n for n in spec.split("+") if n]
    if names and (was_reversed or was_copy):
        names[-1] += ("_rev" if was_reversed else "") + ("_copy" if was_copy else "")
    return MixtureProblem(children=names)


registry.register_problem_prefix(PREFIX, _from_prefix,
                                 "mixture:<a>+<b>[+...] (problems trained together; rates: MixtureProblem.rates)")

__all__ = ["MixtureProblem", "PREFIX"]
