"""Text problem bases with T2T's hooks and defaults: ``Text2TextProblem``,
``Text2SelfProblem`` (language modelling, no inputs) and ``Text2ClassProblem``.

A subclass writes ``generate_samples(data_dir, tmp_dir, dataset_split)`` yielding raw text
samples (``{"inputs": str, "targets": str}``; ``{"targets": str}`` for Text2Self;
``{"inputs": str, "label": int}`` for Text2Class) and picks a vocabulary:

* ``vocab_type`` (``t2x.data.vocab``): ``"character"`` (UTF-8 bytes, no vocab file), ``"subword"`` (T2T's
  SubwordTextEncoder, about ``approx_vocab_size`` entries), ``"token"`` (whitespace
  tokens: the ``approx_vocab_size - 3`` most frequent, plus ``<UNK>`` for the rest) or
  ``"sentencepiece"`` (a SentencePiece model of ``approx_vocab_size`` pieces, unigram or
  ``sentencepiece_model_type = "bpe"``);
* the vocabulary is built in ``prepare_data`` from the **train split only** and stored in
  ``data_dir`` as ``vocab.{problem}.{approx_vocab_size}.{vocab_type}``; an existing file is
  reused, so regenerating never changes ids under a trained model;
* encoded sequences end with EOS (id 1); id 0 pads.

``is_generate_per_split = False`` (T2T's option) draws everything from the train split's
samples and deals them round-robin over the train and dev shards (T2T's 100 : 1).
"""

import os
from typing import Dict, Iterator, List

from t2x.data import vocab
from t2x.errors import DataError
from t2x.data.text_encoder import EOS_ID, ByteTextEncoder
from t2x.data.problem import (DEFAULT_RANDOM_SEED, DataMissingError, DatasetSplit, ModalityType,
                              Problem, SplitSpec)

UNK = vocab.UNK


class Text2TextProblem(Problem):
    """Text in, text out; both sides share one vocabulary (T2T's default)."""

    variable_length = True
    vocab_type = "subword"
    sentencepiece_model_type = "unigram"  # or "bpe" (vocab_type="sentencepiece")
    approx_vocab_size = 2 ** 15
    max_vocab_build_samples = 0  # 0: every train sample feeds the vocabulary

    @property
    def has_inputs(self) -> bool:
        return True

    @property
    def dataset_splits(self) -> List[SplitSpec]:
        return [SplitSpec(DatasetSplit.TRAIN, 100), SplitSpec(DatasetSplit.EVAL, 1)]

    # -- vocabulary ------------------------------------------------------------------
    @property
    def vocab_filename(self) -> str:
        return f"vocab.{self.dataset_filename()}.{self.approx_vocab_size}.{self.vocab_type}"

    def text_of_sample(self, sample) -> Iterator[str]:
        """The texts of one raw sample that feed the vocabulary."""
        for key in ("inputs", "targets"):
            if isinstance(sample.get(key), str):
                yield sample[key]

    def _train_texts(self, data_dir, tmp_dir) -> Iterator[str]:
        # The vocabulary does not depend on the seed: samples of the default one.
        for i, sample in enumerate(self.samples(data_dir, tmp_dir, DatasetSplit.TRAIN,
                                                DEFAULT_RANDOM_SEED)):
            if self.max_vocab_build_samples and i >= self.max_vocab_build_samples:
                return
            yield from self.text_of_sample(sample)

    def prepare_data(self, data_dir, tmp_dir):
        """Host, once: builds the vocabulary from the train split if ``data_dir`` lacks it."""
        super().prepare_data(data_dir, tmp_dir)
        if self.vocab_type == "character":
            return
        path = os.path.join(data_dir, self.vocab_filename)
        if os.path.exists(path):
            return
        vocab.build(self.vocab_type, self._train_texts(data_dir, tmp_dir), path, self.approx_vocab_size,
                    self.sentencepiece_model_type)  # atomically (t2x.fileio)

    def feature_encoders(self, data_dir):
        vocab.check_type(self.vocab_type)
        if self.vocab_type == "character":
            encoder = ByteTextEncoder()
        else:
            path = os.path.join(data_dir or "", self.vocab_filename)
            if not data_dir or not os.path.exists(path):
                raise DataMissingError(
                    f"vocabulary {path} is missing; generate the data first "
                    f"(t2x-datagen --problem={self.name} --data_dir=...)")
            encoder = vocab.load(self.vocab_type, path)
        return {"inputs": encoder, "targets": encoder} if self.has_inputs else {"targets": encoder}

    # -- generation ------------------------------------------------------------------
    def encode_sample(self, sample, encoders) -> Dict[str, list]:
        return {key: encoders[key].encode(sample[key]) + [EOS_ID]
                for key in ("inputs", "targets") if key in sample and key in encoders}

    # -- features ----------------------------------------------------------------------
    def hparams(self, defaults, model_hparams):
        del model_hparams
        encoders = self.feature_encoders(defaults.data_dir)
        defaults.modality = {k: ModalityType.SYMBOL for k in encoders}
        defaults.vocab_size = {k: e.vocab_size for k, e in encoders.items()}
        defaults.stop_at_eos = True

    def eval_metrics(self):
        return ["accuracy", "accuracy_per_sequence", "neg_log_perplexity"]


class Text2SelfProblem(Text2TextProblem):
    """Language modelling: samples are ``{"targets": str}``; the model has no inputs."""

    @property
    def has_inputs(self) -> bool:
        return False

    def example_reading_spec(self):
        import tensorflow as tf
        return {"targets": tf.io.VarLenFeature(tf.int64)}

    def eval_metrics(self):
        return ["accuracy", "neg_log_perplexity", "perplexity"]


class Text2ClassProblem(Text2TextProblem):
    """Text in, one class out: samples are ``{"inputs": str, "label": int}``."""

    class_labels: List[str] = ["neg", "pos"]

    @property
    def num_classes(self) -> int:
        return len(self.class_labels)

    def text_of_sample(self, sample):
        yield sample["inputs"]

    def feature_encoders(self, data_dir):
        from t2x.data.text_encoder import ClassLabelEncoder

        encoders = super().feature_encoders(data_dir)
        encoders["targets"] = ClassLabelEncoder(self.class_labels)
        return encoders

    def encode_sample(self, sample, encoders):
        label = int(sample["label"])
        if not 0 <= label < self.num_classes:
            raise DataError(f"{self.name}: label {label} is outside [0, {self.num_classes}) "
                            f"({len(self.class_labels)} class_labels) in sample {sample['inputs'][:40]!r}")
        return {"inputs": encoders["inputs"].encode(sample["inputs"]) + [EOS_ID],
                "targets": [label]}

    def hparams(self, defaults, model_hparams):
        super().hparams(defaults, model_hparams)
        defaults.modality = {"inputs": ModalityType.SYMBOL, "targets": ModalityType.CLASS_LABEL}
        defaults.vocab_size = {"inputs": defaults.vocab_size["inputs"], "targets": self.num_classes}

    def eval_metrics(self):
        return ["accuracy"]

