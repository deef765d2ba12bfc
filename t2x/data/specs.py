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
    SPEECH = "speech"
    IMAGE_CHANNEL_EMBEDDINGS = "image_channel_embeddings"  # pixels as 0..255 symbols (image generation)


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


class ProblemKind:
    """What a problem is, for the export, the decoder and the trainer: computed from its
    features' modalities by ``problem_kind`` (the one place that decides it)."""
    IMAGE_CLASSIFIER = "image_classifier"
    TEXT_CLASSIFIER = "text_classifier"
    TEXT2TEXT = "text2text"
    LANGUAGE_MODEL = "language_model"
    CLASSIFIER = "classifier"  # class labels from any other inputs (a registered modality)
    SPEECH_RECOGNITION = "speech_recognition"  # audio features in, symbol targets out
    IMAGE_GENERATION = "image_generation"  # pixels sampled sub-pixel by sub-pixel (a label in, or nothing)
    OTHER = "other"


# (inputs modality, targets modality) -> kind; a family adds its pair here (speech: its own).
PROBLEM_KINDS = {
    (ModalityType.IMAGE, ModalityType.CLASS_LABEL): ProblemKind.IMAGE_CLASSIFIER,
    (ModalityType.SYMBOL, ModalityType.CLASS_LABEL): ProblemKind.TEXT_CLASSIFIER,
    (ModalityType.SYMBOL, ModalityType.SYMBOL): ProblemKind.TEXT2TEXT,
    (None, ModalityType.SYMBOL): ProblemKind.LANGUAGE_MODEL,
    (ModalityType.SPEECH, ModalityType.SYMBOL): ProblemKind.SPEECH_RECOGNITION,
    (None, ModalityType.IMAGE_CHANNEL_EMBEDDINGS): ProblemKind.IMAGE_GENERATION,
    (ModalityType.CLASS_LABEL, ModalityType.IMAGE_CHANNEL_EMBEDDINGS): ProblemKind.IMAGE_GENERATION,
}
# Kinds whose targets are decoded token by token (sequence decoding, decode metrics).
SEQUENCE_KINDS = (ProblemKind.TEXT2TEXT, ProblemKind.LANGUAGE_MODEL, ProblemKind.SPEECH_RECOGNITION)


def problem_kind(problem_hparams) -> str:
    """The ``ProblemKind`` of a problem's hparams (its ``modality`` dict): ``PROBLEM_KINDS``
    by (inputs, targets) modality; class-label targets from any other inputs are a
    ``classifier``; anything else ``other``."""
    modality = problem_hparams.modality
    pair = (modality.get("inputs"), modality.get("targets"))
    if pair in PROBLEM_KINDS:
        return PROBLEM_KINDS[pair]
    return ProblemKind.CLASSIFIER if pair[1] == ModalityType.CLASS_LABEL and pair[0] else ProblemKind.OTHER
