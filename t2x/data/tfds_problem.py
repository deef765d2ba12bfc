"""Any TFDS dataset as a problem: ``--problem=tfds:<name>[/<config>][:<version>]``, or a
``TfdsProblem`` subclass registered under a name of your own.

    t2x-datagen --problem=tfds:mnist --tfds_data_dir=~/tensorflow_datasets   # TFDS prepares it
    t2x-trainer --problem=tfds:mnist --model=basic_fc_relu --tfds_data_dir=~/tensorflow_datasets

TFDS is the engine (``tfds.builder(...).as_dataset``): nothing is copied into t2x shards.
This class replaces ``Problem.read`` (the reading half) and ``element_spec``; the finishing
half (preprocess, ``_rev``/``_copy``, length bucketing, batching) is the base class's.

Features -> modalities, from the builder's ``FeatureConnector``s:

* ``Image`` (fixed shape) -> image inputs (uint8, per-image standardized, as image problems);
* ``ClassLabel`` -> class-label targets, with the dataset's class names;
* ``Text`` (and each language of a ``Translation``) -> symbols, with a vocabulary built from
  the train split by ``vocab_type`` (``t2x.data.vocab``: subword, character, token or
  sentencepiece) and stored in
  ``--data_dir`` as ``vocab.<problem>.<approx_vocab_size>.<vocab_type>``; encoded inside
  ``tf.data`` by ``t2x.data.graph_text``, EOS appended;
* ``Tensor``/``Sequence`` of integers -> symbols as given (shifted past PAD and EOS), with
  ``vocab_size`` set (gin) unless they are a ``Sequence(ClassLabel)``.

Which feature is ``inputs`` and which ``targets``: the builder's ``supervised_keys``, or
``TfdsProblem.inputs_key``/``targets_key`` (gin), else an error listing the features.
Splits: train -> ``train_split`` (``train``), dev -> ``dev_split`` (default ``validation``,
else ``test``), test -> ``test_split`` (``test``); TFDS slicing (``train[:90%]``) is allowed.

Offline: a prepared dataset is read without the network. One that is not prepared makes the
trainer fail at once (not after TFDS's ~200 s of retries) with the directory it looked in
and how to prepare it; ``t2x-datagen --problem=tfds:...`` prepares it with the builder's
own ``download_and_prepare``.
"""

import os
import re
import tempfile
import time
import types
from typing import Any, Dict, List, Optional

import gin

from t2x import registry
from t2x.data.problem import (DatasetSplit, DataMissingError, Mode, ModalityType, Problem,
                              ProblemConfigError, SplitSpec)
from t2x.data import vocab
from t2x.data.text_encoder import EOS_ID, NUM_RESERVED_TOKENS, ClassLabelEncoder
from t2x.errors import closest_names

