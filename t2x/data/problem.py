"""``Problem``: what a dataset is, how it is generated and how it is read (T2T's contract).

A problem answers three questions, each in hooks that have working defaults:

* **Generation** (on the host, once, by ``t2x-datagen`` or ``t2x-trainer``):
  ``prepare_data`` fetches and checks the raw files; ``generate_samples`` yields raw samples
  of one split; ``encode_sample`` turns one into ``tf.train.Example`` features.
  ``generate_data`` writes them as sharded TFRecords named
  ``{problem}-{train|dev|test}-{i:05d}-of-{n:05d}`` in ``data_dir``: atomically, idempotently,
  reproducibly for a seed, with several processes when asked (see ``t2x.data.generator_utils``).
  The seed reaches ``generate_samples`` as its ``seed`` argument and nothing is kept on the
  instance, so one shard is a pure function of (problem, split, shard index, seed):
  ``generate_shard`` writes exactly that, the unit an Apache Beam worker runs.
* **Features** (on the host): ``feature_encoders`` (ids <-> readable values),
  ``hparams`` (modality and vocab size of each feature), ``feature_info`` (both, per feature).
* **Reading** (inside ``tf.data``), in two halves that ``dataset`` chains:

  - ``read`` (the reading half): shards -> (shuffle) -> batch-first parse and decode
    (``example_reading_spec``, ``decode_example``; 2-10x faster than per example) -> a
    dataset of *parse batches*. A problem backed by another source (TFDS, Beam output)
    replaces this half alone;
  - ``finish`` (the finishing half): ``preprocess_example`` per example (or per parse batch
    with ``batch_preprocess``), ``_rev``/``_copy``, batching (fixed size, or by length with a
    token budget, or packed rows with ``hparams.packed``), batch shuffling, prefetch.

  ``element_spec(mode, hparams)`` runs both halves on zero records: the features' dtypes and
  shapes, with no file opened (what a model is built from).

T2T's ``_rev`` and ``_copy`` variants are the same class with ``was_reversed`` /
``was_copy`` set: features and problem hparams of ``inputs`` and ``targets`` are swapped, or
``targets`` made a copy of ``inputs``, after ``preprocess_example``.
"""

import inspect
import os
from typing import Any, Dict, Iterator, List, Optional, Tuple

from t2x import registry
from t2x.errors import ConfigError, DataMissingError  # noqa: F401  (re-exported)
from t2x.hparam import HParams


from t2x.data.specs import (DEFAULT_RANDOM_SEED, DatasetSplit, FeatureInfo, ModalityType,  # noqa: F401
                            Mode, ProblemConfigError, ProblemKind, SplitSpec, problem_kind)


