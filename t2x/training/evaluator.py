"""The evaluator: one run's evaluation, apart from the training loop.

    evaluator = Evaluator(problem=..., model=..., strategy=..., eval_step=steps.eval_step,
                          dataset_fn=lambda problem: ..., output_dir=..., ...)
    metrics = evaluator.evaluate(step)

What it does, on the host between training steps (the eval step itself is compiled):

* for the problem and each of its ``eval_problems()`` (a mixture's children; views of the
  dev split such as bAbI's tasks or length buckets), up to ``eval_steps`` dev batches
  through the compiled ``eval_step`` (sums of the loss and the step metrics, replica-safe);
* the decode-based metrics (``bleu``, ``rouge_*``, ``edit_distance``, ``wer``) from real
  decodes of ``eval_decode_split`` by the decoder ``t2x-decoder`` runs
  (``t2x.inference.decoder.SequenceDecoder``), the decodes kept in
  ``decodes/<split>-<step>.txt`` (``decodes/<name>/...`` for a child or view);
* ``problem.summarize_eval(results)``: metrics across the views (failed tasks, averages),
  and ``problem.eval_report(results)``: a table written to ``eval/report-<step>.txt``;
* summaries: ``eval/<metric>`` for the problem, ``eval/<name>/<metric>`` for each child or
  view, the HParams-dashboard row; one log line each; for a model with multi-head attention,
  the attention maps of the first ``attention_images`` dev examples as images
  (``t2x.inference.attention.write_attention_images``); an image generation model's samples
  (a 2x2 grid per class, or a 4x4 grid) as ``eval/samples`` images (``t2x.inference.images``).

Returns one flat dict: ``{"loss": .., "<metric>": .., "<name>/<metric>": .., "eval_batches": n}``.
A model plugs in its own decodes by giving its problem other decode metrics; the evaluator
calls the decoder only through ``decode_fn`` (default: the sequence decoder).
"""

import os
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

import tensorflow as tf
from absl import logging

from t2x import metrics as metrics_lib
from t2x.data.problem import DatasetSplit, ProblemKind, problem_kind
from t2x.errors import DataError, T2XError
from t2x.training import reporting


class EvaluationError(T2XError, RuntimeError):
    """Nothing to evaluate (an empty dev split); the message says what to check."""


