"""``SpeechRecognitionProblem``: recordings in, transcripts out (T2T's ``speech_recognition``).

A subclass writes ``generate_samples(data_dir, tmp_dir, dataset_split)`` yielding
``{"audio": path, "transcript": str, "where": str}`` (``where`` names the sample in errors:
``file:line`` of a transcript list, or the path) and sets ``sample_rate`` (every recording
is resampled to it) and ``alphabet`` (the characters a transcript may hold).

* **Generation** (host, ``encode_sample``): the recording is read with ``soundfile``, mixed
  down to mono, resampled with ``soxr`` (``t2x.data.audio.read_audio``) and stored as int16
  bytes (``waveform``) with its ``sample_rate``; the transcript is whitespace-normalised,
  checked against ``alphabet`` (a character outside it is a ``DataError`` naming the sample,
  the character and the fix) and stored as byte ids + EOS (``targets``, T2T's
  ``ByteTextEncoder``, vocabulary 258).
* **Reading** (``tf.data``, per example, ``preprocess_example``): the waveform becomes
  ``inputs`` ``[frames, audio_num_mel_bins, 1 or 3]`` float32 log-mel features
  (``t2x.data.audio.waveform_features``, the model's audio hparams); in training, with
  ``specaugment=True``, SpecAugment masks seeded per example (``augment_example`` passes the
  stateless seed through). Batches are by length in frames (``variable_length``), padded with
  zero frames.
* **Evaluation**: ``wer`` and ``edit_distance`` (character error rate) on real greedy decodes
  of the dev split, next to the teacher-forced accuracy.
"""

import os
import string
from typing import Any, Dict, Iterator, List, Optional

from t2x.data import audio
from t2x.data.problem import DatasetSplit, Mode, ModalityType, Problem, SplitSpec
from t2x.data.text_encoder import EOS_ID, ByteTextEncoder
from t2x.errors import DataError

PRINTABLE_ASCII = "".join(c for c in string.printable if c not in "\t\n\r\x0b\x0c")


class SpeechRecognitionProblem(Problem):
    """Base of the speech problems: waveforms in the shards, features in the pipeline."""

    variable_length = True
    augment_in_training = True  # passes each training example's stateless seed to SpecAugment
    sample_rate = 16000
    alphabet: Optional[str] = PRINTABLE_ASCII  # None: any character
    train_shards = 10
    dev_shards = 1

    @property
    def dataset_splits(self) -> List[SplitSpec]:
        return [SplitSpec(DatasetSplit.TRAIN, self.train_shards), SplitSpec(DatasetSplit.EVAL, self.dev_shards)]

    # -- features ----------------------------------------------------------------
    def feature_encoders(self, data_dir: Optional[str]) -> Dict[str, Any]:
        """Host: ``{"targets": ByteTextEncoder()}`` (UTF-8 bytes + 2); inputs are audio."""
        del data_dir
        return {"targets": ByteTextEncoder()}

    def hparams(self, defaults, model_hparams) -> None:
        """Host: ``speech`` inputs, ``symbol`` targets over the 258 byte ids."""
        del model_hparams
        defaults.modality = {"inputs": ModalityType.SPEECH, "targets": ModalityType.SYMBOL}
        defaults.vocab_size = {"inputs": None, "targets": ByteTextEncoder().vocab_size}

    def eval_metrics(self) -> List[str]:
        """Teacher-forced accuracy and log-perplexity, and on real decodes ``wer`` and
        ``edit_distance`` (characters)."""
        return ["accuracy", "accuracy_per_sequence", "neg_log_perplexity", "edit_distance", "wer"]

    # -- generation ----------------------------------------------------------------
    def normalize_transcript(self, text: str) -> str:
        """Host: a transcript as stored: runs of whitespace made one space, ends stripped."""
        return " ".join(text.split())

    def check_transcript(self, text: str, where: str) -> str:
        """Host: ``text`` normalised; a character outside ``alphabet`` or an empty transcript
        is a ``DataError`` naming ``where``."""
        text = self.normalize_transcript(text)
        if not text:
            raise DataError(f"{where}: empty transcript; give each recording its transcript")
        if self.alphabet is not None:
            allowed = set(self.alphabet) | {" "}
            bad = next((c for c in text if c not in allowed), None)
            if bad is not None:
                shown = self.alphabet if len(self.alphabet) <= 40 else f"{self.alphabet[:40]}..."
                raise DataError(f"{where}: transcript character {bad!r} (U+{ord(bad):04X}) is outside the "
                                f"vocabulary of {self.name} ({shown!r}); transliterate or remove it")
        return text

    def encode_sample(self, sample: Dict[str, Any], encoders: Dict[str, Any]) -> Dict[str, list]:
        """Host: ``{"audio": path, "transcript": str, "where": str}`` -> ``waveform`` (int16
        bytes at ``sample_rate``), ``sample_rate``, ``targets`` (ids + EOS)."""
        where = sample.get("where") or sample["audio"]
        text = self.check_transcript(sample["transcript"], where)
        samples = audio.read_audio(sample["audio"], self.sample_rate, where)
        if len(samples) < 2:
            raise DataError(f"{where}: {sample['audio']} holds {len(samples)} sample(s) at {self.sample_rate} Hz: "
                            "too short to transcribe; remove it from the list")
        return {"waveform": [audio.int16_bytes(samples)], "sample_rate": [self.sample_rate],
                "targets": encoders["targets"].encode(text) + [EOS_ID]}

    # -- reading ------------------------------------------------------------------
    def example_reading_spec(self) -> Dict[str, Any]:
        import tensorflow as tf

        return {"waveform": tf.io.FixedLenFeature([], tf.string),
                "sample_rate": tf.io.FixedLenFeature([], tf.int64),
                "targets": tf.io.VarLenFeature(tf.int64)}

    def augment_example(self, example: Dict[str, Any], seed) -> Dict[str, Any]:
        """``tf.data``, training: keeps the example's stateless ``seed`` (int64 ``[2]``) for
        ``preprocess_example``'s SpecAugment (the features do not exist yet here)."""
        example["specaugment_seed"] = seed
        return example

    def features_from_waveform(self, waveform, hparams):
        """Graph: float32 waveform ``[N]`` at ``sample_rate`` -> ``[frames, bins, channels]``."""
        return audio.waveform_features(waveform, self.sample_rate, hparams)

    def preprocess_example(self, example: Dict[str, Any], mode: str, hparams):
        """``tf.data``, per example: ``waveform`` bytes -> ``inputs`` ``[frames, bins,
        channels]`` float32 (SpecAugment in training when ``specaugment``); ``targets`` kept;
        every other feature dropped."""
        seed = example.pop("specaugment_seed", None)
        features = self.features_from_waveform(audio.decode_waveform_bytes(example["waveform"]), hparams)
        if mode == Mode.TRAIN and seed is not None and audio.audio_hparam(hparams, "specaugment"):
            features = audio.spec_augment(features, seed, hparams)
        out = {"inputs": features}
        if "targets" in example:
            out["targets"] = example["targets"]
        return out


def walk_files(folder: str, suffix: str) -> Iterator[str]:
    """Paths under ``folder`` ending in ``suffix``, in sorted order (dirs and files)."""
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            if name.endswith(suffix):
                yield os.path.join(root, name)


__all__ = ["PRINTABLE_ASCII", "SpeechRecognitionProblem", "walk_files"]