@gin.configurable
class TfdsProblem(Problem):
    """A TFDS dataset read through TFDS; see the module docstring."""

    tfds_name = ""  # a subclass sets it; tfds:<spec> passes it

    def __init__(self, was_reversed: bool = False, was_copy: bool = False, *, spec: Optional[str] = None,
                 tfds_data_dir: Optional[str] = None, inputs_key: Optional[str] = None,
                 targets_key: Optional[str] = None, train_split: str = "train",
                 dev_split: Optional[str] = None, test_split: str = "test", vocab_type: str = "subword",
                 approx_vocab_size: int = 2 ** 13, vocab_size: Optional[int] = None,
                 max_vocab_build_samples: int = 100000):
        super().__init__(was_reversed=was_reversed, was_copy=was_copy)
        self.spec = spec or self.tfds_name
        if not self.spec:
            raise ProblemConfigError("a TfdsProblem needs a dataset: --problem=tfds:<name> or tfds_name = ...")
        self.from_prefix = spec is not None
        self.tfds_data_dir = os.path.expanduser(tfds_data_dir) if tfds_data_dir else None
        self._keys = (inputs_key, targets_key)
        self.splits = {DatasetSplit.TRAIN: train_split, DatasetSplit.EVAL: dev_split, DatasetSplit.TEST: test_split}
        self.vocab_type, self.approx_vocab_size = vocab_type, approx_vocab_size
        self.ids_vocab_size, self.max_vocab_build_samples = vocab_size, max_vocab_build_samples
        self._builder = None
        self._keys_resolved = None
        self._kinds: Dict[str, str] = {}
        self._graph_encoders: Dict[str, Any] = {}
        self._asset_tmp = None

    # -- names ---------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return f"tfds:{self.spec}" if self.from_prefix else super().name

    def dataset_filename(self) -> str:
        return "".join(c if c.isalnum() or c in "_-." else "_" for c in self.name)

    # -- the builder ---------------------------------------------------------------------
    @property
    def builder(self):
        if self._builder is None:
            import tensorflow_datasets as tfds

            try:
                self._builder = tfds.builder(self.spec, data_dir=self.tfds_data_dir)
            except tfds.core.registered.DatasetNotFoundError:
                wrong = self._spec_error()
                if wrong:
                    raise ProblemConfigError(wrong) from None
                name = self.spec.split("/")[0].split(":")[0]
                near = closest_names(name, tfds.list_builders(with_community_datasets=False))
                raise ProblemConfigError(f"tfds:{self.spec}: TFDS has no dataset {name!r}"
                                         + (f"; did you mean {', '.join(near)}?" if near else "")) from None
            except (ValueError, AssertionError):  # TFDS's words for an unknown config or version
                wrong = self._spec_error()
                if wrong is None:
                    raise
                raise ProblemConfigError(wrong) from None
        return self._builder

    def _spec_error(self) -> Optional[str]:
        """What is wrong with ``<name>[/<config>][:<version>]`` (an unknown config, a version
        the builder does not have, a version that is not one), or None when TFDS's builder
        class finds nothing wrong with it."""
        import tensorflow_datasets as tfds

        rest, _, version = self.spec.partition(":")
        name, _, config = rest.partition("/")
        try:
            cls = tfds.builder_cls(name)
        except tfds.core.registered.DatasetNotFoundError:
            return None
        configs = {c.name: c for c in getattr(cls, "BUILDER_CONFIGS", None) or []}
        if config and not configs:
            return (f"tfds:{self.spec}: {name} has no configs (no /{config}): "
                    f"--problem=tfds:{name}" + (f":{version}" if version else ""))
        if config and config not in configs:
            known = ", ".join(sorted(configs)[:12]) + (", ..." if len(configs) > 12 else "")
            near = closest_names(config, configs)
            return (f"tfds:{self.spec}: {name} has no config {config!r}"
                    + (f" (did you mean {' or '.join(near)}?)" if near else "")
                    + f"; its configs: {known}; --problem=tfds:{name}/<config>[:<version>]")
        if not version:
            return None
        chosen = configs.get(config) if config else None
        versions = [str(v) for v in ([getattr(chosen, "version", None)] if chosen else [])
                    + [getattr(cls, "VERSION", None)] + list(getattr(cls, "SUPPORTED_VERSIONS", None) or [])
                    if v is not None]
        versions = list(dict.fromkeys(versions))
        label = f"{name}/{config}" if config else name
        if not re.fullmatch(r"(\d+|\*)\.(\d+|\*)\.(\d+|\*)", version):
            return (f"tfds:{self.spec}: {version!r} is not a version (<major>.<minor>.<patch>); {label} has "
                    f"{', '.join(versions) or 'no version'}: --problem=tfds:{label}:{versions[0] if versions else '1.0.0'}")
        if not any(tfds.core.Version(v).match(version) for v in versions):
            return (f"tfds:{self.spec}: {label} has no version {version}; it has {', '.join(versions)}: "
                    f"--problem=tfds:{label}:{versions[0]} (or no :<version> for the newest)")
        return None

    def check_prepared(self) -> None:
        builder = self.builder
        if not builder.is_prepared():
            where = self.tfds_data_dir or os.path.dirname(os.path.dirname(builder.data_dir.rstrip("/")))
            raise DataMissingError(
                f"tfds:{self.spec} is not prepared in {builder.data_dir}: prepare it with "
                f"`t2x-datagen --problem=tfds:{self.spec} --tfds_data_dir={where}` (TFDS downloads it) or "
                f"`tfds build {self.spec} --data_dir={where}` (with --manual_dir for manual downloads), "
                "or copy a prepared directory there; --tfds_data_dir sets where to look")

    def tfds_split(self, dataset_split: str) -> str:
        split = self.splits.get(dataset_split, dataset_split)
        if split is None:  # dev: validation if the dataset has it, else test
            names = set(self.builder.info.splits.keys())
            split = "validation" if "validation" in names else "test"
        return split

    def check_splits(self, splits=None) -> None:
        """Host, when training or datagen starts (``missing_shards``, ``generate_data``), on a
        prepared dataset: each of ``splits`` (t2x names, default train and dev; test when
        ``test_split`` is set) maps to a TFDS split or slice that exists and is not empty,
        else a ProblemConfigError naming the gin binding, the dataset's splits and the fix --
        so that a bad ``dev_split`` fails before training, not at the first evaluation."""
        gin_names = {DatasetSplit.TRAIN: "train_split", DatasetSplit.EVAL: "dev_split",
                     DatasetSplit.TEST: "test_split"}
        if splits is None:
            splits = [DatasetSplit.TRAIN, DatasetSplit.EVAL] + (
                [DatasetSplit.TEST] if self.splits[DatasetSplit.TEST] != "test" else [])
        info = self.builder.info.splits
        have = ", ".join(f"{k} ({v.num_examples})" for k, v in info.items())
        for split in splits:
            if split not in gin_names:
                continue
            value = self.tfds_split(split)
            gin_name = gin_names[split]
            fix = (f"its splits: {have}; slices as train[:90%] or train[-100:] work: "
                   f"--gin_param=\"TfdsProblem.{gin_name}='...'\"")
            try:
                examples = info[value].num_examples
            except (ValueError, KeyError) as e:
                reason = str(e).strip().splitlines()[0].split(" See format at")[0].rstrip(". ")
                set_by = (f"TfdsProblem.{gin_name}={value!r}" if self.splits[split] is not None else
                          f"the dev split (no TfdsProblem.dev_split: validation, else test) {value!r}")
                raise ProblemConfigError(f"tfds:{self.spec}: {set_by}: {reason}; {fix}") from None
            if examples <= 0:
                raise ProblemConfigError(f"tfds:{self.spec}: TfdsProblem.{gin_name}={value!r} selects no "
                                         f"examples; {fix}")

    # -- features ------------------------------------------------------------------------
    def _connectors(self) -> Dict[str, Any]:
        features = self.builder.info.features
        return {key: features[key] for key in features.keys()}

    def _describe_features(self) -> str:
        return ", ".join(f"{k} ({type(v).__name__})" for k, v in self._connectors().items())

    @property
    def keys(self):
        """(inputs feature name or None, targets feature name)."""
        if self._keys_resolved is None:
            self._keys_resolved = self._resolve_keys()
        return self._keys_resolved

    def _resolve_keys(self):
        inputs, targets = self._keys
        if targets is None:
            supervised = self.builder.info.supervised_keys
            if supervised and len(supervised) == 2 and all(isinstance(k, str) for k in supervised):
                inputs, targets = inputs or supervised[0], supervised[1]
        if targets is None:
            raise ProblemConfigError(
                f"tfds:{self.spec} names no supervised keys: choose with "
                f"--gin_param=\"TfdsProblem.inputs_key='...'\" and --gin_param=\"TfdsProblem.targets_key='...'\" "
                f"among its features: {self._describe_features()}")
        connectors = self._connectors()
        for key in (inputs, targets):
            if key is not None and key not in connectors:
                raise ProblemConfigError(f"tfds:{self.spec} has no feature {key!r}; its features: "
                                         f"{self._describe_features()}")
        return inputs, targets

    def kind(self, key: str) -> str:
        """image, class_label, text or ids."""
        if key not in self._kinds:
            self._kinds[key] = self._kind(key)
        return self._kinds[key]

    def _kind(self, key: str) -> str:
        import tensorflow as tf
        import tensorflow_datasets as tfds

        feature = self._connectors()[key]
        f = tfds.features
        if isinstance(feature, f.Image):
            if None in feature.shape:
                raise ProblemConfigError(f"tfds:{self.spec}: image feature {key!r} has a variable shape "
                                         f"{feature.shape}; t2x's image problems need a fixed one")
            return "image"
        if isinstance(feature, f.ClassLabel):
            return "class_label"
        if isinstance(feature, f.Text):
            return "text"
        if isinstance(feature, (f.Tensor, f.Sequence)) and tf.as_dtype(feature.dtype).is_integer:
            return "ids"
        raise ProblemConfigError(f"tfds:{self.spec}: feature {key!r} is a {type(feature).__name__}, which t2x "
                                 f"does not map to a modality; its features: {self._describe_features()}")

    @property
    def variable_length(self) -> bool:
        inputs, targets = self.keys
        return any(k is not None and self.kind(k) in ("text", "ids") for k in (inputs, targets))

    @property
    def image_shape(self):
        return tuple(self._connectors()[self.keys[0]].shape)

    @property
    def num_classes(self) -> int:
        return self._connectors()[self.keys[1]].num_classes

    @property
    def batch_preprocess(self) -> bool:
        return False

    # -- vocabularies --------------------------------------------------------------------
    @property
    def vocab_filename(self) -> str:
        return f"vocab.{self.dataset_filename()}.{self.approx_vocab_size}.{self.vocab_type}"

    def _text_keys(self) -> List[str]:
        return [k for k in self.keys if k is not None and self.kind(k) == "text"]

    def feature_encoders(self, data_dir):
        encoders: Dict[str, Any] = {}
        inputs, targets = self.keys
        for name, key in (("inputs", inputs), ("targets", targets)):
            if key is None:
                continue
            kind = self.kind(key)
            if kind == "class_label":
                encoders[name] = ClassLabelEncoder(self._connectors()[key].names)
            elif kind == "text":
                encoders[name] = self._text_encoder(data_dir)
        return encoders

    def _text_encoder(self, data_dir):
        if self.vocab_type == "character":
            return vocab.load("character", "")
        path = os.path.join(data_dir or "", self.vocab_filename)
        if not data_dir or not os.path.exists(path):
            raise DataMissingError(f"vocabulary {path} is missing; build it with "
                                   f"t2x-datagen --problem={self.full_name} --data_dir=...")
        return vocab.load(self.vocab_type, path)

    def _build_vocab(self, data_dir: str) -> None:
        vocab.check_type(self.vocab_type)
        if self.vocab_type == "character" or not self._text_keys():
            return
        path = os.path.join(data_dir, self.vocab_filename)
        if os.path.exists(path):
            return
        ds = self.builder.as_dataset(split=self.tfds_split(DatasetSplit.TRAIN), shuffle_files=False)
        if self.max_vocab_build_samples:
            ds = ds.take(self.max_vocab_build_samples)

        def texts():
            for example in ds.as_numpy_iterator():
                for key in self._text_keys():
                    yield example[key].decode("utf-8")

        vocab.build(self.vocab_type, texts(), path, self.approx_vocab_size)

    # -- problem hparams -----------------------------------------------------------------
    def hparams(self, defaults, model_hparams):
        del model_hparams
        modality, vocab = {}, {}
        encoders = None
        for name, key in zip(("inputs", "targets"), self.keys):
            if key is None:
                continue
            kind = self.kind(key)
            if kind == "image":
                modality[name], vocab[name] = ModalityType.IMAGE, 256
            elif kind == "class_label":
                modality[name], vocab[name] = ModalityType.CLASS_LABEL, self._connectors()[key].num_classes
            elif kind == "text":
                if encoders is None:
                    encoders = self.feature_encoders(defaults.data_dir)
                modality[name], vocab[name] = ModalityType.SYMBOL, encoders[name].vocab_size
            else:
                modality[name], vocab[name] = ModalityType.SYMBOL, self._ids_vocab_size(key)
        defaults.modality, defaults.vocab_size = modality, vocab

    def _ids_vocab_size(self, key: str) -> int:
        import tensorflow_datasets as tfds

        feature = self._connectors()[key]
        inner = getattr(feature, "feature", None)
        if isinstance(inner, tfds.features.ClassLabel):
            return inner.num_classes + NUM_RESERVED_TOKENS
        if not self.ids_vocab_size:
            raise ProblemConfigError(f"tfds:{self.spec}: integer feature {key!r} needs a vocabulary size: "
                                     "--gin_param=\"TfdsProblem.vocab_size=N\" (ids 0..N-3, shifted past PAD and EOS)")
        return int(self.ids_vocab_size)

    def eval_metrics(self):
        if self.kind(self.keys[1]) == "class_label":
            return ["accuracy", "accuracy_top5", "neg_log_perplexity"]
        return super().eval_metrics()

    # -- generation: TFDS prepares ---------------------------------------------------------
    @property
    def dataset_splits(self):
        return [SplitSpec(DatasetSplit.TRAIN, 1), SplitSpec(DatasetSplit.EVAL, 1)]

    def split_names(self):
        return list(dict.fromkeys(super().split_names() + [k for k, v in self.splits.items() if v]))

    def missing_shards(self, data_dir, splits=None):
        """Nothing is sharded by t2x: refuses at once when TFDS has not prepared the dataset
        or a split of ``splits`` (default train and dev) names no TFDS split
        (``check_splits``: the trainer calls this before training), and names the vocabulary
        when it is still to build."""
        self.check_prepared()
        self.check_splits(splits)
        if self._text_keys() and self.vocab_type != "character":
            path = os.path.join(data_dir, self.vocab_filename)
            return [] if os.path.exists(path) else [path]
        return []

    def generate_data(self, data_dir, tmp_dir, task_id=-1, *, num_processes=1, random_seed=0):
        """TFDS's ``download_and_prepare`` (into ``tfds_data_dir``), then the vocabulary."""
        del task_id, num_processes, random_seed
        start = time.monotonic()
        builder = self.builder
        if not builder.is_prepared():
            import tensorflow_datasets as tfds

            config = tfds.download.DownloadConfig(manual_dir=os.path.join(tmp_dir, "manual") if tmp_dir else None)
            builder.download_and_prepare(download_config=config)
        self.check_splits()
        self._build_vocab(data_dir)
        seconds = time.monotonic() - start
        reports = {}
        for split, info in builder.info.splits.items():
            reports[split] = types.SimpleNamespace(num_shards=info.num_shards, shards_written=0,
                                                   examples_written=info.num_examples, seconds=seconds,
                                                   examples_per_second=0.0)
        return reports

    # -- reading -------------------------------------------------------------------------
    def _example_to_features(self, example):
        """One TFDS example -> ``{"inputs": ..., "targets": ...}`` (text encoded in the graph)."""
        import tensorflow as tf

        out = {}
        for name, key in zip(("inputs", "targets"), self.keys):
            if key is None:
                continue
            value, kind = example[key], self.kind(key)
            if kind == "image":
                out[name] = tf.cast(value, tf.uint8)
            elif kind == "class_label":
                out[name] = tf.reshape(tf.cast(value, tf.int64), [1])
            elif kind == "text":
                ids = self._graph_encoders[name].encode(tf.reshape(value, [1])).flat_values
                out[name] = tf.concat([ids, tf.constant([EOS_ID], tf.int64)], 0)
            else:
                ids = tf.reshape(tf.cast(value, tf.int64), [-1]) + NUM_RESERVED_TOKENS
                out[name] = tf.concat([ids, tf.constant([EOS_ID], tf.int64)], 0)
        return out

    def _make_graph_encoders(self, data_dir: str) -> None:
        """The text features' graph encoders, made eagerly (their tables outlive any one
        ``tf.data`` function that uses them)."""
        import tensorflow as tf
        from t2x.data import graph_text

        encoders = self.get_feature_encoders(data_dir)
        with tf.init_scope():
            for name, key in zip(("inputs", "targets"), self.keys):
                if key is not None and self.kind(key) == "text" and name not in self._graph_encoders:
                    if self._asset_tmp is None:  # the tables' files, removed with the problem
                        self._asset_tmp = tempfile.TemporaryDirectory(prefix="t2x_tfds_vocab_")
                    self._graph_encoders[name] = graph_text.graph_encoder(
                        encoders[name], os.path.join(self._asset_tmp.name, name))

    def read(self, mode, data_dir, *, dataset_split=None, shuffle_files=None, shuffle_buffer_size=1024,
             repeat=None, seed=None, deterministic=False, input_context=None, parse_batch_size=256):
        import tensorflow as tf
        import tensorflow_datasets as tfds

        self.check_prepared()
        self._last_data_dir = data_dir
        self.get_hparams(data_dir=data_dir)  # vocab sizes known (and the vocabulary checked)
        self._make_graph_encoders(data_dir)
        is_training = mode == Mode.TRAIN
        split = self.tfds_split(dataset_split or (DatasetSplit.TRAIN if is_training else DatasetSplit.EVAL))
        shuffle = is_training if shuffle_files is None else shuffle_files
        repeat = is_training if repeat is None else repeat
        config = tfds.ReadConfig(shuffle_seed=seed, input_context=input_context,
                                 interleave_cycle_length=16 if shuffle else 1)
        ds = self.builder.as_dataset(split=split, shuffle_files=shuffle, read_config=config)
        if repeat:
            ds = ds.repeat()
        if shuffle and shuffle_buffer_size > 1:
            ds = ds.shuffle(shuffle_buffer_size, seed=seed, reshuffle_each_iteration=True)
        ds = ds.map(self._example_to_features, num_parallel_calls=tf.data.AUTOTUNE, deterministic=deterministic)
        # The vocabulary tables are constant: a checkpointed iterator (exact resume) may
        # leave them out of its state instead of refusing to save.
        options = tf.data.Options()
        options.experimental_external_state_policy = tf.data.experimental.ExternalStatePolicy.IGNORE
        return ds.ragged_batch(parse_batch_size).with_options(options)

    def element_spec(self, mode, hparams=None):
        import tensorflow as tf

        spec = {}
        for name, key in zip(("inputs", "targets"), self.keys):
            if key is None:
                continue
            kind = self.kind(key)
            spec[name] = (tf.TensorSpec(self.image_shape, tf.uint8) if kind == "image" else
                          tf.TensorSpec([1], tf.int64) if kind == "class_label" else tf.TensorSpec([None], tf.int64))
        empty = tf.data.Dataset.from_generator(lambda: iter(()), output_signature=spec)
        return self.finish(empty.ragged_batch(2), mode, hparams).element_spec

    def preprocess_example(self, example, mode, hparams):
        import tensorflow as tf

        inputs = self.keys[0]
        if inputs is not None and self.kind(inputs) == "image" and not self.was_reversed:
            example["inputs"] = tf.image.per_image_standardization(example["inputs"])
        return example


def _from_prefix(spec: str, was_reversed: bool = False, was_copy: bool = False) -> TfdsProblem:
    return TfdsProblem(was_reversed=was_reversed, was_copy=was_copy, spec=spec)


registry.register_problem_prefix("tfds", _from_prefix,
                                 "tfds:<name>[/<config>][:<version>] (any TFDS dataset)")