class Evaluator:
    """Evaluates a model on a problem and its eval problems; see the module docstring.
    Keyword-only; nothing runs before ``evaluate``."""

    def __init__(self, *, problem, model, strategy, eval_step: Callable, dataset_fn: Callable,
                 output_dir: str, data_dir: str, eval_steps: int, step_metrics: Sequence[str],
                 decode_metrics: Sequence[str], decode_hparams=None, eval_decode_split: Optional[str] = None,
                 eval_decode_examples: int = 0, bleu_tokenize: str = "13a", is_chief: bool = True,
                 corrupt_message: Callable[[Any, str, Exception], str] = None,
                 dashboard: Optional[Mapping[str, Any]] = None, decode_fn: Optional[Callable] = None,
                 attention_images: int = 2):
        self.problem = problem
        self.model = model
        self.strategy = strategy
        self.eval_step = eval_step
        self.dataset_fn = dataset_fn
        self.output_dir = output_dir
        self.data_dir = data_dir
        self.eval_steps = eval_steps
        self.step_metrics = list(step_metrics)
        self.decode_metrics = list(decode_metrics)
        self.decode_hparams = decode_hparams
        self.eval_decode_split = eval_decode_split or DatasetSplit.EVAL
        self.eval_decode_examples = eval_decode_examples
        self.bleu_tokenize = bleu_tokenize
        self.is_chief = is_chief
        self.corrupt_message = corrupt_message or (lambda problem, split, error: str(error))
        self.dashboard = dict(dashboard or {})
        self.decode_fn = decode_fn or self._sequence_decodes
        self.attention_images = attention_images

    def evaluate(self, step: int) -> Dict[str, float]:
        """Evaluates the model's current weights at ``step``; writes eval/ summaries."""
        results: Dict[str, Dict[str, float]] = {}
        batches = 0
        for name, problem in self.problem.eval_problems().items():
            values, n = self._teacher_forced(problem, required=not name)
            if n == 0:
                logging.warning("eval %s: no dev examples; not reported", name)
                continue
            if self.decode_metrics and self.is_chief:
                values.update(self._decode_metrics(problem, name, step))
            results[name] = values
            if not name:
                batches = n
            else:
                logging.info("eval %s at step %d (%d batches): %s", name, step, n,
                             reporting.format_metrics(values))
        metrics = dict(results.pop(""))
        for name, values in results.items():
            metrics.update({f"{name}/{k}": v for k, v in values.items()})
        summary = self.problem.summarize_eval({"": metrics, **results})
        report = self.problem.eval_report({"": metrics, **results})
        metrics.update(summary)
        if report and self.is_chief:
            from t2x.fileio import write_text_atomic

            path = os.path.join(self.output_dir, "eval", f"report-{step}.txt")
            write_text_atomic(path, report.rstrip("\n") + "\n")
            logging.info("eval report at step %d (%s):\n%s", step, path, report.rstrip("\n"))
        writer = reporting.summary_writer(os.path.join(self.output_dir, "eval"), self.is_chief)
        reporting.write_eval(writer, step, metrics, trial_id=self.dashboard.get("trial_id", self.output_dir),
                             hparams=self.dashboard.get("hparams", {}), names=self.dashboard.get("names", {}))
        if self.attention_images and self.is_chief:
            from t2x.inference.attention import write_attention_images

            write_attention_images(writer, step, self.model, self.problem, self.data_dir, self.attention_images)
        if self.is_chief and problem_kind(self.model.problem_hparams) == ProblemKind.IMAGE_GENERATION:
            self._image_samples(writer, step)
        shown = {k: v for k, v in metrics.items() if "/" not in k}
        logging.info("eval at step %d (%d batches): %s", step, batches, reporting.format_metrics(shown))
        metrics["eval_batches"] = float(batches)
        return metrics

    def _teacher_forced(self, problem, required: bool):
        """(``{"loss", <step metrics>}``, batches) over up to ``eval_steps`` dev batches."""
        ds = self.strategy.distribute_datasets_from_function(self.dataset_fn(problem))
        totals: Dict[str, float] = {}
        batches = 0
        for features in _reading(ds, lambda e: self.corrupt_message(problem, DatasetSplit.EVAL, e)):
            for k, v in self.eval_step(features).items():
                totals[k] = totals.get(k, 0.0) + float(v.numpy())
            batches += 1
            if self.eval_steps and batches >= self.eval_steps:
                break
        if not batches:
            if required:
                raise EvaluationError(f"the dev split of {problem.full_name} in {self.data_dir} has no examples "
                                      "to evaluate (check max_length and eval_drop_long_sequences)")
            return {}, 0
        values = {"loss": metrics_lib.mean_loss(totals)}
        values.update(metrics_lib.step_results(self.step_metrics, totals))
        return values, batches

    def _decode_metrics(self, problem, name: str, step: int) -> Dict[str, float]:
        """Decodes ``eval_decode_split`` of ``problem`` with the current weights; the decode
        metrics of the result. The decodes go to ``decodes/[<name>/]<split>-<step>.txt``."""
        from t2x.fileio import write_lines_atomic

        hypotheses, references, rate = self.decode_fn(problem)
        folder = os.path.join(self.output_dir, "decodes", *([name] if name else []))
        write_lines_atomic(os.path.join(folder, f"{self.eval_decode_split}-{step}.txt"), hypotheses)
        values = metrics_lib.decode_results(self.decode_metrics, hypotheses, references,
                                            bleu_tokenize=self.bleu_tokenize)
        logging.info("decoded %d %s%s sentences at step %d (%.1f sentences/s): %s", len(hypotheses),
                     f"{name} " if name else "", self.eval_decode_split, step, rate,
                     reporting.format_metrics(values))
        return values

    def _image_samples(self, writer, step: int) -> None:
        """An image generation model's samples (a 2x2 grid per class, or a 4x4 grid) as ``eval/samples``
        images, drawn as ``t2x-decoder`` draws them (``t2x.inference.images``)."""
        from t2x.inference.images import ImageSampler

        ImageSampler(self.model, self.problem, self.data_dir, self.decode_hparams).write_summaries(writer, step)

    def _sequence_decodes(self, problem):
        """(hypotheses, references, sentences/s) of ``eval_decode_split`` by ``t2x-decoder``'s decoder."""
        from t2x.inference import decoder as decoder_lib

        decoder = decoder_lib.decoder_for(self.model, problem, self.data_dir, self.decode_hparams)
        hypotheses, references = decoder.decode_split(self.eval_decode_split, self.eval_decode_examples)
        return hypotheses, references, decoder.last_sentences_per_second


def _reading(dataset, message: Callable[[Exception], str]):
    """Iterates ``dataset``; a corrupt record becomes a DataError with ``message(error)``."""
    iterator = iter(dataset)
    while True:
        try:
            yield next(iterator)
        except StopIteration:
            return
        except tf.errors.DataLossError as e:
            raise DataError(message(e)) from None


__all__ = ["Evaluator", "EvaluationError"]
