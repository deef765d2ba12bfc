"""The small vocabulary of the data floor: splits, modes, modality names, split and feature
specs, the problem configuration error and the default seed (re-exported by
``t2x.data.problem``, where they are used)."""

import dataclasses
from typing import Any, Optional

from t2x.errors import ConfigError


class DatasetSplit:
    TRAIN = "train"
    EVAL = "dev"
    TEST = "test"


class Mode:
    """What a dataset is for (T2T used ``tf.estimator.ModeKeys``, gone from TF 2.16)."""
    TRAIN = "train"
    EVAL = "eval"
    PREDICT = "predict"


class ModalityType:
    """The names of the built-in modalities. Any name registered with
    ``t2x.modalities.register_modality`` may stand in ``hparams.modality`` too."""
    SYMBOL = "symbol"
    CLASS_LABEL = "class_label"
    IMAGE = "image"
    REAL = "real"
    IDENTITY = "identity"


@dataclasses.dataclass
class SplitSpec:
    """One split to generate and how many shards it is written in."""
    split: str
    num_shards: int


@dataclasses.dataclass
class FeatureInfo:
    """What the model needs to know about one feature."""
    modality: Optional[str] = None
    vocab_size: Optional[int] = None
    encoder: Any = None
    space_id: int = 0


class ProblemConfigError(ConfigError):
    """A problem is misconfigured (an unset path, a malformed input line); the message says how."""


DEFAULT_RANDOM_SEED = 429459  # T2T's datagen default