class Problem:
    """Base class of every problem. Subclass, register with ``@registry.register_problem``."""

    # Shuffle the examples of each shard with the seed before writing (T2T shuffled on disk).
    shuffle_on_disk = True
    # T2T's option: False draws every sample from the train split's generate_samples and
    # deals them round-robin over the train and dev shards (T2T's 100 : 1 for text).
    is_generate_per_split = True
    # True when preprocess_example also works on a leading batch dimension (same-shape
    # features, ops that broadcast per example): it then runs on the parse batches, before
    # unbatching. For MNIST that reads 6-7x faster than one tf.function call per example.
    batch_preprocess = False
    # True for sequence problems: dataset() then batches by length with a token budget
    # (hparams.batch_size tokens, T2T's batching_scheme) instead of a fixed example count.
    variable_length = False

    def __init__(self, was_reversed: bool = False, was_copy: bool = False):
        self._was_reversed = was_reversed
        self._was_copy = was_copy
        self._hparams_cache: Dict[Tuple[Optional[str], Optional[str]], HParams] = {}
        self._encoders_cache: Dict[Optional[str], Dict[str, Any]] = {}
        self._last_data_dir: Optional[str] = None

    # ------------------------------------------------------------------ names --
    @property
    def name(self) -> str:
        """The registered name, without ``_rev``/``_copy``; it names the data files.
        An unregistered subclass gets its own snake_case name: to read its parent's files,
        it overrides ``dataset_filename``."""
        return type(self).__dict__.get("registered_name") or registry.default_name(type(self))

    @property
    def full_name(self) -> str:
        """The name with the variant suffixes, as given to ``--problem``."""
        return self.name + ("_rev" if self._was_reversed else "") + ("_copy" if self._was_copy else "")

    @property
    def was_reversed(self) -> bool:
        return self._was_reversed

    @property
    def was_copy(self) -> bool:
        return self._was_copy

    def dataset_filename(self) -> str:
        """Prefix of the data files; a subclass sharing another problem's data returns that name."""
        return self.name

    # ------------------------------------------------------------- generation --
    @property
    def dataset_splits(self) -> List[SplitSpec]:
        """The splits ``generate_data`` writes: T2T's default, 10 train shards and 1 dev shard."""
        return [SplitSpec(DatasetSplit.TRAIN, 10), SplitSpec(DatasetSplit.EVAL, 1)]

    def prepare_data(self, data_dir: str, tmp_dir: str) -> None:
        """Host, once per ``generate_data``, before any shard: download and verify raw files,
        build vocabularies. Not called when every shard already exists. Default: nothing."""

    def generate_samples(self, data_dir: str, tmp_dir: str, dataset_split: str,
                         seed: int = DEFAULT_RANDOM_SEED) -> Iterator[Any]:
        """Host, in each writer process: yields the raw samples of one split, in a fixed order.

        A sample is whatever ``encode_sample`` accepts (T2T's text problems yield
        ``{"inputs": str, "targets": str}``). Sample ``i`` goes to shard ``i % num_shards``;
        reading raw files here must be cheap relative to ``encode_sample`` because every
        writer process iterates all samples and encodes only its own. ``seed`` is the run's
        ``--random_seed``, for problems that draw their samples; an override may leave it
        out of its signature (T2T's three-argument form) when it draws nothing.
        """
        raise NotImplementedError(
            f"{type(self).__name__} must implement generate_samples(data_dir, tmp_dir, "
            "dataset_split, seed) or override generate_data")

    def num_samples(self, data_dir: str, tmp_dir: str, dataset_split: str) -> Optional[int]:
        """Host, before writing a split: about how many samples ``generate_samples`` yields
        for it, or None when unknown (the default). Only the progress line's share done and
        ETA use it, so a cheap estimate (the lines of a file) is enough."""
        return None

    def samples(self, data_dir: str, tmp_dir: str, dataset_split: str, seed: int) -> Iterator[Any]:
        """``generate_samples`` with ``seed`` passed when the override takes it."""
        params = inspect.signature(self.generate_samples).parameters
        takes_seed = "seed" in params or any(p.kind == p.VAR_KEYWORD for p in params.values())
        if takes_seed:
            return self.generate_samples(data_dir, tmp_dir, dataset_split, seed=seed)
        return self.generate_samples(data_dir, tmp_dir, dataset_split)

    def encode_sample(self, sample: Any, encoders: Dict[str, Any]) -> Dict[str, list]:
        """Host: one raw sample -> ``{feature name: list of int | float | bytes}``.

        ``encoders`` is ``feature_encoders(data_dir)``. Default: encode string values of
        ``inputs``/``targets`` with their encoder and append nothing else.
        """
        out = {}
        for key, value in sample.items():
            if isinstance(value, str) and key in encoders:
                value = encoders[key].encode(value)
            out[key] = value if isinstance(value, (list, tuple)) else [value]
        return out

    def generation_plan(self, data_dir: str) -> List[Tuple[str, List[str], str]]:
        """``[(description, shard paths, split whose samples fill them)]``: one entry per
        split, or with ``is_generate_per_split = False`` one entry whose train samples are
        dealt over every split's shards."""
        if self.is_generate_per_split:
            return [(s.split, self.filepaths(data_dir, s.split, s.num_shards), s.split)
                    for s in self.dataset_splits]
        paths = [p for s in self.dataset_splits for p in self.filepaths(data_dir, s.split, s.num_shards)]
        return [("+".join(s.split for s in self.dataset_splits), paths, DatasetSplit.TRAIN)]

    def missing_shards(self, data_dir: str, splits: Optional[List[str]] = None) -> List[str]:
        """Paths of the shards not yet in ``data_dir`` (of ``splits``, default all)."""
        wanted = [s for s in self.dataset_splits if splits is None or s.split in splits]
        return [p for s in wanted for p in self.filepaths(data_dir, s.split, s.num_shards)
                if not os.path.exists(p)]

    def generate_data(self, data_dir: str, tmp_dir: str, task_id: int = -1, *,
                      num_processes: int = 1, random_seed: int = DEFAULT_RANDOM_SEED) -> Dict[str, Any]:
        """Host: writes every split's shards in ``data_dir``; downloads go to ``tmp_dir``.

        Existing shards that verify against their sidecars are kept byte for byte
        (idempotent); missing and damaged ones are (re)written, and ``prepare_data`` runs
        only when there is one. ``task_id >= 0`` writes only the shards with
        ``index % num_processes == task_id`` (for several machines). Returns a summary
        ``{split: generator_utils.WriteReport}``.
        """
        from t2x.data import generator_utils  # floor 2, imported late to keep import light

        created = [d for d in (data_dir, tmp_dir) if not os.path.exists(d)]
        encoders: Dict[str, Any] = {}
        prepared: List[bool] = []

        def prepare():  # once, when the first split has a shard to (re)write
            if not prepared:
                prepared.append(encoders.update(self._prepare_for_generation(data_dir, tmp_dir)) or True)

        try:
            reports = {}
            for description, paths, source_split in self.generation_plan(data_dir):
                reports[description] = generator_utils.write_sharded(
                    paths,
                    samples_fn=lambda split=source_split: self.samples(data_dir, tmp_dir, split, random_seed),
                    encode_fn=lambda sample: self.encode_sample(sample, encoders),
                    seed=random_seed, shuffle=self.shuffle_on_disk,
                    num_processes=num_processes, task_id=task_id,
                    description=f"{self.name} {description}",
                    num_samples=self.num_samples(data_dir, tmp_dir, source_split),
                    before_writing=prepare)
            return reports
        except BaseException:
            for d in reversed(created):  # a failed first run leaves no empty folder behind
                if os.path.isdir(d) and not os.listdir(d):
                    os.rmdir(d)
            raise

    def generate_shard(self, data_dir: str, tmp_dir: str, dataset_split: str, shard_index: int, *,
                       random_seed: int = DEFAULT_RANDOM_SEED) -> str:
        """Host: writes one shard of ``dataset_split`` (what ``generate_data`` would write
        there, byte for byte), whether or not it exists; returns its path. A pure function
        of (problem, split, shard index, seed) once ``prepare_data`` has run."""
        from t2x.data import generator_utils

        spec = self._split_spec(dataset_split)
        if not 0 <= shard_index < spec.num_shards:
            raise ConfigError(f"shard_index {shard_index} is outside [0, {spec.num_shards}) for "
                              f"the '{dataset_split}' split of {self.name}")
        target = self.filepaths(data_dir, dataset_split, spec.num_shards)[shard_index]
        encoders = self._prepare_for_generation(data_dir, tmp_dir)
        for _, paths, source_split in self.generation_plan(data_dir):
            if target in paths:
                generator_utils.write_shard(
                    target, self.samples(data_dir, tmp_dir, source_split, random_seed),
                    lambda sample: self.encode_sample(sample, encoders), paths.index(target),
                    len(paths), random_seed, self.shuffle_on_disk)
        return target

    def _prepare_for_generation(self, data_dir: str, tmp_dir: str) -> Dict[str, Any]:
        """Host, before a shard is (re)written: ``prepare_data`` (downloads, vocabularies),
        then the encoders. Every writer goes through here, so a shard rewritten because it
        was damaged is encoded exactly as a missing one."""
        os.makedirs(data_dir, exist_ok=True)
        os.makedirs(tmp_dir, exist_ok=True)
        self.prepare_data(data_dir, tmp_dir)
        return self.feature_encoders(data_dir)

    # ------------------------------------------------------------------ files --
    def filepaths(self, data_dir: str, dataset_split: str, num_shards: int) -> List[str]:
        base = os.path.join(data_dir, f"{self.dataset_filename()}-{dataset_split}")
        return [f"{base}-{i:05d}-of-{num_shards:05d}" for i in range(num_shards)]

    # T2T's names (``shuffled`` is ignored: shards are shuffled on disk or not at all).
    def training_filepaths(self, data_dir, num_shards, shuffled=True):
        return self.filepaths(data_dir, DatasetSplit.TRAIN, num_shards)

    def dev_filepaths(self, data_dir, num_shards, shuffled=True):
        return self.filepaths(data_dir, DatasetSplit.EVAL, num_shards)

    def test_filepaths(self, data_dir, num_shards, shuffled=True):
        return self.filepaths(data_dir, DatasetSplit.TEST, num_shards)

    def split_names(self) -> List[str]:
        """The names ``dataset(dataset_split=...)`` reads (``--decode_split``,
        ``--eval_decode_split``): the generated splits by default."""
        return [s.split for s in self.dataset_splits]

    def _split_spec(self, dataset_split: str) -> SplitSpec:
        spec = {s.split: s for s in self.dataset_splits}.get(dataset_split)
        if spec is None:
            raise DataMissingError(
                f"problem {self.name} has no '{dataset_split}' split "
                f"(it has {', '.join(s.split for s in self.dataset_splits)})")
        return spec

    def data_filepaths(self, data_dir: str, dataset_split: str) -> List[str]:
        """The complete shard list of a split, or ``DataMissingError`` naming the fix."""
        spec = self._split_spec(dataset_split)
        paths = self.filepaths(data_dir, dataset_split, spec.num_shards)
        present = [p for p in paths if os.path.exists(p)]
        if len(present) < len(paths):
            raise DataMissingError(
                f"{data_dir} has {len(present)} of {len(paths)} '{dataset_split}' shards of "
                f"{self.name}; generate them with `t2x-datagen --problem={self.name} "
                f"--data_dir={data_dir}` (or `t2x-trainer --generate_data ...`)")
        return paths

    # --------------------------------------------------------------- features --
    def feature_encoders(self, data_dir: Optional[str]) -> Dict[str, Any]:
        """Host: ``{feature: encoder}`` (ids <-> readable values). Default: none.
        Text problems read their vocabulary from ``data_dir``."""
        del data_dir
        return {}

    def get_feature_encoders(self, data_dir: Optional[str] = None) -> Dict[str, Any]:
        """``feature_encoders`` cached per data_dir, with ``_rev``/``_copy`` applied."""
        if data_dir not in self._encoders_cache:
            enc = dict(self.feature_encoders(data_dir))
            self._encoders_cache[data_dir] = _swap_or_copy(enc, self._was_reversed, self._was_copy)
        return self._encoders_cache[data_dir]

    def hparams(self, defaults: HParams, model_hparams: Optional[HParams]) -> None:
        """Host: fill the problem hparams ``defaults`` in place: ``modality`` and ``vocab_size``
        dicts per feature, space ids, ``loss_multiplier``... ``model_hparams`` may be None."""

    def get_hparams(self, model_hparams: Optional[HParams] = None,
                    data_dir: Optional[str] = None) -> HParams:
        """The problem hparams for these arguments, ``_rev``/``_copy`` applied (cached per
        ``(data_dir, model_hparams)``). ``data_dir`` is where vocabularies are (text problems
        need it to know their vocab sizes). Returns a copy the caller may change."""
        key = (data_dir, model_hparams.to_json(indent=None) if model_hparams is not None else None)
        if key not in self._hparams_cache:
            hp = default_problem_hparams()
            hp.data_dir = data_dir
            self.hparams(hp, model_hparams)
            hp.modality = _swap_or_copy(dict(hp.modality), self._was_reversed, self._was_copy)
            hp.vocab_size = _swap_or_copy(dict(hp.vocab_size), self._was_reversed, self._was_copy)
            if self._was_reversed:
                hp.input_space_id, hp.target_space_id = hp.target_space_id, hp.input_space_id
            self._hparams_cache[key] = hp
        self._last_data_dir = data_dir
        return self._hparams_cache[key].copy()

    @property
    def feature_info(self) -> Dict[str, FeatureInfo]:
        """``{feature: FeatureInfo(modality, vocab_size, encoder, space_id)}``, for the
        ``data_dir`` of the last ``get_hparams`` call (T2T's order: hparams first)."""
        hp = self.get_hparams(data_dir=self._last_data_dir)
        encoders = self.get_feature_encoders(hp.data_dir)
        info = {}
        for name in set(hp.modality) | set(hp.vocab_size) | set(encoders):
            info[name] = FeatureInfo(modality=hp.modality.get(name), vocab_size=hp.vocab_size.get(name),
                                     encoder=encoders.get(name))
        if "inputs" in info:
            info["inputs"].space_id = hp.input_space_id
        if "targets" in info:
            info["targets"].space_id = hp.target_space_id
        return info

    def eval_metrics(self) -> List[str]:
        """Host: the names of the metrics evaluation reports (``t2x.metrics`` lists them):
        teacher-forced ones computed in the compiled eval step (``accuracy``,
        ``accuracy_top5``, ``accuracy_per_sequence``, ``neg_log_perplexity``,
        ``perplexity``) and decode-based ones computed on the host from real decodes
        (``bleu``, ``rouge_1``, ``rouge_2``, ``rouge_L``, ``edit_distance``, ``wer``).
        The eval loss is always reported. Default: T2T's four."""
        return ["accuracy", "accuracy_top5", "accuracy_per_sequence", "neg_log_perplexity"]

    def eval_problems(self) -> Dict[str, "Problem"]:
        """Host: what evaluation reports apart, ``{name: problem}``; ``""`` is this problem
        (``eval/<metric>``), any other name is reported under ``eval/<name>/<metric>``: a
        mixture's children, or views of this problem's dev split (per task, per module, per
        length bucket). Default: ``{"": self}``."""
        return {"": self}

    def summarize_eval(self, results: Dict[str, Dict[str, float]]) -> Dict[str, float]:
        """Host, after an evaluation: metrics across ``eval_problems`` (``results`` maps each
        name to its metrics), reported under ``eval/`` (e.g. bAbI's failed tasks). Default: none."""
        del results
        return {}

    def eval_report(self, results: Dict[str, Dict[str, float]]) -> str:
        """Host, after an evaluation: a text table of ``results`` (as ``summarize_eval``
        gets them) that the evaluator writes to ``eval/report-<step>.txt`` and logs, e.g.
        bAbI's per-task errors. Default: none (``""``)."""
        del results
        return ""

    # ---------------------------------------------------------------- reading --
    def example_reading_spec(self) -> Dict[str, Any]:
        """``{serialized feature: tf.io.*Feature}`` for ``tf.io.parse_example``.
        Default (T2T's): variable-length int64 ``inputs`` and ``targets``."""
        import tensorflow as tf
        return {"inputs": tf.io.VarLenFeature(tf.int64), "targets": tf.io.VarLenFeature(tf.int64)}

    def decode_example(self, parsed: Dict[str, Any]) -> Dict[str, Any]:
        """Inside ``tf.data``, on a *batch*: parsed serialized features (leading batch dim) ->
        model features with the same leading dim. Default: variable-length (sparse) features
        become ragged, so that each example keeps its exact length when unbatched."""
        import tensorflow as tf
        return {k: tf.RaggedTensor.from_sparse(v) if isinstance(v, tf.SparseTensor) else v
                for k, v in parsed.items()}

    augment_in_training = False  # True: finish() calls augment_example on training examples

    def augment_example(self, example: Dict[str, Any], seed) -> Dict[str, Any]:
        """Inside ``tf.data``, training only, one example, before ``preprocess_example``
        (when ``augment_in_training``): random augmentation with *stateless* ops seeded by
        ``seed`` (int64 ``[2]``: the run's seed and the example's index in the stream), so
        that a resumed run draws what an uninterrupted one draws. Default: none."""
        del seed
        return example

    def preprocess_example(self, example: Dict[str, Any], mode: str, hparams: Optional[HParams]):
        """Inside ``tf.data``: features -> features. Per example (no batch dim), or on a batch
        of them (leading dim) when ``batch_preprocess`` is True. Default: as is."""
        del mode, hparams
        return example

    def dataset(self, mode: str, data_dir: str, hparams: Optional[HParams] = None, *,
                dataset_split: Optional[str] = None, batch_size: Optional[int] = None,
                shuffle_files: Optional[bool] = None, shuffle_buffer_size: int = 1024,
                repeat: Optional[bool] = None, seed: Optional[int] = None,
                deterministic: bool = False, drop_remainder: Optional[bool] = None,
                input_context=None, parse_batch_size: int = 256):
        """The ``tf.data.Dataset`` of a split: ``read`` then ``finish``.

        mode: ``Mode.TRAIN`` shuffles (files and a ``shuffle_buffer_size`` buffer) and repeats
          by default; other modes read once, in file order when ``deterministic``.
        dataset_split: defaults to train for TRAIN, dev otherwise.
        seed: seeds the file, example and batch shuffles (same seed, same order, when
          deterministic).
        deterministic: keep the order of parallel stages fixed (slower; needed for exact resume).
        batch_size: examples per batch (a token budget for ``variable_length`` problems);
          None yields single examples. ``drop_remainder`` defaults to True in training.
        input_context: a ``tf.distribute.InputContext``; its pipeline reads its share of files.
        """
        ds = self.read(mode, data_dir, dataset_split=dataset_split, shuffle_files=shuffle_files,
                       shuffle_buffer_size=shuffle_buffer_size, repeat=repeat, seed=seed,
                       deterministic=deterministic, input_context=input_context,
                       parse_batch_size=parse_batch_size)
        return self.finish(ds, mode, hparams, batch_size=batch_size, seed=seed,
                           deterministic=deterministic, drop_remainder=drop_remainder)

    def read(self, mode: str, data_dir: str, *, dataset_split: Optional[str] = None,
             shuffle_files: Optional[bool] = None, shuffle_buffer_size: int = 1024,
             repeat: Optional[bool] = None, seed: Optional[int] = None, deterministic: bool = False,
             input_context=None, parse_batch_size: int = 256):
        """The reading half, inside ``tf.data``: the split's shards, interleaved (files
        shuffled in training), repeated and record-shuffled in training, parsed and decoded
        in batches. Returns a dataset of *parse batches*: ``{feature: [b, ...]}`` with a
        leading batch dimension of up to ``parse_batch_size`` (variable-length features
        ragged). A problem backed by another source overrides this half (and
        ``element_spec`` if it cannot read zero records)."""
        import tensorflow as tf

        is_training = mode == Mode.TRAIN
        split = dataset_split or (DatasetSplit.TRAIN if is_training else DatasetSplit.EVAL)
        paths = self.data_filepaths(data_dir, split)
        shuffle = is_training if shuffle_files is None else shuffle_files
        repeat = is_training if repeat is None else repeat
        autotune = tf.data.AUTOTUNE

        files = tf.data.Dataset.from_tensor_slices(paths)
        shard_records = False
        if input_context is not None and input_context.num_input_pipelines > 1:
            if len(paths) >= input_context.num_input_pipelines:
                files = files.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
            else:
                shard_records = True
        if shuffle:
            files = files.shuffle(len(paths), seed=seed, reshuffle_each_iteration=True)
        ds = files.interleave(tf.data.TFRecordDataset,
                              cycle_length=min(len(paths), 16), block_length=16,
                              num_parallel_calls=autotune, deterministic=deterministic)
        if shard_records:
            ds = ds.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
        if repeat:
            ds = ds.repeat()
        if shuffle and shuffle_buffer_size > 1:
            ds = ds.shuffle(shuffle_buffer_size, seed=seed, reshuffle_each_iteration=True)
        return self.parse_records(ds, parse_batch_size=parse_batch_size, deterministic=deterministic)

    def parse_records(self, records, *, parse_batch_size: int = 256, deterministic: bool = False):
        """Serialized ``tf.train.Example``s -> parse batches (``example_reading_spec``,
        ``decode_example``)."""
        import tensorflow as tf

        spec = self.example_reading_spec()
        return records.batch(parse_batch_size).map(
            lambda serialized: self.decode_example(tf.io.parse_example(serialized, spec)),
            num_parallel_calls=tf.data.AUTOTUNE, deterministic=deterministic)

    def finish(self, parse_batches, mode: str, hparams: Optional[HParams] = None, *,
               batch_size: Optional[int] = None, seed: Optional[int] = None,
               deterministic: bool = False, drop_remainder: Optional[bool] = None):
        """The finishing half, inside ``tf.data``: parse batches (as ``read`` yields them) ->
        ``examples`` (augmented, preprocessed, ``_rev``/``_copy``) -> batches -> prefetch.

        Batching: ``batch_size`` examples, or for ``variable_length`` problems T2T's length
        buckets with a ``batch_size`` token budget (``use_fixed_batch_size``: ``batch_size``
        sequences a batch, bucketed by length all the same); in training,
        ``batch_shuffle_size > 0`` shuffles the batches in a buffer of that many (seeded).
        """
        import tensorflow as tf

        is_training = mode == Mode.TRAIN
        ds = self.examples(parse_batches, mode, hparams, seed=seed, deterministic=deterministic)
        packed_length = self.packed_length(hparams) if is_training else 0
        if batch_size:
            drop = is_training if drop_remainder is None else drop_remainder
            if packed_length:
                from t2x.data import batching

                rows = batch_size if hparams.get("use_fixed_batch_size", False) else \
                    max(1, batch_size // packed_length)
                ds = batching.pack_dataset(ds, packed_length).batch(rows, drop_remainder=drop)
            elif self.variable_length:
                ds = self._batch_by_length(ds, batch_size, is_training, hparams, drop)
            else:
                ds = ds.batch(batch_size, drop_remainder=drop, num_parallel_calls=tf.data.AUTOTUNE,
                              deterministic=deterministic)
            shuffle_batches = int(hparams.get("batch_shuffle_size", 0) or 0) if hparams is not None else 0
            if is_training and shuffle_batches > 1:
                ds = ds.shuffle(shuffle_batches, seed=seed, reshuffle_each_iteration=True)
        return ds.prefetch(tf.data.AUTOTUNE)

    def examples(self, parse_batches, mode: str, hparams: Optional[HParams] = None, *,
                 seed: Optional[int] = None, deterministic: bool = False):
        """The finishing half's first part, inside ``tf.data``: parse batches -> single
        examples, augmented in training (``augment_in_training``) and preprocessed
        (``preprocess_example``, then ``_rev``/``_copy``). A mixture draws its children's
        examples from here, each child with its own preprocessing."""
        import tensorflow as tf

        autotune = tf.data.AUTOTUNE
        augment = mode == Mode.TRAIN and self.augment_in_training
        if self.batch_preprocess and not augment:
            return parse_batches.map(lambda ex: self._preprocess(ex, mode, hparams),
                                     num_parallel_calls=autotune, deterministic=deterministic).unbatch()
        ds = parse_batches.unbatch()
        if augment:  # stateless, seeded by (seed, example index): exact resume holds
            ds = ds.enumerate().map(
                lambda i, ex: self.augment_example(dict(ex), tf.stack([tf.cast(seed or 0, tf.int64), i])),
                num_parallel_calls=autotune, deterministic=deterministic)
        return ds.map(lambda ex: self._preprocess(ex, mode, hparams),
                      num_parallel_calls=autotune, deterministic=deterministic)

    def packed_length(self, hparams: Optional[HParams]) -> int:
        """Host: the row length of packed training batches, or 0 when not packed.
        ``hparams.packed`` turns packing on (training batches only: evaluation and decoding
        read single examples, so their metrics do not depend on it); the rows are
        ``packed_length`` tokens long (default ``max_length``, else 256), and a batch holds
        ``batch_size // packed_length`` rows (``batch_size`` rows with
        ``use_fixed_batch_size``). Only sequence (``variable_length``) problems pack."""
        if hparams is None or not hparams.get("packed", False):
            return 0
        if not self.variable_length:
            raise ProblemConfigError(
                f"packed=true packs sequences, but {self.full_name} is not a sequence problem: "
                "remove packed from --hparams")
        length = int(hparams.get("packed_length", 0) or hparams.get("max_length", 0) or 256)
        if length < 1:
            raise ProblemConfigError(f"packed_length must be >= 1, got {length}")
        return length

    def element_spec(self, mode: str, hparams: Optional[HParams] = None) -> Dict[str, Any]:
        """``{feature: tf.TensorSpec}`` of one example as ``dataset(mode)`` yields it (no batch
        dimension; None for variable lengths). Both halves run on zero records: no file is
        opened, so it works before any shard exists. Host."""
        import tensorflow as tf

        no_records = tf.data.Dataset.from_tensor_slices(tf.constant([], tf.string))
        return self.finish(self.parse_records(no_records), mode, hparams).element_spec

    def _batch_by_length(self, ds, batch_size: int, is_training: bool, hparams, drop: bool):
        """Token-budget batching (T2T): ``batch_size`` tokens a batch, buckets from
        ``min_length_bucket`` by ``length_bucket_step``; in training (or with
        ``eval_drop_long_sequences``) examples longer than ``max_length`` are dropped."""
        from t2x.data import batching

        hp = hparams.get if hparams is not None else (lambda key, default=None: default)
        max_length = hp("max_length", 0) or 0
        scheme = batching.batching_scheme(
            batch_size=batch_size, max_length=max_length,
            min_length_bucket=hp("min_length_bucket", 8), length_bucket_step=hp("length_bucket_step", 1.1),
            drop_long_sequences=bool(max_length) and (is_training or hp("eval_drop_long_sequences", False)))
        if hp("use_fixed_batch_size", False):  # T2T: batch_size sequences, not tokens
            scheme["batch_sizes"] = [batch_size] * len(scheme["batch_sizes"])
        return batching.bucket_by_length(ds, scheme, drop_remainder=drop)

    def _preprocess(self, example, mode, hparams):
        import tensorflow as tf

        example = {k: v.to_tensor() if isinstance(v, tf.RaggedTensor) else v for k, v in example.items()}
        example = self.preprocess_example(example, mode, hparams)
        return _swap_or_copy(dict(example), self._was_reversed, self._was_copy)


def default_problem_hparams() -> HParams:
    """The problem hparams every problem starts from (T2T's ``_default_hparams``)."""
    return HParams(modality={}, vocab_size={}, input_space_id=0, target_space_id=0, loss_multiplier=1.0,
                   batch_size_multiplier=1, max_input_seq_length=0, max_target_seq_length=0,
                   stop_at_eos=False, data_dir=None)


def _swap_or_copy(features: Dict[str, Any], was_reversed: bool, was_copy: bool) -> Dict[str, Any]:
    """T2T's ``_rev`` (swap inputs and targets) and ``_copy`` (targets = inputs) on a dict."""
    if was_reversed and ("inputs" in features or "targets" in features):
        inputs, targets = features.pop("inputs", None), features.pop("targets", None)
        if targets is not None:
            features["inputs"] = targets
        if inputs is not None:
            features["targets"] = inputs
    if was_copy and "inputs" in features:
        features["targets"] = features["inputs"]
    return features
