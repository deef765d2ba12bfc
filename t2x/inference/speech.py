"""Decoding a trained speech recognition model: recordings -> transcripts.

``SpeechDecoder`` has ``SequenceDecoder``'s interface (``decode_lines``, ``decode_split``,
``last_sentences_per_second``), so ``t2x-decoder``, the trainer's decode metrics (``wer``,
``edit_distance``) and ``--decode_from_file`` use it unchanged: a "line" is the path of a
recording (relative paths are read from the list file's folder), any format soundfile
reads, any rate (resampled with soxr to the problem's), mixed down to mono. Its features
are those of the training pipeline (``problem.features_from_waveform`` with the run's
hparams), computed by the same TensorFlow ops.

Batches are formed after sorting the utterances by (frames, position): the same set of
recordings is cut into the same batches in any order. Decoding is greedy or beam search as
``decode_hparams`` say; outputs come back in the input order.
"""

import os
import time
from typing import List, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf
from absl import logging

from t2x import decoding
from t2x.data import audio
from t2x.data.problem import Mode


class SpeechDecoder:
    """Transcribes recordings with ``model.infer`` (``infer_kwargs`` from the decode hparams)."""

    def __init__(self, model, problem, data_dir: str, decode_hparams, infer_kwargs: dict):
        self.model = model
        self.problem = problem
        self.data_dir = data_dir
        self.decode_hparams = decode_hparams
        self.encoders = problem.get_feature_encoders(data_dir)
        self.last_truncated: List[int] = []
        self.last_sentences_per_second = 0.0
        hparams = model.hparams
        spec = problem.element_spec(Mode.EVAL, hparams)["inputs"]
        self.feature_shape = spec.shape.as_list()[1:]  # [bins, channels]
        self._features = tf.function(lambda w: problem.features_from_waveform(w, hparams),
                                     input_signature=[tf.TensorSpec([None], tf.float32)])
        self._infer = tf.function(lambda inputs: model.infer({"inputs": inputs}, **infer_kwargs),
                                  input_signature=[tf.TensorSpec([None, None] + self.feature_shape, tf.float32)])

    @property
    def max_input_length(self) -> int:
        return 0  # recordings are never cut

    # -- features -------------------------------------------------------------------
    def features_of_file(self, path: str, where: str) -> np.ndarray:
        """Host + graph: one recording -> ``[frames, bins, channels]`` float32 (a DataError
        naming ``where`` when it is not audio or is empty)."""
        samples = audio.read_audio(path, self.problem.sample_rate, where)
        if len(samples) < 2:
            from t2x.errors import DataError
            raise DataError(f"{where}: {path} is too short to transcribe ({len(samples)} sample(s))")
        return self._features(audio.int16_to_float(tf.constant(samples))).numpy()

    def decode_features(self, features: Sequence[np.ndarray]) -> List[str]:
        """``[frames, bins, channels]`` arrays -> transcripts (beams joined by tabs with
        ``return_beams``), in order."""
        results: List[str] = [""] * len(features)
        size = int(self.decode_hparams.batch_size)
        order = sorted(range(len(features)), key=lambda i: (features[i].shape[0], i))
        target = self.encoders["targets"]
        start = time.monotonic()
        for b in range(0, len(order), size):
            indices = order[b:b + size]
            width = max(features[i].shape[0] for i in indices)
            batch = np.zeros([len(indices), width] + self.feature_shape, np.float32)
            for row, i in enumerate(indices):
                batch[row, :features[i].shape[0]] = features[i]
            outputs = self._infer(tf.constant(batch))["outputs"].numpy()
            for row, i in enumerate(indices):
                beams = outputs[row] if outputs.ndim == 3 else outputs[row][None]
                results[i] = "\t".join(target.decode(decoding.strip_ids(beam)) for beam in beams)
            if (b // size + 1) % int(self.decode_hparams.log_every) == 0:
                logging.info("transcribed %d/%d recordings", b + len(indices), len(features))
        self.last_sentences_per_second = len(features) / max(time.monotonic() - start, 1e-9)
        return results

    # -- the decoder interface --------------------------------------------------------
    def decode_lines(self, lines: Sequence[str], *, source: str = "input",
                     line_numbers: Optional[Sequence[int]] = None) -> List[str]:
        """Recording paths (one a line; relative to ``source``'s folder when ``source`` is a
        file) -> transcripts. Errors name ``<source>:<line>``."""
        numbers = list(line_numbers) if line_numbers is not None else list(range(1, len(lines) + 1))
        folder = os.path.dirname(os.path.abspath(source)) if os.path.isfile(source) else os.getcwd()
        features = []
        for n, line in zip(numbers, lines):
            path = os.path.expanduser(line.strip())
            if not os.path.isabs(path):
                path = os.path.join(folder, path)
            features.append(self.features_of_file(path, f"{source}:{n}"))
        self.last_truncated = []
        return self.decode_features(features)

    def decode_split(self, split: Optional[str] = "dev", max_examples: int = 0,
                     problem=None) -> Tuple[List[str], List[str]]:
        """Transcribes a split's TFRecords: (hypotheses, references), in the split's order
        (``problem``: read through it instead of the run's, as ``SequenceDecoder``)."""
        ds = (problem or self.problem).dataset(Mode.EVAL, self.data_dir, self.model.hparams, dataset_split=split,
                                  deterministic=True)
        if max_examples:
            ds = ds.take(max_examples)
        features, references = [], []
        target = self.encoders["targets"]
        for example in ds.as_numpy_iterator():
            features.append(example["inputs"])
            references.append(target.decode(decoding.strip_ids(example["targets"])))
        return self.decode_features(features), references
