"""Model selection during training: the best evaluation so far, early stopping, the best
checkpoint (``t2x-trainer --early_stopping_metric --early_stopping_patience
--keep_best_checkpoint``).

``ModelSelection.update(step, metrics)`` runs on the host after every evaluation of
``train_and_evaluate``. Its state is the run's ``best.json`` (written through ``RunDir``,
atomically): the metric and its goal (``t2x.metrics.goal``: lower is better for loss,
perplexity, edit distance and WER), the best value and step, the evaluations since, whether
the run stopped early, and the last step counted, so a resumed run keeps the best so far
and the patience count. With ``keep_best`` the best step's checkpoint is copied into
``RUN/best/``, a run directory of its own (``RunDir.keep_best_checkpoint``).
"""

from typing import Any, Callable, Dict, Optional

from absl import logging

from t2x import metrics as metrics_lib
from t2x.errors import ConfigError, T2XError


class SelectionError(T2XError, RuntimeError):
    """The selection metric is not one the run reports; the message lists those it does."""


class ModelSelection:
    """Keyword-only; checked here. ``metric`` is ``eval/<name>`` or ``<name>``."""

    def __init__(self, *, run_dir, metric: str, patience: int = 0, keep_best: bool = False,
                 is_chief: bool = True):
        self.name = metric[5:] if metric.startswith("eval/") else metric
        self.goal = metrics_lib.goal(self.name)
        if not isinstance(patience, int) or patience < 0:
            raise ConfigError(f"early_stopping_patience must be an integer >= 0, got {patience!r}")
        self.run_dir = run_dir
        self.patience = patience
        self.keep_best = keep_best
        self.is_chief = is_chief

    def record(self) -> Optional[Dict[str, Any]]:
        """This metric's record in ``best.json``, or None."""
        record = self.run_dir.read_best()
        return record if record and record.get("metric") == self.name else None

    def stopped(self) -> Optional[Dict[str, Any]]:
        """The record when the run already stopped early by this metric, else None."""
        record = self.record()
        return record if record and record.get("stopped_early") else None

    def update(self, step: int, metrics: Dict[str, float], save_at: Callable[[int], str]) -> bool:
        """Host, after an evaluation at ``step``: updates the record (and ``best/``, taking
        the checkpoint from ``save_at(step)``); returns True when the patience is spent."""
        if self.name not in metrics:
            raise SelectionError(
                f"--early_stopping_metric=eval/{self.name} is not reported by this run (it reports "
                f"{', '.join('eval/' + k for k in sorted(metrics) if k != 'eval_batches')}): name one of those")
        value = float(metrics[self.name])
        record = self.record() or {"metric": self.name, "goal": self.goal, "best_value": None,
                                   "best_step": None, "evals_since_best": 0, "stopped_early": False,
                                   "last_step": None}
        if record["last_step"] == step:
            return bool(record["stopped_early"])  # already counted (a resumed run re-evaluating)
        best = record["best_value"]
        if best is None or (value > best if self.goal == "max" else value < best):
            record.update(best_value=value, best_step=step, evals_since_best=0)
            if self.keep_best:
                path = save_at(step)
                if self.is_chief:
                    record["best_checkpoint"] = self.run_dir.keep_best_checkpoint(path)
                    logging.info("best checkpoint so far: step %d (eval/%s %.4f) kept in %s", step,
                                 self.name, value, record["best_checkpoint"])
        else:
            record["evals_since_best"] += 1
        record["last_step"] = step
        if self.patience and record["evals_since_best"] >= self.patience:
            record["stopped_early"] = True
            logging.info("early stopping at step %d: eval/%s has not improved for %d evaluations; best "
                         "%.4f at step %d%s", step, self.name, self.patience, record["best_value"],
                         record["best_step"], f" (kept in {self.run_dir.best_dir.path})" if self.keep_best else "")
        if self.is_chief:
            self.run_dir.write_best(record)
        return bool(record["stopped_early"])
