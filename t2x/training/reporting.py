"""Progress lines and TensorBoard summaries of a run (the trainer calls these; host only).

* ``TrainProgress``: every ``log_every`` steps, one progress line (loss, learning rate,
  gradient norm, examples/s -- or target tokens/s when ``batch_size`` is a token budget --
  steps/s, ETA) and the same numbers as ``train/`` scalars.
* ``write_run_text``: the resolved hparams, gin config and run names as ``train/`` text.
* ``write_input_images``: a few training inputs as ``train/`` images (image problems).
* ``write_eval``: the eval metrics as ``eval/`` scalars and the run as one row of the
  HParams dashboard: its trial id is the run directory (unique per run, so the same model
  and set trained on two problems are two rows), its hparams the set's scalar values plus
  ``problem``, ``model`` and ``hparams_set``, its metrics the eval scalars.
"""

import json
import time
from typing import Any, Callable, Dict, Mapping

import tensorflow as tf
from absl import logging


def fmt_seconds(s: float) -> str:
    s = int(max(s, 0))
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def summary_writer(path: str, is_chief: bool = True):
    """A file writer at ``path``; a no-op writer on non-chief workers."""
    return tf.summary.create_file_writer(path) if is_chief else tf.summary.create_noop_writer()


class TrainProgress:
    """Rates, ETA and the progress line of a training loop."""

    def __init__(self, writer, *, train_steps: int, start_step: int, global_batch_size: int,
                 count_tokens: bool, learning_rate_fn: Callable):
        self.writer = writer
        self.train_steps = train_steps
        self.global_batch_size = global_batch_size
        self.count_tokens = count_tokens
        self.learning_rate_fn = learning_rate_fn
        self.start_time = self._last_time = time.monotonic()
        self._last_step = start_step
        self._tokens = 0.0

    def add_tokens(self, tokens: float) -> None:
        """Target tokens of one step (counted only when batch_size is a token budget)."""
        if self.count_tokens:
            self._tokens += tokens

    def report(self, step: int, loss: float, grad_norm: float) -> Dict[str, float]:
        """Logs the progress line at ``step``, writes train/ scalars, returns the numbers."""
        now = time.monotonic()
        elapsed = max(now - self._last_time, 1e-9)
        steps_per_s = (step - self._last_step) / elapsed
        metrics = {"loss": loss, "grad_norm": grad_norm,
                   "learning_rate": float(tf.convert_to_tensor(self.learning_rate_fn(step - 1)).numpy()),
                   "steps_per_sec": steps_per_s}
        if self.count_tokens:
            metrics["tokens_per_sec"] = self._tokens / elapsed
            rate = f"{metrics['tokens_per_sec']:.0f} target tokens/s"
        else:
            metrics["examples_per_sec"] = steps_per_s * self.global_batch_size
            rate = f"{metrics['examples_per_sec']:.1f} examples/s"
        with self.writer.as_default(step=step):
            for k, v in metrics.items():
                tf.summary.scalar(k, v)
        eta = (self.train_steps - step) / max(steps_per_s, 1e-9)
        logging.info("step %d/%d: loss %.4f, lr %.3g, grad norm %.3g, %s, %.2f steps/s, ETA %s",
                     step, self.train_steps, loss, metrics["learning_rate"], grad_norm, rate,
                     steps_per_s, fmt_seconds(eta))
        self._last_time, self._last_step, self._tokens = now, step, 0.0
        return metrics

    def finished(self, step: int, start_step: int) -> None:
        self.writer.flush()
        logging.info("Trained %d steps in %s", step - start_step, fmt_seconds(time.monotonic() - self.start_time))


def write_run_text(writer, *, hparams_json: str, gin_config: str, run_info: Mapping[str, Any]) -> None:
    with writer.as_default(step=0):
        tf.summary.text("hparams", "```\n" + hparams_json + "\n```")
        tf.summary.text("config_gin", "```\n" + (gin_config or "(empty)") + "\n```")
        tf.summary.text("run", "```\n" + json.dumps(dict(run_info), indent=2) + "\n```")


def write_input_images(writer, images, max_outputs: int) -> None:
    """``images [B, H, W, C]`` (any range) rescaled per image to [0, 1]."""
    images = tf.cast(images, tf.float32)
    lo = tf.reduce_min(images, axis=[1, 2, 3], keepdims=True)
    hi = tf.reduce_max(images, axis=[1, 2, 3], keepdims=True)
    with writer.as_default(step=0):
        tf.summary.image("inputs", (images - lo) / tf.maximum(hi - lo, 1e-6), max_outputs=max_outputs)


def write_speech_examples(writer, parse_batch, problem, hparams, max_outputs: int) -> None:
    """A speech problem's first training records (a parse batch: ``waveform`` int16 bytes
    ``[B]``, ``sample_rate`` ``[B]``) as ``inputs/audio`` (``tf.summary.audio``, zero-padded
    to the longest) and their log-mel spectrograms (first channel, frequency upwards,
    rescaled to [0, 1]) as ``inputs/spectrogram`` images, at step 0."""
    from t2x.data.audio import decode_waveform_bytes

    waves = [decode_waveform_bytes(w) for w in parse_batch["waveform"][:max_outputs]]
    if not waves:
        return
    rate = int(parse_batch["sample_rate"][0])
    longest = max(int(w.shape[0]) for w in waves)
    audio = tf.stack([tf.pad(w, [[0, longest - tf.shape(w)[0]]]) for w in waves])[:, :, None]
    spectra = [tf.transpose(problem.features_from_waveform(w, hparams)[:, ::-1, 0]) for w in waves]  # [bins, T]
    frames = max(int(s.shape[1]) for s in spectra)
    images = tf.stack([tf.pad(s, [[0, 0], [0, frames - tf.shape(s)[1]]]) for s in spectra])[:, :, :, None]
    lo = tf.reduce_min(images, axis=[1, 2, 3], keepdims=True)
    hi = tf.reduce_max(images, axis=[1, 2, 3], keepdims=True)
    with writer.as_default(step=0):
        tf.summary.audio("inputs/audio", audio, rate, max_outputs=max_outputs)
        tf.summary.image("inputs/spectrogram", (images - lo) / tf.maximum(hi - lo, 1e-6), max_outputs=max_outputs)


def write_eval(writer, step: int, metrics: Mapping[str, float], *, trial_id: str,
               hparams: Mapping[str, Any], names: Mapping[str, str]) -> None:
    """eval/ scalars and the run's HParams-dashboard row (see the module docstring)."""
    from tensorboard.plugins.hparams import api as hp_api

    values = dict(names)
    for k, v in hparams.items():
        if isinstance(v, (bool, int, float, str)) and k not in values:
            values[k] = v
    with writer.as_default(step=step):
        for k, v in metrics.items():
            tf.summary.scalar(k, v)
        hp_api.hparams(values, trial_id=trial_id)
    writer.flush()


def format_metrics(metrics: Mapping[str, float]) -> str:
    return ", ".join(f"{k} {v:.4f}" for k, v in metrics.items())
