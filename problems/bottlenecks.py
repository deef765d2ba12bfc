"""Cached features ("bottlenecks", TF Hub's retraining example): an image problem's splits
run once through an exported model's ``features`` signature, stored as shards, so that a
new top (``saved_model_classifier``) trains on the cache instead of re-running the frozen
extractor at every step.

    t2x-trainer --problem=image_bottlenecks --model=saved_model_classifier \\
        --gin_param="ImageBottlenecks.source_problem='image_fashion_mnist'" \\
        --gin_param="ImageBottlenecks.feature_extractor='RUN_A/export/2000/saved_model'" \\
        --data_dir=D --tmp_dir=T

The source problem's shards are read from the same ``--data_dir`` (generated first when
missing) in their stored order, with its own preprocessing; the cache's files are named
after the source problem and the extractor's fingerprint, so two extractors never share
a cache. The features are float32 vectors (the ``inputs`` feature, modality identity).
"""

import hashlib
import os
from typing import Optional

import gin

from t2x import registry
from t2x.data.problem import Mode, ModalityType, Problem, ProblemConfigError


@registry.register_problem
@gin.configurable
class ImageBottlenecks(Problem):
    """``source_problem``'s images as ``feature_extractor``'s features; the same labels."""

    def __init__(self, was_reversed: bool = False, was_copy: bool = False, *,
                 source_problem: str = "", feature_extractor: str = "", batch_size: int = 256):
        super().__init__(was_reversed=was_reversed, was_copy=was_copy)
        self.source_problem, self.feature_extractor, self.batch_size = source_problem, feature_extractor, batch_size
        self._source = None
        self._signature = None
        self._digest = None

    @property
    def source(self):
        if self._source is None:
            if not self.source_problem or not self.feature_extractor:
                raise ProblemConfigError(
                    "image_bottlenecks needs --gin_param=\"ImageBottlenecks.source_problem='<problem>'\" and "
                    "--gin_param=\"ImageBottlenecks.feature_extractor='<export>/saved_model'\"")
            self._source = registry.problem(self.source_problem)
        return self._source

    def _fingerprint(self) -> str:
        if self._digest is None:
            path = os.path.join(os.path.expanduser(self.feature_extractor), "saved_model.pb")
            if not os.path.exists(path):
                raise ProblemConfigError(f"ImageBottlenecks.feature_extractor={self.feature_extractor} is not a "
                                         "SavedModel directory (t2x-exporter writes <run>/export/<step>/saved_model)")
            with open(path, "rb") as f:
                self._digest = hashlib.sha256(f.read()).hexdigest()[:10]
        return self._digest

    def dataset_filename(self) -> str:
        return f"{self.name}-{self.source.dataset_filename()}-{self._fingerprint()}"

    @property
    def dataset_splits(self):
        return self.source.dataset_splits

    @property
    def num_classes(self):
        return self.source.num_classes

    def prepare_data(self, data_dir, tmp_dir):
        if self.source.missing_shards(data_dir):
            self.source.generate_data(data_dir, tmp_dir)

    def _features(self):
        import tensorflow as tf

        if self._signature is None:
            self._fingerprint()  # names a wrong path
            self._signature = tf.saved_model.load(os.path.expanduser(self.feature_extractor)).signatures["features"]
        return self._signature

    @property
    def feature_dim(self) -> int:
        """D: the size of the extractor's ``features`` output per example."""
        import numpy as np

        shape = self._features().structured_outputs["features"].shape.as_list()[1:]
        if None in shape:
            raise ProblemConfigError(f"{self.feature_extractor}: features of unknown shape {shape}")
        return int(np.prod(shape))

    def generate_samples(self, data_dir, tmp_dir, dataset_split):
        """Host: (features float32 [D], label) of the source split, in its stored order."""
        import tensorflow as tf

        signature = self._features()
        source = self.source
        ds = source.read(Mode.EVAL, data_dir, dataset_split=dataset_split, shuffle_files=False, repeat=False,
                         deterministic=True, parse_batch_size=self.batch_size)
        for batch in ds:
            images = source.preprocess_example({"inputs": batch["inputs"]}, Mode.EVAL, None)["inputs"]
            features = signature(inputs=tf.cast(images, tf.float32))["features"].numpy()
            features = features.reshape(len(features), -1)
            for vector, label in zip(features, batch["targets"].numpy().reshape(-1)):
                yield vector, int(label)

    def encode_sample(self, sample, encoders):
        vector, label = sample
        return {"inputs": [float(v) for v in vector], "targets": [label]}

    def feature_encoders(self, data_dir):
        return {"targets": self.source.get_feature_encoders(data_dir)["targets"]}

    def hparams(self, defaults, model_hparams):
        del model_hparams
        defaults.modality = {"inputs": ModalityType.IDENTITY, "targets": ModalityType.CLASS_LABEL}
        defaults.vocab_size = {"inputs": None, "targets": self.source.num_classes}

    def example_reading_spec(self):
        import tensorflow as tf
        return {"inputs": tf.io.FixedLenFeature((self.feature_dim,), tf.float32),
                "targets": tf.io.FixedLenFeature((1,), tf.int64)}

    def decode_example(self, parsed):
        return {"inputs": parsed["inputs"], "targets": parsed["targets"]}

    def eval_metrics(self):
        return ["accuracy", "accuracy_top5", "neg_log_perplexity"]
