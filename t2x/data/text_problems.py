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
* at scale (T2T's knobs): a subword vocabulary reads at most ``file_byte_budget`` bytes
  (default 1e6) of each file ``vocab_source_files`` names, in lines spread evenly over the
  file, or else of the train samples' texts (evenly spaced samples), and considers
  subtokens up to ``max_subtoken_length`` characters (default 200); what was read, the
  settings and the seconds are recorded next to the vocabulary as ``<vocab file>.json``;
* encoded sequences end with EOS (id 1); id 0 pads.

``is_generate_per_split = False`` (T2T's option) draws everything from the train split's
samples and deals them round-robin over the train and dev shards (T2T's 100 : 1).
"""

import os
import time
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
    max_vocab_build_samples = 0  # 0: every train sample feeds the vocabulary (within the budget)
    # T2T's: bytes of text read from each vocabulary source to build a subword vocabulary
    # (0: all of it), and the longest subtoken it considers (None: the longest token).
    file_byte_budget = 1e6
    max_subtoken_length = 200

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

    def vocab_source_files(self, data_dir, tmp_dir) -> List[str]:
        """Host, in ``prepare_data``: text files, one train text a line, that a subword
        vocabulary may sample with seeks (``file_byte_budget`` bytes of each) instead of
        iterating the train samples. Default: none (the samples' texts are sampled)."""
        del data_dir, tmp_dir
        return []

    def _train_sample_texts(self, data_dir, tmp_dir) -> Iterator[List[str]]:
        # The vocabulary does not depend on the seed: samples of the default one.
        for i, sample in enumerate(self.samples(data_dir, tmp_dir, DatasetSplit.TRAIN,
                                                DEFAULT_RANDOM_SEED)):
            if self.max_vocab_build_samples and i >= self.max_vocab_build_samples:
                return
            yield list(self.text_of_sample(sample))

    def vocab_texts(self, data_dir, tmp_dir, sources: List[Dict]) -> Iterator[str]:
        """Host, in ``prepare_data``: the texts the vocabulary is built from; appends to
        ``sources`` one dict per source read (filled with lines and bytes once the texts are
        exhausted). A subword vocabulary samples ``file_byte_budget`` bytes of each
        ``vocab_source_files`` file, or of the train samples; other types read every train
        sample (a token vocabulary counts all words; SentencePiece samples by itself)."""
        budget = int(self.file_byte_budget or 0) if self.vocab_type == "subword" else 0
        files = self.vocab_source_files(data_dir, tmp_dir) if not self.max_vocab_build_samples else []
        if budget and files:
            for path in files:
                sources.append({})
                yield from vocab.spread_lines(path, budget, sources[-1])
            return
        sources.append({"source": "train samples"})
        yield from vocab.spread_sample(self._train_sample_texts(data_dir, tmp_dir), budget, sources[-1])

    def prepare_data(self, data_dir, tmp_dir):
        """Host, once: builds the vocabulary from the train split if ``data_dir`` lacks it,
        and records how next to it (``<vocab>.json``)."""
        super().prepare_data(data_dir, tmp_dir)
        if self.vocab_type == "character":
            return
        path = os.path.join(data_dir, self.vocab_filename)
        if os.path.exists(path):
            return
        start, sources = time.monotonic(), []
        size = vocab.build(self.vocab_type, self.vocab_texts(data_dir, tmp_dir, sources), path,
                           self.approx_vocab_size, self.sentencepiece_model_type,
                           max_subtoken_length=self.max_subtoken_length)  # atomically (t2x.fileio)
        vocab.write_record(path, {
            "vocab_type": self.vocab_type, "approx_vocab_size": self.approx_vocab_size,
            "vocab_size": size, "file_byte_budget": self.file_byte_budget,
            "max_subtoken_length": self.max_subtoken_length,
            "max_vocab_build_samples": self.max_vocab_build_samples, "sources": sources,
            "lines": sum(s.get("lines", 0) for s in sources),
            "bytes": sum(s.get("bytes", 0) for s in sources),
            "seconds": round(time.monotonic() - start, 3)})

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

